package policy

import (
	"cmp"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func mustParse(t testing.TB, src string) *Policy {
	t.Helper()
	p, err := Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse:\n%v", err)
	}
	return p
}

// agent is a call by a typical agent; tests change what they need.
func agent(action string, resources ...string) *Call {
	svc, _, _ := strings.Cut(action, ":")
	return &Call{
		Identity:  Identity{Issuer: "https://idp.example.com", Subject: "agent-7", Source: "oidc", Groups: []string{"agents", "team-data"}},
		Service:   svc,
		Region:    "us-east-1",
		Action:    action,
		Resources: resources,
		Params:    map[string]any{},
		SourceIP:  netip.MustParseAddr("10.0.0.7"),
		Time:      time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC),
	}
}

type want struct {
	effect Effect
	rule   string
}

func check(t *testing.T, p *Policy, c *Call, w want) Decision {
	t.Helper()
	d := p.Decide(c)
	if d.Effect != w.effect || d.Rule != w.rule {
		x := p.Explain(c)
		t.Fatalf("Decide = %s by %q, want %s by %q\n%s", d.Effect, d.Rule, w.effect, w.rule, x.String())
	}
	if x := p.Explain(c); x.Decision != d {
		t.Fatalf("Explain decided %+v, Decide %+v", x.Decision, d)
	}
	return d
}

func TestPrecedence(t *testing.T) {
	p := mustParse(t, `
version: 1
default: deny
rules:
  - {id: allow-all, effect: allow, actions: ["*"]}
  - {id: allow-s3, effect: allow, actions: ["s3:*"]}
  - {id: approve-puts, effect: approve, actions: ["s3:Put*"]}
  - {id: approve-puts-2, effect: approve, actions: ["s3:PutObject"]}
  - {id: deny-prod, effect: deny, actions: ["s3:*"], resources: ["arn:aws:s3:::prod/*"]}
  - {id: deny-prod-2, effect: deny, actions: ["*"], resources: ["arn:aws:s3:::prod/*"]}
`)
	for _, tc := range []struct {
		name string
		call *Call
		want want
	}{
		{"allow when only allows match: first allow decides", agent("s3:GetObject", "arn:aws:s3:::dev/a"), want{Allow, "allow-all"}},
		{"approve beats allow, first approve decides", agent("s3:PutObject", "arn:aws:s3:::dev/a"), want{Approve, "approve-puts"}},
		{"deny beats approve and allow, first deny decides", agent("s3:PutObject", "arn:aws:s3:::prod/a"), want{Deny, "deny-prod"}},
		{"deny listed after allows still wins", agent("s3:GetObject", "arn:aws:s3:::prod/a"), want{Deny, "deny-prod"}},
		{"other services: allow-all", agent("ec2:DescribeInstances"), want{Allow, "allow-all"}},
	} {
		t.Run(tc.name, func(t *testing.T) { check(t, p, tc.call, tc.want) })
	}
}

func TestDefault(t *testing.T) {
	for _, tc := range []struct {
		name, def string
		want      Effect
	}{
		{"omitted default denies", "", Deny},
		{"default deny", "default: deny", Deny},
		{"default allow", "default: allow", Allow},
		{"default approve holds, one approval", "default: approve", Approve},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustParse(t, "version: 1\n"+tc.def+"\nrules:\n  - {id: only-iam, effect: allow, actions: [\"iam:*\"]}\n")
			d := check(t, p, agent("s3:GetObject"), want{tc.want, "default"})
			if tc.want == Approve && d.MinApprovals != 1 {
				t.Errorf("MinApprovals = %d, want 1", d.MinApprovals)
			}
			if d.Reason != "denied by default" && tc.want == Deny {
				t.Errorf("Reason = %q", d.Reason)
			}
		})
	}
}

