package identity

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	sessionKeyIDPattern = regexp.MustCompile(`^GHS[A-Z2-7]{17}$`)
	secretPattern       = regexp.MustCompile(`^[A-Za-z0-9+/]{40}$`)
)

func newTestSessions(t testing.TB) (*Sessions, *KeyRing, string) {
	t.Helper()
	dir := t.TempDir()
	ring, err := LoadOrCreateKeyRing(dir)
	if err != nil {
		t.Fatal(err)
	}
	return NewSessions(ring), ring, dir
}

var testIdentity = Identity{
	Source:      SourceOIDC,
	Issuer:      "https://oidc.example",
	Subject:     "system:serviceaccount:agents:builder",
	Groups:      []string{"agents", "builders"},
	Role:        "arn:aws:iam::123456789012:role/agent-role",
	SessionName: "build-42",
}

func TestSessionRoundTrip(t *testing.T) {
	s, _, _ := newTestSessions(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 500, time.UTC)
	tests := []struct {
		name       string
		tokenExp   time.Time
		lifetime   time.Duration
		wantExpiry time.Time
	}{
		{"lifetime shorter than the token", now.Add(6 * time.Hour), time.Hour, now.Add(time.Hour).Truncate(time.Second)},
		{"token shorter than the lifetime", now.Add(10 * time.Minute), time.Hour, now.Add(10 * time.Minute).Truncate(time.Second)},
		{"identity without expiry", time.Time{}, 2 * time.Hour, now.Add(2 * time.Hour).Truncate(time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := testIdentity
			in.Expiry = tt.tokenExp
			c, err := s.Issue(in, tt.lifetime, now)
			if err != nil {
				t.Fatal(err)
			}
			if !sessionKeyIDPattern.MatchString(c.AccessKeyID) || !secretPattern.MatchString(c.SecretAccessKey) {
				t.Errorf("access key id %q, secret of %d characters: not AWS-shaped", c.AccessKeyID, len(c.SecretAccessKey))
			}
			if !c.Expiration.Equal(tt.wantExpiry) {
				t.Errorf("expiration %v, want %v", c.Expiration, tt.wantExpiry)
			}
			id, secret, err := s.Open(c.AccessKeyID, c.SessionToken, now.Add(time.Minute))
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if secret != c.SecretAccessKey {
				t.Error("Open derived another secret")
			}
			want := in
			want.Expiry = tt.wantExpiry
			if id.Source != want.Source || id.Issuer != want.Issuer || id.Subject != want.Subject ||
				!slices.Equal(id.Groups, want.Groups) || id.Role != want.Role || id.SessionName != want.SessionName || !id.Expiry.Equal(want.Expiry) {
				t.Errorf("Open = %+v, want %+v", *id, want)
			}
		})
	}
}

func TestSessionIssueRefuses(t *testing.T) {
	s, _, _ := newTestSessions(t)
	now := time.Now()
	expired := testIdentity
	expired.Expiry = now.Add(-time.Second)
	if _, err := s.Issue(expired, time.Hour, now); !errors.Is(err, ErrExpiredToken) {
		t.Errorf("expired identity: %v", err)
	}
	if _, err := s.Issue(testIdentity, 0, now); err == nil {
		t.Error("zero lifetime accepted")
	}
	huge := testIdentity
	for i := range 250 {
		huge.Groups = append(huge.Groups, fmt.Sprintf("group-%03d-%s", i, strings.Repeat("x", 100)))
	}
	if _, err := s.Issue(huge, time.Hour, now); !errors.Is(err, ErrIdentityTooLarge) {
		t.Errorf("identity too large for a session token: %v", err)
	}
	// An enterprise-sized identity fits: 150 groups of 40 characters.
	big := testIdentity
	for i := range 150 {
		big.Groups = append(big.Groups, fmt.Sprintf("CN=group-%03d,OU=Groups,DC=corp,DC=x", i))
	}
	c, err := s.Issue(big, time.Hour, now)
	if err != nil {
		t.Fatalf("150 groups: %v", err)
	}
	if id, _, err := s.Open(c.AccessKeyID, c.SessionToken, now); err != nil || len(id.Groups) != 152 {
		t.Errorf("150 groups round trip: %v", err)
	}
}

