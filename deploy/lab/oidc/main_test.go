package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse/gatehouse/deploy/lab"
)

// issuerServer runs the issuer's handler over TLS on 127.0.0.1:0 with a
// self-made certificate, as `oidc serve` does in the lab.
func issuerServer(t *testing.T, keys *lab.IssuerKeys) (issuer string, client *http.Client) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer = "https://" + ln.Addr().String()
	srv := &http.Server{Handler: handler(issuer, keys), TLSConfig: &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
	}}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return issuer, &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func getJSON(t *testing.T, c *http.Client, url string, v any) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET %s: %s %s", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// verify checks a token the way a relying party should: only RS256 and
// ES256, the key the kid names in the served JWKS, then iss, aud and times.
func verify(jwks jose.JSONWebKeySet, issuer, token string) (map[string]any, error) {
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		return nil, err
	}
	var std jwt.Claims
	var all map[string]any
	if err := tok.Claims(jwks, &std, &all); err != nil {
		return nil, err
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: issuer, AnyAudience: jwt.Audience{lab.OIDCAudience}, Time: time.Now()}, 0); err != nil {
		return nil, err
	}
	return all, nil
}

func TestIssuer(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "oidc")
	keys, err := lab.LoadIssuerKeys(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"issuer-rsa.pem", "issuer-ec.pem"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", f, st.Mode().Perm())
		}
	}
	again, err := lab.LoadIssuerKeys(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if !again.RSA.Equal(keys.RSA) || !again.EC.Equal(keys.EC) {
		t.Fatal("keys were not reused on the second start")
	}

	issuer, client := issuerServer(t, keys)
	var disc struct {
		Issuer        string   `json:"issuer"`
		JWKSURI       string   `json:"jwks_uri"`
		Algs          []string `json:"id_token_signing_alg_values_supported"`
		ResponseTypes []string `json:"response_types_supported"`
		SubjectTypes  []string `json:"subject_types_supported"`
	}
	getJSON(t, client, issuer+"/.well-known/openid-configuration", &disc)
	if disc.Issuer != issuer || disc.JWKSURI != issuer+"/jwks" ||
		strings.Join(disc.Algs, ",") != "RS256,ES256" || len(disc.ResponseTypes) == 0 || len(disc.SubjectTypes) == 0 {
		t.Fatalf("discovery: %+v", disc)
	}
	var jwks jose.JSONWebKeySet
	getJSON(t, client, disc.JWKSURI, &jwks)
	if len(jwks.Keys) != 2 {
		t.Fatalf("jwks: %d keys", len(jwks.Keys))
	}
	for _, k := range jwks.Keys {
		if !k.IsPublic() || k.KeyID == "" || k.Use != "sig" {
			t.Errorf("jwks key %s: public %v use %q", k.KeyID, k.IsPublic(), k.Use)
		}
		switch pub := k.Key.(type) {
		case *rsa.PublicKey:
			if k.Algorithm != "RS256" || pub.N.BitLen() != 2048 || k.KeyID != lab.KeyID(&keys.RSA.PublicKey) {
				t.Errorf("RSA key: alg %s, %d bits, kid %s", k.Algorithm, pub.N.BitLen(), k.KeyID)
			}
		case *ecdsa.PublicKey:
			if k.Algorithm != "ES256" || pub.Curve != elliptic.P256() || k.KeyID != lab.KeyID(&keys.EC.PublicKey) {
				t.Errorf("EC key: alg %s, kid %s", k.Algorithm, k.KeyID)
			}
		default:
			t.Errorf("jwks key %s: %T", k.KeyID, k.Key)
		}
	}
	if resp, err := client.Get(issuer + "/token"); err != nil || resp.StatusCode != 404 {
		t.Errorf("GET /token: %v %v", resp, err)
	}

	// The go-oidc relying party, as Gatehouse would verify.
	ctx := oidc.ClientContext(context.Background(), client)
	provider, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatal(err)
	}
	rp := provider.Verifier(&oidc.Config{ClientID: lab.OIDCAudience, SupportedSigningAlgs: []string{"RS256", "ES256"}})

	claims := lab.TokenClaims{Subject: "agent-1", Groups: []string{"agents", "readers"}, Issuer: issuer}
	for _, alg := range []string{"RS256", "ES256"} {
		tok, err := keys.Mint(claims, lab.MintOptions{Alg: alg})
		if err != nil {
			t.Fatal(err)
		}
		all, err := verify(jwks, issuer, tok)
		if err != nil {
			t.Fatalf("%s token does not verify: %v", alg, err)
		}
		if all["sub"] != "agent-1" || all["aud"] != lab.OIDCAudience || all["iss"] != issuer ||
			all["exp"] == nil || all["iat"] == nil || all["nbf"] == nil {
			t.Errorf("%s claims: %v", alg, all)
		}
		if g, _ := all["groups"].([]any); len(g) != 2 || g[0] != "agents" || g[1] != "readers" {
			t.Errorf("%s groups: %v", alg, all["groups"])
		}
		if _, err := rp.Verify(ctx, tok); err != nil {
			t.Errorf("%s token: go-oidc: %v", alg, err)
		}
	}

	// The CLI: `oidc mint`.
	var out bytes.Buffer
	if err := mint([]string{"--dir", dir, "--issuer", issuer, "--sub", "admin-1", "--groups", "admins",
		"--aud", lab.OIDCAudience, "--ttl", "12h", "--alg", "ES256"}, &out); err != nil {
		t.Fatal(err)
	}
	all, err := verify(jwks, issuer, strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatalf("oidc mint token: %v", err)
	}
	if exp := int64(all["exp"].(float64)) - time.Now().Unix(); all["sub"] != "admin-1" || exp < 11*3600 || exp > 12*3600+5 {
		t.Errorf("oidc mint claims: %v (expires in %ds)", all, exp)
	}

	// Tokens every relying party must refuse.
	bad := map[string]struct {
		c   lab.TokenClaims
		opt lab.MintOptions
	}{
		"alg none":              {claims, lab.MintOptions{Alg: lab.AlgNone}},
		"HS256 with public key": {claims, lab.MintOptions{Alg: lab.AlgHS256WithPublicKey}},
		"foreign RSA key":       {claims, lab.MintOptions{Alg: "RS256", ForeignKey: true}},
		"foreign EC key":        {claims, lab.MintOptions{Alg: "ES256", ForeignKey: true}},
		"expired":               {lab.TokenClaims{Subject: "agent-1", Issuer: issuer, TTL: -time.Minute}, lab.MintOptions{}},
		"not yet valid":         {lab.TokenClaims{Subject: "agent-1", Issuer: issuer, NotBefore: time.Now().Add(time.Hour)}, lab.MintOptions{}},
		"other issuer":          {lab.TokenClaims{Subject: "agent-1", Issuer: "https://evil.example"}, lab.MintOptions{}},
		"other audience":        {lab.TokenClaims{Subject: "agent-1", Issuer: issuer, Audience: "other"}, lab.MintOptions{}},
	}
	for name, b := range bad {
		tok, err := keys.Mint(b.c, b.opt)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := verify(jwks, issuer, tok); err == nil {
			t.Errorf("%s: go-jose accepted it", name)
		}
		if _, err := rp.Verify(ctx, tok); err == nil {
			t.Errorf("%s: go-oidc accepted it", name)
		}
	}

	// The attack tokens are well formed: what they claim to be.
	none, _ := keys.Mint(claims, lab.MintOptions{Alg: lab.AlgNone})
	parts := strings.Split(none, ".")
	hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	if len(parts) != 3 || parts[2] != "" || !strings.Contains(string(hdr), `"alg":"none"`) {
		t.Errorf("alg none token: %s (header %s)", none, hdr)
	}
	hs, _ := keys.Mint(claims, lab.MintOptions{Alg: lab.AlgHS256WithPublicKey})
	pubPEM, _ := lab.PublicKeyPEM(&keys.RSA.PublicKey)
	tok, err := jwt.ParseSigned(hs, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		t.Fatal(err)
	}
	var std jwt.Claims
	if err := tok.Claims(pubPEM, &std); err != nil || tok.Headers[0].KeyID != lab.KeyID(&keys.RSA.PublicKey) {
		t.Errorf("HS256 token is not HMAC-SHA256 over the public key PEM under the RSA kid: %v", err)
	}
	expired, _ := keys.Mint(lab.TokenClaims{Subject: "x", TTL: -time.Minute}, lab.MintOptions{})
	tok, _ = jwt.ParseSigned(expired, []jose.SignatureAlgorithm{jose.RS256})
	if err := tok.Claims(&keys.RSA.PublicKey, &std); err != nil || !std.Expiry.Time().Before(time.Now()) ||
		!std.NotBefore.Time().Before(std.Expiry.Time()) || std.Issuer != lab.OIDCIssuer {
		t.Errorf("expired token: %v %+v", err, std)
	}
}

func TestMintTokenNeedsIssuerKeys(t *testing.T) {
	root := t.TempDir()
	if _, err := lab.MintToken(root, lab.TokenClaims{Subject: "agent-1"}, lab.MintOptions{}); err == nil {
		t.Fatal("MintToken without the issuer's keys succeeded")
	}
	keys, err := lab.LoadIssuerKeys(lab.OIDCDir(root), true)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := lab.MintToken(root, lab.TokenClaims{Subject: "agent-1", Groups: []string{"agents"}}, lab.MintOptions{Alg: "ES256"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verify(keys.JWKS(), lab.OIDCIssuer, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := lab.MintToken(root, lab.TokenClaims{}, lab.MintOptions{Alg: "HS512"}); err == nil {
		t.Fatal("unknown alg accepted")
	}
}
