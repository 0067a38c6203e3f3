package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/goccy/go-yaml"
)

func TestVerify(t *testing.T) {
	is := newTestIssuer(t)
	impostor, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	valid := is.sign(jose.RS256, "rsa-1", is.claims(nil))

	tests := []struct {
		name       string
		cfg        func(*IssuerConfig)
		token      func() string
		wantErr    error  // nil: the token verifies
		wantReason string // TokenError.Reason
		check      func(t *testing.T, id *Identity)
	}{
		{
			name:  "RS256 token with a list of groups",
			token: func() string { return valid },
			check: func(t *testing.T, id *Identity) {
				want := Identity{Source: "oidc", Issuer: is.URL, Subject: "system:serviceaccount:agents:builder", Groups: []string{"agents", "builders"}}
				if id.Source != want.Source || id.Issuer != want.Issuer || id.Subject != want.Subject || !slices.Equal(id.Groups, want.Groups) {
					t.Errorf("identity = %+v, want %+v", id, want)
				}
				if d := id.Expiry.Sub(now.Add(time.Hour)); d < -2*time.Second || d > 2*time.Second {
					t.Errorf("expiry %v, want the token's exp", id.Expiry)
				}
			},
		},
		{
			name:  "ES256 token with one group as a string",
			token: func() string { return is.sign(jose.ES256, "ec-1", is.claims(map[string]any{"groups": "admins"})) },
			check: func(t *testing.T, id *Identity) {
				if !slices.Equal(id.Groups, []string{"admins"}) {
					t.Errorf("groups = %q, want [admins]", id.Groups)
				}
			},
		},
		{
			name:  "no groups claim is no groups",
			token: func() string { return is.sign(jose.RS256, "rsa-1", is.claims(map[string]any{"groups": nil})) },
			check: func(t *testing.T, id *Identity) {
				if id.Groups != nil {
					t.Errorf("groups = %q, want none", id.Groups)
				}
			},
		},
		{
			name: "configured subject and groups claims",
			cfg:  func(c *IssuerConfig) { c.SubjectClaim, c.GroupsClaim = "email", "roles" },
			token: func() string {
				return is.sign(jose.RS256, "rsa-1", is.claims(map[string]any{"email": "bot@example.com", "roles": []string{"deployer"}}))
			},
			check: func(t *testing.T, id *Identity) {
				if id.Subject != "bot@example.com" || !slices.Equal(id.Groups, []string{"deployer"}) {
					t.Errorf("identity = %+v, want bot@example.com in [deployer]", id)
				}
			},
		},
		{
			name: "one allowed audience among several",
			token: func() string {
				return is.sign(jose.RS256, "rsa-1", is.claims(map[string]any{"aud": []string{"other", testAudience}}))
			},
		},
		{
			name:  "PS256 when the config allows it",
			cfg:   func(c *IssuerConfig) { c.Algorithms = []string{"PS256"} },
			token: func() string { return is.sign(jose.PS256, "rsa-1", is.claims(nil)) },
		},
		{
			name: "expired",
			token: func() string {
				return is.sign(jose.RS256, "rsa-1", is.claims(map[string]any{"exp": now.Add(-time.Hour).Unix(), "nbf": now.Add(-2 * time.Hour).Unix()}))
			},
			wantErr: ErrTokenExpired, wantReason: "token has expired",
		},
		{
			name: "not yet valid",
			token: func() string {
				return is.sign(jose.RS256, "rsa-1", is.claims(map[string]any{"nbf": now.Add(time.Hour).Unix(), "exp": now.Add(2 * time.Hour).Unix()}))
			},
			wantErr: ErrTokenInvalid, wantReason: "token not yet valid",
		},
		{
			name:    "no expiry",
			token:   func() string { return is.sign(jose.RS256, "rsa-1", is.claims(map[string]any{"exp": nil})) },
			wantErr: ErrTokenInvalid, wantReason: "token has no expiry",
		},
		{
			name: "wrong audience",
			token: func() string {
				return is.sign(jose.RS256, "rsa-1", is.claims(map[string]any{"aud": "api://someone-else"}))
			},
			wantErr: ErrTokenInvalid, wantReason: "audience not allowed",
		},
		{
			name: "unconfigured issuer",
			token: func() string {
				return is.sign(jose.RS256, "rsa-1", is.claims(map[string]any{"iss": "https://idp.evil.example"}))
			},
			wantErr: ErrTokenInvalid, wantReason: "issuer not configured",
		},
		{
			name:    "issuer differing by a trailing slash",
			token:   func() string { return is.sign(jose.RS256, "rsa-1", is.claims(map[string]any{"iss": is.URL + "/"})) },
			wantErr: ErrTokenInvalid, wantReason: "issuer not configured",
		},
		{
			name:    "impostor key under the issuer's kid",
			token:   func() string { return signWith(t, jose.ES256, "ec-1", impostor, is.claims(nil)) },
			wantErr: ErrTokenInvalid, wantReason: "signature not valid",
		},
		{
			name: "payload swapped under a valid signature",
			token: func() string {
				parts := strings.Split(valid, ".")
				p, _ := json.Marshal(is.claims(map[string]any{"sub": "admin"}))
				return parts[0] + "." + b64(p) + "." + parts[2]
			},
			wantErr: ErrTokenInvalid, wantReason: "signature not valid",
		},
		{
			name:    "alg none",
			token:   func() string { return unsignedToken(is.claims(nil)) },
			wantErr: ErrTokenInvalid, wantReason: "algorithm not allowed",
		},
		{
			name:    "HS256 keyed with the issuer's RSA public key",
			token:   func() string { return confusedToken(t, &testRSAKey.PublicKey, "rsa-1", is.claims(nil)) },
			wantErr: ErrTokenInvalid, wantReason: "algorithm not allowed",
		},
		{
			name:    "PS256 when only RS256 is allowed",
			cfg:     func(c *IssuerConfig) { c.Algorithms = []string{"RS256"} },
			token:   func() string { return is.sign(jose.PS256, "rsa-1", is.claims(nil)) },
			wantErr: ErrTokenInvalid, wantReason: "algorithm not allowed",
		},
		{
			name:    "ES256 when only RS256 is allowed",
			cfg:     func(c *IssuerConfig) { c.Algorithms = []string{"RS256"} },
			token:   func() string { return is.sign(jose.ES256, "ec-1", is.claims(nil)) },
			wantErr: ErrTokenInvalid, wantReason: "algorithm not allowed",
		},
		{
			name:    "no subject",
			token:   func() string { return is.sign(jose.RS256, "rsa-1", is.claims(map[string]any{"sub": nil})) },
			wantErr: ErrTokenInvalid, wantReason: "subject claim missing",
		},
		{
			name:    "groups claim neither string nor list of strings",
			token:   func() string { return is.sign(jose.RS256, "rsa-1", is.claims(map[string]any{"groups": []any{"a", 7}})) },
			wantErr: ErrTokenInvalid, wantReason: "groups claim not valid",
		},
		{
			name:    "not a JWT",
			token:   func() string { return "not-a-jwt" },
			wantErr: ErrTokenInvalid, wantReason: "token is malformed",
		},
		{
			name:    "longer than AWS allows",
			token:   func() string { return strings.Repeat("a", MaxTokenLen+1) },
			wantErr: ErrTokenInvalid, wantReason: "token too large",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := is.config()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			v, err := NewVerifier([]IssuerConfig{cfg}, nil)
			if err != nil {
				t.Fatal(err)
			}
			tok := tt.token()
			id, err := v.Verify(context.Background(), tok)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if tt.check != nil {
					tt.check(t, id)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify error = %v, want %v", err, tt.wantErr)
			}
			var te *TokenError
			if !errors.As(err, &te) || te.Reason != tt.wantReason {
				t.Errorf("reason = %q, want %q (%v)", te.Reason, tt.wantReason, err)
			}
			assertNoToken(t, err.Error(), tok)
			t.Logf("%v", err)
		})
	}
}

