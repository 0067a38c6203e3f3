package recorder

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/metrics"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// An intent is synced before it returns, a completion is not (the next
// intent's sync, or the periodic one, covers it).
func TestIntentSyncedCompletionWaitsForNextSync(t *testing.T) {
	s := open(t, Options{SyncEvery: time.Hour})
	ctx := context.Background()
	before := s.Syncs()
	r := call("a", 0)
	if err := s.Intent(ctx, r); err != nil {
		t.Fatal(err)
	}
	if got := s.Syncs() - before; got != 1 {
		t.Fatalf("intent: %d syncs, want 1", got)
	}
	if err := s.CompleteIntent(ctx, r, func(r *Record) { r.Status = 200 }); err != nil {
		t.Fatal(err)
	}
	if got := s.Syncs() - before; got != 1 {
		t.Fatalf("after the completion: %d syncs, want still 1", got)
	}
	if got, err := s.Get("a"); err != nil || !got.Complete {
		t.Fatalf("completion not committed when CompleteIntent returned: %+v, %v", got, err)
	}
	if err := s.Intent(ctx, call("b", 1)); err != nil {
		t.Fatal(err)
	}
	if got := s.Syncs() - before; got != 2 {
		t.Fatalf("second intent: %d syncs, want 2", got)
	}
	if err := s.Append(ctx, call("c", 2)); err != nil {
		t.Fatal(err)
	}
	if got := s.Syncs() - before; got != 3 {
		t.Fatalf("appended record: %d syncs, want 3", got)
	}
}

func TestCompletionSyncedWithinSyncEvery(t *testing.T) {
	s := open(t, Options{SyncEvery: 20 * time.Millisecond})
	ctx := context.Background()
	r := call("a", 0)
	if err := s.Intent(ctx, r); err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond) // nothing to sync: no sync
	before := s.Syncs()
	if err := s.CompleteIntent(ctx, r, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Syncs() == before {
		if time.Now().After(deadline) {
			t.Fatal("the completion was not synced within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(60 * time.Millisecond)
	if got := s.Syncs() - before; got != 1 {
		t.Fatalf("%d periodic syncs of one completion, want 1", got)
	}
}

// Completions committed just before Badger starts a new memtable file sit
// in the old one; the next intent's sync must reach them too, or a power
// loss would cut a hole in the chain.
func TestSyncCoversMemtableFilesStartedMeanwhile(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Dir: dir, MemTableSize: 1 << 20, SyncEvery: time.Hour})
	ctx := context.Background()
	first := memFiles(t, dir)
	var intents []*Record
	for i := 0; i < 200; i++ {
		r := call(fmt.Sprint("i", i), i)
		if err := s.Intent(ctx, r); err != nil {
			t.Fatal(err)
		}
		intents = append(intents, r)
	}
	before := s.Syncs()
	// Completions only, until Badger has started another memtable file.
	n := 0
	for ; sameFiles(first, memFiles(t, dir)) && n < len(intents); n++ {
		body := make([]byte, 20<<10)
		if err := s.CompleteIntent(ctx, intents[n], func(r *Record) { r.Response.Data = body }); err != nil {
			t.Fatal(err)
		}
	}
	if s.Syncs() != before {
		t.Fatalf("completions synced: %d", s.Syncs()-before)
	}
	if sameFiles(first, memFiles(t, dir)) {
		t.Fatalf("no new memtable file after %d completions of 20 KiB", n)
	}
	if err := s.Intent(ctx, call("last", 99)); err != nil {
		t.Fatal(err)
	}
	if got := s.Syncs() - before; got < 2 {
		t.Fatalf("the intent after a new memtable file synced %d files, want the old one too (≥ 2)", got)
	}
	// Once synced after a newer one exists, an old file is not synced again.
	before = s.Syncs()
	if err := s.Intent(ctx, call("after", 100)); err != nil {
		t.Fatal(err)
	}
	if got := s.Syncs() - before; got != 1 {
		t.Fatalf("next intent synced %d files, want 1", got)
	}
}

func TestNoSyncNeverSyncs(t *testing.T) {
	s := open(t, Options{NoSync: true})
	if err := s.Intent(context.Background(), call("a", 0)); err != nil {
		t.Fatal(err)
	}
	if s.Syncs() != 0 {
		t.Fatalf("NoSync store synced %d times", s.Syncs())
	}
}

func memFiles(t *testing.T, dir string) map[string]bool {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{}
	for _, e := range ents {
		if _, ok := memFid(e.Name()); ok {
			m[e.Name()] = true
		}
	}
	return m
}

func sameFiles(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// BenchmarkCall measures a call's two entries as the chain makes them, one
// caller at a time: the intent (synced) and its completion.
func BenchmarkCall(b *testing.B) {
	s := open(b, Options{})
	ctx := context.Background()
	n, syncs := 0, s.Syncs()
	for b.Loop() {
		n++
		r := call(fmt.Sprint(n), n)
		if err := s.Intent(ctx, r); err != nil {
			b.Fatal(err)
		}
		if err := s.CompleteIntent(ctx, r, func(r *Record) { r.Status = 200 }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(s.Syncs()-syncs)/float64(n), "syncs/call")
}

// BenchmarkCallsConcurrent is BenchmarkCall from 64 callers at once, with
// records of about the size the gateway writes for a small call, and
// reports the process's CPU time per call: Badger's flushes and
// compactions included, which dominate once the store has a few levels
// (run it for long enough: -benchtime 100000x).
func BenchmarkCallsConcurrent(b *testing.B) {
	s := open(b, Options{MemTableSize: 8 << 20})
	ctx := context.Background()
	hdr := map[string][]string{}
	for i := range 12 {
		hdr[fmt.Sprint("X-Amz-Header-", i)] = []string{"a header value of a realistic length 0123456789"}
	}
	var n atomic.Int64
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	peak := peakLiveHeap()
	b.SetParallelism(32) // 64 callers on 2 cores
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			r := call(fmt.Sprintf("%016x", i*7919), int(i))
			r.Request.Headers, r.Request.Data = hdr, make([]byte, 83)
			if err := s.Intent(ctx, r); err != nil {
				b.Error(err)
				return
			}
			if err := s.CompleteIntent(ctx, r, func(r *Record) {
				r.Status, r.Response = 200, Body{Headers: hdr, Data: make([]byte, 146), Size: 146}
			}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := ru1.Utime.Nano() - ru0.Utime.Nano() + ru1.Stime.Nano() - ru0.Stime.Nano()
	b.ReportMetric(float64(cpu)/1e3/float64(n.Load()), "cpu-µs/call")
	b.ReportMetric(float64(peak())/(1<<20), "peak-live-MiB")
}

// peakLiveHeap samples the live heap (as of each GC) until the returned
// function is called, which returns the largest sample.
func peakLiveHeap() func() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	stop, done := make(chan struct{}), make(chan uint64)
	go func() {
		var peak uint64
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
			select {
			case <-stop:
				done <- peak
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(stop); return <-done }
}

// A sync that fails fails the intent with ErrUnavailable (the call must not
// leave), and the next one that works makes everything durable again.
func TestFailedSyncRefusesIntent(t *testing.T) {
	s := open(t, Options{SyncEvery: time.Hour})
	ctx := context.Background()
	broken := errors.New("EIO")
	fdatasync = func(*os.File) error { return broken }
	t.Cleanup(func() { fdatasync = func(f *os.File) error { return unix.Fdatasync(int(f.Fd())) } })
	err := s.Intent(ctx, call("a", 0))
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, broken) {
		t.Fatalf("intent with a failing sync: %v, want ErrUnavailable wrapping the sync's error", err)
	}
	if err := s.Append(ctx, call("b", 1)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("append with a failing sync: %v, want ErrUnavailable", err)
	}
	fdatasync = func(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }
	r := call("c", 2)
	if err := s.Intent(ctx, r); err != nil {
		t.Fatalf("intent once syncs work again: %v", err)
	}
	if err := s.CompleteIntent(ctx, r, nil); err != nil {
		t.Fatal(err)
	}
	rep, err := s.Verify(ctx)
	if err != nil || !rep.OK() {
		t.Fatalf("verify after a failed sync: %+v, %v", rep.Problems, err)
	}
}

func TestSyncCompletionsSyncsEachCompletion(t *testing.T) {
	s := open(t, Options{SyncEvery: time.Hour, SyncCompletions: true})
	ctx := context.Background()
	r := call("a", 0)
	if err := s.Intent(ctx, r); err != nil {
		t.Fatal(err)
	}
	before := s.Syncs()
	if err := s.CompleteIntent(ctx, r, nil); err != nil {
		t.Fatal(err)
	}
	if got := s.Syncs() - before; got != 1 {
		t.Fatalf("completion with SyncCompletions: %d syncs, want 1", got)
	}
}
