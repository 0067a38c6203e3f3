package approval

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Status is where a request stands.
type Status string

const (
	// StatusNone is what Check answers when nothing is held for a call:
	// the chain creates a request.
	StatusNone     Status = ""
	StatusPending  Status = "pending"
	StatusApproved Status = "approved"
	StatusDenied   Status = "denied"
	StatusExpired  Status = "expired"
)

func (s Status) valid() bool {
	switch s {
	case StatusPending, StatusApproved, StatusDenied, StatusExpired:
		return true
	}
	return false
}

// ParseStatus reads a status as the API and the CLI spell it; "" and
// "all" are StatusNone, which a Filter reads as every status.
func ParseStatus(s string) (Status, error) {
	switch st := Status(s); {
	case s == "" || s == "all":
		return StatusNone, nil
	case st.valid():
		return st, nil
	}
	return StatusNone, fmt.Errorf("status %q: want pending, approved, denied, expired or all", s)
}

// Identity is the agent whose call is held.
type Identity struct {
	Issuer  string   `json:"issuer"`
	Subject string   `json:"subject"`
	Groups  []string `json:"groups,omitempty"`
}

// Principal is a human (or root on the gateway) who decides.
type Principal struct {
	Issuer  string   `json:"issuer"`
	Subject string   `json:"subject"`
	Groups  []string `json:"groups,omitempty"`
}

// LocalRoot is who speaks on the unix socket: uid 0 on the gateway.
var LocalRoot = Principal{Issuer: "local", Subject: "root", Groups: []string{"root"}}

// is reports whether p is the identity: same issuer and subject. Groups
// do not count; a subject is one person whatever groups its token lists.
func (p Principal) is(id Identity) bool { return p.Issuer == id.Issuer && p.Subject == id.Subject }

// Vote is one approver's decision, recorded in the request.
type Vote struct {
	Approver Principal `json:"approver"`
	At       time.Time `json:"at"`
	Reason   string    `json:"reason,omitempty"`
	// For is the grant window this approver asked for (`--for 15m`);
	// zero approves the one call. Unused in a denial.
	For time.Duration `json:"-"`
}

// Request is one held call and what has been decided about it. The
// fields down to ExpiresAt describe the call; the Store owns the rest.
type Request struct {
	ID         string         `json:"id"`
	Identity   Identity       `json:"identity"`
	Action     string         `json:"action"`
	Resources  []string       `json:"resources"`
	Region     string         `json:"region,omitempty"`
	Params     map[string]any `json:"params,omitempty"` // masked by the caller; read-only once created
	BodySHA256 string         `json:"body_sha256,omitempty"`
	Rule       string         `json:"rule,omitempty"`
	// MinApprovals distinct approvers are needed; below 1 counts as 1.
	MinApprovals int       `json:"min_approvals"`
	CreatedAt    time.Time `json:"created_at"`
	// ExpiresAt ends the request: a pending one expires then, an
	// approval or denial no longer answers the call after it. Zero when
	// creating: the Store's TTL after creation.
	ExpiresAt time.Time `json:"expires_at"`

	Status    Status `json:"status"`
	Approvals []Vote `json:"approvals,omitempty"`
	Denial    *Vote  `json:"denial,omitempty"`
	// GrantFor is the window, from DecidedAt, in which the approval
	// covers every call of the identity and action on the same region
	// and resources: the shortest window the approvers asked for. Zero:
	// the approval is for the one call, consumed when it passes.
	GrantFor   time.Duration `json:"-"`
	DecidedAt  time.Time     `json:"decided_at,omitzero"`
	ConsumedAt *time.Time    `json:"consumed_at,omitempty"`
}

// Key is what makes two calls the same call: a retried held call finds
// its request by it. Groups are not part of it; the body is, by hash.
type Key struct {
	Issuer, Subject string
	Action          string
	Region          string
	Resources       []string
	BodySHA256      string
}

// Key is the request's call key.
func (r Request) Key() Key {
	return Key{
		Issuer: r.Identity.Issuer, Subject: r.Identity.Subject,
		Action: r.Action, Region: r.Region,
		Resources: r.Resources, BodySHA256: r.BodySHA256,
	}
}

