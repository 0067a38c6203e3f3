// Package policy decides what a described AWS call may do: allow it, deny
// it, or hold it for a human's approval.
//
//	eng, err := policy.NewEngine("/etc/gatehouse/policy.yaml", logReload)
//	if err != nil {
//		return err // the first load must succeed
//	}
//	go eng.Run(ctx) // reload when the file changes; cmd calls eng.Reload on SIGHUP
//	d := eng.Decide(&policy.Call{Identity: id, Action: "s3:DeleteBucket", ...})
//	if d.Effect == policy.Deny { ... d.Reason ... }
//
// # What it owns
//
// Decisions: allow, deny, or hold for a human's approval, and which mask
// profile applies, from a described call (identity, IAM action, resources,
// region, parameters) and the policy file; the file's format and its
// strict loading; reloading it without a restart (Engine); and the built-in
// policy used when no file is configured (Default).
//
// # What it never does
//
// It never dials, signs or records, and imports no other Gatehouse package
// beyond its own sub-packages: a described call in, a decision out.
// Decide is pure: it reads the call, changes nothing, and depends on
// nothing but the policy (and the clock, when Call.Time is zero and a
// condition asks for the time).
//
// # Who imports it
//
// intercept's chain (the decide stage) and cmd/gatehouse for its own
// subcommands (policy check, policy explain).
//
// # The policy file
//
//	version: 1
//	default: deny        # deny (the default) | allow | approve: when no rule matches
//	shadow: false        # global shadow mode: deny and approve are reported, not enforced
//	rules:
//	  - id: no-prod-deletes             # required, unique; letters, digits, . _ -
//	    effect: deny                    # allow | deny | approve
//	    identities:                     # optional; every key given must match
//	      subjects: ["agent-*"]         # globs; a list matches if any entry matches
//	      groups: ["agents"]            # matches if any of the caller's groups matches
//	      issuers: ["https://idp.example.com"]
//	      sources: ["oidc", "key", "address"]
//	    actions: ["s3:Delete*", "dynamodb:DeleteTable"]
//	    not_actions: ["s3:DeleteObjectTagging"]
//	    resources: ["arn:aws:s3:::prod-*", "arn:aws:s3:::prod-*/*"]
//	    regions: ["us-east-1", "eu-*"]
//	    condition: 'has(call.params.Key) && call.params.Key.startsWith("tmp/")'
//	    shadow: false                   # this rule only: report, do not enforce
//	    mask: secrets-default           # mask profile for calls this rule lets through
//	    min_approvals: 2                # approve rules only; default 1
//
// Loading is strict: unknown keys, wrong types ("yes" for true, 1 for
// "1"), empty lists, duplicate keys or rule ids, bad effects, bad globs
// and conditions that do not compile are errors naming file:line:col, a
// condition's error pointing into the expression where the file allows
// it. Quote globs that start with "*": a bare * starts a YAML alias.
//
// Globs take '*' (any run of characters, '/' and ':' included, as in IAM)
// and '?' (one character); nothing else is special. Action patterns are
// "<service>:<action>" or "*" and compare case-insensitively, as IAM
// does; resource patterns are ARNs or "*" and compare exactly. A rule
// needs actions or not_actions (or both: the action must match actions
// and none of not_actions); actions: ["*"] takes every call.
//
// A rule matches a call when every matcher it has matches. Resources: a
// deny or approve rule matches when any of the call's resources matches; an
// allow rule only when every resource does, so that a call naming an
// allowed and a forbidden resource (CopyObject) is not let through by the
// allow rule. A call naming no resource is a call on "*", as in IAM: only a
// "*" pattern matches it. Regions compare with the call's region ("" for
// endpoints that name none).
//
// Unidentified calls (Call.Action "<service>:Unknown") match only rules
// whose actions name them: "*", "s3:Unknown", "*:Unknown". "s3:*" and
// not_actions rules do not match them. Default denies them.
//
// # Conditions
//
// A condition is a CEL expression, compiled at load, over
//
//	identity  map: subject, issuer, groups (list), source
//	call      map: service, region, operation, action, resources (list),
//	          params (the decoded request parameters), source_ip
//	time      timestamp of the call (time.getHours() is UTC;
//	          time.getHours("Europe/Paris") for a zone)
//
// Unknown keys of identity and call are load errors; keys of call.params
// are the request's and checked only at evaluation: use has(call.params.X)
// before reading an optional one. Numbers in params are doubles and compare
// with integer literals. The string extensions (lowerAscii, split, ...)
// are available.
//
// Evaluation is cost-limited (ConditionCostLimit). A condition that fails
// to evaluate (a missing key, a type mismatch, the cost limit, a result
// that is not a boolean) fails closed: for an allow rule it counts as not
// met; for a deny or approve rule, as met. Explain shows the error.
//
// # Precedence
//
// Every matching rule is considered: deny beats approve beats allow, as in
// IAM; the deciding rule is the first in the file of the strongest effect;
// with no match the default decides. Rules in shadow mode do not take
// part: when one would have decided otherwise, the Decision carries
// Shadow, WouldBe and its id in Rule, while Effect, AppliedRule,
// MaskProfile and MinApprovals come from the rules that are enforced. In
// global shadow mode every deny and approve rule, and a deny or approve
// default, is in shadow mode: nothing is denied or held, and what would
// have been is reported.
//
// Without a policy file Gatehouse runs Default: allow every identified
// call, deny unidentified ones (rule builtin-deny-unknown), so that the lab
// and demos work out of the box. Production should ship a file with
// "default: deny"; testdata/example.yaml is a starting point.
package policy
