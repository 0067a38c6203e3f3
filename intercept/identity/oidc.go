package identity

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"
)

// IssuerConfig is one trusted OIDC issuer.
type IssuerConfig struct {
	// URL is the issuer, exactly as tokens' iss claim spells it (a
	// trailing slash counts).
	URL string `yaml:"url"`
	// Audiences a token may be for; at least one. AWS's own is
	// "sts.amazonaws.com".
	Audiences []string `yaml:"audiences"`
	// SubjectClaim names the agent; default "sub". It must be a string.
	SubjectClaim string `yaml:"subject_claim"`
	// GroupsClaim holds the agent's groups, a string or a list of
	// strings; default "groups". Absent means no groups.
	GroupsClaim string `yaml:"groups_claim"`
	// Algorithms allowed to sign tokens; default RS256 and ES256. Only
	// asymmetric ones exist here: never "none", never HS*.
	Algorithms []string `yaml:"algorithms"`
	// JWKSFile, for sites that cannot reach the issuer: verify against
	// the keys in this JWKS file (re-read when it changes) and never
	// dial the issuer.
	JWKSFile string `yaml:"jwks_file"`
	// CABundle is a PEM file of roots trusted, in addition to the
	// system's, for the issuer's TLS (discovery and JWKS).
	CABundle string `yaml:"ca_bundle"`
}

// Defaults and bounds for tokens.
var defaultAlgorithms = []string{oidc.RS256, oidc.ES256}

const (
	// MaxTokenLen is AWS's bound on WebIdentityToken; longer is refused
	// before it is parsed.
	MaxTokenLen = 20000

	maxGroups     = 256
	maxGroupLen   = 256
	maxSubjectLen = 1024

	// Between two failed discoveries of one issuer, tokens for it fail
	// at once instead of each waiting on an IdP that is down.
	discoveryRetryAfter = 5 * time.Second
	discoveryTimeout    = 10 * time.Second
	defaultHTTPTimeout  = 30 * time.Second
	nbfLeeway           = 5 * time.Minute // go-oidc's
	maxJWKSFileSize     = 1 << 20
)

// signingAlgorithms are the algorithms a config may allow: go-oidc's
// asymmetric set.
var signingAlgorithms = map[string]bool{
	oidc.RS256: true, oidc.RS384: true, oidc.RS512: true,
	oidc.ES256: true, oidc.ES384: true, oidc.ES512: true,
	oidc.PS256: true, oidc.PS384: true, oidc.PS512: true,
	oidc.EdDSA: true,
}

// Verifier verifies web identity tokens from the configured issuers with
// go-oidc: signature (allowed algorithms only), issuer, expiry and not
// before; then audience, subject and groups here.
type Verifier struct {
	issuers    map[string]*issuer
	now        func() time.Time
	retryAfter time.Duration
}

type issuer struct {
	cfg       IssuerConfig
	algs      map[string]bool
	audiences []string
	client    *http.Client
	oidcCfg   *oidc.Config

	verifier atomic.Pointer[oidc.IDTokenVerifier] // nil until discovery succeeds
	discover singleflight.Group
	keys     *remoteKeys      // the discovered JWKS (nil for a jwks_file)
	now      func() time.Time // the Verifier's clock
	mu       sync.Mutex
	failedAt time.Time
	failErr  error
}

// NewVerifier checks the issuers' configs and, for JWKS-file issuers,
// loads their keys. It dials nothing: discovery happens on the first token
// for an issuer, is cached, and is retried on later tokens if it failed,
// so Gatehouse starts while an IdP is down. JWKS caching and refetching on
// an unknown key id (rotation) are remoteKeys, which spaces refetches so
// forged tokens cannot turn Gatehouse against the IdP.
//
// client is the base for the issuers' HTTP clients (nil: a default one);
// an issuer with a CA bundle gets a copy trusting it. A client without a
// timeout gets one, as go-oidc fetches keys without a deadline.
func NewVerifier(issuers []IssuerConfig, client *http.Client) (*Verifier, error) {
	v := &Verifier{issuers: make(map[string]*issuer, len(issuers)), now: time.Now, retryAfter: discoveryRetryAfter}
	for i, cfg := range issuers {
		is, err := v.newIssuer(cfg, client)
		if err != nil {
			return nil, fmt.Errorf("oidc issuer %d (%s): %w", i+1, cfg.URL, err)
		}
		if _, dup := v.issuers[is.cfg.URL]; dup {
			return nil, fmt.Errorf("oidc issuer %d (%s): configured twice", i+1, cfg.URL)
		}
		v.issuers[is.cfg.URL] = is
	}
	return v, nil
}