func TestBuiltinDefaultAllowsAllButUnknown(t *testing.T) {
	p := Default()
	check(t, p, agent("s3:DeleteBucket", "arn:aws:s3:::prod"), want{Allow, "default"})
	check(t, p, agent("iam:CreateUser"), want{Allow, "default"})
	check(t, p, agent("s3:Unknown"), want{Deny, "builtin-deny-unknown"})
	c := agent("")
	c.Service = "sqs"
	check(t, p, c, want{Deny, "builtin-deny-unknown"}) // an action intercept could not name at all
	if Default() != p {
		t.Error("Default() compiles the built-in policy more than once")
	}
}

func TestIdentityMatchers(t *testing.T) {
	p := mustParse(t, `
version: 1
default: deny
rules:
  - {id: subjects, effect: allow, actions: ["s3:GetObject"], identities: {subjects: ["agent-?", "bot-*-prod"]}}
  - {id: groups, effect: allow, actions: ["s3:PutObject"], identities: {groups: ["team-*", "admins"]}}
  - {id: issuers, effect: allow, actions: ["s3:ListBucket"], identities: {issuers: ["https://idp.example.com"]}}
  - {id: sources, effect: allow, actions: ["s3:HeadObject"], identities: {sources: ["key", "address"]}}
  - {id: all-of-them, effect: allow, actions: ["s3:HeadBucket"], identities: {subjects: ["agent-*"], groups: ["agents"], sources: ["oidc"]}}
`)
	with := func(action string, f func(*Identity)) *Call {
		c := agent(action)
		f(&c.Identity)
		return c
	}
	for _, tc := range []struct {
		name string
		call *Call
		want want
	}{
		{"subject ? takes one character", with("s3:GetObject", func(*Identity) {}), want{Allow, "subjects"}},
		{"subject ? takes exactly one", with("s3:GetObject", func(i *Identity) { i.Subject = "agent-17" }), want{Deny, "default"}},
		{"subject * in the middle", with("s3:GetObject", func(i *Identity) { i.Subject = "bot-a/b-prod" }), want{Allow, "subjects"}},
		{"subjects are case-sensitive", with("s3:GetObject", func(i *Identity) { i.Subject = "Agent-7" }), want{Deny, "default"}},
		{"any group of the caller matches any pattern", with("s3:PutObject", func(*Identity) {}), want{Allow, "groups"}},
		{"no group matches", with("s3:PutObject", func(i *Identity) { i.Groups = []string{"agents"} }), want{Deny, "default"}},
		{"no groups at all", with("s3:PutObject", func(i *Identity) { i.Groups = nil }), want{Deny, "default"}},
		{"issuer matches", with("s3:ListBucket", func(*Identity) {}), want{Allow, "issuers"}},
		{"other issuer", with("s3:ListBucket", func(i *Identity) { i.Issuer = "https://evil.example.com" }), want{Deny, "default"}},
		{"source not listed", with("s3:HeadObject", func(*Identity) {}), want{Deny, "default"}},
		{"source listed", with("s3:HeadObject", func(i *Identity) { i.Source = "key" }), want{Allow, "sources"}},
		{"unknown source never matches a sources list", with("s3:HeadObject", func(i *Identity) { i.Source = "" }), want{Deny, "default"}},
		{"every identity matcher must match", with("s3:HeadBucket", func(*Identity) {}), want{Allow, "all-of-them"}},
		{"one identity matcher fails", with("s3:HeadBucket", func(i *Identity) { i.Source = "key" }), want{Deny, "default"}},
	} {
		t.Run(tc.name, func(t *testing.T) { check(t, p, tc.call, tc.want) })
	}
}

