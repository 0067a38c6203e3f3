package ca

import (
	"errors"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
)

func TestCanonicalName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"s3.amazonaws.com", "s3.amazonaws.com"},
		{"S3.AmazonAWS.COM", "s3.amazonaws.com"},
		{"s3.amazonaws.com.", "s3.amazonaws.com"},
		{"legacy_bucket.s3.amazonaws.com", "legacy_bucket.s3.amazonaws.com"},
		{"xn--bcher-kva.amazonaws.com", "xn--bcher-kva.amazonaws.com"},
		{"aws", "aws"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := canonicalName(tc.in)
			if err == nil {
				err = validateName(got)
			}
			if err != nil || got != tc.want {
				t.Fatalf("= %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	t.Run("a canonical name is not copied", func(t *testing.T) {
		if n := testing.AllocsPerRun(10, func() { canonicalName("sts.amazonaws.com") }); n != 0 {
			t.Fatalf("%v allocations", n)
		}
	})
}

func TestMatchConstraint(t *testing.T) {
	for _, tc := range []struct {
		name, constraint string
		want             bool
	}{
		{"amazonaws.com", "amazonaws.com", true},
		{"s3.amazonaws.com", "amazonaws.com", true},
		{"a.b.amazonaws.com", "amazonaws.com", true},
		{"s3.amazonaws.com", "AmazonAWS.com", true},
		{"evilamazonaws.com", "amazonaws.com", false},
		{"amazonaws.com.cn", "amazonaws.com", false},
		{"amazonaws.com", ".amazonaws.com", false},
		{"s3.amazonaws.com", ".amazonaws.com", true},
		{"anything.example", "", true},
	} {
		t.Run(tc.name+" in "+tc.constraint, func(t *testing.T) {
			if got := matchConstraint(tc.name, tc.constraint); got != tc.want {
				t.Fatalf("= %v, want %v", got, tc.want)
			}
		})
	}
}

// Server names come from any client that connects; whatever validation
// accepts must be something crypto/x509 will sign and match, and nothing
// that could smuggle another name or an address into a certificate.
func FuzzValidateName(f *testing.F) {
	for _, seed := range []string{
		"s3.amazonaws.com", "S3.AMAZONAWS.COM.", "", ".", "..", "1.2.3.4", "::1", "[::1]",
		"*.amazonaws.com", "a*b.amazonaws.com", "\u212Ams.amazonaws.com", "bücher.aws",
		"a..b", "-a.aws", "a-.aws", "a_b.aws", "10.1", "0x7f.0.0.1", "s3.amazonaws.com\x00x",
		strings.Repeat("a.", 130) + "aws",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		name, err := canonicalName(in)
		if err == nil {
			err = validateName(name)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidName) {
				t.Fatalf("%q: error %v does not wrap ErrInvalidName", in, err)
			}
			return
		}
		if name != strings.ToLower(name) || len(name) == 0 || len(name) > maxNameLen {
			t.Fatalf("%q accepted as %q", in, name)
		}
		if strings.ContainsAny(name, "*:[] \x00") || strings.HasSuffix(name, ".") {
			t.Fatalf("%q accepted as %q", in, name)
		}
		if _, err := netip.ParseAddr(name); err == nil {
			t.Fatalf("IP %q accepted", name)
		}
		if again, err := canonicalName(name); err != nil || again != name {
			t.Fatalf("canonicalName not idempotent on %q: %q, %v", name, again, err)
		}
	})
}

func TestPermits(t *testing.T) {
	a, err := Init(Options{Dir: filepath.Join(t.TempDir(), "ca")})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{
		"amazonaws.com": true, "S3.AmazonAWS.com": true, "api.aws": true, "aws": true,
		"example.com": false, "evilamazonaws.com": false,
	} {
		if got := a.Permits(name) == nil; got != want {
			t.Errorf("Permits(%q) = %v, want %v", name, got, want)
		}
	}
}
