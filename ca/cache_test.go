package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestNameConstraints(t *testing.T) {
	for _, tc := range []struct {
		name          string
		opts          Options
		exampleMints  bool // Get("example.com") succeeds
		exampleVerify bool // a leaf forced for example.com verifies
	}{
		{"default constraints keep the CA to AWS", Options{}, false, false},
		{"NoNameConstraints allows any name", Options{NoNameConstraints: true}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestAuthority(t, tc.opts)
			roots := rootPool(t, a)
			c := NewCache(a, CacheOptions{})

			s3, err := c.Get("s3.amazonaws.com")
			if err != nil {
				t.Fatal(err)
			}
			if err := verifyLeaf(s3, roots, "s3.amazonaws.com"); err != nil {
				t.Errorf("leaf for s3.amazonaws.com does not verify: %v", err)
			}

			// Mint for example.com with the CA key directly, as a thief of
			// the key would: only the constraints in the root stop it.
			forced := mintBypassingChecks(t, a, "example.com")
			err = verifyLeaf(forced, roots, "example.com")
			if tc.exampleVerify && err != nil {
				t.Errorf("forced example.com leaf: %v, want it to verify", err)
			}
			if !tc.exampleVerify {
				var invalid x509.CertificateInvalidError
				if !errors.As(err, &invalid) || invalid.Reason != x509.CANotAuthorizedForThisName {
					t.Errorf("forced example.com leaf: %v, want a name constraint violation", err)
				}
			}

			_, err = c.Get("example.com")
			if tc.exampleMints && err != nil {
				t.Errorf("Get(example.com): %v", err)
			}
			if !tc.exampleMints && !errors.Is(err, ErrNameNotPermitted) {
				t.Errorf("Get(example.com): %v, want ErrNameNotPermitted", err)
			}
		})
	}
}

func mintBypassingChecks(t *testing.T, a *Authority, name string) *tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := randomSerial()
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: serial,
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, a.Certificate(), key.Public(), a.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func TestGetRefusesNames(t *testing.T) {
	a := newTestAuthority(t, Options{})
	c := NewCache(a, CacheOptions{})
	for _, tc := range []struct {
		name, serverName string
		want             error
	}{
		{"empty (no SNI)", "", ErrInvalidName},
		{"IPv4", "52.216.0.1", ErrInvalidName},
		{"IPv6", "2600:1f18::1", ErrInvalidName},
		{"wildcard", "*.s3.amazonaws.com", ErrInvalidName},
		{"space", "my bucket.s3.amazonaws.com", ErrInvalidName},
		{"empty label", "s3..amazonaws.com", ErrInvalidName},
		{"leading hyphen", "-x.s3.amazonaws.com", ErrInvalidName},
		{"trailing hyphen", "x-.s3.amazonaws.com", ErrInvalidName},
		{"label over 63 bytes", strings.Repeat("a", 64) + ".amazonaws.com", ErrInvalidName},
		{"name over 253 bytes", strings.Repeat("abcdefghi.", 25) + "amazonaws.com", ErrInvalidName},
		{"non-ASCII", "bücher.amazonaws.com", ErrInvalidName},
		{"Kelvin sign that lower-cases to k", "\u212Ams.us-east-1.amazonaws.com", ErrInvalidName},
		{"numeric top label", "10.1", ErrInvalidName},
		{"NUL byte", "s3.amazonaws.com\x00.evil.com", ErrInvalidName},
		{"outside the constraints", "example.com", ErrNameNotPermitted},
		{"AWS name as a prefix of another domain", "s3.amazonaws.com.evil.com", ErrNameNotPermitted},
		{"AWS name as a suffix without a dot", "evilamazonaws.com", ErrNameNotPermitted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cert, err := c.Get(tc.serverName)
			if !errors.Is(err, tc.want) || cert != nil {
				t.Fatalf("Get(%q) = %v, %v; want %v", tc.serverName, cert, err, tc.want)
			}
		})
	}
	if s := c.Stats(); s.Mints != 0 || s.Hits != 0 {
		t.Errorf("Stats after refusals: %+v, want no mints or hits", s)
	}
}

