package intercept

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse/policy/approval"
	"github.com/gatehouse/gatehouse/recorder"
)

// Approvals holds the calls policy marks "approve" until an approver
// decides.
type Approvals struct {
	Store *approval.Store
	// Hold is how long a held call waits for a decision before the agent
	// gets a retryable error (the request stays pending; the agent's retry
	// finds it). Below SDK read timeouts; default 20s.
	Hold time.Duration
}

// hold waits for an approver's decision on the call. Approved: the call
// goes on (nil). Denied: AccessDenied naming the request. Still pending
// when the hold ends: a retryable 503, so the SDK retries and the retry
// finds the same request. Any failure of the store refuses the call.
func (c *Chain) hold(ctx context.Context, call *Call) *Error {
	if c.approvals == nil {
		return refuse(http.StatusForbidden, code(call, "AccessDenied"),
			"rule "+call.Decision.Rule+" requires approval, and this gateway has no approvals configured", nil)
	}
	d := call.Described
	req := approval.Request{
		Action: d.Action, Resources: d.Resources, Region: d.Region, Params: d.Params,
		BodySHA256: call.bodyHash, Rule: call.Decision.Rule, MinApprovals: call.Decision.MinApprovals,
	}
	if id := call.Identity; id != nil {
		req.Identity = approval.Identity{Issuer: id.Issuer, Subject: id.Subject, Groups: id.Groups}
	}
	if req.BodySHA256 == "" && call.auth != nil {
		req.BodySHA256 = call.auth.PayloadHash
	}
	st, got, err := c.approvals.Store.Hold(ctx, req, c.approvals.Hold)
	call.ApprovalID = got.ID
	call.votes = votes(got)
	switch {
	case errors.Is(err, context.Canceled):
		return refuse(499, "RequestCanceled", "the agent went away while the call was held", err)
	case err != nil:
		return refuse(http.StatusServiceUnavailable, "ServiceUnavailable", "the call needs approval and the approval could not be recorded", err)
	case st == approval.StatusApproved:
		return nil
	case st == approval.StatusDenied:
		reason := ""
		if got.Denial != nil && got.Denial.Reason != "" {
			reason = ": " + got.Denial.Reason
		}
		return refuse(http.StatusForbidden, code(call, "AccessDenied"), "denied by an approver (approval "+got.ID+")"+reason, nil)
	default:
		return refuse(http.StatusServiceUnavailable, "ServiceUnavailable",
			"held for approval "+got.ID+" (rule "+call.Decision.Rule+"); retry once an approver ran: gatehouse approvals approve "+got.ID, nil)
	}
}

// votes are the approvers' decisions on a held call, for its record.
func votes(r approval.Request) []recorder.Vote {
	who := func(p approval.Principal) string {
		if p.Issuer == "" {
			return p.Subject
		}
		return p.Issuer + "#" + p.Subject
	}
	var vs []recorder.Vote
	for _, v := range r.Approvals {
		vs = append(vs, recorder.Vote{Approver: who(v.Approver), Approve: true, At: v.At, Reason: v.Reason})
	}
	if d := r.Denial; d != nil {
		vs = append(vs, recorder.Vote{Approver: who(d.Approver), At: d.At, Reason: d.Reason})
	}
	return vs
}
