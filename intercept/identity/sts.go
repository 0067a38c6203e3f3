package identity

import (
	"context"
	"crypto/sha256"
	"encoding/xml"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// STS protocol constants.
const (
	STSVersion   = "2011-06-15"
	stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"
	// STSContentType is what STS answers carry; intercept sets it, with
	// x-amzn-RequestId, when it writes a body from here.
	STSContentType = "text/xml"
	// MaxFormBytes caps an STS request's form (body or query).
	MaxFormBytes = 64 << 10
)

// STS answers the agents' STS calls that Gatehouse owns: AssumeRoleWith
// WebIdentity (the exchange of an OIDC token for Gatehouse session
// credentials) and GetCallerIdentity. Its fields are its configuration and
// hooks; the zero lifetimes mean the defaults.
type STS struct {
	Verifier *Verifier
	Sessions *Sessions

	// DefaultLifetime applies when the agent sends no DurationSeconds
	// (default 1h); MaxLifetime caps what it may ask for (default 12h).
	// Sessions never outlive the web identity token.
	DefaultLifetime, MaxLifetime time.Duration

	// Authorize, if set, decides whether a verified identity (Role and
	// SessionName filled in) may have a session; an error refuses the call
	// with AccessDenied, the error going to Report, not to the agent.
	Authorize func(ctx context.Context, id *Identity) error

	// Report, if set, is told the outcome of every AssumeRoleWithWeb
	// Identity call, for the log and the record. It never sees the token,
	// the secret or the session token.
	Report func(ctx context.Context, o Outcome)
}

// Outcome is what AssumeRoleWithWebIdentity decided.
type Outcome struct {
	Identity    *Identity // nil if no identity was established
	AccessKeyID string    // the session's; "" on failure
	Expiration  time.Time
	Code        string // the STS error code; "" on success
	Err         error  // the internal cause of a failure, for the log
}

// ParseForm returns the parameters of a query-protocol request: the body
// of a POST (application/x-www-form-urlencoded, at most MaxFormBytes,
// which the caller has read) or the query of a GET. It refuses anything
// ambiguous rather than guess: a parameter given twice, a POST that also
// has a query, a GET with a body, an encoded body.
func ParseForm(r *http.Request, body []byte) (url.Values, error) {
	var raw string
	switch r.Method {
	case http.MethodPost:
		ct, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || ct != "application/x-www-form-urlencoded" {
			return nil, errors.New("parse form: content type is not application/x-www-form-urlencoded")
		}
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
			return nil, errors.New("parse form: charset is not utf-8")
		}
		if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
			return nil, errors.New("parse form: encoded body")
		}
		if r.URL != nil && r.URL.RawQuery != "" {
			return nil, errors.New("parse form: a POST with a query string")
		}
		raw = string(body)
	case http.MethodGet:
		if len(body) > 0 {
			return nil, errors.New("parse form: a GET with a body")
		}
		if r.URL != nil {
			raw = r.URL.RawQuery
		}
	default:
		return nil, fmt.Errorf("parse form: method %s", clip(r.Method))
	}
	if len(raw) > MaxFormBytes {
		return nil, fmt.Errorf("parse form: larger than %d bytes", MaxFormBytes)
	}
	form, err := url.ParseQuery(raw)
	if err != nil {
		return nil, errors.New("parse form: malformed")
	}
	for k, vs := range form {
		if k == "" {
			return nil, errors.New("parse form: a parameter without a name")
		}
		if len(vs) != 1 {
			return nil, fmt.Errorf("parse form: parameter %q given %d times", clip(k), len(vs))
		}
	}
	return form, nil
}

// Action returns the STS action a parsed form names, checking the
// protocol version.
func Action(form url.Values) (string, error) {
	a := form.Get("Action")
	if a == "" {
		return "", errors.New("sts: no Action")
	}
	if v := form.Get("Version"); v != STSVersion {
		return "", fmt.Errorf("sts: Version %q, want %s", clip(v), STSVersion)
	}
	return a, nil
}

func (s *STS) lifetimes() (def, max time.Duration) {
	def, max = s.DefaultLifetime, s.MaxLifetime
	if def <= 0 {
		def = time.Hour
	}
	if max <= 0 {
		max = 12 * time.Hour
	}
	return min(def, max), max
}

