package intercept

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/gatehouse/gatehouse/intercept/awscreds"
	"github.com/gatehouse/gatehouse/intercept/identity"
	"github.com/gatehouse/gatehouse/intercept/sigv4"
	"github.com/gatehouse/gatehouse/policy"
)

const gatewaySecret = "gateway-secret-key"

// verifyingUpstream checks every request's SigV4 with the gateway's secret,
// as AWS would, and keeps what it saw.
type verifyingUpstream struct {
	mu   sync.Mutex
	seen []seenRequest
}

type seenRequest struct {
	accessKey, sessionToken string
	verifyErr               error
	body                    []byte
	bodyErr                 error
}

func (u *verifyingUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, bodyErr := io.ReadAll(r.Body)
	s := seenRequest{sessionToken: r.Header.Get("X-Amz-Security-Token"), body: body, bodyErr: bodyErr}
	auth, err := sigv4.Parse(r)
	if err == nil {
		s.accessKey = auth.AccessKeyID
		s.verifyErr = sigv4.Verify(r, auth, gatewaySecret, auth.PayloadHash, time.Now())
	} else {
		s.verifyErr = err
	}
	u.mu.Lock()
	u.seen = append(u.seen, s)
	u.mu.Unlock()
	if s.verifyErr != nil || bodyErr != nil {
		w.WriteHeader(403)
		return
	}
	io.WriteString(w, "ok")
}

func (u *verifyingUpstream) requests() []seenRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seenRequest(nil), u.seen...)
}

func newAuthnLab(t testing.TB, opts ...func(*Options)) (*lab, *verifyingUpstream, identity.Credentials) {
	t.Helper()
	up := &verifyingUpstream{}
	l, creds := newAuthnLabWith(t, up, opts...)
	return l, up, creds
}