// Every single-character change of the token fails to open, whatever
// position (header, key id, nonce, ciphertext, tag, the last character's
// spare bits).
func TestSessionTamperedTokenIsInvalid(t *testing.T) {
	s, _, _ := newTestSessions(t)
	now := time.Now()
	c, err := s.Issue(testIdentity, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	tok := []byte(c.SessionToken)
	for i := range tok {
		for _, sub := range []byte{alphabet[(strings.IndexByte(alphabet, tok[i])+1)%64], alphabet[(strings.IndexByte(alphabet, tok[i])+33)%64]} {
			bad := slices.Clone(tok)
			bad[i] = sub
			if _, _, err := s.Open(c.AccessKeyID, string(bad), now); !errors.Is(err, ErrInvalidClientTokenID) {
				t.Fatalf("token changed at %d opened or failed otherwise: %v", i, err)
			}
		}
	}
	for name, bad := range map[string]string{
		"truncated":        c.SessionToken[:len(c.SessionToken)-1],
		"extended":         c.SessionToken + "A",
		"newline inserted": c.SessionToken[:10] + "\n" + c.SessionToken[10:],
		"padded":           c.SessionToken + "==",
		"standard base64":  strings.NewReplacer("-", "+", "_", "/").Replace(c.SessionToken) + "+",
		"empty":            "",
		"header only":      c.SessionToken[:7],
	} {
		if _, _, err := s.Open(c.AccessKeyID, bad, now); !errors.Is(err, ErrInvalidClientTokenID) {
			t.Errorf("%s token: %v, want ErrInvalidClientTokenID", name, err)
		}
	}
}

func TestSessionWrongAccessKeyIDIsInvalid(t *testing.T) {
	s, _, _ := newTestSessions(t)
	now := time.Now()
	c1, _ := s.Issue(testIdentity, time.Hour, now)
	c2, _ := s.Issue(testIdentity, time.Hour, now)
	flipped := []byte(c1.AccessKeyID)
	flipped[10] ^= 'A' ^ 'B'
	for name, akid := range map[string]string{
		"another session's":    c2.AccessKeyID,
		"one character off":    string(flipped),
		"lower case":           strings.ToLower(c1.AccessKeyID),
		"static key prefix":    "GHK" + c1.AccessKeyID[3:],
		"AWS access key id":    "ASIAIOSFODNN7EXAMPLE",
		"empty":                "",
		"longer":               c1.AccessKeyID + "A",
		"prefix of the real":   c1.AccessKeyID[:19],
		"same id, other token": c1.AccessKeyID,
	} {
		tok := c1.SessionToken
		if name == "same id, other token" {
			tok = c2.SessionToken
		}
		if _, _, err := s.Open(akid, tok, now); !errors.Is(err, ErrInvalidClientTokenID) {
			t.Errorf("%s access key id: %v, want ErrInvalidClientTokenID", name, err)
		}
	}
}

func TestSessionExpiry(t *testing.T) {
	s, _, _ := newTestSessions(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c, err := s.Issue(testIdentity, 15*time.Minute, now)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		at   time.Time
		want error
	}{
		{"a second before expiry", c.Expiration.Add(-time.Second), nil},
		{"at expiry", c.Expiration, ErrExpiredToken},
		{"a day later", c.Expiration.Add(24 * time.Hour), ErrExpiredToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, secret, err := s.Open(c.AccessKeyID, c.SessionToken, tt.at)
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("Open = %v, want %v", err, tt.want)
			}
			if err != nil && secret != "" {
				t.Error("an expired session returned its secret")
			}
		})
	}
}