func TestLeaf(t *testing.T) {
	a := newTestAuthority(t, Options{})
	c := NewCache(a, CacheOptions{})
	before := time.Now().Truncate(time.Second)
	cert, err := c.Get("S3.US-West-2.AmazonAWS.com.")
	if err != nil {
		t.Fatal(err)
	}
	leaf := cert.Leaf
	for _, check := range []struct {
		what string
		ok   bool
	}{
		{"SAN is the lower-cased name only", slices.Equal(leaf.DNSNames, []string{"s3.us-west-2.amazonaws.com"}) && len(leaf.IPAddresses) == 0 && len(leaf.URIs) == 0},
		{"ExtKeyUsage is ServerAuth", slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth})},
		{"KeyUsage is DigitalSignature", leaf.KeyUsage == x509.KeyUsageDigitalSignature},
		{"not a CA", leaf.BasicConstraintsValid && !leaf.IsCA},
		{"AuthorityKeyId is the root's SubjectKeyId", len(leaf.AuthorityKeyId) > 0 && string(leaf.AuthorityKeyId) == string(a.Certificate().SubjectKeyId)},
		{"serial is random and at most 128 bits", leaf.SerialNumber.Sign() > 0 && leaf.SerialNumber.BitLen() <= 128 && leaf.SerialNumber.BitLen() > 64},
		{"NotBefore backdated 5 minutes", !leaf.NotBefore.After(before.Add(-5*time.Minute)) && leaf.NotBefore.After(before.Add(-6*time.Minute))},
		{"valid 24h", leaf.NotAfter.Sub(leaf.NotBefore) == 24*time.Hour+5*time.Minute},
		{"key is the cache's ECDSA P-256 key", cert.PrivateKey == c.key && c.key.Curve == elliptic.P256()},
		{"Certificate[0] is the leaf", string(cert.Certificate[0]) == string(leaf.Raw)},
		{"own root is not sent", len(cert.Certificate) == 1},
	} {
		t.Run(check.what, func(t *testing.T) {
			if !check.ok {
				t.Errorf("leaf: %+v", leaf)
			}
		})
	}

	t.Run("all leaves of a cache share its key", func(t *testing.T) {
		other, err := c.Get("sqs.us-west-2.amazonaws.com")
		if err != nil {
			t.Fatal(err)
		}
		if other.PrivateKey != cert.PrivateKey {
			t.Error("second leaf has a different key")
		}
	})

	t.Run("leaf never outlives the CA", func(t *testing.T) {
		short := newTestAuthority(t, Options{Validity: time.Hour})
		sc := NewCache(short, CacheOptions{})
		cert, err := sc.Get("s3.amazonaws.com")
		if err != nil {
			t.Fatal(err)
		}
		if !cert.Leaf.NotAfter.Equal(short.Certificate().NotAfter) {
			t.Errorf("leaf expires %v, CA %v", cert.Leaf.NotAfter, short.Certificate().NotAfter)
		}
		// Cut short, the leaf is inside RenewBefore at once; it must be
		// kept, not re-minted on every call.
		if again, _ := sc.Get("s3.amazonaws.com"); again != cert || sc.Stats().Mints != 1 {
			t.Errorf("leaf cut short by the CA was re-minted: %+v", sc.Stats())
		}
	})
}

