package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/big"
	"strings"
	"time"
)

// DefaultDomains are the name constraints of a new CA: every AWS endpoint
// (commercial, China, the api.aws dual-stack endpoints and the .aws TLD)
// and nothing else, so a stolen Gatehouse key cannot impersonate a bank.
// Treat it as read-only; Init copies it.
var DefaultDomains = []string{"amazonaws.com", "amazonaws.com.cn", "api.aws", "aws"}

const (
	defaultCommonName = "Gatehouse private CA"
	defaultValidity   = 10 * 365 * 24 * time.Hour

	// clockSkew backdates NotBefore of every certificate we mint, so an
	// agent whose clock runs a few minutes slow still accepts it.
	clockSkew = 5 * time.Minute
)

// Options configure a new CA. The zero value, with Dir set, creates the
// default: an ECDSA P-256 root valid for 10 years that may only vouch for
// DefaultDomains.
type Options struct {
	// Dir is where ca.crt (0644) and ca.key (0600) live; it is created
	// 0700 if absent.
	Dir string
	// PermittedDomains become critical X.509 name constraints
	// (PermittedDNSDomains): agents reject any leaf for a name outside
	// them, whoever signed it. A domain permits itself and its subdomains;
	// a leading dot (".example.com") permits subdomains only. Empty means
	// DefaultDomains: turning constraints off takes NoNameConstraints, so
	// an empty list cannot do it by accident.
	PermittedDomains []string
	// NoNameConstraints creates a root without name constraints, for
	// enterprises whose agents call AWS through names of their own.
	NoNameConstraints bool
	// CommonName is the root's subject; default "Gatehouse private CA".
	CommonName string
	// Validity of the root; default 10 years.
	Validity time.Duration
}

// Authority is a CA that can sign leaves: the signing certificate, the
// chain above it, and its key. It is immutable and safe for concurrent use.
//
// It formats (fmt, slog) as its subject and fingerprint only: the key is
// never printed, logged or returned.
type Authority struct {
	// chain[0] signs leaves and each certificate is signed by the next;
	// the last is what agents trust (see CertPEM).
	chain []*x509.Certificate
	key   crypto.Signer

	// Precomputed for minting, which runs on the handshake path.
	leafChain   [][]byte  // DER sent after each leaf: chain minus a self-signed root
	keyID       []byte    // AuthorityKeyId of leaves
	notAfter    time.Time // the earliest expiry in the chain; no leaf outlives it
	fingerprint string
}

// Init creates a new root in opts.Dir: ECDSA P-256, random 128-bit serial,
// SubjectKeyId, KeyUsage CertSign|CRLSign, BasicConstraints CA with path
// length zero (it signs leaves only), and the name constraints of opts.
// It refuses if a CA already exists there, because replacing it would
// silently break every agent that trusts it.
func Init(opts Options) (*Authority, error) {
	a, err := initCA(opts)
	if err != nil {
		return nil, fmt.Errorf("init CA in %s: %w", opts.Dir, err)
	}
	return a, nil
}

func initCA(opts Options) (*Authority, error) {
	if opts.Dir == "" {
		return nil, errors.New("no directory given: set the CA directory in the config")
	}
	if opts.NoNameConstraints && len(opts.PermittedDomains) > 0 {
		return nil, errors.New("both NoNameConstraints and PermittedDomains are set: choose one")
	}
	var permitted []string
	if !opts.NoNameConstraints {
		permitted = opts.PermittedDomains
		if len(permitted) == 0 {
			permitted = DefaultDomains
		}
		var err error
		if permitted, err = canonicalConstraints(permitted); err != nil {
			return nil, err
		}
	}
	if opts.CommonName == "" {
		opts.CommonName = defaultCommonName
	}
	if opts.Validity <= 0 {
		opts.Validity = defaultValidity
	}
	// Checked before generating anything for the common mistake; writeCA
	// still refuses to clobber if another process wins a race.
	if exists, err := caExists(opts.Dir); err != nil {
		return nil, err
	} else if exists {
		return nil, errExists(opts.Dir)
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: opts.CommonName},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(opts.Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		// SubjectKeyId is left empty: CreateCertificate derives it from the
		// public key (RFC 7093) for CA templates.
		PermittedDNSDomains:         permitted,
		PermittedDNSDomainsCritical: len(permitted) > 0,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create root certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse new root certificate: %w", err)
	}
	a, err := newAuthority([]*x509.Certificate{cert}, key, now)
	if err != nil {
		return nil, err
	}
	if err := a.write(opts.Dir, false); err != nil {
		return nil, err
	}
	return a, nil
}

