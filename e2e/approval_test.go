package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/deploy/lab"
)

// hookReceiver is the approvers' webhook endpoint, in gh-aws, where the
// gateway's notifications go (approvals.webhooks in the lab config).
type hookReceiver struct {
	mu     sync.Mutex
	bodies []string
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.bodies = append(h.bodies, string(b))
	h.mu.Unlock()
}

func (h *hookReceiver) saw(s string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, b := range h.bodies {
		if strings.Contains(b, s) {
			return true
		}
	}
	return false
}

// gatehouseCLI runs `gatehouse approvals ...` as an approver would: over
// HTTPS to the gateway's admin API from gh-agent's network, with an OIDC
// token from the lab's issuer.
func approvalsCLI(t *testing.T, token string, args ...string) (string, error) {
	t.Helper()
	full := append([]string{"approvals"}, args...)
	full = append(full, "--server", "https://10.77.1.1:9443", "--token-file", filepath.Join(outDir, "tokens", token), "--ca-file", filepath.Join(outDir, "pki/public-ca.pem"))
	return inAgent(t, agentEnv(t), time.Minute, gatehouse, full...)
}

type pending struct {
	ID, Action string
	Identity   struct{ Subject string }
	Resources  []string
}

// waitPending waits for a pending approval of the object's delete, as root
// on the gateway lists them (the unix socket).
func waitPending(t *testing.T, object string) pending {
	t.Helper()
	var found pending
	waitFor(t, func() bool {
		out, err := runIn(t, lab.NSGW, gatehouse, "approvals", "list", "--json", "-c", filepath.Join(outDir, "gatehouse.yaml")).CombinedOutput()
		if err != nil {
			return false
		}
		var ps []pending
		if json.Unmarshal(out, &ps) != nil {
			return false
		}
		for _, p := range ps {
			if len(p.Resources) == 1 && strings.HasSuffix(p.Resources[0], object) {
				found = p
				return true
			}
		}
		return false
	}, "a pending approval for "+object)
	return found
}

// The held call: the agent's delete waits for an approver; approval lets
// it complete, denial refuses it, an unanswered hold ends in a retryable
// error and the retry passes once approved; nobody approves their own
// call; the webhook hears of it.
func TestApprovalHoldsTheCall(t *testing.T) {
	hooks := &hookReceiver{}
	ln, err := lab.Listen(lab.NSAWS, lab.AWSIP2+":8080")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: hooks}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	env := agentEnv(t)
	aws := func(env []string, args ...string) (string, error) {
		return inAgent(t, env, 2*time.Minute, "/usr/bin/aws", args...)
	}
	if out, err := aws(env, "s3api", "create-bucket", "--bucket", "held-x"); err != nil && !strings.Contains(out, "BucketAlready") {
		t.Fatalf("create held-x: %v\n%s", err, out)
	}
	for _, k := range []string{"approve-me", "deny-me", "later", "mine"} {
		if out, err := aws(env, "s3api", "put-object", "--bucket", "held-x", "--key", k); err != nil {
			t.Fatalf("put %s: %v\n%s", k, err, out)
		}
	}
	// The CLI retries the hold's 503 (legacy retry mode: 5 attempts with
	// backoff), long enough for an approver.
	type result struct {
		out string
		err error
	}
	start := func(env []string, key string) chan result {
		ch := make(chan result, 1)
		go func() {
			out, err := aws(env, "s3api", "delete-object", "--bucket", "held-x", "--key", key)
			ch <- result{out, err}
		}()
		return ch
	}

	t.Run("approved by an admin, the delete completes", func(t *testing.T) {
		done := start(env, "approve-me")
		p := waitPending(t, "held-x/approve-me")
		if p.Action != "s3:DeleteObject" || p.Identity.Subject != "agent-1" {
			t.Fatalf("pending approval: %+v", p)
		}
		waitFor(t, func() bool { return hooks.saw(p.ID) }, "the webhook notification")
		if out, err := approvalsCLI(t, "agent", "approve", p.ID); err == nil || !strings.Contains(out, "403") && !strings.Contains(out, "approver") {
			t.Fatalf("an agent (not an approver) approved: %v\n%s", err, out)
		}
		if out, err := approvalsCLI(t, "admin", "approve", p.ID, "--reason", "cleanup ticket 42"); err != nil {
			t.Fatalf("admin approve: %v\n%s", err, out)
		}
		if r := <-done; r.err != nil {
			t.Fatalf("approved delete failed: %v\n%s", r.err, r.out)
		}
	})

	t.Run("denied by an admin, the agent gets AccessDenied", func(t *testing.T) {
		done := start(env, "deny-me")
		p := waitPending(t, "held-x/deny-me")
		if out, err := approvalsCLI(t, "admin", "deny", p.ID, "--reason", "not today"); err != nil {
			t.Fatalf("admin deny: %v\n%s", err, out)
		}
		r := <-done
		if r.err == nil || !strings.Contains(r.out, "AccessDenied") || !strings.Contains(r.out, "not today") {
			t.Fatalf("denied delete: %v\n%s", r.err, r.out)
		}
	})

	t.Run("unanswered hold: retryable error, then the retry passes after approval", func(t *testing.T) {
		once := append(agentEnv(t), "AWS_MAX_ATTEMPTS=1")
		out, err := aws(once, "s3api", "delete-object", "--bucket", "held-x", "--key", "later")
		if err == nil || !strings.Contains(out, "ServiceUnavailable") || !strings.Contains(out, "held for approval") {
			t.Fatalf("want a retryable held-for-approval error, got %v\n%s", err, out)
		}
		p := waitPending(t, "held-x/later")
		if out, err := approvalsCLI(t, "admin", "approve", p.ID); err != nil {
			t.Fatalf("admin approve: %v\n%s", err, out)
		}
		if out, err := aws(once, "s3api", "delete-object", "--bucket", "held-x", "--key", "later"); err != nil {
			t.Fatalf("retry after approval: %v\n%s", err, out)
		}
	})

	t.Run("nobody approves their own call", func(t *testing.T) {
		admin := append(agentEnv(t, "AWS_WEB_IDENTITY_TOKEN_FILE="+filepath.Join(outDir, "tokens/admin")), "AWS_MAX_ATTEMPTS=1")
		aws(admin, "s3api", "delete-object", "--bucket", "held-x", "--key", "mine") // held, then a retryable error
		p := waitPending(t, "held-x/mine")
		if p.Identity.Subject != "admin-1" {
			t.Fatalf("pending approval: %+v", p)
		}
		out, err := approvalsCLI(t, "admin", "approve", p.ID)
		if err == nil || !strings.Contains(strings.ToLower(out), "own") {
			t.Fatalf("an approver approved their own call: %v\n%s", err, out)
		}
	})
}
