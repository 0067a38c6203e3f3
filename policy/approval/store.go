package approval

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Errors of the Store's decisions. The admin API answers them with 404,
// 403, 409, 409 and 400.
var (
	ErrNotFound     = errors.New("no such approval request")
	ErrSelfApproval = errors.New("an approver cannot decide on their own call")
	ErrAlreadyVoted = errors.New("this approver has already approved")
	ErrDecided      = errors.New("the request is already decided")
	ErrInvalid      = errors.New("invalid")
)

// Defaults of Options.
const (
	DefaultTTL      = time.Hour
	DefaultRetain   = 24 * time.Hour
	DefaultMaxGrant = 24 * time.Hour
	sweepEvery      = time.Minute
	maxReason       = 1024
	maxMinApprovals = 16
)

// Options configure a Store.
type Options struct {
	// Dir holds one file per request; created 0700 if missing.
	Dir string
	// TTL: a request created without an ExpiresAt expires this long
	// after creation (DefaultTTL).
	TTL time.Duration
	// Retain: a request's file is removed this long after it expired or
	// its grant window closed (DefaultRetain).
	Retain time.Duration
	// MaxGrant bounds `--for` (DefaultMaxGrant).
	MaxGrant time.Duration
	// Notify, if set, is called with every creation and decision, after
	// it is on disk and outside the Store's lock. It must not block:
	// Notifier.Notify queues.
	Notify func(Event)
	// OnError, if set, hears what the Store cannot return to a caller: a
	// file that does not load, a sweep that cannot write or remove.
	OnError func(error)
	// Now is the clock (time.Now).
	Now func() time.Time
}

// EventKind says what happened to a request.
type EventKind string

const (
	EventCreated  EventKind = "created"
	EventApproved EventKind = "approved"
	EventDenied   EventKind = "denied"
	EventExpired  EventKind = "expired"
)

// Event is a request as it stands after a creation or decision.
type Event struct {
	Kind    EventKind
	Request Request
}

// Store keeps the requests of held calls in a directory, so that a held
// call, its approval and its retry survive a gateway restart. It is safe
// for concurrent use; one process opens a directory at a time.
type Store struct {
	opts Options
	lock *os.File

	mu    sync.Mutex
	byID  map[string]*entry
	byKey map[string]string // key digest → id of the request that answers it
}

type entry struct {
	req    Request
	digest string
	done   chan struct{} // closed once the request is no longer pending
}

func (e *entry) settle() {
	select {
	case <-e.done:
	default:
		close(e.done)
	}
}

// Open loads the requests in opts.Dir. A file that does not load is
// reported to OnError and left alone: losing a request fails closed (the
// call is held again).
func Open(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("open approvals: no directory given")
	}
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.Retain <= 0 {
		opts.Retain = DefaultRetain
	}
	if opts.MaxGrant <= 0 {
		opts.MaxGrant = DefaultMaxGrant
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(opts.Dir, dirPerm); err != nil {
		return nil, fmt.Errorf("open approvals %s: %w", opts.Dir, err)
	}
	lock, err := lockDir(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("open approvals: %w", err)
	}
	s := &Store{opts: opts, lock: lock, byID: map[string]*entry{}, byKey: map[string]string{}}
	if err := s.load(); err != nil {
		lock.Close()
		return nil, fmt.Errorf("open approvals %s: %w", opts.Dir, err)
	}
	s.Sweep(opts.Now())
	return s, nil
}

func (s *Store) load() error {
	des, err := os.ReadDir(s.opts.Dir)
	if err != nil {
		return err
	}
	for _, de := range des {
		name := de.Name()
		path := filepath.Join(s.opts.Dir, name)
		if strings.HasPrefix(name, tempPrefix) {
			os.Remove(path) // a write a crash interrupted
			continue
		}
		id, ok := strings.CutSuffix(name, ".json")
		if !ok {
			continue
		}
		req, err := loadRequest(path, id)
		if err != nil {
			s.report(fmt.Errorf("load approval %s: %w", path, err))
			continue
		}
		e := &entry{req: req, digest: req.Key().Digest(), done: make(chan struct{})}
		if req.Status != StatusPending {
			e.settle()
		}
		s.byID[id] = e
	}
	// The newest request of a key answers it, as it did before the
	// restart.
	for _, e := range s.sorted() {
		s.byKey[e.digest] = e.req.ID
	}
	return nil
}