func TestActionMatchers(t *testing.T) {
	p := mustParse(t, `
version: 1
default: deny
rules:
  - {id: lower-case-pattern, effect: allow, actions: ["s3:get*"]}
  - {id: exact, effect: allow, actions: ["dynamodb:DeleteTable"]}
  - {id: question, effect: allow, actions: ["ec2:Describe?pcs"]}
  - {id: any-service, effect: allow, actions: ["*:ListTags*"]}
  - {id: writes-but-tagging, effect: approve, actions: ["s3:Put*"], not_actions: ["s3:PutObjectTagging", "s3:PutBucket*"]}
  - {id: all-but-reads, effect: deny, not_actions: ["sqs:Receive*", "sqs:Get*"], regions: ["eu-west-1"]}
`)
	for _, tc := range []struct {
		name string
		call *Call
		want want
	}{
		{"pattern folds case like IAM", agent("s3:GetObject"), want{Allow, "lower-case-pattern"}},
		{"action folds case like IAM", agent("S3:GETOBJECT"), want{Allow, "lower-case-pattern"}},
		{"exact action", agent("dynamodb:DeleteTable"), want{Allow, "exact"}},
		{"exact is not a prefix", agent("dynamodb:DeleteTableReplica"), want{Deny, "default"}},
		{"? is one character", agent("ec2:DescribeVpcs"), want{Allow, "question"}},
		{"glob in the service part", agent("lambda:ListTags"), want{Allow, "any-service"}},
		{"actions minus not_actions", agent("s3:PutObject"), want{Approve, "writes-but-tagging"}},
		{"not_actions excludes", agent("s3:PutObjectTagging"), want{Deny, "default"}},
		{"not_actions glob excludes", agent("s3:PutBucketPolicy"), want{Deny, "default"}},
		{"not_actions alone: everything else", withRegion(agent("sqs:SendMessage"), "eu-west-1"), want{Deny, "all-but-reads"}},
		{"not_actions alone: the excluded", withRegion(agent("sqs:ReceiveMessage"), "eu-west-1"), want{Deny, "default"}},
	} {
		t.Run(tc.name, func(t *testing.T) { check(t, p, tc.call, tc.want) })
	}
}

func withRegion(c *Call, r string) *Call { c.Region = r; return c }

func TestResourceMatchers(t *testing.T) {
	p := mustParse(t, `
version: 1
default: deny
rules:
  - {id: deny-secrets, effect: deny, actions: ["s3:*"], resources: ["arn:aws:s3:::secret-?/*"]}
  - {id: public-objects, effect: allow, actions: ["s3:*"], resources: ["arn:aws:s3:::public/*", "arn:aws:s3:::shared-*/*"]}
  - {id: tables, effect: allow, actions: ["dynamodb:*"], resources: ["arn:aws:dynamodb:*:123456789012:table/app-*"]}
  - {id: no-resource, effect: allow, actions: ["s3:ListAllMyBuckets"], resources: ["*"]}
  - {id: no-resource-arn, effect: allow, actions: ["s3:ListBuckets"], resources: ["arn:aws:s3:::*"]}
`)
	for _, tc := range []struct {
		name string
		call *Call
		want want
	}{
		{"* crosses / in keys", agent("s3:GetObject", "arn:aws:s3:::public/a/b/c.txt"), want{Allow, "public-objects"}},
		{"bucket itself is not bucket/*", agent("s3:ListBucket", "arn:aws:s3:::public"), want{Deny, "default"}},
		{"? is one character in ARNs", agent("s3:GetObject", "arn:aws:s3:::secret-a/x"), want{Deny, "deny-secrets"}},
		{"? is not two", agent("s3:GetObject", "arn:aws:s3:::secret-ab/x"), want{Deny, "default"}},
		{"resources compare case-sensitively", agent("s3:GetObject", "arn:aws:s3:::PUBLIC/a"), want{Deny, "default"}},
		{"* crosses : in ARNs", agent("dynamodb:GetItem", "arn:aws:dynamodb:eu-west-1:123456789012:table/app-users"), want{Allow, "tables"}},
		{"other account", agent("dynamodb:GetItem", "arn:aws:dynamodb:eu-west-1:999999999999:table/app-users"), want{Deny, "default"}},
		{"deny matches if any resource matches", agent("s3:CopyObject", "arn:aws:s3:::public/x", "arn:aws:s3:::secret-a/y"), want{Deny, "deny-secrets"}},
		{"allow needs every resource: no copying out of an unlisted bucket", agent("s3:CopyObject", "arn:aws:s3:::public/x", "arn:aws:s3:::private/y"), want{Deny, "default"}},
		{"allow when every resource matches some pattern", agent("s3:CopyObject", "arn:aws:s3:::public/x", "arn:aws:s3:::shared-1/y"), want{Allow, "public-objects"}},
		{"a call without resources matches \"*\"", agent("s3:ListAllMyBuckets"), want{Allow, "no-resource"}},
		{"a call without resources matches no ARN pattern", agent("s3:ListBuckets"), want{Deny, "default"}},
	} {
		t.Run(tc.name, func(t *testing.T) { check(t, p, tc.call, tc.want) })
	}
}