func (v *Verifier) newIssuer(cfg IssuerConfig, base *http.Client) (*issuer, error) {
	u, err := url.Parse(cfg.URL)
	switch {
	case cfg.URL == "":
		return nil, errors.New("url: required")
	case err != nil:
		return nil, fmt.Errorf("url: %w", err)
	case cfg.JWKSFile == "" && (u.Scheme != "https" || u.Host == ""):
		return nil, errors.New("url: want https://host[/path]: discovery and keys are fetched from it")
	case u.RawQuery != "" || u.Fragment != "":
		return nil, errors.New("url: must not have a query or fragment")
	}
	if cfg.SubjectClaim == "" {
		cfg.SubjectClaim = "sub"
	}
	if cfg.GroupsClaim == "" {
		cfg.GroupsClaim = "groups"
	}
	if len(cfg.Audiences) == 0 {
		return nil, errors.New("audiences: at least one required")
	}
	for _, a := range cfg.Audiences {
		if a == "" {
			return nil, errors.New("audiences: empty audience")
		}
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = slices.Clone(defaultAlgorithms)
	}
	algs := map[string]bool{}
	for _, a := range cfg.Algorithms {
		switch {
		case strings.EqualFold(a, "none") || strings.HasPrefix(strings.ToUpper(a), "HS"):
			return nil, fmt.Errorf("algorithms: %q is never allowed: a token must be signed with the issuer's private key", a)
		case !signingAlgorithms[a]:
			return nil, fmt.Errorf("algorithms: %q is not one of RS256, RS384, RS512, ES256, ES384, ES512, PS256, PS384, PS512, EdDSA", a)
		}
		algs[a] = true
	}
	if cfg.JWKSFile != "" && cfg.CABundle != "" {
		return nil, errors.New("ca_bundle has no effect with jwks_file: nothing is fetched")
	}
	is := &issuer{cfg: cfg, algs: algs, audiences: slices.Clone(cfg.Audiences), now: func() time.Time { return v.now() }}
	is.oidcCfg = &oidc.Config{
		// Audiences are checked here: go-oidc takes only one.
		SkipClientIDCheck:    true,
		SupportedSigningAlgs: slices.Clone(cfg.Algorithms),
		Now:                  func() time.Time { return v.now() },
	}
	if cfg.JWKSFile != "" {
		keys, err := loadFileKeySet(cfg.JWKSFile)
		if err != nil {
			return nil, fmt.Errorf("jwks_file: %w", err)
		}
		is.verifier.Store(oidc.NewVerifier(cfg.URL, recordingKeySet{keys}, is.oidcCfg))
		return is, nil
	}
	if is.client, err = issuerClient(base, cfg.CABundle); err != nil {
		return nil, fmt.Errorf("ca_bundle: %w", err)
	}
	return is, nil
}

// Verify checks rawToken and returns who it names. Errors are *TokenError
// wrapping ErrTokenInvalid, ErrTokenExpired or ErrIdPUnavailable.
func (v *Verifier) Verify(ctx context.Context, rawToken string) (*Identity, error) {
	id, _, err := v.verify(ctx, rawToken)
	return id, err
}

