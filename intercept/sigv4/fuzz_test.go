package sigv4

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// sdkSeeds are real aws-sdk-go-v2 outputs: Authorization headers and
// presigned URLs' queries.
func sdkSeeds(t testing.TB) (authz, queries []string) {
	for _, c := range []struct{ method, url, service string }{
		{"GET", "https://bucket.s3.us-east-1.amazonaws.com/a%20b?list-type=2&prefix=x%2By", "s3"},
		{"POST", "https://bedrock-runtime.us-east-1.amazonaws.com" + bedrockPath, "bedrock"},
		{"POST", "https://dynamodb.eu-west-1.amazonaws.com/", "dynamodb"},
	} {
		req, _ := http.NewRequest(c.method, c.url, nil)
		req.Header.Set("X-Amz-Meta-X", "1")
		sdkSign(t, req, agentSession, UnsignedPayload, "us-east-1", c.service, t0)
		authz = append(authz, req.Header.Get("Authorization"))
	}
	presign := s3.NewPresignClient(s3.NewFromConfig(aws.Config{Region: "us-east-1",
		Credentials: credentials.StaticCredentialsProvider{Value: agentSession}}))
	for _, key := range []string{"plain", "sp ace/ü+%2F"} {
		p, err := presign.PresignGetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("bucket"), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(p.URL)
		queries = append(queries, u.RawQuery)
	}
	return authz, queries
}

func FuzzParse(f *testing.F) {
	authz, queries := sdkSeeds(f)
	for _, a := range authz {
		f.Add(a, "", t0.Format("20060102T150405Z"), "")
		f.Add(strings.ReplaceAll(a, ", ", ","), "x=1", "", "Sat, 01 Mar 2025 12:00:00 GMT")
	}
	for _, q := range queries {
		f.Add("", q, "", "")
	}
	for _, r := range otherSDKRequests(f) {
		f.Add(r.Header.Get("Authorization"), r.URL.RawQuery, r.Header.Get("X-Amz-Date"), "")
	}
	f.Add("AWS4-HMAC-SHA256 Credential=/////, SignedHeaders=;, Signature=", "X-Amz-Algorithm=&&;", "2025", "")
	f.Fuzz(func(t *testing.T, authz, rawQuery, amzDate, date string) {
		r := &http.Request{Method: "GET", Host: "h", URL: &url.URL{Path: "/", RawQuery: rawQuery}, Header: http.Header{}}
		for k, v := range map[string]string{"Authorization": authz, "X-Amz-Date": amzDate, "Date": date} {
			if v != "" {
				r.Header.Set(k, v)
			}
		}
		a, err := Parse(r)
		a2, err2 := Parse(r)
		if (err == nil) != (err2 == nil) || errCode(err) != errCode(err2) || !reflect.DeepEqual(a, a2) {
			t.Fatalf("not deterministic: %v / %v", err, err2)
		}
		if err != nil {
			var e *Error
			if !errors.Is(err, ErrUnsigned) && (!errors.As(err, &e) || e.Status != http.StatusBadRequest || e.Message == "") {
				t.Fatalf("error %v is neither ErrUnsigned nor a 400 *Error", err)
			}
			return
		}
		if !isHexSignature(a.Signature) || len(a.SignedHeaders) == 0 || !slices.IsSorted(a.SignedHeaders) ||
			a.Scope.String() != a.Scope.Date+"/"+a.Scope.Region+"/"+a.Scope.Service+"/aws4_request" ||
			strings.ContainsAny(a.Scope.String()+a.AccessKeyID, "\n ,;=") || a.Expires > 7*24*time.Hour || a.Expires < 0 || a.Date.IsZero() {
			t.Fatalf("Parse accepted a malformed signature: %+v", a)
		}
		_ = Verify(r, a, "secret", sha256Hex(nil), t0) // must not panic
	})
}

var tokenRE = regexp.MustCompile(`^[A-Z]{1,10}$`)