func TestRegionMatchers(t *testing.T) {
	p := mustParse(t, `
version: 1
rules:
  - {id: eu, effect: allow, actions: ["*"], regions: ["eu-*", "us-east-1"]}
`)
	check(t, p, withRegion(agent("s3:GetObject"), "eu-central-1"), want{Allow, "eu"})
	check(t, p, withRegion(agent("s3:GetObject"), "us-east-1"), want{Allow, "eu"})
	check(t, p, withRegion(agent("s3:GetObject"), "us-east-2"), want{Deny, "default"})
	check(t, p, withRegion(agent("iam:ListUsers"), ""), want{Deny, "default"})
}

func TestUnknownActions(t *testing.T) {
	p := mustParse(t, `
version: 1
default: allow
rules:
  - {id: s3-star-deny, effect: deny, actions: ["s3:*"], identities: {subjects: ["mallory"]}}
  - {id: not-actions-deny, effect: deny, not_actions: ["s3:Get*"], identities: {subjects: ["eve"]}}
  - {id: sqs-unknown-approve, effect: approve, actions: ["sqs:Unknown"]}
  - {id: star-deny, effect: deny, actions: ["*"], identities: {subjects: ["trudy"]}}
  - {id: any-unknown, effect: deny, actions: ["*:unknown"], regions: ["eu-west-1"]}
`)
	who := func(c *Call, s string) *Call { c.Identity.Subject = s; return c }
	for _, tc := range []struct {
		name string
		call *Call
		want want
	}{
		{"s3:* does not match s3:Unknown", who(agent("s3:Unknown"), "mallory"), want{Allow, "default"}},
		{"s3:* matches identified actions", who(agent("s3:GetObject"), "mallory"), want{Deny, "s3-star-deny"}},
		{"not_actions never matches Unknown", who(agent("s3:Unknown"), "eve"), want{Allow, "default"}},
		{"<service>:Unknown names them", agent("sqs:Unknown"), want{Approve, "sqs-unknown-approve"}},
		{"<service>:Unknown is that service only", agent("sns:Unknown"), want{Allow, "default"}},
		{"* matches Unknown", who(agent("sns:Unknown"), "trudy"), want{Deny, "star-deny"}},
		{"*:unknown, any case", withRegion(agent("kms:Unknown"), "eu-west-1"), want{Deny, "any-unknown"}},
		{"*:unknown does not match identified actions", withRegion(agent("kms:Decrypt"), "eu-west-1"), want{Allow, "default"}},
	} {
		t.Run(tc.name, func(t *testing.T) { check(t, p, tc.call, tc.want) })
	}
}