// AssumeRoleWithWebIdentity answers the call: it is unsigned by design,
// the token being the credential. It verifies WebIdentityToken, requires
// RoleArn and RoleSessionName, and returns the body AWS would, with
// Gatehouse session credentials in it, or an STS error: InvalidIdentity
// Token, ExpiredTokenException, IDPCommunicationError (the IdP is down;
// SDKs retry), ValidationError, AccessDenied (403).
func (s *STS) AssumeRoleWithWebIdentity(ctx context.Context, form url.Values, requestID string, now time.Time) (status int, body []byte) {
	o := Outcome{}
	fail := func(code, msg string, status int, err error) (int, []byte) {
		o.Code, o.Err = code, err
		if s.Report != nil {
			s.Report(ctx, o)
		}
		return ErrorResponse(code, msg, requestID, status)
	}
	invalidParam := func(name, constraint string) (int, []byte) {
		msg := "1 validation error detected: Value at '" + name + "' failed to satisfy constraint: " + constraint
		return fail("ValidationError", msg, http.StatusBadRequest, errors.New(msg))
	}

	role, err := parseRoleARN(form.Get("RoleArn"))
	if err != nil {
		return invalidParam("roleArn", "Member must be an IAM role ARN (arn:aws:iam::123456789012:role/NAME)")
	}
	session := form.Get("RoleSessionName")
	if !iamName(session, 2, 64) {
		return invalidParam("roleSessionName", "Member must satisfy regular expression pattern: [\\w+=,.@-]{2,64}")
	}
	token := form.Get("WebIdentityToken")
	if len(token) < 4 || len(token) > MaxTokenLen {
		return invalidParam("webIdentityToken", "Member must have length between 4 and 20000")
	}
	def, maxLife := s.lifetimes()
	lifetime := def
	if ds := form.Get("DurationSeconds"); ds != "" {
		n, err := strconv.Atoi(ds)
		switch {
		case err != nil || n < 900:
			return invalidParam("durationSeconds", "Member must have value greater than or equal to 900")
		case time.Duration(n)*time.Second > maxLife:
			return fail("ValidationError", fmt.Sprintf("The requested DurationSeconds exceeds the MaxSessionDuration set for this role (%d).", int(maxLife/time.Second)), http.StatusBadRequest, nil)
		}
		lifetime = time.Duration(n) * time.Second
	}
	// A session policy would narrow the session, and Gatehouse cannot
	// honour one: its own policy decides. Refusing is the honest answer.
	for k := range form {
		if k == "Policy" || strings.HasPrefix(k, "PolicyArns.") || k == "ProviderId" {
			return fail("ValidationError", "Gatehouse: "+k+" is not supported; Gatehouse policy decides what a session may do", http.StatusBadRequest, nil)
		}
	}

	if s.Verifier == nil || s.Sessions == nil {
		return fail("InvalidIdentityToken", "Gatehouse: no OIDC issuers are configured", http.StatusBadRequest, errors.New("sts: no verifier or sessions"))
	}
	id, aud, err := s.Verifier.verify(ctx, token)
	if err != nil {
		code, status := ErrorCode(err)
		var te *TokenError
		msg := "Gatehouse: web identity token not valid"
		if errors.As(err, &te) {
			msg = "Gatehouse: " + te.Reason
		}
		return fail(code, msg, status, err)
	}
	id.Role, id.SessionName = role.arn, session
	o.Identity = id
	if s.Authorize != nil {
		if err := s.Authorize(ctx, id); err != nil {
			return fail("AccessDenied", "Gatehouse: not authorized to perform sts:AssumeRoleWithWebIdentity on "+role.arn, http.StatusForbidden, err)
		}
	}
	creds, err := s.Sessions.Issue(*id, lifetime, now)
	if err != nil {
		switch {
		case errors.Is(err, ErrExpiredToken):
			return fail("ExpiredTokenException", "Gatehouse: token has expired", http.StatusBadRequest, err)
		case errors.Is(err, ErrIdentityTooLarge):
			return fail("InvalidIdentityToken", "Gatehouse: the token's groups are too many or too long for a session", http.StatusBadRequest, err)
		}
		return fail("InternalFailure", "Gatehouse could not issue a session", http.StatusInternalServerError, err)
	}
	o.AccessKeyID, o.Expiration = creds.AccessKeyID, creds.Expiration
	if s.Report != nil {
		s.Report(ctx, o)
	}

	var resp assumeRoleWithWebIdentityResponse
	r := &resp.Result
	r.Credentials = stsCredentials{creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken, creds.Expiration.UTC().Format(time.RFC3339)}
	r.SubjectFromWebIdentityToken = id.Subject
	r.AssumedRoleUser.Arn = role.assumedARN(session)
	r.AssumedRoleUser.AssumedRoleID = role.id() + ":" + session
	r.Provider = id.Issuer
	r.Audience = aud
	resp.Metadata.RequestID = requestID
	return http.StatusOK, marshalXML(resp)
}