// verify is Verify that also returns the audience the token matched.
func (v *Verifier) verify(ctx context.Context, raw string) (*Identity, string, error) {
	invalid := func(reason string, err error) (*Identity, string, error) {
		return nil, "", &TokenError{Kind: ErrTokenInvalid, Reason: reason, Err: err}
	}
	if raw == "" {
		return invalid("no token", nil)
	}
	if len(raw) > MaxTokenLen {
		return invalid("token too large", nil)
	}
	// The issuer and algorithm are read before the signature is checked,
	// only to pick the issuer's keys and refuse early; go-oidc checks both
	// again on the verified token.
	alg, iss, err := peekJWT(raw)
	if err != nil {
		return invalid("token is malformed", err)
	}
	is := v.issuers[iss]
	if is == nil {
		return invalid("issuer not configured", fmt.Errorf("iss %q", clip(iss)))
	}
	if !is.algs[alg] {
		return invalid("algorithm not allowed", fmt.Errorf("alg %q, allowed %v", clip(alg), is.cfg.Algorithms))
	}
	ov, err := is.oidcVerifier(ctx, v.retryAfter)
	if err != nil {
		return nil, "", &TokenError{Kind: ErrIdPUnavailable, Reason: "identity provider unavailable", Err: err}
	}
	rec := &sigResult{}
	tok, err := ov.Verify(context.WithValue(ctx, sigResultKey{}, rec), raw)
	if err != nil {
		return nil, "", v.classify(err, rec)
	}

	var claims map[string]json.RawMessage
	if err := tok.Claims(&claims); err != nil {
		return invalid("token is malformed", err)
	}
	aud := ""
	for _, a := range tok.Audience {
		if slices.Contains(is.audiences, a) {
			aud = a
			break
		}
	}
	if aud == "" {
		return invalid("audience not allowed", fmt.Errorf("aud %q, allowed %q", tok.Audience, is.audiences))
	}
	var sub string
	if c, ok := claims[is.cfg.SubjectClaim]; ok {
		_ = json.Unmarshal(c, &sub) // a non-string leaves it empty
	}
	if sub == "" {
		return invalid("subject claim missing", fmt.Errorf("claim %q", is.cfg.SubjectClaim))
	}
	if !printable(sub, maxSubjectLen) {
		return invalid("subject claim not valid", fmt.Errorf("claim %q", is.cfg.SubjectClaim))
	}
	groups, err := groupsClaim(claims[is.cfg.GroupsClaim])
	if err != nil {
		return invalid("groups claim not valid", fmt.Errorf("claim %q: %w", is.cfg.GroupsClaim, err))
	}
	return &Identity{Source: SourceOIDC, Issuer: is.cfg.URL, Subject: sub, Groups: groups, Expiry: tok.Expiry}, aud, nil
}

// classify turns go-oidc's error into a reason the agent may read. go-oidc
// checks the signature first, then the claims; which of the two failed is
// known from what the key set saw.
func (v *Verifier) classify(err error, rec *sigResult) error {
	var expired *oidc.TokenExpiredError
	switch {
	case errors.As(err, &expired) && expired.Expiry.IsZero():
		return &TokenError{Kind: ErrTokenInvalid, Reason: "token has no expiry", Err: err}
	case errors.As(err, &expired):
		return &TokenError{Kind: ErrTokenExpired, Reason: "token has expired", Err: err}
	case !rec.checked:
		return &TokenError{Kind: ErrTokenInvalid, Reason: "token is malformed", Err: err}
	case rec.err != nil && keysUnavailable(rec.err):
		return &TokenError{Kind: ErrIdPUnavailable, Reason: "identity provider keys unavailable", Err: err}
	case rec.err != nil:
		return &TokenError{Kind: ErrTokenInvalid, Reason: "signature not valid", Err: err}
	}
	// The signature holds; a claim did not. The payload is verified now.
	var c struct {
		NotBefore *json.Number `json:"nbf"`
	}
	if json.Unmarshal(rec.payload, &c) == nil && c.NotBefore != nil {
		if nbf, perr := c.NotBefore.Float64(); perr == nil && v.now().Add(nbfLeeway).Before(time.Unix(int64(nbf), 0)) {
			return &TokenError{Kind: ErrTokenInvalid, Reason: "token not yet valid", Err: err}
		}
	}
	return &TokenError{Kind: ErrTokenInvalid, Reason: "token not valid", Err: err}
}

// keysUnavailable tells a failed JWKS fetch (the token's key id was not
// cached and the IdP did not answer) from a signature that does not hold.
func keysUnavailable(err error) bool {
	var ue *url.Error
	return errors.As(err, &ue) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		strings.HasPrefix(err.Error(), "fetching keys") // go-oidc's RemoteKeySet, non-200 answers
}