// Rotate: the new key seals, the old still opens, and so does a second
// gateway that loads the same ring.
func TestSessionKeyRotation(t *testing.T) {
	s, ring, dir := newTestSessions(t)
	now := time.Now()
	oldKey := ring.CurrentID()
	before, _ := s.Issue(testIdentity, time.Hour, now)
	if err := ring.Rotate(); err != nil {
		t.Fatal(err)
	}
	if ring.CurrentID() == oldKey {
		t.Fatal("Rotate kept the sealing key")
	}
	after, _ := s.Issue(testIdentity, time.Hour, now)
	if got := tokenKeyID(t, after.SessionToken); got != ring.CurrentID() {
		t.Errorf("new token sealed under %s, want the new key %s", got, ring.CurrentID())
	}
	if got := tokenKeyID(t, before.SessionToken); got != oldKey {
		t.Errorf("old token names key %s, want %s", got, oldKey)
	}
	other, err := LoadOrCreateKeyRing(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, ss := range []*Sessions{s, NewSessions(other)} {
		for _, c := range []Credentials{before, after} {
			if _, _, err := ss.Open(c.AccessKeyID, c.SessionToken, now); err != nil {
				t.Errorf("Open after rotation: %v", err)
			}
		}
	}
}

// A ring that lost a key (removed from the file, or another gateway's ring
// altogether) opens nothing sealed under it; a running gateway notices the
// file changed.
func TestSessionUnknownKeyIsInvalid(t *testing.T) {
	s, ring, dir := newTestSessions(t)
	now := time.Now()
	lost, _ := s.Issue(testIdentity, time.Hour, now)
	lostKey := ring.CurrentID()
	if err := ring.Rotate(); err != nil {
		t.Fatal(err)
	}
	kept, _ := s.Issue(testIdentity, time.Hour, now)

	// Remove the old key from the file, as an operator revoking every
	// session sealed under it would.
	path := filepath.Join(dir, KeyRingFile)
	var rf ringFile
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &rf); err != nil {
		t.Fatal(err)
	}
	rf.Keys = slices.DeleteFunc(rf.Keys, func(k ringFileKey) bool { return k.ID == lostKey })
	b, _ = json.Marshal(rf)
	if err := writePrivate(path, b); err != nil {
		t.Fatal(err)
	}
	reloaded, err := LoadOrCreateKeyRing(dir)
	if err != nil {
		t.Fatal(err)
	}
	foreign, _, _ := newTestSessions(t)
	for name, ss := range map[string]*Sessions{"running": s, "reloaded": NewSessions(reloaded)} {
		if _, _, err := ss.Open(lost.AccessKeyID, lost.SessionToken, now); !errors.Is(err, ErrInvalidClientTokenID) {
			t.Errorf("%s ring, token under the removed key: %v, want ErrInvalidClientTokenID", name, err)
		}
		if _, _, err := ss.Open(kept.AccessKeyID, kept.SessionToken, now); err != nil {
			t.Errorf("%s ring, token under the kept key: %v", name, err)
		}
	}
	if _, _, err := foreign.Open(kept.AccessKeyID, kept.SessionToken, now); !errors.Is(err, ErrInvalidClientTokenID) {
		t.Errorf("another ring opened the token: %v", err)
	}
}

func TestKeyRingFile(t *testing.T) {
	dir := t.TempDir()
	ring, err := LoadOrCreateKeyRing(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, KeyRingFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s mode %v, want 0600", KeyRingFile, fi.Mode().Perm())
	}
	// The ring never prints its keys, whatever the verb.
	var rf ringFile
	b, _ := os.ReadFile(path)
	json.Unmarshal(b, &rf)
	key := base64.StdEncoding.EncodeToString(rf.Keys[0].Key)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		if out := fmt.Sprintf(verb, ring); strings.Contains(out, key) || strings.Contains(out, fmt.Sprintf("%x", rf.Keys[0].Key)) {
			t.Errorf("Sprintf(%q, ring) shows the key: %s", verb, out)
		}
	}
	// Loading twice reads the same ring; a ring others can read is refused.
	again, err := LoadOrCreateKeyRing(dir)
	if err != nil || again.CurrentID() != ring.CurrentID() {
		t.Fatalf("reload: %v, current %s want %s", err, again.CurrentID(), ring.CurrentID())
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKeyRing(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable ring: %v, want refused", err)
	}
}

func TestCredentialsFormatHidesSecrets(t *testing.T) {
	s, _, _ := newTestSessions(t)
	c, _ := s.Issue(testIdentity, time.Hour, time.Now())
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(verb, c)
		if strings.Contains(out, c.SecretAccessKey) || strings.Contains(out, c.SessionToken) {
			t.Errorf("Sprintf(%q, creds) shows a secret: %s", verb, out)
		}
	}
}

func tokenKeyID(t *testing.T, tok string) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) < 5 {
		t.Fatalf("token: %v", err)
	}
	return keyIDString(binary.BigEndian.Uint32(raw[1:5]))
}

// Open runs on every signed request: AES-GCM, two HMACs, a JSON decode and
// a stat of the ring file (so a key removed from it stops opening).
func BenchmarkSessionOpen(b *testing.B) {
	s, _, _ := newTestSessions(b)
	now := time.Now()
	c, err := s.Issue(testIdentity, time.Hour, now)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.Open(c.AccessKeyID, c.SessionToken, now); err != nil {
			b.Fatal(err)
		}
	}
}