// GetCallerIdentity answers for an authenticated identity. An OIDC session
// is its assumed role (the role's account); a key or address identity is
// arn:aws:iam::ACCOUNT:user/gatehouse/NAME, with account the 12-digit
// account Gatehouse reports for them.
func (s *STS) GetCallerIdentity(id *Identity, account, requestID string) (status int, body []byte) {
	if id == nil {
		return ErrorResponse("AccessDenied", "Gatehouse: no identity", requestID, http.StatusForbidden)
	}
	var resp getCallerIdentityResponse
	r := &resp.Result
	if role, err := parseRoleARN(id.Role); err == nil {
		session := id.SessionName
		if session == "" {
			session = "gatehouse"
		}
		r.Arn, r.UserID, r.Account = role.assumedARN(session), role.id()+":"+session, role.account
	} else {
		if account == "" {
			account = "000000000000"
		}
		name := strings.Map(func(r rune) rune {
			if iamName(string(r), 1, 4) {
				return r
			}
			return '-'
		}, id.Subject)
		r.Arn = "arn:aws:iam::" + account + ":user/gatehouse/" + name
		r.UserID = derivedID("GHU", id.Source+"\x00"+id.Issuer+"\x00"+id.Subject)
		r.Account = account
	}
	resp.Metadata.RequestID = requestID
	return http.StatusOK, marshalXML(resp)
}

// ErrorResponse is an STS error body and its status (0 means 400): Type
// Sender for 4xx, Receiver for 5xx. message is shown to the agent.
func ErrorResponse(code, message, requestID string, status int) (int, []byte) {
	if status == 0 {
		status = http.StatusBadRequest
	}
	var e stsErrorResponse
	e.Error.Type = "Sender"
	if status >= 500 {
		e.Error.Type = "Receiver"
	}
	e.Error.Code, e.Error.Message, e.RequestID = code, message, requestID
	return status, marshalXML(e)
}

// roleARN is a parsed arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME.
type roleARN struct {
	arn, partition, account, name string
}

func parseRoleARN(s string) (roleARN, error) {
	bad := errors.New("not an IAM role ARN")
	if len(s) < 20 || len(s) > 2048 {
		return roleARN{}, bad
	}
	p := strings.SplitN(s, ":", 6)
	if len(p) != 6 || p[0] != "arn" || p[2] != "iam" || p[3] != "" || !strings.HasPrefix(p[5], "role/") {
		return roleARN{}, bad
	}
	if p[1] == "" || strings.Trim(p[1], "abcdefghijklmnopqrstuvwxyz-") != "" {
		return roleARN{}, bad
	}
	if len(p[4]) != 12 || strings.Trim(p[4], "0123456789") != "" {
		return roleARN{}, bad
	}
	path := strings.TrimPrefix(p[5], "role/")
	name := path[strings.LastIndexByte(path, '/')+1:]
	if !iamName(name, 1, 64) {
		return roleARN{}, bad
	}
	for _, r := range path {
		if r < 0x21 || r > 0x7e {
			return roleARN{}, bad
		}
	}
	return roleARN{arn: s, partition: p[1], account: p[4], name: name}, nil
}

func (r roleARN) assumedARN(session string) string {
	return "arn:" + r.partition + ":sts::" + r.account + ":assumed-role/" + r.name + "/" + session
}

// id is a stable role id in the shape of AWS's (AROA… there, GHR… here).
func (r roleARN) id() string { return derivedID("GHR", r.arn) }

func derivedID(prefix, of string) string {
	sum := sha256.Sum256([]byte("gatehouse/v1/id\x00" + of))
	return prefix + b32.EncodeToString(sum[:11])[:17]
}

type stsCredentials struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
	Expiration      string `xml:"Expiration"`
}

type responseMetadata struct {
	RequestID string `xml:"RequestId"`
}

type assumeRoleWithWebIdentityResponse struct {
	XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ AssumeRoleWithWebIdentityResponse"`
	Result  struct {
		Credentials                 stsCredentials `xml:"Credentials"`
		SubjectFromWebIdentityToken string         `xml:"SubjectFromWebIdentityToken"`
		AssumedRoleUser             struct {
			Arn           string `xml:"Arn"`
			AssumedRoleID string `xml:"AssumedRoleId"`
		} `xml:"AssumedRoleUser"`
		Provider string `xml:"Provider"`
		Audience string `xml:"Audience"`
	} `xml:"AssumeRoleWithWebIdentityResult"`
	Metadata responseMetadata `xml:"ResponseMetadata"`
}

type getCallerIdentityResponse struct {
	XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ GetCallerIdentityResponse"`
	Result  struct {
		Arn     string `xml:"Arn"`
		UserID  string `xml:"UserId"`
		Account string `xml:"Account"`
	} `xml:"GetCallerIdentityResult"`
	Metadata responseMetadata `xml:"ResponseMetadata"`
}

type stsErrorResponse struct {
	XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ ErrorResponse"`
	Error   struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}

func marshalXML(v any) []byte {
	b, err := xml.Marshal(v)
	if err != nil {
		panic(err) // fixed structs of strings: cannot fail
	}
	return b
}
