package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/gatehouse/gatehouse/deploy/lab"
)

// agentHTTP is an HTTP client inside gh-agent that trusts only Gatehouse's
// CA, for requests the SDKs cannot be made to send (a skewed clock, a
// tampered token).
func agentHTTP(t *testing.T) *http.Client { return agentHTTPTo(t, lab.AWSAddr) }

// agentHTTPTo is agentHTTP with its own host-to-address map, for names the
// lab resolves elsewhere than MinIO.
func agentHTTPTo(t *testing.T, addrFor func(string) string) *http.Client {
	t.Helper()
	pool, err := lab.CertPool(filepath.Join(outDir, "gatehouse-ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext:     lab.AgentDial(addrFor),
		TLSClientConfig: &tls.Config{RootCAs: pool},
	}}
}

// sessionCreds gets Gatehouse session credentials for the agent's token,
// with the real aws-sdk-go-v2 STS client, through the gateway.
func sessionCreds(t *testing.T, tokenFile string) aws.Credentials {
	t.Helper()
	token, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	client := sts.New(sts.Options{Region: "us-east-1", HTTPClient: agentHTTP(t)})
	out, err := client.AssumeRoleWithWebIdentity(context.Background(), &sts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String("arn:aws:iam::000000000000:role/gatehouse-agent"), RoleSessionName: aws.String("e2e"),
		WebIdentityToken: aws.String(string(token)),
	})
	if err != nil {
		t.Fatalf("AssumeRoleWithWebIdentity through Gatehouse: %v", err)
	}
	c := out.Credentials
	return aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken}
}

// minioCounter counts TCP segments carrying data into MinIO's port: a
// request that reaches MinIO adds some, one refused at the gateway none.
type minioCounter struct{ t *testing.T }

func newMinioCounter(t *testing.T) *minioCounter {
	t.Helper()
	script := "table ip e2ecount {\n chain input {\n  type filter hook input priority 0; policy accept;\n" +
		"  ip daddr 10.77.2.2 tcp dport 443 ip length > 120 counter\n }\n}\n"
	cmd := runIn(t, lab.NSAWS, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v %s", err, out)
	}
	t.Cleanup(func() { _ = runIn(t, lab.NSAWS, "nft", "delete", "table", "ip", "e2ecount").Run() })
	return &minioCounter{t}
}

func (m *minioCounter) packets() int {
	out, err := runIn(m.t, lab.NSAWS, "nft", "list", "table", "ip", "e2ecount").CombinedOutput()
	if err != nil {
		m.t.Fatalf("nft list: %v %s", err, out)
	}
	_, rest, ok := strings.Cut(string(out), "counter packets ")
	if !ok {
		m.t.Fatalf("no counter in %s", out)
	}
	n, _ := strconv.Atoi(strings.Fields(rest)[0])
	return n
}

