package policy

import (
	"net/netip"
	"time"

	"github.com/gatehouse/gatehouse/policy/mask"
)

// Call is the described call: intercept fills it in, policy decides on it.
// Policy defines it because policy consumes it. Decide never modifies it.
//
// Params hold what encoding/json decodes into any (string, float64, bool,
// nil, []any, map[string]any) and query parameters as string or []string.
// A json.Number reaches CEL as a string, so numeric comparisons on it fail
// (closed); decode numbers as float64.
type Call struct {
	Identity  Identity       // who
	Service   string         // "s3"
	Region    string         // "us-east-1"; "" when the endpoint names none
	Operation string         // SDK operation name, "DeleteBucket"
	Action    string         // IAM action, "s3:DeleteBucket"; "<service>:Unknown" when unidentified
	Resources []string       // ARNs, "arn:aws:s3:::prod-x"
	Params    map[string]any // request parameters (decoded body/query), for conditions
	SourceIP  netip.Addr
	Time      time.Time // when the call arrived; the zero time means "now"
}

// Identity is who makes the call, as intercept's identity stage proved it.
type Identity struct {
	Issuer  string   // OIDC issuer URL; "" for the other sources
	Subject string   // "agent-7"
	Source  string   // "oidc", "key" or "address"
	Groups  []string // "agents", "team-data"
}

// Effect is what a rule, or the policy's default, does with a call.
type Effect string

const (
	Allow   Effect = "allow"
	Deny    Effect = "deny"
	Approve Effect = "approve" // hold the call until an approver lets it through
)

// rank orders effects for precedence: deny beats approve beats allow.
func (e Effect) rank() int {
	switch e {
	case Deny:
		return 3
	case Approve:
		return 2
	case Allow:
		return 1
	}
	return 0
}

func (e Effect) valid() bool { return e.rank() > 0 }

// DefaultRule is Decision.Rule when no rule matched and the policy's
// default decided.
const DefaultRule = "default"

// Decision is what happens to a call, and why.
type Decision struct {
	Effect Effect // what happens: allow, deny, approve (held for approval)
	Rule   string // id of the deciding rule, or "default"

	// Shadow says a rule in shadow mode (or the whole policy, in global
	// shadow mode) would have decided otherwise: WouldBe is what it said
	// and Rule is its id, while Effect is what actually happens and
	// AppliedRule the rule (or "default") whose effect applied. The usual
	// case is a would-deny or would-approve let through: Effect allow.
	Shadow      bool
	WouldBe     Effect
	AppliedRule string

	MaskProfile string // mask profile named by the rule whose effect applied ("" none)
	// Mask is the profile that masks the call's responses: the one
	// MaskProfile names, or the built-in default when it names none (a
	// policy file may redefine "default"). Never nil.
	Mask         *mask.Profile `json:"-"`
	MinApprovals int           // for approve: approvals needed, at least 1
	Reason       string        // short, safe to show the agent: "denied by rule no-prod-deletes"; never names a shadow rule
}
