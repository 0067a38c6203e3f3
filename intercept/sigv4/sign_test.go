package sigv4

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestStripRemovesAgentAuthAndKeepsTheRestByteForByte(t *testing.T) {
	cases := []struct {
		name, rawQuery, wantQuery string
	}{
		{"presign parameters among others",
			"list-type=2&X-Amz-Algorithm=AWS4-HMAC-SHA256&prefix=a+b%2bc&X-Amz-Credential=AKIA%2F20250301%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20250301T120000Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Security-Token=tok%2B&empty=&flag&X-Amz-Signature=abc&%E2%9C%93=%7e",
			"list-type=2&prefix=a+b%2bc&empty=&flag&%E2%9C%93=%7e"},
		{"encoded and lower-case spellings of auth parameters", "x-amz-signature=1&X%2DAmz-Credential=2&keep=X-Amz-Date", "keep=X-Amz-Date"},
		{"only auth parameters", "X-Amz-Signature=1&X-Amz-Date=2", ""},
		{"empty segments kept", "a=1&&b=2&X-Amz-Date=x", "a=1&&b=2"},
		{"no query", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u, err := url.Parse("https://bucket.s3.us-east-1.amazonaws.com/a%2Fb%20c+d/%E2%9C%93")
			if err != nil {
				t.Fatal(err)
			}
			u.RawQuery = c.rawQuery
			r := &http.Request{Method: "GET", URL: u, Host: u.Host, Header: http.Header{
				"Authorization":        {"AWS4-HMAC-SHA256 Credential=..."},
				"X-Amz-Security-Token": {"tok"},
				"X-Amz-Date":           {"20250301T120000Z"},
				"x-amz-date":           {"non-canonical spelling"},
				"X-Amz-Content-Sha256": {UnsignedPayload},
				"X-Amz-Meta-Keep":      {"kept"},
			}}
			Strip(r)
			if r.URL.RawQuery != c.wantQuery {
				t.Errorf("RawQuery = %q, want %q", r.URL.RawQuery, c.wantQuery)
			}
			if r.URL.EscapedPath() != "/a%2Fb%20c+d/%E2%9C%93" || r.URL.RawPath != "/a%2Fb%20c+d/%E2%9C%93" {
				t.Errorf("path = %q (raw %q)", r.URL.EscapedPath(), r.URL.RawPath)
			}
			for _, h := range []string{"Authorization", "X-Amz-Security-Token", "X-Amz-Date", "x-amz-date"} {
				if _, ok := r.Header[h]; ok {
					t.Errorf("%s still present", h)
				}
			}
			if r.Header.Get("X-Amz-Meta-Keep") != "kept" || r.Header.Get("X-Amz-Content-Sha256") != UnsignedPayload {
				t.Errorf("other headers lost: %v", r.Header)
			}
		})
	}
}

// outbound turns a server-side request into the request Gatehouse sends
// upstream, as the chain's ReverseProxy does: a clone, no RequestURI, an
// absolute URL.
func outbound(r *http.Request) *http.Request {
	out := r.Clone(context.Background())
	out.RequestURI = ""
	out.URL.Scheme = "https"
	out.URL.Host = r.Host
	return out
}

