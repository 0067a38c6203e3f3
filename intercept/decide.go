package intercept

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse/intercept/awsapi"
	"github.com/gatehouse/gatehouse/policy"
)

// Decider is the policy in force: a *policy.Engine (a file, reloaded as it
// changes) or a *policy.Policy (policy.Default() when none is configured).
type Decider interface {
	Decide(*policy.Call) policy.Decision
}

// describe names the call for policy: operation, IAM action, resources and
// parameters, from the request as the agent sent it.
func (c *Chain) describe(r *http.Request, call *Call) {
	region := call.Region
	if call.auth != nil && call.auth.Scope.Region != "" {
		region = call.auth.Scope.Region
	}
	body := call.formBody
	if body == nil {
		body = call.jsonBody
	}
	if body == nil {
		body = call.xmlBody
	}
	account := ""
	if c.authn != nil {
		account = c.authn.Account
	}
	call.Described = awsapi.Describe(r, body, call.Service, region, awsapi.Options{Account: account})
	if call.Described.Operation != "" {
		call.Operation = call.Described.Operation
	}
}

// decide asks the policy about the call and about every further access it
// needs (a copy reads its source): the strongest effect of them all
// applies, as IAM requires each of them to be allowed.
func (c *Chain) decide(call *Call) policy.Decision {
	d := call.Described
	pc := &policy.Call{
		Service: d.Service, Region: d.Region, Operation: d.Operation,
		Action: d.Action, Resources: d.Resources, Params: celParams(d.Params),
		SourceIP: call.Conn.Client.Addr(), Time: call.Start,
	}
	if id := call.Identity; id != nil {
		pc.Identity = policy.Identity{Issuer: id.Issuer, Subject: id.Subject, Source: id.Source, Groups: id.Groups}
	}
	dec := c.policy.Decide(pc)
	for _, also := range d.AlsoActions {
		also := also
		more := *pc
		more.Action, more.Resources = also.Action, also.Resources
		if md := c.policy.Decide(&more); rank(md.Effect) > rank(dec.Effect) {
			dec = md
		}
	}
	return dec
}

func rank(e policy.Effect) int {
	switch e {
	case policy.Deny:
		return 3
	case policy.Approve:
		return 2
	case policy.Allow:
		return 1
	}
	return 0
}

// denied is the agent's error for a denied call: AccessDenied in the
// protocol's shape, naming the rule and the request id (writeError adds it).
func denied(call *Call, d policy.Decision) *Error {
	msg := d.Reason
	if msg == "" {
		msg = "denied by rule " + d.Rule
	}
	return refuse(http.StatusForbidden, code(call, "AccessDenied"), msg+" ("+call.Described.Action+")", nil)
}

func resourcesForLog(rs []string) string {
	const max = 5
	if len(rs) > max {
		return strings.Join(rs[:max], ",") + ",..."
	}
	return strings.Join(rs, ",")
}

// celParams gives policy conditions numbers as numbers: awsapi keeps JSON
// numbers as json.Number (exact), which CEL would see as strings, so a
// condition like `call.params.Limit > 100` could never hold.
func celParams(params map[string]any) map[string]any {
	if !hasNumber(params) {
		return params
	}
	out := make(map[string]any, len(params))
	for k, v := range params {
		out[k] = celValue(v)
	}
	return out
}

func celValue(v any) any {
	switch v := v.(type) {
	case json.Number:
		if f, err := v.Float64(); err == nil {
			return f
		}
		return v.String()
	case map[string]any:
		return celParams(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = celValue(e)
		}
		return out
	}
	return v
}

func hasNumber(v any) bool {
	switch v := v.(type) {
	case json.Number:
		return true
	case map[string]any:
		for _, e := range v {
			if hasNumber(e) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if hasNumber(e) {
				return true
			}
		}
	}
	return false
}

// namesObjects reports whether a described S3 call names at least one
// object (an ARN with a key), not just its bucket.
func namesObjects(d awsapi.Call) bool {
	for _, r := range d.Resources {
		if strings.HasPrefix(r, "arn:") && strings.Contains(r[strings.LastIndex(r, ":")+1:], "/") {
			return true
		}
	}
	return false
}
