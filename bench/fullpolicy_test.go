package main

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/policy"
)

// The generated policy loads, has its 200 rules, and the bench's GetItem
// is allowed by the bench rule with its mask profile, after every other
// rule had its chance.
func TestFullPolicyAllowsBenchCallsMasked(t *testing.T) {
	src := fullPolicy(fullPolicyRules)
	if n := strings.Count(src, "\n  - id: ") + strings.Count(src, "\n  - {id: "); n != fullPolicyRules {
		t.Fatalf("%d rules, want %d", n, fullPolicyRules)
	}
	p, err := policy.Parse("bench.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	d := p.Decide(&policy.Call{
		Identity: policy.Identity{Issuer: "https://oidc.lab.gatehouse.test", Subject: "agent-1", Source: "oidc", Groups: []string{"agents"}},
		Service:  "dynamodb", Region: "us-west-2", Operation: "GetItem", Action: "dynamodb:GetItem",
		Resources: []string{"arn:aws:dynamodb:us-west-2:000000000000:table/bench"},
		Time:      time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC),
	})
	if d.Effect != policy.Allow || d.Rule != fullPolicyRule || d.MaskProfile != fullPolicyMask {
		t.Fatalf("decision %+v, want allow by %s with profile %s", d, fullPolicyRule, fullPolicyMask)
	}
}