// Strip+Sign: the re-signed request verifies with Gatehouse's secret, and
// aws-sdk-go-v2 signing the same stripped request computes the same
// signature.
func TestSignRoundTrip(t *testing.T) {
	cases := []struct {
		name, method, url, body, service string
		header                           http.Header
		presign                          bool
		payloadHash                      string // the agent's declared hash, "" for the body's
	}{
		{name: "s3 PUT with awkward key", method: "PUT", url: "https://bucket.s3.us-east-1.amazonaws.com/a%2Fb/sp%20ace/plus%2B/%E2%9C%93~x?x-id=PutObject", body: "payload",
			service: "s3", header: http.Header{"X-Amz-Meta-A": {"1  2"}, "Content-Type": {"text/plain"}}, payloadHash: sha256Hex([]byte("payload"))},
		{name: "s3 GET path-style with query", method: "GET", url: "https://s3.us-east-1.amazonaws.com/bucket/k%20%2B?list-type=2&prefix=a%20b%2Bc&delimiter=%2F", service: "s3", payloadHash: UnsignedPayload},
		{name: "s3 request that arrived presigned", method: "GET", url: "https://bucket.s3.us-east-1.amazonaws.com/pre%20signed?versionId=1", service: "s3", presign: true, payloadHash: UnsignedPayload},
		{name: "bedrock model id with %2F", method: "POST", url: "https://bedrock-runtime.us-east-1.amazonaws.com" + bedrockPath, body: `{"x":1}`, service: "bedrock",
			header: http.Header{"Content-Type": {"application/json"}}},
		{name: "dynamodb JSON", method: "POST", url: "https://dynamodb.us-east-1.amazonaws.com/", body: `{"TableName":"t"}`, service: "dynamodb",
			header: http.Header{"X-Amz-Target": {"DynamoDB_20120810.DescribeTable"}, "Content-Type": {"application/x-amz-json-1.0"}}},
		{name: "sts form POST", method: "POST", url: "https://sts.amazonaws.com/", body: "Action=GetCallerIdentity&Version=2011-06-15", service: "sts",
			header: http.Header{"Content-Type": {"application/x-www-form-urlencoded; charset=utf-8"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, c.url, strings.NewReader(c.body))
			if c.body == "" {
				req.Body, req.ContentLength = http.NoBody, 0
			}
			for k, v := range c.header {
				req.Header[k] = v
			}
			hash := c.payloadHash
			if hash == "" {
				hash = sha256Hex([]byte(c.body))
			} else if !c.presign {
				req.Header.Set("X-Amz-Content-Sha256", hash)
			}
			if c.presign {
				q := req.URL.Query()
				q.Set("X-Amz-Expires", "60")
				req.URL.RawQuery = q.Encode()
				req = sdkPresign(t, req, agentSession, hash, "us-east-1", c.service, t0)
			} else {
				sdkSign(t, req, agentSession, hash, "us-east-1", c.service, t0)
			}
			agentText := wireText(t, req)
			if _, err := parseVerify(readRequest(t, agentText), t0); err != nil {
				t.Fatalf("agent request refused: %v", err)
			}
			in := readRequest(t, agentText)

			out := outbound(in)
			Strip(out)
			wantQuery, wantPath := out.URL.RawQuery, out.URL.EscapedPath()
			sdkOut := out.Clone(context.Background())
			at := t0.Add(3 * time.Second)
			seed, err := Sign(context.Background(), out, upstreamCreds, hash, "us-east-1", c.service, at)
			if err != nil {
				t.Fatal(err)
			}
			if out.URL.RawQuery != wantQuery || out.URL.EscapedPath() != wantPath {
				t.Errorf("Sign changed the URL: %q ? %q, want %q ? %q", out.URL.EscapedPath(), out.URL.RawQuery, wantPath, wantQuery)
			}
			text := wireText(t, out)
			for _, leak := range []string{agentSession.AccessKeyID, agentSession.SessionToken, url.QueryEscape(agentSession.SessionToken)} {
				if strings.Contains(text, leak) {
					t.Errorf("agent auth %q survives in\n%s", leak, text)
				}
			}
			if isS3(c.service) && out.Header.Get("X-Amz-Content-Sha256") != hash {
				t.Errorf("x-amz-content-sha256 = %q, want %q", out.Header.Get("X-Amz-Content-Sha256"), hash)
			}

			up := readRequest(t, text)
			a, err := Parse(up)
			if err != nil {
				t.Fatal(err)
			}
			if a.AccessKeyID != upstreamCreds.AccessKeyID || a.Signature != seed || a.Presigned {
				t.Errorf("upstream auth = %+v, seed %s", a, seed)
			}
			verifyHash := hash
			if a.PayloadHash != "" {
				verifyHash = a.PayloadHash
			}
			if err := Verify(up, a, upstreamCreds.SecretAccessKey, verifyHash, at); err != nil {
				t.Errorf("re-signed request does not verify: %v", err)
			}

			if isS3(c.service) {
				sdkOut.Header.Set("X-Amz-Content-Sha256", hash)
			}
			sdkSign(t, sdkOut, upstreamCreds, hash, "us-east-1", c.service, at)
			if got, want := out.Header.Get("Authorization"), sdkOut.Header.Get("Authorization"); got != want {
				t.Errorf("Authorization\n got %s\nwant %s (the SDK's own)", got, want)
			}
		})
	}
}

