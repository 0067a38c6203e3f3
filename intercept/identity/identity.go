package identity

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Identity is who the agent is. It holds names only: nothing in it is a
// secret, so it may be logged and recorded.
type Identity struct {
	Source      string    // "oidc", "key", "address"
	Issuer      string    // OIDC issuer URL ("" otherwise)
	Subject     string    // OIDC subject claim, key's identity name, or address rule's identity
	Groups      []string  // OIDC groups claim, or the key's or address rule's groups
	Role        string    // role ARN the agent asked for (AssumeRoleWithWebIdentity RoleArn), may be ""
	SessionName string    // RoleSessionName the agent sent
	Expiry      time.Time // when the token or session ends; zero for keys and addresses
}

// Identity sources.
const (
	SourceOIDC    = "oidc"
	SourceKey     = "key"
	SourceAddress = "address"
)

// String names the agent: "oidc:https://issuer#subject", "key:name",
// "address:name". Names the agent's IdP or operator chose are quoted if
// they hold anything but graphic characters, so a log line stays one line.
func (id Identity) String() string {
	name := id.Subject
	if id.Source == SourceOIDC {
		name = id.Issuer + "#" + id.Subject
	}
	src := id.Source
	if src == "" {
		src = "unknown"
	}
	return src + ":" + quoteIfNeeded(name)
}

// LogValue lets slog print the identity as a group. It carries no secret.
func (id Identity) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("source", id.Source)}
	if id.Issuer != "" {
		attrs = append(attrs, slog.String("issuer", id.Issuer))
	}
	attrs = append(attrs, slog.String("subject", id.Subject))
	if len(id.Groups) > 0 {
		attrs = append(attrs, slog.Any("groups", id.Groups))
	}
	if id.Role != "" {
		attrs = append(attrs, slog.String("role", id.Role))
	}
	if id.SessionName != "" {
		attrs = append(attrs, slog.String("session_name", id.SessionName))
	}
	if !id.Expiry.IsZero() {
		attrs = append(attrs, slog.Time("expiry", id.Expiry))
	}
	return slog.GroupValue(attrs...)
}

func quoteIfNeeded(s string) string {
	for _, r := range s {
		if !unicode.IsGraphic(r) || r == '"' {
			return strconv.Quote(s)
		}
	}
	return s
}

// Errors. OIDC verification (Verifier.Verify, STS AssumeRoleWithWebIdentity)
// wraps ErrTokenInvalid, ErrTokenExpired or ErrIdPUnavailable in a
// *TokenError. Credential lookups for signed requests (Sessions.Open,
// KeyStore.Lookup, Lookup.Credentials) wrap ErrInvalidClientTokenID or
// ErrExpiredToken; the names follow the AWS error codes the SDKs act on
// (ExpiredToken makes them refresh credentials). None of them ever carries a
// token, secret or session token.
var (
	ErrTokenInvalid   = errors.New("web identity token not valid")
	ErrTokenExpired   = errors.New("web identity token expired")
	ErrIdPUnavailable = errors.New("identity provider unavailable")

	ErrInvalidClientTokenID = errors.New("the security token included in the request is invalid")
	ErrExpiredToken         = errors.New("the security token included in the request is expired")

	// ErrKeyNotFound is KeyStore.Revoke's answer for an access key id it
	// does not hold (an operator's typo, not an agent's request).
	ErrKeyNotFound = errors.New("no such access key")
)

// TokenError is why a web identity token was refused. Reason is safe to
// show the agent; Err is the internal cause, for the log only (it names
// claims and IdP responses, never the token).
type TokenError struct {
	Kind   error  // ErrTokenInvalid, ErrTokenExpired or ErrIdPUnavailable
	Reason string // e.g. "audience not allowed"
	Err    error  // may be nil
}

func (e *TokenError) Error() string {
	if e.Err != nil {
		return "verify web identity token: " + e.Reason + ": " + e.Err.Error()
	}
	return "verify web identity token: " + e.Reason
}

func (e *TokenError) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}

// ErrorCode is the AWS error code and HTTP status an agent's SDK expects for
// an error from this package, for the one place in intercept that turns
// errors into responses. Anything else is AccessDenied: fail closed.
func ErrorCode(err error) (code string, status int) {
	switch {
	case errors.Is(err, ErrExpiredToken):
		return "ExpiredToken", http.StatusBadRequest // S3's status; IAM's is 403, and SDKs go by the code
	case errors.Is(err, ErrInvalidClientTokenID):
		return "InvalidClientTokenId", http.StatusForbidden
	case errors.Is(err, ErrTokenExpired):
		return "ExpiredTokenException", http.StatusBadRequest
	case errors.Is(err, ErrIdPUnavailable):
		return "IDPCommunicationError", http.StatusBadRequest
	case errors.Is(err, ErrTokenInvalid):
		return "InvalidIdentityToken", http.StatusBadRequest
	}
	return "AccessDenied", http.StatusForbidden
}

// printable reports whether s is non-empty, at most max bytes, valid
// UTF-8 and free of control characters.
func printable(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for _, r := range s {
		if r == '\uFFFD' || unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// iamName reports whether s fits IAM's name alphabet ([\w+=,.@-]) and
// length, as role session names and user names must.
func iamName(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_+=,.@-", r))
	}) < 0
}