// assertNoToken fails if s carries the token or its signature.
func assertNoToken(t *testing.T, s, tok string) {
	t.Helper()
	if strings.Contains(s, tok) {
		t.Errorf("%q contains the token", s)
	}
	if parts := strings.Split(tok, "."); len(parts) == 3 && len(parts[2]) > 8 && strings.Contains(s, parts[2]) {
		t.Errorf("%q contains the token's signature", s)
	}
}

// The issuer switches signing keys: a token with the new kid verifies
// after go-oidc refetches the JWKS, and the old key stops verifying once
// the issuer no longer publishes it.
func TestVerifyAfterIssuerRotatesKeys(t *testing.T) {
	is := newTestIssuer(t)
	v, err := NewVerifier([]IssuerConfig{is.config()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	oldTok := is.sign(jose.RS256, "rsa-1", is.claims(nil))
	if _, err := v.Verify(ctx, oldTok); err != nil {
		t.Fatalf("before rotation: %v", err)
	}
	if n := is.jwksHits.Load(); n != 1 {
		t.Fatalf("JWKS fetched %d times, want 1", n)
	}
	if _, err := v.Verify(ctx, oldTok); err != nil || is.jwksHits.Load() != 1 {
		t.Fatalf("second token: %v, JWKS fetched %d times (want cached)", err, is.jwksHits.Load())
	}

	is.addKey("rsa-2", testRSAKey2)
	is.publish("rsa-2")
	// Refetches are spaced by minKeyRefresh (forged tokens must not make
	// Gatehouse hammer the IdP); the rotated key verifies once it passed.
	clock := time.Now().Add(minKeyRefresh + time.Second)
	v.now = func() time.Time { return clock }
	id, err := v.Verify(ctx, is.sign(jose.RS256, "rsa-2", is.claims(map[string]any{"sub": "after-rotation"})))
	if err != nil {
		t.Fatalf("token under the new key: %v", err)
	}
	if id.Subject != "after-rotation" || is.jwksHits.Load() != 2 {
		t.Errorf("subject %q, JWKS fetched %d times; want after-rotation, 2", id.Subject, is.jwksHits.Load())
	}
	_, err = v.Verify(ctx, oldTok)
	var te *TokenError
	if !errors.As(err, &te) || te.Reason != "signature not valid" {
		t.Errorf("token under the withdrawn key: %v, want signature not valid", err)
	}
}

// Gatehouse starts while the IdP is down: NewVerifier dials nothing, tokens
// fail with ErrIdPUnavailable (STS IDPCommunicationError, which SDKs
// retry), and the first token after the IdP is back verifies.
func TestVerifyIssuerDownAtStartupThenUp(t *testing.T) {
	is := newTestIssuer(t)
	is.down.Store(true)
	v, err := NewVerifier([]IssuerConfig{is.config()}, nil)
	if err != nil {
		t.Fatalf("NewVerifier with the IdP down: %v", err)
	}
	if n := is.discoveryHits.Load(); n != 0 {
		t.Fatalf("NewVerifier dialled the issuer %d times", n)
	}
	ctx := context.Background()
	tok := is.sign(jose.RS256, "rsa-1", is.claims(nil))
	if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrIdPUnavailable) {
		t.Fatalf("IdP down: %v, want ErrIdPUnavailable", err)
	}
	// Within the retry interval, tokens fail without another discovery.
	if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrIdPUnavailable) || is.discoveryHits.Load() != 1 {
		t.Fatalf("second token: %v, discoveries %d; want ErrIdPUnavailable without a new discovery", err, is.discoveryHits.Load())
	}

	is.down.Store(false)
	v.retryAfter = 0
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("IdP back: %v", err)
	}
	if _, err := v.Verify(ctx, tok); err != nil || is.discoveryHits.Load() != 2 {
		t.Fatalf("after discovery: %v, discoveries %d; want it cached", err, is.discoveryHits.Load())
	}
}

