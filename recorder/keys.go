package recorder

import (
	"encoding/binary"
	"math"
	"time"
)

// Key layout. Entries are the hash chain in commit order; everything else
// points into it.
//
//	e/<seq>                        chain entry: canonical JSON of a Record
//	id/<id>                        seq of the intent
//	done/<id>                      seq of the completion
//	pend/<id>                      intent committed, completion not yet
//	c/<seq>                        signed checkpoint
//	m/head                         seq and hash of the last entry
//	t/<start ns><seq>              time index → id
//	x/<index>/<value>\x00<seq>     secondary indexes → id
const (
	prefEntry   = "e/"
	prefID      = "id/"
	prefDone    = "done/"
	prefPending = "pend/"
	prefCkpt    = "c/"
	prefTime    = "t/"
	prefIndex   = "x/"
	keyHead     = "m/head"
)

func seqBytes(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func entryKey(seq uint64) []byte  { return binary.BigEndian.AppendUint64([]byte(prefEntry), seq) }
func ckptKey(seq uint64) []byte   { return binary.BigEndian.AppendUint64([]byte(prefCkpt), seq) }
func idKey(id string) []byte      { return []byte(prefID + id) }
func doneKey(id string) []byte    { return []byte(prefDone + id) }
func pendingKey(id string) []byte { return []byte(prefPending + id) }

// headValue is the seq and hash of the last entry, followed, when the store
// has a checkpoint key, by a signature over them (checkpointMessage): the
// head is signed at every commit, so entries cut from the end of the chain
// show up even between checkpoints.
func headValue(seq uint64, hash string, sig []byte) []byte {
	return append(append(seqBytes(seq), hash...), sig...)
}

// parseHead splits a head value; hashes are 64 hex characters.
func parseHead(v []byte) (seq uint64, hash string, sig []byte, ok bool) {
	if len(v) < 8+64 {
		return 0, "", nil, false
	}
	return binary.BigEndian.Uint64(v), string(v[8:72]), v[72:], true
}

// timeBytes orders times by big-endian bytes, pre-1970 included.
func timeBytes(t time.Time) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano())^(1<<63))
}

func timeKey(t time.Time, seq uint64) []byte {
	k := append([]byte(prefTime), timeBytes(t)...)
	return binary.BigEndian.AppendUint64(k, seq)
}

var maxTime = time.Unix(0, math.MaxInt64)

// Index names, as they appear in keys.
const (
	ixIdentity  = "identity"
	ixAction    = "action"
	ixResource  = "resource"
	ixDecision  = "decision"
	ixSession   = "session"
	ixRequestID = "request_id"
	ixErrorCode = "error_code"
)

func indexPrefix(name, value string) []byte {
	return []byte(prefIndex + name + "/" + value)
}

func indexKey(name, value string, seq uint64) []byte {
	k := append(indexPrefix(name, value), 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

// indexKeys are the index entries of one chain entry. Both the intent and
// the completion are indexed, since the request id and error code are only
// known at completion.
func indexKeys(r *Record) [][]byte {
	ks := [][]byte{timeKey(r.Start, r.Seq)}
	add := func(name, v string) {
		if v != "" {
			ks = append(ks, indexKey(name, v, r.Seq))
		}
	}
	add(ixIdentity, r.Identity.Subject)
	add(ixAction, r.Action)
	for _, res := range r.Resources {
		add(ixResource, res)
	}
	add(ixDecision, r.Decision.Effect)
	add(ixSession, r.Session)
	add(ixRequestID, r.UpstreamRequestID)
	add(ixErrorCode, r.ErrorCode)
	return ks
}