// oidcVerifier returns the issuer's go-oidc verifier, discovering it on
// first use. Concurrent first tokens share one discovery; after a failure,
// tokens fail at once until retryAfter has passed.
func (is *issuer) oidcVerifier(ctx context.Context, retryAfter time.Duration) (*oidc.IDTokenVerifier, error) {
	if ov := is.verifier.Load(); ov != nil {
		return ov, nil
	}
	ch := is.discover.DoChan("", func() (any, error) {
		if ov := is.verifier.Load(); ov != nil {
			return ov, nil
		}
		is.mu.Lock()
		if is.failErr != nil && time.Since(is.failedAt) < retryAfter {
			err := is.failErr
			is.mu.Unlock()
			return nil, err
		}
		is.mu.Unlock()
		ov, err := is.discoverNow()
		is.mu.Lock()
		defer is.mu.Unlock()
		if err != nil {
			is.failErr, is.failedAt = err, time.Now()
			return nil, err
		}
		is.failErr = nil
		is.verifier.Store(ov)
		return ov, nil
	})
	return await[*oidc.IDTokenVerifier](ctx, ch)
}

func (is *issuer) discoverNow() (*oidc.IDTokenVerifier, error) {
	// Not the token's context: one discovery serves every waiting token,
	// and one agent giving up must not fail it for the others.
	ctx, cancel := context.WithTimeout(oidc.ClientContext(context.Background(), is.client), discoveryTimeout)
	defer cancel()
	p, err := oidc.NewProvider(ctx, is.cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("discover %s: %w", is.cfg.URL, err)
	}
	var meta struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := p.Claims(&meta); err != nil {
		return nil, fmt.Errorf("discover %s: %w", is.cfg.URL, err)
	}
	if u, err := url.Parse(meta.JWKSURI); err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("discover %s: jwks_uri %q is not an https URL", is.cfg.URL, meta.JWKSURI)
	}
	keys := &remoteKeys{uri: meta.JWKSURI, client: is.client, now: is.now}
	is.keys = keys
	return oidc.NewVerifier(is.cfg.URL, recordingKeySet{keys}, is.oidcCfg), nil
}

// sigResult is what the key set saw of one Verify call: whether the
// signature was checked, its error, and the verified payload.
type sigResult struct {
	checked bool
	err     error
	payload []byte
}

type sigResultKey struct{}

// recordingKeySet passes signature checks to go-oidc's key set and notes
// the outcome for classify.
type recordingKeySet struct{ oidc.KeySet }

func (k recordingKeySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	payload, err := k.KeySet.VerifySignature(ctx, jwt)
	if rec, ok := ctx.Value(sigResultKey{}).(*sigResult); ok {
		rec.checked, rec.err, rec.payload = true, err, payload
	}
	return payload, err
}

// peekJWT reads the alg header and iss claim of a compact JWS without
// verifying it.
func peekJWT(raw string) (alg, iss string, err error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return "", "", fmt.Errorf("%d parts, want 3 (a signed JWT)", len(parts))
	}
	var h struct {
		Alg string `json:"alg"`
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if err := decodeSegment(parts[0], &h); err != nil {
		return "", "", fmt.Errorf("header: %w", err)
	}
	if err := decodeSegment(parts[1], &c); err != nil {
		return "", "", fmt.Errorf("payload: %w", err)
	}
	return h.Alg, c.Iss, nil
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(seg, "="))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// groupsClaim accepts a string (one group) or a list of strings.
func groupsClaim(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var groups []string
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		groups = []string{one}
	} else if err := json.Unmarshal(raw, &groups); err != nil {
		return nil, errors.New("not a string or a list of strings")
	}
	if len(groups) > maxGroups {
		return nil, fmt.Errorf("%d groups, at most %d", len(groups), maxGroups)
	}
	for _, g := range groups {
		if !printable(g, maxGroupLen) {
			return nil, fmt.Errorf("a group is empty, longer than %d bytes or not printable", maxGroupLen)
		}
	}
	return groups, nil
}