// Load reads the CA in dir. It refuses a key file that group or others
// can read, a key that does not match the certificate, and a certificate
// that is not a CA. A dir holding no CA yields an error that wraps
// fs.ErrNotExist and says to run `gatehouse ca init`.
func Load(dir string) (*Authority, error) {
	a, err := load(dir)
	if err != nil {
		return nil, fmt.Errorf("load CA from %s: %w", dir, err)
	}
	return a, nil
}

func load(dir string) (*Authority, error) {
	if dir == "" {
		// Not the working directory: a CA found there by accident is
		// worse than none.
		return nil, errors.New("no directory given: set the CA directory in the config")
	}
	certPEM, keyPEM, err := readCA(dir)
	if err != nil {
		return nil, err
	}
	defer clear(keyPEM)
	chain, err := parseChain(certPEM)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", certFile, err)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", keyFile, err)
	}
	return newAuthority(chain, key, time.Now())
}

// LoadOrInit loads the CA in opts.Dir, creating it first if the directory
// holds none: what `gatehouse serve` does on first run. created reports
// whether a new root was made, which the caller should announce: agents
// must be given its certificate before they can connect.
func LoadOrInit(opts Options) (a *Authority, created bool, err error) {
	a, err = Load(opts.Dir)
	if !errors.Is(err, fs.ErrNotExist) {
		return a, false, err
	}
	a, err = Init(opts)
	if errors.Is(err, fs.ErrExist) {
		// Another process initialised the same directory between our Load
		// and Init; theirs is as good as ours.
		a, err = Load(opts.Dir)
		return a, false, err
	}
	return a, err == nil, err
}

// Import installs an existing enterprise CA or intermediate in dir.
// certPEM holds the signing certificate, optionally followed by the chain
// above it, each signed by the next; keyPEM holds its key (EC P-256/P-384,
// RSA of at least 2048 bits, or Ed25519; PKCS#8, PKCS#1 or SEC1; not
// encrypted). Import checks that the key matches, the certificate is a CA
// that may issue server certificates, and the chain verifies, before it
// touches the disk. It writes ca.crt, the full chain as given (re-encoded,
// so text between PEM blocks is dropped), and ca.key, as PKCS#8 with mode
// 0600. It refuses to replace an existing CA unless force is set; with
// force, agents must be given the new CertPEM.
func Import(dir string, certPEM, keyPEM []byte, force bool) (*Authority, error) {
	a, err := importCA(dir, certPEM, keyPEM, force)
	if err != nil {
		return nil, fmt.Errorf("import CA into %s: %w", dir, err)
	}
	return a, nil
}

func importCA(dir string, certPEM, keyPEM []byte, force bool) (*Authority, error) {
	if dir == "" {
		return nil, errors.New("no directory given: set the CA directory in the config")
	}
	chain, err := parseChain(certPEM)
	if err != nil {
		return nil, fmt.Errorf("read certificate: %w", err)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	a, err := newAuthority(chain, key, time.Now())
	if err != nil {
		return nil, err
	}
	if !force {
		if exists, err := caExists(dir); err != nil {
			return nil, err
		} else if exists {
			return nil, fmt.Errorf("a CA already exists there: pass --force to replace it (agents must then trust the new one: `gatehouse ca export`), or import into another directory: %w", fs.ErrExist)
		}
	}
	if err := a.write(dir, force); err != nil {
		return nil, err
	}
	return a, nil
}

// newAuthority checks everything that would otherwise surface later as
// agents failing handshakes, and precomputes what minting needs.
func newAuthority(chain []*x509.Certificate, key crypto.Signer, now time.Time) (*Authority, error) {
	signing := chain[0]
	if !signing.BasicConstraintsValid || !signing.IsCA {
		return nil, fmt.Errorf("certificate %q is not a CA (no BasicConstraints CA:TRUE): use the issuing CA certificate, not a server certificate", signing.Subject)
	}
	if signing.KeyUsage != 0 && signing.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("certificate %q may not sign certificates (KeyUsage lacks keyCertSign): use a CA certificate issued for signing", signing.Subject)
	}
	if err := checkKeyStrength(key); err != nil {
		return nil, err
	}
	if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(signing.PublicKey) {
		return nil, fmt.Errorf("key does not match certificate %q: pass the key that belongs to the first certificate in the PEM", signing.Subject)
	}
	for i := 0; i+1 < len(chain); i++ {
		if err := chain[i].CheckSignatureFrom(chain[i+1]); err != nil {
			return nil, fmt.Errorf("certificate %d (%q) is not signed by certificate %d (%q): order the PEM from the signing certificate up to the root: %w",
				i+1, chain[i].Subject, i+2, chain[i+1].Subject, err)
		}
	}
	// One verification catches the rest at once: expiry, path length, and
	// an EKU somewhere in the chain that would forbid server certificates.
	top := len(chain) - 1
	roots := x509.NewCertPool()
	roots.AddCert(chain[top])
	inter := x509.NewCertPool()
	for i := 1; i < top; i++ {
		inter.AddCert(chain[i])
	}
	if _, err := signing.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		return nil, fmt.Errorf("certificate chain cannot issue server certificates now: renew or replace the CA: %w", err)
	}

	a := &Authority{chain: chain, key: key, notAfter: signing.NotAfter}
	for _, c := range chain {
		if c.NotAfter.Before(a.notAfter) {
			a.notAfter = c.NotAfter
		}
		// Agents hold the root already; sending it only costs bytes.
		if !isSelfSigned(c) {
			a.leafChain = append(a.leafChain, c.Raw)
		}
	}
	a.keyID = signing.SubjectKeyId
	if len(a.keyID) == 0 {
		// An imported CA may lack a SubjectKeyId; RFC 5280 still wants an
		// AuthorityKeyId in every leaf, so derive one the way RFC 7093 does.
		id, err := keyIdentifier(signing)
		if err != nil {
			return nil, err
		}
		a.keyID = id
	}
	sum := sha256.Sum256(signing.Raw)
	a.fingerprint = colonHex(sum[:])
	return a, nil
}

