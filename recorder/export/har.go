package export

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/recorder"
)

// HAR writes recs as a HAR 1.2 log (one entry per record, in the order given).
//
// A record with no HTTP request (Kind "connection": a connection refused or
// spliced before any request was read) has no entry, since every HAR entry
// is a request; the log's comment names those records. A call that never
// completed has response status 0. Bodies are the recorded bytes, as text
// when they are UTF-8 and base64 otherwise; a body the recorder capped says
// so in its comment, and its size is the whole body's. The recorder's view
// of each call (id, identity, action, resources, decision...) is in the
// entry's _gatehouse field.
func HAR(w io.Writer, recs []*recorder.Record, creatorVersion string) error {
	head, err := json.Marshal(harCreator{Name: "gatehouse", Version: creatorVersion})
	if err != nil {
		return fmt.Errorf("encode HAR creator: %w", err)
	}
	bw := &errWriter{w: w}
	bw.printf("{\n  \"log\": {\n    \"version\": \"1.2\",\n    \"creator\": %s,\n    \"entries\": [", head)
	var left []string
	n := 0
	for i, r := range recs {
		if r == nil {
			return fmt.Errorf("encode HAR entry %d: nil record", i)
		}
		if !hasRequest(r) {
			left = append(left, r.ID)
			continue
		}
		b, err := indented(harEntryOf(r), "      ")
		if err != nil {
			return fmt.Errorf("encode HAR entry %s: %w", r.ID, err)
		}
		if n > 0 {
			bw.printf(",")
		}
		bw.printf("\n      %s", b)
		n++
	}
	if n > 0 {
		bw.printf("\n    ")
	}
	bw.printf("]")
	if len(left) > 0 {
		c, err := json.Marshal("left out, having no HTTP request (connections refused or spliced before a request was read): " +
			strings.Join(left, ", "))
		if err != nil {
			return fmt.Errorf("encode HAR comment: %w", err)
		}
		bw.printf(",\n    \"comment\": %s", c)
	}
	bw.printf("\n  }\n}\n")
	if bw.err != nil {
		return fmt.Errorf("write HAR: %w", bw.err)
	}
	return nil
}

// The HAR 1.2 objects (http://www.softwareishard.com/blog/har-12-spec/).
// Optional fields are omitted when empty; required ones never are.
type (
	harCreator struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	harEntry struct {
		StartedDateTime string       `json:"startedDateTime"`
		Time            float64      `json:"time"`
		Request         harRequest   `json:"request"`
		Response        harResponse  `json:"response"`
		Cache           struct{}     `json:"cache"`
		Timings         harTimings   `json:"timings"`
		ServerIPAddress string       `json:"serverIPAddress,omitempty"`
		Connection      string       `json:"connection,omitempty"`
		Comment         string       `json:"comment,omitempty"`
		Gatehouse       harGatehouse `json:"_gatehouse"`
	}
	harRequest struct {
		Method      string       `json:"method"`
		URL         string       `json:"url"`
		HTTPVersion string       `json:"httpVersion"`
		Cookies     []struct{}   `json:"cookies"`
		Headers     []harNV      `json:"headers"`
		QueryString []harNV      `json:"queryString"`
		PostData    *harPostData `json:"postData,omitempty"`
		HeadersSize int64        `json:"headersSize"`
		BodySize    int64        `json:"bodySize"`
	}
	harNV struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	// HAR 1.2 has no encoding for postData, and custom fields must start
	// with an underscore: a binary request body is base64 with _encoding.
	harPostData struct {
		MimeType string `json:"mimeType"`
		Text     string `json:"text"`
		Encoding string `json:"_encoding,omitempty"`
		Comment  string `json:"comment,omitempty"`
	}
	harResponse struct {
		Status      int        `json:"status"`
		StatusText  string     `json:"statusText"`
		HTTPVersion string     `json:"httpVersion"`
		Cookies     []struct{} `json:"cookies"`
		Headers     []harNV    `json:"headers"`
		Content     harContent `json:"content"`
		RedirectURL string     `json:"redirectURL"`
		HeadersSize int64      `json:"headersSize"`
		BodySize    int64      `json:"bodySize"`
		Comment     string     `json:"comment,omitempty"`
	}
	harContent struct {
		Size     int64  `json:"size"`
		MimeType string `json:"mimeType"`
		Text     string `json:"text,omitempty"`
		Encoding string `json:"encoding,omitempty"`
		Comment  string `json:"comment,omitempty"`
	}
	// Times in milliseconds; -1 is "does not apply" (the gateway does not
	// record DNS, connect or TLS times of its upstream connection).
	harTimings struct {
		Blocked float64 `json:"blocked"`
		DNS     float64 `json:"dns"`
		Connect float64 `json:"connect"`
		SSL     float64 `json:"ssl"`
		Send    float64 `json:"send"`
		Wait    float64 `json:"wait"`
		Receive float64 `json:"receive"`
	}
	harGatehouse struct {
		ID                string      `json:"id"`
		Session           string      `json:"session"`
		Seq               uint64      `json:"seq"`
		Identity          harIdentity `json:"identity"`
		Service           string      `json:"service"`
		Region            string      `json:"region"`
		Operation         string      `json:"operation"`
		Action            string      `json:"action"`
		Resources         []string    `json:"resources"`
		Decision          harDecision `json:"decision"`
		Verdict           string      `json:"verdict,omitempty"`
		UpstreamRole      string      `json:"upstream_role,omitempty"`
		UpstreamRequestID string      `json:"upstream_request_id"`
		ErrorCode         string      `json:"error_code,omitempty"`
		Complete          bool        `json:"complete"`
		Hash              string      `json:"hash"`
	}
	// The export's own copies of the record's identity and decision, so
	// that a field added to the record is a choice here and not a silent
	// change of the export format.
	harIdentity struct {
		Issuer     string   `json:"issuer"`
		Subject    string   `json:"subject"`
		Source     string   `json:"source,omitempty"`
		Groups     []string `json:"groups,omitempty"`
		SourceAddr string   `json:"source_addr,omitempty"`
	}
	harDecision struct {
		Effect     string    `json:"effect"`
		Rule       string    `json:"rule"`
		Reason     string    `json:"reason,omitempty"`
		Shadow     bool      `json:"shadow,omitempty"`
		WouldBe    string    `json:"would_be,omitempty"`
		ApprovalID string    `json:"approval_id,omitempty"`
		Votes      []harVote `json:"votes,omitempty"`
	}
	harVote struct {
		Approver string    `json:"approver"`
		Approve  bool      `json:"approve"`
		At       time.Time `json:"at"`
		Reason   string    `json:"reason,omitempty"`
	}
)

