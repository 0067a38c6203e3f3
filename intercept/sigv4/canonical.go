package sigv4

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/smithy-go/encoding/httpbinding"
)

// dialect is where the SDKs differ in canonicalizing one request. The zero
// value is aws-sdk-go-v2's, which Sign uses.
type dialect struct {
	// normalizePath: for services other than S3, remove dot segments and
	// empty segments before the second encoding (botocore, JS SDK v3);
	// aws-sdk-go-v2 encodes the path as sent.
	normalizePath bool
	// collapseAllSpace: turn every run of white space inside a header
	// value into one space (botocore's " ".join(v.split()), the JS SDK's
	// /\s+/g); aws-sdk-go-v2 collapses runs of spaces only.
	collapseAllSpace bool
}

// canonicalRequest builds AWS's CanonicalRequest for r as a was signed:
//
//	method \n uri \n query \n headers \n signed-headers \n payload-hash
func canonicalRequest(r *http.Request, a *Auth, payloadHash string, d dialect) (string, error) {
	query, err := canonicalQuery(r.URL.RawQuery, a.Presigned)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(canonicalURI(r.URL, a.Scope.Service, d.normalizePath))
	b.WriteByte('\n')
	b.WriteString(query)
	b.WriteByte('\n')
	for _, name := range a.SignedHeaders {
		b.WriteString(name)
		b.WriteByte(':')
		for i, v := range signedHeaderValues(r, name) {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(canonicalValue(v, d.collapseAllSpace))
		}
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(a.SignedHeaders, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String(), nil
}

// stringToSign is what the signing key signs.
func stringToSign(amzDate string, s Scope, canonical string) string {
	h := sha256.Sum256([]byte(canonical))
	return algorithm + "\n" + amzDate + "\n" + s.String() + "\n" + hex.EncodeToString(h[:])
}

// canonicalURI is the path as the client sent it (URL.EscapedPath keeps the
// raw form when it is a valid encoding of Path, which is what the client
// sent and what the transport forwards). S3 signs it as is; every other
// service encodes it a second time, '/' excepted, so "%2F" in a Bedrock
// model id is signed as "%252F".
func canonicalURI(u *url.URL, service string, normalize bool) string {
	p := uriPath(u)
	if isS3(service) {
		return p
	}
	if normalize {
		p = removeDotSegments(p)
	}
	return httpbinding.EscapePath(p, false)
}

// uriPath mirrors aws-sdk-go-v2's GetURIPath: URL.Opaque when set
// ("//host/path"), else the escaped path; "/" when empty.
func uriPath(u *url.URL) string {
	var p string
	if u.Opaque != "" {
		o, _, _ := strings.Cut(u.Opaque, "?")
		o = strings.TrimPrefix(o, "//")
		if i := strings.IndexByte(o, '/'); i >= 0 {
			p = o[i:]
		}
	} else {
		p = u.EscapedPath()
	}
	if p == "" {
		return "/"
	}
	return p
}

// removeDotSegments is botocore's (and the JS SDK's) normalization for
// non-S3 paths: RFC 3986 dot-segment removal plus dropping empty segments.
func removeDotSegments(p string) string {
	if p == "" {
		return "/"
	}
	var out []string
	for seg := range strings.SplitSeq(p, "/") {
		switch seg {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, seg)
		}
	}
	var b strings.Builder
	if p[0] == '/' {
		b.WriteByte('/')
	}
	b.WriteString(strings.Join(out, "/"))
	if p[len(p)-1] == '/' && len(out) > 0 {
		b.WriteByte('/')
	}
	return b.String()
}

// canonicalQuery decodes every pair and encodes it again AWS's way (RFC
// 3986 unreserved characters kept, everything else %XX in upper case, a
// space as %20), then sorts by encoded key and encoded value: AWS sorts
// after encoding, and the two orders differ ("a/b" vs "a-b"). A presigned
// request leaves out its own X-Amz-Signature.
func canonicalQuery(raw string, presigned bool) (string, error) {
	pairs, err := parseQuery(raw)
	if err != nil {
		return "", err
	}
	enc := make([]queryPair, 0, len(pairs))
	for _, p := range pairs {
		if presigned && p.key == qSignature {
			continue
		}
		enc = append(enc, queryPair{encodeQueryComponent(p.key), encodeQueryComponent(p.value)})
	}
	slices.SortFunc(enc, func(x, y queryPair) int {
		if c := strings.Compare(x.key, y.key); c != 0 {
			return c
		}
		return strings.Compare(x.value, y.value)
	})
	var b strings.Builder
	for i, p := range enc {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.key)
		b.WriteByte('=')
		b.WriteString(p.value)
	}
	return b.String(), nil
}