func TestSignLeavesHopByHopHeadersUnsigned(t *testing.T) {
	out, _ := http.NewRequest("PUT", "https://bucket.s3.us-east-1.amazonaws.com/k", strings.NewReader("x"))
	out.Header = http.Header{
		"Connection":        {"keep-alive, X-Hop-Custom"},
		"Keep-Alive":        {"timeout=5"},
		"X-Hop-Custom":      {"per-hop"},
		"Te":                {"trailers"},
		"Upgrade":           {"h2c"},
		"Proxy-Connection":  {"keep-alive"},
		"Via":               {"1.1 proxy"},
		"X-Forwarded-For":   {"10.0.0.1"},
		"Transfer-Encoding": {"chunked"},
		"Expect":            {"100-continue"},
		"User-Agent":        {"agent/1.0"},
		"X-Amz-Meta-Kept":   {"signed"},
	}
	before := out.Header.Clone()
	if _, err := Sign(context.Background(), out, upstreamCreds, UnsignedPayload, "us-east-1", "s3", t0); err != nil {
		t.Fatal(err)
	}
	_, signed, _ := strings.Cut(out.Header.Get("Authorization"), "SignedHeaders=")
	signed, _, _ = strings.Cut(signed, ",")
	names := strings.Split(signed, ";")
	for k := range before {
		lk := strings.ToLower(k)
		if want := lk == "x-amz-meta-kept"; slices.Contains(names, lk) != want {
			t.Errorf("%s signed = %v, want %v (SignedHeaders=%s)", k, !want, want, signed)
		}
		if !slices.Equal(out.Header[k], before[k]) {
			t.Errorf("%s = %q after Sign, want %q", k, out.Header[k], before[k])
		}
	}
	if !slices.Contains(names, "host") || !slices.Contains(names, "x-amz-content-sha256") || !slices.Contains(names, "x-amz-date") {
		t.Errorf("SignedHeaders=%s lacks host, x-amz-content-sha256 or x-amz-date", signed)
	}
}

func TestSignRefusesQueriesTheSDKWouldSignDifferently(t *testing.T) {
	for _, q := range []string{"a=%zz", "a=1;b=2"} {
		t.Run(q, func(t *testing.T) {
			out, _ := http.NewRequest("GET", "https://bucket.s3.us-east-1.amazonaws.com/k", nil)
			out.URL.RawQuery = q
			if _, err := Sign(context.Background(), out, upstreamCreds, UnsignedPayload, "us-east-1", "s3", t0); err == nil {
				t.Fatal("signed a query the SDK drops pairs from")
			}
			if out.Header.Get("Authorization") != "" {
				t.Error("Authorization set on refusal")
			}
		})
	}
}

// botocore and the JS SDK v3 remove dot segments and empty segments from
// non-S3 paths before encoding them again, and collapse every run of white
// space in a header value; aws-sdk-go-v2 does neither. Each form is signed
// here by aws-sdk-go-v2 given the other SDKs' canonical input (URL.Opaque
// is signed verbatim; the header value pre-collapsed), then the raw
// request is sent with that signature.
func TestVerifyAcceptsOtherSDKsCanonicalForms(t *testing.T) {
	cases := []struct {
		name, url, service string
		signedPath         string // what botocore would encode again; "" for the raw path
		meta, signedMeta   string
		want               string
	}{
		{name: "normalized path", url: "https://abc.execute-api.us-east-1.amazonaws.com/stage//a%20b/./c/../d/", service: "execute-api",
			signedPath: "/stage/a%20b/d/", want: ""},
		{name: "tab collapsed in a header value", url: "https://bucket.s3.us-east-1.amazonaws.com/k", service: "s3",
			meta: "a\tb \t c", signedMeta: "a b c", want: ""},
		{name: "normalized path and collapsed tab", url: "https://bedrock-runtime.us-east-1.amazonaws.com/model/x/../m/invoke", service: "bedrock",
			signedPath: "/model/m/invoke", meta: "1\t2", signedMeta: "1 2", want: ""},
		{name: "S3 keys are never normalized", url: "https://bucket.s3.us-east-1.amazonaws.com/a/../b", service: "s3",
			signedPath: "/b", want: "SignatureDoesNotMatch"},
		{name: "other white space is not dropped", url: "https://bucket.s3.us-east-1.amazonaws.com/k", service: "s3",
			meta: "a\tb", signedMeta: "ab", want: "SignatureDoesNotMatch"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", c.url, nil)
			req.Header.Set("X-Amz-Content-Sha256", UnsignedPayload)
			if c.meta != "" {
				req.Header.Set("X-Amz-Meta-V", c.meta)
			}
			other := req.Clone(context.Background())
			if c.signedPath != "" {
				other.URL.Opaque = "//" + req.URL.Host + c.signedPath
			}
			if c.meta != "" {
				other.Header.Set("X-Amz-Meta-V", c.signedMeta)
			}
			sdkSign(t, other, agentCreds, UnsignedPayload, "us-east-1", c.service, t0)
			for _, k := range []string{"Authorization", "X-Amz-Date"} {
				req.Header.Set(k, other.Header.Get(k))
			}
			if _, err := parseVerify(wire(t, req), t0); errCode(err) != c.want {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}
