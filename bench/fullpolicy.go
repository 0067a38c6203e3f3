package main

// The policy gatehouse-full decides with in the small-call,
// new-connection, large and idle workloads: a realistic file of 200 rules
// (per-team allows, denies on production, approvals, CEL conditions,
// shadow rules, catch-alls), modelled on policy/bench_test.go's
// generator, in which the rule that allows the bench's dynamodb:GetItem
// comes late and names a mask profile whose field rule applies to
// GetItem, so that every response is parsed and masked; the rule that
// allows the large workload's S3 calls on its buckets comes late too.

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

const (
	fullPolicyRules = 200
	// fullPolicyRule allows the bench's calls; fullPolicyMask is its
	// profile: Item.payload replaced, and the email and card detectors
	// over the rest of the item.
	fullPolicyRule = "bench-agents-read-items"
	fullPolicyMask = "bench-items"
	// fullPolicyS3Rule allows the large workload's objects, in buckets
	// named gh-bench-large-*, with the same profile (the objects are
	// binary: Gatehouse does not scan them).
	fullPolicyS3Rule = "bench-agents-move-objects"
	// benchPayload is the item's payload in the upstream's answer
	// (dynamoLike); masked, it is gone from the answer.
	benchPayload = "aGVsbG8gZ2F0ZWhvdXNlIGJlbmNobWFyayBwYXlsb2Fk"
)

var policyServices = []struct {
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

// fullPolicy is the policy file: n rules, the bench's two allows the last
// but the three catch-alls, so that a GetItem is matched against every
// rule before it (the first matching allow decides).
func fullPolicy(n int) string {
	rng := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	b.WriteString("# make bench (small and conns workloads): generated, replaced by the lab's policy after the run.\nversion: 1\ndefault: deny\nrules:\n")
	for i := range n - 5 {
		s := policyServices[rng.IntN(len(policyServices))]
		team := fmt.Sprintf("team-%d", rng.IntN(40))
		fmt.Fprintf(&b, "  - id: r%d\n", i)
		switch k := rng.IntN(20); {
		case k < 2: // deny destructive calls on production
			fmt.Fprintf(&b, "    effect: deny\n    actions: [\"%s:Delete*\", \"%s:Purge*\", \"%s:Terminate*\"]\n", s.svc, s.svc, s.svc)
			fmt.Fprintf(&b, "    resources: [%q]\n", s.arn("prod", "*"))
		case k < 4: // approvals
			fmt.Fprintf(&b, "    effect: approve\n    actions: [\"%s:%s\"]\n", s.svc, s.actions[len(s.actions)-1])
			if k == 3 {
				fmt.Fprintf(&b, "    identities: {groups: [%q]}\n    min_approvals: 2\n", team)
			}
		case k < 6: // conditions
			fmt.Fprintf(&b, "    effect: allow\n    identities: {groups: [%q], sources: [oidc]}\n    actions: [\"%s:Put*\"]\n", team, s.svc)
			b.WriteString("    condition: 'has(call.params.Key) && call.params.Key.startsWith(\"tmp/\") && time.getHours() < 20'\n")
		case k < 7: // shadow
			fmt.Fprintf(&b, "    effect: deny\n    shadow: true\n    actions: [\"%s:*\"]\n    regions: [\"eu-*\"]\n", s.svc)
		default: // a team's own resources
			fmt.Fprintf(&b, "    effect: allow\n    identities: {groups: [%q], subjects: [\"agent-*\"]}\n", team)
			fmt.Fprintf(&b, "    actions: [\"%s:Get*\", \"%s:List*\", \"%s:%s\"]\n", s.svc, s.svc, s.svc, s.actions[rng.IntN(len(s.actions))])
			fmt.Fprintf(&b, "    resources: [%q]\n    mask: secrets-default\n", s.arn(team, "*"))
		}
	}
	fmt.Fprintf(&b, `  - id: %s
    effect: allow
    identities: {groups: [agents], sources: [oidc]}
    actions: ["dynamodb:GetItem", "dynamodb:Query"]
    resources: ["arn:aws:dynamodb:*:*:table/bench"]
    mask: %s
  - id: %s
    effect: allow
    identities: {groups: [agents], sources: [oidc]}
    actions: ["s3:*"]
    resources: ["arn:aws:s3:::gh-bench-large-*", "arn:aws:s3:::gh-bench-large-*/*"]
    mask: %s
`, fullPolicyRule, fullPolicyMask, fullPolicyS3Rule, fullPolicyMask)
	b.WriteString("  - {id: deny-unknown, effect: deny, actions: [\"*:Unknown\"]}\n")
	b.WriteString("  - {id: reads, effect: allow, actions: [\"*:Get*\", \"*:List*\", \"*:Describe*\"], identities: {groups: [\"agents\"]}}\n")
	b.WriteString("  - {id: iam, effect: approve, actions: [\"iam:*\", \"sts:*\"]}\n")
	fmt.Fprintf(&b, `masks:
  secrets-default: {detectors: [email, card, private-key]}
  %s:
    detectors: [email, card]
    fields:
      - name: bench-payload
        actions: ["dynamodb:GetItem"]
        paths: ["Item.payload"]
`, fullPolicyMask)
	return b.String()
}