func encodeQueryComponent(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// signedHeaderValues is what the client had for a signed header. Go's
// server moves Host out of r.Header into r.Host, keeps Content-Length in
// the header (a client-side request has only r.ContentLength) and moves
// Transfer-Encoding into r.TransferEncoding.
func signedHeaderValues(r *http.Request, name string) []string {
	switch name {
	case "host":
		h := r.Host
		if h == "" {
			h = r.URL.Host
		}
		return []string{h}
	case "content-length":
		if v := headerValues(r.Header, name); len(v) > 0 {
			return v
		}
		if r.ContentLength >= 0 {
			return []string{strconv.FormatInt(r.ContentLength, 10)}
		}
		return nil
	case "transfer-encoding":
		if v := headerValues(r.Header, name); len(v) > 0 {
			return v
		}
		return []string{strings.Join(r.TransferEncoding, ",")}
	}
	return headerValues(r.Header, name)
}

// headerValues returns the values of a header in the order received. A
// client-built header map can hold the same name in several spellings;
// the canonical one comes first, others in sorted key order, so the result
// is deterministic.
func headerValues(h http.Header, lower string) []string {
	ck := textproto.CanonicalMIMEHeaderKey(lower)
	vals := h[ck]
	var others []string
	for k := range h {
		if k != ck && strings.EqualFold(k, lower) {
			others = append(others, k)
		}
	}
	if len(others) == 0 {
		return vals
	}
	slices.Sort(others)
	out := slices.Clone(vals)
	for _, k := range others {
		out = append(out, h[k]...)
	}
	return out
}

func canonicalValue(v string, collapseAll bool) string {
	if collapseAll {
		return strings.Join(strings.Fields(v), " ")
	}
	return strings.TrimSpace(collapseSpaces(v))
}

// dialects lists the canonical forms r may have been signed in: the
// aws-sdk-go-v2 form first, then only those that differ from it.
func dialects(r *http.Request, a *Auth) []dialect {
	path := !isS3(a.Scope.Service) && removeDotSegments(uriPath(r.URL)) != uriPath(r.URL)
	space := false
	for _, name := range a.SignedHeaders {
		for _, v := range signedHeaderValues(r, name) {
			if canonicalValue(v, true) != canonicalValue(v, false) {
				space = true
			}
		}
	}
	ds := []dialect{{}}
	if path {
		ds = append(ds, dialect{normalizePath: true})
	}
	if space {
		ds = append(ds, dialect{collapseAllSpace: true})
	}
	if path && space {
		ds = append(ds, dialect{normalizePath: true, collapseAllSpace: true})
	}
	return ds
}

// collapseSpaces trims spaces at both ends and turns each inner run of
// spaces into one, as aws-sdk-go-v2's StripExcessSpaces does (spaces only;
// the caller trims other white space at the ends).
func collapseSpaces(s string) string {
	s = strings.Trim(s, " ")
	if !strings.Contains(s, "  ") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	prevSpace := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' && prevSpace {
			continue
		}
		prevSpace = c == ' '
		b.WriteByte(c)
	}
	return b.String()
}