// clip shortens an unverified value for an internal error message.
func clip(s string) string {
	if len(s) > 100 {
		return s[:100] + "..."
	}
	return s
}

// issuerClient is base (or a default client) with a timeout and, if
// caBundle is set, the bundle's roots added to those it trusts.
func issuerClient(base *http.Client, caBundle string) (*http.Client, error) {
	c := &http.Client{}
	if base != nil {
		*c = *base
	}
	if c.Timeout == 0 {
		c.Timeout = defaultHTTPTimeout
	}
	if caBundle == "" {
		return c, nil
	}
	pemBytes, err := os.ReadFile(caBundle)
	if err != nil {
		return nil, err
	}
	var t *http.Transport
	switch rt := c.Transport.(type) {
	case nil:
		t = http.DefaultTransport.(*http.Transport).Clone()
	case *http.Transport:
		t = rt.Clone()
	default:
		return nil, fmt.Errorf("the HTTP client's transport is a %T; a CA bundle needs an *http.Transport", rt)
	}
	if t.TLSClientConfig == nil {
		t.TLSClientConfig = &tls.Config{}
	}
	pool := t.TLSClientConfig.RootCAs
	if pool == nil {
		if pool, err = x509.SystemCertPool(); err != nil {
			pool = x509.NewCertPool()
		}
	} else {
		pool = pool.Clone()
	}
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("%s holds no PEM certificates", caBundle)
	}
	t.TLSClientConfig.RootCAs = pool
	c.Transport = t
	return c, nil
}

// fileKeySet is a JWKS file as go-oidc's StaticKeySet, re-read when the
// file changes and a signature does not verify, so an offline site
// rotates keys by replacing the file.
type fileKeySet struct {
	path string
	mu   sync.Mutex
	file os.FileInfo
	set  atomic.Pointer[oidc.StaticKeySet]
}

func loadFileKeySet(path string) (*fileKeySet, error) {
	k := &fileKeySet{path: path}
	set, fi, err := readJWKSFile(path)
	if err != nil {
		return nil, err
	}
	k.set.Store(set)
	k.file = fi
	return k, nil
}

func (k *fileKeySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	payload, err := k.set.Load().VerifySignature(ctx, jwt)
	if err == nil || !k.reload() {
		return payload, err
	}
	return k.set.Load().VerifySignature(ctx, jwt)
}

// reload re-reads the file if it changed and reports whether the keys did.
// A file replaced by one that does not parse leaves the old keys in place.
func (k *fileKeySet) reload() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	fi, err := os.Stat(k.path)
	if err != nil || sameFile(fi, k.file) {
		return false
	}
	set, fi, err := readJWKSFile(k.path)
	if err != nil {
		return false
	}
	k.set.Store(set)
	k.file = fi
	return true
}

func readJWKSFile(path string) (*oidc.StaticKeySet, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxJWKSFileSize+1))
	if err != nil {
		return nil, nil, err
	}
	if len(data) > maxJWKSFileSize {
		return nil, nil, fmt.Errorf("%s: larger than %d bytes", path, maxJWKSFileSize)
	}
	keys, err := parseJWKS(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return &oidc.StaticKeySet{PublicKeys: keys}, fi, nil
}

// parseJWKS returns the signing keys of a JWKS document. Private and
// symmetric keys are refused outright: the file is meant to hold what the
// issuer publishes, and an HMAC key here would be the confusion attack.
func parseJWKS(data []byte) ([]crypto.PublicKey, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("not a JWKS document: %w", err)
	}
	var keys []crypto.PublicKey
	for i, k := range set.Keys {
		if k.Use == "enc" {
			continue
		}
		if !k.IsPublic() {
			return nil, fmt.Errorf("key %d (kid %q) is private or symmetric; publish public keys only", i, k.KeyID)
		}
		switch k.Key.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
			keys = append(keys, k.Key)
		default:
			return nil, fmt.Errorf("key %d (kid %q) is a %T, not RSA, ECDSA or Ed25519", i, k.KeyID, k.Key)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("no signing keys")
	}
	return keys, nil
}