// newAuthnLabWith is newAuthnLab in front of an upstream of the caller's.
func newAuthnLabWith(t testing.TB, up http.Handler, opts ...func(*Options)) (*lab, identity.Credentials) {
	t.Helper()
	ring, err := identity.LoadOrCreateKeyRing(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sessions := identity.NewSessions(ring)
	keys, err := identity.OpenKeyStore(t.TempDir(), ring)
	if err != nil {
		t.Fatal(err)
	}
	upstreamCreds, err := awscreds.NewWith(awscreds.Config{}, credentials.NewStaticCredentialsProvider("GATEWAYKEY", gatewaySecret, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	authn := &Authn{
		STS:      &identity.STS{Sessions: sessions},
		Lookup:   &identity.Lookup{Sessions: sessions, Keys: keys},
		Upstream: upstreamCreds,
		Account:  "123456789012",
		SpoolMax: 1 << 20,
		SpoolDir: t.TempDir(),
	}
	l := newLabWith(t, []string{"s3.amazonaws.com", "sts.amazonaws.com", "dynamodb.us-east-1.amazonaws.com", "secretsmanager.us-east-1.amazonaws.com", "kms.us-east-1.amazonaws.com"}, nil, authn, up, opts...)
	creds, err := sessions.Issue(identity.Identity{Source: "oidc", Issuer: "https://idp.example", Subject: "agent-1", Groups: []string{"agents"}}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return l, creds
}

func sign(t testing.TB, r *http.Request, c identity.Credentials, secret, service, payloadHash string) {
	t.Helper()
	if secret == "" {
		secret = c.SecretAccessKey
	}
	if service == "s3" {
		r.Header.Set("X-Amz-Content-Sha256", payloadHash)
	}
	// As the S3 client does: the path is signed as sent, not escaped again.
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = service == "s3" })
	err := signer.SignHTTP(context.Background(), aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: secret, SessionToken: c.SessionToken},
		r, payloadHash, service, "us-east-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
}

func hashOf(b string) string {
	s := sha256.Sum256([]byte(b))
	return hex.EncodeToString(s[:])
}

func TestChainReSignsWithUpstreamCredentials(t *testing.T) {
	l, up, creds := newAuthnLab(t)
	req, _ := http.NewRequest("PUT", "https://s3.amazonaws.com/bucket/a%20b%2Bc.txt", strings.NewReader("hello"))
	sign(t, req, creds, "", "s3", hashOf("hello"))
	resp, err := l.client(t, "s3.amazonaws.com").Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	seen := up.requests()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d; upstream saw %+v; log:\n%s", resp.StatusCode, seen, l.logs)
	}
	if len(seen) != 1 {
		t.Fatalf("upstream saw %d requests", len(seen))
	}
	s := seen[0]
	if s.accessKey != "GATEWAYKEY" || s.verifyErr != nil || s.sessionToken != "" || string(s.body) != "hello" {
		t.Fatalf("upstream saw key %q, verify %v, token %q, body %q", s.accessKey, s.verifyErr, s.sessionToken, s.body)
	}
	if logs := l.waitLog(`"msg":"request"`); !strings.Contains(logs, `"identity":"oidc:https://idp.example#agent-1"`) || strings.Contains(logs, creds.SessionToken) {
		t.Fatalf("log:\n%s", logs)
	}
}

// Every refusal: the SDK's error code, nothing forwarded.
func TestChainRefusesWithoutForwarding(t *testing.T) {
	tests := []struct {
		name   string
		req    func(t *testing.T, creds identity.Credentials) *http.Request
		host   string
		status int
		code   string
	}{
		{"unsigned", func(t *testing.T, c identity.Credentials) *http.Request {
			r, _ := http.NewRequest("GET", "https://s3.amazonaws.com/bucket", nil)
			return r
		}, "s3.amazonaws.com", 403, "AccessDenied"},
		{"wrong secret", func(t *testing.T, c identity.Credentials) *http.Request {
			r, _ := http.NewRequest("GET", "https://s3.amazonaws.com/bucket", nil)
			sign(t, r, c, "not-the-secret", "s3", hashOf(""))
			return r
		}, "s3.amazonaws.com", 403, "SignatureDoesNotMatch"},
		{"unknown key", func(t *testing.T, c identity.Credentials) *http.Request {
			r, _ := http.NewRequest("GET", "https://s3.amazonaws.com/bucket", nil)
			sign(t, r, identity.Credentials{AccessKeyID: "AKIAREALAWSKEY000000", SecretAccessKey: "x"}, "", "s3", hashOf(""))
			return r
		}, "s3.amazonaws.com", 403, "InvalidAccessKeyId"},
		{"credential-vending STS call", func(t *testing.T, c identity.Credentials) *http.Request {
			body := "Action=GetSessionToken&Version=2011-06-15"
			r, _ := http.NewRequest("POST", "https://sts.amazonaws.com/", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
			sign(t, r, c, "", "sts", hashOf(body))
			return r
		}, "sts.amazonaws.com", 403, "AccessDenied"},
		{"JSON call signed over a different body", func(t *testing.T, c identity.Credentials) *http.Request {
			r, _ := http.NewRequest("POST", "https://dynamodb.us-east-1.amazonaws.com/", strings.NewReader(`{"TableName":"b"}`))
			r.Header.Set("X-Amz-Target", "DynamoDB_20120810.DeleteTable")
			r.Header.Set("Content-Type", "application/x-amz-json-1.0")
			sign(t, r, c, "", "dynamodb", hashOf(`{"TableName":"a"}`))
			return r
		}, "dynamodb.us-east-1.amazonaws.com", 403, "SignatureDoesNotMatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, up, creds := newAuthnLab(t)
			resp, err := l.client(t, tt.host).Do(tt.req(t, creds))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || !bytes.Contains(body, []byte(tt.code)) {
				t.Fatalf("got %d %s, want %d %s", resp.StatusCode, body, tt.status, tt.code)
			}
			if n := len(up.requests()); n != 0 {
				t.Fatalf("%d requests forwarded", n)
			}
		})
	}
}

func TestGetCallerIdentityAnsweredByGatehouse(t *testing.T) {
	l, up, creds := newAuthnLab(t)
	body := "Action=GetCallerIdentity&Version=2011-06-15"
	r, _ := http.NewRequest("POST", "https://sts.amazonaws.com/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sign(t, r, creds, "", "sts", hashOf(body))
	resp, err := l.client(t, "sts.amazonaws.com").Do(r)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(b, []byte("<Account>123456789012</Account>")) || len(up.requests()) != 0 {
		t.Fatalf("%d %s (upstream saw %d)", resp.StatusCode, b, len(up.requests()))
	}
}

// A literal payload hash that does not match the body: the agent's
// signature verifies (it covers the declared hash), so the body is checked
// as it streams and the upstream never receives it whole.
func TestDeclaredHashMismatchNeverReachesUpstreamWhole(t *testing.T) {
	l, up, creds := newAuthnLab(t)
	payload := strings.Repeat("x", 200<<10)
	req, _ := http.NewRequest("PUT", "https://s3.amazonaws.com/bucket/key", strings.NewReader(payload))
	sign(t, req, creds, "", "s3", hashOf(payload[:len(payload)-1]+"y"))
	resp, err := l.client(t, "s3.amazonaws.com").Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !bytes.Contains(b, []byte("XAmzContentSHA256Mismatch")) {
		t.Fatalf("got %d %s", resp.StatusCode, b)
	}
	for _, s := range up.requests() {
		if s.bodyErr == nil && len(s.body) == len(payload) {
			t.Fatal("the upstream received the whole unverified body")
		}
	}
}

// Identity by source address: an unsigned call from a configured range is
// forwarded, signed by Gatehouse for that identity.
func TestAddressIdentitySignsUnsignedCalls(t *testing.T) {
	l, up, _ := newAuthnLab(t)
	l.gw.chain.authn.Addresses = []identity.AddressRule{{CIDR: netip.MustParsePrefix("127.0.0.0/8"), Identity: "legacy-batch", Groups: []string{"batch"}}}
	r, _ := http.NewRequest("GET", "https://s3.amazonaws.com/bucket/key", nil)
	resp, err := l.client(t, "s3.amazonaws.com").Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	seen := up.requests()
	if resp.StatusCode != 200 || len(seen) != 1 || seen[0].accessKey != "GATEWAYKEY" || seen[0].verifyErr != nil {
		t.Fatalf("status %d, upstream saw %+v (%v)", resp.StatusCode, seen, seen[0].verifyErr)
	}
	if logs := l.waitLog(`"msg":"request"`); !strings.Contains(logs, `legacy-batch`) {
		t.Fatalf("log:\n%s", logs)
	}
}

// A static key from `gatehouse keys create` signs like session credentials;
// revoked, it is refused at the next request.
func TestStaticKeyThenRevoked(t *testing.T) {
	l, up, _ := newAuthnLab(t)
	ks := l.gw.chain.authn.Lookup.Keys
	info, secret, err := ks.Create("build-bot", []string{"ci"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	do := func() int {
		r, _ := http.NewRequest("GET", "https://s3.amazonaws.com/bucket/key", nil)
		sign(t, r, identity.Credentials{AccessKeyID: info.AccessKeyID, SecretAccessKey: secret}, "", "s3", hashOf(""))
		resp, err := l.client(t, "s3.amazonaws.com").Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := do(); got != 200 || len(up.requests()) != 1 {
		t.Fatalf("static key: %d, upstream saw %d", got, len(up.requests()))
	}
	if err := ks.Revoke(info.AccessKeyID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := do(); got != 403 || len(up.requests()) != 1 {
		t.Fatalf("revoked key: %d, upstream saw %d", got, len(up.requests()))
	}
}

// A multi-object delete is decided on the objects it names: a deny on
// prod-*/* covers DeleteObjects as it covers DeleteObject, and one whose
// keys cannot be read is refused rather than decided on the bucket alone.
func TestDeleteObjectsDecidedOnItsKeys(t *testing.T) {
	p, err := policy.Parse("test.yaml", []byte(`version: 1
default: allow
rules:
  - id: keep-prod-objects
    effect: deny
    actions: ["s3:DeleteObject"]
    resources: ["arn:aws:s3:::prod-*/*"]
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, body, code string
		status           int
	}{
		{"keys named", `<Delete><Object><Key>a.txt</Key></Object><Object><Key>b/c.txt</Key></Object></Delete>`, "keep-prod-objects", 403},
		{"keys unreadable", `<Delete><Object><Key>a.txt`, "MalformedXML", 400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l, up, creds := newAuthnLab(t)
			l.gw.chain.policy = p
			r, _ := http.NewRequest("POST", "https://s3.amazonaws.com/prod-x?delete", strings.NewReader(tt.body))
			r.Header.Set("Content-Type", "application/xml")
			sign(t, r, creds, "", "s3", hashOf(tt.body))
			resp, err := l.client(t, "s3.amazonaws.com").Do(r)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || !bytes.Contains(b, []byte(tt.code)) || len(up.requests()) != 0 {
				t.Fatalf("got %d %s, upstream saw %d", resp.StatusCode, b, len(up.requests()))
			}
		})
	}
}

// A caller without Gatehouse credentials is refused before any body is
// buffered: an oversized JSON body with a forged key gets the key's error,
// not the size's.
func TestCredentialsCheckedBeforeBodiesAreRead(t *testing.T) {
	l, up, _ := newAuthnLab(t)
	body := `{"TableName":"` + strings.Repeat("a", 17<<20) + `"}`
	r, _ := http.NewRequest("POST", "https://dynamodb.us-east-1.amazonaws.com/", strings.NewReader(body))
	r.Header.Set("X-Amz-Target", "DynamoDB_20120810.GetItem")
	r.Header.Set("Content-Type", "application/x-amz-json-1.0")
	sign(t, r, identity.Credentials{AccessKeyID: "AKIAFORGED0000000000", SecretAccessKey: "x"}, "", "dynamodb", hashOf(body))
	resp, err := l.client(t, "dynamodb.us-east-1.amazonaws.com").Do(r)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !bytes.Contains(b, []byte("InvalidClientTokenId")) || len(up.requests()) != 0 {
		t.Fatalf("got %d %s", resp.StatusCode, b)
	}
}
