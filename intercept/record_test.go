package intercept

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/recorder"
)

// orderedRecorder is the real store, with the order of intents noted next
// to the upstream's arrivals.
type orderedRecorder struct {
	*recorder.Store
	mu     sync.Mutex
	events []string
}

func (o *orderedRecorder) note(e string) {
	o.mu.Lock()
	o.events = append(o.events, e)
	o.mu.Unlock()
}

func (o *orderedRecorder) Intent(ctx context.Context, r *recorder.Record) error {
	err := o.Store.Intent(ctx, r)
	if err == nil {
		o.note("intent")
	}
	return err
}

func records(t *testing.T, s *recorder.Store, q recorder.Query) []*recorder.Record {
	t.Helper()
	rs, err := s.Search(q)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestForwardedCallRecordedIntentFirst(t *testing.T) {
	st, err := recorder.Open(recorder.Options{Dir: t.TempDir(), MemTableSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec := &orderedRecorder{Store: st}
	l, _, creds := newAuthnLab(t, func(o *Options) { o.Recorder = rec; o.BodyCap = 8 })
	body := "hello, recorded world"
	req, _ := http.NewRequest("PUT", "https://s3.amazonaws.com/bucket/key.txt", strings.NewReader(body))
	req.Header.Set("X-Amz-Server-Side-Encryption-Customer-Key", "c2VjcmV0LWN1c3RvbWVyLWtleQ==")
	sign(t, req, creds, "", "s3", hashOf(body))
	resp, err := l.client(t, "s3.amazonaws.com").Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d; log:\n%s", resp.StatusCode, l.logs)
	}
	l.waitLog(`"msg":"request"`)
	rs := records(t, st, recorder.Query{Identity: "agent-1"})
	if len(rs) != 1 {
		t.Fatalf("%d records", len(rs))
	}
	r := rs[0]
	if !r.Complete || r.Kind != "call" || r.Verdict != "forwarded" || r.Status != 200 || r.Action != "s3:PutObject" ||
		len(r.Resources) != 1 || r.Resources[0] != "arn:aws:s3:::bucket/key.txt" || r.Method != "PUT" || r.Path != "/bucket/key.txt" {
		t.Fatalf("record: %+v", r)
	}
	// A capture cut short loses its tail too, where a value the masks
	// look for could have been cut in half.
	if !strings.HasPrefix(body, string(r.Request.Data)) || !r.Request.Truncated || r.Request.Size != int64(len(body)) || r.Request.SHA256 != hashOf(body) {
		t.Fatalf("request body: %+v", r.Request)
	}
	if string(r.Response.Data) != "ok" || r.Response.Size != 2 || r.Response.SHA256 != hashOf("ok") {
		t.Fatalf("response body: %+v", r.Response)
	}
	if r.Start.IsZero() || r.UpstreamFirstByte.Before(r.Start) || r.End.Before(r.UpstreamFirstByte) {
		t.Fatalf("times: %v %v %v", r.Start, r.UpstreamFirstByte, r.End)
	}
	b, _ := json.Marshal(r)
	for _, secret := range []string{creds.SecretAccessKey, creds.SessionToken, creds.AccessKeyID, gatewaySecret, "GATEWAYKEY", "Signature=", "c2VjcmV0LWN1c3RvbWVyLWtleQ"} {
		if strings.Contains(string(b), secret) {
			t.Fatalf("record holds %q: %s", secret, b)
		}
	}
	if _, ok := r.Request.Headers["X-Amz-Content-Sha256"]; !ok {
		t.Fatalf("forwarded headers not kept: %v", r.Request.Headers)
	}
}

func TestRefusedCallRecordedWhole(t *testing.T) {
	st, err := recorder.Open(recorder.Options{Dir: t.TempDir(), MemTableSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l, up, creds := newAuthnLab(t, func(o *Options) { o.Recorder = st })
	req, _ := http.NewRequest("GET", "https://s3.amazonaws.com/bucket/k?list-type=2", nil)
	sign(t, req, creds, "not-the-secret", "s3", hashOf(""))
	resp, err := l.client(t, "s3.amazonaws.com").Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	l.waitLog(`"msg":"request"`)
	if n := len(up.requests()); n != 0 {
		t.Fatalf("%d forwarded", n)
	}
	rs := records(t, st, recorder.Query{ErrorCode: "SignatureDoesNotMatch"})
	if len(rs) != 1 || !rs[0].Complete || rs[0].Verdict != "refused" || rs[0].Status != 403 || rs[0].Path != "/bucket/k?list-type=2" {
		all, _ := st.Search(recorder.Query{})
		for _, r := range all {
			t.Logf("%+v", r)
		}
		t.Fatalf("records: %+v\n%s", rs, l.logs)
	}
	if !strings.Contains(string(rs[0].Response.Data), "SignatureDoesNotMatch") {
		t.Fatalf("response body not recorded: %q", rs[0].Response.Data)
	}
	if inc := st.Incomplete(); len(inc) != 0 {
		t.Fatal(inc)
	}
}

// A store that cannot write refuses the call: nothing reaches the upstream,
// and the agent gets an AWS error saying why.
func TestUnwritableStoreRefusesCalls(t *testing.T) {
	st, err := recorder.Open(recorder.Options{Dir: t.TempDir(), MemTableSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	l, up, creds := newAuthnLab(t, func(o *Options) { o.Recorder = st })
	req, _ := http.NewRequest("PUT", "https://s3.amazonaws.com/bucket/key", strings.NewReader("x"))
	sign(t, req, creds, "", "s3", hashOf("x"))
	resp, err := l.client(t, "s3.amazonaws.com").Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(b), "<Code>ServiceUnavailable</Code>") || !strings.Contains(string(b), "could not be recorded") {
		t.Fatalf("got %d %s", resp.StatusCode, b)
	}
	if n := len(up.requests()); n != 0 {
		t.Fatalf("%d forwarded", n)
	}
	if got := l.waitLog(`"msg":"request"`); !strings.Contains(got, "recorder unavailable") {
		t.Fatalf("log:\n%s", got)
	}
}

func TestRecordPathAndFormsLoseSecrets(t *testing.T) {
	u, _ := url.Parse("https://s3.amazonaws.com/b/a%20b?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIA%2F20261126&x-amz-signature=ff&X-Amz-Security-Token=tok&versionId=3&Signature=v2&AWSAccessKeyId=AKIA")
	if got := recordPath(u); got != "/b/a%20b?X-Amz-Algorithm=AWS4-HMAC-SHA256&versionId=3" {
		t.Fatalf("path %q", got)
	}
	form := "Action=AssumeRoleWithWebIdentity&WebIdentityToken=eyJhbGciOi.payload.sig&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fr"
	if got := withoutSecrets(form, true); got != "Action=AssumeRoleWithWebIdentity&WebIdentityToken=REDACTED&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fr" {
		t.Fatalf("form %q", got)
	}
	h := http.Header{"Authorization": {"AWS4-HMAC-SHA256 Credential=x"}, "X-Amz-Security-Token": {"t"}, "X-Amz-Date": {"d"}}
	if got := recordHeaders(h); len(got) != 1 || got["X-Amz-Date"][0] != "d" {
		t.Fatalf("headers %v", got)
	}
}

func TestErrorCodeFromAWSBodies(t *testing.T) {
	for body, want := range map[string]string{
		`<?xml version="1.0"?><Error><Code>NoSuchKey</Code></Error>`:                               "NoSuchKey",
		`<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code></Error></ErrorResponse>`: "Throttling",
		`{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"x"}`:    "ResourceNotFoundException",
		`{"code":"AccessDeniedException"}`:                                                         "AccessDeniedException",
		`not an error document`:                                                                    "",
	} {
		if got := errorCode(http.Header{}, []byte(body)); got != want {
			t.Errorf("%s: got %q want %q", body, got, want)
		}
	}
	if got := errorCode(http.Header{"X-Amzn-Errortype": {"ValidationException:http://internal"}}, nil); got != "ValidationException" {
		t.Errorf("header: %q", got)
	}
}

// Bodies that carry secrets in the clear are kept out of the record: their
// size only, and why.
func TestSecretBodiesWithheld(t *testing.T) {
	st, err := recorder.Open(recorder.Options{Dir: t.TempDir(), MemTableSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l, _, creds := newAuthnLab(t, func(o *Options) { o.Recorder = st })
	for _, op := range []string{"secretsmanager.PutSecretValue", "secretsmanager.GetSecretValue", "TrentService.Decrypt"} {
		body := `{"SecretId":"db","SecretString":"hunter2-very-secret"}`
		host, svc := "secretsmanager.us-east-1.amazonaws.com", "secretsmanager"
		if strings.HasPrefix(op, "Trent") {
			host, svc = "kms.us-east-1.amazonaws.com", "kms"
		}
		req, _ := http.NewRequest("POST", "https://"+host+"/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", op)
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		sign(t, req, creds, "", svc, hashOf(body))
		resp, err := l.client(t, host).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		// The test upstream does not verify non-S3 signatures (403, empty
		// body): what matters is what the record kept.
	}
	l.waitLog(`"action":"kms:Decrypt"`)
	for _, tt := range []struct {
		action      string
		req, respOK bool // kept
	}{
		{"secretsmanager:PutSecretValue", false, true},
		// The built-in mask profile's field rules cover the response:
		// the record keeps it as masked for the agent.
		{"secretsmanager:GetSecretValue", true, true},
		// No field rule covers a KMS plaintext: never recorded.
		{"kms:Decrypt", true, false},
	} {
		rs := records(t, st, recorder.Query{Action: tt.action})
		if len(rs) != 1 {
			t.Fatalf("%s: %d records", tt.action, len(rs))
		}
		r := rs[0]
		b, _ := json.Marshal(r)
		if (r.Request.Withheld == "") != tt.req || (r.Response.Withheld == "") != tt.respOK {
			t.Fatalf("%s: request withheld %q, response withheld %q", tt.action, r.Request.Withheld, r.Response.Withheld)
		}
		if !tt.req && (strings.Contains(string(b), "hunter2") || r.Request.Size == 0 || r.Request.SHA256 != "") {
			t.Fatalf("%s: %s", tt.action, b)
		}
		if !tt.respOK && (r.Response.Data != nil || r.Response.SHA256 != "") {
			t.Fatalf("%s response: %+v", tt.action, r.Response)
		}
	}
}

func TestHoldLastByteReleasesTheEndAfterFinal(t *testing.T) {
	for _, size := range []int{1, 2, 3, 100, 70000} {
		for _, bufSize := range []int{1, 2, 7, 32 << 10} {
			body := strings.Repeat("x", size-1) + "!"
			finalRan := false
			h := &holdLastByte{ReadCloser: io.NopCloser(strings.NewReader(body)), call: &Call{}, tap: newCapture(16),
				final: func() *Error { finalRan = true; return nil }}
			var got []byte
			buf := make([]byte, bufSize)
			for {
				n, err := h.Read(buf)
				got = append(got, buf[:n]...)
				if len(got) == size && !finalRan {
					t.Fatalf("size %d buf %d: the last byte went before final ran", size, bufSize)
				}
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if string(got) != body || h.tap.size() != int64(size) {
				t.Fatalf("size %d buf %d: got %d bytes, tapped %d", size, bufSize, len(got), h.tap.size())
			}
		}
	}
	// A body of unknown length: every byte at once, final at the end.
	finalRan := false
	h0 := &holdLastByte{ReadCloser: io.NopCloser(strings.NewReader("event")), call: &Call{}, tap: newCapture(16), noHold: true,
		final: func() *Error { finalRan = true; return nil }}
	buf := make([]byte, 64)
	if n, _ := h0.Read(buf); n != 5 || finalRan {
		t.Fatalf("unknown length: first read gave %d bytes (final ran %v)", n, finalRan)
	}
	if _, err := h0.Read(buf); err != io.EOF || !finalRan {
		t.Fatalf("unknown length: end %v, final ran %v", err, finalRan)
	}
	// final failing: everything but the last byte, then its error.
	h := &holdLastByte{ReadCloser: io.NopCloser(strings.NewReader("abc")), call: &Call{}, tap: newCapture(16),
		final: func() *Error { return refuse(503, "ServiceUnavailable", "x", nil) }}
	got, err := io.ReadAll(h)
	if string(got) != "ab" || err == nil {
		t.Fatalf("got %q, %v", got, err)
	}
}

// blockingRecorder holds every completion until released, or fails it.
type blockingRecorder struct {
	*recorder.Store
	release chan struct{}
	fail    bool
}

func (b *blockingRecorder) CompleteIntent(ctx context.Context, intent *recorder.Record, fill func(*recorder.Record)) error {
	<-b.release
	if b.fail {
		return recorder.ErrUnavailable
	}
	return b.Store.CompleteIntent(ctx, intent, fill)
}

// The agent cannot have the whole response before the call's completion is
// committed; when it cannot be committed, the agent gets no complete answer.
func TestResponseEndsOnlyAfterCompletionCommits(t *testing.T) {
	for _, fail := range []bool{false, true} {
		st, err := recorder.Open(recorder.Options{Dir: t.TempDir(), MemTableSize: 4 << 20})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		br := &blockingRecorder{Store: st, release: make(chan struct{}), fail: fail}
		l, up, creds := newAuthnLab(t, func(o *Options) { o.Recorder = br })
		req, _ := http.NewRequest("PUT", "https://s3.amazonaws.com/bucket/k", strings.NewReader("x"))
		sign(t, req, creds, "", "s3", hashOf("x"))
		type result struct {
			body []byte
			err  error
		}
		done := make(chan result, 1)
		go func() {
			resp, err := l.client(t, "s3.amazonaws.com").Do(req)
			if err != nil {
				done <- result{nil, err}
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			done <- result{b, err}
		}()
		select {
		case r := <-done:
			t.Fatalf("fail=%v: the agent had its answer (%q, %v) before the completion committed", fail, r.body, r.err)
		case <-time.After(300 * time.Millisecond):
		}
		if len(up.requests()) != 1 {
			t.Fatalf("the upstream saw %d requests", len(up.requests()))
		}
		close(br.release)
		r := <-done
		switch {
		case !fail && (r.err != nil || string(r.body) != "ok"):
			t.Fatalf("after the commit: %q %v", r.body, r.err)
		case fail && r.err == nil && string(r.body) == "ok":
			t.Fatalf("the agent got a complete answer whose outcome was not recorded")
		}
		l.waitLog(`"msg":"request"`)
	}
}

// Connections that never carry a request through the chain get a record:
// one spliced (passthrough allow), one refused (not TLS).
func TestSplicedAndRefusedConnectionsRecorded(t *testing.T) {
	st, err := recorder.Open(recorder.Options{Dir: t.TempDir(), MemTableSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l := newLabWith(t, []string{"example.org"}, func(c *Config) { c.Passthrough = PassthroughAllow }, nil, nil,
		func(o *Options) { o.Recorder = st })
	c := l.dialTransparent(t)
	tc := tls.Client(c, &tls.Config{ServerName: "example.org", InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	tc.Close()
	bad := l.dialTransparent(t)
	bad.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	io.Copy(io.Discard, bad)
	bad.Close()
	l.waitLog(`"verdict":"spliced"`)
	l.waitLog(`"verdict":"refused"`)
	var spliced, refused *recorder.Record
	for i := 0; i < 50 && (spliced == nil || refused == nil); i++ {
		time.Sleep(20 * time.Millisecond)
		for _, r := range records(t, st, recorder.Query{Limit: -1}) {
			switch {
			case r.Kind == "connection" && r.Verdict == "spliced":
				spliced = r
			case r.Kind == "connection" && r.Verdict == "refused":
				refused = r
			}
		}
	}
	if spliced == nil || spliced.SNI != "example.org" || !spliced.Complete || spliced.Identity.SourceAddr == "" {
		t.Fatalf("spliced connection: %+v", spliced)
	}
	if refused == nil || refused.ErrorCode != "ConnectionRefused" || refused.Response.Headers["X-Gatehouse-Stage"][0] != "client hello" {
		t.Fatalf("refused connection: %+v", refused)
	}
}