// Each refusal: the SDK or client gets the AWS error it parses, and nothing
// reaches MinIO.
func TestRefusedCallsReachNothing(t *testing.T) {
	count := newMinioCounter(t)
	tokens := t.TempDir()
	mint := func(c lab.TokenClaims, o lab.MintOptions) string {
		tok, err := lab.MintToken(repoRoot, c, o)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(tokens, fmt.Sprint(time.Now().UnixNano()))
		os.WriteFile(p, []byte(tok), 0o644)
		return p
	}
	agent := lab.TokenClaims{Subject: "agent-1", Groups: []string{"agents"}}
	with := func(f func(*lab.TokenClaims)) lab.TokenClaims { c := agent; f(&c); return c }

	cli := []struct {
		name, token string
		args        []string
		want        string
	}{
		{"expired token", mint(with(func(c *lab.TokenClaims) { c.TTL = -time.Hour }), lab.MintOptions{}), nil, "ExpiredToken"},
		{"wrong audience", mint(with(func(c *lab.TokenClaims) { c.Audience = "someone-else" }), lab.MintOptions{}), nil, "InvalidIdentityToken"},
		{"wrong issuer", mint(with(func(c *lab.TokenClaims) { c.Issuer = "https://evil.example" }), lab.MintOptions{}), nil, "InvalidIdentityToken"},
		{"alg none", mint(agent, lab.MintOptions{Alg: lab.AlgNone}), nil, "InvalidIdentityToken"},
		{"HS256 keyed with the issuer's public key", mint(agent, lab.MintOptions{Alg: lab.AlgHS256WithPublicKey}), nil, "InvalidIdentityToken"},
		{"key the issuer never published", mint(agent, lab.MintOptions{ForeignKey: true}), nil, "InvalidIdentityToken"},
		{"credential-vending call", filepath.Join(outDir, "tokens/agent"), []string{"sts", "assume-role", "--role-arn", "arn:aws:iam::000000000000:role/x", "--role-session-name", "e2e-vend"}, "AccessDenied"},
		{"IAM access keys", filepath.Join(outDir, "tokens/agent"), []string{"iam", "create-access-key"}, "AccessDenied"},
	}
	for _, tt := range cli {
		t.Run(tt.name, func(t *testing.T) {
			before := count.packets()
			args := tt.args
			if args == nil {
				args = []string{"s3api", "list-buckets"}
			}
			out, err := inAgent(t, agentEnv(t, "AWS_WEB_IDENTITY_TOKEN_FILE="+tt.token), time.Minute, "/usr/bin/aws", args...)
			if err == nil || !strings.Contains(out, tt.want) {
				t.Fatalf("want a failure naming %s, got err=%v:\n%s", tt.want, err, out)
			}
			if n := count.packets() - before; n != 0 {
				t.Fatalf("%d data segments reached MinIO", n)
			}
		})
	}

	creds := sessionCreds(t, filepath.Join(outDir, "tokens/agent"))
	root := aws.Credentials{AccessKeyID: "gatehouse-lab", SecretAccessKey: "gatehouse-lab-secret-1"}
	signed := []struct {
		name  string
		creds aws.Credentials
		skew  time.Duration
		want  string
	}{
		{"tampered session token", tamper(creds), 0, "InvalidAccessKeyId"},
		{"wrong secret", aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: "wrong" + creds.SecretAccessKey[5:], SessionToken: creds.SessionToken}, 0, "SignatureDoesNotMatch"},
		{"date 20 minutes off", creds, -20 * time.Minute, "RequestTimeTooSkewed"},
		{"MinIO's real root key used directly", root, 0, "InvalidAccessKeyId"},
	}
	cl := agentHTTP(t)
	for _, tt := range signed {
		t.Run(tt.name, func(t *testing.T) {
			before := count.packets()
			status, body := signedGet(t, cl, tt.creds, "https://s3.us-east-1.amazonaws.com/", tt.skew)
			if status < 400 || !strings.Contains(body, "<Code>"+tt.want+"</Code>") {
				t.Fatalf("status %d, body %s; want %s", status, body, tt.want)
			}
			if n := count.packets() - before; n != 0 {
				t.Fatalf("%d data segments reached MinIO", n)
			}
		})
	}
	// The counter counts: the same call, properly signed, reaches MinIO.
	before := count.packets()
	if status, body := signedGet(t, cl, creds, "https://s3.us-east-1.amazonaws.com/", 0); status != 200 {
		t.Fatalf("a valid call was refused: %d %s", status, body)
	}
	if count.packets() == before {
		t.Fatal("a forwarded call did not move the MinIO counter: the refusals above prove nothing")
	}
}

// signedGet sends a GET signed by aws-sdk-go-v2's signer with creds, its
// clock moved by skew.
func signedGet(t *testing.T, cl *http.Client, creds aws.Credentials, url string, skew time.Duration) (int, string) {
	t.Helper()
	return signedRequest(t, cl, creds, "GET", url, skew)
}

func signedRequest(t *testing.T, cl *http.Client, creds aws.Credentials, method, url string, skew time.Duration) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	emptySHA := hex.EncodeToString(sha256.New().Sum(nil))
	req.Header.Set("X-Amz-Content-Sha256", emptySHA)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, emptySHA, "s3", "us-east-1", time.Now().Add(skew)); err != nil {
		t.Fatal(err)
	}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func tamper(c aws.Credentials) aws.Credentials {
	b := []byte(c.SessionToken)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	c.SessionToken = string(b)
	return c
}

