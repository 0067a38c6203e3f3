package export

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/recorder"
)

var updateHAR = flag.Bool("update-har", false, "rewrite testdata/har-calls.har from HAR's output")

// callsT0 is when the test calls start.
var callsT0 = time.Date(2026, 3, 14, 9, 26, 53, 589_000_000, time.UTC)

func callAt(ms int) time.Time { return callsT0.Add(time.Duration(ms) * time.Millisecond) }

func sha256Hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// body is a whole recorded body.
func wholeBody(h map[string][]string, data []byte) recorder.Body {
	return recorder.Body{Headers: h, Data: data, Size: int64(len(data)), SHA256: sha256Hex(data)}
}

// capped is a body the recorder capped at its first n bytes.
func cappedBody(h map[string][]string, whole []byte, n int) recorder.Body {
	return recorder.Body{Headers: h, Data: whole[:n], Truncated: true, Size: int64(len(whole)), SHA256: sha256Hex(whole)}
}

var (
	binaryBody = func() []byte {
		b := make([]byte, 3000) // more than one segment
		for i := range b {
			b[i] = byte(i * 7)
		}
		return b
	}()
	bigObject = bytes.Repeat([]byte("gatehouse records every call. "), 40000) // 1.2 MB
	bigUpload = bytes.Repeat([]byte{0xff, 0x00, 0xfe}, 700000)
)

