package e2e

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// goS3 is aws-sdk-go-v2's S3 client as an agent in gh-agent has it: session
// credentials from its web identity token, Gatehouse's CA only.
func goS3(t *testing.T) *s3.Client {
	creds := sessionCreds(t, filepath.Join(outDir, "tokens/agent"))
	return s3.New(s3.Options{
		Region: "us-east-1", UsePathStyle: true, HTTPClient: agentHTTP(t),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil }),
	})
}

// The lab's policy (deploy/lab/policy.yaml): deleting a prod-* bucket is
// refused with AccessDenied naming the rule, in all three clients; reads
// are allowed; an operation no table knows is denied by default; a rule in
// shadow mode lets its would-deny through and logs it.
func TestPolicyDecidesInTheLab(t *testing.T) {
	env := agentEnv(t)
	if out, err := inAgent(t, env, time.Minute, "/usr/bin/aws", "s3api", "create-bucket", "--bucket", "prod-x"); err != nil && !strings.Contains(out, "BucketAlready") {
		t.Fatalf("create prod-x: %v\n%s", err, out)
	}
	mark := logMark(t)

	t.Run("aws-cli-v2 rb refused", func(t *testing.T) {
		out, err := inAgent(t, env, time.Minute, "/usr/bin/aws", "s3", "rb", "s3://prod-x")
		if err == nil || !strings.Contains(out, "AccessDenied") || !strings.Contains(out, "no-prod-bucket-deletes") {
			t.Fatalf("want AccessDenied naming the rule, got %v:\n%s", err, out)
		}
	})
	t.Run("js-sdk-v3 DeleteBucket refused", func(t *testing.T) {
		out, err := inAgent(t, env, time.Minute, "node", "e2e/clients/js/s3-call.mjs", "DeleteBucket", `{"Bucket":"prod-x"}`)
		if err == nil || !strings.Contains(out, "AccessDenied") || !strings.Contains(out, "no-prod-bucket-deletes") {
			t.Fatalf("want AccessDenied naming the rule, got %v:\n%s", err, out)
		}
	})
	t.Run("go-sdk-v2 DeleteBucket refused", func(t *testing.T) {
		_, err := goS3(t).DeleteBucket(context.Background(), &s3.DeleteBucketInput{Bucket: aws.String("prod-x")})
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDenied" || !strings.Contains(ae.ErrorMessage(), "no-prod-bucket-deletes") {
			t.Fatalf("want AccessDenied naming the rule, got %v", err)
		}
	})
	t.Run("read allowed", func(t *testing.T) {
		if out, err := inAgent(t, env, time.Minute, "/usr/bin/aws", "s3api", "head-bucket", "--bucket", "prod-x"); err != nil {
			t.Fatalf("head-bucket: %v\n%s", err, out)
		}
	})
	t.Run("unknown operation denied", func(t *testing.T) {
		creds := sessionCreds(t, filepath.Join(outDir, "tokens/agent"))
		status, body := signedRequest(t, agentHTTP(t), creds, "PATCH", "https://s3.us-east-1.amazonaws.com/prod-x", 0)
		if status != http.StatusForbidden || !strings.Contains(body, "<Code>AccessDenied</Code>") || !strings.Contains(body, "s3:Unknown") {
			t.Fatalf("got %d %s", status, body)
		}
	})
	t.Run("shadow rule lets the call through and logs it", func(t *testing.T) {
		out, err := inAgent(t, env, time.Minute, "/usr/bin/aws", "s3api", "put-bucket-tagging", "--bucket", "prod-x", "--tagging", "TagSet=[{Key=team,Value=agents}]")
		if err != nil {
			t.Fatalf("put-bucket-tagging under a shadow deny: %v\n%s", err, out)
		}
	})

	time.Sleep(200 * time.Millisecond)
	seen := map[string]bool{}
	for _, l := range linesSince(t, mark) {
		if l.str("msg") != "request" {
			continue
		}
		switch {
		case l.str("action") == "s3:DeleteBucket" && l.str("decision") == "deny" && l.str("rule") == "no-prod-bucket-deletes" && l.str("resources") == "arn:aws:s3:::prod-x":
			seen["deny"] = true
		case l.str("action") == "s3:Unknown" && l.str("decision") == "deny" && l.str("rule") == "default":
			seen["unknown"] = true
		case l.str("action") == "s3:PutBucketTagging" && l.str("decision") == "allow" && l.str("would_be") == "deny" && l.str("rule") == "tagging-under-review":
			seen["shadow"] = true
		}
	}
	for _, k := range []string{"deny", "unknown", "shadow"} {
		if !seen[k] {
			t.Errorf("no %s decision in Gatehouse's log", k)
		}
	}
}

// A changed policy takes effect without a restart; a broken one is
// refused and the previous decisions stand.
func TestPolicyReload(t *testing.T) {
	file := filepath.Join(outDir, "policy.yaml")
	orig, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.WriteFile(file, orig, 0o644); time.Sleep(500 * time.Millisecond) })
	env := agentEnv(t)
	list := func() (string, error) {
		return inAgent(t, env, time.Minute, "/usr/bin/aws", "s3api", "list-objects-v2", "--bucket", "prod-x")
	}
	if out, err := list(); err != nil {
		t.Fatalf("before reload: %v\n%s", err, out)
	}
	stricter := strings.Replace(string(orig), "rules:\n", "rules:\n  - id: freeze-prod-listing\n    effect: deny\n    actions: [\"s3:ListBucket\"]\n    resources: [\"arn:aws:s3:::prod-*\"]\n", 1)
	if err := os.WriteFile(file, []byte(stricter), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { out, err := list(); return err != nil && strings.Contains(out, "freeze-prod-listing") }, "the new rule to take effect")

	mark := logMark(t)
	if err := os.WriteFile(file, []byte("version: 1\nrules:\n  - id: x\n    effect: sometimes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		for _, l := range linesSince(t, mark) {
			if strings.Contains(l.str("msg"), "policy reload refused") {
				return true
			}
		}
		return false
	}, "the broken file to be refused")
	if out, err := list(); err == nil || !strings.Contains(out, "freeze-prod-listing") {
		t.Fatalf("after a broken file the last good policy must stand: %v\n%s", err, out)
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}
