package policy

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

var benchServices = []struct {
	svc     string
	actions []string
	arn     func(team, name string) string
}{
	{"s3", []string{"GetObject", "PutObject", "DeleteObject", "ListBucket", "GetObjectTagging", "DeleteBucket"}, func(t, n string) string { return "arn:aws:s3:::" + t + "-" + n + "/data/" + n + ".json" }},
	{"dynamodb", []string{"GetItem", "PutItem", "Query", "Scan", "DeleteTable", "UpdateItem"}, func(t, n string) string { return "arn:aws:dynamodb:us-east-1:123456789012:table/" + t + "-" + n }},
	{"sqs", []string{"SendMessage", "ReceiveMessage", "DeleteMessage", "PurgeQueue"}, func(t, n string) string { return "arn:aws:sqs:us-east-1:123456789012:" + t + "-" + n }},
	{"lambda", []string{"InvokeFunction", "UpdateFunctionCode", "GetFunction"}, func(t, n string) string { return "arn:aws:lambda:us-east-1:123456789012:function:" + t + "-" + n }},
	{"kms", []string{"Decrypt", "Encrypt", "GenerateDataKey", "ScheduleKeyDeletion"}, func(t, n string) string { return "arn:aws:kms:us-east-1:123456789012:key/" + t + "-" + n }},
	{"secretsmanager", []string{"GetSecretValue", "PutSecretValue", "DeleteSecret"}, func(t, n string) string { return "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + t + "/" + n }},
	{"logs", []string{"PutLogEvents", "GetLogEvents", "DeleteLogGroup"}, func(t, n string) string { return "arn:aws:logs:us-east-1:123456789012:log-group:/" + t + "/" + n }},
	{"ec2", []string{"DescribeInstances", "RunInstances", "TerminateInstances"}, func(t, n string) string { return "arn:aws:ec2:us-east-1:123456789012:instance/i-" + n }},
}

// benchPolicy generates a realistic policy of n rules: per-team allow
// rules on their own resources, reads for everyone, denies on production,
// approvals for destructive calls, some with CEL conditions, some in
// shadow mode; ending with catch-alls.
func benchPolicy(n int) string {
	rng := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	b.WriteString("version: 1\ndefault: deny\nrules:\n")
	for i := range n - 3 {
		s := benchServices[rng.IntN(len(benchServices))]
		team := fmt.Sprintf("team-%d", rng.IntN(40))
		fmt.Fprintf(&b, "  - id: r%d\n", i)
		switch k := rng.IntN(20); {
		case k < 2: // deny destructive calls on production
			fmt.Fprintf(&b, "    effect: deny\n    actions: [\"%s:Delete*\", \"%s:Purge*\", \"%s:Terminate*\"]\n", s.svc, s.svc, s.svc)
			fmt.Fprintf(&b, "    resources: [%q]\n", strings.Replace(s.arn("prod", "*"), "prod-*", "prod-*", 1))
		case k < 4: // approvals
			fmt.Fprintf(&b, "    effect: approve\n    actions: [\"%s:%s\"]\n", s.svc, s.actions[len(s.actions)-1])
			if k == 3 {
				fmt.Fprintf(&b, "    identities: {groups: [%q]}\n    min_approvals: 2\n", team)
			}
		case k < 6: // conditions
			fmt.Fprintf(&b, "    effect: allow\n    identities: {groups: [%q], sources: [oidc]}\n    actions: [\"%s:Put*\"]\n", team, s.svc)
			fmt.Fprintf(&b, "    condition: 'has(call.params.Key) && call.params.Key.startsWith(\"tmp/\") && time.getHours() < 20'\n")
		case k < 7: // shadow
			fmt.Fprintf(&b, "    effect: deny\n    shadow: true\n    actions: [\"%s:*\"]\n    regions: [\"eu-*\"]\n", s.svc)
		default: // a team's own resources
			fmt.Fprintf(&b, "    effect: allow\n    identities: {groups: [%q], subjects: [\"agent-*\"]}\n", team)
			fmt.Fprintf(&b, "    actions: [\"%s:Get*\", \"%s:List*\", \"%s:%s\"]\n", s.svc, s.svc, s.svc, s.actions[rng.IntN(len(s.actions))])
			fmt.Fprintf(&b, "    resources: [%q]\n    mask: secrets-default\n", s.arn(team, "*"))
		}
	}
	b.WriteString("  - {id: deny-unknown, effect: deny, actions: [\"*:Unknown\"]}\n")
	b.WriteString("  - {id: reads, effect: allow, actions: [\"*:Get*\", \"*:List*\", \"*:Describe*\"], identities: {groups: [\"agents\"]}}\n")
	b.WriteString("  - {id: iam, effect: approve, actions: [\"iam:*\", \"sts:*\"]}\n")
	b.WriteString("masks:\n  secrets-default: {detectors: [email, card, private-key]}\n")
	return b.String()
}

func benchCalls(n int) []*Call {
	rng := rand.New(rand.NewPCG(3, 4))
	calls := make([]*Call, n)
	for i := range calls {
		s := benchServices[rng.IntN(len(benchServices))]
		team := fmt.Sprintf("team-%d", rng.IntN(40))
		if rng.IntN(4) == 0 {
			team = "prod"
		}
		c := &Call{
			Identity:  Identity{Issuer: "https://idp.example.com", Subject: fmt.Sprintf("agent-%d", i), Source: "oidc", Groups: []string{"agents", team}},
			Service:   s.svc,
			Region:    []string{"us-east-1", "eu-west-1"}[rng.IntN(2)],
			Action:    s.svc + ":" + s.actions[rng.IntN(len(s.actions))],
			Resources: []string{s.arn(team, fmt.Sprintf("n%d", rng.IntN(100)))},
			Params:    map[string]any{"Key": []string{"tmp/x", "data/y"}[rng.IntN(2)]},
			Time:      time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC),
		}
		if rng.IntN(50) == 0 {
			c.Action = s.svc + ":Unknown"
		}
		calls[i] = c
	}
	return calls
}

func BenchmarkDecide500Rules(b *testing.B) {
	p := mustParse(b, benchPolicy(500))
	calls := benchCalls(1024)
	b.Run("mixed", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			p.Decide(calls[i&1023])
			i++
		}
	})
	// Calls that reach no condition: the static matchers alone.
	var static, cel []*Call
	for _, c := range calls {
		if x := p.Explain(c); reachesCondition(p, x) {
			cel = append(cel, c)
		} else {
			static = append(static, c)
		}
	}
	b.Run("no-condition", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			p.Decide(static[i%len(static)])
			i++
		}
	})
	b.Run("condition", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			p.Decide(cel[i%len(cel)])
			i++
		}
	})
}

