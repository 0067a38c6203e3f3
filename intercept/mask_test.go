package intercept

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/policy"
	"github.com/gatehouse/gatehouse/recorder"
)

// The lab's canaries: none may reach the agent or the record where a
// profile masks them.
const (
	canarySecret = "canary-secret-7f3a9c"
	canarySSN    = "078-05-1120"
	canaryEmail  = "canary.person@example.org"
	canaryCard   = "4111111111111111"
)

const maskPolicy = `
version: 1
default: allow
rules:
  - id: raw-kms
    effect: allow
    actions: ["kms:*"]
    mask: none
  - id: ddb
    effect: allow
    actions: ["dynamodb:*"]
    mask: pii
  - id: plain-objects
    effect: allow
    actions: ["s3:GetObject"]
    resources: ["arn:aws:s3:::plain/*"]
  - id: objects
    effect: allow
    actions: ["s3:*"]
    mask: pii
masks:
  pii:
    detectors: [email, card]
    replace:
      card: {keep_last: 4}
    fields:
      - name: customer-ssn
        actions: ["dynamodb:GetItem", "dynamodb:PutItem"]
        paths: ["Item.ssn"]
`

// maskLab is a gateway recording into a store, deciding with maskPolicy,
// in front of an upstream that answers with serve.
func maskLab(t *testing.T, serve http.HandlerFunc, mutate func(*Config)) (*lab, *recorder.Store) {
	t.Helper()
	st, err := recorder.Open(recorder.Options{Dir: t.TempDir(), MemTableSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	p, err := policy.Parse("mask.yaml", []byte(maskPolicy))
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"s3.amazonaws.com", "dynamodb.us-east-1.amazonaws.com", "secretsmanager.us-east-1.amazonaws.com", "kms.us-east-1.amazonaws.com", "lambda.us-east-1.amazonaws.com"}
	l := newLabWith(t, names, mutate, nil, serve, func(o *Options) { o.Recorder = st; o.Policy = p })
	return l, st
}

func jsonCall(t *testing.T, l *lab, host, target, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", "https://"+host+"/", strings.NewReader(body))
	req.Header.Set("X-Amz-Target", target)
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return do(t, l, host, req)
}

func do(t *testing.T, l *lab, host string, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := l.client(t, host).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// onlyRecord is the one record of action, complete.
func onlyRecord(t *testing.T, l *lab, st *recorder.Store, action string) *recorder.Record {
	t.Helper()
	l.waitLog(`"action":"` + action + `"`)
	rs := records(t, st, recorder.Query{Action: action})
	if len(rs) != 1 || !rs[0].Complete {
		t.Fatalf("%s: %d records (%+v)", action, len(rs), rs)
	}
	return rs[0]
}

func noCanaries(t *testing.T, what string, b []byte) {
	t.Helper()
	for _, c := range []string{canarySecret, canarySSN, canaryEmail, canaryCard} {
		for _, form := range encodedForms(c) {
			if bytes.Contains(b, []byte(form)) {
				t.Errorf("%s holds the canary %q (as %q):\n%s", what, c, form, b)
			}
		}
	}
}

// encodedForms are s and what its bytes look like in base64 (a record's
// bodies in JSON) at each of the three alignments it can start at: the
// characters that depend on s's bytes alone.
func encodedForms(s string) []string {
	forms := []string{s}
	for k := range 3 {
		enc := base64.StdEncoding.EncodeToString(append(make([]byte, k), s...))
		start := (k*8 + 5) / 6
		end := (k + len(s)) * 8 / 6
		forms = append(forms, enc[start:end])
	}
	return forms
}

func TestSecretValueMaskedByDefault(t *testing.T) {
	doc := `{"ARN":"arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf","Name":"db","SecretString":"` + canarySecret + `","VersionId":"v1"}`
	l, st := maskLab(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("Content-Length", strconv.Itoa(len(doc)))
		io.WriteString(w, doc)
	}, nil)
	resp, body := jsonCall(t, l, "secretsmanager.us-east-1.amazonaws.com", "secretsmanager.GetSecretValue", `{"SecretId":"db"}`)
	want := strings.Replace(doc, canarySecret, "****", 1)
	if resp.StatusCode != 200 || string(body) != want || resp.ContentLength != int64(len(want)) {
		t.Fatalf("%d %q (length %d), want %q", resp.StatusCode, body, resp.ContentLength, want)
	}
	r := onlyRecord(t, l, st, "secretsmanager:GetSecretValue")
	if string(r.Response.Data) != want || r.Response.Masked["secret-value"] != 1 || r.Response.Withheld != "" {
		t.Fatalf("record's response: %+v", r.Response)
	}
	rb, _ := json.Marshal(r)
	noCanaries(t, "the record", rb)
	logs := l.waitLog(`"masked":1`)
	if !strings.Contains(logs, `"masked_by":"secret-value"`) {
		t.Errorf("log line lacks what masked: %s", logs)
	}
	noCanaries(t, "the log", []byte(logs))
}

func TestDynamoDBItemMaskedWithItsCRC32(t *testing.T) {
	doc := `{"Item":{"id":{"S":"1"},"ssn":{"S":"` + canarySSN + `"},"contact":{"M":{"email":{"S":"` + canaryEmail + `"}}},"n":{"N":"5"}}}`
	var gotPut []byte
	l, st := maskLab(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") == "DynamoDB_20120810.PutItem" {
			gotPut, _ = io.ReadAll(r.Body)
			io.WriteString(w, `{}`)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(doc))), 10))
		io.WriteString(w, doc)
	}, nil)
	resp, body := jsonCall(t, l, "dynamodb.us-east-1.amazonaws.com", "DynamoDB_20120810.GetItem", `{"TableName":"People","Key":{"id":{"S":"1"}}}`)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	noCanaries(t, "the agent's item", body)
	if crc := strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10); resp.Header.Get("X-Amz-Crc32") != crc {
		t.Fatalf("X-Amz-Crc32 %s, the body's is %s", resp.Header.Get("X-Amz-Crc32"), crc)
	}
	var item struct{ Item map[string]map[string]any }
	if err := json.Unmarshal(body, &item); err != nil || item.Item["ssn"]["S"] != "****" || item.Item["n"]["N"] != "5" || item.Item["id"]["S"] != "1" {
		t.Fatalf("item %s (%v)", body, err)
	}

	// The request is masked in the record only: upstream gets it whole.
	put := `{"TableName":"People","Item":{"id":{"S":"2"},"ssn":{"S":"` + canarySSN + `"},"note":{"S":"card ` + canaryCard + `"}}}`
	if resp, body := jsonCall(t, l, "dynamodb.us-east-1.amazonaws.com", "DynamoDB_20120810.PutItem", put); resp.StatusCode != 200 {
		t.Fatalf("PutItem: %d %s", resp.StatusCode, body)
	}
	if string(gotPut) != put {
		t.Fatalf("upstream got %s, want the request as sent", gotPut)
	}
	r := onlyRecord(t, l, st, "dynamodb:PutItem")
	if r.Request.Masked["customer-ssn"] != 1 || r.Request.Masked["card"] != 1 || r.Request.SHA256 != "" || !strings.Contains(string(r.Request.Data), `"note":{"S":"card ****1111"}`) {
		t.Fatalf("record's request: %+v %s", r.Request, r.Request.Data)
	}
	for _, a := range []string{"dynamodb:GetItem", "dynamodb:PutItem"} {
		rb, _ := json.Marshal(onlyRecord(t, l, st, a))
		noCanaries(t, "the record of "+a, rb)
	}
}