func loadRequest(path, id string) (Request, error) {
	var req Request
	b, err := readFile(path)
	if err != nil {
		return req, err
	}
	if err := json.Unmarshal(b, &req); err != nil {
		return req, err
	}
	switch {
	case req.ID != id || !validID(id):
		return req, fmt.Errorf("holds request %q", req.ID)
	case !req.Status.valid():
		return req, fmt.Errorf("status %q", req.Status)
	}
	return req, nil
}

// Close releases the directory. Waiters are not woken; their contexts
// end them.
func (s *Store) Close() error { return s.lock.Close() }

// Run expires and prunes requests every minute until ctx ends. Without
// it, requests expire when they are next looked at and files are pruned
// at Open.
func (s *Store) Run(ctx context.Context) error {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.Sweep(s.opts.Now())
		}
	}
}

// Sweep marks pending requests past their ExpiresAt expired, and
// removes requests Retain after they stopped mattering.
func (s *Store) Sweep(now time.Time) {
	var events []Event
	s.mu.Lock()
	for id, e := range s.byID {
		if ev, ok := s.expireLocked(e, now); ok {
			events = append(events, ev)
		}
		if now.Before(e.end().Add(s.opts.Retain)) || e.req.Status == StatusPending {
			continue
		}
		if err := os.Remove(s.path(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.report(fmt.Errorf("prune approval %s: %w", id, err))
			continue
		}
		e.settle()
		delete(s.byID, id)
		if s.byKey[e.digest] == id {
			delete(s.byKey, e.digest)
		}
	}
	s.mu.Unlock()
	s.notify(events)
}

// end is when the request stops mattering: its expiry, or the end of
// its grant window if that is later.
func (e *entry) end() time.Time {
	end := e.req.ExpiresAt
	if g := e.req.grantEnd(); g.After(end) {
		end = g
	}
	return end
}

// Create stores r as a pending request, unless a request for the same
// key still answers it (pending, or approved or denied and neither
// consumed nor expired): then it returns that one and false, so that a
// retried held call waits on the request it already made.
//
// The Store sets ID, CreatedAt and the state fields. A zero ExpiresAt
// is the TTL after creation.
func (s *Store) Create(r Request) (Request, bool, error) {
	now := s.opts.Now()
	if err := validCall(&r); err != nil {
		return Request{}, false, err
	}
	digest := r.Key().Digest()

	s.mu.Lock()
	if e := s.liveLocked(digest, now); e != nil {
		req := e.req.clone()
		s.mu.Unlock()
		return req, false, nil
	}
	r.CreatedAt = now
	if r.ExpiresAt.IsZero() {
		r.ExpiresAt = now.Add(s.opts.TTL)
	} else if !r.ExpiresAt.After(now) {
		s.mu.Unlock()
		return Request{}, false, fmt.Errorf("create approval: %w: expires_at %s is not in the future", ErrInvalid, r.ExpiresAt.Format(time.RFC3339))
	}
	r.MinApprovals = r.minApprovals()
	r.Status, r.Approvals, r.Denial, r.GrantFor, r.DecidedAt, r.ConsumedAt = StatusPending, nil, nil, 0, time.Time{}, nil
	var err error
	if r, err = normalize(r); err != nil {
		s.mu.Unlock()
		return Request{}, false, fmt.Errorf("create approval: %w: params: %w", ErrInvalid, err)
	}
	for {
		r.ID = newID()
		if s.byID[r.ID] == nil {
			break
		}
	}
	if err := s.writeLocked(r); err != nil {
		s.mu.Unlock()
		return Request{}, false, fmt.Errorf("create approval: %w", err)
	}
	s.byID[r.ID] = &entry{req: r, digest: digest, done: make(chan struct{})}
	s.byKey[digest] = r.ID
	out := r.clone()
	s.mu.Unlock()
	s.notify([]Event{{Kind: EventCreated, Request: out.clone()}})
	return out, true, nil
}

func validCall(r *Request) error {
	switch {
	case r.Identity.Subject == "":
		return fmt.Errorf("create approval: %w: no identity", ErrInvalid)
	case r.Action == "":
		return fmt.Errorf("create approval: %w: no action", ErrInvalid)
	case r.MinApprovals > maxMinApprovals:
		return fmt.Errorf("create approval: %w: min_approvals %d, at most %d", ErrInvalid, r.MinApprovals, maxMinApprovals)
	}
	return nil
}

// normalize passes r through JSON, so that what is held in memory is
// what a restart reads back (numbers in Params become float64), and the
// caller's maps and slices are not shared.
func normalize(r Request) (Request, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return r, err
	}
	var out Request
	err = json.Unmarshal(b, &out)
	return out, err
}