// Digest is the key as one string; the order of resources does not
// matter.
func (k Key) Digest() string {
	b, _ := json.Marshal([]any{k.Issuer, k.Subject, k.Action, k.Region, resourceSet(k.Resources), k.BodySHA256})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// resourceSet is resources sorted and deduplicated; a call without
// resources is one empty resource, so that a grant for such a call
// covers only calls without resources.
func resourceSet(rs []string) []string {
	if len(rs) == 0 {
		return []string{""}
	}
	rs = slices.Clone(rs)
	slices.Sort(rs)
	return slices.Compact(rs)
}

func (r *Request) minApprovals() int { return max(r.MinApprovals, 1) }

// grantEnd is when the request's grant window closes; zero without one.
func (r *Request) grantEnd() time.Time {
	if r.Status != StatusApproved || r.GrantFor <= 0 {
		return time.Time{}
	}
	return r.DecidedAt.Add(r.GrantFor)
}

// covers reports whether r's grant lets k through at now: same
// identity, action and region, every resource of k among r's, inside
// the window.
func (r *Request) covers(k Key, now time.Time) bool {
	end := r.grantEnd()
	if end.IsZero() || !now.Before(end) || now.Before(r.DecidedAt) {
		return false
	}
	if r.Identity.Issuer != k.Issuer || r.Identity.Subject != k.Subject || r.Action != k.Action || r.Region != k.Region {
		return false
	}
	granted := resourceSet(r.Resources)
	for _, res := range resourceSet(k.Resources) {
		if _, ok := slices.BinarySearch(granted, res); !ok {
			return false
		}
	}
	return true
}

// clone is a deep copy, so that callers never share the Store's state.
func (r Request) clone() Request {
	r.Identity.Groups = slices.Clone(r.Identity.Groups)
	r.Resources = slices.Clone(r.Resources)
	r.Params = cloneValue(r.Params).(map[string]any)
	r.Approvals = slices.Clone(r.Approvals)
	for i := range r.Approvals {
		r.Approvals[i].Approver.Groups = slices.Clone(r.Approvals[i].Approver.Groups)
	}
	if r.Denial != nil {
		d := *r.Denial
		d.Approver.Groups = slices.Clone(d.Approver.Groups)
		r.Denial = &d
	}
	if r.ConsumedAt != nil {
		t := *r.ConsumedAt
		r.ConsumedAt = &t
	}
	return r
}

func cloneValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if v == nil {
			return v
		}
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[k] = cloneValue(x)
		}
		return m
	case []any:
		s := make([]any, len(v))
		for i, x := range v {
			s[i] = cloneValue(x)
		}
		return s
	}
	return v
}

// Durations are written as Go durations ("15m0s"), the way `--for`
// reads them, not as nanoseconds.

func (v Vote) MarshalJSON() ([]byte, error) {
	type plain Vote
	return json.Marshal(struct {
		plain
		For string `json:"for,omitempty"`
	}{plain(v), durationString(v.For)})
}

func (v *Vote) UnmarshalJSON(b []byte) error {
	type plain Vote
	w := struct {
		*plain
		For string `json:"for"`
	}{plain: (*plain)(v)}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	d, err := parseDuration(w.For)
	v.For = d
	return err
}

func (r Request) MarshalJSON() ([]byte, error) {
	type plain Request
	return json.Marshal(struct {
		plain
		GrantFor string `json:"grant_for,omitempty"`
	}{plain(r), durationString(r.GrantFor)})
}

func (r *Request) UnmarshalJSON(b []byte) error {
	type plain Request
	w := struct {
		*plain
		GrantFor string `json:"grant_for"`
	}{plain: (*plain)(r)}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	d, err := parseDuration(w.GrantFor)
	r.GrantFor = d
	return err
}

func durationString(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: %w", s, err)
	}
	if d < 0 {
		return 0, fmt.Errorf("duration %q: negative", s)
	}
	return d, nil
}