func harEntryOf(r *recorder.Record) harEntry {
	wait, receive := phases(r)
	e := harEntry{
		StartedDateTime: r.Start.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		Time:            millis(wait + receive),
		Request:         harRequestOf(r),
		Response:        harResponseOf(r),
		Timings:         harTimings{Blocked: -1, DNS: -1, Connect: -1, SSL: -1, Send: 0, Wait: millis(wait), Receive: millis(receive)},
		Connection:      r.Session,
		Gatehouse: harGatehouse{
			ID: r.ID, Session: r.Session, Seq: r.Seq,
			Identity: harIdentity{
				Issuer: r.Identity.Issuer, Subject: r.Identity.Subject, Source: r.Identity.Source,
				Groups: r.Identity.Groups, SourceAddr: r.Identity.SourceAddr,
			},
			Service: r.Service, Region: r.Region, Operation: r.Operation, Action: r.Action,
			Resources: r.Resources, Decision: decisionOf(r.Decision), Verdict: r.Verdict, UpstreamRole: r.UpstreamRole,
			UpstreamRequestID: r.UpstreamRequestID, ErrorCode: r.ErrorCode, Complete: r.Complete, Hash: r.Hash,
		},
	}
	if ap, err := netip.ParseAddrPort(r.Dst); err == nil {
		e.ServerIPAddress = ap.Addr().Unmap().String()
	} else if a, err := netip.ParseAddr(r.Dst); err == nil {
		e.ServerIPAddress = a.Unmap().String()
	}
	if !r.Complete {
		e.Comment = "the call did not complete: the record has its intent only"
	}
	return e
}

func decisionOf(d recorder.Decision) harDecision {
	h := harDecision{Effect: d.Effect, Rule: d.Rule, Reason: d.Reason, Shadow: d.Shadow, WouldBe: d.WouldBe, ApprovalID: d.ApprovalID}
	for _, v := range d.Votes {
		h.Votes = append(h.Votes, harVote{Approver: v.Approver, Approve: v.Approve, At: v.At.UTC(), Reason: v.Reason})
	}
	return h
}

// phases splits a call's time into waiting for the upstream's first byte
// and receiving the rest. The recorder does not time the request's sending
// apart from the wait, so HAR's send is 0.
func phases(r *recorder.Record) (wait, receive time.Duration) {
	switch {
	case !r.UpstreamFirstByte.IsZero():
		wait = r.UpstreamFirstByte.Sub(r.Start)
		if !r.End.IsZero() {
			receive = r.End.Sub(r.UpstreamFirstByte)
		}
	case !r.End.IsZero():
		wait = r.End.Sub(r.Start)
	}
	return max(wait, 0), max(receive, 0)
}

// millis is d in milliseconds, to the microsecond.
func millis(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}

func harRequestOf(r *recorder.Record) harRequest {
	target := requestTarget(r)
	q := []harNV{}
	if _, raw, ok := strings.Cut(target, "?"); ok {
		q = queryOf(raw)
	}
	req := harRequest{
		Method:      r.Method,
		URL:         requestURL(r),
		HTTPVersion: "HTTP/1.1",
		Cookies:     []struct{}{},
		Headers:     headersOf(r.Request.Headers, callHost(r)),
		QueryString: q,
		HeadersSize: -1,
		BodySize:    bodySize(r.Request),
	}
	if req.BodySize > 0 || len(r.Request.Data) > 0 {
		text, enc := bodyText(r.Request.Data)
		req.PostData = &harPostData{
			MimeType: headerFirst(r.Request.Headers, "Content-Type"),
			Text:     text,
			Encoding: enc,
			Comment:  truncation(r.Request),
		}
	}
	return req
}