// Get returns the request with this id.
func (s *Store) Get(id string) (Request, error) {
	now := s.opts.Now()
	s.mu.Lock()
	e := s.byID[id]
	if e == nil {
		s.mu.Unlock()
		return Request{}, fmt.Errorf("approval %q: %w", id, ErrNotFound)
	}
	ev, expired := s.expireLocked(e, now)
	req := e.req.clone()
	s.mu.Unlock()
	if expired {
		s.notify([]Event{ev})
	}
	return req, nil
}

// Filter selects requests for List; a zero Filter selects all.
type Filter struct {
	Status Status
}

// List returns the requests the filter selects, oldest first.
func (s *Store) List(f Filter) []Request {
	now := s.opts.Now()
	var events []Event
	var out []Request
	s.mu.Lock()
	for _, e := range s.sorted() {
		if ev, ok := s.expireLocked(e, now); ok {
			events = append(events, ev)
		}
		if f.Status == StatusNone || e.req.Status == f.Status {
			out = append(out, e.req.clone())
		}
	}
	s.mu.Unlock()
	s.notify(events)
	return out
}

func (s *Store) sorted() []*entry {
	es := make([]*entry, 0, len(s.byID))
	for _, e := range s.byID {
		es = append(es, e)
	}
	slices.SortFunc(es, func(a, b *entry) int {
		return cmp.Or(a.req.CreatedAt.Compare(b.req.CreatedAt), strings.Compare(a.req.ID, b.req.ID))
	})
	return es
}

// Approve records approver's vote. The request is approved once
// MinApprovals distinct approvers voted; grantFor (`--for`) asks that
// the approval cover the identity's same action on the same resources
// for that long instead of the one call. No one approves their own call,
// and one approver counts once.
func (s *Store) Approve(id string, approver Principal, reason string, grantFor time.Duration) (Request, error) {
	if grantFor < 0 || grantFor > s.opts.MaxGrant {
		return Request{}, fmt.Errorf("approve %s: %w: for %v, want 0 to %v", id, ErrInvalid, grantFor, s.opts.MaxGrant)
	}
	return s.decide("approve", id, approver, reason, func(r *Request, v Vote) (EventKind, error) {
		for _, a := range r.Approvals {
			if a.Approver.Issuer == approver.Issuer && a.Approver.Subject == approver.Subject {
				return "", ErrAlreadyVoted
			}
		}
		v.For = grantFor
		r.Approvals = append(r.Approvals, v)
		if len(r.Approvals) < r.minApprovals() {
			return "", nil
		}
		r.Status, r.DecidedAt = StatusApproved, v.At
		r.GrantFor = r.Approvals[0].For
		for _, a := range r.Approvals {
			r.GrantFor = min(r.GrantFor, a.For) // every approver agreed to the shortest
		}
		return EventApproved, nil
	})
}

// Deny records approver's denial; one denial decides. No one denies
// their own call.
func (s *Store) Deny(id string, approver Principal, reason string) (Request, error) {
	return s.decide("deny", id, approver, reason, func(r *Request, v Vote) (EventKind, error) {
		r.Status, r.DecidedAt, r.Denial = StatusDenied, v.At, &v
		return EventDenied, nil
	})
}

func (s *Store) decide(op, id string, approver Principal, reason string, vote func(*Request, Vote) (EventKind, error)) (Request, error) {
	if len(reason) > maxReason {
		return Request{}, fmt.Errorf("%s %s: %w: reason longer than %d bytes", op, id, ErrInvalid, maxReason)
	}
	if approver.Subject == "" {
		return Request{}, fmt.Errorf("%s %s: %w: no approver", op, id, ErrInvalid)
	}
	now := s.opts.Now()
	var events []Event
	defer func() { s.notify(events) }()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.byID[id]
	if e == nil {
		return Request{}, fmt.Errorf("%s %q: %w", op, id, ErrNotFound)
	}
	if ev, ok := s.expireLocked(e, now); ok {
		events = append(events, ev)
	}
	if e.req.Status != StatusPending {
		return e.req.clone(), fmt.Errorf("%s %s: %w: %s", op, id, ErrDecided, e.req.Status)
	}
	if approver.is(e.req.Identity) {
		return e.req.clone(), fmt.Errorf("%s %s: %w", op, id, ErrSelfApproval)
	}
	next := e.req.clone()
	v := Vote{Approver: approver, At: now, Reason: reason}
	v.Approver.Groups = slices.Clone(approver.Groups)
	kind, err := vote(&next, v)
	if err != nil {
		return e.req.clone(), fmt.Errorf("%s %s: %w", op, id, err)
	}
	if err := s.writeLocked(next); err != nil {
		return e.req.clone(), fmt.Errorf("%s %s: %w", op, id, err)
	}
	e.req = next
	if kind != "" {
		e.settle()
		events = append(events, Event{Kind: kind, Request: next.clone()})
	}
	return next.clone(), nil
}