func TestConditions(t *testing.T) {
	p := mustParse(t, `
version: 1
default: deny
rules:
  - id: tmp-keys
    effect: allow
    actions: ["s3:PutObject"]
    condition: 'call.params.Key.startsWith("tmp/")'
  - id: data-team-office-hours
    effect: allow
    actions: ["s3:GetObject"]
    condition: '"team-data" in identity.groups && time.getHours() >= 8 && time.getHours() < 18'
  - id: big-pages
    effect: approve
    actions: ["s3:ListObjectsV2"]
    condition: call.params.MaxKeys > 500
  - id: from-the-office
    effect: allow
    actions: ["sts:GetCallerIdentity"]
    condition: call.source_ip.startsWith("10.") && call.region == "us-east-1" && call.action.endsWith("Identity")
`)
	at := func(c *Call, hour int) *Call { c.Time = time.Date(2026, 3, 2, hour, 30, 0, 0, time.UTC); return c }
	params := func(c *Call, kv ...any) *Call {
		for i := 0; i < len(kv); i += 2 {
			c.Params[kv[i].(string)] = kv[i+1]
		}
		return c
	}
	for _, tc := range []struct {
		name string
		call *Call
		want want
	}{
		{"params: met", params(agent("s3:PutObject"), "Key", "tmp/x"), want{Allow, "tmp-keys"}},
		{"params: not met", params(agent("s3:PutObject"), "Key", "etc/passwd"), want{Deny, "default"}},
		{"identity groups and time: met", at(agent("s3:GetObject"), 9), want{Allow, "data-team-office-hours"}},
		{"time: after hours (UTC)", at(agent("s3:GetObject"), 19), want{Deny, "default"}},
		{"time zone of the call does not matter", func() *Call {
			c := agent("s3:GetObject")
			c.Time = time.Date(2026, 3, 2, 20, 0, 0, 0, time.FixedZone("UTC+10", 10*3600)) // 10:00 UTC
			return c
		}(), want{Allow, "data-team-office-hours"}},
		{"JSON numbers (doubles) compare with integer literals", params(agent("s3:ListObjectsV2"), "MaxKeys", 1000.0), want{Approve, "big-pages"}},
		{"call fields", agent("sts:GetCallerIdentity"), want{Allow, "from-the-office"}},
	} {
		t.Run(tc.name, func(t *testing.T) { check(t, p, tc.call, tc.want) })
	}
}

func TestConditionErrorsFailClosed(t *testing.T) {
	p := mustParse(t, `
version: 1
default: allow
rules:
  - {id: deny-tmp, effect: deny, actions: ["s3:DeleteObject"], condition: 'call.params.Key.startsWith("tmp/")'}
  - {id: approve-big, effect: approve, actions: ["s3:ListObjectsV2"], condition: 'call.params.MaxKeys > 500'}
  - {id: allow-tmp, effect: allow, actions: ["s3:PutObject"], condition: 'call.params.Key.startsWith("tmp/")'}
  - {id: deny-rest, effect: deny, actions: ["s3:PutObject"]}
  - {id: deny-expensive, effect: deny, actions: ["s3:GetObject"], condition: 'call.params.L.all(x, call.params.L.all(y, call.params.L.all(z, x + y + z >= 0)))'}
  - {id: allow-expensive, effect: allow, actions: ["s3:HeadObject"], condition: 'call.params.L.all(x, call.params.L.all(y, call.params.L.all(z, x + y + z >= 0)))'}
  - {id: deny-not-bool, effect: deny, actions: ["s3:GetBucketTagging"], condition: 'call.params.Flag'}
  - {id: deny-head, effect: deny, actions: ["s3:HeadObject"], condition: 'false'}
`)
	long := make([]any, 200)
	for i := range long {
		long[i] = float64(i)
	}
	with := func(c *Call, k string, v any) *Call { c.Params[k] = v; return c }
	for _, tc := range []struct {
		name string
		call *Call
		want want
	}{
		{"deny rule: missing key counts as met", agent("s3:DeleteObject"), want{Deny, "deny-tmp"}},
		{"deny rule: wrong type counts as met", with(agent("s3:DeleteObject"), "Key", 42.0), want{Deny, "deny-tmp"}},
		{"approve rule: error counts as met", with(agent("s3:ListObjectsV2"), "MaxKeys", "many"), want{Approve, "approve-big"}},
		{"allow rule: error counts as not met", agent("s3:PutObject"), want{Deny, "deny-rest"}},
		{"deny rule: cost limit counts as met", with(agent("s3:GetObject"), "L", long), want{Deny, "deny-expensive"}},
		{"allow rule: cost limit counts as not met", with(agent("s3:HeadObject"), "L", long), want{Allow, "default"}},
		{"deny rule: a result that is not a boolean counts as met", with(agent("s3:GetBucketTagging"), "Flag", "yes"), want{Deny, "deny-not-bool"}},
		{"small inputs stay under the cost limit", with(agent("s3:GetObject"), "L", long[:5]), want{Deny, "deny-expensive"}},
	} {
		t.Run(tc.name, func(t *testing.T) { check(t, p, tc.call, tc.want) })
	}
	t.Run("explain shows the error and how it counted", func(t *testing.T) {
		x := p.Explain(agent("s3:DeleteObject"))
		r := x.Rules[0]
		if !r.Matched || !strings.Contains(r.ConditionError, "no such key") || !strings.Contains(r.Why, "counted as met") {
			t.Errorf("rule deny-tmp: %+v", r)
		}
		x = p.Explain(agent("s3:PutObject"))
		r = x.Rules[2]
		if r.Matched || r.Failed != "condition" || !strings.Contains(r.Why, "counted as not met") {
			t.Errorf("rule allow-tmp: %+v", r)
		}
	})
}

