package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The on-disk layout. ca.crt is public (agents and operators read it);
// ca.key is readable by its owner only.
const (
	certFile = "ca.crt"
	keyFile  = "ca.key"

	certPerm = 0o644
	keyPerm  = 0o600
	dirPerm  = 0o700

	// maxFileSize bounds what we read: a chain is a few KB, and a wrong
	// path pointing at a huge file should fail, not exhaust memory.
	maxFileSize = 1 << 20
)

func errExists(dir string) error {
	return fmt.Errorf("a CA already exists there: run `gatehouse ca export` to print its certificate, or remove %s to start over: %w", dir, fs.ErrExist)
}

// caExists reports whether either file is present: a lone ca.key is still
// a key someone may need, so it counts.
func caExists(dir string) (bool, error) {
	for _, name := range []string{certFile, keyFile} {
		_, err := os.Lstat(filepath.Join(dir, name))
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("check for an existing CA: %w", err)
		}
	}
	return false, nil
}

// readCA returns the contents of ca.crt and ca.key, refusing a key that
// group or others can read: such a key may already be copied, and every
// agent trusts it.
func readCA(dir string) (certPEM, keyPEM []byte, err error) {
	certPath, keyPath := filepath.Join(dir, certFile), filepath.Join(dir, keyFile)
	certPEM, certErr := readFile(certPath, 0)
	keyPEM, keyErr := readFile(keyPath, keyPerm)
	certMissing, keyMissing := errors.Is(certErr, fs.ErrNotExist), errors.Is(keyErr, fs.ErrNotExist)
	switch {
	case certMissing && keyMissing:
		return nil, nil, fmt.Errorf("no CA found: run `gatehouse ca init` to create one, or `gatehouse ca import` to install your own: %w", fs.ErrNotExist)
	case certMissing:
		// Not wrapping ErrNotExist: LoadOrInit must not paper over a lost
		// certificate with a new CA while the old key sits beside it.
		return nil, nil, fmt.Errorf("incomplete CA: %s is missing but %s exists: restore %s from backup, or remove %s and run `gatehouse ca init`", certPath, keyPath, certFile, dir)
	case keyMissing:
		return nil, nil, fmt.Errorf("incomplete CA: %s is missing but %s exists: restore %s from backup, or remove %s and run `gatehouse ca init`", keyPath, certPath, keyFile, dir)
	case certErr != nil:
		return nil, nil, certErr
	case keyErr != nil:
		return nil, nil, keyErr
	}
	return certPEM, keyPEM, nil
}

// readFile reads a regular file of at most maxFileSize. If maxPerm is not
// zero, a file with permission bits beyond it is refused; the mode is
// taken from the open file so it cannot change between check and read.
func readFile(path string, maxPerm fs.FileMode) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if maxPerm != 0 && fi.Mode().Perm()&^maxPerm != 0 {
		return nil, fmt.Errorf("%s has mode %#o, so others may read the CA key: run `chmod 600 %s` (for a Kubernetes secret, set defaultMode: 0600)", path, fi.Mode().Perm(), path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes: is this the right file?", path, maxFileSize)
	}
	return b, nil
}

