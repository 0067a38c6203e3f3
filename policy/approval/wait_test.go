package approval

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestWait(t *testing.T) {
	tests := []struct {
		name         string
		minApprovals int
		hold         time.Duration
		decide       func(s *Store, id string) // after 50ms; nil: nobody decides
		want         Status
		// The hold is long: returning before it ends proves the
		// decision woke the waiter.
		wantBefore time.Duration
	}{
		{name: "hold ends while pending: pending", hold: 100 * time.Millisecond, want: StatusPending},
		{name: "approval wakes the waiter at once", hold: time.Minute, want: StatusApproved, wantBefore: 5 * time.Second,
			decide: func(s *Store, id string) { s.Approve(id, alice, "", 0) }},
		{name: "denial wakes the waiter at once", hold: time.Minute, want: StatusDenied, wantBefore: 5 * time.Second,
			decide: func(s *Store, id string) { s.Deny(id, bob, "") }},
		{name: "a first of two approvals does not wake the waiter", minApprovals: 2, hold: 300 * time.Millisecond, want: StatusPending,
			decide: func(s *Store, id string) { s.Approve(id, alice, "", 0) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, t.TempDir(), newClock())
			r := call("body")
			r.MinApprovals = tt.minApprovals
			req := mustCreate(t, s, r)
			if tt.decide != nil {
				go func() {
					time.Sleep(50 * time.Millisecond)
					tt.decide(s, req.ID)
				}()
			}
			start := time.Now()
			st, err := s.Wait(context.Background(), req.ID, tt.hold)
			took := time.Since(start)
			if err != nil || st != tt.want {
				t.Fatalf("Wait: %s, %v; want %s", st, err, tt.want)
			}
			if tt.wantBefore > 0 && took >= tt.wantBefore {
				t.Fatalf("woke after %v", took)
			}
			if tt.want == StatusPending && took < tt.hold {
				t.Fatalf("returned pending after %v, before the hold of %v ended", took, tt.hold)
			}
		})
	}
}

func TestWaitEndsWithItsContextAndAtExpiry(t *testing.T) {
	clk := newClock()
	s := openStore(t, t.TempDir(), clk)

	req := mustCreate(t, s, call("ctx"))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if st, err := s.Wait(ctx, req.ID, time.Minute); st != StatusPending || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled Wait: %s, %v", st, err)
	}

	short := call("short")
	short.ExpiresAt = clk.Now().Add(time.Millisecond)
	req = mustCreate(t, s, short)
	clk.Add(time.Millisecond)
	start := time.Now()
	if st, err := s.Wait(context.Background(), req.ID, time.Minute); st != StatusExpired || err != nil || time.Since(start) > 5*time.Second {
		t.Fatalf("Wait past expiry: %s, %v after %v", st, err, time.Since(start))
	}

	if _, err := s.Wait(context.Background(), "0000000000000000", time.Second); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
}

// Hold is the chain's whole approval step: a held call, its retry after
// the hold, the approval, the call it lets through, and the next one.
func TestHold(t *testing.T) {
	clk := newClock()
	s := openStore(t, t.TempDir(), clk)
	ctx := context.Background()
	r := call("body")

	st, first, err := s.Hold(ctx, r, 20*time.Millisecond)
	if err != nil || st != StatusPending || first.ID == "" {
		t.Fatalf("first call: %s %v", st, err)
	}
	st, retry, err := s.Hold(ctx, r, 20*time.Millisecond)
	if err != nil || st != StatusPending || retry.ID != first.ID {
		t.Fatalf("retry: %s %s %v, want pending on %s", st, retry.ID, err, first.ID)
	}
	if n := len(s.List(Filter{})); n != 1 {
		t.Fatalf("%d requests after a retry, want 1", n)
	}

	// Approved during the hold: the held call itself passes.
	go func() {
		time.Sleep(50 * time.Millisecond)
		s.Approve(first.ID, alice, "ok", 0)
	}()
	st, passed, err := s.Hold(ctx, r, time.Minute)
	if err != nil || st != StatusApproved || passed.ID != first.ID || passed.ConsumedAt == nil {
		t.Fatalf("approved while held: %s %+v %v", st, passed, err)
	}
	// The approval was for that call: the next identical one is held on a
	// new request.
	st, next, err := s.Hold(ctx, r, 20*time.Millisecond)
	if err != nil || st != StatusPending || next.ID == first.ID {
		t.Fatalf("after the approved call: %s %s %v", st, next.ID, err)
	}

	// With a window, calls pass without waiting until it closes.
	if _, err := s.Approve(next.ID, bob, "maintenance", 15*time.Minute); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		other := r
		other.BodySHA256 = "another body"
		if st, got, err := s.Hold(ctx, other, time.Minute); err != nil || st != StatusApproved || got.ID != next.ID {
			t.Fatalf("call %d in the window: %s %v", i+1, st, err)
		}
	}
	clk.Add(15 * time.Minute)
	if st, _, _ := s.Hold(ctx, r, 10*time.Millisecond); st != StatusPending {
		t.Fatalf("after the window: %s, want held", st)
	}

	// Denied: refused, and the retries are refused without waiting.
	d := call("to deny")
	_, held, _ := s.Hold(ctx, d, 10*time.Millisecond)
	if _, err := s.Deny(held.ID, alice, "no"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if st, got, err := s.Hold(ctx, d, time.Minute); st != StatusDenied || got.ID != held.ID || err != nil || time.Since(start) > 5*time.Second {
		t.Fatalf("denied call: %s %v", st, err)
	}
}