// testRecords are the calls every export test writes: two agents' sessions
// interleaved in time, a session whose last call never completed, and a
// connection refused before any request.
func testRecords() []*recorder.Record {
	alice := recorder.Identity{Issuer: "https://oidc.lab.gatehouse.test", Subject: "agent-alice", Source: "oidc", Groups: []string{"agents"}, SourceAddr: "10.77.1.2:40112"}
	bob := recorder.Identity{Issuer: "https://oidc.lab.gatehouse.test", Subject: "agent-bob", Source: "oidc", SourceAddr: "gh-agent-bob"} // not ip:port
	allow := recorder.Decision{Effect: "allow", Rule: "agents-read"}
	return []*recorder.Record{
		{
			ID: "c-get-json", Session: "s-alice", Kind: "call", Seq: 1, Complete: true,
			Start: callAt(0), UpstreamFirstByte: callAt(42), End: callAt(45),
			Identity: alice, Mode: "transparent", SNI: "lambda.us-east-1.amazonaws.com", Dst: "10.77.2.2:443",
			Service: "lambda", Region: "us-east-1", Method: "GET", Host: "lambda.us-east-1.amazonaws.com",
			Path: "/2015-03-31/functions/?MaxItems=10&Marker=a%2Fb", Operation: "ListFunctions", Action: "lambda:ListFunctions",
			Resources: []string{"*"}, Decision: allow, Verdict: "forwarded", UpstreamRequestID: "req-1", Status: 200,
			Request: wholeBody(map[string][]string{"User-Agent": {"aws-sdk-go-v2/1.48.0"}, "X-Amz-Date": {"20260314T092653Z"}}, nil),
			Response: wholeBody(map[string][]string{"Content-Type": {"application/json"}, "X-Amzn-Requestid": {"req-1"}},
				[]byte(`{"Functions":[{"FunctionName":"résumé"}],"NextMarker":null}`)),
			Hash: "h1",
		},
		{
			ID: "c-truncated-get", Session: "s-bob", Kind: "call", Seq: 2, Complete: true,
			Start: callAt(10), UpstreamFirstByte: callAt(60), End: callAt(900),
			Identity: bob, Mode: "proxy", SNI: "data.s3.us-east-1.amazonaws.com",
			Service: "s3", Region: "us-east-1", Method: "GET", Host: "data.s3.us-east-1.amazonaws.com",
			Path: "/reports/2026.txt", Operation: "GetObject", Action: "s3:GetObject",
			Resources: []string{"arn:aws:s3:::data/reports/2026.txt"}, Decision: allow, Verdict: "forwarded", UpstreamRequestID: "req-2", Status: 200,
			Request: wholeBody(map[string][]string{"Accept-Encoding": {"identity"}}, nil),
			Response: cappedBody(map[string][]string{"Content-Type": {"text/plain"}, "Content-Length": {"1200000"}, "Etag": {`"abc"`}},
				bigObject, 4096),
			Hash: "h2",
		},
		{
			ID: "c-put-binary", Session: "s-alice", Kind: "call", Seq: 3, Complete: true,
			Start: callAt(100), UpstreamFirstByte: callAt(130), End: callAt(131),
			Identity: alice, Mode: "transparent", SNI: "data.s3.us-east-1.amazonaws.com", Dst: "10.77.2.2:443",
			Service: "s3", Region: "us-east-1", Method: "PUT", Host: "data.s3.us-east-1.amazonaws.com",
			Path: "/blobs/k%20ey.bin", Operation: "PutObject", Action: "s3:PutObject",
			Resources: []string{"arn:aws:s3:::data/blobs/k ey.bin"}, Decision: allow, Verdict: "forwarded", UpstreamRequestID: "req-3", Status: 200,
			Request: wholeBody(map[string][]string{"Content-Type": {"application/octet-stream"}, "Content-Length": {"3000"},
				"Expect": {"100-continue"}}, binaryBody),
			Response: wholeBody(map[string][]string{"Etag": {`"d41d8"`}, "Content-Length": {"0"}}, nil),
			Hash:     "h3",
		},
		{
			ID: "c-head", Session: "s-alice", Kind: "call", Seq: 4, Complete: true,
			Start: callAt(200), UpstreamFirstByte: callAt(210), End: callAt(210),
			Identity: alice, Dst: "10.77.2.2:443",
			Service: "s3", Region: "us-east-1", Method: "HEAD", Host: "data.s3.us-east-1.amazonaws.com",
			Path: "/blobs/k%20ey.bin", Operation: "HeadObject", Action: "s3:GetObject", Decision: allow, Verdict: "forwarded", Status: 200,
			Response: wholeBody(map[string][]string{"Content-Length": {"3000"}, "Content-Type": {"application/octet-stream"}}, nil),
			Hash:     "h4",
		},
		{
			ID: "c-refused", Session: "s-bob", Kind: "call", Seq: 5, Complete: true,
			Start: callAt(1000), End: callAt(1001),
			Identity: bob, Mode: "proxy", SNI: "data.s3.us-east-1.amazonaws.com",
			Service: "s3", Region: "us-east-1", Method: "DELETE", Host: "data.s3.us-east-1.amazonaws.com",
			Path: "/reports/2026.txt", Operation: "DeleteObject", Action: "s3:DeleteObject",
			Resources: []string{"arn:aws:s3:::data/reports/2026.txt"},
			Decision:  recorder.Decision{Effect: "deny", Rule: "no-deletes"}, Verdict: "refused", Status: 403, ErrorCode: "AccessDenied",
			Response: wholeBody(map[string][]string{"Content-Type": {"application/xml"}},
				[]byte(`<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<Error><Code>AccessDenied</Code><Message>denied by rule no-deletes &amp; recorded as c-refused</Message><RequestId>c-refused</RequestId></Error>`)),
			Hash: "h5",
		},
		{
			ID: "c-truncated-put", Session: "s-bob", Kind: "call", Seq: 6, Complete: true,
			Start: callAt(1100), UpstreamFirstByte: callAt(1500), End: callAt(1510),
			Identity: bob, Mode: "proxy", SNI: "data.s3.us-east-1.amazonaws.com",
			Service: "s3", Region: "us-east-1", Method: "PUT", Host: "data.s3.us-east-1.amazonaws.com",
			Path: "/uploads/big.bin", Operation: "PutObject", Action: "s3:PutObject",
			Resources: []string{"arn:aws:s3:::data/uploads/big.bin"}, Decision: allow, Verdict: "forwarded", Status: 200,
			Request:  cappedBody(map[string][]string{"Content-Type": {"application/octet-stream"}, "Content-Length": {"2100000"}}, bigUpload, 2048),
			Response: wholeBody(map[string][]string{"Etag": {`"e1"`}}, nil),
			Hash:     "h6",
		},
		{
			ID: "c-connection", Session: "s-carol", Kind: "connection", Seq: 7, Complete: true,
			Start: callAt(1200), End: callAt(1201),
			Identity: recorder.Identity{SourceAddr: "10.77.1.9:51000"}, Mode: "transparent", SNI: "evil.example", Dst: "10.77.2.3:443",
			Verdict: "refused", Hash: "h7",
		},
		{
			ID: "c-incomplete", Session: "s-alice", Kind: "call", Seq: 8,
			Start:    callAt(1300),
			Identity: alice, Dst: "10.77.2.2:443",
			Service: "sqs", Region: "us-east-1", Method: "POST", Host: "sqs.us-east-1.amazonaws.com",
			Path: "/", Operation: "SendMessage", Action: "sqs:SendMessage",
			Resources: []string{"arn:aws:sqs:us-east-1:123456789012:jobs"}, Decision: allow,
			Request: wholeBody(map[string][]string{"Content-Type": {"application/x-amz-json-1.0"}, "X-Amz-Target": {"AmazonSQS.SendMessage"}},
				[]byte(`{"QueueUrl":"https://sqs.us-east-1.amazonaws.com/123456789012/jobs","MessageBody":"hi"}`)),
			Hash: "h8",
		},
	}
}

