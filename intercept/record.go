package intercept

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"hash"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/policy/mask"
	"github.com/gatehouse/gatehouse/recorder"
)

// Recorder is where the chain writes a record of every call and of every
// connection it refuses or splices: *recorder.Store.
//
// Intent is committed before a call leaves; an error refuses the call.
// CompleteIntent appends what came back to the intent the chain holds;
// Append records what never left.
type Recorder interface {
	Intent(ctx context.Context, r *recorder.Record) error
	CompleteIntent(ctx context.Context, intent *recorder.Record, fill func(*recorder.Record)) error
	Append(ctx context.Context, r *recorder.Record) error
}

// DefaultBodyCap is how much of each body a record keeps; its size and
// SHA-256 are always of the whole body.
const DefaultBodyCap = 64 << 10

// recordTimeout bounds a completion or an append after the agent's context
// may have ended.
const recordTimeout = 10 * time.Second

// capture keeps the first cap bytes of a body and hashes all of it. The
// transport may still write a request body while the handler completes the
// record (an upstream that answered early), hence the lock.
type capture struct {
	mu       sync.Mutex
	cap      int
	data     []byte
	h        hash.Hash
	n        int64
	withheld string // why the body is not kept (it carries secrets): its size only
}

func newCapture(limit int) *capture { return &capture{cap: limit, h: sha256.New()} }

