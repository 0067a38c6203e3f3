package identity

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// fuzzSessions returns the ring that issues the seeds, a ring that never
// held its key, and the seeds, which must open.
func fuzzSessions(f *testing.F) (issuer, other *Sessions, seeds []Credentials) {
	a, err := LoadOrCreateKeyRing(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	b, err := LoadOrCreateKeyRing(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	issuer, other = NewSessions(a), NewSessions(b)
	for _, id := range []Identity{testIdentity, {Source: SourceOIDC, Subject: "x"}} {
		c, err := issuer.Issue(id, time.Hour, fuzzNow)
		if err != nil {
			f.Fatal(err)
		}
		if _, _, err := issuer.Open(c.AccessKeyID, c.SessionToken, fuzzNow); err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, c)
	}
	return issuer, other, seeds
}

var fuzzNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// FuzzSessionOpen: no input panics Open, nothing but a token the ring
// issued opens under it (with exactly its access key id), and a ring
// without the key opens nothing.
func FuzzSessionOpen(f *testing.F) {
	fuzzIssuer, fuzzOther, fuzzSeeds := fuzzSessions(f)
	for _, c := range fuzzSeeds {
		f.Add(c.AccessKeyID, c.SessionToken)
		f.Add(c.AccessKeyID, c.SessionToken[:len(c.SessionToken)/2])
	}
	f.Add(fuzzSeeds[0].AccessKeyID, fuzzSeeds[1].SessionToken)
	f.Add("GHSAAAAAAAAAAAAAAAAA", "AQAAAAE")
	f.Add("GHSAAAAAAAAAAAAAAAAA", "")
	f.Add("AKIAIOSFODNN7EXAMPLE", "AQ")
	f.Add("", "\n")
	f.Fuzz(func(t *testing.T, akid, token string) {
		id, secret, err := fuzzIssuer.Open(akid, token, fuzzNow)
		if err == nil {
			issued := false
			for _, c := range fuzzSeeds {
				issued = issued || (c.AccessKeyID == akid && c.SessionToken == token && c.SecretAccessKey == secret)
			}
			if !issued || id == nil {
				t.Fatalf("Open accepted a token the ring never issued: %q %q", akid, token)
			}
		} else if id != nil || secret != "" {
			t.Fatal("Open failed but returned an identity or secret")
		}
		if _, _, err := fuzzOther.Open(akid, token, fuzzNow); err == nil {
			t.Fatalf("a ring without the key opened %q %q", akid, token)
		}
	})
}

// FuzzParseForm: STS form parsing never panics, and what it accepts is
// unambiguous: one value per named parameter, within the size cap.
func FuzzParseForm(f *testing.F) {
	f.Add("POST", "application/x-www-form-urlencoded; charset=utf-8", "", "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fr&RoleSessionName=s1&WebIdentityToken=eyJ.eyJ.sig")
	f.Add("GET", "", "Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Signature=abc", "")
	f.Add("POST", "application/x-www-form-urlencoded", "Action=x", "Action=y")
	f.Add("POST", "application/x-www-form-urlencoded", "", "Action=a&Action=b")
	f.Add("POST", "application/x-www-form-urlencoded", "", "a=%zz;b=1&=c")
	f.Add("POST", "multipart/form-data; boundary=x", "", "--x--")
	f.Add("PATCH", "text/plain; charset=\"", "%", "\x00")
	f.Fuzz(func(t *testing.T, method, contentType, rawQuery, body string) {
		r := &http.Request{Method: method, Header: http.Header{}, URL: &url.URL{Path: "/", RawQuery: rawQuery}}
		r.Header.Set("Content-Type", contentType)
		form, err := ParseForm(r, []byte(body))
		if err != nil {
			return
		}
		if method != http.MethodGet && method != http.MethodPost {
			t.Fatalf("accepted method %q", method)
		}
		if len(body) > MaxFormBytes || len(rawQuery) > MaxFormBytes {
			t.Fatal("accepted a form over the cap")
		}
		for k, vs := range form {
			if k == "" || len(vs) != 1 {
				t.Fatalf("ambiguous parameter %q = %q", k, vs)
			}
		}
		_, _ = Action(form)
	})
}

// FuzzVerify: web identity tokens are untrusted bytes parsed before any
// signature check (peekJWT). No token panics Verify, and none verifies
// unless it is one the issuer signed.
func FuzzVerify(f *testing.F) {
	testKeys(f)
	dir := f.TempDir()
	file := dir + "/jwks.json"
	b, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &testRSAKey.PublicKey, KeyID: "rsa-1"}}})
	if err := os.WriteFile(file, b, 0o644); err != nil {
		f.Fatal(err)
	}
	const iss = "https://oidc.fuzz.example"
	v, err := NewVerifier([]IssuerConfig{{URL: iss, Audiences: []string{testAudience}, JWKSFile: file}}, nil)
	if err != nil {
		f.Fatal(err)
	}
	claims := map[string]any{"iss": iss, "sub": "agent", "aud": testAudience, "exp": time.Now().Add(24 * time.Hour).Unix(), "groups": []string{"g"}}
	valid := signWith(f, jose.RS256, "rsa-1", testRSAKey, claims)
	f.Add(valid)
	f.Add(unsignedToken(claims))
	f.Add(confusedToken(f, &testRSAKey.PublicKey, "rsa-1", claims))
	f.Add("e30.e30.")
	f.Add("..")
	f.Add("eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOjF9.x")
	f.Fuzz(func(t *testing.T, tok string) {
		id, err := v.Verify(context.Background(), tok)
		if err == nil && tok != valid {
			// A JWS has one canonical compact form per signature, but
			// base64 may accept a variant spelling of the same bytes;
			// whatever verifies must carry the issuer's claims.
			if id.Subject != "agent" || id.Issuer != iss {
				t.Fatalf("verified a token the issuer never signed: %q", tok)
			}
		}
		if err != nil {
			var te *TokenError
			if !errors.As(err, &te) || te.Reason == "" {
				t.Fatalf("error without a public reason: %v", err)
			}
			if len(tok) >= 16 && strings.Contains(err.Error(), tok) {
				t.Fatalf("error %q carries the token", err)
			}
		}
	})
}
