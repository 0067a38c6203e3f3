package intercept

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/policy/mask"
)

// Responses are masked between upstream and agent, in ModifyResponse,
// before the record's tap: the agent and the record see the same bytes.
//
//   - Documents (the JSON and XML protocols' responses, S3's listings and
//     errors) are read whole, up to the mask cap, masked by field rules
//     and detectors, and sent with their length and DynamoDB's
//     X-Amz-Crc32 recomputed over what is sent.
//   - S3 objects of text types stream through the detectors (CSV
//     field by field) of a profile a policy defines (the built-in one
//     leaves object data alone): their length is unknown until the end, so they go
//     chunked, and the object's x-amz-checksum-* headers, which would no
//     longer match, are removed (the SDKs then skip validation; a
//     checksum they cannot check is not a checksum they fail).
//   - gzip is decoded and encoded again; any other content encoding of a
//     body that must be masked is refused.
//
// A body that must be masked and cannot be (it does not parse under a
// field rule, it is over the cap, its encoding is unknown, it is a byte
// range of a masked object) is withheld: the agent gets AccessDenied
// saying why, and the record says so too.

// DefaultMaskCap caps a document read whole to be masked.
const DefaultMaskCap = 16 << 20

// masker is what masks the call's responses: the decided profile's
// rules for its action, the built-in profile if the decider named none.
func (call *Call) responseMasker() *mask.Masker { return call.maskerFor(call.Described.Action) }

// maskerFor is the decided profile's masker for action.
func (call *Call) maskerFor(action string) *mask.Masker {
	p := call.Decision.Mask
	if p == nil {
		p = mask.Default()
	}
	return p.For(action)
}

// maskRefusal is the agent's error for a response withheld because it
// could not be masked.
func maskRefusal(call *Call, why string, err error) *Error {
	profile := call.Decision.MaskProfile
	if profile == "" {
		profile = mask.DefaultName
	}
	return refuse(http.StatusForbidden, "AccessDenied",
		fmt.Sprintf("Gatehouse withheld the response: mask profile %q applies to %s and %s", profile, call.Described.Action, why), err)
}

// maskResponse masks resp in place, or says why it cannot be sent.
func (c *Chain) maskResponse(resp *http.Response, call *Call) *Error {
	m := call.masker
	if m == nil || m.Empty() || resp.Request.Method == http.MethodHead ||
		resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified || resp.Body == nil || resp.Body == http.NoBody {
		return nil
	}
	mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	object := call.Service == "s3" && call.Described.Operation == "GetObject" && resp.StatusCode/100 == 2
	switch {
	case object && (!textual(mediaType) || call.Decision.Mask.Builtin() || call.Decision.Mask == nil):
		// Binary objects are not scanned: detectors find text. Nor are
		// objects under the built-in profile, which is for what AWS's
		// APIs return: a policy names a profile to mask object data.
		return nil
	case object:
		return c.maskObject(resp, call, m, mediaType)
	case strings.Contains(mediaType, "eventstream"):
		// Event streams (Bedrock, SelectObjectContent) are framed binary
		// messages with CRCs of their own: not masked yet.
		return nil
	}
	return c.maskDocument(resp, call, m, mediaType)
}

// textual reports whether an object's media type is text a detector can
// read: text/*, JSON, XML, YAML, CSV, NDJSON.
func textual(mediaType string) bool {
	if strings.HasPrefix(mediaType, "text/") {
		return true
	}
	for _, s := range []string{"json", "xml", "yaml", "csv", "javascript", "x-www-form-urlencoded"} {
		if strings.Contains(mediaType, s) {
			return true
		}
	}
	return false
}

// contentEncoding is the body's content coding, "" for identity, or an
// error naming one Gatehouse cannot decode.
func contentEncoding(call *Call, h http.Header) (string, *Error) {
	ce := strings.ToLower(strings.TrimSpace(h.Get("Content-Encoding")))
	switch ce {
	case "", "identity":
		return "", nil
	case "gzip", "x-gzip":
		return "gzip", nil
	}
	return "", maskRefusal(call, "its content encoding "+strconv.Quote(ce)+" cannot be decoded to mask it (ask for identity or gzip)", mask.ErrUnsupportedEncoding)
}

