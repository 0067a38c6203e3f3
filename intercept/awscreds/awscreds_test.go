package awscreds

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// fakeSTS answers AssumeRole like AWS and keeps the forms it received.
type fakeSTS struct {
	mu    sync.Mutex
	forms []url.Values
}

func (f *fakeSTS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(b))
	f.mu.Lock()
	f.forms = append(f.forms, form)
	n := len(f.forms)
	f.mu.Unlock()
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=GATEWAYKEY/") {
		w.WriteHeader(403)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>
<Credentials><AccessKeyId>ASIAROLE%d</AccessKeyId><SecretAccessKey>rolesecret</SecretAccessKey><SessionToken>roletoken</SessionToken><Expiration>%s</Expiration></Credentials>
<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/agents/x</Arn><AssumedRoleId>AROA:x</AssumedRoleId></AssumedRoleUser>
<SourceIdentity>%s</SourceIdentity></AssumeRoleResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></AssumeRoleResponse>`,
		n, time.Now().Add(time.Hour).UTC().Format(time.RFC3339), form.Get("SourceIdentity"))
}

func newProvider(t *testing.T, cfg Config) (*Provider, *fakeSTS) {
	f := &fakeSTS{}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	base := credentials.NewStaticCredentialsProvider("GATEWAYKEY", "gatewaysecret", "")
	client := sts.New(sts.Options{Region: "us-east-1", Credentials: base, BaseEndpoint: aws.String(srv.URL)})
	p, err := NewWith(cfg, base, client)
	if err != nil {
		t.Fatal(err)
	}
	return p, f
}

func TestAgentWithoutRoleGetsGatewayCredentials(t *testing.T) {
	p, f := newProvider(t, Config{Roles: []Role{{ARN: "arn:aws:iam::123456789012:role/admins", Groups: []string{"admins"}}}})
	c, role, err := p.For(context.Background(), Agent{Subject: "agent-1", Groups: []string{"agents"}})
	if err != nil || c.AccessKeyID != "GATEWAYKEY" || role != "" {
		t.Fatalf("%v %q %v", c.AccessKeyID, role, err)
	}
	if len(f.forms) != 0 {
		t.Fatal("STS was called for an agent no role maps")
	}
}

func TestRoleAssumedWithSourceIdentityAndTagsThenCached(t *testing.T) {
	p, f := newProvider(t, Config{Roles: []Role{{ARN: "arn:aws:iam::123456789012:role/agents", Groups: []string{"agents"}}}})
	agent := Agent{Issuer: "https://oidc.example", Subject: "system:serviceaccount:ci/runner", Groups: []string{"agents", "ci"}}
	for range 3 {
		c, role, err := p.For(context.Background(), agent)
		if err != nil || c.AccessKeyID != "ASIAROLE1" || role != "arn:aws:iam::123456789012:role/agents" {
			t.Fatalf("%v %q %v", c.AccessKeyID, role, err)
		}
	}
	if len(f.forms) != 1 {
		t.Fatalf("STS called %d times, want once (cached)", len(f.forms))
	}
	form := f.forms[0]
	want := map[string]string{
		"Action":            "AssumeRole",
		"RoleArn":           "arn:aws:iam::123456789012:role/agents",
		"RoleSessionName":   "system_serviceaccount_ci_runner",
		"SourceIdentity":    "system_serviceaccount_ci_runner",
		"Tags.member.1.Key": "gatehouse:subject", "Tags.member.1.Value": "system:serviceaccount:ci/runner",
		"Tags.member.2.Key": "gatehouse:issuer", "Tags.member.2.Value": "https://oidc.example",
		"Tags.member.3.Key": "gatehouse:groups", "Tags.member.3.Value": "agents:ci",
	}
	for k, v := range want {
		if form.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, form.Get(k), v)
		}
	}
	// Another agent of the same group gets its own session.
	if _, _, err := p.For(context.Background(), Agent{Subject: "agent-2", Groups: []string{"agents"}}); err != nil || len(f.forms) != 2 {
		t.Fatalf("second agent: %v, %d STS calls", err, len(f.forms))
	}
}

func TestConfigValidate(t *testing.T) {
	for name, c := range map[string]Config{
		"not a role ARN": {Roles: []Role{{ARN: "arn:aws:iam::1:user/x", Groups: []string{"a"}}}},
		"matches no one": {Roles: []Role{{ARN: "arn:aws:iam::1:role/x"}}},
		"duration":       {Roles: []Role{{ARN: "arn:aws:iam::1:role/x", Groups: []string{"a"}, Duration: time.Minute}}},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{"a": "a_", "agent-1": "agent-1", "x y/z": "x_y_z", strings.Repeat("a", 70): strings.Repeat("a", 64)} {
		if got := sanitizeName(in); got != want {
			t.Errorf("sanitizeName(%q) = %q, want %q", in, got, want)
		}
	}
}
