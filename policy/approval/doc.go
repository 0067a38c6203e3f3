// Package approval holds calls that policy says a human must approve,
// until an approver decides or the hold ends.
//
//	store, err := approval.Open(approval.Options{
//		Dir:    filepath.Join(stateDir, "approvals"), // one 0600 JSON file per request
//		Notify: notifier.Notify,                      // webhooks on creation and decision
//	})
//	if err != nil { ... }
//	defer store.Close()
//	go store.Run(ctx) // expires requests, prunes them a day later
//
//	// In the chain, for a call policy holds:
//	req := approval.Request{Identity: id, Action: "s3:DeleteBucket", Resources: arns,
//		Region: region, Params: masked, BodySHA256: sum, Rule: rule.Name, MinApprovals: rule.MinApprovals}
//	status, decided, err := store.Hold(ctx, req, 30*time.Second)
//	switch {
//	case err != nil:                       // fail closed: AccessDenied
//	case status == approval.StatusApproved: // forward; record decided.Approvals
//	case status == approval.StatusDenied:   // AccessDenied naming decided.ID and the rule
//	default:                               // still pending: a retryable error; the retry finds decided.ID
//	}
//
//	// The admin API and `gatehouse approvals list|show|approve|deny`:
//	api := approval.NewServer(store, oidcAuthenticator, []string{"sec-approvers"})
//	go api.ListenHTTPS(ctx, ":9443", tlsConfig) // Authorization: Bearer <OIDC token>
//	go api.ServeUnix(ctx, "/run/gatehouse/approvals.sock") // root, by SO_PEERCRED
//	c := approval.UnixClient("/run/gatehouse/approvals.sock")
//	_, err = c.Approve(ctx, id, "ticket OPS-12", 15*time.Minute)
//
// # What it owns
//
// Requests for approval and their lifecycle: pending, then approved
// (MinApprovals distinct approvers, none of them the caller), denied
// (one denial), or expired (no decision by ExpiresAt, an hour by
// default). Each request is a file in the Store's directory, written
// atomically, so that held calls and votes survive a restart. A
// retried held call finds its request by Key (identity, action, region,
// resources, body hash) instead of making a second. An approval lets one
// call through and is then consumed, unless the approvers granted a
// window (`--for 15m`), in which the identity's same action on the same
// resources and region passes. Waiters are woken in-process the moment
// a decision is stored. It owns the webhook payloads (JSON and Slack),
// the admin API with its authentication rules (bearer token of an
// approver group, or uid 0 on the unix socket), and its client.
//
// # What it never does
//
// It never decides whether a call needs approval (policy does) and never
// forwards, signs or records a call: the chain does, with what Hold
// returns. It never verifies a token itself; an Authenticator does, and
// its error reasons are not shown to the caller. It never blocks a held
// call on a webhook, never prints a webhook URL whole (Slack's carry a
// secret), never sends a bearer token over plain HTTP, and never serves
// the API without TLS except on the root-only unix socket. It imports no
// Gatehouse package: the identity it holds and the principal who
// decides are its own types.
//
// # Who imports it
//
// intercept's chain (Hold, or Check, Create and Wait, at the decide
// stage), and cmd/gatehouse, which opens the Store, starts the admin API
// and the Notifier, adapts intercept/identity's OIDC verifier to
// Authenticator, and runs `gatehouse approvals` on Client.
package approval
