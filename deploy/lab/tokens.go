package lab

// The lab's OIDC issuer (deploy/lab/oidc) and the workload tokens it signs.
// The issuer binary and the e2e tests share this code: the same key files,
// key ids and claims, so a token minted here verifies against the JWKS the
// issuer serves in gh-aws.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	// OIDCIssuer is the issuer URL of the lab's identity provider, served on
	// 10.77.2.4:443 in gh-aws with a certificate from the lab's public CA.
	OIDCIssuer = "https://oidc.lab.gatehouse.test"
	// OIDCAudience is the audience of workload tokens: what AWS expects for
	// AssumeRoleWithWebIdentity.
	OIDCAudience = "sts.amazonaws.com"
)

// Key files in the issuer's directory (PKCS#8 PEM, mode 0600).
const (
	issuerRSAFile = "issuer-rsa.pem"
	issuerECFile  = "issuer-ec.pem"
)

// OIDCDir is where the lab's issuer keeps its signing keys (out/oidc).
func OIDCDir(root string) string { return filepath.Join(Out(root), "oidc") }

// TokenClaims are the claims of a minted token. Zero values take defaults:
// Issuer OIDCIssuer, Audience OIDCAudience, TTL one hour, NotBefore now.
//
// Times: exp is NotBefore+TTL. A negative TTL makes an expired token: exp is
// now+TTL (expired -TTL ago) and, unless NotBefore is set, nbf is an hour
// before exp, so the token was once valid. iat is the earlier of nbf and now.
type TokenClaims struct {
	Subject   string
	Groups    []string // the "groups" claim; omitted when nil
	Audience  string
	Issuer    string
	TTL       time.Duration
	NotBefore time.Time
}

// MintOptions choose how a token is signed.
type MintOptions struct {
	// Alg is RS256 (the default), ES256, "none" (an unsigned token: header
	// alg none, empty signature) or "HS256-with-public-key" (HMAC-SHA256
	// keyed with the PEM of the RSA public key, the algorithm-confusion
	// attack). The attacks carry the RSA key's kid, as an attacker copying it
	// from the JWKS would.
	Alg string
	// ForeignKey signs with a fresh key the issuer never published, under
	// the kid of the issuer's published key for that algorithm: an impostor
	// that only a signature check catches.
	ForeignKey bool
}

// Token algorithms MintOptions.Alg accepts besides RS256 and ES256.
const (
	AlgNone               = "none"
	AlgHS256WithPublicKey = "HS256-with-public-key"
)

// MintToken signs a token with the keys of the lab's running issuer
// (OIDCDir(root)). It fails if the issuer has not created them (lab down).
func MintToken(root string, c TokenClaims, opt MintOptions) (string, error) {
	keys, err := LoadIssuerKeys(OIDCDir(root), false)
	if err != nil {
		return "", err
	}
	return keys.Mint(c, opt)
}

// IssuerKeys are the issuer's two signing keys.
type IssuerKeys struct {
	RSA *rsa.PrivateKey   // RS256, 2048 bits
	EC  *ecdsa.PrivateKey // ES256, P-256
}

// LoadIssuerKeys reads the issuer's keys from dir. With create, a missing
// key is generated and written (0600) first; the issuer does this on its
// first start and reuses the files afterwards.
func LoadIssuerKeys(dir string, create bool) (*IssuerKeys, error) {
	rk, err := loadOrCreateKey(filepath.Join(dir, issuerRSAFile), create, func() (crypto.Signer, error) {
		return rsa.GenerateKey(rand.Reader, 2048)
	})
	if err != nil {
		return nil, err
	}
	ek, err := loadOrCreateKey(filepath.Join(dir, issuerECFile), create, func() (crypto.Signer, error) {
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	})
	if err != nil {
		return nil, err
	}
	k := &IssuerKeys{}
	var ok bool
	if k.RSA, ok = rk.(*rsa.PrivateKey); !ok || k.RSA.N.BitLen() != 2048 {
		return nil, fmt.Errorf("%s: not an RSA-2048 key", filepath.Join(dir, issuerRSAFile))
	}
	if k.EC, ok = ek.(*ecdsa.PrivateKey); !ok || k.EC.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%s: not a P-256 key", filepath.Join(dir, issuerECFile))
	}
	return k, nil
}