// harDoc is what the tests read back of a HAR file.
type harDoc struct {
	Log struct {
		Version string
		Creator harCreator
		Comment string
		Entries []struct {
			harEntry
			Gatehouse harGatehouse `json:"_gatehouse"`
		}
	}
}

func writeHAR(t *testing.T, recs []*recorder.Record) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := HAR(&b, recs, "v0.4.0-test"); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestHARGolden(t *testing.T) {
	got := writeHAR(t, testRecords())
	golden := filepath.Join("testdata", "har-calls.har")
	if *updateHAR {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test -run TestHARGolden -update-har writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("HAR differs from %s (go test -run TestHARGolden -update-har rewrites it); got:\n%s", golden, got)
	}
}

func TestHAREntries(t *testing.T) {
	var doc harDoc
	if err := json.Unmarshal(writeHAR(t, testRecords()), &doc); err != nil {
		t.Fatalf("HAR is not JSON: %v", err)
	}
	l := doc.Log
	if l.Version != "1.2" || l.Creator != (harCreator{Name: "gatehouse", Version: "v0.4.0-test"}) {
		t.Errorf("version %q creator %+v", l.Version, l.Creator)
	}
	var ids []string
	for _, e := range l.Entries {
		ids = append(ids, e.Gatehouse.ID)
	}
	if got, want := strings.Join(ids, " "), "c-get-json c-truncated-get c-put-binary c-head c-refused c-truncated-put c-incomplete"; got != want {
		t.Fatalf("entries %s, want %s (in the order given, the connection left out)", got, want)
	}
	if !strings.Contains(l.Comment, "c-connection") {
		t.Errorf("log comment %q does not name the connection record left out", l.Comment)
	}
	e := map[string]int{}
	for i, id := range ids {
		e[id] = i
	}

	t.Run("request line, query and Host", func(t *testing.T) {
		g := l.Entries[e["c-get-json"]]
		if g.Request.Method != "GET" || g.Request.URL != "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/?MaxItems=10&Marker=a%2Fb" {
			t.Errorf("request %s %s", g.Request.Method, g.Request.URL)
		}
		if q := g.Request.QueryString; len(q) != 2 || q[0] != (harNV{"MaxItems", "10"}) || q[1] != (harNV{"Marker", "a/b"}) {
			t.Errorf("queryString %+v", q)
		}
		if h := g.Request.Headers; len(h) == 0 || h[0] != (harNV{"Host", "lambda.us-east-1.amazonaws.com"}) {
			t.Errorf("headers %+v, want Host first", h)
		}
		if g.Request.PostData != nil {
			t.Errorf("a GET without a body has postData %+v", g.Request.PostData)
		}
		if g.Connection != "s-alice" || g.ServerIPAddress != "10.77.2.2" {
			t.Errorf("connection %q serverIPAddress %q", g.Connection, g.ServerIPAddress)
		}
	})
	t.Run("JSON response as text", func(t *testing.T) {
		g := l.Entries[e["c-get-json"]]
		c := g.Response.Content
		if g.Response.Status != 200 || g.Response.StatusText != "OK" || c.MimeType != "application/json" || c.Encoding != "" ||
			c.Text != `{"Functions":[{"FunctionName":"résumé"}],"NextMarker":null}` || c.Size != int64(len(c.Text)) {
			t.Errorf("response %+v", g.Response)
		}
	})
	t.Run("timings", func(t *testing.T) {
		g := l.Entries[e["c-get-json"]]
		want := harTimings{Blocked: -1, DNS: -1, Connect: -1, SSL: -1, Send: 0, Wait: 42, Receive: 3}
		if g.Timings != want || g.Time != 45 || g.StartedDateTime != "2026-03-14T09:26:53.589Z" {
			t.Errorf("started %s time %v timings %+v, want %+v", g.StartedDateTime, g.Time, g.Timings, want)
		}
		r := l.Entries[e["c-refused"]] // no upstream: all wait
		if r.Timings.Wait != 1 || r.Timings.Receive != 0 || r.Time != 1 {
			t.Errorf("refused: time %v timings %+v", r.Time, r.Timings)
		}
	})
	t.Run("binary body as base64", func(t *testing.T) {
		p := l.Entries[e["c-put-binary"]].Request
		if p.PostData == nil {
			t.Fatal("no postData")
		}
		got, err := base64.StdEncoding.DecodeString(p.PostData.Text)
		if err != nil || !bytes.Equal(got, binaryBody) || p.PostData.Encoding != "base64" || p.BodySize != 3000 ||
			p.PostData.MimeType != "application/octet-stream" || p.PostData.Comment != "" {
			t.Errorf("postData %+v bodySize %d (decoded: %v)", p.PostData, p.BodySize, err)
		}
	})
	t.Run("truncated bodies keep their whole size", func(t *testing.T) {
		c := l.Entries[e["c-truncated-get"]].Response
		if c.Content.Size != int64(len(bigObject)) || c.BodySize != int64(len(bigObject)) ||
			c.Content.Text != string(bigObject[:4096]) || !strings.Contains(c.Content.Comment, "4096 of 1200000 bytes") ||
			!strings.Contains(c.Content.Comment, sha256Hex(bigObject)) {
			t.Errorf("content size %d bodySize %d text %d bytes comment %q", c.Content.Size, c.BodySize, len(c.Content.Text), c.Content.Comment)
		}
		p := l.Entries[e["c-truncated-put"]].Request
		if p.BodySize != int64(len(bigUpload)) || p.PostData == nil || !strings.Contains(p.PostData.Comment, "2048 of 2100000 bytes") {
			t.Errorf("request bodySize %d postData %+v", p.BodySize, p.PostData)
		}
	})
	t.Run("refused call has the gateway's error", func(t *testing.T) {
		g := l.Entries[e["c-refused"]]
		if g.Response.Status != 403 || !strings.Contains(g.Response.Content.Text, "<Code>AccessDenied</Code>") ||
			g.Gatehouse.Decision.Rule != "no-deletes" || g.Gatehouse.Verdict != "refused" || g.Gatehouse.ErrorCode != "AccessDenied" {
			t.Errorf("response %+v gatehouse %+v", g.Response, g.Gatehouse)
		}
	})
	t.Run("incomplete call has status 0", func(t *testing.T) {
		g := l.Entries[e["c-incomplete"]]
		if g.Response.Status != 0 || g.Response.HTTPVersion != "" || g.Time != 0 || g.Timings.Wait != 0 || g.Comment == "" || g.Gatehouse.Complete {
			t.Errorf("entry %+v", g)
		}
		if g.Request.PostData == nil || !strings.Contains(g.Request.PostData.Text, `"MessageBody":"hi"`) {
			t.Errorf("postData %+v", g.Request.PostData)
		}
	})
	t.Run("_gatehouse", func(t *testing.T) {
		g := l.Entries[e["c-get-json"]].Gatehouse
		if g.ID != "c-get-json" || g.Seq != 1 || g.Identity.Subject != "agent-alice" || g.Action != "lambda:ListFunctions" ||
			len(g.Resources) != 1 || g.Decision.Effect != "allow" || g.UpstreamRequestID != "req-1" || g.Hash != "h1" {
			t.Errorf("_gatehouse %+v", g)
		}
	})
}