func TestGzipDocumentMaskedAndRecoded(t *testing.T) {
	doc := `{"SecretString":"` + canarySecret + `"}`
	l, _ := maskLab(t, func(w http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		io.WriteString(zw, doc)
		zw.Close()
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
		w.Write(b.Bytes())
	}, nil)
	resp, body := jsonCall(t, l, "secretsmanager.us-east-1.amazonaws.com", "secretsmanager.GetSecretValue", `{"SecretId":"db"}`, "Accept-Encoding", "gzip")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" || resp.ContentLength != int64(len(body)) {
		t.Fatalf("%d %v %q", resp.StatusCode, resp.Header, body)
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil || string(plain) != `{"SecretString":"****"}` {
		t.Fatalf("decoded %q (%v)", plain, err)
	}
}

func TestTextObjectMaskedAsItStreams(t *testing.T) {
	var text strings.Builder
	for i := range 5000 { // 300 KB: many reads, matches across their edges
		text.WriteString("line " + strconv.Itoa(i) + " mail " + canaryEmail + " paid with " + canaryCard + "; ok\n")
	}
	obj := text.String()
	l, st := maskLab(t, func(w http.ResponseWriter, r *http.Request) {
		ct := "text/plain; charset=utf-8"
		if strings.HasSuffix(r.URL.Path, ".bin") {
			ct = "application/octet-stream"
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Content-Length", strconv.Itoa(len(obj)))
		w.Header().Set("X-Amz-Checksum-Crc32", "AAAAAA==")
		w.Header().Set("ETag", `"0123456789abcdef0123456789abcdef"`)
		io.WriteString(w, obj)
	}, nil)
	req, _ := http.NewRequest("GET", "https://s3.amazonaws.com/bucket/people.txt", nil)
	resp, body := do(t, l, "s3.amazonaws.com", req)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	noCanaries(t, "the agent's object", body)
	if n := strings.Count(string(body), "paid with ****1111; ok\n"); n != 5000 {
		t.Fatalf("%d masked lines of 5000:\n%.300s", n, body)
	}
	if resp.Header.Get("X-Amz-Checksum-Crc32") != "" || resp.ContentLength != -1 {
		t.Fatalf("headers of a masked object: length %d, %v", resp.ContentLength, resp.Header)
	}
	r := onlyRecord(t, l, st, "s3:GetObject")
	if r.Response.Masked["email"] != 5000 || r.Response.Masked["card"] != 5000 || !bytes.HasPrefix(body, r.Response.Data) {
		t.Fatalf("record's response: masked %v, data %.200s", r.Response.Masked, r.Response.Data)
	}

	// Binary objects pass as they are, checksums and all, and so do
	// objects under the built-in profile (no rule names one).
	for _, path := range []string{"/bucket/people.bin", "/plain/people.txt"} {
		req, _ = http.NewRequest("GET", "https://s3.amazonaws.com"+path, nil)
		resp, body = do(t, l, "s3.amazonaws.com", req)
		if string(body) != obj || resp.Header.Get("X-Amz-Checksum-Crc32") == "" || resp.ContentLength != int64(len(obj)) {
			t.Fatalf("%s changed: %d bytes, %v", path, len(body), resp.Header)
		}
	}
}

// What must be masked and cannot be is withheld: the agent gets
// AccessDenied saying why, and the record says the call was refused.
func TestUnmaskableResponsesWithheld(t *testing.T) {
	for _, tc := range []struct {
		name     string
		host     string
		target   string // JSON call; "" for an S3 GET
		serve    func(w http.ResponseWriter)
		mutate   func(*Config)
		wantWhy  string
		wantCode int
	}{
		{"malformed JSON under a field rule", "secretsmanager.us-east-1.amazonaws.com", "secretsmanager.GetSecretValue", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			io.WriteString(w, `{"SecretString":"`+canarySecret)
		}, nil, "is not valid JSON", 403},
		{"over the cap", "dynamodb.us-east-1.amazonaws.com", "DynamoDB_20120810.GetItem", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			io.WriteString(w, `{"Item":{"ssn":{"S":"`+canarySSN+`"},"pad":{"S":"`+strings.Repeat("x", 4096)+`"}}}`)
		}, func(c *Config) { c.MaskCap = 1024 }, "over the 1024-byte cap", 403},
		{"unsupported encoding", "secretsmanager.us-east-1.amazonaws.com", "secretsmanager.GetSecretValue", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			w.Header().Set("Content-Encoding", "br")
			io.WriteString(w, `{"SecretString":"`+canarySecret+`"}`)
		}, nil, `content encoding \"br\"`, 403},
		{"a range of a masked object", "s3.amazonaws.com", "", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Range", "bytes 0-99/1000")
			w.WriteHeader(http.StatusPartialContent)
			io.WriteString(w, canaryEmail)
		}, nil, "a byte range of it cannot be masked", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, st := maskLab(t, func(w http.ResponseWriter, r *http.Request) { tc.serve(w) }, tc.mutate)
			var resp *http.Response
			var body []byte
			action := "s3:GetObject"
			if tc.target != "" {
				resp, body = jsonCall(t, l, tc.host, tc.target, `{"SecretId":"db"}`, "Accept-Encoding", "br")
				action = map[string]string{"secretsmanager.GetSecretValue": "secretsmanager:GetSecretValue", "DynamoDB_20120810.GetItem": "dynamodb:GetItem"}[tc.target]
			} else {
				req, _ := http.NewRequest("GET", "https://s3.amazonaws.com/bucket/k.txt", nil)
				req.Header.Set("Range", "bytes=0-99")
				resp, body = do(t, l, tc.host, req)
			}
			if resp.StatusCode != tc.wantCode || !strings.Contains(string(body), "AccessDenied") || !strings.Contains(string(body), tc.wantWhy) {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			noCanaries(t, "the agent's error", body)
			r := onlyRecord(t, l, st, action)
			if r.Verdict != "refused" || r.ErrorCode != "AccessDenied" || r.UpstreamRequestID != "" && r.Status == 200 {
				t.Fatalf("record: verdict %q, code %q, status %d", r.Verdict, r.ErrorCode, r.Status)
			}
			rb, _ := json.Marshal(r)
			noCanaries(t, "the record", rb)
		})
	}
}

