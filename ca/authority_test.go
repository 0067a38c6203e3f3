package ca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestInit(t *testing.T) {
	t.Run("writes key 0600 and cert 0644 in a new 0700 dir", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "ca")
		newTestAuthority(t, Options{Dir: dir})
		for path, want := range map[string]fs.FileMode{
			dir:                          0o700 | fs.ModeDir,
			filepath.Join(dir, certFile): 0o644,
			filepath.Join(dir, keyFile):  0o600,
		} {
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode() & (fs.ModePerm | fs.ModeDir); got != want {
				t.Errorf("%s: mode %v, want %v", path, got, want)
			}
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 2 {
			t.Errorf("dir holds %d entries, want ca.crt and ca.key only (temporary files left behind?)", len(entries))
		}
	})

	t.Run("refuses a second Init and says what to do", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "ca")
		first := newTestAuthority(t, Options{Dir: dir})
		_, err := Init(Options{Dir: dir})
		if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), "gatehouse ca export") || !strings.Contains(err.Error(), "remove "+dir) {
			t.Fatalf("second Init: %v; want fs.ErrExist telling to run `gatehouse ca export` or remove %s", err, dir)
		}
		again, err := Load(dir)
		if err != nil || again.Fingerprint() != first.Fingerprint() {
			t.Fatalf("the first CA was disturbed: %v", err)
		}
	})

	t.Run("refuses when only a key is left", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, keyFile), []byte("precious"), 0o600)
		if _, err := Init(Options{Dir: dir}); !errors.Is(err, fs.ErrExist) {
			t.Fatalf("Init over a lone ca.key: %v, want fs.ErrExist", err)
		}
	})

	t.Run("makes an ECDSA P-256 root constrained to AWS", func(t *testing.T) {
		before := time.Now()
		root := newTestAuthority(t, Options{}).Certificate()
		if k, ok := root.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
			t.Errorf("key %T, want ECDSA P-256", root.PublicKey)
		}
		if n := root.SerialNumber.BitLen(); n > 128 || n < 64 {
			t.Errorf("serial has %d bits, want a random 128-bit one", n)
		}
		if len(root.SubjectKeyId) == 0 {
			t.Error("no SubjectKeyId")
		}
		if root.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
			t.Errorf("KeyUsage %v, want CertSign|CRLSign", root.KeyUsage)
		}
		if !root.BasicConstraintsValid || !root.IsCA || root.MaxPathLen != 0 || !root.MaxPathLenZero {
			t.Error("want BasicConstraints CA:TRUE, pathlen:0")
		}
		if !slices.Equal(root.PermittedDNSDomains, DefaultDomains) || !root.PermittedDNSDomainsCritical {
			t.Errorf("constraints %v (critical %v), want critical %v", root.PermittedDNSDomains, root.PermittedDNSDomainsCritical, DefaultDomains)
		}
		if root.Subject.CommonName != "Gatehouse private CA" {
			t.Errorf("CN %q", root.Subject.CommonName)
		}
		if d := root.NotAfter.Sub(before); d < 3649*24*time.Hour || d > 3651*24*time.Hour {
			t.Errorf("valid for %v, want 10 years", d)
		}
	})

	t.Run("honours the options", func(t *testing.T) {
		root := newTestAuthority(t, Options{
			PermittedDomains: []string{"Example.COM", ".internal.example"},
			CommonName:       "Acme egress CA",
			Validity:         48 * time.Hour,
		}).Certificate()
		if want := []string{"example.com", ".internal.example"}; !slices.Equal(root.PermittedDNSDomains, want) {
			t.Errorf("constraints %v, want %v", root.PermittedDNSDomains, want)
		}
		if root.Subject.CommonName != "Acme egress CA" {
			t.Errorf("CN %q", root.Subject.CommonName)
		}
		if d := time.Until(root.NotAfter); d > 48*time.Hour || d < 47*time.Hour {
			t.Errorf("valid for %v more, want 48h", d)
		}
		if root := newTestAuthority(t, Options{NoNameConstraints: true}).Certificate(); len(root.PermittedDNSDomains) != 0 {
			t.Errorf("NoNameConstraints root has constraints %v", root.PermittedDNSDomains)
		}
	})

	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"refuses no directory", Options{}, "no directory"},
		{"refuses a directory that is a file", Options{Dir: "/dev/null"}, "/dev/null"},
		{"refuses both constraint options", Options{NoNameConstraints: true, PermittedDomains: []string{"aws"}}, "choose one"},
		{"refuses an empty permitted domain", Options{PermittedDomains: []string{"amazonaws.com", ""}}, "NoNameConstraints"},
		{"refuses a wildcard permitted domain", Options{PermittedDomains: []string{"*.amazonaws.com"}}, "wildcard"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.opts.Dir == "" && tc.name != "refuses no directory" {
				tc.opts.Dir = t.TempDir()
			}
			if _, err := Init(tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Init: %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	t.Run("reads back what Init wrote", func(t *testing.T) {
		dir := t.TempDir()
		a := newTestAuthority(t, Options{Dir: dir})
		b, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if b.Fingerprint() != a.Fingerprint() || !bytes.Equal(b.CertPEM(), a.CertPEM()) {
			t.Fatal("loaded CA differs from the one created")
		}
	})

	t.Run("accepts a key stricter than 0600", func(t *testing.T) {
		dir := t.TempDir()
		newTestAuthority(t, Options{Dir: dir})
		os.Chmod(filepath.Join(dir, keyFile), 0o400)
		if _, err := Load(dir); err != nil {
			t.Fatal(err)
		}
	})

	otherKey := pkcs8PEM(t, newKey(t, "p256"))
	server := issue(t, "not a CA", newKey(t, "p256"), nil, func(c *x509.Certificate) {
		c.IsCA, c.KeyUsage = false, x509.KeyUsageDigitalSignature
	})
	for _, tc := range []struct {
		name     string
		mangle   func(t *testing.T, dir string)
		want     string
		notExist bool // whether LoadOrInit may treat it as "no CA yet"
	}{
		{
			name:     "missing dir says to run gatehouse ca init",
			mangle:   func(t *testing.T, dir string) { os.RemoveAll(dir) },
			want:     "run `gatehouse ca init`",
			notExist: true,
		},
		{
			name:   "refuses a key others can read",
			mangle: func(t *testing.T, dir string) { os.Chmod(filepath.Join(dir, keyFile), 0o644) },
			want:   "run `chmod 600 {dir}/ca.key`",
		},
		{
			name:   "refuses a group-readable key",
			mangle: func(t *testing.T, dir string) { os.Chmod(filepath.Join(dir, keyFile), 0o640) },
			want:   "chmod 600",
		},
		{
			name:   "refuses a key that does not match the certificate",
			mangle: func(t *testing.T, dir string) { os.WriteFile(filepath.Join(dir, keyFile), otherKey, 0o600) },
			want:   "key does not match",
		},
		{
			name: "refuses a certificate that is not a CA",
			mangle: func(t *testing.T, dir string) {
				os.WriteFile(filepath.Join(dir, certFile), server.certPEM(), 0o644)
				os.WriteFile(filepath.Join(dir, keyFile), server.keyPEM(t), 0o600)
			},
			want: "is not a CA",
		},
		{
			name:   "refuses a certificate without its key",
			mangle: func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, keyFile)) },
			want:   "incomplete CA",
		},
		{
			name:   "refuses a key without its certificate",
			mangle: func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, certFile)) },
			want:   "incomplete CA",
		},
		{
			name:   "refuses a garbled certificate",
			mangle: func(t *testing.T, dir string) { os.WriteFile(filepath.Join(dir, certFile), []byte("hello"), 0o644) },
			want:   "no PEM certificate",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ca")
			newTestAuthority(t, Options{Dir: dir})
			tc.mangle(t, dir)
			_, err := Load(dir)
			if want := strings.ReplaceAll(tc.want, "{dir}", dir); err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Load: %v, want an error containing %q", err, want)
			}
			if errors.Is(err, fs.ErrNotExist) != tc.notExist {
				t.Errorf("errors.Is(err, fs.ErrNotExist) = %v, want %v", !tc.notExist, tc.notExist)
			}
		})
	}
}

