package ca

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"time"
)

// maxCommonNameLen is the X.520 upper bound on a CommonName; longer names
// go in the SAN only.
const maxCommonNameLen = 64

// mintLeaf signs a server certificate for name, which the caller has
// validated and checked against the name constraints, over key's public
// half. It is valid from now-clockSkew for lifetime, cut short where the
// CA itself expires: clients that check nesting would refuse the rest.
func (a *Authority) mintLeaf(name string, key *ecdsa.PrivateKey, now time.Time, lifetime time.Duration) (*tls.Certificate, error) {
	if !now.Before(a.notAfter) {
		return nil, fmt.Errorf("CA certificate chain expired at %s: create or import a new CA and give it to agents", a.notAfter.UTC().Format(time.RFC3339))
	}
	notAfter := now.Add(lifetime)
	if notAfter.After(a.notAfter) {
		notAfter = a.notAfter
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		DNSNames:              []string{name},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		AuthorityKeyId:        a.keyID,
	}
	// Clients match the SAN only; the CommonName is there for people
	// reading `openssl s_client` output.
	if len(name) <= maxCommonNameLen {
		tmpl.Subject = pkix.Name{CommonName: name}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.chain[0], &key.PublicKey, a.key)
	if err != nil {
		return nil, fmt.Errorf("sign leaf: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse new leaf: %w", err)
	}
	chain := make([][]byte, 0, 1+len(a.leafChain))
	chain = append(chain, der)
	chain = append(chain, a.leafChain...)
	return &tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf}, nil
}