// maskDocument masks a document read whole.
func (c *Chain) maskDocument(resp *http.Response, call *Call, m *mask.Masker, mediaType string) *Error {
	enc, e := contentEncoding(call, resp.Header)
	if e != nil {
		return e
	}
	limit := int64(c.maskCap)
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	resp.Body.Close()
	if err != nil {
		return refuse(http.StatusBadGateway, "ServiceUnavailable", "the upstream's response broke off", err)
	}
	if int64(len(raw)) > limit {
		return maskRefusal(call, fmt.Sprintf("it is over the %d-byte cap of documents masked whole (intercept.mask_cap)", limit), nil)
	}
	doc := raw
	if enc == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err == nil {
			doc, err = io.ReadAll(io.LimitReader(zr, limit+1))
		}
		if err != nil {
			return maskRefusal(call, "its gzip encoding is broken", fmt.Errorf("%w: %v", mask.ErrMalformed, err))
		}
		if int64(len(doc)) > limit {
			return maskRefusal(call, fmt.Sprintf("it decodes to over the %d-byte cap of documents masked whole (intercept.mask_cap)", limit), nil)
		}
	}
	if len(bytes.TrimSpace(doc)) == 0 {
		resp.Body = io.NopCloser(bytes.NewReader(raw))
		return nil
	}
	var out []byte
	var rep mask.Report
	switch {
	case strings.Contains(mediaType, "json") || (mediaType == "" && resp.Request.Header.Get("X-Amz-Target") != ""):
		out, rep, err = m.JSON(doc)
	case strings.Contains(mediaType, "xml"):
		out, rep, err = m.XML(doc)
	default:
		out, rep = m.Text(doc)
	}
	if err != nil {
		// Refused when a field rule is written for this operation; rules
		// for every response (credentials anywhere) and detectors read
		// what does not parse as text instead (a Lambda payload that is
		// not the JSON its type says).
		if namesAction(m, call.Described.Action) || !errors.Is(err, mask.ErrMalformed) {
			what := "JSON"
			if strings.Contains(mediaType, "xml") {
				what = "XML"
			}
			return maskRefusal(call, "it is not valid "+what, err)
		}
		// Detectors alone read any text.
		out, rep = m.Text(doc)
	}
	call.masked.Merge(rep)
	if rep.Total() == 0 {
		resp.Body = io.NopCloser(bytes.NewReader(raw))
		return nil
	}
	if enc == "gzip" {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(out)
		zw.Close()
		out = b.Bytes()
	}
	resp.Body = io.NopCloser(bytes.NewReader(out))
	resp.ContentLength = int64(len(out))
	resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
	if resp.Header.Get("X-Amz-Crc32") != "" {
		// DynamoDB's: the CRC32 of the body as sent, which SDKs check.
		resp.Header.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(out)), 10))
	}
	dropChecksums(resp.Header)
	return nil
}

// maskObject masks an S3 object as it streams.
func (c *Chain) maskObject(resp *http.Response, call *Call, m *mask.Masker, mediaType string) *Error {
	if resp.StatusCode == http.StatusPartialContent || resp.Header.Get("Content-Range") != "" {
		resp.Body.Close()
		return maskRefusal(call, "a byte range of it cannot be masked (masking changes lengths); read the whole object", nil)
	}
	enc, e := contentEncoding(call, resp.Header)
	if e != nil {
		resp.Body.Close()
		return e
	}
	upstream := resp.Body
	var reported interface{ Report() mask.Report }
	stream := func(r io.Reader) (io.Reader, error) {
		if mediaType == "text/csv" || mediaType == "application/csv" {
			s, err := m.CSV(r, mask.CSVOptions{})
			reported = s
			return s, err
		}
		s, err := m.Stream(r, mask.StreamOptions{})
		reported = s
		return s, err
	}
	var body io.Reader
	var err error
	if enc == "" {
		body, err = stream(upstream)
	} else {
		body, err = mask.Recode(upstream, enc, stream)
	}
	if err != nil {
		upstream.Close()
		return maskRefusal(call, "its masker could not start", err)
	}
	resp.Body = &maskedBody{r: body, c: upstream, call: call, report: func() mask.Report { return reported.Report() }}
	resp.ContentLength = -1
	resp.Header.Del("Content-Length")
	resp.Header.Del("Content-Md5")
	dropChecksums(resp.Header)
	return nil
}

// dropChecksums removes the S3 checksums of a body Gatehouse changed: the
// SDKs validate a checksum header when there is one and skip validation
// when there is none.
func dropChecksums(h http.Header) {
	for k := range h {
		if strings.HasPrefix(k, "X-Amz-Checksum-") {
			h.Del(k)
		}
	}
}

// maskedBody is a masked object on its way to the agent. A masker error
// (a CSV row over the cap, broken gzip) breaks the body off: the agent
// gets no complete answer, and the record says why.
type maskedBody struct {
	r      io.Reader
	c      io.Closer
	call   *Call
	report func() mask.Report
	done   bool
}

func (b *maskedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && !b.done {
		b.done = true
		b.call.masked.Merge(b.report())
		if err != io.EOF && b.call.err == nil {
			b.call.err = maskRefusal(b.call, "masking it failed part way", err)
		}
	}
	return n, err
}

func (b *maskedBody) Close() error { return b.c.Close() }