// FuzzCanonicalRequest: canonicalization never panics, is deterministic,
// and agrees with aws-sdk-go-v2: whatever the SDK signs (header or
// presigned, S3 or not), Parse+Verify accept once it has crossed the wire.
func FuzzCanonicalRequest(f *testing.F) {
	f.Add("GET", "/bucket/a%20b/%2F/ü~", "list-type=2&prefix=a%2Bb+c&empty=&flag", "v1", "  two   spaces ", "s3", false)
	f.Add("PUT", bedrockPath, "a=%E2%9C%93&b=%7e", "x", "", "bedrock", false)
	f.Add("POST", "/stage//./x/../y/", "", "a\tb", "c", "execute-api", false)
	f.Add("GET", "/obj", "versionId=3%2B4&X-Amz-Expires=60", "", "", "s3", true)
	f.Add("GET", "/", "Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Expires=60", "", "", "sts", true)
	f.Fuzz(func(t *testing.T, method, path, rawQuery, v1, v2, service string, presign bool) {
		if !validScopeName(service) || !tokenRE.MatchString(method) {
			return
		}
		u, err := url.Parse("https://host.example.com:8443" + path)
		if err != nil || u.Host != "host.example.com:8443" || u.RawQuery != "" || u.Fragment != "" {
			return
		}
		u.RawQuery = rawQuery
		req := &http.Request{Method: method, URL: u, Host: u.Host, Header: http.Header{}, Body: http.NoBody}
		req.Header["X-Amz-Meta-A"] = []string{v1}
		req.Header["X-Amz-Meta-B"] = []string{v1, v2}

		// Any request: no panic, same answer twice.
		a := &Auth{Scope: Scope{"20250301", "us-east-1", service}, SignedHeaders: []string{"host", "x-amz-meta-a", "x-amz-meta-b"}, Presigned: presign}
		for _, d := range []dialect{{}, {true, false}, {false, true}, {true, true}} {
			c1, err1 := canonicalRequest(req, a, UnsignedPayload, d)
			c2, err2 := canonicalRequest(req, a, UnsignedPayload, d)
			if c1 != c2 || (err1 == nil) != (err2 == nil) {
				t.Fatal("canonicalRequest is not deterministic")
			}
		}
		if _, err := parseQuery(rawQuery); err != nil {
			return // Parse refuses these (the SDK would drop pairs it still sends)
		}
		for _, v := range []string{v1, v2} {
			if strings.ContainsAny(v, "\r\n\x00") || !validHeaderValue(v) {
				return // not a header value that survives the wire
			}
		}

		// What the SDK signs, Verify accepts.
		hash := sha256Hex(nil)
		if presign {
			if !strings.Contains(rawQuery, "X-Amz-Expires=") || strings.Contains(rawQuery, "X-Amz-") && hasAuthParam(rawQuery) {
				return
			}
			req = sdkPresign(t, req, agentCreds, presignHash(service), "us-east-1", service, t0)
			req.Header["X-Amz-Meta-A"] = []string{v1}
			req.Header["X-Amz-Meta-B"] = []string{v1, v2}
		} else {
			if hasAuthParam(rawQuery) {
				return
			}
			sdkSign(t, req, agentCreds, hash, "us-east-1", service, t0)
		}
		var buf bytes.Buffer
		if err := req.Write(&buf); err != nil {
			return
		}
		sr, err := http.ReadRequest(bufioReader(buf.Bytes()))
		if err != nil {
			return
		}
		got, err := Parse(sr)
		if err != nil {
			if presign && errCode(err) == "AuthorizationQueryParametersError" {
				return // e.g. X-Amz-Expires=abc, which the SDK signs as given
			}
			t.Fatalf("Parse refused an SDK-signed request: %v\n%s", err, buf.String())
		}
		verifyHash := hash
		if got.PayloadHash != "" {
			verifyHash = got.PayloadHash
		}
		if err := Verify(sr, got, agentCreds.SecretAccessKey, verifyHash, t0); err != nil {
			c, _ := canonicalRequest(sr, got, verifyHash, dialect{})
			t.Fatalf("Verify refused an SDK-signed request: %v\ncanonical:\n%s\nwire:\n%q", err, c, buf.String())
		}
	})
}

func presignHash(service string) string {
	if isS3(service) {
		return UnsignedPayload
	}
	return sha256Hex(nil)
}

func hasAuthParam(rawQuery string) bool {
	pairs, _ := parseQuery(rawQuery)
	for _, p := range pairs {
		switch p.key {
		case qAlgorithm, qCredential, qDate, qSignedHeaders, qSignature, qSecurityToken, "AWSAccessKeyId", "Signature":
			return true
		}
	}
	return false
}