func reachesCondition(p *Policy, x Explanation) bool {
	for i, r := range x.Rules {
		if p.rules[i].cond != nil && (r.Matched || r.Failed == "condition") {
			return true
		}
	}
	return false
}

func BenchmarkLoad500Rules(b *testing.B) {
	src := []byte(benchPolicy(500))
	b.ReportAllocs()
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		if _, err := Parse("bench.yaml", src); err != nil {
			b.Fatal(err)
		}
	}
}

func TestBenchPolicyDecidesSensibly(t *testing.T) {
	p := mustParse(t, benchPolicy(500))
	counts := map[Effect]int{}
	for _, c := range benchCalls(1024) {
		d := p.Decide(c)
		counts[d.Effect]++
		if x := p.Explain(c); x.Decision != d {
			t.Fatalf("Explain and Decide disagree on %s: %+v vs %+v", c.Action, x.Decision, d)
		}
	}
	if counts[Allow] == 0 || counts[Deny] == 0 || counts[Approve] == 0 {
		t.Errorf("effects %v: the generated policy should exercise all three", counts)
	}
}

func TestDecideWithoutConditionsDoesNotAllocate(t *testing.T) {
	p := mustParse(t, benchPolicy(500))
	c := agent("s3:GetObject", "arn:aws:s3:::team-1-x/data/y.json")
	c.Identity.Groups = []string{"agents", "team-1"}
	if allocs := testing.AllocsPerRun(200, func() { p.Decide(c) }); allocs != 0 {
		t.Errorf("%v allocations per Decide", allocs)
	}
}
