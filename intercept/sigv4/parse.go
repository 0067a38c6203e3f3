package sigv4

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Values of x-amz-content-sha256 other than a literal hex SHA-256.
const (
	UnsignedPayload          = "UNSIGNED-PAYLOAD"
	StreamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	StreamingSigned          = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	StreamingSignedTrailer   = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
)

const (
	algorithm      = "AWS4-HMAC-SHA256"
	amzDateFormat  = "20060102T150405Z"
	scopeDateForm  = "20060102"
	terminator     = "aws4_request"
	maxPresignLife = 7 * 24 * time.Hour
	// defaultPresignLife applies to presigned URLs of services that do not
	// require X-Amz-Expires (STS GetCallerIdentity, as EKS and Vault use it).
	defaultPresignLife = 15 * time.Minute
)

// The presign query parameters, as AWS spells them.
const (
	qAlgorithm     = "X-Amz-Algorithm"
	qCredential    = "X-Amz-Credential"
	qDate          = "X-Amz-Date"
	qExpires       = "X-Amz-Expires"
	qSignedHeaders = "X-Amz-SignedHeaders"
	qSignature     = "X-Amz-Signature"
	qSecurityToken = "X-Amz-Security-Token"
	qContentSHA256 = "X-Amz-Content-Sha256"
)

// Scope is the credential scope a signature was made for.
type Scope struct {
	Date    string // yyyymmdd
	Region  string
	Service string
}

// String is the scope as it appears in the string to sign.
func (s Scope) String() string {
	return s.Date + "/" + s.Region + "/" + s.Service + "/" + terminator
}

// Auth is the agent's signature as the request carries it.
type Auth struct {
	AccessKeyID   string
	Date          time.Time // X-Amz-Date (header, or query when presigned), else the Date header
	Scope         Scope
	SignedHeaders []string // lower case, as listed (sorted, no duplicates)
	Signature     string   // hex
	Presigned     bool
	// Expires is X-Amz-Expires (at most 7 days), presigned only; 15
	// minutes for a presigned non-S3 request without one.
	Expires      time.Duration
	SessionToken string // X-Amz-Security-Token, header or query
	// PayloadHash is x-amz-content-sha256 as sent (a presigned request may
	// carry it in the query, as the JS SDK hoists it); for a presigned
	// request without one it is UNSIGNED-PAYLOAD when the scope's service
	// is S3 (the only service that presigns with it; others sign the
	// body's hash, which the caller computes); "" when absent.
	PayloadHash string
}

// Parse reads the agent's SigV4 authentication from r: the Authorization
// header, or the presign query parameters. It returns ErrUnsigned when r
// carries neither, and an *Error (AuthorizationHeaderMalformed,
// IncompleteSignature, AuthorizationQueryParametersError or InvalidRequest)
// for anything malformed. It checks form only; Verify checks the signature.
func Parse(r *http.Request) (*Auth, error) {
	if r.URL == nil {
		return nil, invalidRequest("The request has no URL.")
	}
	pairs, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, invalidRequest("The query string is malformed.")
	}
	var presigned, v2Key, v2Sig bool
	for _, p := range pairs {
		switch p.key {
		case qAlgorithm, qCredential, qSignature:
			presigned = true
		case "AWSAccessKeyId":
			v2Key = true
		case "Signature":
			v2Sig = true
		default:
			// Another spelling of an auth parameter is neither ignored
			// (an upstream might read it) nor guessed at.
			if isAuthParam(p.key) && !slices.Contains(authParams, p.key) {
				return nil, malformedQuery("X-Amz-* query parameters must be spelled as AWS documents them.")
			}
		}
	}
	authz := headerValues(r.Header, "authorization")
	switch {
	case len(authz) > 0 && presigned:
		return nil, invalidRequest("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified.")
	case presigned:
		return parsePresigned(r, pairs)
	case len(authz) > 1:
		return nil, malformedHeader("more than one Authorization header.")
	case len(authz) == 1:
		return parseHeader(r, authz[0])
	case v2Key && v2Sig:
		return nil, invalidRequest("The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.")
	}
	return nil, ErrUnsigned
}

