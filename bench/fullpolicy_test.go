package main

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/policy"
)

// The generated policy loads, has its 200 rules, and the bench's GetItem
// is allowed by the bench rule with its mask profile, after every other
// rule had its chance; so are the large workload's S3 calls on its
// buckets, by the S3 rule.
func TestFullPolicyAllowsBenchCallsMasked(t *testing.T) {
	src := fullPolicy(fullPolicyRules)
	if n := strings.Count(src, "\n  - id: ") + strings.Count(src, "\n  - {id: "); n != fullPolicyRules {
		t.Fatalf("%d rules, want %d", n, fullPolicyRules)
	}
	p, err := policy.Parse("bench.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	agent := policy.Identity{Issuer: "https://oidc.lab.gatehouse.test", Subject: "agent-1", Source: "oidc", Groups: []string{"agents"}}
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	d := p.Decide(&policy.Call{
		Identity: agent, Service: "dynamodb", Region: "us-west-2", Operation: "GetItem", Action: "dynamodb:GetItem",
		Resources: []string{"arn:aws:dynamodb:us-west-2:000000000000:table/bench"}, Time: at,
	})
	if d.Effect != policy.Allow || d.Rule != fullPolicyRule || d.MaskProfile != fullPolicyMask {
		t.Fatalf("decision %+v, want allow by %s with profile %s", d, fullPolicyRule, fullPolicyMask)
	}
	bucket := "gh-bench-large-" + slug("gatehouse-full, transparent")
	for _, op := range []string{"PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "AbortMultipartUpload", "GetObject", "DeleteObject"} {
		d := p.Decide(&policy.Call{
			Identity: agent, Service: "s3", Region: "us-east-1", Operation: op, Action: "s3:" + op,
			Resources: []string{"arn:aws:s3:::" + bucket + "/" + largeKey}, Time: at,
		})
		if d.Effect != policy.Allow || d.Rule != fullPolicyS3Rule {
			t.Errorf("%s: decision %+v, want allow by %s", op, d, fullPolicyS3Rule)
		}
	}
}
