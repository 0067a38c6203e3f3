package recorder

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sort"

	badger "github.com/dgraph-io/badger/v4"
)

// Problem kinds Verify reports.
const (
	Changed       = "changed"     // the entry's hash does not match its content
	Missing       = "missing"     // a seq in the chain has no entry
	Reordered     = "reordered"   // the entry stored under a seq claims another seq
	BrokenLink    = "broken_link" // PrevHash is not the hash of the entry before
	Truncated     = "truncated"   // entries after the last one found were recorded in the head
	BadCheckpoint = "bad_checkpoint"
	BadPointer    = "bad_pointer" // id/ or done/ does not lead to that record's entry
	BadHead       = "bad_head"    // the head's signature does not verify
)

// Problem is one defect in the chain.
type Problem struct {
	Seq    uint64 `json:"seq"`
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
	// Record is the call the entry at Seq belongs to, when it can be told:
	// from the entry, or, for an entry deleted, from the id/ or done/
	// pointer that still leads to it.
	Record string `json:"record,omitempty"`
}

// Report is what Verify found.
type Report struct {
	Entries     uint64 `json:"entries"`     // entries read
	Head        uint64 `json:"head"`        // last seq the store committed
	Checkpoints int    `json:"checkpoints"` // checkpoints whose signature and hash held
	// Expired counts the entries before the oldest one left, in a store
	// with a TTL: gone by retention, not reported as problems.
	Expired  uint64    `json:"expired,omitempty"`
	Problems []Problem `json:"problems"`
}

// OK reports whether the chain is intact.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// Checkpoint is a signed statement that the chain's entry seq had hash Hash.
type Checkpoint struct {
	Seq       uint64 `json:"seq"`
	Hash      string `json:"hash"`
	Signature []byte `json:"signature"`
}

func checkpointMessage(seq uint64, hash string) []byte {
	m := binary.BigEndian.AppendUint64([]byte("gatehouse recorder checkpoint\x00"), seq)
	return append(m, hash...)
}

func (s *Store) putCheckpoint(txn *badger.Txn, seq uint64, hash string) error {
	c := Checkpoint{Seq: seq, Hash: hash, Signature: ed25519.Sign(s.opts.CheckpointKey, checkpointMessage(seq, hash))}
	v, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return s.set(txn, ckptKey(seq), v)
}