func parseHeader(r *http.Request, v string) (*Auth, error) {
	alg, rest, _ := strings.Cut(v, " ")
	if alg != algorithm {
		if strings.TrimSpace(v) == "" {
			return nil, malformedHeader("the header is empty.")
		}
		return nil, invalidRequest("The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.")
	}
	var cred, signed, sig string
	var haveCred, haveSigned, haveSig bool
	for part := range strings.SplitSeq(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, malformedHeader("expecting Credential=, SignedHeaders= and Signature= separated by commas.")
		}
		var dst *string
		var seen *bool
		switch k {
		case "Credential":
			dst, seen = &cred, &haveCred
		case "SignedHeaders":
			dst, seen = &signed, &haveSigned
		case "Signature":
			dst, seen = &sig, &haveSig
		default:
			return nil, malformedHeader("unknown component " + strconv.Quote(clip(k)) + ".")
		}
		if *seen {
			return nil, malformedHeader(k + " appears more than once.")
		}
		*dst, *seen = val, true
	}
	var missing []string
	for _, m := range []struct {
		name string
		ok   bool
	}{{"Credential", haveCred}, {"SignedHeaders", haveSigned}, {"Signature", haveSig}} {
		if !m.ok {
			missing = append(missing, "Authorization header requires '"+m.name+"' parameter.")
		}
	}
	if len(missing) > 0 {
		return nil, incompleteSignature(strings.Join(missing, " "))
	}

	a := &Auth{}
	var msg string
	if a.AccessKeyID, a.Scope, msg = parseCredential(cred); msg != "" {
		return nil, malformedHeader(msg)
	}
	if a.SignedHeaders, msg = parseSignedHeaders(signed); msg != "" {
		return nil, malformedHeader(msg)
	}
	if !isHexSignature(sig) {
		return nil, malformedHeader("the Signature must be 64 hexadecimal characters.")
	}
	a.Signature = sig

	dates := headerValues(r.Header, "x-amz-date")
	switch {
	case len(dates) > 1:
		return nil, malformedHeader("more than one X-Amz-Date header.")
	case len(dates) == 1:
		t, ok := parseAmzDate(dates[0])
		if !ok {
			return nil, malformedHeader("X-Amz-Date must be in the form yyyymmddThhmmssZ.")
		}
		a.Date = t
	default:
		// AWS accepts the HTTP Date header in place of X-Amz-Date; the
		// string to sign carries it in the X-Amz-Date form.
		ds := headerValues(r.Header, "date")
		if len(ds) == 0 {
			return nil, incompleteSignature("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
		}
		t, err := http.ParseTime(ds[0])
		if len(ds) > 1 || err != nil {
			return nil, malformedHeader("the Date header is not a valid HTTP date.")
		}
		a.Date = t.UTC()
	}

	tokens := headerValues(r.Header, "x-amz-security-token")
	if len(tokens) > 1 {
		return nil, malformedHeader("more than one X-Amz-Security-Token header.")
	}
	if len(tokens) == 1 {
		a.SessionToken = tokens[0]
	}
	if a.PayloadHash, msg = declaredPayloadHash(r); msg != "" {
		return nil, invalidRequest(msg)
	}
	return a, nil
}

func parsePresigned(r *http.Request, pairs []queryPair) (*Auth, error) {
	vals := map[string]string{}
	for _, p := range pairs {
		switch p.key {
		case qAlgorithm, qCredential, qDate, qExpires, qSignedHeaders, qSignature, qSecurityToken:
			if _, dup := vals[p.key]; dup {
				return nil, malformedQuery(p.key + " appears more than once.")
			}
			vals[p.key] = p.value
		}
	}
	if alg, ok := vals[qAlgorithm]; !ok || alg != algorithm {
		return nil, malformedQuery(`X-Amz-Algorithm only supports "AWS4-HMAC-SHA256".`)
	}
	for _, k := range []string{qCredential, qDate, qSignedHeaders, qSignature} {
		if _, ok := vals[k]; !ok {
			return nil, malformedQuery("Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
		}
	}
	a := &Auth{Presigned: true}
	var msg string
	if a.AccessKeyID, a.Scope, msg = parseCredential(vals[qCredential]); msg != "" {
		return nil, malformedQuery("Error parsing the X-Amz-Credential parameter; " + msg)
	}
	if a.SignedHeaders, msg = parseSignedHeaders(vals[qSignedHeaders]); msg != "" {
		return nil, malformedQuery("Error parsing the X-Amz-SignedHeaders parameter; " + msg)
	}
	if !isHexSignature(vals[qSignature]) {
		return nil, malformedQuery("X-Amz-Signature must be 64 hexadecimal characters.")
	}
	a.Signature = vals[qSignature]
	t, ok := parseAmzDate(vals[qDate])
	if !ok {
		return nil, malformedQuery("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\".")
	}
	a.Date = t
	switch exp, ok := vals[qExpires]; {
	case ok:
		n, err := strconv.ParseUint(exp, 10, 32)
		if err != nil {
			return nil, malformedQuery("X-Amz-Expires should be a number.")
		}
		if time.Duration(n)*time.Second > maxPresignLife {
			return nil, malformedQuery("X-Amz-Expires must be less than a week (in seconds) that is 604800.")
		}
		a.Expires = time.Duration(n) * time.Second
	case isS3(a.Scope.Service):
		return nil, malformedQuery("Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
	default:
		a.Expires = defaultPresignLife
	}
	a.SessionToken = vals[qSecurityToken]
	if a.SessionToken == "" {
		if tokens := headerValues(r.Header, "x-amz-security-token"); len(tokens) == 1 {
			a.SessionToken = tokens[0]
		}
	}

	if a.PayloadHash, msg = declaredPayloadHash(r); msg != "" {
		return nil, invalidRequest(msg)
	}
	if a.PayloadHash == "" {
		for _, p := range pairs {
			if p.key == qContentSHA256 {
				if !validPayloadHash(p.value) {
					return nil, invalidRequest("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a streaming value, or a valid sha256 value.")
				}
				a.PayloadHash = p.value
			}
		}
	}
	if a.PayloadHash == "" && isS3(a.Scope.Service) {
		a.PayloadHash = UnsignedPayload
	}
	return a, nil
}

// declaredPayloadHash is the x-amz-content-sha256 header, "" when absent.
func declaredPayloadHash(r *http.Request) (string, string) {
	hs := headerValues(r.Header, "x-amz-content-sha256")
	switch {
	case len(hs) == 0:
		return "", ""
	case len(hs) > 1:
		return "", "more than one x-amz-content-sha256 header."
	case !validPayloadHash(hs[0]):
		return "", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a streaming value, or a valid sha256 value."
	}
	return hs[0], ""
}

// validPayloadHash admits what Gatehouse can forward: a literal SHA-256 or
// one of the four HMAC-SHA256 payload modes. Event streams and SigV4a
// chunks (STREAMING-AWS4-ECDSA-...) are refused: their chains cannot be
// re-signed here.
func validPayloadHash(v string) bool {
	switch v {
	case UnsignedPayload, StreamingUnsignedTrailer, StreamingSigned, StreamingSignedTrailer:
		return true
	}
	return isHexSignature(v)
}

// parseCredential splits AKID/yyyymmdd/region/service/aws4_request. The
// returned message is empty on success.
func parseCredential(c string) (string, Scope, string) {
	const bad = `the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`
	parts := strings.Split(c, "/")
	if len(parts) != 5 || parts[4] != terminator {
		return "", Scope{}, bad
	}
	akid, s := parts[0], Scope{Date: parts[1], Region: parts[2], Service: parts[3]}
	if !validAccessKeyID(akid) || !validScopeName(s.Region) || !validScopeName(s.Service) {
		return "", Scope{}, bad
	}
	if t, err := time.Parse(scopeDateForm, s.Date); err != nil || t.Format(scopeDateForm) != s.Date {
		return "", Scope{}, "the Credential's date must be in the form yyyymmdd."
	}
	return akid, s, ""
}

// validAccessKeyID keeps separators and control bytes out of the key id,
// which the chain uses to look up the agent's secret.
func validAccessKeyID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == ',' || c == ';' || c == '=' || c == '/' {
			return false
		}
	}
	return true
}

