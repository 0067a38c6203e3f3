package e2e

import (
	"bytes"
	"crypto/tls"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/deploy/lab"
)

// recordingSTS plays the upstream STS for role mappings: it keeps what
// Gatehouse sent and forwards it unchanged to MinIO's AssumeRole, which
// verifies Gatehouse's signature and issues credentials MinIO accepts.
type recordingSTS struct {
	mu    sync.Mutex
	forms []url.Values
}

func (s *recordingSTS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	s.mu.Lock()
	s.forms = append(s.forms, form)
	s.mu.Unlock()
	pool, _ := lab.CertPool(filepath.Join(outDir, "pki/public-ca.pem"))
	toMinIO := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext:     lab.DialFrom(lab.NSAWS, lab.AWSAddr),
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "s3.amazonaws.com"},
	}}
	out, _ := http.NewRequest(r.Method, "https://"+lab.AWSIP+"/", bytes.NewReader(body))
	out.Header = r.Header.Clone()
	out.Host = r.Host // signed by Gatehouse
	resp, err := toMinIO.Do(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// An agent in group admins is mapped to a role: Gatehouse assumes it with
// the agent's subject as SourceIdentity and its groups as session tags, and
// signs the agent's calls with the role's credentials, which MinIO accepts.
func TestRoleMappingCarriesIdentityUpstream(t *testing.T) {
	rec := &recordingSTS{}
	cert, err := lab.PublicLeaf(repoRoot, "sts-upstream.lab.gatehouse.test")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := lab.Listen(lab.NSAWS, lab.AWSIP2+":443")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rec, TLSConfig: &tls.Config{Certificates: []tls.Certificate{*cert}}}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })

	mark := logMark(t)
	env := agentEnv(t, "AWS_WEB_IDENTITY_TOKEN_FILE="+filepath.Join(outDir, "tokens/admin"), "AWS_ROLE_SESSION_NAME=admin-1")
	out, err := inAgent(t, env, 5*time.Minute, goClient)
	if err != nil || !strings.Contains(out, "PASS") {
		t.Fatalf("admin's workload through Gatehouse with an assumed role: %v\n%s", err, out)
	}

	rec.mu.Lock()
	forms := rec.forms
	rec.mu.Unlock()
	if len(forms) != 1 {
		t.Fatalf("upstream STS saw %d AssumeRole calls, want 1 (cached after)", len(forms))
	}
	f := forms[0]
	want := map[string]string{
		"Action":              "AssumeRole",
		"RoleArn":             "arn:aws:iam::000000000000:role/gatehouse-admins",
		"SourceIdentity":      "admin-1",
		"RoleSessionName":     "admin-1",
		"Tags.member.1.Key":   "gatehouse:subject",
		"Tags.member.1.Value": "admin-1",
		"Tags.member.2.Key":   "gatehouse:issuer",
		"Tags.member.2.Value": "https://oidc.lab.gatehouse.test",
		"Tags.member.3.Key":   "gatehouse:groups",
		"Tags.member.3.Value": "admins",
	}
	for k, v := range want {
		if f.Get(k) != v {
			t.Errorf("AssumeRole %s = %q, want %q", k, f.Get(k), v)
		}
	}
	time.Sleep(100 * time.Millisecond)
	signed := 0
	for _, l := range linesSince(t, mark) {
		if l.str("msg") == "request" && l.str("verdict") == "forwarded" {
			if l.str("upstream_role") != "arn:aws:iam::000000000000:role/gatehouse-admins" || l.str("identity") != "oidc:https://oidc.lab.gatehouse.test#admin-1" {
				t.Errorf("forwarded without the admin's role: %v", l)
			}
			signed++
		}
	}
	if signed < 10 {
		t.Errorf("only %d calls forwarded with the role", signed)
	}
}