// Discovery worked but the JWKS endpoint is down when a token names a key
// id not cached yet: that is the IdP's outage, not a bad token.
func TestVerifyJWKSDownIsUnavailable(t *testing.T) {
	is := newTestIssuer(t)
	is.jwksDown.Store(true)
	v, err := NewVerifier([]IssuerConfig{is.config()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(context.Background(), is.sign(jose.RS256, "rsa-1", is.claims(nil)))
	var te *TokenError
	if !errors.Is(err, ErrIdPUnavailable) || !errors.As(err, &te) || te.Reason != "identity provider keys unavailable" {
		t.Fatalf("JWKS down: %v, want identity provider keys unavailable", err)
	}
}

// Without the CA bundle the issuer's certificate is not trusted: TLS to
// the IdP is always verified.
func TestVerifyRequiresIssuerTLS(t *testing.T) {
	is := newTestIssuer(t)
	cfg := is.config()
	cfg.CABundle = ""
	v, err := NewVerifier([]IssuerConfig{cfg}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), is.sign(jose.RS256, "rsa-1", is.claims(nil))); !errors.Is(err, ErrIdPUnavailable) {
		t.Fatalf("untrusted issuer certificate: %v, want ErrIdPUnavailable", err)
	}
}

// Offline sites verify against a JWKS file and never dial the issuer; a
// replaced file is picked up.
func TestVerifyJWKSFile(t *testing.T) {
	testKeys(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "jwks.json")
	writeJWKS := func(keys ...jose.JSONWebKey) {
		b, _ := json.Marshal(jose.JSONWebKeySet{Keys: keys})
		if err := os.WriteFile(file+".tmp", b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(file+".tmp", file); err != nil {
			t.Fatal(err)
		}
	}
	writeJWKS(jose.JSONWebKey{Key: &testRSAKey.PublicKey, KeyID: "rsa-1", Use: "sig"})
	const iss = "https://oidc.offline.example"
	v, err := NewVerifier([]IssuerConfig{{URL: iss, Audiences: []string{testAudience}, JWKSFile: file}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	claims := func(sub string) map[string]any {
		now := time.Now()
		return map[string]any{"iss": iss, "sub": sub, "aud": testAudience, "exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
	}
	ctx := context.Background()
	id, err := v.Verify(ctx, signWith(t, jose.RS256, "rsa-1", testRSAKey, claims("offline-agent")))
	if err != nil || id.Subject != "offline-agent" || id.Issuer != iss {
		t.Fatalf("Verify = %+v, %v", id, err)
	}
	newTok := signWith(t, jose.RS256, "rsa-2", testRSAKey2, claims("rotated"))
	if _, err := v.Verify(ctx, newTok); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("key not in the file: %v, want ErrTokenInvalid", err)
	}
	writeJWKS(jose.JSONWebKey{Key: &testRSAKey2.PublicKey, KeyID: "rsa-2", Use: "sig"})
	if _, err := v.Verify(ctx, newTok); err != nil {
		t.Fatalf("after the file was replaced: %v", err)
	}
	if _, err := v.Verify(ctx, confusedToken(t, &testRSAKey2.PublicKey, "rsa-2", claims("x"))); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("HS256 confusion against a JWKS file: %v", err)
	}

	// The file holds what the issuer publishes: a private or symmetric
	// key there is a mistake to refuse, not to use.
	for name, k := range map[string]jose.JSONWebKey{
		"private key":   {Key: testRSAKey, KeyID: "p"},
		"symmetric key": {Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "h", Algorithm: "HS256"},
	} {
		writeJWKS(k)
		if _, err := NewVerifier([]IssuerConfig{{URL: iss, Audiences: []string{testAudience}, JWKSFile: file}}, nil); err == nil {
			t.Errorf("a JWKS file with a %s was accepted", name)
		}
	}
}

func TestNewVerifierRefusesBadConfig(t *testing.T) {
	good := IssuerConfig{URL: "https://idp.example", Audiences: []string{"sts.amazonaws.com"}}
	tests := []struct {
		name string
		cfgs func() []IssuerConfig
		want string
	}{
		{"no audiences", func() []IssuerConfig { c := good; c.Audiences = nil; return []IssuerConfig{c} }, "audiences"},
		{"alg none", func() []IssuerConfig { c := good; c.Algorithms = []string{"none"}; return []IssuerConfig{c} }, "never allowed"},
		{"HS256", func() []IssuerConfig { c := good; c.Algorithms = []string{"RS256", "HS256"}; return []IssuerConfig{c} }, "never allowed"},
		{"unknown alg", func() []IssuerConfig { c := good; c.Algorithms = []string{"RS1"}; return []IssuerConfig{c} }, "not one of"},
		{"http issuer", func() []IssuerConfig { c := good; c.URL = "http://idp.example"; return []IssuerConfig{c} }, "https"},
		{"no url", func() []IssuerConfig { c := good; c.URL = ""; return []IssuerConfig{c} }, "url"},
		{"twice", func() []IssuerConfig { return []IssuerConfig{good, good} }, "twice"},
		{"jwks file and ca bundle", func() []IssuerConfig {
			c := good
			c.JWKSFile, c.CABundle = "/x", "/y"
			return []IssuerConfig{c}
		}, "ca_bundle"},
		{"missing jwks file", func() []IssuerConfig { c := good; c.JWKSFile = "/nonexistent/jwks.json"; return []IssuerConfig{c} }, "jwks_file"},
		{"ca bundle without certificates", func() []IssuerConfig {
			c := good
			c.CABundle = filepath.Join(t.TempDir(), "empty.pem")
			os.WriteFile(c.CABundle, []byte("nothing"), 0o644)
			return []IssuerConfig{c}
		}, "no PEM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewVerifier(tt.cfgs(), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewVerifier error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

// The config structs read from Gatehouse's strict YAML with snake_case keys.
func TestConfigYAML(t *testing.T) {
	src := `
issuers:
  - url: https://token.actions.githubusercontent.com
    audiences: [sts.amazonaws.com]
    subject_claim: sub
    groups_claim: repository_owner
    algorithms: [RS256]
    ca_bundle: /etc/gatehouse/idp-ca.pem
addresses:
  - cidr: 10.77.1.0/24
    identity: lab-agents
    groups: [lab]
`
	var cfg struct {
		Issuers   []IssuerConfig `yaml:"issuers"`
		Addresses []AddressRule  `yaml:"addresses"`
	}
	if err := yaml.UnmarshalWithOptions([]byte(src), &cfg, yaml.Strict()); err != nil {
		t.Fatal(err)
	}
	is := cfg.Issuers[0]
	if is.URL != "https://token.actions.githubusercontent.com" || is.GroupsClaim != "repository_owner" || is.CABundle == "" || len(is.Algorithms) != 1 {
		t.Errorf("issuer = %+v", is)
	}
	a := cfg.Addresses[0]
	if a.CIDR.String() != "10.77.1.0/24" || a.Identity != "lab-agents" || a.Validate() != nil {
		t.Errorf("address rule = %+v", a)
	}
}

// The allow-list is enforced twice: by the early check on the header, and
// by go-oidc itself, which is given the same list. Skip the first and the
// attacks still fail.
func TestAlgorithmAllowListHoldsInGoOIDC(t *testing.T) {
	is := newTestIssuer(t)
	cfg := is.config()
	cfg.Algorithms = []string{"RS256"}
	v, err := NewVerifier([]IssuerConfig{cfg}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ov, err := v.issuers[is.URL].oidcVerifier(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{
		"alg none":                  unsignedToken(is.claims(nil)),
		"HS256 with the public key": confusedToken(t, &testRSAKey.PublicKey, "rsa-1", is.claims(nil)),
		"PS256 not allowed":         is.sign(jose.PS256, "rsa-1", is.claims(nil)),
		"ES256 not allowed":         is.sign(jose.ES256, "ec-1", is.claims(nil)),
	} {
		if _, err := ov.Verify(ctx, tok); err == nil {
			t.Errorf("go-oidc accepted %s", name)
		}
	}
	if _, err := ov.Verify(ctx, is.sign(jose.RS256, "rsa-1", is.claims(nil))); err != nil {
		t.Errorf("go-oidc refused RS256: %v", err)
	}
}

// Forged tokens (unknown key ids, keys the issuer never published) arrive
// unauthenticated at AssumeRoleWithWebIdentity: they must not make
// Gatehouse refetch the issuer's JWKS once each.
func TestForgedTokensDoNotHammerTheIdP(t *testing.T) {
	is := newTestIssuer(t)
	v, err := NewVerifier([]IssuerConfig{is.config()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := v.Verify(ctx, is.sign(jose.RS256, "rsa-1", is.claims(nil))); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		forged := signWith(t, jose.RS256, fmt.Sprintf("kid-%d", i), testRSAKey2, is.claims(nil))
		if _, err := v.Verify(ctx, forged); err == nil {
			t.Fatal("a forged token verified")
		}
	}
	if n := is.jwksHits.Load(); n > 2 {
		t.Fatalf("200 forged tokens made Gatehouse fetch the JWKS %d times", n)
	}
	// Legitimate tokens still verify from the keys held.
	if _, err := v.Verify(ctx, is.sign(jose.RS256, "rsa-1", is.claims(nil))); err != nil {
		t.Fatal(err)
	}
}

// A key the issuer withdrew (say, compromised) stops verifying within
// maxKeyAge even if no token ever failed under it.
func TestWithdrawnKeyStopsVerifyingWithinMaxKeyAge(t *testing.T) {
	is := newTestIssuer(t)
	v, err := NewVerifier([]IssuerConfig{is.config()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tok := is.sign(jose.RS256, "rsa-1", is.claims(nil))
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	is.addKey("rsa-2", testRSAKey2)
	is.publish("rsa-2")
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("within maxKeyAge the held key still verifies: %v", err)
	}
	clock := time.Now().Add(maxKeyAge + time.Minute)
	v.now = func() time.Time { return clock }
	if _, err := v.Verify(ctx, tok); err == nil {
		t.Fatal("a withdrawn key still verifies after maxKeyAge")
	}
}
