package e2e

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/deploy/lab"
)

// clients are the unmodified AWS clients, each running the same S3
// workload: create bucket, put small, put 20 MiB multipart, list, get and
// byte-compare, delete.
var clients = []struct {
	name, short string
	cmd         []string
}{
	{"aws-cli-v2", "cli", []string{"bash", "e2e/clients/cli/s3-workload.sh"}},
	{"js-sdk-v3", "js", []string{"node", "e2e/clients/js/s3-workload.mjs"}},
	{"go-sdk-v2", "go", []string{goClient}},
}

func runWorkloads(t *testing.T, mode string, extraEnv ...string) {
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			mark := logMark(t)
			env := agentEnv(t, extraEnv...)
			if slices.Contains(extraEnv, "LAB_S3_ADDRESSING=virtual") {
				// The lab's hosts files list these names (deploy/lab/lib.sh).
				env = append(env, "LAB_BUCKET_NAME=gh-lab-vhost-"+c.short)
			}
			out, err := inAgent(t, env, 5*time.Minute, c.cmd[0], c.cmd[1:]...)
			t.Logf("%s", out)
			if err != nil {
				t.Fatalf("%s through Gatehouse (%s): %v", c.name, mode, err)
			}
			if !strings.Contains(out, "PASS") {
				t.Fatalf("workload did not report PASS")
			}
			// Every request is in Gatehouse's log with its SNI and original
			// destination: the calls went through the gateway, and the agent,
			// trusting only Gatehouse's CA, accepted our certificates.
			time.Sleep(200 * time.Millisecond)
			var methods = map[string]int{}
			vhost, webIdentity := 0, 0
			for _, l := range linesSince(t, mark) {
				if l.str("msg") != "request" {
					continue
				}
				if strings.HasPrefix(l.str("sni"), "gh-lab-vhost-"+c.short+".s3.") {
					vhost++
				}
				if l.str("mode") != mode || !strings.HasSuffix(l.str("sni"), "amazonaws.com") || l.str("dst") != "10.77.2.2:443" {
					t.Errorf("unexpected request line: %v", l)
				}
				// The agent holds only a web identity token: Gatehouse
				// answers its STS exchange, and every other call carries
				// the identity from that token and is signed anew.
				if l.str("identity") != "oidc:https://oidc.lab.gatehouse.test#agent-1" {
					t.Errorf("request without the agent's identity: %v", l)
				}
				if l.str("operation") == "AssumeRoleWithWebIdentity" {
					if l.str("verdict") != "answered" {
						t.Errorf("web identity exchange not answered by Gatehouse: %v", l)
					}
					webIdentity++
					continue
				}
				if l.str("verdict") != "forwarded" {
					t.Errorf("unexpected request line: %v", l)
				}
				methods[l.str("method")]++
			}
			// create bucket, small put, 4 parts + initiate + complete, ...
			if methods["PUT"] < 6 || methods["GET"] < 3 || methods["DELETE"] < 3 {
				t.Errorf("log shows too few requests for the workload: %v", methods)
			}
			if slices.Contains(extraEnv, "LAB_S3_ADDRESSING=virtual") && vhost < 6 {
				t.Errorf("only %d requests went to the bucket's virtual host", vhost)
			}
			if webIdentity == 0 {
				t.Error("the client never exchanged its web identity token at Gatehouse")
			}
			t.Logf("requests in Gatehouse's log: %v (virtual-host: %d, web identity exchanges: %d)", methods, vhost, webIdentity)
		})
	}
}

func TestTransparentS3Workloads(t *testing.T) {
	runWorkloads(t, "transparent")
}

// Virtual-host style: the SNI names the bucket, so each bucket host gets a
// leaf of its own and the Host/SNI check sees bucket.s3.region names.
func TestTransparentVirtualHostS3Workloads(t *testing.T) {
	runWorkloads(t, "transparent", "LAB_S3_ADDRESSING=virtual")
}

func TestExplicitProxyS3Workloads(t *testing.T) {
	proxy := "http://" + lab.ProxyAddr
	runWorkloads(t, "proxy", "HTTPS_PROXY="+proxy, "https_proxy="+proxy)
}