func harResponseOf(r *recorder.Record) harResponse {
	if !hasResponse(r) {
		return harResponse{
			Cookies: []struct{}{}, Headers: []harNV{},
			Content:     harContent{},
			HeadersSize: -1, BodySize: -1,
			Comment: "no response recorded",
		}
	}
	text, enc := bodyText(r.Response.Data)
	resp := harResponse{
		Status:      r.Status,
		StatusText:  http.StatusText(r.Status),
		HTTPVersion: "HTTP/1.1",
		Cookies:     []struct{}{},
		Headers:     headersOf(r.Response.Headers, ""),
		Content: harContent{
			Size:     bodySize(r.Response),
			MimeType: headerFirst(r.Response.Headers, "Content-Type"),
			Text:     text,
			Encoding: enc,
			Comment:  truncation(r.Response),
		},
		HeadersSize: -1,
		BodySize:    bodySize(r.Response),
	}
	if r.Status >= 300 && r.Status < 400 {
		resp.RedirectURL = headerFirst(r.Response.Headers, "Location")
	}
	return resp
}

// hasRequest reports whether r is an HTTP call (and not a connection
// refused or spliced before a request was read).
func hasRequest(r *recorder.Record) bool {
	return r.Method != "" && r.Kind != "connection"
}

// hasResponse reports whether r has a response: a forwarded call that
// completed, or one the gateway refused with an error of its own. An
// incomplete call has status 0.
func hasResponse(r *recorder.Record) bool {
	return r.Status != 0
}

// callHost is the call's Host: what the client asked for, else the TLS server
// name, else the original destination.
func callHost(r *recorder.Record) string {
	for _, h := range []string{r.Host, r.SNI, r.Dst} {
		if h != "" {
			return h
		}
	}
	return "unknown.invalid"
}

// requestTarget is the request line's target: the recorded path and query
// (origin form), with the bytes a request line cannot carry escaped.
func requestTarget(r *recorder.Record) string {
	p := r.Path
	if p == "" {
		return "/"
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c >= 0x7f {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	p = b.String()
	if !strings.HasPrefix(p, "/") && !strings.Contains(p, "://") && p != "*" {
		p = "/" + p
	}
	return p
}

// requestURL is the absolute URL of the call. The gateway intercepts TLS,
// so the scheme is https.
func requestURL(r *recorder.Record) string {
	t := requestTarget(r)
	if strings.Contains(t, "://") {
		return t // absolute form, as a client talking to a proxy sends it
	}
	if t == "*" {
		t = ""
	}
	return "https://" + callHost(r) + t
}

// queryOf splits a raw query into its parameters, in order, decoded where
// they decode.
func queryOf(raw string) []harNV {
	q := []harNV{}
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		q = append(q, harNV{Name: queryUnescape(k), Value: queryUnescape(v)})
	}
	return q
}

func queryUnescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// headersOf lists h sorted by name, with Host first when h lacks it (Go
// keeps an HTTP/1.1 request's Host apart from its header map).
func headersOf(h map[string][]string, hostHeader string) []harNV {
	out := []harNV{}
	if hostHeader != "" && len(headerValues(h, "Host")) == 0 {
		out = append(out, harNV{Name: "Host", Value: hostHeader})
	}
	for _, k := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[k] {
			out = append(out, harNV{Name: k, Value: v})
		}
	}
	return out
}

// headerValues are h's values for name, whatever the case it was recorded in.
func headerValues(h map[string][]string, name string) []string {
	if v, ok := h[name]; ok {
		return v
	}
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}

func headerFirst(h map[string][]string, name string) string {
	if v := headerValues(h, name); len(v) > 0 {
		return v[0]
	}
	return ""
}

// bodySize is the size of the whole body, which the recorder keeps even
// when it caps the data.
func bodySize(b recorder.Body) int64 {
	return max(b.Size, int64(len(b.Data)))
}

func isTruncated(b recorder.Body) bool {
	return b.Truncated || b.Size > int64(len(b.Data))
}

// truncation is the comment on a capped body, "" for a whole one.
func truncation(b recorder.Body) string {
	if !isTruncated(b) {
		return ""
	}
	return fmt.Sprintf("truncated by gatehouse: %d of %d bytes recorded; sha256 of the whole body %s", len(b.Data), b.Size, b.SHA256)
}

// bodyText is data as HAR text: itself when it is UTF-8, else base64 with
// the encoding named.
func bodyText(data []byte) (text, encoding string) {
	if utf8.Valid(data) {
		return string(data), ""
	}
	return base64.StdEncoding.EncodeToString(data), "base64"
}

// errWriter keeps the first write error, so a sequence of writes checks once.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err != nil {
		return
	}
	_, e.err = fmt.Fprintf(e.w, format, args...)
}

// indented is v as indented JSON, with <, > and & as themselves: bodies
// are often XML.
func indented(v any, prefix string) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent(prefix, "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