func TestShadow(t *testing.T) {
	t.Run("shadowed deny over a real allow: allowed, reported", func(t *testing.T) {
		p := mustParse(t, `
version: 1
rules:
  - {id: try-deny, effect: deny, shadow: true, actions: ["s3:Delete*"]}
  - {id: allow-s3, effect: allow, actions: ["s3:*"], mask: s3-default}
masks:
  s3-default: {detectors: [email]}
`)
		d := check(t, p, agent("s3:DeleteObject"), want{Allow, "try-deny"})
		if !d.Shadow || d.WouldBe != Deny || d.AppliedRule != "allow-s3" || d.MaskProfile != "s3-default" {
			t.Errorf("decision %+v", d)
		}
		d = check(t, p, agent("s3:GetObject"), want{Allow, "allow-s3"})
		if d.Shadow || d.WouldBe != "" {
			t.Errorf("no shadow rule matched, decision %+v", d)
		}
	})
	t.Run("shadowed approve over the default deny: denied, reported", func(t *testing.T) {
		p := mustParse(t, `
version: 1
rules:
  - {id: try-approve, effect: approve, shadow: true, actions: ["iam:*"]}
`)
		d := check(t, p, agent("iam:CreateUser"), want{Deny, "try-approve"})
		if !d.Shadow || d.WouldBe != Approve || d.AppliedRule != "default" {
			t.Errorf("decision %+v", d)
		}
	})
	t.Run("shadowed deny next to a real deny: the real one decides", func(t *testing.T) {
		p := mustParse(t, `
version: 1
default: allow
rules:
  - {id: try-deny, effect: deny, shadow: true, actions: ["s3:*"]}
  - {id: deny, effect: deny, actions: ["s3:Delete*"]}
`)
		d := check(t, p, agent("s3:DeleteBucket"), want{Deny, "deny"})
		if d.Shadow {
			t.Errorf("decision %+v", d)
		}
	})
	t.Run("shadowed deny over a real approve: held, reported", func(t *testing.T) {
		p := mustParse(t, `
version: 1
rules:
  - {id: hold, effect: approve, actions: ["*"], min_approvals: 2}
  - {id: try-deny, effect: deny, shadow: true, actions: ["*"]}
`)
		d := check(t, p, agent("s3:GetObject"), want{Approve, "try-deny"})
		if !d.Shadow || d.WouldBe != Deny || d.AppliedRule != "hold" || d.MinApprovals != 2 {
			t.Errorf("decision %+v", d)
		}
	})
	t.Run("global shadow lets every deny and approve through", func(t *testing.T) {
		p := mustParse(t, `
version: 1
default: deny
shadow: true
rules:
  - {id: deny-deletes, effect: deny, actions: ["s3:Delete*"]}
  - {id: hold-iam, effect: approve, actions: ["iam:*"]}
  - {id: reads, effect: allow, actions: ["s3:Get*"], mask: m}
masks: {m: {}}
`)
		for _, tc := range []struct {
			action      string
			rule        string
			would       Effect
			appliedRule string
		}{
			{"s3:DeleteBucket", "deny-deletes", Deny, "default"},
			{"iam:CreateUser", "hold-iam", Approve, "default"},
			{"sqs:SendMessage", "default", Deny, "default"},
		} {
			d := check(t, p, agent(tc.action), want{Allow, tc.rule})
			if !d.Shadow || d.WouldBe != tc.would || d.AppliedRule != tc.appliedRule {
				t.Errorf("%s: decision %+v", tc.action, d)
			}
			if d.Reason != "allowed by default" {
				t.Errorf("%s: reason %q: shadow rules stay out of what the agent is told", tc.action, d.Reason)
			}
		}
		d := check(t, p, agent("s3:GetObject"), want{Allow, "reads"})
		if d.Shadow || d.MaskProfile != "m" {
			t.Errorf("allow rules stay enforced: decision %+v", d)
		}
	})
}

