package sigv4

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The agent's credentials (what Verify checks) and Gatehouse's upstream
// ones (what Sign uses). Made up, AWS-shaped.
var (
	agentCreds    = aws.Credentials{AccessKeyID: "AKIAAGENT0000EXAMPLE", SecretAccessKey: "agent/secret+key/0123456789abcdefghijklmn"}
	agentSession  = aws.Credentials{AccessKeyID: "ASIAAGENT0000SESSION", SecretAccessKey: "agent-session-secret/abcdefghijklmnopqrstu", SessionToken: "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ"}
	upstreamCreds = aws.Credentials{AccessKeyID: "AKIAUPSTREAM00EXAMPLE", SecretAccessKey: "upstream/secret/key/ZYXWVUTSRQPONMLKJIHGFE"}
	secrets       = map[string]string{
		agentCreds.AccessKeyID:    agentCreds.SecretAccessKey,
		agentSession.AccessKeyID:  agentSession.SecretAccessKey,
		upstreamCreds.AccessKeyID: upstreamCreds.SecretAccessKey,
	}
	// t0 is when the signer-driven tests sign.
	t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
)

// wire sends a client-side request through HTTP/1.1 framing and reads it
// back the way Go's server does (Host out of the header, Content-Length
// in it, the request line as sent), so tests verify what a server sees.
func wire(t testing.TB, req *http.Request) *http.Request {
	t.Helper()
	raw := wireText(t, req)
	sr, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatalf("read back request: %v\n%s", err, raw)
	}
	return sr
}

func wireText(t testing.TB, req *http.Request) string {
	t.Helper()
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		t.Fatalf("write request: %v", err)
	}
	return buf.String()
}

func readRequest(t testing.TB, raw string) *http.Request {
	t.Helper()
	sr, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatalf("read request: %v\n%s", err, raw)
	}
	return sr
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// sdkSign signs req in place with aws-sdk-go-v2's signer, as the SDK's
// clients do: S3 without the second path encoding.
func sdkSign(t testing.TB, req *http.Request, creds aws.Credentials, payloadHash, region, service string, at time.Time) {
	t.Helper()
	err := v4.NewSigner().SignHTTP(context.Background(), creds, req, payloadHash, service, region, at, func(o *v4.SignerOptions) {
		o.DisableURIPathEscaping = isS3(service)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// sdkPresign presigns req with aws-sdk-go-v2's signer and returns the
// request to send.
func sdkPresign(t testing.TB, req *http.Request, creds aws.Credentials, payloadHash, region, service string, at time.Time) *http.Request {
	t.Helper()
	u, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, payloadHash, service, region, at, func(o *v4.SignerOptions) {
		o.DisableURIPathEscaping = isS3(service)
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := http.NewRequest(req.Method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k != "Host" {
			out.Header[k] = v
		}
	}
	return out
}

// parseVerify is what the chain does with a server-side request: Parse,
// pick the payload hash (hashing the body when none was declared), Verify.
func parseVerify(r *http.Request, now time.Time) (*Auth, error) {
	a, err := Parse(r)
	if err != nil {
		return nil, err
	}
	secret, ok := secrets[a.AccessKeyID]
	if !ok {
		return a, fmt.Errorf("unknown access key %q", a.AccessKeyID)
	}
	hash := a.PayloadHash
	if hash == "" {
		body := []byte{}
		if r.Body != nil {
			body, err = io.ReadAll(r.Body)
			if err != nil {
				return a, err
			}
		}
		hash = sha256Hex(body)
	}
	return a, Verify(r, a, secret, hash, now)
}

// errCode is the AWS code of err, or its text.
func errCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err == nil {
		return ""
	}
	return err.Error()
}

// verifyingServer is a TLS server that answers every host (the client's
// dialer sends everything to it) and records what Parse+Verify made of
// each request it received.
type verifyingServer struct {
	client *http.Client
	mu     sync.Mutex
	seen   []verified
}

type verified struct {
	method, uri string
	auth        *Auth
	err         error
}

func newVerifyingServer(t *testing.T) *verifyingServer {
	vs := &verifyingServer{}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, err := parseVerify(r, time.Now())
		_, _ = io.Copy(io.Discard, r.Body)
		vs.mu.Lock()
		vs.seen = append(vs.seen, verified{r.Method, r.RequestURI, a, err})
		vs.mu.Unlock()
		if err != nil {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, "<Error><Code>%s</Code></Error>", errCode(err))
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	addr := srv.Listener.Addr().String()
	var d net.Dialer
	vs.client = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "example.com"},
	}}
	return vs
}

func (vs *verifyingServer) take() []verified {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	s := vs.seen
	vs.seen = nil
	return s
}