// validScopeName admits region and service names such as us-east-1,
// s3-object-lambda, execute-api: they end up in the string to sign, so no
// separator or control byte may pass.
func validScopeName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// parseSignedHeaders reads "host;x-amz-date". Every SDK lists the names in
// lower case, sorted and once each; anything else is refused rather than
// guessed at, since the list is part of the string that was signed.
func parseSignedHeaders(s string) ([]string, string) {
	if s == "" {
		return nil, "SignedHeaders is empty."
	}
	names := strings.Split(s, ";")
	for i, n := range names {
		if n == "" || !isLowerToken(n) {
			return nil, "SignedHeaders must list lower-case header names separated by ';'."
		}
		if i > 0 && names[i-1] >= n {
			return nil, "SignedHeaders must be sorted and list each header once."
		}
	}
	return names, ""
}

// isLowerToken: an HTTP field name (RFC 9110 token) without upper case.
func isLowerToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func isHexSignature(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func parseAmzDate(s string) (time.Time, bool) {
	t, err := time.Parse(amzDateFormat, s)
	if err != nil || t.Format(amzDateFormat) != s {
		return time.Time{}, false
	}
	return t, true
}

// isS3 reports whether a signing name uses S3's rules: the path signed as
// sent (no second encoding, no normalization) and UNSIGNED-PAYLOAD for
// presigned URLs. S3 Control signs as "s3".
func isS3(service string) bool {
	switch service {
	case "s3", "s3-object-lambda", "s3-outposts":
		return true
	}
	return false
}

var errQuery = errors.New("sigv4: malformed query string")

// queryPair is one key=value of a raw query string, decoded.
type queryPair struct{ key, value string }

// parseQuery decodes a raw query the way Go's url.ParseQuery does (which is
// what aws-sdk-go-v2's signer sees), except that it fails where ParseQuery
// would silently drop a pair: a bad escape or a ';'. A pair the signer
// drops is still sent, so accepting it would let bytes through unsigned.
func parseQuery(raw string) ([]queryPair, error) {
	var pairs []queryPair
	for seg := range strings.SplitSeq(raw, "&") {
		if seg == "" {
			continue
		}
		if strings.IndexByte(seg, ';') >= 0 {
			return nil, errQuery
		}
		k, v, _ := strings.Cut(seg, "=")
		k, err1 := url.QueryUnescape(k)
		v, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return nil, errQuery
		}
		pairs = append(pairs, queryPair{k, v})
	}
	return pairs, nil
}

// clip keeps agent-supplied text short in messages.
func clip(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}
