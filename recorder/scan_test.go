package recorder

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"testing"
)

// Entries walks the chain as stored, past its read chunks, from any seq;
// Head and LastCheckpoint carry signatures the public key verifies; and
// EntryHash is the hash the store chained.
func TestEntriesHeadAndCheckpointsForReaders(t *testing.T) {
	key := testKey(3)
	s := open(t, Options{NoSync: true, CheckpointKey: key, CheckpointEvery: 100})
	ctx := context.Background()
	if h, err := s.Head(); err != nil || h.Seq != 0 {
		t.Fatalf("empty store's head: %+v %v", h, err)
	}
	if _, ok, err := s.LastCheckpoint(10); ok || err != nil {
		t.Fatalf("empty store has a checkpoint: %v %v", ok, err)
	}
	for i := range 300 {
		r := call(fmt.Sprintf("c%d", i), i)
		if err := s.Intent(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := s.Complete(ctx, r.ID, nil); err != nil {
			t.Fatal(err)
		}
	}
	pub := s.CheckpointPublicKey()
	h, err := s.Head()
	if err != nil || h.Seq != 600 || !h.Valid(pub) {
		t.Fatalf("head: %+v %v (valid %v)", h, err, h.Valid(pub))
	}
	forged := h
	forged.Seq--
	if forged.Valid(pub) || h.Valid(testKey(4).Public().(ed25519.PublicKey)) {
		t.Fatal("a signature verifies for another seq or another key")
	}

	var seqs []uint64
	prev := ""
	err = s.Entries(ctx, 5, func(e Entry) error {
		seqs = append(seqs, e.Seq)
		want, err := canonical(e.Record)
		if err != nil || !bytes.Equal(e.JSON, want) {
			return fmt.Errorf("entry %d: JSON is not the canonical encoding", e.Seq)
		}
		if got, err := EntryHash(e.Record); err != nil || got != e.Record.Hash {
			return fmt.Errorf("entry %d: EntryHash %s, stored %s", e.Seq, got, e.Record.Hash)
		}
		if prev != "" && e.Record.PrevHash != prev {
			return fmt.Errorf("entry %d: not linked", e.Seq)
		}
		prev = e.Record.Hash
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seqs) != 596 || seqs[0] != 5 || seqs[len(seqs)-1] != 600 {
		t.Fatalf("entries from 5: %d, first %d", len(seqs), seqs[0])
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("out of order at %d: %d after %d", i, seqs[i], seqs[i-1])
		}
	}
	stop := errors.New("stop")
	n := 0
	if err := s.Entries(ctx, 0, func(Entry) error { n++; return stop }); err != stop || n != 1 {
		t.Fatalf("fn's error: %v after %d", err, n)
	}

	for _, tt := range []struct{ at, want uint64 }{{99, 0}, {100, 100}, {399, 300}, {600, 600}, {10000, 600}} {
		c, ok, err := s.LastCheckpoint(tt.at)
		if err != nil || ok != (tt.want > 0) || c.Seq != tt.want || (ok && !c.Valid(pub)) {
			t.Errorf("LastCheckpoint(%d) = %+v %v %v, want seq %d", tt.at, c, ok, err, tt.want)
		}
	}
	s.Close()
	if err := s.Entries(ctx, 1, func(Entry) error { return nil }); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Entries on a closed store: %v", err)
	}
}