// validHeaderValue: what Go's server accepts as a field value.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// FuzzChunkResigner: arbitrary bodies never panic, and nothing is emitted
// but chunks whose agent signature verified: the output is always exactly
// the re-signed form of a verified prefix of the input, and the whole body
// only when the whole input verified.
func FuzzChunkResigner(f *testing.F) {
	f.Add(docChunkedBody, true) // the S3 documentation's example, with its keys
	for _, c := range []struct {
		size, chunk int
		trailers    []string
	}{{0, 8, nil}, {40, 16, nil}, {100, 64, nil}, {30, 8, []string{"x-amz-checksum-crc32:AAAAAA=="}}, {0, 8, []string{}}, {20, 7, []string{"x-amz-checksum-sha256:abc", "x-amz-meta-a:b"}}} {
		body := refEncode(payloadOf(c.size), c.chunk, agentKeys, c.trailers)
		f.Add(body, false)
		f.Add(body[:len(body)/2], false)
	}
	f.Add([]byte("0;chunk-signature="+strings.Repeat("a", 64)+"\r\n\r\n"), false)
	f.Fuzz(func(t *testing.T, in []byte, doc bool) {
		agent := agentKeys
		if doc {
			agent = docChunkKeys
		}
		out, err := io.ReadAll(NewChunkResigner(bytes.NewReader(in), agent, upKeys))
		prefixes, complete := refResign(in, agent)
		if err == nil {
			if !complete || !bytes.Equal(out, prefixes[len(prefixes)-1]) {
				t.Fatalf("accepted a body the reference refuses (complete=%v)", complete)
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("error %v is not an *Error", err)
		}
		for i, p := range prefixes {
			if bytes.Equal(out, p) && !(complete && i == len(prefixes)-1) {
				return
			}
		}
		t.Fatalf("emitted %d bytes that are not a verified prefix (%v)", len(out), err)
	})
}

var refChunkLine = regexp.MustCompile(`^([0-9a-fA-F]{1,16});chunk-signature=([0-9a-fA-F]{64})$`)

// refResign walks an agent body along the agent chain and returns the
// re-signed output expected after each verified chunk (the last one being
// the whole body when it verified to the end).
func refResign(in []byte, agent ChunkKeys) (prefixes [][]byte, complete bool) {
	agentDate, upDate := agent.Date.UTC().Format(amzDateFormat), upKeys.Date.UTC().Format(amzDateFormat)
	agentPrev, upPrev := agent.Seed, upKeys.Seed
	var out []byte
	prefixes = [][]byte{nil}
	rest := in
	for {
		i := bytes.Index(rest, []byte("\r\n"))
		if i < 0 || i > maxChunkLine {
			return prefixes, false
		}
		m := refChunkLine.FindSubmatch(rest[:i])
		if m == nil {
			return prefixes, false
		}
		size, _ := strconv.ParseUint(string(m[1]), 16, 64)
		if size > maxChunk || uint64(len(rest)) < uint64(i+2)+size {
			return prefixes, false
		}
		data := rest[i+2 : i+2+int(size)]
		if want := refChunkSig(agent.Key, agentDate, agent.Scope.String(), agentPrev, data); !strings.EqualFold(string(m[2]), want) {
			return prefixes, false
		} else {
			agentPrev = want
		}
		upPrev = refChunkSig(upKeys.Key, upDate, upKeys.Scope.String(), upPrev, data)
		hdr := string(m[1]) + ";chunk-signature=" + upPrev + "\r\n"
		rest = rest[i+2+int(size):]
		if size > 0 {
			if !bytes.HasPrefix(rest, []byte("\r\n")) {
				return prefixes, false
			}
			rest = rest[2:]
			out = append(append(append(out, hdr...), data...), "\r\n"...)
			prefixes = append(prefixes, slices.Clone(out))
			continue
		}
		if string(rest) == "\r\n" {
			return append(prefixes, append(append(out, hdr...), "\r\n"...)), true
		}
		tail, ok := refTrailers(string(rest), agent, agentDate, upDate, agentPrev, upPrev)
		if !ok {
			return prefixes, false
		}
		return append(prefixes, append(append(out, hdr...), tail...)), true
	}
}

func refTrailers(rest string, agent ChunkKeys, agentDate, upDate, agentPrev, upPrev string) (string, bool) {
	if len(rest) > maxTrailers+len("x-amz-trailer-signature:")+64+4 {
		return "", false
	}
	var canon []string
	var tail strings.Builder
	for {
		line, after, ok := strings.Cut(rest, "\r\n")
		if !ok || strings.Contains(line, "\n") {
			return "", false
		}
		rest = after
		if sig, ok := strings.CutPrefix(line, "x-amz-trailer-signature:"); ok {
			slices.Sort(canon)
			if rest != "\r\n" || !strings.EqualFold(sig, refTrailerSig(agent.Key, agentDate, agent.Scope.String(), agentPrev, strings.Join(canon, ""))) {
				return "", false
			}
			tail.WriteString("x-amz-trailer-signature:" + refTrailerSig(upKeys.Key, upDate, upKeys.Scope.String(), upPrev, strings.Join(canon, "")) + "\r\n\r\n")
			return tail.String(), true
		}
		name, value, ok := strings.Cut(line, ":")
		name = strings.ToLower(strings.TrimSpace(name))
		if !ok || !regexp.MustCompile("^[a-z0-9!#$%&'*+.^_`|~-]+$").MatchString(name) {
			return "", false
		}
		canon = append(canon, name+":"+strings.TrimSpace(value)+"\n")
		tail.WriteString(line + "\r\n")
	}
}