func TestHandshake(t *testing.T) {
	root := issue(t, "Example Root", newKey(t, "p256"), nil, nil)
	inter := issue(t, "Example Intermediate", newKey(t, "p256"), &root, nil)
	imported, err := Import(t.TempDir(), inter.certPEM(), inter.keyPEM(t), false)
	if err != nil {
		t.Fatal(err)
	}
	enterpriseRoots := x509.NewCertPool()
	enterpriseRoots.AddCert(root.cert)
	own := newTestAuthority(t, Options{})

	for _, tc := range []struct {
		name       string
		ca         *Authority
		roots      *x509.CertPool
		serverName string
		wantErr    string // in the client's error; "" for success
	}{
		{"agent trusting the exported root reaches sts.amazonaws.com", own, rootPool(t, own), "sts.amazonaws.com", ""},
		{"agent trusting the enterprise root verifies an imported intermediate", imported, enterpriseRoots, "sts.amazonaws.com", ""},
		// crypto/tls answers any GetCertificate error with internal_error.
		{"name outside the constraints gets no certificate", own, rootPool(t, own), "example.com", "internal error"},
		{"agent that does not trust the CA refuses it", own, x509.NewCertPool(), "sts.amazonaws.com", "unknown authority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := handshake(t, NewCache(tc.ca, CacheOptions{}), &tls.Config{RootCAs: tc.roots, ServerName: tc.serverName})
			if tc.wantErr == "" && err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("handshake: %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

// handshake runs a real TLS exchange over loopback TCP, the server taking
// its certificate from c, and returns the client's error.
func handshake(t *testing.T, c *Cache, client *tls.Config) error {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: c.GetCertificate})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		io.Copy(conn, conn) // echo until the client closes
	}()
	defer func() { <-done }()

	raw, err := net.DialTimeout("tcp", ln.Addr().String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	conn := tls.Client(raw, client)
	defer conn.Close()
	if err := conn.Handshake(); err != nil {
		return err
	}
	// Prove the session carries data, not just that a handshake ended.
	if _, err := conn.Write([]byte("ping")); err != nil {
		return err
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "ping" {
		return fmt.Errorf("echo: %q, %v", buf, err)
	}
	return nil
}

func TestCacheHit(t *testing.T) {
	c := NewCache(newTestAuthority(t, Options{}), CacheOptions{})
	first, err := c.Get("dynamodb.eu-central-1.amazonaws.com")
	if err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s != (Stats{Misses: 1, Mints: 1}) {
		t.Fatalf("after the first Get: %+v, want one miss and one mint", s)
	}
	for i, name := range []string{"dynamodb.eu-central-1.amazonaws.com", "DynamoDB.eu-central-1.amazonaws.com", "dynamodb.eu-central-1.amazonaws.com."} {
		again, err := c.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		if again != first {
			t.Fatalf("Get(%q) returned a different certificate, want the cached pointer", name)
		}
		if s := c.Stats(); s != (Stats{Hits: uint64(i + 1), Misses: 1, Mints: 1}) {
			t.Fatalf("after hit %d: %+v", i+1, s)
		}
	}
}

func TestCacheHitDoesNotAllocate(t *testing.T) {
	c := NewCache(newTestAuthority(t, Options{}), CacheOptions{})
	if _, err := c.Get("s3.amazonaws.com"); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { c.Get("s3.amazonaws.com") }); n != 0 {
		t.Fatalf("a cache hit allocates %v times", n)
	}
}

func TestConcurrentMissesMintOnce(t *testing.T) {
	c := NewCache(newTestAuthority(t, Options{}), CacheOptions{})
	const n = 100
	start := make(chan struct{})
	certs := make([]*tls.Certificate, n)
	errs := make([]error, n)
	var ready, wg sync.WaitGroup
	ready.Add(n)
	for i := range n {
		wg.Go(func() {
			ready.Done()
			<-start // all goroutines ask at once
			certs[i], errs[i] = c.Get("lambda.ap-southeast-2.amazonaws.com")
		})
	}
	ready.Wait()
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || certs[i] != certs[0] {
			t.Fatalf("goroutine %d: %v, same certificate %v", i, errs[i], certs[i] == certs[0])
		}
	}
	if s := c.Stats(); s.Mints != 1 || s.Hits+s.Misses != n {
		t.Fatalf("Stats: %+v, want exactly one mint for %d calls", s, n)
	}
}

func TestRenewal(t *testing.T) {
	a := newTestAuthority(t, Options{})
	start := time.Now().Truncate(time.Second)
	for _, tc := range []struct {
		name    string
		later   time.Duration
		remints bool
	}{
		{"just minted is kept", 0, false},
		{"earlier than RenewBefore is kept", 16*time.Hour - time.Minute, false},
		{"within RenewBefore of expiry is re-minted", 16*time.Hour + time.Minute, true},
		{"expired is re-minted", 25 * time.Hour, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{t: start}
			c := NewCache(a, CacheOptions{Lifetime: 24 * time.Hour, RenewBefore: 8 * time.Hour, Now: clock.Now})
			first, err := c.Get("kms.us-east-1.amazonaws.com")
			if err != nil {
				t.Fatal(err)
			}
			clock.Set(start.Add(tc.later))
			second, err := c.Get("kms.us-east-1.amazonaws.com")
			if err != nil {
				t.Fatal(err)
			}
			reminted := second.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) != 0
			if reminted != tc.remints || (c.Stats().Mints == 2) != tc.remints {
				t.Fatalf("after %v: re-minted %v (%+v), want %v", tc.later, reminted, c.Stats(), tc.remints)
			}
			if reminted && !second.Leaf.NotAfter.Equal(start.Add(tc.later+24*time.Hour)) {
				t.Errorf("renewed leaf expires %v, want a full lifetime from now", second.Leaf.NotAfter)
			}
		})
	}
}