// Certificate returns the certificate that signs leaves. It is shared:
// do not modify it.
func (a *Authority) Certificate() *x509.Certificate { return a.chain[0] }

// CertPEM returns the PEM certificate agents must trust: the last
// certificate of the chain. For a CA made by Init that is the self-signed
// root. For an import it is the top of the chain as given, which is the
// enterprise root if it was included; if it was not, it is the highest
// intermediate, which Go and browsers accept as a trust anchor but OpenSSL
// (the AWS CLI, Python) only with partial-chain verification, so import
// the root along with the chain or make sure agents already trust it.
func (a *Authority) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.chain[len(a.chain)-1].Raw})
}

// Fingerprint is the SHA-256 of the signing certificate's DER, in the
// upper-case colon-separated hex that `openssl x509 -fingerprint -sha256`
// prints, so operators can compare the two by eye.
func (a *Authority) Fingerprint() string { return a.fingerprint }

// String identifies the CA by subject and fingerprint.
func (a Authority) String() string {
	if len(a.chain) == 0 {
		return "ca.Authority{}"
	}
	return fmt.Sprintf("ca.Authority{%s SHA256=%s}", a.chain[0].Subject, a.fingerprint)
}

// Format makes every verb, %#v and %+v included, print String. Without
// it fmt would walk the struct, and an Ed25519 key is a byte slice that
// it would print in full. The value receiver covers Authority and
// *Authority alike.
func (a Authority) Format(f fmt.State, _ rune) { io.WriteString(f, a.String()) }

// LogValue keeps slog, whose JSON handler ignores Format, to the same
// subject and fingerprint.
func (a Authority) LogValue() slog.Value {
	if len(a.chain) == 0 {
		return slog.GroupValue()
	}
	return slog.GroupValue(
		slog.String("subject", a.chain[0].Subject.String()),
		slog.String("sha256", a.fingerprint),
	)
}

// write stores the chain and the key (as PKCS#8) in dir.
func (a *Authority) write(dir string, replace bool) error {
	var certPEM []byte
	for _, c := range a.chain {
		certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	der, err := x509.MarshalPKCS8PrivateKey(a.key)
	if err != nil {
		return fmt.Errorf("encode key: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	clear(der)
	defer clear(keyPEM)
	return writeCA(dir, certPEM, keyPEM, replace)
}

// randomSerial returns a positive random serial of 128 bits: unguessable
// (the defence against chosen-prefix collisions) and within RFC 5280's
// 20 octets.
func randomSerial() (*big.Int, error) {
	var b [16]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("generate serial: %w", err)
		}
		if s := new(big.Int).SetBytes(b[:]); s.Sign() > 0 {
			return s, nil
		}
	}
}

func isSelfSigned(c *x509.Certificate) bool {
	return string(c.RawIssuer) == string(c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

// keyIdentifier is RFC 7093 method 1: the leftmost 160 bits of the SHA-256
// of the subjectPublicKey bits, as crypto/x509 computes SubjectKeyId.
func keyIdentifier(c *x509.Certificate) ([]byte, error) {
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(c.RawSubjectPublicKeyInfo, &spki); err != nil {
		return nil, fmt.Errorf("parse public key of %q: %w", c.Subject, err)
	}
	sum := sha256.Sum256(spki.PublicKey.Bytes)
	return sum[:20], nil
}

func colonHex(b []byte) string {
	h := strings.ToUpper(hex.EncodeToString(b))
	var sb strings.Builder
	sb.Grow(len(h) + len(b))
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			sb.WriteByte(':')
		}
		sb.WriteString(h[i : i+2])
	}
	return sb.String()
}