func (c *capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += int64(len(p))
	if c.withheld != "" {
		return len(p), nil
	}
	c.h.Write(p)
	if room := c.cap - len(c.data); room > 0 {
		c.data = append(c.data, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// withhold drops what was captured and keeps counting bytes only.
func (c *capture) withhold(why string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.withheld, c.data = why, nil
	c.mu.Unlock()
}

func (c *capture) size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (c *capture) body(headers map[string][]string) recorder.Body {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := recorder.Body{Headers: headers, Size: c.n}
	if c.withheld != "" {
		b.Withheld = c.withheld
		return b
	}
	b.Data = bytes.Clone(c.data)
	b.Truncated = c.n > int64(len(c.data))
	b.SHA256 = hex.EncodeToString(c.h.Sum(nil))
	return b
}

// teeBody writes what the transport reads from the body to a capture.
type teeBody struct {
	io.ReadCloser
	w io.Writer
}

func (t teeBody) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if n > 0 {
		_, _ = t.w.Write(p[:n])
	}
	return n, err
}

// payloadTap is the request capture as an io.Writer, nil when calls are not
// recorded (a nil *capture in an interface would not be nil).
func (call *Call) payloadTap() io.Writer {
	if call.reqCap == nil {
		return nil
	}
	call.reqTapped = true
	return call.reqCap
}

// Operations whose bodies carry secrets in the clear. The record keeps
// their size only, unless a mask profile's field rules apply to the
// response (the built-in profile's do for most of these): then it keeps
// the response as masked for the agent. KMS's plaintexts reach agents
// unmasked by default (envelope encryption needs them) and are never
// recorded; request bodies that set a secret are never recorded.
var (
	secretResponses = map[string]bool{
		"secretsmanager:GetSecretValue": true, "secretsmanager:BatchGetSecretValue": true, "secretsmanager:GetRandomPassword": true,
		"ssm:GetParameter": true, "ssm:GetParameters": true, "ssm:GetParametersByPath": true, "ssm:GetParameterHistory": true,
		"kms:Decrypt": true, "kms:GenerateDataKey": true, "kms:GenerateDataKeyPair": true, "kms:GenerateRandom": true,
		"ecr:GetAuthorizationToken": true, "ecr-public:GetAuthorizationToken": true, "codeartifact:GetAuthorizationToken": true,
		"cognito-idp:InitiateAuth": true, "cognito-idp:AdminInitiateAuth": true, "cognito-idp:RespondToAuthChallenge": true,
		"cognito-idp:AdminRespondToAuthChallenge": true, "sso-oidc:CreateToken": true,
		"redshift:GetClusterCredentials": true, "redshift:GetClusterCredentialsWithIAM": true, "redshift-serverless:GetCredentials": true,
	}
	secretRequests = map[string]bool{
		"secretsmanager:CreateSecret": true, "secretsmanager:PutSecretValue": true, "secretsmanager:UpdateSecret": true,
		"ssm:PutParameter": true, "kms:Encrypt": true, "kms:ReEncrypt": true,
		"cognito-idp:InitiateAuth": true, "cognito-idp:AdminInitiateAuth": true, "cognito-idp:RespondToAuthChallenge": true,
		"cognito-idp:AdminRespondToAuthChallenge": true, "cognito-idp:SignUp": true, "cognito-idp:ChangePassword": true,
		"cognito-idp:AdminSetUserPassword": true, "cognito-idp:ConfirmForgotPassword": true,
	}
)

// withholdSecrets keeps the bodies of operations that carry secrets out of
// the call's record, unless masking covers them.
func withholdSecrets(call *Call, w *countingWriter) {
	withholdSecretsOf(call, w, call.Described.Action)
}

// withholdSecretsOf is withholdSecrets for the operation a.
func withholdSecretsOf(call *Call, w *countingWriter, a string) {
	if secretRequests[a] {
		call.reqCap.withhold("the request carries a secret (" + a + ")")
		call.reqSecret = true
	}
	if secretResponses[a] && !namesAction(call.masker, a) {
		w.capture.withhold("the response carries a secret (" + a + ") no mask profile field rule covers")
	}
}

// namesAction reports whether a field rule of m is for action by name
// (or its service's glob), not merely for every action ("*"): the rules
// written for an operation's secrets.
func namesAction(m *mask.Masker, action string) bool {
	if m == nil {
		return false
	}
	for _, r := range m.Fields {
		for _, a := range r.Actions {
			if a != "*" && (&mask.FieldRule{Actions: []string{a}}).Applies(action) {
				return true
			}
		}
	}
	return false
}

// maskRecorded masks a request body for the record (upstream got it
// intact) with the call's masker: as the document its protocol says when
// the record holds all of it, as text otherwise. A document under field
// rules that cannot be read is withheld. The hash of a body that had
// something masked is dropped: it would let anyone test guesses of what
// was masked.
func maskRecorded(b *recorder.Body, m *mask.Masker, contentType string) {
	if m == nil || m.Empty() || len(b.Data) == 0 || b.Withheld != "" {
		return
	}
	mediaType, _, _ := mime.ParseMediaType(contentType)
	data := b.Data
	var out []byte
	var rep mask.Report
	var err error
	switch {
	case !b.Truncated && strings.Contains(mediaType, "json"):
		out, rep, err = m.JSON(data)
	case !b.Truncated && strings.Contains(mediaType, "xml"):
		out, rep, err = m.XML(data)
	default:
		err = mask.ErrMalformed
	}
	if err != nil {
		if m.HasFields() && (strings.Contains(mediaType, "json") || strings.Contains(mediaType, "xml")) {
			*b = recorder.Body{Headers: b.Headers, Size: b.Size, Withheld: "the body could not be read to be masked"}
			return
		}
		if b.Truncated {
			// A value cut by the cap would escape its detector: the
			// record keeps less rather than a secret's first half.
			keep := len(data)
			for _, d := range m.Detectors {
				keep = min(keep, len(data)-d.MaxLen())
			}
			data = data[:max(keep, 0)]
		}
		out, rep = m.Text(data)
	}
	if rep.Total() > 0 {
		b.Data, b.SHA256, b.Masked = out, "", rep
	} else {
		b.Data = data
	}
}

// Headers a record never keeps: authentication, and keys customers hand S3
// for SSE-C.
var secretHeaders = map[string]bool{
	"Authorization":        true,
	"Proxy-Authorization":  true,
	"X-Amz-Security-Token": true,
	"Cookie":               true,
	"Set-Cookie":           true,
	"X-Amz-Server-Side-Encryption-Customer-Key":             true,
	"X-Amz-Copy-Source-Server-Side-Encryption-Customer-Key": true,
}

func recordHeaders(h http.Header) map[string][]string {
	out := make(map[string][]string, len(h))
	for k, v := range h {
		if !secretHeaders[http.CanonicalHeaderKey(k)] {
			out[k] = append([]string(nil), v...)
		}
	}
	return out
}

// Query and form parameters a record never keeps: presigned URLs'
// credentials and signatures (SigV4 and V2), and the web identity token of
// the STS exchange.
var secretParams = map[string]bool{
	"x-amz-signature": true, "x-amz-credential": true, "x-amz-security-token": true,
	"signature": true, "awsaccesskeyid": true,
	"webidentitytoken": true, "samlassertion": true,
}

// recordPath is the request's path and query without secret parameters.
func recordPath(u *url.URL) string {
	path := u.EscapedPath()
	if u.RawQuery == "" {
		return path
	}
	return path + "?" + withoutSecrets(u.RawQuery, false)
}

// withoutSecrets drops (query) or redacts (form) secret parameters, keeping
// the rest as they were encoded.
func withoutSecrets(raw string, redact bool) string {
	parts := strings.Split(raw, "&")
	kept := parts[:0]
	for _, p := range parts {
		k, _, _ := strings.Cut(p, "=")
		if name, err := url.QueryUnescape(k); err == nil && secretParams[strings.ToLower(name)] {
			if redact {
				kept = append(kept, k+"=REDACTED")
			}
			continue
		}
		kept = append(kept, p)
	}
	return strings.Join(kept, "&")
}

// newRecord is what the chain knows of a call before it leaves.
func (c *Chain) newRecord(r *http.Request, call *Call) *recorder.Record {
	ci := call.Conn
	rec := &recorder.Record{
		ID: call.ID, Session: ci.ID, Kind: "call", Start: call.Start,
		Mode: string(ci.Mode), SNI: ci.SNI, Dst: ci.Dst.String(),
		Service: call.Service, Region: call.Region,
		Method: r.Method, Host: r.Host, Path: recordPath(r.URL),
		Operation: call.Operation,
		Action:    call.Described.Action, Resources: call.Described.Resources,
		UpstreamRole: call.UpstreamRole,
	}
	if call.Described.Operation != "" {
		rec.Operation = call.Described.Operation
	}
	if call.Described.Region != "" {
		rec.Region = call.Described.Region
	}
	rec.Identity.SourceAddr = ci.Client.String()
	if id := call.Identity; id != nil {
		rec.Identity.Issuer, rec.Identity.Subject, rec.Identity.Source = id.Issuer, id.Subject, id.Source
		rec.Identity.Groups = id.Groups
	}
	d := call.Decision
	rec.Decision = recorder.Decision{
		Effect: string(d.Effect), Rule: d.Rule, Reason: d.Reason, Shadow: d.Shadow, WouldBe: string(d.WouldBe),
		ApprovalID: call.ApprovalID, Votes: call.votes,
	}
	return rec
}

// recordIntent commits the intent of a call about to leave, with the
// request as it goes upstream (authentication removed). Its error refuses
// the call: nothing leaves unrecorded.
func (c *Chain) recordIntent(out *http.Request, call *Call) *Error {
	if c.recorder == nil {
		return nil
	}
	rec := c.newRecord(out, call)
	rec.Request.Headers = recordHeaders(out.Header)
	t0 := time.Now()
	err := c.recorder.Intent(out.Context(), rec)
	c.metrics.recordSeconds.Observe(time.Since(t0).Seconds())
	if err != nil {
		c.metrics.recordFailures.WithLabelValues("intent").Inc()
		return refuse(http.StatusServiceUnavailable, "ServiceUnavailable",
			"the call could not be recorded, so it was not sent; the gateway's operator must check the recorder's disk (gatehouse_record_failures_total)", err)
	}
	call.intent = rec
	call.reqHeaders = rec.Request.Headers
	if out.Body != nil && out.Body != http.NoBody && !call.reqTapped && call.reqCap != nil {
		out.Body = teeBody{out.Body, call.reqCap}
	}
	return nil
}

// outcome is what came back, as the record keeps it.
type outcome struct {
	status   int
	headers  http.Header
	body     *capture
	bytesOut int64
	end      time.Time
}

func (c *Chain) fill(call *Call, o outcome) func(*recorder.Record) {
	return func(rec *recorder.Record) {
		rec.End = o.end
		rec.UpstreamFirstByte = call.firstByte
		rec.UpstreamRequestID, rec.UpstreamID2 = call.UpstreamID, call.upstreamID2
		rec.UpstreamRole = call.UpstreamRole
		rec.Verdict, rec.Status = call.Verdict, o.status
		rec.BytesIn, rec.BytesOut = call.bytesIn.Load(), o.bytesOut
		rec.Decision.ApprovalID, rec.Decision.Votes = call.ApprovalID, call.votes
		rec.Request = call.reqCap.body(call.reqHeaders)
		if rec.Request.Size == 0 && call.intent == nil && !call.reqSecret {
			rec.Request = readBody(call, c.bodyCap)
		}
		maskRecorded(&rec.Request, call.masker, contentType(call.reqHeaders))
		rec.Response = o.body.body(recordHeaders(o.headers))
		if len(call.masked) > 0 {
			rec.Response.Masked = call.masked
		}
		if call.err != nil {
			rec.ErrorCode = call.err.Code
		} else if o.status >= 300 {
			rec.ErrorCode = errorCode(o.headers, rec.Response.Data)
		}
	}
}

// record completes the call's record: appended after its intent when it
// was forwarded (unless its response already completed it), or written
// whole when it never left.
func (c *Chain) record(w *countingWriter, r *http.Request, call *Call) {
	if c.recorder == nil || call.completed {
		return
	}
	if call.masker == nil {
		// Refused before it was decided (a bad signature, a refused
		// credential exchange): the record still keeps no secret the
		// operation carries, named by its endpoint and target when it
		// was not described yet.
		action := call.Described.Action
		if action == "" && call.Operation != "" {
			action = call.Service + ":" + call.Operation
		}
		call.masker = call.maskerFor(action)
		withholdSecretsOf(call, w, action)
	}
	o := outcome{status: w.status, headers: w.Header(), body: w.capture, bytesOut: w.bytes, end: time.Now()}
	if call.respCap != nil {
		// The response broke off before its end: what was read of it.
		o.body = call.respCap
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), recordTimeout)
	defer cancel()
	var err error
	stage := "complete"
	if call.intent != nil {
		err = c.recorder.CompleteIntent(ctx, call.intent, c.fill(call, o))
	} else {
		stage = "append"
		rec := c.newRecord(r, call)
		rec.Request.Headers = recordHeaders(r.Header)
		call.reqHeaders = rec.Request.Headers
		c.fill(call, o)(rec)
		err = c.recorder.Append(ctx, rec)
	}
	if err != nil {
		c.metrics.recordFailures.WithLabelValues(stage).Inc()
		c.log.Error("record", "id", call.ID, "stage", stage, "err", err)
	}
}

// completeBeforeEnd commits a forwarded call's completion before the agent
// can have the whole response: the body's last byte is held back until the
// upstream body has ended and the completion is committed (in the store's
// write-ahead file, which a killed gateway does not lose; the store syncs it
// to disk with the next intent, or within its SyncEvery). A
// completion that cannot be committed aborts the response, so no agent
// gets an answer whose outcome is not on record (the intent is). Bodies
// that are empty end with the headers, which net/http buffers until the
// handler returns, after this commit.
func (c *Chain) completeBeforeEnd(resp *http.Response, call *Call) {
	if c.recorder == nil || call.intent == nil {
		return
	}
	call.respCap = newCapture(c.bodyCap)
	if w := call.w; w != nil && w.capture != nil {
		if w.capture.withheld != "" {
			call.respCap.withhold(w.capture.withheld)
		}
		w.capture = nil // the body is captured as it is read from upstream
	}
	ctx := resp.Request.Context()
	// A body of unknown length ends for the agent with the last chunk,
	// which net/http writes when the handler returns, after final: nothing
	// to hold back, and event streams keep their pace.
	resp.Body = &holdLastByte{ReadCloser: resp.Body, call: call, tap: call.respCap, noHold: resp.ContentLength < 0, final: func() *Error {
		o := outcome{status: resp.StatusCode, headers: resp.Header, body: call.respCap, bytesOut: call.respCap.size(), end: time.Now()}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
		defer cancel()
		if err := c.recorder.CompleteIntent(ctx, call.intent, c.fill(call, o)); err != nil {
			c.metrics.recordFailures.WithLabelValues("complete").Inc()
			return refuse(http.StatusServiceUnavailable, "ServiceUnavailable", "the call's outcome could not be recorded; the response was cut short", err)
		}
		call.completed = true
		return nil
	}}
}

// fail ends the body with err, which the call's record and log carry unless
// an earlier error already does.
func (h *holdLastByte) fail(err *Error) {
	h.err = err
	if h.call.err == nil {
		h.call.err = err
	}
}

// holdLastByte passes a body through, keeping its last byte back until the
// body has ended and final has run; final's error replaces the end.
type holdLastByte struct {
	io.ReadCloser
	call  *Call
	tap   *capture
	final func() *Error
	// noHold passes every byte at once and runs final at the end.
	noHold bool
	held   [1]byte
	has    bool
	out    []byte // bytes owed to a reader whose buffer was too small
	done   bool
	err    error
}

func (h *holdLastByte) Read(p []byte) (int, error) {
	if len(h.out) > 0 {
		n := copy(p, h.out)
		h.out = h.out[n:]
		return n, nil
	}
	if h.done {
		return 0, h.err
	}
	if len(p) < 2 {
		// Room for the held byte and at least one new one.
		var buf [2]byte
		n, err := h.Read(buf[:])
		k := copy(p, buf[:n])
		if h.out = append(h.out, buf[k:n]...); len(h.out) > 0 {
			return k, nil
		}
		return k, err
	}
	off := 0
	if h.has {
		p[0], off = h.held[0], 1
	}
	n, err := h.ReadCloser.Read(p[off:])
	if n > 0 {
		h.tap.Write(p[off : off+n])
	}
	total := off + n
	switch {
	case err == io.EOF:
		h.done, h.has, h.err = true, false, io.EOF
		if ferr := h.final(); ferr != nil {
			h.fail(ferr)
			if !h.noHold {
				total = max(total-1, 0) // the last byte never goes
			}
		}
		return total, h.err
	case err != nil:
		h.done, h.has = true, false
		h.fail(refuse(http.StatusBadGateway, "ServiceUnavailable", "the upstream's response broke off", err))
		h.err = err
		return total, err
	case h.noHold:
		return total, nil
	}
	if total == 0 {
		return 0, nil
	}
	h.held[0], h.has = p[total-1], true
	return total - 1, nil
}

// readBody is the body the chain read whole for a call that never left:
// a query-protocol form (secret parameters redacted), a JSON document, an
// S3 multi-object delete.
func readBody(call *Call, limit int) recorder.Body {
	var b []byte
	switch {
	case call.formBody != nil:
		b = []byte(withoutSecrets(string(call.formBody), true))
	case call.jsonBody != nil:
		b = call.jsonBody
	case call.xmlBody != nil:
		b = call.xmlBody
	default:
		return recorder.Body{Headers: call.reqHeaders}
	}
	c := newCapture(limit)
	c.Write(b)
	return c.body(call.reqHeaders)
}

func contentType(h map[string][]string) string {
	if v := http.Header(h).Get("Content-Type"); v != "" {
		return v
	}
	if http.Header(h).Get("X-Amz-Target") != "" {
		return "application/x-amz-json-1.0"
	}
	return ""
}

// errorCode reads the AWS error code of an error response: the JSON
// protocols' X-Amzn-ErrorType or __type, the XML protocols' <Code>.
func errorCode(h http.Header, body []byte) string {
	if t := h.Get("X-Amzn-Errortype"); t != "" {
		t, _, _ = strings.Cut(t, ":")
		return t
	}
	var j struct {
		Type string `json:"__type"`
		Code string `json:"code"`
	}
	if json.Unmarshal(body, &j) == nil {
		if j.Type != "" {
			_, t, _ := strings.Cut(j.Type, "#")
			if t == "" {
				t = j.Type
			}
			return t
		}
		return j.Code
	}
	d := xml.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := d.Token()
		if err != nil {
			return ""
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "Code" {
			var code string
			if d.DecodeElement(&code, &se) == nil {
				return strings.TrimSpace(code)
			}
			return ""
		}
	}
}

// recordConn records a connection refused or spliced before any request
// was read: who connected, to what, and why it went no further.
func (c *Chain) recordConn(ci *ConnInfo, verdict, stage, reason string) {
	if c.recorder == nil {
		return
	}
	rec := &recorder.Record{
		ID: ci.ID, Session: ci.ID, Kind: "connection", Start: ci.Start, End: time.Now(),
		Mode: string(ci.Mode), SNI: ci.SNI, Dst: ci.Dst.String(),
		Verdict: verdict, BytesIn: ci.bytesIn.Load(), BytesOut: ci.bytesOut.Load(),
	}
	rec.Identity.SourceAddr = ci.Client.String()
	if ci.ConnectHost != "" {
		rec.Host = ci.ConnectHost
	}
	if verdict == "refused" {
		rec.ErrorCode = "ConnectionRefused"
		rec.Response.Headers = map[string][]string{"X-Gatehouse-Stage": {stage}, "X-Gatehouse-Reason": {reason}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
	defer cancel()
	if err := c.recorder.Append(ctx, rec); err != nil {
		c.metrics.recordFailures.WithLabelValues("append").Inc()
		c.log.LogAttrs(ctx, slog.LevelError, "record", slog.String("conn", ci.ID), slog.String("stage", "append"), slog.Any("err", err))
	}
}
