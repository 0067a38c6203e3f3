package recorder

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
)

// Entry is one chain entry as the store keeps it, for readers that copy the
// chain elsewhere (recorder/export).
type Entry struct {
	Seq    uint64  // the seq the entry is stored under
	Record *Record // decoded
	JSON   []byte  // the canonical JSON exactly as stored
}

// scanChunk is how many entries Entries reads per read transaction: fn runs
// outside any transaction, so a slow consumer (an upload) never holds one
// open.
const scanChunk = 256

// Entries calls fn with each chain entry from seq from on, in seq order, up
// to the last one committed when it reaches it. Entries are never rewritten,
// so reading them in several transactions sees the same chain as one would.
// A seq with no entry (expired, deleted) is skipped: the caller checks
// continuity. An error from fn stops the walk and is returned as is.
func (s *Store) Entries(ctx context.Context, from uint64, fn func(Entry) error) error {
	next := max(from, 1)
	for {
		var chunk []Entry
		err := s.db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.DefaultIteratorOptions)
			defer it.Close()
			p := []byte(prefEntry)
			for it.Seek(entryKey(next)); it.ValidForPrefix(p) && len(chunk) < scanChunk; it.Next() {
				seq := binary.BigEndian.Uint64(it.Item().Key()[len(p):])
				v, err := it.Item().ValueCopy(nil)
				if err != nil {
					return fmt.Errorf("entry %d: %w", seq, err)
				}
				var r Record
				if err := json.Unmarshal(v, &r); err != nil {
					return fmt.Errorf("entry %d undecodable (run gatehouse verify): %w", seq, err)
				}
				chunk = append(chunk, Entry{Seq: seq, Record: &r, JSON: v})
			}
			return nil
		})
		if errors.Is(err, badger.ErrDBClosed) {
			err = fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		if err != nil {
			return fmt.Errorf("read records from %d: %w", next, err)
		}
		for _, e := range chunk {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(chunk) < scanChunk {
			return nil
		}
		next = chunk[len(chunk)-1].Seq + 1
	}
}

// Head returns the seq and hash of the last committed entry and, when the
// store has a CheckpointKey, the signature the store put on them at that
// commit. A store with no entries has seq 0.
func (s *Store) Head() (Checkpoint, error) {
	var c Checkpoint
	err := s.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get([]byte(keyHead))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		v, err := it.ValueCopy(nil)
		if err != nil {
			return err
		}
		seq, hash, sig, ok := parseHead(v)
		if !ok {
			return errors.New("head: short value")
		}
		c = Checkpoint{Seq: seq, Hash: hash}
		if len(sig) > 0 {
			c.Signature = sig
		}
		return nil
	})
	if errors.Is(err, badger.ErrDBClosed) {
		err = fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if err != nil {
		return Checkpoint{}, fmt.Errorf("read record head: %w", err)
	}
	return c, nil
}

// LastCheckpoint returns the latest checkpoint at or below seq, and false
// when there is none.
func (s *Store) LastCheckpoint(seq uint64) (Checkpoint, bool, error) {
	var c Checkpoint
	var found bool
	err := s.db.View(func(txn *badger.Txn) error {
		o := badger.DefaultIteratorOptions
		o.Reverse = true
		it := txn.NewIterator(o)
		defer it.Close()
		p := []byte(prefCkpt)
		it.Seek(ckptKey(seq))
		if !it.ValidForPrefix(p) {
			return nil
		}
		at := binary.BigEndian.Uint64(it.Item().Key()[len(p):])
		if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &c) }); err != nil {
			return fmt.Errorf("checkpoint %d undecodable (run gatehouse verify): %w", at, err)
		}
		found = true
		return nil
	})
	if errors.Is(err, badger.ErrDBClosed) {
		err = fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("read checkpoint at or below %d: %w", seq, err)
	}
	return c, found, nil
}

// CheckpointPublicKey is the key checkpoints and the head are signed with,
// nil when the store signs nothing.
func (s *Store) CheckpointPublicKey() ed25519.PublicKey {
	if s.opts.CheckpointKey == nil {
		return nil
	}
	return s.opts.CheckpointKey.Public().(ed25519.PublicKey)
}

// Valid reports whether c's signature over its seq and hash verifies with
// pub, the same statement the store signs for checkpoints and the head.
func (c Checkpoint) Valid(pub ed25519.PublicKey) bool {
	return len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, checkpointMessage(c.Seq, c.Hash), c.Signature)
}

// EntryHash is the chain hash of r as the store computes it: an entry is
// intact when EntryHash(r) equals r.Hash, and linked when r.PrevHash equals
// the Hash of the entry before it.
func EntryHash(r *Record) (string, error) { return chainHash(r) }
