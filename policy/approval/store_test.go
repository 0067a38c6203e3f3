package approval

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// clock is a settable time for tests of expiry and grant windows.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var (
	agent = Identity{Issuer: "https://idp.test", Subject: "agent-7", Groups: []string{"agents"}}
	alice = Principal{Issuer: "https://idp.test", Subject: "alice", Groups: []string{"approvers"}}
	bob   = Principal{Issuer: "https://idp.test", Subject: "bob", Groups: []string{"approvers"}}
	// The agent's own subject, in an approver group: still the caller.
	agentAsApprover = Principal{Issuer: agent.Issuer, Subject: agent.Subject, Groups: []string{"approvers"}}
	// The same subject name at another issuer is another principal.
	otherIssuerAgent = Principal{Issuer: "https://other-idp.test", Subject: agent.Subject, Groups: []string{"approvers"}}
)

func call(body string) Request {
	return Request{
		Identity:   agent,
		Action:     "s3:DeleteObject",
		Resources:  []string{"arn:aws:s3:::reports/2030/q1.csv"},
		Region:     "eu-west-1",
		Params:     map[string]any{"Bucket": "reports", "Key": "2030/q1.csv", "VersionId": "***"},
		BodySHA256: body,
		Rule:       "deletes-need-approval",
	}
}