func TestLoadOrInit(t *testing.T) {
	t.Run("refuses an empty directory instead of using the working one", func(t *testing.T) {
		if _, _, err := LoadOrInit(Options{}); err == nil || !strings.Contains(err.Error(), "no directory") {
			t.Fatalf("LoadOrInit with no Dir: %v", err)
		}
	})

	t.Run("creates on first run and loads after", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "ca")
		a, created, err := LoadOrInit(Options{Dir: dir})
		if err != nil || !created {
			t.Fatalf("first run: created=%v err=%v", created, err)
		}
		b, created, err := LoadOrInit(Options{Dir: dir})
		if err != nil || created || b.Fingerprint() != a.Fingerprint() {
			t.Fatalf("second run: created=%v err=%v, want the same CA loaded", created, err)
		}
	})

	t.Run("does not replace a CA it cannot load", func(t *testing.T) {
		dir := t.TempDir()
		newTestAuthority(t, Options{Dir: dir})
		os.Remove(filepath.Join(dir, certFile))
		if _, created, err := LoadOrInit(Options{Dir: dir}); err == nil || created {
			t.Fatalf("created=%v err=%v, want the incomplete CA reported, not replaced", created, err)
		}
	})
}

func TestImport(t *testing.T) {
	root := issue(t, "Example Root", newKey(t, "p384"), nil, nil)
	inter := issue(t, "Example Egress Intermediate", newKey(t, "p256"), &root, func(c *x509.Certificate) {
		c.MaxPathLen, c.MaxPathLenZero = 0, true
	})

	t.Run("intermediate without its root: leaves chain to it and verify against the root", func(t *testing.T) {
		dir := t.TempDir()
		a, err := Import(dir, inter.certPEM(), inter.keyPEM(t), false)
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := NewCache(a, CacheOptions{}).Get("s3.eu-west-1.amazonaws.com")
		if err != nil {
			t.Fatal(err)
		}
		if len(leaf.Certificate) != 2 || !bytes.Equal(leaf.Certificate[1], inter.cert.Raw) {
			t.Fatalf("served chain has %d certificates, want leaf then intermediate", len(leaf.Certificate))
		}
		roots := x509.NewCertPool()
		roots.AddCert(root.cert)
		if err := verifyLeaf(leaf, roots, "s3.eu-west-1.amazonaws.com"); err != nil {
			t.Fatalf("leaf does not verify against the enterprise root: %v", err)
		}
		if !bytes.Equal(a.CertPEM(), inter.certPEM()) {
			t.Error("CertPEM is not the top of the chain given (the intermediate)")
		}
		if fi, err := os.Stat(filepath.Join(dir, keyFile)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("ca.key: %v %v, want 0600", fi.Mode(), err)
		}
		if b, err := Load(dir); err != nil || b.Fingerprint() != a.Fingerprint() {
			t.Fatalf("Load after Import: %v", err)
		}
	})

	t.Run("intermediate with its root: writes the chain as given and exports the root", func(t *testing.T) {
		dir := t.TempDir()
		chain := append(inter.certPEM(), root.certPEM()...)
		a, err := Import(dir, chain, inter.keyPEM(t), false)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(filepath.Join(dir, certFile)); !bytes.Equal(got, chain) {
			t.Error("ca.crt is not the chain as given")
		}
		if !bytes.Equal(a.CertPEM(), root.certPEM()) {
			t.Error("CertPEM is not the root")
		}
		if a.Certificate() != a.chain[0] || !a.Certificate().Equal(inter.cert) {
			t.Error("Certificate is not the intermediate")
		}
		leaf, err := NewCache(a, CacheOptions{}).Get("sts.amazonaws.com")
		if err != nil {
			t.Fatal(err)
		}
		if len(leaf.Certificate) != 2 {
			t.Errorf("served chain has %d certificates, want leaf and intermediate, root omitted", len(leaf.Certificate))
		}
		if err := verifyLeaf(leaf, rootPool(t, a), "sts.amazonaws.com"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("key mismatch refused", func(t *testing.T) {
		dir := t.TempDir()
		_, err := Import(dir, inter.certPEM(), root.keyPEM(t), false)
		if err == nil || !strings.Contains(err.Error(), "key does not match") {
			t.Fatalf("Import: %v, want key mismatch", err)
		}
		if exists, _ := caExists(dir); exists {
			t.Error("a refused import wrote files")
		}
	})

	t.Run("refuses to replace a CA unless forced", func(t *testing.T) {
		dir := t.TempDir()
		newTestAuthority(t, Options{Dir: dir})
		if _, err := Import(dir, root.certPEM(), root.keyPEM(t), false); !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), "--force") {
			t.Fatalf("Import over a CA: %v, want fs.ErrExist mentioning --force", err)
		}
		a, err := Import(dir, root.certPEM(), root.keyPEM(t), true)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := Load(dir); err != nil || b.Fingerprint() != a.Fingerprint() {
			t.Fatalf("Load after forced Import: %v", err)
		}
	})

	// Every key type and encoding an enterprise is likely to hand over.
	for _, tc := range []struct {
		name   string
		kind   string
		encode func(t *testing.T, k any) []byte
	}{
		{"EC P-256 PKCS#8", "p256", nil},
		{"EC P-384 SEC1 after EC PARAMETERS", "p384", func(t *testing.T, k any) []byte {
			der, err := x509.MarshalECPrivateKey(k.(*ecdsa.PrivateKey))
			if err != nil {
				t.Fatal(err)
			}
			params := pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{6, 5, 43, 129, 4, 0, 34}})
			return append(params, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})...)
		}},
		{"RSA PKCS#1", "rsa2048", func(t *testing.T, k any) []byte {
			return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k.(*rsa.PrivateKey))})
		}},
		{"Ed25519 PKCS#8", "ed25519", nil},
	} {
		t.Run("accepts "+tc.name, func(t *testing.T) {
			key := newKey(t, tc.kind)
			ent := issue(t, tc.name+" CA", key, nil, nil)
			keyPEM := pkcs8PEM(t, key)
			if tc.encode != nil {
				keyPEM = tc.encode(t, key)
			}
			a, err := Import(t.TempDir(), ent.certPEM(), keyPEM, false)
			if err != nil {
				t.Fatal(err)
			}
			leaf, err := NewCache(a, CacheOptions{}).Get("ec2.us-east-1.amazonaws.com")
			if err != nil {
				t.Fatal(err)
			}
			if err := verifyLeaf(leaf, rootPool(t, a), "ec2.us-east-1.amazonaws.com"); err != nil {
				t.Fatal(err)
			}
		})
	}

	p521 := newKey(t, "p521")
	weak := newKey(t, "rsa1024")
	serverKey := newKey(t, "p256")
	for _, tc := range []struct {
		name      string
		cert, key []byte
		want      string
	}{
		{"refuses a certificate that is not a CA",
			issue(t, "server", serverKey, &root, func(c *x509.Certificate) { c.IsCA = false; c.KeyUsage = x509.KeyUsageDigitalSignature }).certPEM(),
			pkcs8PEM(t, serverKey), "is not a CA"},
		{"refuses a chain out of order",
			append(root.certPEM(), inter.certPEM()...), root.keyPEM(t), "order the PEM"},
		{"refuses a CA whose EKU forbids server certificates",
			issue(t, "mail CA", serverKey, &root, func(c *x509.Certificate) {
				c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}
			}).certPEM(),
			pkcs8PEM(t, serverKey), "cannot issue server certificates"},
		{"refuses an expired CA",
			issue(t, "old CA", serverKey, nil, func(c *x509.Certificate) { c.NotAfter = time.Now().Add(-time.Hour) }).certPEM(),
			pkcs8PEM(t, serverKey), "renew or replace"},
		{"refuses a P-521 key",
			issue(t, "P-521 CA", p521, nil, nil).certPEM(), pkcs8PEM(t, p521), "use P-256 or P-384"},
		{"refuses a 1024-bit RSA key",
			issue(t, "weak CA", weak, nil, nil).certPEM(), pkcs8PEM(t, weak), "too weak"},
		{"refuses an encrypted key",
			root.certPEM(), pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}}), "decrypt it first"},
		{"refuses a key in the certificate PEM",
			append(root.certPEM(), root.keyPEM(t)...), root.keyPEM(t), "pass the key separately"},
		{"refuses DER where PEM is expected",
			root.cert.Raw, root.keyPEM(t), "openssl x509 -inform der"},
		{"refuses a certificate where the key is expected",
			root.certPEM(), root.certPEM(), "where a private key was expected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := Import(dir, tc.cert, tc.key, false)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Import: %v, want an error containing %q", err, tc.want)
			}
			if exists, _ := caExists(dir); exists {
				t.Error("a refused import wrote files")
			}
		})
	}
}

