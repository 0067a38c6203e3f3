package identity

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Access key id prefixes: what Lookup dispatches on. Both ids are 20
// characters, as AWS's are, so SDKs and log parsers take them as they come.
const (
	SessionKeyPrefix = "GHS" // session credentials from STS AssumeRoleWithWebIdentity
	StaticKeyPrefix  = "GHK" // static keys from `gatehouse keys create`
)

// Session token layout, before base64url (no padding):
//
//	version (1) | key id (4, big-endian) | GCM nonce (12) | sealed identity + tag
//
// The version and key id are the AEAD's additional data, so they cannot be
// swapped either.
const (
	sessionVersion   = 1
	sessionHeaderLen = 1 + 4
	// MaxSessionTokenLen bounds a session token: Issue refuses an identity
	// whose token would be longer with ErrIdentityTooLarge, Open refuses a
	// longer token before decoding it. Any identity from a web identity
	// token within AWS's 20000 characters fits (its claims are at most
	// 15000 bytes), and so does the token in intercept's 64 KiB headers.
	MaxSessionTokenLen = 24 << 10
)

// ErrIdentityTooLarge is Issue's answer for an identity that does not fit
// in a session token.
var ErrIdentityTooLarge = errors.New("identity too large for a session token")

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// Credentials are what an agent signs its requests with. SecretAccessKey
// and SessionToken are secrets: never log or record them.
type Credentials struct {
	AccessKeyID, SecretAccessKey, SessionToken string
	Expiration                                 time.Time
}

// Format prints the access key id and expiry only, whatever the verb.
func (c Credentials) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "Credentials(%s, expires %s)", c.AccessKeyID, c.Expiration.UTC().Format(time.RFC3339))
}

// Sessions issues and opens stateless session credentials: the session
// token is the identity sealed under the key ring, and the access key id
// and secret are derived from the token, so nothing is stored and any
// gateway holding the ring opens any token.
type Sessions struct {
	ring *KeyRing
}

func NewSessions(ring *KeyRing) *Sessions { return &Sessions{ring: ring} }

// sealedIdentity is the plaintext inside a session token.
type sealedIdentity struct {
	Source      string   `json:"src"`
	Issuer      string   `json:"iss,omitempty"`
	Subject     string   `json:"sub"`
	Groups      []string `json:"grp,omitempty"`
	Role        string   `json:"role,omitempty"`
	SessionName string   `json:"sess,omitempty"`
	Expiry      int64    `json:"exp"`
	IssuedAt    int64    `json:"iat"`
}

// Issue seals id under the ring's current key. The credentials expire at
// now+lifetime or at id.Expiry (the web identity token's), whichever is
// first, to the second.
func (s *Sessions) Issue(id Identity, lifetime time.Duration, now time.Time) (Credentials, error) {
	if lifetime <= 0 {
		return Credentials{}, errors.New("issue session: lifetime must be positive")
	}
	exp := now.Add(lifetime)
	if !id.Expiry.IsZero() && id.Expiry.Before(exp) {
		exp = id.Expiry
	}
	exp = exp.Truncate(time.Second)
	if !exp.After(now) {
		return Credentials{}, fmt.Errorf("issue session: identity expires before the session starts: %w", ErrExpiredToken)
	}
	rk, err := s.ring.current()
	if err != nil {
		return Credentials{}, fmt.Errorf("issue session: %w", err)
	}
	plain, err := json.Marshal(sealedIdentity{
		Source: id.Source, Issuer: id.Issuer, Subject: id.Subject, Groups: id.Groups,
		Role: id.Role, SessionName: id.SessionName, Expiry: exp.Unix(), IssuedAt: now.Unix(),
	})
	if err != nil {
		return Credentials{}, fmt.Errorf("issue session: %w", err)
	}
	raw := make([]byte, sessionHeaderLen, sessionHeaderLen+rk.seal.NonceSize()+len(plain)+rk.seal.Overhead())
	raw[0] = sessionVersion
	binary.BigEndian.PutUint32(raw[1:], rk.id)
	nonce := make([]byte, rk.seal.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return Credentials{}, fmt.Errorf("issue session: %w", err)
	}
	raw = append(raw, nonce...)
	raw = rk.seal.Seal(raw, nonce, plain, raw[:sessionHeaderLen])
	token := base64.RawURLEncoding.EncodeToString(raw)
	if len(token) > MaxSessionTokenLen {
		return Credentials{}, fmt.Errorf("issue session: %d groups: %w", len(id.Groups), ErrIdentityTooLarge)
	}
	return Credentials{
		AccessKeyID:     sessionAccessKeyID(rk, raw),
		SecretAccessKey: sessionSecret(rk, raw),
		SessionToken:    token,
		Expiration:      exp.UTC(),
	}, nil
}