// Check is what the chain asks on each held call: may this call pass?
//
//   - StatusApproved: go. Either a grant window of an approved request
//     covers the call, or the call's own request was approved for one
//     call, which this answer consumes (a later identical call is held
//     again).
//   - StatusDenied: refuse, naming the request.
//   - StatusPending: wait on the returned request.
//   - StatusNone: nothing answers the call; Create a request.
//
// The error is a failure to record the consumption; the call must then
// be refused, as the approval may still be on disk.
func (s *Store) Check(key Key, now time.Time) (Status, *Request, error) {
	digest := key.Digest()
	var events []Event
	defer func() { s.notify(events) }()
	s.mu.Lock()
	defer s.mu.Unlock()

	var grant *entry
	for _, e := range s.byID {
		if e.req.covers(key, now) && (grant == nil || e.req.DecidedAt.After(grant.req.DecidedAt)) {
			grant = e
		}
	}
	if grant != nil {
		req := grant.req.clone()
		return StatusApproved, &req, nil
	}

	id, ok := s.byKey[digest]
	if !ok {
		return StatusNone, nil, nil
	}
	e := s.byID[id]
	if ev, ok := s.expireLocked(e, now); ok {
		events = append(events, ev)
	}
	if !e.answers(now) {
		delete(s.byKey, digest)
		return StatusNone, nil, nil
	}
	if e.req.Status == StatusApproved && e.req.GrantFor == 0 {
		next := e.req.clone()
		at := now
		next.ConsumedAt = &at
		if err := s.writeLocked(next); err != nil {
			return StatusNone, nil, fmt.Errorf("consume approval %s: %w", id, err)
		}
		e.req = next
		delete(s.byKey, digest)
	}
	req := e.req.clone()
	return req.Status, &req, nil
}

// answers reports whether the request still answers its key at now.
func (e *entry) answers(now time.Time) bool {
	switch e.req.Status {
	case StatusPending, StatusDenied:
		return now.Before(e.req.ExpiresAt)
	case StatusApproved:
		// An approval with a window is the window: once it closes, the
		// call is held again, even one identical to the approved call.
		if e.req.GrantFor > 0 {
			return now.Before(e.req.grantEnd())
		}
		return e.req.ConsumedAt == nil && now.Before(e.req.ExpiresAt)
	}
	return false
}

// liveLocked is the request that answers the digest at now, if any.
func (s *Store) liveLocked(digest string, now time.Time) *entry {
	id, ok := s.byKey[digest]
	if !ok {
		return nil
	}
	e := s.byID[id]
	if e == nil || !e.answers(now) {
		delete(s.byKey, digest)
		return nil
	}
	return e
}

// expireLocked marks e expired if it is pending past its ExpiresAt. The
// file is rewritten; if that fails the request is expired in memory all
// the same (expiry follows from ExpiresAt, so a restart expires it
// again).
func (s *Store) expireLocked(e *entry, now time.Time) (Event, bool) {
	if e.req.Status != StatusPending || now.Before(e.req.ExpiresAt) {
		return Event{}, false
	}
	e.req.Status = StatusExpired
	if err := s.writeLocked(e.req); err != nil {
		s.report(fmt.Errorf("expire approval %s: %w", e.req.ID, err))
	}
	e.settle()
	return Event{Kind: EventExpired, Request: e.req.clone()}, true
}

func (s *Store) writeLocked(r Request) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(s.opts.Dir, r.ID+".json", append(b, '\n'))
}

func (s *Store) path(id string) string { return filepath.Join(s.opts.Dir, id+".json") }

func (s *Store) notify(events []Event) {
	if s.opts.Notify == nil {
		return
	}
	for _, ev := range events {
		s.opts.Notify(ev)
	}
}

func (s *Store) report(err error) {
	if s.opts.OnError != nil {
		s.opts.OnError(err)
	}
}

// IDs are 16 hex digits: short enough to type in `gatehouse approvals
// approve ID`, safe in a file name and a URL path.
const idLen = 16

func newID() string {
	b := make([]byte, idLen/2)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func validID(id string) bool {
	if len(id) != idLen {
		return false
	}
	for _, c := range id {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