// A rule that names "none" turns masking off for its calls; secrets no
// field rule names stay out of the record.
func TestProfileNoneAndUnnamedSecrets(t *testing.T) {
	l, st := maskLab(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		io.WriteString(w, `{"Plaintext":"`+canarySecret+`"}`)
	}, nil)
	resp, body := jsonCall(t, l, "kms.us-east-1.amazonaws.com", "TrentService.Decrypt", `{"CiphertextBlob":"AQID"}`)
	if resp.StatusCode != 200 || !strings.Contains(string(body), canarySecret) {
		t.Fatalf("profile none: %d %s", resp.StatusCode, body)
	}
	r := onlyRecord(t, l, st, "kms:Decrypt")
	rb, _ := json.Marshal(r)
	if r.Response.Withheld == "" {
		t.Fatalf("KMS plaintext recorded: %s", rb)
	}
	noCanaries(t, "the record", rb)
}

// A document that does not parse is refused only when a field rule is
// written for its operation: a Lambda payload typed JSON that is not goes
// through the detectors as text, and an empty body passes.
func TestMalformedDocumentWithoutRulesForItsCall(t *testing.T) {
	payload := `hello, not JSON {"k": -----BEGIN PRIVATE KEY-----` + "\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
	l, _ := maskLab(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Has("empty") {
			return
		}
		io.WriteString(w, payload)
	}, nil)
	req, _ := http.NewRequest("POST", "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/f/invocations", strings.NewReader(`{}`))
	resp, body := do(t, l, "lambda.us-east-1.amazonaws.com", req)
	if resp.StatusCode != 200 || !strings.HasPrefix(string(body), `hello, not JSON {"k": ****`) || strings.Contains(string(body), "MIIE") {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	req, _ = http.NewRequest("POST", "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/f/invocations?empty", strings.NewReader(`{}`))
	if resp, body := do(t, l, "lambda.us-east-1.amazonaws.com", req); resp.StatusCode != 200 || len(body) != 0 {
		t.Fatalf("empty: %d %q", resp.StatusCode, body)
	}
}

// A call refused before it was decided (here, a forged signature) is
// recorded without the secret its body sets.
func TestRefusedBeforeDecisionKeepsNoSecret(t *testing.T) {
	st, err := recorder.Open(recorder.Options{Dir: t.TempDir(), MemTableSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l, _, creds := newAuthnLab(t, func(o *Options) { o.Recorder = st })
	body := `{"Name":"db","SecretString":"` + canarySecret + `"}`
	req, _ := http.NewRequest("POST", "https://secretsmanager.us-east-1.amazonaws.com/", strings.NewReader(body))
	req.Header.Set("X-Amz-Target", "secretsmanager.CreateSecret")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	sign(t, req, creds, "not-the-secret", "secretsmanager", hashOf(body))
	resp, _ := do(t, l, "secretsmanager.us-east-1.amazonaws.com", req)
	if resp.StatusCode != 403 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	l.waitLog(`"verdict":"refused"`)
	rs := records(t, st, recorder.Query{})
	if len(rs) != 1 {
		t.Fatalf("%d records", len(rs))
	}
	rb, _ := json.Marshal(rs[0])
	noCanaries(t, "the refused call's record", rb)
	if rs[0].Request.Withheld == "" {
		t.Errorf("request body kept: %s", rb)
	}
}