// A STREAMING-AWS4-HMAC-SHA256-PAYLOAD upload, signed chunk by chunk with
// the SDK's signing key derivation, arrives in MinIO byte-exact: Gatehouse
// verified every chunk signature and re-signed the chain.
func TestSignedChunkedUploadArrivesByteExact(t *testing.T) {
	creds := sessionCreds(t, filepath.Join(outDir, "tokens/agent"))
	cl := agentHTTP(t)
	bucket := "gh-lab-chunked"
	s3do(t, cl, creds, "PUT", "/"+bucket, nil)
	t.Cleanup(func() {
		s3do(t, cl, creds, "DELETE", "/"+bucket+"/obj", nil)
		s3do(t, cl, creds, "DELETE", "/"+bucket, nil)
	})
	payload := make([]byte, 3<<20+12345)
	rand.Read(payload)
	req := chunkedPut(t, creds, "https://s3.us-east-1.amazonaws.com/"+bucket+"/obj", payload, 64<<10)
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("chunked PUT: %d %s", resp.StatusCode, b)
	}
	got := s3do(t, cl, creds, "GET", "/"+bucket+"/obj", nil)
	if !bytes.Equal(got, payload) {
		t.Fatalf("object differs: %d bytes stored, %d sent; chunk signatures inside: %v", len(got), len(payload), bytes.Contains(got, []byte("chunk-signature")))
	}
}

func s3do(t *testing.T, cl *http.Client, creds aws.Credentials, method, path string, body []byte) []byte {
	t.Helper()
	req, _ := http.NewRequest(method, "https://s3.us-east-1.amazonaws.com"+path, bytes.NewReader(body))
	sum := sha256.Sum256(body)
	h := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", h)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, h, "s3", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return b
}

func runIn(t *testing.T, ns, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// chunkedPut builds an aws-chunked PUT with chunk signatures, the way
// SigV4's streaming mode defines them: the seed is the request's
// signature, each chunk signs the previous signature and its own hash.
func chunkedPut(t *testing.T, creds aws.Credentials, url string, payload []byte, chunk int) *http.Request {
	t.Helper()
	var sizes []int
	for off := 0; off < len(payload); off += chunk {
		sizes = append(sizes, min(chunk, len(payload)-off))
	}
	sizes = append(sizes, 0)
	encodedLen := 0
	for _, n := range sizes {
		encodedLen += len(strconv.FormatInt(int64(n), 16)) + len(";chunk-signature=") + 64 + 2 + n + 2
	}
	now := time.Now().UTC()
	req, _ := http.NewRequest("PUT", url, nil)
	req.ContentLength = int64(encodedLen)
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(len(payload)))
	req.Header.Set("X-Amz-Content-Sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "s3", "us-east-1", now); err != nil {
		t.Fatal(err)
	}
	_, seed, _ := strings.Cut(req.Header.Get("Authorization"), "Signature=")
	date := now.Format("20060102")
	key := hmacSHA256([]byte("AWS4"+creds.SecretAccessKey), date)
	for _, s := range []string{"us-east-1", "s3", "aws4_request"} {
		key = hmacSHA256(key, s)
	}
	scope := date + "/us-east-1/s3/aws4_request"
	emptyHash := hex.EncodeToString(sha256.New().Sum(nil))
	var body bytes.Buffer
	prev, off := seed, 0
	for _, n := range sizes {
		part := payload[off : off+n]
		off += n
		h := sha256.Sum256(part)
		sig := hex.EncodeToString(hmacSHA256(key, "AWS4-HMAC-SHA256-PAYLOAD\n"+now.Format("20060102T150405Z")+"\n"+scope+"\n"+prev+"\n"+emptyHash+"\n"+hex.EncodeToString(h[:])))
		fmt.Fprintf(&body, "%x;chunk-signature=%s\r\n", n, sig)
		body.Write(part)
		body.WriteString("\r\n")
		prev = sig
	}
	if body.Len() != encodedLen {
		t.Fatalf("encoded %d bytes, computed %d", body.Len(), encodedLen)
	}
	req.Body = io.NopCloser(&body)
	return req
}

func hmacSHA256(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}