// Verify walks the chain in seq order and reports entries changed, missing
// or reordered, broken links, and checkpoints that do not verify against
// CheckpointKey's public key or no longer match the chain.
func (s *Store) Verify(ctx context.Context) (Report, error) {
	var rep Report
	var headHash string
	ids := map[uint64]string{} // seq -> record id, to name problems
	hashes := map[uint64]string{}
	err := s.db.View(func(txn *badger.Txn) error {
		if it, err := txn.Get([]byte(keyHead)); err == nil {
			v, err := it.ValueCopy(nil)
			if err != nil {
				return err
			}
			seq, hash, sig, ok := parseHead(v)
			rep.Head = seq
			if key := s.opts.CheckpointKey; key != nil && (!ok || !ed25519.Verify(key.Public().(ed25519.PublicKey), checkpointMessage(seq, hash), sig)) {
				rep.Problems = append(rep.Problems, Problem{seq, BadHead, "the head's signature does not verify: the chain's end was changed", ""})
			}
			headHash = hash
		}
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		p := []byte(prefEntry)
		// First pass: each entry on its own. Links are judged afterwards
		// against the entry that claims the previous seq, wherever it is
		// stored, so a swap is reported as the swap and not also as the
		// broken links around it.
		type link struct {
			at, claims uint64
			prev       string
		}
		var links []link
		claimed := map[uint64]string{}
		var want uint64 = 1
		for it.Seek(p); it.ValidForPrefix(p); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			k := it.Item().Key()
			seq := binary.BigEndian.Uint64(k[len(p):])
			if rep.Entries == 0 && s.opts.TTL > 0 {
				rep.Expired, want = seq-1, seq // retention took the oldest
			}
			for ; want < seq; want++ {
				rep.Problems = append(rep.Problems, Problem{want, Missing, "no entry", ""})
			}
			want = seq + 1
			rep.Entries++
			var r Record
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &r) }); err != nil {
				rep.Problems = append(rep.Problems, Problem{seq, Changed, fmt.Sprintf("undecodable: %v", err), ""})
				continue
			}
			if r.Seq != seq {
				rep.Problems = append(rep.Problems, Problem{seq, Reordered, fmt.Sprintf("entry claims seq %d", r.Seq), r.ID})
			}
			if h, err := chainHash(&r); err != nil || h != r.Hash {
				rep.Problems = append(rep.Problems, Problem{seq, Changed, "hash does not match content", r.ID})
				continue
			}
			ids[seq] = r.ID
			hashes[seq] = r.Hash
			claimed[r.Seq] = r.Hash
			links = append(links, link{seq, r.Seq, r.PrevHash})
		}
		for _, l := range links {
			want, ok := claimed[l.claims-1]
			if l.claims == 1 {
				want, ok = "", true
			}
			if ok && l.prev != want {
				rep.Problems = append(rep.Problems, Problem{l.at, BrokenLink, "prev_hash is not the previous entry's hash", ""})
			}
		}
		// Get follows id/ and done/; a redirected pointer would show an
		// auditor another call's entry.
		for _, pre := range []string{prefID, prefDone} {
			pi := txn.NewIterator(badger.DefaultIteratorOptions)
			pp := []byte(pre)
			for pi.Seek(pp); pi.ValidForPrefix(pp); pi.Next() {
				id := string(pi.Item().Key()[len(pp):])
				v, err := pi.Item().ValueCopy(nil)
				if err != nil || len(v) != 8 {
					rep.Problems = append(rep.Problems, Problem{0, BadPointer, pre + id + ": bad value", id})
					continue
				}
				seq := binary.BigEndian.Uint64(v)
				e, err := getEntry(txn, seq)
				if err != nil {
					ids[seq] = id // the entry's absence is reported; this names its call
					continue
				}
				whole := false
				if pre == prefID && e.Complete {
					// Append: id/ and done/ lead to the one entry.
					d, err := txn.Get(doneKey(id))
					if err == nil {
						dv, _ := d.ValueCopy(nil)
						whole = string(dv) == string(v)
					}
				}
				if e.ID != id || (e.Complete != (pre == prefDone) && !whole) {
					rep.Problems = append(rep.Problems, Problem{seq, BadPointer, pre + id + " leads to another entry", id})
				}
			}
			pi.Close()
		}
		sort.SliceStable(rep.Problems, func(i, j int) bool { return rep.Problems[i].Seq < rep.Problems[j].Seq })
		defer func() {
			for i, p := range rep.Problems {
				if p.Record == "" {
					rep.Problems[i].Record = ids[p.Seq]
				}
			}
		}()
		for ; want <= rep.Head; want++ {
			rep.Problems = append(rep.Problems, Problem{want, Truncated, "head records it; no entry", ""})
		}
		if h, ok := hashes[rep.Head]; rep.Head > 0 && ok && h != headHash {
			rep.Problems = append(rep.Problems, Problem{rep.Head, Changed, "not the entry the head names", ""})
		}
		if s.opts.CheckpointKey == nil {
			return nil
		}
		pub := s.opts.CheckpointKey.Public().(ed25519.PublicKey)
		cp := []byte(prefCkpt)
		ci := txn.NewIterator(badger.DefaultIteratorOptions)
		defer ci.Close()
		for ci.Seek(cp); ci.ValidForPrefix(cp); ci.Next() {
			seq := binary.BigEndian.Uint64(ci.Item().Key()[len(cp):])
			var c Checkpoint
			if err := ci.Item().Value(func(v []byte) error { return json.Unmarshal(v, &c) }); err != nil {
				rep.Problems = append(rep.Problems, Problem{seq, BadCheckpoint, fmt.Sprintf("undecodable: %v", err), ""})
				continue
			}
			switch {
			case c.Seq != seq || !ed25519.Verify(pub, checkpointMessage(c.Seq, c.Hash), c.Signature):
				rep.Problems = append(rep.Problems, Problem{seq, BadCheckpoint, "signature invalid", ""})
			case hashes[seq] != c.Hash:
				rep.Problems = append(rep.Problems, Problem{seq, BadCheckpoint, "chain hash differs from the signed one", ""})
			default:
				rep.Checkpoints++
			}
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("verify records: %w", err)
	}
	return rep, nil
}