// Open unseals sessionToken and checks that accessKeyID was derived from
// it, then that it has not expired. It returns the sealed identity (Expiry
// is the session's) and the secret the request must be signed with.
// Anything not sealed by a key in the ring is ErrInvalidClientTokenID.
func (s *Sessions) Open(accessKeyID, sessionToken string, now time.Time) (*Identity, string, error) {
	invalid := func(why string) (*Identity, string, error) {
		return nil, "", fmt.Errorf("open session: %s: %w", why, ErrInvalidClientTokenID)
	}
	if len(accessKeyID) != 20 || !strings.HasPrefix(accessKeyID, SessionKeyPrefix) {
		return invalid("not a session access key id")
	}
	if sessionToken == "" {
		return invalid("no session token")
	}
	if len(sessionToken) > MaxSessionTokenLen || !isBase64URL(sessionToken) {
		return invalid("malformed session token")
	}
	// Strict: with the alphabet checked above, one token has exactly one
	// spelling (the decoder would otherwise skip newlines and ignore the
	// last character's spare bits).
	raw, err := base64.RawURLEncoding.Strict().DecodeString(sessionToken)
	if err != nil {
		return invalid("malformed session token")
	}
	if len(raw) < sessionHeaderLen || raw[0] != sessionVersion {
		return invalid("unknown session token version")
	}
	rk, ok := s.ring.key(binary.BigEndian.Uint32(raw[1:sessionHeaderLen]))
	if !ok {
		return invalid("session token sealed by a key not in the ring")
	}
	want := sessionAccessKeyID(rk, raw)
	if subtle.ConstantTimeCompare([]byte(accessKeyID), []byte(want)) != 1 {
		return invalid("access key id does not match the session token")
	}
	body := raw[sessionHeaderLen:]
	ns := rk.seal.NonceSize()
	if len(body) < ns+rk.seal.Overhead() {
		return invalid("malformed session token")
	}
	plain, err := rk.seal.Open(nil, body[:ns], body[ns:], raw[:sessionHeaderLen])
	if err != nil {
		return invalid("session token does not open")
	}
	var si sealedIdentity
	if err := json.Unmarshal(plain, &si); err != nil {
		// Authentic but unreadable: only a bug in Issue could do this.
		return invalid("sealed identity unreadable")
	}
	exp := time.Unix(si.Expiry, 0).UTC()
	if !now.Before(exp) {
		return nil, "", fmt.Errorf("open session: expired at %s: %w", exp.Format(time.RFC3339), ErrExpiredToken)
	}
	return &Identity{
		Source: si.Source, Issuer: si.Issuer, Subject: si.Subject, Groups: si.Groups,
		Role: si.Role, SessionName: si.SessionName, Expiry: exp,
	}, sessionSecret(rk, raw), nil
}

// sessionAccessKeyID is "GHS" and 17 base32 characters (85 bits) of an
// HMAC of the token.
func sessionAccessKeyID(rk *ringKey, raw []byte) string {
	m := hmac.New(sha256.New, rk.akid)
	m.Write(raw)
	return SessionKeyPrefix + b32.EncodeToString(m.Sum(nil)[:11])[:17]
}

// sessionSecret is 40 base64 characters (240 bits) of an HMAC of the
// token, shaped like an AWS secret access key.
func sessionSecret(rk *ringKey, raw []byte) string {
	m := hmac.New(sha256.New, rk.secret)
	m.Write(raw)
	return base64.StdEncoding.EncodeToString(m.Sum(nil)[:30])
}

func isBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