// An upstream whose certificate comes from a trusted CA but is not valid for
// the SNI: the agent's call fails and no request reaches it.
func TestUpstreamCertificateNotValidForSNI(t *testing.T) {
	cert, err := lab.PublicLeaf(repoRoot, "wrong.example")
	if err != nil {
		t.Fatal(err)
	}
	up := startUpstream(t, lab.AWSIP2+":443", cert)

	mark := logMark(t)
	// A signed call the policy allows (an S3 read), so that it passes
	// authentication and the decision and reaches the dial.
	creds := sessionCreds(t, filepath.Join(outDir, "tokens/agent"))
	toImpostor := agentHTTPTo(t, func(string) string { return lab.AWSIP2 + ":443" })
	status, body := signedGet(t, toImpostor, creds, "https://impostor.s3.amazonaws.com/key", 0)
	if status != http.StatusBadGateway || !strings.Contains(body, "<Code>ServiceUnavailable</Code>") {
		t.Fatalf("agent got %d %s, want a 502 AWS error", status, body)
	}
	if n := up.requestsSeen(); n != 0 {
		t.Fatalf("%d requests reached an upstream whose certificate is not valid for the name", n)
	}
	time.Sleep(100 * time.Millisecond)
	found := false
	for _, l := range linesSince(t, mark) {
		if l.str("msg") == "request" && l.str("verdict") == "upstream_error" && strings.Contains(l.str("reason"), "certificate is valid for wrong.example") {
			found = true
		}
	}
	if !found {
		t.Errorf("no log line says the upstream certificate failed verification: %v", linesSince(t, mark))
	}
}

// With `net up` in force and Gatehouse killed, agents' TCP 443 fails and
// nothing reaches gh-aws; `net up` rerun after the kill leaves exactly one
// set of rules; Gatehouse restarted serves again.
func TestGatehouseDownFailsClosed(t *testing.T) {
	up := startUpstream(t, lab.AWSIP2+":443", nil)
	if err := lab.Script(repoRoot, "gw.sh", "kill"); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = lab.Script(repoRoot, "gw.sh", "start")
		}
	})

	out, err := inAgent(t, agentEnv(t), 20*time.Second, "curl", "-sS", "--connect-timeout", "5", "https://impostor.amazonaws.com/")
	if err == nil {
		t.Fatalf("agent's HTTPS succeeded with Gatehouse down: %s", out)
	}
	t.Logf("agent with Gatehouse down: %s", strings.TrimSpace(out))
	// A raw TCP connect straight to the upstream address, not only HTTPS.
	out, err = inAgent(t, agentEnv(t), 20*time.Second, "bash", "-c", "exec 3<>/dev/tcp/"+lab.AWSIP2+"/443")
	if err == nil {
		t.Fatalf("agent's TCP 443 connected with Gatehouse down")
	}
	if n := len(up.conns); n != 0 {
		t.Fatalf("%d connections reached gh-aws with Gatehouse down", n)
	}

	// `net up` after a kill -9 of the gateway: still exactly one set.
	run(t, "ip", "netns", "exec", lab.NSGW, gatehouse, "net", "up", "--agents", "10.77.1.0/24")
	var st struct {
		Installed bool
		Rules     []string
		IPRules   []string
		Routes    []string
	}
	if err := json.Unmarshal([]byte(run(t, "ip", "netns", "exec", lab.NSGW, gatehouse, "net", "status", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if !st.Installed || len(st.Rules) != 2 {
		t.Fatalf("after net up following kill -9: %+v", st)
	}

	if err := lab.Script(repoRoot, "gw.sh", "start"); err != nil {
		t.Fatal(err)
	}
	restarted = true
	servesAgain(t)
}

// servesAgain shows the whole path works: an unmodified CLI exchanges its
// web identity token and lists buckets through Gatehouse.
func servesAgain(t *testing.T) {
	t.Helper()
	out, err := inAgent(t, agentEnv(t), time.Minute, "/usr/bin/aws", "s3api", "list-buckets")
	if err != nil {
		t.Fatalf("list-buckets through Gatehouse: %v\n%s", err, out)
	}
}