// writeCA stores both files so that a reader never sees a half-written
// one: each is written to a temporary file and then moved into place,
// by rename when replacing, by link otherwise, since link refuses to
// clobber a file another process created meanwhile.
func writeCA(dir string, certPEM, keyPEM []byte, replace bool) error {
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return fmt.Errorf("create CA directory: %w", err)
	}
	keyTmp, err := writeTemp(dir, keyFile, keyPEM, keyPerm)
	if err != nil {
		return err
	}
	defer os.Remove(keyTmp)
	certTmp, err := writeTemp(dir, certFile, certPEM, certPerm)
	if err != nil {
		return err
	}
	defer os.Remove(certTmp)

	keyPath, certPath := filepath.Join(dir, keyFile), filepath.Join(dir, certFile)
	if replace {
		if err := os.Rename(keyTmp, keyPath); err != nil {
			return fmt.Errorf("install %s: %w", keyFile, err)
		}
		if err := os.Rename(certTmp, certPath); err != nil {
			return fmt.Errorf("install %s: %w (%s now holds the new key: re-run the import)", certFile, err, keyPath)
		}
	} else {
		if err := os.Link(keyTmp, keyPath); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return errExists(dir)
			}
			return fmt.Errorf("install %s: %w", keyFile, err)
		}
		if err := os.Link(certTmp, certPath); err != nil {
			os.Remove(keyPath) // ours: we just created it
			if errors.Is(err, fs.ErrExist) {
				return errExists(dir)
			}
			return fmt.Errorf("install %s: %w", certFile, err)
		}
	}
	// Make the new names durable; a crash must not lose a CA that agents
	// were already told to trust.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func writeTemp(dir, name string, data []byte, perm fs.FileMode) (string, error) {
	f, err := os.CreateTemp(dir, "."+name+".tmp*")
	if err != nil {
		return "", fmt.Errorf("write %s: %w", name, err)
	}
	// Chmod, unlike the mode given to open, is not narrowed by the umask,
	// so ca.crt ends up 0644 whatever the umask is.
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("write %s: %w", name, err)
	}
	return f.Name(), nil
}

// parseChain parses every CERTIFICATE block of certPEM, in order.
func parseChain(certPEM []byte) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	for rest := certPEM; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			if strings.Contains(block.Type, "PRIVATE KEY") {
				return nil, errors.New("the certificate PEM holds a private key: pass the key separately")
			}
			return nil, fmt.Errorf("unexpected PEM block %q: pass only CERTIFICATE blocks, signing certificate first", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate %d: %w", len(chain)+1, err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return nil, errors.New("no PEM certificate found: expected -----BEGIN CERTIFICATE----- (convert DER with `openssl x509 -inform der -in ca.cer -out ca.pem`)")
	}
	return chain, nil
}

// parseKey parses the first private key in keyPEM, whatever its encoding.
// The PEM type is only a hint, as tools label keys inconsistently, so
// every encoding is tried.
func parseKey(keyPEM []byte) (crypto.Signer, error) {
	for rest := keyPEM; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		switch {
		case block == nil:
			return nil, errors.New("no PEM private key found: expected -----BEGIN PRIVATE KEY----- or similar")
		case block.Type == "EC PARAMETERS":
			continue // `openssl ecparam -genkey` writes these before the key
		case block.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED"):
			return nil, errors.New("the key is encrypted: decrypt it first, e.g. `openssl pkey -in key.pem -out key-plain.pem`, and keep the result 0600")
		case strings.HasSuffix(block.Type, "PRIVATE KEY"):
			k, err := parseKeyDER(block.Bytes)
			clear(block.Bytes)
			return k, err
		default:
			return nil, fmt.Errorf("unexpected PEM block %q where a private key was expected", block.Type)
		}
	}
}

func parseKeyDER(der []byte) (crypto.Signer, error) {
	var key any
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		key = k
	} else if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		key = k
	} else if k, err := x509.ParseECPrivateKey(der); err == nil {
		key = k
	} else {
		return nil, errors.New("cannot parse the private key: expected PKCS#8, PKCS#1 (RSA) or SEC1 (EC) DER in PEM")
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("a %T cannot sign certificates: use an EC, RSA or Ed25519 key", key)
	}
	return s, nil
}

// checkKeyStrength refuses keys that agents would reject or that are too
// weak to guard every AWS call they make. P-521 is refused because
// BoringSSL (Chrome, many SDK builds) does not verify P-521 signatures.
func checkKeyStrength(key crypto.Signer) error {
	switch pub := key.Public().(type) {
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() && pub.Curve != elliptic.P384() {
			return fmt.Errorf("EC key on curve %s is not supported: use P-256 or P-384", pub.Curve.Params().Name)
		}
	case *rsa.PublicKey:
		if pub.N.BitLen() < 2048 {
			return fmt.Errorf("RSA key of %d bits is too weak: use at least 2048 bits", pub.N.BitLen())
		}
	case ed25519.PublicKey:
	default:
		return fmt.Errorf("%T keys are not supported: use EC P-256/P-384, RSA or Ed25519", pub)
	}
	return nil
}
