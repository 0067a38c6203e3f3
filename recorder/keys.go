package recorder

import (
	"bytes"
	"encoding/binary"
	"math"
	"time"
)

// Key layout. Entries are the hash chain in commit order; everything else
// points into it.
//
//	e/<seq>                               chain entry: canonical JSON of a Record
//	id/<id>                               seq of the intent
//	done/<id>                             seq of the completion
//	pend/<id>                             intent committed, completion not yet
//	c/<seq>                               signed checkpoint
//	m/head                                seq and hash of the last entry
//	t/<start ns><seq>                     time index → id
//	x/<index>/<value>\x00<start ns><seq>  secondary indexes → id
//
// Every index key ends with the entry's position, its Start then its seq
// (16 bytes), so Search reads any index in time order (search.go).
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

// timeBytes orders times by big-endian bytes, pre-1970 included. Times
// nanoseconds since 1970 cannot hold (before 1678, after 2262) sort at the
// ends, so the order stays the times' order.
func timeBytes(t time.Time) []byte { return binary.BigEndian.AppendUint64(nil, timeOrder(t)) }

var minNanoTime, maxNanoTime = time.Unix(0, math.MinInt64), time.Unix(0, math.MaxInt64)

func timeOrder(t time.Time) uint64 {
	switch {
	case t.Before(minNanoTime):
		return 0
	case t.After(maxNanoTime):
		return math.MaxUint64
	}
	return uint64(t.UnixNano()) ^ (1 << 63)
}

func timeKey(t time.Time, seq uint64) []byte {
	k := append([]byte(prefTime), timeBytes(t)...)
	return binary.BigEndian.AppendUint64(k, seq)
}

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

// indexPrefix is where the keys of an index value start; with value ""
// (and a partial value) it is where a range of values starts. Values are
// escaped so that they never hold 0x00, the byte that ends them: one
// value's keys can never be taken for another's.
func indexPrefix(name, value string) []byte {
	return appendEscaped([]byte(prefIndex+name+"/"), value)
}

// indexKey ends with the entry's Start and seq, like the time index, so
// each value's entries read in time order and a time range is a key range
// within any value.
func indexKey(name, value string, start time.Time, seq uint64) []byte {
	k := append(indexPrefix(name, value), 0)
	k = binary.BigEndian.AppendUint64(k, timeOrder(start))
	return binary.BigEndian.AppendUint64(k, seq)
}

// appendEscaped appends v with 0x00 written as 0x01 0x01 and 0x01 as
// 0x01 0x02, which keeps prefixes prefixes.
func appendEscaped(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case 0, 1:
			b = append(b, 1, c+1)
		default:
			b = append(b, c)
		}
	}
	return b
}

// unescape reverses appendEscaped.
func unescape(b []byte) string {
	if bytes.IndexByte(b, 1) < 0 {
		return string(b)
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == 1 && i+1 < len(b) {
			i++
			out = append(out, b[i]-1)
			continue
		}
		out = append(out, b[i])
	}
	return string(out)
}

// indexKeys are the index entries of one chain entry. Both the intent and
// the completion are indexed, since the request id and error code are only
// known at completion.
func indexKeys(r *Record) [][]byte {
	ks := [][]byte{timeKey(r.Start, r.Seq)}
	add := func(name, v string) {
		if v != "" {
			ks = append(ks, indexKey(name, v, r.Start, r.Seq))
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
