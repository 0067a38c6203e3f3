package recorder

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// searchStore holds n calls, one a second from t0: identities agent-0..4,
// four actions, a unique object in one of seven buckets, every 20th denied
// (appended whole, as a refused call is), every 10th left incomplete, the
// rest completed with a request id.
func searchStore(t *testing.T, n int) *Store {
	t.Helper()
	s := open(t, Options{NoSync: true, MemTableSize: 16 << 20})
	ctx := context.Background()
	actions := []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:DeleteBucket"}
	var wg sync.WaitGroup
	const writers = 16
	for w := range writers {
		wg.Go(func() {
			for i := w; i < n; i += writers {
				r := &Record{
					ID: fmt.Sprintf("r%05d", i), Session: fmt.Sprintf("conn-%d", i%50),
					Start:     t0.Add(time.Duration(i) * time.Second),
					Identity:  Identity{Subject: fmt.Sprintf("agent-%d", i%5)},
					Action:    actions[i%4],
					Resources: []string{fmt.Sprintf("arn:aws:s3:::b%d/k%d", i%7, i)},
					Decision:  Decision{Effect: "allow"},
				}
				var err error
				switch {
				case i%20 == 0:
					r.Decision.Effect, r.ErrorCode = "deny", "AccessDenied"
					err = s.Append(ctx, r)
				case i%10 == 9:
					err = s.Intent(ctx, r)
				default:
					if err = s.Intent(ctx, r); err == nil {
						err = s.Complete(ctx, r.ID, func(r *Record) { r.UpstreamRequestID = fmt.Sprintf("REQ-%d", i) })
					}
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return s
}

// naiveSearch is Search as it was: every entry read, the latest of each
// record kept, filtered, sorted, cut.
func naiveSearch(t *testing.T, s *Store, q Query) []string {
	t.Helper()
	latest := map[string]*Record{}
	if err := s.Entries(context.Background(), 1, func(e Entry) error {
		latest[e.Record.ID] = e.Record
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var rs []*Record
	for _, r := range latest {
		if q.matches(r) {
			rs = append(rs, r)
		}
	}
	slices.SortFunc(rs, func(a, b *Record) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return int(a.Seq) - int(b.Seq)
	})
	if q.Newest {
		slices.Reverse(rs)
	}
	limit := q.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	if limit > 0 && len(rs) > limit {
		rs = rs[:limit]
	}
	return ids(rs)
}

func ids(rs []*Record) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func TestSearchAgreesWithReadingEverything(t *testing.T) {
	s := searchStore(t, 5000)
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	tests := []struct {
		name string
		q    Query
		// maxReads bounds the entries read: the search stops at the limit
		// and reads only entries every index agrees on (-1: no bound).
		maxReads int
	}{
		{"default limit, oldest first", Query{}, 100},
		{"limit stops early, newest first", Query{Limit: 10, Newest: true}, 10},
		{"identity, limit stops early", Query{Identity: "agent-1", Limit: 5}, 5},
		{"identity, every match", Query{Identity: "agent-3", Limit: -1}, 1000},
		{"exact action", Query{Action: "s3:GetObject", Limit: -1}, 1250},
		{"action prefix: two values read side by side", Query{Action: "s3:Delete*", Limit: -1}, 2500},
		{"action glob without a literal prefix", Query{Action: "*Object", Limit: 300, Newest: true}, 300},
		{"action glob matching nothing", Query{Action: "ec2:*"}, 0},
		{"resource prefix with many values, gathered", Query{Resource: "arn:aws:s3:::b3/*", Limit: -1}, 715},
		{"resource prefix, newest first", Query{Resource: "arn:aws:s3:::b3/k49*", Newest: true, Limit: 3}, 3},
		{"resource exact", Query{Resource: "arn:aws:s3:::b2/k100"}, 1},
		{"resource question mark", Query{Resource: "arn:aws:s3:::b?/k12?", Limit: -1}, 10},
		{"identity and decision intersect", Query{Identity: "agent-0", Decision: "deny", Limit: -1}, 250},
		{"disjoint identity and decision", Query{Identity: "agent-1", Decision: "deny"}, 0},
		{"identity, action glob and resource glob", Query{Identity: "agent-2", Action: "s3:Delete*", Resource: "arn:aws:s3:::b1/*", Limit: -1}, -1},
		{"request id, known only at completion", Query{RequestID: "REQ-4321"}, 1},
		{"request id of an incomplete call", Query{RequestID: "REQ-4329"}, 0},
		{"error code and identity", Query{ErrorCode: "AccessDenied", Identity: "agent-0", Limit: 7, Newest: true}, 7},
		{"session", Query{Session: "conn-7", Limit: -1}, 100},
		{"since and until bound every index", Query{Identity: "agent-2", Since: at(1000), Until: at(1100), Limit: -1}, 20},
		{"since only, newest first", Query{Since: at(4990), Newest: true}, 10},
		{"until only", Query{Until: at(3), Limit: -1}, 3},
		{"until exclusive, since inclusive", Query{Since: at(10), Until: at(11)}, 1},
		{"until before since", Query{Since: at(20), Until: at(10)}, 0},
		{"since and a gathered glob", Query{Resource: "arn:aws:s3:::b5/*", Since: at(4000), Limit: -1}, 143},
		{"glob left to the records", Query{Resource: "arn:aws:s3:::b*/k1*", Limit: 50}, -1},
		{"glob left to the records, then gathered", Query{Resource: "arn:aws:s3:::b*/k4998", Limit: 5}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, st, err := s.search(tt.q)
			if err != nil {
				t.Fatal(err)
			}
			want := naiveSearch(t, s, tt.q)
			if fmt.Sprint(ids(got)) != fmt.Sprint(want) {
				t.Fatalf("got %d records %v\nwant %d %v", len(got), ids(got), len(want), want)
			}
			if tt.maxReads >= 0 && st.reads > tt.maxReads {
				t.Fatalf("read %d entries for %d records, want at most %d (%+v)", st.reads, len(got), tt.maxReads, st)
			}
		})
	}
}

func TestSearchPlans(t *testing.T) {
	s := searchStore(t, 5000)
	tests := []struct {
		name               string
		q                  Query
		gathered, deferred int
	}{
		{"few values are joined, not gathered", Query{Action: "s3:Delete*"}, 0, 0},
		{"many values in a short range are gathered", Query{Resource: "arn:aws:s3:::b3/*"}, 1, 0},
		{"a long range is left to the records", Query{Resource: "arn:aws:s3:::b*/k1*"}, 0, 1},
		{"and gathered once records reject too much", Query{Resource: "arn:aws:s3:::b*/k4998"}, 1, 1},
		{"every match asked for: gathered up front", Query{Resource: "arn:aws:s3:::b*/k1*", Limit: -1}, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, st, err := s.search(tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if st.gathered != tt.gathered || st.deferred != tt.deferred {
				t.Fatalf("stats %+v, want gathered %d deferred %d", st, tt.gathered, tt.deferred)
			}
		})
	}
}

func TestSearchCompletedRecordOnceAtItsStart(t *testing.T) {
	s := open(t, Options{})
	ctx := context.Background()
	// a starts first and completes last: it is listed once, by its Start,
	// as its completion.
	for i, id := range []string{"a", "b", "c"} {
		if err := s.Intent(ctx, call(id, i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"c", "a"} {
		if err := s.Complete(ctx, id, func(r *Record) { r.Status = 200 }); err != nil {
			t.Fatal(err)
		}
	}
	for _, newest := range []bool{false, true} {
		got, err := s.Search(Query{Action: "s3:*", Newest: newest})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"a", "b", "c"}
		if newest {
			want = []string{"c", "b", "a"}
		}
		if fmt.Sprint(ids(got)) != fmt.Sprint(want) {
			t.Fatalf("newest %v: got %v, want %v", newest, ids(got), want)
		}
		for _, r := range got {
			if r.Complete != (r.ID != "b") {
				t.Fatalf("%s: complete %v", r.ID, r.Complete)
			}
		}
	}
}

// TestSearchValuesWithZeroBytes: a resource name is the caller's; a 0x00 in
// it must not let one value's index entries be read as another's.
func TestSearchValuesWithZeroBytes(t *testing.T) {
	s := open(t, Options{})
	ctx := context.Background()
	values := []string{"a", "a\x00b", "a\x01", "a\x00", "ab"}
	for i, v := range values {
		r := call(fmt.Sprint(i), i)
		r.Resources = []string{v}
		if err := s.Intent(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		q    string
		want []string
	}{
		{"a", []string{"0"}},
		{"a\x00b", []string{"1"}},
		{"a\x01", []string{"2"}},
		{"a\x00", []string{"3"}},
		{"a\x00*", []string{"1", "3"}},
		{"a*", []string{"0", "1", "2", "3", "4"}},
		{"a?", []string{"2", "3", "4"}},
	}
	for _, tt := range tests {
		got, err := s.Search(Query{Resource: tt.q})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(ids(got)) != fmt.Sprint(tt.want) {
			t.Errorf("resource %q: got %v, want %v", tt.q, ids(got), tt.want)
		}
	}
}

// TestSearchTimesBeyondNanoseconds: Starts that int64 nanoseconds cannot
// hold still sort at their end of time and fall in the right bounds.
func TestSearchTimesBeyondNanoseconds(t *testing.T) {
	s := open(t, Options{})
	ctx := context.Background()
	starts := []time.Time{time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC), t0, time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}
	for i, st := range starts {
		r := call(fmt.Sprint(i), i)
		r.Start = st
		if err := s.Intent(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		q    Query
		want []string
	}{
		{Query{}, []string{"0", "1", "2"}},
		{Query{Until: t0}, []string{"0"}},
		{Query{Since: t0.Add(time.Nanosecond)}, []string{"2"}},
		{Query{Identity: "agent-0", Since: t0}, []string{"2"}},
		{Query{Since: time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(1700, 1, 1, 0, 0, 0, 0, time.UTC)}, []string{"0"}},
		{Query{Since: time.Date(2900, 1, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(3100, 1, 1, 0, 0, 0, 0, time.UTC)}, []string{"2"}},
	}
	for _, tt := range tests {
		got, err := s.Search(tt.q)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(ids(got)) != fmt.Sprint(tt.want) {
			t.Errorf("%+v: got %v, want %v", tt.q, ids(got), tt.want)
		}
	}
}
