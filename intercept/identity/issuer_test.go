package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// testIssuer is an OIDC issuer on a real TLS socket: discovery at
// /.well-known/openid-configuration and its JWKS at /jwks, with keys made
// in the test. Agents' tokens are minted with sign.
type testIssuer struct {
	t      *testing.T
	srv    *httptest.Server
	URL    string
	CAFile string // PEM of the server's certificate, for IssuerConfig.CABundle

	mu        sync.Mutex
	published []jose.JSONWebKey // what /jwks serves
	private   map[string]crypto.Signer

	down          atomic.Bool // discovery and JWKS answer 503
	jwksDown      atomic.Bool // only JWKS answers 503
	discoveryHits atomic.Int32
	jwksHits      atomic.Int32
}

const testAudience = "sts.amazonaws.com"

var (
	testRSAKey, testRSAKey2 *rsa.PrivateKey
	testECKey               *ecdsa.PrivateKey
	keysOnce                sync.Once
)

// testKeys makes the RSA keys once per test binary: RSA generation is the
// slow part of these tests.
func testKeys(t testing.TB) {
	keysOnce.Do(func() {
		var err error
		if testRSAKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if testRSAKey2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if testECKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	})
}

func newTestIssuer(t *testing.T) *testIssuer {
	t.Helper()
	testKeys(t)
	is := &testIssuer{t: t, private: map[string]crypto.Signer{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		is.discoveryHits.Add(1)
		if is.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                is.URL,
			"jwks_uri":                              is.URL + "/jwks",
			"authorization_endpoint":                is.URL + "/authorize",
			"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
		})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		is.jwksHits.Add(1)
		if is.down.Load() || is.jwksDown.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		is.mu.Lock()
		set := jose.JSONWebKeySet{Keys: is.published}
		is.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(set)
	})
	is.srv = httptest.NewTLSServer(mux)
	t.Cleanup(is.srv.Close)
	is.URL = is.srv.URL
	is.CAFile = filepath.Join(t.TempDir(), "issuer-ca.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: is.srv.Certificate().Raw})
	if err := os.WriteFile(is.CAFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	is.addKey("rsa-1", testRSAKey)
	is.addKey("ec-1", testECKey)
	is.publish("rsa-1", "ec-1")
	return is
}

func (is *testIssuer) addKey(kid string, k crypto.Signer) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.private[kid] = k
}

// publish makes /jwks serve exactly these keys.
func (is *testIssuer) publish(kids ...string) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.published = nil
	for _, kid := range kids {
		is.published = append(is.published, jose.JSONWebKey{Key: is.private[kid].Public(), KeyID: kid, Use: "sig"})
	}
}

// config is an IssuerConfig for this issuer trusting its certificate.
func (is *testIssuer) config() IssuerConfig {
	return IssuerConfig{URL: is.URL, Audiences: []string{testAudience}, CABundle: is.CAFile}
}

// claims are a valid token's claims; over changes them (a nil value
// deletes the claim).
func (is *testIssuer) claims(over map[string]any) map[string]any {
	now := time.Now()
	c := map[string]any{
		"iss":    is.URL,
		"sub":    "system:serviceaccount:agents:builder",
		"aud":    testAudience,
		"iat":    now.Unix(),
		"nbf":    now.Add(-time.Minute).Unix(),
		"exp":    now.Add(time.Hour).Unix(),
		"groups": []string{"agents", "builders"},
	}
	for k, v := range over {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// sign mints a compact JWS of claims with the key kid and algorithm alg.
func (is *testIssuer) sign(alg jose.SignatureAlgorithm, kid string, claims map[string]any) string {
	is.t.Helper()
	is.mu.Lock()
	key := is.private[kid]
	is.mu.Unlock()
	if key == nil {
		is.t.Fatalf("no key %q", kid)
	}
	return signWith(is.t, alg, kid, key, claims)
}

func signWith(t testing.TB, alg jose.SignatureAlgorithm, kid string, key crypto.Signer, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// unsignedToken is the alg "none" attack: a header saying no signature
// and an empty signature.
func unsignedToken(claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	p, _ := json.Marshal(claims)
	return b64(h) + "." + b64(p) + "."
}

// confusedToken is the algorithm-confusion attack: HS256 keyed with the
// issuer's RSA public key as published (PEM), under the RSA key's kid, as
// if the verifier used "the key" for whatever algorithm the token names.
func confusedToken(t testing.TB, pub *rsa.PublicKey, kid string, claims map[string]any) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	h, _ := json.Marshal(map[string]string{"alg": "HS256", "typ": "JWT", "kid": kid})
	p, _ := json.Marshal(claims)
	signing := b64(h) + "." + b64(p)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(signing))
	return signing + "." + b64(m.Sum(nil))
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
