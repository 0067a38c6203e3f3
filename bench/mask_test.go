package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/gatehouse/gatehouse/policy"
	"github.com/gatehouse/gatehouse/policy/mask"
)

// TestTextGenSize: the object is exactly the size asked for, and ends a
// line, whatever the size.
func TestTextGenSize(t *testing.T) {
	for _, n := range []int64{1, 2, lastLine - 1, lastLine, lastLine + 1, 1<<20 + 7} {
		b, err := io.ReadAll(newTextGen(maskSeed, n))
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(b)) != n || b[len(b)-1] != '\n' {
			t.Errorf("size %d: got %d bytes ending %q", n, len(b), b[len(b)-1:])
		}
		f := factsOf(maskSeed, n)
		if h := sha256.Sum256(b); hex.EncodeToString(h[:]) != f.rawSHA || int64(bytes.Count(b, []byte("\n"))) != f.lines {
			t.Errorf("size %d: facts do not describe what Read yields", n)
		}
	}
}

// TestTextGenIsWhatTheProfileMakes: the masked text the generator expects
// is what the bench profile's stream masker makes of the object (each
// planted value found, nothing else), and the built-in profile changes
// nothing. Without this, the bench would report its own mistakes as
// Gatehouse's.
func TestTextGenIsWhatTheProfileMakes(t *testing.T) {
	const size = 32 << 20 // ~300 000 lines: a 1-in-50 000 slip in the filler shows
	set, err := mask.Parse("bench", []byte("masks:\n"+maskProfileYAML), mask.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, ok := set.Profile(maskProfile)
	if !ok {
		t.Fatalf("no profile %s", maskProfile)
	}
	f := factsOf(maskSeed, size)
	for _, tt := range []struct {
		name    string
		profile *mask.Profile
		want    string
		masked  int64
	}{
		{maskProfile, p, f.maskedSHA, f.plantedTotal},
		{"built-in", mask.Default(), f.rawSHA, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tt.profile.For("s3:GetObject").Stream(newTextGen(maskSeed, size), mask.StreamOptions{})
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			if _, err := io.Copy(h, s); err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(h.Sum(nil)); got != tt.want {
				c, _ := checkMasked(mustStream(t, tt.profile), maskSeed, size)
				t.Fatalf("masked text differs from the generator's: %d lines differ, leaked %v, first %q", c.differ, c.leaked, c.firstDiffs)
			}
			if got := int64(s.Report().Total()); got != tt.masked {
				t.Errorf("masked %d values (%v), want %d", got, s.Report(), tt.masked)
			}
		})
	}
	for k, n := range f.planted {
		if n == 0 {
			t.Errorf("nothing planted of kind %s", plantNames[k])
		}
	}
}

func mustStream(t *testing.T, p *mask.Profile) io.Reader {
	s, err := p.For("s3:GetObject").Stream(newTextGen(maskSeed, 32<<20), mask.StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCheckMaskedFindsLeaks: the line-by-line comparison counts a value
// left unmasked.
func TestCheckMaskedFindsLeaks(t *testing.T) {
	const size = 1 << 20
	var body bytes.Buffer
	g := newTextGen(maskSeed, size)
	leaked := 0
	for g.next() {
		if g.kind == plantSSN && leaked == 0 {
			body.Write(g.raw)
			leaked++
			continue
		}
		body.Write(g.masked)
	}
	c, err := checkMasked(&body, maskSeed, size)
	if err != nil {
		t.Fatal(err)
	}
	if c.differ != 1 || c.leaked[plantSSN] != 1 || c.missing != 0 || c.extra != 0 {
		t.Fatalf("got %+v", c)
	}
}

// TestBenchPolicyLoads: the lab policy with the bench rule and profile
// loads, and the rule decides an agent's GetObject of the pii key with
// the profile, the built-in key with the built-in one.
func TestBenchPolicyLoads(t *testing.T) {
	orig, err := os.ReadFile("../deploy/lab/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, file string }{
		{"lab policy", string(orig)},
		{"without a masks section", "version: 1\ndefault: deny\nrules:\n  - id: agents-use-s3\n    effect: allow\n    identities: {groups: [agents]}\n    actions: [\"s3:*\"]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, err := benchPolicy([]byte(tt.file))
			if err != nil {
				t.Fatal(err)
			}
			f := filepath.Join(t.TempDir(), "policy.yaml")
			os.WriteFile(f, b, 0o644)
			p, err := policy.LoadWith(f, policy.Options{Mask: mask.Options{HashKey: bytes.Repeat([]byte{1}, 32)}})
			if err != nil {
				t.Fatalf("%v\n%s", err, b)
			}
			for key, want := range map[string]string{maskKeyPII: maskProfile, maskKeyBuiltin: ""} {
				d := p.Decide(&policy.Call{
					Identity: policy.Identity{Subject: "agent", Source: "oidc", Groups: []string{"agents"}},
					Service:  "s3", Operation: "GetObject", Action: "s3:GetObject",
					Resources: []string{"arn:aws:s3:::" + maskBucket + "/" + key},
				})
				if d.Effect != policy.Allow || d.MaskProfile != want {
					t.Errorf("%s: %s by %s, profile %q; want allow with %q", key, d.Effect, d.Rule, d.MaskProfile, want)
				}
			}
		})
	}
}

// BenchmarkTextGen: the generator must outrun the transfers it feeds.
func BenchmarkTextGen(b *testing.B) {
	const size = 64 << 20
	b.SetBytes(size)
	for b.Loop() {
		io.Copy(io.Discard, newTextGen(maskSeed, size))
	}
}