func TestDecisionFields(t *testing.T) {
	p := mustParse(t, `
version: 1
rules:
  - {id: hold-iam, effect: approve, actions: ["iam:*"], min_approvals: 3, mask: iam-masked}
  - {id: hold-kms, effect: approve, actions: ["kms:*"]}
  - {id: reads, effect: allow, actions: ["s3:Get*"], mask: secrets-default}
  - {id: no, effect: deny, actions: ["s3:Delete*"]}
masks:
  iam-masked: {defaults: false, detectors: [aws-access-key-id]}
  secrets-default: {}
`)
	for _, tc := range []struct {
		action string
		want   Decision
	}{
		{"iam:CreateUser", Decision{Effect: Approve, Rule: "hold-iam", AppliedRule: "hold-iam", MinApprovals: 3, MaskProfile: "iam-masked", Reason: "held for approval by rule hold-iam"}},
		{"kms:Decrypt", Decision{Effect: Approve, Rule: "hold-kms", AppliedRule: "hold-kms", MinApprovals: 1, Reason: "held for approval by rule hold-kms"}},
		{"s3:GetObject", Decision{Effect: Allow, Rule: "reads", AppliedRule: "reads", MaskProfile: "secrets-default", Reason: "allowed by rule reads"}},
		{"s3:DeleteBucket", Decision{Effect: Deny, Rule: "no", AppliedRule: "no", Reason: "denied by rule no"}},
		{"sqs:SendMessage", Decision{Effect: Deny, Rule: "default", AppliedRule: "default", Reason: "denied by default"}},
	} {
		got := p.Decide(agent(tc.action))
		wantMask := cmp.Or(tc.want.MaskProfile, "default")
		if got.Mask == nil || got.Mask.Name != wantMask {
			t.Errorf("%s: Mask %+v, want the profile %q", tc.action, got.Mask, wantMask)
		}
		if got.Mask = nil; got != tc.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.action, got, tc.want)
		}
	}
}