func TestSerialsUnique(t *testing.T) {
	c := NewCache(newTestAuthority(t, Options{}), CacheOptions{})
	seen := make(map[string]bool, 1000)
	for i := range 1000 {
		cert, err := c.Get(fmt.Sprintf("bucket-%d.s3.amazonaws.com", i))
		if err != nil {
			t.Fatal(err)
		}
		s := cert.Leaf.SerialNumber.String()
		if seen[s] {
			t.Fatalf("serial %s minted twice", s)
		}
		seen[s] = true
	}
	if c.Stats().Mints != 1000 {
		t.Fatalf("%+v, want 1000 mints", c.Stats())
	}
}

func TestEvictionReMints(t *testing.T) {
	c := NewCache(newTestAuthority(t, Options{}), CacheOptions{Size: 2})
	for _, name := range []string{"a.amazonaws.com", "b.amazonaws.com", "c.amazonaws.com", "a.amazonaws.com"} {
		if _, err := c.Get(name); err != nil {
			t.Fatal(err)
		}
	}
	if s := c.Stats(); s.Mints != 4 {
		t.Fatalf("%+v: want a.amazonaws.com evicted by c and minted again", s)
	}
}

func BenchmarkCacheHit(b *testing.B) {
	c := NewCache(newTestAuthority(b, Options{}), CacheOptions{})
	if _, err := c.Get("s3.us-east-1.amazonaws.com"); err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c.Get("s3.us-east-1.amazonaws.com")
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.Get("s3.us-east-1.amazonaws.com")
			}
		})
	})
}

// BenchmarkMint measures a miss end to end, and what a fresh key per leaf
// would add to it (the reason Cache shares one key).
func BenchmarkMint(b *testing.B) {
	a := newTestAuthority(b, Options{})
	b.Run("shared key", func(b *testing.B) {
		c := NewCache(a, CacheOptions{Size: 1})
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			if _, err := c.Get(fmt.Sprintf("h%d.s3.amazonaws.com", i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("key per leaf", func(b *testing.B) {
		b.ReportAllocs()
		now := time.Now()
		for b.Loop() {
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if _, err := a.mintLeaf("s3.amazonaws.com", key, now, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("key generation alone", func(b *testing.B) {
		for b.Loop() {
			ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		}
	})
}
