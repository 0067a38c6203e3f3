package approval

import (
	"context"
	"fmt"
	"time"
)

// Waiter holds a call on its request. *Store is one; the chain's tests
// may bring their own.
type Waiter interface {
	Wait(ctx context.Context, id string, hold time.Duration) (Status, error)
}

var _ Waiter = (*Store)(nil)

// Wait blocks until the request is decided, it expires, or hold ends,
// and returns its status: StatusPending when the hold ended first (the
// chain answers the agent with a retryable error). The Store wakes it
// the moment a decision is on disk; nothing polls. If ctx ends first,
// Wait returns the status then and ctx's error.
//
// StatusApproved wakes the call; Check, which consumes single-use
// approvals, says whether it passes.
func (s *Store) Wait(ctx context.Context, id string, hold time.Duration) (Status, error) {
	status := func() (Status, <-chan struct{}, time.Time, error) {
		now := s.opts.Now()
		s.mu.Lock()
		e := s.byID[id]
		if e == nil {
			s.mu.Unlock()
			return StatusNone, nil, time.Time{}, fmt.Errorf("wait for approval %q: %w", id, ErrNotFound)
		}
		ev, expired := s.expireLocked(e, now)
		st, done, exp := e.req.Status, e.done, e.req.ExpiresAt
		s.mu.Unlock()
		if expired {
			s.notify([]Event{ev})
		}
		return st, done, exp, nil
	}
	st, done, expiresAt, err := status()
	if err != nil || st != StatusPending {
		return st, err
	}
	// Waking at the expiry too lets the call learn it at once, rather
	// than at the end of a hold that outlasts the request.
	d := min(hold, expiresAt.Sub(s.opts.Now()))
	t := time.NewTimer(max(d, 0))
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-ctx.Done():
		st, _, _, _ := status()
		return st, ctx.Err()
	}
	st, _, _, err = status()
	return st, err
}

// Hold is the approval step of the chain for one held call, put
// together from Check, Create and Wait:
//
//  1. Check: a grant window or the call's approved request lets it
//     through (StatusApproved), a denial refuses it (StatusDenied).
//  2. Otherwise Create (or find) the call's request, which notifies the
//     approvers, and Wait on it for up to hold.
//  3. Once approved, Check again to claim the approval.
//
// It returns StatusApproved (forward the call), StatusDenied (refuse,
// naming the request), or StatusPending or StatusExpired (answer with a
// retryable error; the agent's retry finds the same request, or a new
// one once it expired). The request is the one that decided, or that
// the call waits on.
func (s *Store) Hold(ctx context.Context, r Request, hold time.Duration) (Status, Request, error) {
	key := r.Key()
	st, req, err := s.Check(key, s.opts.Now())
	switch {
	case err != nil:
		return StatusNone, Request{}, err
	case st == StatusApproved || st == StatusDenied:
		return st, *req, nil
	case req == nil:
		created, _, err := s.Create(r)
		if err != nil {
			return StatusNone, Request{}, err
		}
		req = &created
	}
	st, err = s.Wait(ctx, req.ID, hold)
	if err != nil {
		return st, *req, err
	}
	if st != StatusApproved && st != StatusDenied {
		got, err := s.Get(req.ID)
		if err != nil {
			return st, *req, err
		}
		return got.Status, got, nil
	}
	// A decision: Check claims an approval (or a grant that came with it)
	// and names the denial.
	cst, creq, err := s.Check(key, s.opts.Now())
	switch {
	case err != nil:
		return StatusNone, *req, err
	case cst == StatusApproved || cst == StatusDenied:
		return cst, *creq, nil
	}
	// An identical call claimed the single-use approval first.
	return StatusPending, *req, nil
}