func TestMaskProfiles(t *testing.T) {
	p := mustParse(t, `
version: 1
default: allow
rules:
  - {id: raw, effect: allow, actions: ["kms:*"], mask: none}
  - {id: pii, effect: allow, actions: ["dynamodb:*"], mask: pii}
masks:
  pii:
    defaults: false
    detectors: [email]
  default:
    detectors: [card]
`)
	for _, tc := range []struct {
		action, profile string
		masks, keeps    string // a response body, and what of it survives
	}{
		{"kms:Decrypt", "none", "", `{"Plaintext":"a@b.example"}`},
		{"dynamodb:GetItem", "pii", `{"S":"a@b.example"}`, `{"SecretAccessKey":"x"}`},
		// No rule names a profile: the file's default, which keeps the
		// built-in masks and adds its own.
		{"secretsmanager:GetSecretValue", "default", `{"SecretString":"hunter2","Card":"4111111111111111"}`, ""},
	} {
		d := p.Decide(agent(tc.action))
		if d.Mask == nil || d.Mask.Name != tc.profile {
			t.Fatalf("%s: Mask %+v, want %q", tc.action, d.Mask, tc.profile)
		}
		m := d.Mask.For(tc.action)
		if tc.masks != "" {
			if out, rep, err := m.JSON([]byte(tc.masks)); err != nil || rep.Total() == 0 {
				t.Errorf("%s: %s -> %s (%v, %v): want masked", tc.action, tc.masks, out, rep, err)
			}
		}
		if tc.keeps != "" {
			if out, _, err := m.JSON([]byte(tc.keeps)); err != nil || string(out) != tc.keeps {
				t.Errorf("%s: %s -> %s (%v): want it as it was", tc.action, tc.keeps, out, err)
			}
		}
	}
}

func TestMaskProfileErrors(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"version: 1\nrules:\n  - {id: a, effect: allow, actions: [\"*\"], mask: nope}\n",
			`p.yaml:3:50: mask: no profile "nope" (profiles: default, none); define it under masks:`},
		{"version: 1\nrules: []\nmasks:\n  p: {detectors: [nosuch]}\n", `p.yaml:4:`},
		{"version: 1\nrules: []\nmasks:\n  none: {}\n", `masks:`},
	} {
		_, err := Parse("p.yaml", []byte(tc.file))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.file, err, tc.want)
		}
	}
}

func TestDecideDoesNotModifyTheCall(t *testing.T) {
	p := mustParse(t, `
version: 1
rules:
  - {id: c, effect: allow, actions: ["*"], condition: 'call.params.Key == "x" && identity.groups.size() > 0'}
`)
	c := agent("s3:GetObject", "arn:aws:s3:::b/k")
	c.Params["Key"] = "x"
	c.Time = time.Time{}
	before := *c
	p.Decide(c)
	if c.Time != before.Time || len(c.Params) != 1 || c.Identity.Groups[0] != "agents" {
		t.Errorf("call changed: %+v", c)
	}
}

func TestRulesOfOtherServicesAreSkippedByTheIndex(t *testing.T) {
	p := mustParse(t, `
version: 1
rules:
  - {id: s3, effect: allow, actions: ["s3:Get*", "s3:List*"]}
  - {id: ddb, effect: allow, actions: ["dynamodb:*"]}
  - {id: wild, effect: deny, actions: ["*:Delete*"]}
  - {id: nots, effect: approve, not_actions: ["s3:*"]}
`)
	names := func(action string) []string {
		var ev evalCtx
		ev.init(&Call{Action: action})
		var out []string
		for _, i := range p.candidates(ev.svc, ev.first) {
			out = append(out, p.rules[i].id)
		}
		return out
	}
	for action, want := range map[string]string{
		"s3:GetObject":        "s3 nots",
		"s3:ListBucket":       "s3 nots",
		"s3:DeleteObject":     "wild nots",
		"S3:deleteObject":     "wild nots",
		"dynamodb:PutItem":    "ddb nots",
		"dynamodb:DeleteItem": "ddb wild nots",
		"sqs:DeleteQueue":     "wild nots",
		"sqs:SendMessage":     "nots",
	} {
		if got := strings.Join(names(action), " "); got != want {
			t.Errorf("candidates for %s = %s, want %s", action, got, want)
		}
	}
}

func TestNilCallIsDenied(t *testing.T) {
	if d := Default().Decide(nil); d.Effect != Deny {
		t.Errorf("Decide(nil) = %+v", d)
	}
	if x := Default().Explain(nil); x.Decision.Effect != Deny {
		t.Errorf("Explain(nil) = %+v", x.Decision)
	}
}