// refChunkSig is the chunk signature, written out from the S3 docs rather
// than shared with the package.
func refChunkSig(key []byte, amzDate, scope, prev string, chunk []byte) string {
	sts := "AWS4-HMAC-SHA256-PAYLOAD\n" + amzDate + "\n" + scope + "\n" + prev + "\n" +
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n" + sha256Hex(chunk)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(sts))
	return hex.EncodeToString(m.Sum(nil))
}

func refTrailerSig(key []byte, amzDate, scope, prev string, canonicalTrailers string) string {
	sts := "AWS4-HMAC-SHA256-TRAILER\n" + amzDate + "\n" + scope + "\n" + prev + "\n" + sha256Hex([]byte(canonicalTrailers))
	m := hmac.New(sha256.New, key)
	m.Write([]byte(sts))
	return hex.EncodeToString(m.Sum(nil))
}

// refEncode is a reference aws-chunked encoder: payload in chunkSize
// pieces, a final empty chunk, and trailers ("name:value") when given
// (nil: the non-trailer form).
func refEncode(payload []byte, chunkSize int, k ChunkKeys, trailers []string) []byte {
	var b bytes.Buffer
	date, scope, prev := k.Date.UTC().Format("20060102T150405Z"), k.Scope.Date+"/"+k.Scope.Region+"/"+k.Scope.Service+"/aws4_request", k.Seed
	for {
		n := min(chunkSize, len(payload))
		chunk := payload[:n]
		payload = payload[n:]
		prev = refChunkSig(k.Key, date, scope, prev, chunk)
		fmt.Fprintf(&b, "%x;chunk-signature=%s\r\n", n, prev)
		b.Write(chunk)
		if n == 0 {
			break
		}
		b.WriteString("\r\n")
	}
	if trailers == nil {
		b.WriteString("\r\n")
		return b.Bytes()
	}
	var canon strings.Builder
	for _, tr := range trailers {
		b.WriteString(tr + "\r\n")
		canon.WriteString(tr + "\n")
	}
	fmt.Fprintf(&b, "x-amz-trailer-signature:%s\r\n\r\n", refTrailerSig(k.Key, date, scope, prev, canon.String()))
	return b.Bytes()
}

// refDecode is a reference aws-chunked decoder that checks every signature
// along k's chain. It returns the payload, the chunk signatures it saw and
// the trailer lines.
func refDecode(body []byte, k ChunkKeys) (payload []byte, sigs []string, trailers []string, err error) {
	date, scope, prev := k.Date.UTC().Format("20060102T150405Z"), k.Scope.Date+"/"+k.Scope.Region+"/"+k.Scope.Service+"/aws4_request", k.Seed
	r := bufio.NewReader(bytes.NewReader(body))
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, nil, nil, fmt.Errorf("chunk header: %w", err)
		}
		var size int
		var sig string
		if _, err := fmt.Sscanf(strings.TrimSuffix(line, "\r\n"), "%x;chunk-signature=%s", &size, &sig); err != nil {
			return nil, nil, nil, fmt.Errorf("chunk header %q: %w", line, err)
		}
		chunk := make([]byte, size)
		if _, err := io.ReadFull(r, chunk); err != nil {
			return nil, nil, nil, err
		}
		want := refChunkSig(k.Key, date, scope, prev, chunk)
		if sig != want {
			return nil, nil, nil, fmt.Errorf("chunk %d: signature %s, want %s", len(sigs), sig, want)
		}
		prev = sig
		sigs = append(sigs, sig)
		payload = append(payload, chunk...)
		if size == 0 {
			break
		}
		if crlf, _ := r.Peek(2); string(crlf) != "\r\n" {
			return nil, nil, nil, fmt.Errorf("no CRLF after chunk")
		}
		r.Discard(2)
	}
	rest, _ := io.ReadAll(r)
	if string(rest) == "\r\n" {
		return payload, sigs, nil, nil
	}
	lines := strings.Split(strings.TrimSuffix(string(rest), "\r\n\r\n"), "\r\n")
	if !strings.HasSuffix(string(rest), "\r\n\r\n") || len(lines) == 0 {
		return nil, nil, nil, fmt.Errorf("bad trailer section %q", rest)
	}
	sigLine := lines[len(lines)-1]
	trailers = lines[:len(lines)-1]
	var canon strings.Builder
	for _, tr := range trailers {
		canon.WriteString(tr + "\n")
	}
	if want := "x-amz-trailer-signature:" + refTrailerSig(k.Key, date, scope, prev, canon.String()); sigLine != want {
		return nil, nil, nil, fmt.Errorf("trailer signature %q, want %q", sigLine, want)
	}
	return payload, sigs, trailers, nil
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.ParseRequestURI(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }
