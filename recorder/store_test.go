package recorder

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

var t0 = time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)

func testKey(seed byte) ed25519.PrivateKey {
	s := make([]byte, ed25519.SeedSize)
	s[0] = seed
	return ed25519.NewKeyFromSeed(s)
}

func open(t testing.TB, o Options) *Store {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	if o.MemTableSize == 0 {
		o.MemTableSize = 4 << 20
	}
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func call(id string, i int) *Record {
	return &Record{
		ID: id, Session: fmt.Sprintf("conn-%d", i%3),
		Start:    t0.Add(time.Duration(i) * time.Minute),
		Identity: Identity{Issuer: "https://idp", Subject: fmt.Sprintf("agent-%d", i%2), Groups: []string{"dev"}},
		Service:  "s3", Region: "eu-west-1", Operation: "DeleteObject", Action: "s3:DeleteObject",
		Resources: []string{fmt.Sprintf("arn:aws:s3:::bucket-%d/key/%d", i%2, i)},
		Decision:  Decision{Effect: "allow", Rule: "r1"},
		Request:   Body{Headers: map[string][]string{"Content-Type": {"application/xml"}}, Data: []byte("<x/>"), Size: 4, SHA256: "abc"},
	}
}

func TestIntentThenCompleteThenGetMergesBoth(t *testing.T) {
	s := open(t, Options{})
	ctx := context.Background()
	r := call("c1", 0)
	if err := s.Intent(ctx, r); err != nil {
		t.Fatal(err)
	}
	if r.Seq != 1 || r.Hash == "" || r.PrevHash != "" {
		t.Fatalf("intent chain fields: seq %d hash %q prev %q", r.Seq, r.Hash, r.PrevHash)
	}
	got, err := s.Get("c1")
	if err != nil || got.Complete || got.Action != "s3:DeleteObject" {
		t.Fatalf("after intent: %+v, %v", got, err)
	}
	if err := s.Complete(ctx, "c1", func(r *Record) {
		r.Status, r.UpstreamRequestID, r.End, r.BytesOut = 204, "REQ1", t0.Add(time.Second), 10
		r.Seq, r.Hash = 99, "forged" // the store's fields; must be ignored
	}); err != nil {
		t.Fatal(err)
	}
	got, err = s.Get("c1")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Complete || got.Status != 204 || got.UpstreamRequestID != "REQ1" || got.Action != "s3:DeleteObject" || string(got.Request.Data) != "<x/>" {
		t.Fatalf("merged record: %+v", got)
	}
	if got.Seq != 2 || got.PrevHash != r.Hash {
		t.Fatalf("completion is the second chained entry: seq %d prev %q, intent hash %q", got.Seq, got.PrevHash, r.Hash)
	}
	if err := s.Complete(ctx, "c1", nil); err == nil {
		t.Fatal("second completion accepted")
	}
	if err := s.Complete(ctx, "nope", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("completion of unknown id: %v", err)
	}
	if err := s.Intent(ctx, call("c1", 0)); err == nil {
		t.Fatal("duplicate id accepted")
	}
	if _, err := s.Get("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get unknown: %v", err)
	}
	rep, err := s.Verify(ctx)
	if err != nil || !rep.OK() || rep.Entries != 2 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

func TestCrashLeavesIncompleteListedOnReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(Options{Dir: dir, MemTableSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{"done", "cut1", "cut2"} {
		if err := s.Intent(ctx, call(id, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Complete(ctx, "done", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, Options{Dir: dir})
	got := s.Incomplete()
	if len(got) != 2 || got[0] != "cut1" || got[1] != "cut2" {
		t.Fatalf("Incomplete() = %v, want [cut1 cut2]", got)
	}
	// The chain carries on from where it stopped.
	r := call("after", 9)
	if err := s.Intent(ctx, r); err != nil || r.Seq != 5 {
		t.Fatalf("intent after reopen: seq %d, %v", r.Seq, err)
	}
	if rep, err := s.Verify(ctx); err != nil || !rep.OK() {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

func TestSearchByEachIndex(t *testing.T) {
	s := open(t, Options{})
	ctx := context.Background()
	for i := range 6 {
		r := call(fmt.Sprintf("c%d", i), i)
		if i == 4 {
			r.Action, r.Operation, r.Decision.Effect = "s3:GetObject", "GetObject", "deny"
		}
		if i == 5 {
			r.Action, r.Resources = "iam:DeleteRole", []string{"arn:aws:iam::123:role/admin"}
		}
		if err := s.Intent(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Complete(ctx, "c2", func(r *Record) { r.UpstreamRequestID, r.ErrorCode, r.Status = "REQ-2", "NoSuchKey", 404 }); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		q    Query
		want []string
	}{
		{"identity", Query{Identity: "agent-1"}, []string{"c1", "c3", "c5"}},
		{"action exact", Query{Action: "s3:GetObject"}, []string{"c4"}},
		{"action glob", Query{Action: "s3:Delete*"}, []string{"c0", "c1", "c2", "c3"}},
		{"action glob across services", Query{Action: "*:Delete*"}, []string{"c0", "c1", "c2", "c3", "c5"}},
		{"action glob matches nothing", Query{Action: "ec2:*"}, nil},
		{"resource exact", Query{Resource: "arn:aws:s3:::bucket-0/key/2"}, []string{"c2"}},
		{"resource glob with slashes", Query{Resource: "arn:aws:s3:::bucket-1/*"}, []string{"c1", "c3"}},
		{"resource glob question mark", Query{Resource: "arn:aws:iam::???:role/*"}, []string{"c5"}},
		{"decision", Query{Decision: "deny"}, []string{"c4"}},
		{"session", Query{Session: "conn-0"}, []string{"c0", "c3"}},
		{"request id, known only at completion", Query{RequestID: "REQ-2"}, []string{"c2"}},
		{"error code", Query{ErrorCode: "NoSuchKey"}, []string{"c2"}},
		{"time range, until exclusive", Query{Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Minute)}, []string{"c1", "c2"}},
		{"since only", Query{Since: t0.Add(4 * time.Minute)}, []string{"c4", "c5"}},
		{"everything", Query{}, []string{"c0", "c1", "c2", "c3", "c4", "c5"}},
		{"limit", Query{Limit: 2}, []string{"c0", "c1"}},
		{"index and filters combined", Query{Identity: "agent-0", Action: "s3:Delete*", Since: t0.Add(time.Minute)}, []string{"c2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Search(tt.q)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, r := range got {
				ids = append(ids, r.ID)
			}
			if fmt.Sprint(ids) != fmt.Sprint(tt.want) {
				t.Fatalf("got %v, want %v", ids, tt.want)
			}
		})
	}
	got, _ := s.Search(Query{RequestID: "REQ-2"})
	if len(got) != 1 || !got[0].Complete || got[0].Status != 404 {
		t.Fatalf("search returns the merged record: %+v", got)
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		p, s string
		want bool
	}{
		{"s3:Delete*", "s3:DeleteObject", true},
		{"s3:Delete*", "s3:GetObject", false},
		{"*", "", true},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"arn:*/key/*", "arn:aws:s3:::b/key/1", true},
	}
	for _, tt := range tests {
		if got := Match(tt.p, tt.s); got != tt.want {
			t.Errorf("Match(%q, %q) = %v", tt.p, tt.s, got)
		}
	}
}

// tamper writes straight to Badger under a closed store, as an attacker with
// the disk would.
func tamper(t *testing.T, dir string, f func(txn *badger.Txn) error) {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(f); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func rawEntry(txn *badger.Txn, seq uint64) []byte {
	it, err := txn.Get(entryKey(seq))
	if err != nil {
		panic(err)
	}
	v, _ := it.ValueCopy(nil)
	return v
}

func TestVerifyDetectsTampering(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(txn *badger.Txn) error
		want   []Problem // Seq and Kind
	}{
		{"untouched", func(*badger.Txn) error { return nil }, nil},
		{"value modified", func(txn *badger.Txn) error {
			var r Record
			json.Unmarshal(rawEntry(txn, 3), &r)
			r.Decision.Effect = "allow-everything"
			v, _ := json.Marshal(r)
			return txn.Set(entryKey(3), v)
		}, []Problem{{Seq: 3, Kind: Changed}}},
		{"value modified and rehashed", func(txn *badger.Txn) error {
			var r Record
			json.Unmarshal(rawEntry(txn, 3), &r)
			r.Action = "s3:GetObject"
			r.Hash, _ = chainHash(&r)
			v, _ := json.Marshal(r)
			return txn.Set(entryKey(3), v)
		}, []Problem{{Seq: 4, Kind: BrokenLink}}},
		{"entry deleted", func(txn *badger.Txn) error { return txn.Delete(entryKey(2)) },
			[]Problem{{Seq: 2, Kind: Missing}}},
		{"last entry deleted", func(txn *badger.Txn) error { return txn.Delete(entryKey(5)) },
			[]Problem{{Seq: 5, Kind: Truncated}}},
		{"id pointer redirected", func(txn *badger.Txn) error { return txn.Set(idKey("1"), seqBytes(4)) },
			[]Problem{{Seq: 4, Kind: BadPointer}}},
		{"two entries swapped", func(txn *badger.Txn) error {
			a, b := rawEntry(txn, 2), rawEntry(txn, 4)
			if err := txn.Set(entryKey(2), b); err != nil {
				return err
			}
			return txn.Set(entryKey(4), a)
		}, // Get follows id/ pointers, so the swap also misdirects them.
			[]Problem{{Seq: 2, Kind: Reordered}, {Seq: 2, Kind: BadPointer}, {Seq: 4, Kind: Reordered}, {Seq: 4, Kind: BadPointer}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(Options{Dir: dir, MemTableSize: 4 << 20})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 5 {
				if err := s.Intent(context.Background(), call(fmt.Sprint(i), i)); err != nil {
					t.Fatal(err)
				}
			}
			s.Close()
			tamper(t, dir, tt.tamper)
			s = open(t, Options{Dir: dir})
			rep, err := s.Verify(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var got []Problem
			for _, p := range rep.Problems {
				got = append(got, Problem{Seq: p.Seq, Kind: p.Kind})
			}
			for _, p := range rep.Problems {
				if p.Record == "" {
					t.Errorf("problem %+v names no record", p)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("problems %v, want %v", rep.Problems, tt.want)
			}
		})
	}
}

func TestCheckpointsSignedAndCheckedWithKey(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(Options{Dir: dir, MemTableSize: 4 << 20, CheckpointKey: testKey(1), CheckpointEvery: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 7 {
		if err := s.Intent(ctx, call(fmt.Sprint(i), i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil { // checkpoints 3, 6, and 7 on Close
		t.Fatal(err)
	}
	tests := []struct {
		name string
		key  ed25519.PrivateKey
		ok   int
		bad  int
		head int // bad_head problems
	}{
		{"right key", testKey(1), 3, 0, 0},
		{"wrong key", testKey(2), 0, 3, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, Options{Dir: dir, CheckpointKey: tt.key})
			rep, err := s.Verify(ctx)
			if err != nil {
				t.Fatal(err)
			}
			bad, head := 0, 0
			for _, p := range rep.Problems {
				if p.Kind == BadCheckpoint && p.Detail == "signature invalid" {
					bad++
				}
				if p.Kind == BadHead {
					head++
				}
			}
			if rep.Checkpoints != tt.ok || bad != tt.bad || head != tt.head || len(rep.Problems) != tt.bad+tt.head {
				t.Fatalf("checkpoints ok %d, bad %d: %+v", rep.Checkpoints, bad, rep)
			}
			s.Close()
		})
	}
}

func TestClosedStoreFailsClosed(t *testing.T) {
	s := open(t, Options{})
	s.Close()
	err := s.Intent(context.Background(), call("x", 0))
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("intent on closed store: %v", err)
	}
	if err := s.Complete(context.Background(), "x", nil); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("complete on closed store: %v", err)
	}
}

// TestFullDiskFailsClosed fills a 16 MiB tmpfs under the store and expects
// the next intent to be refused with ErrUnavailable and to leave no trace.
func TestFullDiskFailsClosed(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m", "none", dir).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	ctx := context.Background()
	s, err := Open(Options{Dir: filepath.Join(dir, "db"), MemTableSize: 1 << 20, MinFree: 2 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Intent(ctx, call("before", 0)); err != nil {
		t.Fatal(err)
	}
	fill, err := os.Create(filepath.Join(dir, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	for {
		if _, err := fill.Write(buf); err != nil {
			break // ENOSPC
		}
	}
	fill.Close()
	err = s.Intent(ctx, call("refused", 1))
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("intent on a full disk: %v", err)
	}
	if _, err := s.Get("refused"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("refused intent left a record: %v", err)
	}
	if got, _ := s.Search(Query{}); len(got) != 1 {
		t.Fatalf("refused intent left index entries: %d records", len(got))
	}
	// Space back: the store carries on, chain unbroken.
	os.Remove(filepath.Join(dir, "fill"))
	r := call("after", 2)
	if err := s.Intent(ctx, r); err != nil || r.Seq != 2 {
		t.Fatalf("intent after space freed: seq %d, %v", r.Seq, err)
	}
	if rep, err := s.Verify(ctx); err != nil || !rep.OK() {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

func TestConcurrentIntentsDenseSeqValidChain(t *testing.T) {
	s := open(t, Options{CheckpointKey: testKey(1), CheckpointEvery: 1000})
	ctx := context.Background()
	const workers, each = 64, 200
	seqs := make([][]uint64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				r := call(fmt.Sprintf("w%d-%d", w, i), i)
				if err := s.Intent(ctx, r); err != nil {
					t.Error(err)
					return
				}
				seqs[w] = append(seqs[w], r.Seq)
			}
		})
	}
	wg.Wait()
	seen := make([]bool, workers*each+1)
	for _, ss := range seqs {
		for _, q := range ss {
			if q == 0 || q > workers*each || seen[q] {
				t.Fatalf("seq %d out of range or repeated", q)
			}
			seen[q] = true
		}
	}
	rep, err := s.Verify(ctx)
	if err != nil || !rep.OK() || rep.Entries != workers*each || rep.Checkpoints != 12 {
		t.Fatalf("verify: entries %d checkpoints %d problems %v, %v", rep.Entries, rep.Checkpoints, rep.Problems, err)
	}
}

// BenchmarkIntent measures durable (fsynced) intents, from one caller and
// from many: the group commit shares each fsync among whatever intents are
// waiting, reported as intents/commit.
func BenchmarkIntent(b *testing.B) {
	for _, callers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			s := open(b, Options{})
			ctx := context.Background()
			var id atomic.Int64
			work := func() {
				n := id.Add(1)
				if err := s.Intent(ctx, call(fmt.Sprint(n), int(n))); err != nil {
					b.Error(err)
				}
			}
			b.ResetTimer()
			if callers == 1 {
				for b.Loop() {
					work()
				}
			} else {
				b.SetParallelism((callers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						work()
					}
				})
			}
			b.ReportMetric(float64(id.Load())/b.Elapsed().Seconds(), "intents/s")
			b.ReportMetric(float64(id.Load())/float64(s.commits.Load()), "intents/commit")
		})
	}
}

func FuzzRecordJSON(f *testing.F) {
	seed, _ := canonical(call("seed", 1))
	f.Add(seed)
	f.Add([]byte(`{"start":"2026-11-26T07:00:00+01:00","request":{"headers":{"b":["1"],"a":null}}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Record
		if json.Unmarshal(data, &r) != nil {
			return
		}
		a, err := canonical(&r)
		if err != nil {
			return // e.g. a year past 9999
		}
		var back Record
		if err := json.Unmarshal(a, &back); err != nil {
			t.Fatalf("canonical form does not decode: %v\n%s", err, a)
		}
		b, err := canonical(&back)
		if err != nil || string(a) != string(b) {
			t.Fatalf("canonical form does not round-trip:\n%s\n%s", a, b)
		}
		h1, _ := chainHash(&r)
		h2, _ := chainHash(&back)
		if h1 != h2 {
			t.Fatal("hash differs after round-trip")
		}
	})
}

func TestBatchesSplitToBadgerLimitsAndOversizeRefused(t *testing.T) {
	s := open(t, Options{MemTableSize: 1 << 20})
	ctx := context.Background()
	big := call("huge", 0)
	big.Request.Data = make([]byte, 1<<20)
	err := s.Intent(ctx, big)
	if err == nil || errors.Is(err, ErrUnavailable) {
		t.Fatalf("oversize record: %v, want a refusal that is not ErrUnavailable", err)
	}
	if _, err := s.Get("huge"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("oversize record left a trace: %v", err)
	}
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Go(func() {
			for i := range 20 {
				r := call(fmt.Sprintf("w%d-%d", w, i), i)
				r.Request.Data = make([]byte, 8<<10)
				if err := s.Intent(ctx, r); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	rep, err := s.Verify(ctx)
	if err != nil || !rep.OK() || rep.Entries != 640 {
		t.Fatalf("verify: %d entries, %v, %v", rep.Entries, rep.Problems, err)
	}
}

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// TestCanonicalRecordGolden pins the canonical encoding and its hash: a
// change to either breaks every chain already on disk.
func TestCanonicalRecordGolden(t *testing.T) {
	r := call("golden", 1)
	r.Seq, r.PrevHash = 7, "00"
	r.Start = r.Start.In(time.FixedZone("CET", 3600)) // canonical form is UTC
	var err error
	if r.Hash, err = chainHash(r); err != nil {
		t.Fatal(err)
	}
	got, err := canonical(r)
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "record.golden.json")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("canonical record changed:\ngot  %s\nwant %s", got, want)
	}
}

func TestCloseDuringIntentsFailsClosedAndKeepsChain(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, MemTableSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	var committed atomic.Int64
	for w := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				err := s.Intent(ctx, call(fmt.Sprintf("w%d-%d", w, i), i))
				if errors.Is(err, ErrUnavailable) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				committed.Add(1)
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	s = open(t, Options{Dir: dir})
	rep, err := s.Verify(ctx)
	if err != nil || !rep.OK() || int64(rep.Entries) != committed.Load() {
		t.Fatalf("verify: %d entries, %d acknowledged, %v, %v", rep.Entries, committed.Load(), rep.Problems, err)
	}
}

// FuzzMatch: query globs come from auditors' input; Match never panics and a
// pattern without wildcards matches only itself.
func FuzzMatch(f *testing.F) {
	f.Add("s3:Delete*", "s3:DeleteObject")
	f.Add("a*b?c*", "axxbyc")
	f.Fuzz(func(t *testing.T, p, s string) {
		got := Match(p, s)
		if !strings.ContainsAny(p, "*?") && got != (p == s) {
			t.Fatalf("Match(%q, %q) = %v", p, s, got)
		}
		if !Match(p, p) && !strings.ContainsAny(p, "*?") {
			t.Fatalf("%q does not match itself", p)
		}
	})
}

// TestTailCutBetweenCheckpointsIsReported: the last entries deleted and the
// head rewritten to the new end, through Badger directly. The head is signed
// at every commit, so the rewrite shows without a checkpoint after it.
func TestTailCutBetweenCheckpointsIsReported(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := open(t, Options{Dir: dir, CheckpointKey: testKey(1), CheckpointEvery: 100})
	var last *Record
	for i := range 5 {
		last = call(fmt.Sprintf("c%d", i), i)
		if err := s.Intent(ctx, last); err != nil {
			t.Fatal(err)
		}
	}
	prev, err := s.Get("c3")
	if err != nil {
		t.Fatal(err)
	}
	s.lastCkpt = s.seq // no checkpoint on Close: the cut must show without one
	s.Close()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(txn *badger.Txn) error {
		if err := txn.Delete(entryKey(last.Seq)); err != nil {
			return err
		}
		return txn.Set([]byte(keyHead), headValue(prev.Seq, prev.Hash, nil))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s = open(t, Options{Dir: dir, CheckpointKey: testKey(1)})
	rep, err := s.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 1 || rep.Problems[0].Kind != BadHead {
		t.Fatalf("want one bad_head problem, got %+v", rep)
	}
}

func TestAppendIsOneCompleteEntry(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := open(t, Options{Dir: dir, CheckpointKey: testKey(1)})
	r := call("refused-1", 1)
	r.Verdict, r.Status, r.ErrorCode = "refused", 403, "AccessDenied"
	if err := s.Append(ctx, r); err != nil {
		t.Fatal(err)
	}
	if r.Seq != 1 || !r.Complete {
		t.Fatalf("seq %d complete %v", r.Seq, r.Complete)
	}
	if err := s.Append(ctx, r); err == nil {
		t.Fatal("a second Append of the same id was accepted")
	}
	if err := s.Complete(ctx, r.ID, nil); err == nil {
		t.Fatal("Complete of an appended record was accepted")
	}
	got, err := s.Get(r.ID)
	if err != nil || !got.Complete || got.ErrorCode != "AccessDenied" {
		t.Fatalf("get: %+v %v", got, err)
	}
	found, err := s.Search(Query{ErrorCode: "AccessDenied"})
	if err != nil || len(found) != 1 {
		t.Fatalf("search: %d %v", len(found), err)
	}
	s.Close()
	s = open(t, Options{Dir: dir, CheckpointKey: testKey(1)})
	if inc := s.Incomplete(); len(inc) != 0 {
		t.Fatalf("incomplete after Append: %v", inc)
	}
	rep, err := s.Verify(ctx)
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

func TestReadOnlyReadsAndRefusesWrites(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := open(t, Options{Dir: dir, CheckpointKey: testKey(1)})
	if err := s.Intent(ctx, call("a", 1)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	ro := open(t, Options{Dir: dir, CheckpointKey: testKey(1), ReadOnly: true})
	if _, err := ro.Get("a"); err != nil {
		t.Fatal(err)
	}
	if rep, err := ro.Verify(ctx); err != nil || !rep.OK() {
		t.Fatalf("%+v %v", rep, err)
	}
	if err := ro.Intent(ctx, call("b", 2)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("read-only intent: %v", err)
	}
	if inc := ro.Incomplete(); len(inc) != 1 || inc[0] != "a" {
		t.Fatalf("incomplete %v", inc)
	}
}

// Retention: expired entries leave search and Get, Verify counts them as
// expired rather than missing, and the chain goes on from its head.
func TestRetentionExpiresOldestAndChainGoesOn(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	o := Options{Dir: dir, TTL: time.Second, CheckpointKey: testKey(1)}
	s := open(t, o)
	for i := range 3 {
		if err := s.Intent(ctx, call(fmt.Sprintf("old-%d", i), i)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	time.Sleep(2100 * time.Millisecond) // Badger's expiry has second granularity
	s = open(t, o)
	for i := range 2 {
		r := call(fmt.Sprintf("new-%d", i), i)
		if err := s.Intent(ctx, r); err != nil {
			t.Fatal(err)
		}
		if r.Seq != uint64(4+i) {
			t.Fatalf("new entry got seq %d: the chain started over", r.Seq)
		}
	}
	if _, err := s.Get("old-0"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired record: %v", err)
	}
	if rs, err := s.Search(Query{Limit: -1}); err != nil || len(rs) != 2 {
		t.Fatalf("search after expiry: %d %v", len(rs), err)
	}
	rep, err := s.Verify(ctx)
	if err != nil || !rep.OK() || rep.Expired != 3 || rep.Entries != 2 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

func TestCompleteIntentNeedsACommittedIntentOnce(t *testing.T) {
	ctx := context.Background()
	s := open(t, Options{})
	r := call("a", 1)
	if err := s.CompleteIntent(ctx, r, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("completion without an intent: %v", err)
	}
	if err := s.Intent(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := s.CompleteIntent(ctx, r, func(r *Record) { r.Status = 204 }); err != nil {
		t.Fatal(err)
	}
	if err := s.CompleteIntent(ctx, r, nil); err == nil {
		t.Fatal("a second completion was accepted")
	}
	if got, err := s.Get("a"); err != nil || !got.Complete || got.Status != 204 {
		t.Fatalf("%+v %v", got, err)
	}
}