func openStore(t *testing.T, dir string, clk *clock) *Store {
	t.Helper()
	s, err := Open(Options{Dir: dir, Now: clk.Now, OnError: func(err error) { t.Logf("store: %v", err) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustCreate(t *testing.T, s *Store, r Request) Request {
	t.Helper()
	got, created, err := s.Create(r)
	if err != nil {
		t.Fatal(err)
	}
	if !created {
		t.Fatalf("Create found %s (%s) instead of creating", got.ID, got.Status)
	}
	return got
}

func TestDecisionRules(t *testing.T) {
	type vote struct {
		by      Principal
		deny    bool
		wantErr error
	}
	tests := []struct {
		name          string
		minApprovals  int
		votes         []vote
		want          Status
		wantApprovals int
	}{
		{name: "a new request is pending", want: StatusPending},
		{name: "approval by another principal approves", votes: []vote{{by: alice}}, want: StatusApproved, wantApprovals: 1},
		{name: "self-approval is refused and changes nothing", votes: []vote{{by: agentAsApprover, wantErr: ErrSelfApproval}}, want: StatusPending},
		{name: "self-denial is refused and changes nothing", votes: []vote{{by: agentAsApprover, deny: true, wantErr: ErrSelfApproval}}, want: StatusPending},
		{name: "the same subject at another issuer is not the caller", votes: []vote{{by: otherIssuerAgent}}, want: StatusApproved, wantApprovals: 1},
		{name: "min_approvals 2: one approval leaves it pending", minApprovals: 2, votes: []vote{{by: alice}}, want: StatusPending, wantApprovals: 1},
		{name: "min_approvals 2: the same approver twice counts once", minApprovals: 2,
			votes: []vote{{by: alice}, {by: alice, wantErr: ErrAlreadyVoted}}, want: StatusPending, wantApprovals: 1},
		{name: "min_approvals 2: the same approver with other groups counts once", minApprovals: 2,
			votes: []vote{{by: alice}, {by: Principal{Issuer: alice.Issuer, Subject: alice.Subject, Groups: []string{"sre"}}, wantErr: ErrAlreadyVoted}}, want: StatusPending, wantApprovals: 1},
		{name: "min_approvals 2: two distinct approvers approve", minApprovals: 2, votes: []vote{{by: alice}, {by: bob}}, want: StatusApproved, wantApprovals: 2},
		{name: "deny denies", votes: []vote{{by: bob, deny: true}}, want: StatusDenied},
		{name: "one denial decides after a partial approval", minApprovals: 2, votes: []vote{{by: alice}, {by: bob, deny: true}}, want: StatusDenied, wantApprovals: 1},
		{name: "no vote after a denial", votes: []vote{{by: bob, deny: true}, {by: alice, wantErr: ErrDecided}}, want: StatusDenied},
		{name: "no vote after an approval", votes: []vote{{by: alice}, {by: bob, deny: true, wantErr: ErrDecided}}, want: StatusApproved, wantApprovals: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			s := openStore(t, t.TempDir(), clk)
			r := call("body")
			r.MinApprovals = tt.minApprovals
			req := mustCreate(t, s, r)
			if req.Status != StatusPending || req.ID == "" || !req.CreatedAt.Equal(clk.Now()) || !req.ExpiresAt.Equal(clk.Now().Add(DefaultTTL)) {
				t.Fatalf("created %+v", req)
			}
			for i, v := range tt.votes {
				clk.Add(time.Minute)
				var err error
				if v.deny {
					_, err = s.Deny(req.ID, v.by, "vote")
				} else {
					_, err = s.Approve(req.ID, v.by, "vote", 0)
				}
				if !errors.Is(err, v.wantErr) {
					t.Fatalf("vote %d by %s: err %v, want %v", i+1, v.by.Subject, err, v.wantErr)
				}
			}
			got, err := s.Get(req.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tt.want || len(got.Approvals) != tt.wantApprovals {
				t.Fatalf("status %s with %d approvals, want %s with %d", got.Status, len(got.Approvals), tt.want, tt.wantApprovals)
			}
			if tt.want == StatusDenied && (got.Denial == nil || got.Denial.Approver.Subject != "bob" || got.Denial.Reason != "vote" || got.Denial.At.IsZero()) {
				t.Fatalf("denial not recorded: %+v", got.Denial)
			}
			for _, a := range got.Approvals {
				if a.Approver.Subject == "" || a.At.IsZero() || a.Reason != "vote" {
					t.Fatalf("vote not recorded: %+v", a)
				}
			}
			if (tt.want == StatusPending) != got.DecidedAt.IsZero() {
				t.Fatalf("decided at %v with status %s", got.DecidedAt, got.Status)
			}
		})
	}
}

func TestRetriedCallFindsItsRequest(t *testing.T) {
	s := openStore(t, t.TempDir(), newClock())
	first := mustCreate(t, s, call("body-1"))

	retry := call("body-1")
	retry.Resources = []string{retry.Resources[0], retry.Resources[0]} // order and repeats do not make another call
	again, created, err := s.Create(retry)
	if err != nil || created || again.ID != first.ID {
		t.Fatalf("retry: %s created=%v err=%v, want %s", again.ID, created, err, first.ID)
	}
	other := mustCreate(t, s, call("body-2"))
	if other.ID == first.ID {
		t.Fatal("another body found the first request")
	}
	if n := len(s.List(Filter{Status: StatusPending})); n != 2 {
		t.Fatalf("%d pending, want 2", n)
	}
	// An approved request not yet used is found too: the retry claims it.
	if _, err := s.Approve(first.ID, alice, "", 0); err != nil {
		t.Fatal(err)
	}
	if again, created, _ := s.Create(call("body-1")); created || again.ID != first.ID || again.Status != StatusApproved {
		t.Fatalf("after approval: %s %s created=%v", again.ID, again.Status, created)
	}
}

// A single-use approval lets exactly one call through; a grant window
// lets the identity's same action on the same resources through until it
// closes.
func TestCheck(t *testing.T) {
	type check struct {
		after  time.Duration // since the approval
		call   func(*Request)
		want   Status
		reason string
	}
	same := func(*Request) {}
	tests := []struct {
		name     string
		grantFor time.Duration
		checks   []check
	}{
		{name: "an approval is consumed by the one call it approved", checks: []check{
			{call: same, want: StatusApproved, reason: "the retried call passes"},
			{call: same, want: StatusNone, reason: "a third identical call is held again"},
		}},
		{name: "an unused approval lapses at the request's expiry", checks: []check{
			{after: DefaultTTL, call: same, want: StatusNone},
		}},
		{name: "a grant window covers the same action and resources", grantFor: 15 * time.Minute, checks: []check{
			{call: same, want: StatusApproved},
			{call: same, want: StatusApproved, reason: "not consumed"},
			{after: 14 * time.Minute, call: func(r *Request) { r.BodySHA256 = "other body" }, want: StatusApproved, reason: "any body"},
			{call: func(r *Request) { r.Resources = nil }, want: StatusNone, reason: "no resources is not these resources"},
			{call: func(r *Request) { r.Resources = []string{"arn:aws:s3:::reports/2030/q2.csv"} }, want: StatusNone, reason: "another resource"},
			{call: func(r *Request) { r.Resources = append(r.Resources, "arn:aws:s3:::reports/2030/q2.csv") }, want: StatusNone, reason: "one more resource"},
			{call: func(r *Request) { r.Action = "s3:DeleteBucket" }, want: StatusNone, reason: "another action"},
			{call: func(r *Request) { r.Region = "us-east-1" }, want: StatusNone, reason: "another region"},
			{call: func(r *Request) { r.Identity.Subject = "agent-8" }, want: StatusNone, reason: "another agent"},
			{after: 15 * time.Minute, call: same, want: StatusNone, reason: "the window closed"},
		}},
		{name: "a grant window covers a subset of its resources", grantFor: time.Hour, checks: []check{
			{call: func(r *Request) { r.Resources = r.Resources[:1] }, want: StatusApproved},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			s := openStore(t, t.TempDir(), clk)
			r := call("body")
			if tt.grantFor > 0 {
				r.Resources = append(r.Resources, "arn:aws:s3:::reports/2030/q3.csv")
			}
			req := mustCreate(t, s, r)
			if st, got, err := s.Check(r.Key(), clk.Now()); st != StatusPending || got == nil || got.ID != req.ID || err != nil {
				t.Fatalf("before approval: %s %v %v", st, got, err)
			}
			clk.Add(5 * time.Minute)
			if _, err := s.Approve(req.ID, alice, "ok", tt.grantFor); err != nil {
				t.Fatal(err)
			}
			approvedAt := clk.Now()
			for i, c := range tt.checks {
				k := r
				k.Resources = append([]string(nil), r.Resources...)
				c.call(&k)
				st, got, err := s.Check(k.Key(), approvedAt.Add(c.after))
				if err != nil || st != c.want {
					t.Fatalf("check %d (%s): %s, %v; want %s", i+1, c.reason, st, err, c.want)
				}
				if st == StatusApproved && (got == nil || got.ID != req.ID || len(got.Approvals) != 1) {
					t.Fatalf("check %d: the approving request is %+v", i+1, got)
				}
			}
		})
	}
}

func TestDeniedCallIsRefusedUntilExpiry(t *testing.T) {
	clk := newClock()
	s := openStore(t, t.TempDir(), clk)
	r := call("body")
	req := mustCreate(t, s, r)
	if _, err := s.Deny(req.ID, bob, "no deletes in Q1"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if st, got, _ := s.Check(r.Key(), clk.Now()); st != StatusDenied || got.Denial.Reason != "no deletes in Q1" {
			t.Fatalf("retry after denial: %s", st)
		}
	}
	if st, _, _ := s.Check(r.Key(), req.ExpiresAt); st != StatusNone {
		t.Fatalf("after expiry: %s, want a new request", st)
	}
}

func TestExpiry(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	var events []Event
	var mu sync.Mutex
	s, err := Open(Options{Dir: dir, Now: clk.Now, Notify: func(ev Event) { mu.Lock(); events = append(events, ev); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := call("body")
	req := mustCreate(t, s, r)

	clk.Add(DefaultTTL - time.Second)
	if got, _ := s.Get(req.ID); got.Status != StatusPending {
		t.Fatalf("a second before ExpiresAt: %s", got.Status)
	}
	clk.Add(time.Second)
	if got, _ := s.Get(req.ID); got.Status != StatusExpired {
		t.Fatalf("at ExpiresAt: %s, want expired", got.Status)
	}
	if _, err := s.Approve(req.ID, alice, "", 0); !errors.Is(err, ErrDecided) {
		t.Fatalf("approving an expired request: %v", err)
	}
	if st, _, _ := s.Check(r.Key(), clk.Now()); st != StatusNone {
		t.Fatalf("check after expiry: %s", st)
	}
	mu.Lock()
	if len(events) != 2 || events[0].Kind != EventCreated || events[1].Kind != EventExpired {
		t.Fatalf("events %v", events)
	}
	mu.Unlock()

	// Pruned a day after it expired, not before.
	path := filepath.Join(dir, req.ID+".json")
	s.Sweep(clk.Now().Add(DefaultRetain - time.Second))
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("pruned early: %v", err)
	}
	s.Sweep(clk.Now().Add(DefaultRetain))
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("not pruned: %v", err)
	}
	if _, err := s.Get(req.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get after prune: %v", err)
	}
}

func TestCreateRefuses(t *testing.T) {
	s := openStore(t, t.TempDir(), newClock())
	tests := []struct {
		name string
		edit func(*Request)
	}{
		{"no identity", func(r *Request) { r.Identity = Identity{} }},
		{"no action", func(r *Request) { r.Action = "" }},
		{"an expiry in the past", func(r *Request) { r.ExpiresAt = time.Unix(1, 0) }},
		{"too many approvals needed", func(r *Request) { r.MinApprovals = 100 }},
		{"params JSON cannot carry", func(r *Request) { r.Params = map[string]any{"f": func() {}} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call("body")
			tt.edit(&r)
			if _, _, err := s.Create(r); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err %v, want ErrInvalid", err)
			}
		})
	}
	if n := len(s.List(Filter{})); n != 0 {
		t.Fatalf("%d requests stored", n)
	}
}

func TestRestartKeepsRequestsAndVotes(t *testing.T) {
	clk := newClock()
	dir := filepath.Join(t.TempDir(), "approvals")
	s := openStore(t, dir, clk)

	two := call("needs-two")
	two.MinApprovals = 2
	pending := mustCreate(t, s, two)
	if _, err := s.Approve(pending.ID, alice, "first of two", 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	approved := mustCreate(t, s, call("approved"))
	if _, err := s.Approve(approved.ID, alice, "", 0); err != nil {
		t.Fatal(err)
	}
	consumed := mustCreate(t, s, call("consumed"))
	if _, err := s.Approve(consumed.ID, alice, "", 0); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := s.Check(call("consumed").Key(), clk.Now()); st != StatusApproved {
		t.Fatalf("consume: %s", st)
	}

	if _, err := Open(Options{Dir: dir}); err == nil {
		t.Fatal("a second Store opened the same directory")
	}
	for _, name := range []string{"", pending.ID + ".json"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]os.FileMode{true: 0o700, false: 0o600}[fi.IsDir()]; fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", fi.Name(), fi.Mode().Perm(), want)
		}
	}
	s.Close()

	clk.Add(time.Minute)
	s2 := openStore(t, dir, clk)
	got, err := s2.Get(pending.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != StatusPending || len(got.Approvals) != 1 || got.Approvals[0].Approver.Subject != "alice" ||
		got.Approvals[0].Reason != "first of two" || got.Approvals[0].For != 10*time.Minute {
		t.Fatalf("pending request after restart: %+v", got)
	}
	if got.Params["Bucket"] != "reports" {
		t.Fatalf("params after restart: %v", got.Params)
	}
	if again, created, _ := s2.Create(two); created || again.ID != pending.ID {
		t.Fatal("the retried call made a second request after restart")
	}
	if _, err := s2.Approve(pending.ID, alice, "", 0); !errors.Is(err, ErrAlreadyVoted) {
		t.Fatalf("alice again after restart: %v", err)
	}
	if st, _, _ := s2.Check(call("approved").Key(), clk.Now()); st != StatusApproved {
		t.Fatalf("approved before restart, unused: %s", st)
	}
	if st, _, _ := s2.Check(call("consumed").Key(), clk.Now()); st != StatusNone {
		t.Fatalf("consumed before restart: %s, want held again", st)
	}
	if got, err := s2.Approve(pending.ID, bob, "second", 15*time.Minute); err != nil || got.Status != StatusApproved || got.GrantFor != 10*time.Minute {
		t.Fatalf("bob: %v %+v (the grant is the shortest asked for)", err, got)
	}
}

func TestUnreadableFilesAreReportedAndSkipped(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	s := openStore(t, dir, clk)
	good := mustCreate(t, s, call("good"))
	s.Close()

	os.WriteFile(filepath.Join(dir, "0123456789abcdef.json"), []byte("{not json"), 0o600)
	os.WriteFile(filepath.Join(dir, "fedcba9876543210.json"), []byte(`{"id":"fedcba9876543210","status":"pending"}`), 0o644)
	os.WriteFile(filepath.Join(dir, tempPrefix+"x.json-123"), []byte("half"), 0o600)
	var errs []error
	s2, err := Open(Options{Dir: dir, Now: clk.Now, OnError: func(err error) { errs = append(errs, err) }})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if len(errs) != 2 {
		t.Fatalf("reported %v, want the bad JSON and the world-readable file", errs)
	}
	if all := s2.List(Filter{}); len(all) != 1 || all[0].ID != good.ID {
		t.Fatalf("loaded %v", all)
	}
	if _, err := os.Stat(filepath.Join(dir, tempPrefix+"x.json-123")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a leftover temp file was kept")
	}
}