func loadOrCreateKey(path string, create bool, gen func() (crypto.Signer, error)) (crypto.Signer, error) {
	k, err := readKey(path)
	switch {
	case err == nil:
		return k, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	case !create:
		return nil, fmt.Errorf("no issuer key (is the lab's OIDC issuer running?): %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	k, err = gen()
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	// Written aside and linked into place: a reader never sees half a key,
	// and of two concurrent creators the first one wins.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".key-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	return readKey(path)
}

// JWKS is the public key set the issuer serves at /jwks.
func (k *IssuerKeys) JWKS() jose.JSONWebKeySet {
	return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		publicJWK(&k.RSA.PublicKey, jose.RS256),
		publicJWK(&k.EC.PublicKey, jose.ES256),
	}}
}

func publicJWK(pub crypto.PublicKey, alg jose.SignatureAlgorithm) jose.JSONWebKey {
	return jose.JSONWebKey{Key: pub, KeyID: KeyID(pub), Algorithm: string(alg), Use: "sig"}
}

// KeyID is a public key's kid: its RFC 7638 SHA-256 thumbprint, base64url.
func KeyID(pub crypto.PublicKey) string {
	tp, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		panic(fmt.Sprintf("thumbprint of %T: %v", pub, err))
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

type tokenClaims struct {
	jwt.Claims
	Groups []string `json:"groups,omitempty"`
}

// Mint signs a token with these keys; see TokenClaims and MintOptions.
func (k *IssuerKeys) Mint(c TokenClaims, opt MintOptions) (string, error) {
	claims := c.jwtClaims(time.Now())
	alg := opt.Alg
	if alg == "" {
		alg = string(jose.RS256)
	}
	rsaKey, ecKey := k.RSA, k.EC
	if opt.ForeignKey {
		var err error
		if alg == string(jose.ES256) {
			ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		} else {
			rsaKey, err = rsa.GenerateKey(rand.Reader, 2048)
		}
		if err != nil {
			return "", err
		}
	}
	// The kid is always the published one's.
	rsaKid, ecKid := KeyID(&k.RSA.PublicKey), KeyID(&k.EC.PublicKey)

	var sk jose.SigningKey
	switch alg {
	case string(jose.RS256):
		sk = jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: rsaKey, KeyID: rsaKid}}
	case string(jose.ES256):
		sk = jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: ecKey, KeyID: ecKid}}
	case AlgHS256WithPublicKey:
		pubPEM, err := PublicKeyPEM(&rsaKey.PublicKey)
		if err != nil {
			return "", err
		}
		// go-jose sets no kid for symmetric keys: added as a header below.
		sk = jose.SigningKey{Algorithm: jose.HS256, Key: pubPEM}
	case AlgNone:
		return unsignedToken(claims, rsaKid)
	default:
		return "", fmt.Errorf("mint: unknown alg %q (RS256, ES256, %s, %s)", alg, AlgNone, AlgHS256WithPublicKey)
	}
	so := (&jose.SignerOptions{}).WithType("JWT")
	if alg == AlgHS256WithPublicKey {
		so = so.WithHeader(jose.HeaderKey("kid"), rsaKid)
	}
	signer, err := jose.NewSigner(sk, so)
	if err != nil {
		return "", err
	}
	return jwt.Signed(signer).Claims(claims).Serialize()
}

func (c TokenClaims) jwtClaims(now time.Time) tokenClaims {
	iss, aud, ttl := c.Issuer, c.Audience, c.TTL
	if iss == "" {
		iss = OIDCIssuer
	}
	if aud == "" {
		aud = OIDCAudience
	}
	if ttl == 0 {
		ttl = time.Hour
	}
	nbf := c.NotBefore
	var exp time.Time
	if ttl < 0 {
		exp = now.Add(ttl)
		if nbf.IsZero() {
			nbf = exp.Add(-time.Hour)
		}
	} else {
		if nbf.IsZero() {
			nbf = now
		}
		exp = nbf.Add(ttl)
	}
	iat := now
	if nbf.Before(now) {
		iat = nbf
	}
	return tokenClaims{
		Claims: jwt.Claims{
			Issuer:    iss,
			Subject:   c.Subject,
			Audience:  jwt.Audience{aud},
			Expiry:    jwt.NewNumericDate(exp),
			NotBefore: jwt.NewNumericDate(nbf),
			IssuedAt:  jwt.NewNumericDate(iat),
		},
		Groups: c.Groups,
	}
}

// unsignedToken is a JWS with alg none, which go-jose refuses to produce:
// header.payload. with an empty signature.
func unsignedToken(claims tokenClaims, kid string) (string, error) {
	hdr, err := json.Marshal(map[string]string{"alg": "none", "typ": "JWT", "kid": kid})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc(hdr) + "." + enc(payload) + ".", nil
}

// PublicKeyPEM is a public key as PKIX "PUBLIC KEY" PEM, the bytes an
// algorithm-confusion attacker uses as the HMAC key.
func PublicKeyPEM(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}