func TestFingerprintIsSHA256OfSigningCert(t *testing.T) {
	a := newTestAuthority(t, Options{})
	sum := sha256.Sum256(a.Certificate().Raw)
	want := strings.ToUpper(hex.EncodeToString(sum[:]))
	got := a.Fingerprint()
	if strings.ReplaceAll(got, ":", "") != want || len(got) != 32*3-1 {
		t.Fatalf("Fingerprint %s, want %s with colons", got, want)
	}
}

// The CA key must not leak through any way a caller might print or log an
// Authority. Ed25519 is the dangerous case: its key is a byte slice that
// fmt would print in full.
func TestAuthorityNeverRevealsKey(t *testing.T) {
	key := newKey(t, "ed25519").(ed25519.PrivateKey)
	ent := issue(t, "Ed CA", key, nil, nil)
	a, err := Import(t.TempDir(), ent.certPEM(), pkcs8PEM(t, key), false)
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{
		hex.EncodeToString(key.Seed()),
		strings.ToUpper(hex.EncodeToString(key.Seed())),
		strings.Trim(fmt.Sprint([]byte(key.Seed())), "[]"),
		"PRIVATE KEY",
	}
	var rendered []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q", "%d"} {
		rendered = append(rendered, fmt.Sprintf(verb, a), fmt.Sprintf(verb, *a))
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("ca", "ca", a)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("ca", "ca", a, "value", *a)
	rendered = append(rendered, buf.String())
	j, _ := json.Marshal(a)
	rendered = append(rendered, string(j))

	for _, r := range rendered {
		for _, s := range secrets {
			if strings.Contains(r, s) {
				t.Fatalf("rendering %q reveals key material", r)
			}
		}
	}
	if got := fmt.Sprint((*Authority)(nil)); got != "<nil>" {
		t.Errorf("nil *Authority prints %q", got)
	}
	if got := fmt.Sprintf("%+v", a); !strings.Contains(got, a.Fingerprint()) {
		t.Errorf("%%+v = %q, want it to identify the CA by fingerprint", got)
	}
}