func TestHARNilRecord(t *testing.T) {
	if err := HAR(&bytes.Buffer{}, []*recorder.Record{nil}, "v"); err == nil {
		t.Error("HAR accepted a nil record")
	}
}

func TestHAREmpty(t *testing.T) {
	var doc struct {
		Log struct{ Entries []any }
	}
	got := writeHAR(t, nil)
	if err := json.Unmarshal(got, &doc); err != nil || doc.Log.Entries == nil {
		t.Errorf("no records: want an empty entries array, got (%v)\n%s", err, got)
	}
}

// TestHARValidates checks the export against the HAR 1.2 JSON schema with
// har-validator (e2e/clients/js, installed by deploy/lab/prereqs.sh).
func TestHARValidates(t *testing.T) {
	js, _ := filepath.Abs(filepath.Join("..", "..", "e2e", "clients", "js"))
	_, err := exec.LookPath("node")
	_, err2 := os.Stat(filepath.Join(js, "node_modules", "har-validator"))
	requireTool(t, "node and e2e/clients/js/node_modules/har-validator", err == nil && err2 == nil)

	f := filepath.Join(t.TempDir(), "calls.har")
	if err := os.WriteFile(f, writeHAR(t, testRecords()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("node", filepath.Join(js, "har-validate.mjs"), f).CombinedOutput()
	if err != nil {
		t.Fatalf("har-validator: %v\n%s", err, out)
	}
	// The validator itself must reject: a HAR without entries' required fields.
	bad := filepath.Join(t.TempDir(), "bad.har")
	if err := os.WriteFile(bad, []byte(`{"log":{"version":"1.2","creator":{"name":"x","version":"1"},"entries":[{"time":0}]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("node", filepath.Join(js, "har-validate.mjs"), bad).CombinedOutput(); err == nil {
		t.Fatalf("har-validator accepted an invalid HAR:\n%s", out)
	}
}

// requireTool skips a test whose external tool is missing, or fails it
// when GATEHOUSE_REQUIRE_TOOLS=1 (make unit sets it: there the tools are
// prerequisites, not options).
func requireTool(t *testing.T, what string, present bool) {
	t.Helper()
	if present {
		return
	}
	if os.Getenv("GATEHOUSE_REQUIRE_TOOLS") == "1" {
		t.Fatalf("%s missing and GATEHOUSE_REQUIRE_TOOLS=1 (deploy/lab/prereqs.sh installs it)", what)
	}
	t.Skipf("%s missing (deploy/lab/prereqs.sh installs it; GATEHOUSE_REQUIRE_TOOLS=1 makes this a failure)", what)
}
