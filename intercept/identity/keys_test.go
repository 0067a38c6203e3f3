package identity

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"
)

var staticKeyIDPattern = regexp.MustCompile(`^GHK[A-Z2-7]{17}$`)

func newTestKeyStore(t *testing.T) (*KeyStore, *KeyRing, string) {
	t.Helper()
	dir := t.TempDir()
	ring, err := LoadOrCreateKeyRing(dir)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := OpenKeyStore(dir, ring)
	if err != nil {
		t.Fatal(err)
	}
	return ks, ring, dir
}

func TestKeyStoreLifecycle(t *testing.T) {
	ks, _, _ := newTestKeyStore(t)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	if keys, err := ks.List(); err != nil || len(keys) != 0 {
		t.Fatalf("List of a new store = %v, %v", keys, err)
	}
	ci, secret, err := ks.Create("ci-runner", []string{"ci", "deployers"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if !staticKeyIDPattern.MatchString(ci.AccessKeyID) || !secretPattern.MatchString(secret) {
		t.Errorf("access key id %q, secret of %d characters: not AWS-shaped", ci.AccessKeyID, len(secret))
	}
	batch, batchSecret, err := ks.Create("batch", nil, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}

	id, got, err := ks.Lookup(ci.AccessKeyID)
	if err != nil {
		t.Fatal(err)
	}
	if got != secret || id.Source != SourceKey || id.Subject != "ci-runner" || !slices.Equal(id.Groups, []string{"ci", "deployers"}) || !id.Expiry.IsZero() {
		t.Errorf("Lookup = %+v (secret matches: %v)", *id, got == secret)
	}
	if id.String() != "key:ci-runner" {
		t.Errorf("String = %q", id.String())
	}

	keys, err := ks.List()
	if err != nil || len(keys) != 2 || keys[0].AccessKeyID != ci.AccessKeyID || keys[1].AccessKeyID != batch.AccessKeyID {
		t.Fatalf("List = %+v, %v; want ci-runner then batch", keys, err)
	}

	revokedAt := t0.Add(time.Hour)
	if err := ks.Revoke(ci.AccessKeyID, revokedAt); err != nil {
		t.Fatal(err)
	}
	if err := ks.Revoke(ci.AccessKeyID, revokedAt.Add(time.Hour)); err != nil {
		t.Errorf("revoking twice: %v", err)
	}
	if _, _, err := ks.Lookup(ci.AccessKeyID); !errors.Is(err, ErrInvalidClientTokenID) {
		t.Errorf("Lookup of a revoked key: %v, want ErrInvalidClientTokenID", err)
	}
	if _, s, err := ks.Lookup(batch.AccessKeyID); err != nil || s != batchSecret {
		t.Errorf("the other key after a revoke: %v", err)
	}
	keys, _ = ks.List()
	if keys[0].Revoked == nil || !keys[0].Revoked.Equal(revokedAt) || keys[1].Revoked != nil {
		t.Errorf("List after revoke = %+v; want the first revoked at %v (the second revoke changes nothing)", keys, revokedAt)
	}

	if err := ks.Revoke("GHKAAAAAAAAAAAAAAAAA", t0); !errors.Is(err, ErrKeyNotFound) {
		t.Errorf("Revoke of an unknown key: %v, want ErrKeyNotFound", err)
	}
	for _, akid := range []string{"GHKAAAAAAAAAAAAAAAAA", "", "AKIAIOSFODNN7EXAMPLE"} {
		if _, _, err := ks.Lookup(akid); !errors.Is(err, ErrInvalidClientTokenID) {
			t.Errorf("Lookup(%q): %v, want ErrInvalidClientTokenID", akid, err)
		}
	}
}

func TestKeyStoreRefusesBadNames(t *testing.T) {
	ks, _, _ := newTestKeyStore(t)
	for _, tt := range []struct {
		identity string
		groups   []string
	}{
		{"", nil},
		{"has space", nil},
		{"slash/name", nil},
		{string(make([]byte, 65)), nil},
		{"ok", []string{""}},
		{"ok", []string{"with space"}},
		{"ok", []string{"new\nline"}},
	} {
		if _, _, err := ks.Create(tt.identity, tt.groups, time.Now()); err == nil {
			t.Errorf("Create(%q, %q) accepted", tt.identity, tt.groups)
		}
	}
}

// keys.json is 0600 and holds no secret in clear: not the secret, not its
// bytes, not its hex.
func TestKeyStoreFileHoldsNoSecret(t *testing.T) {
	ks, _, dir := newTestKeyStore(t)
	var secrets []string
	for i := range 5 {
		_, s, err := ks.Create(fmt.Sprintf("agent-%d", i), nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, s)
	}
	path := filepath.Join(dir, KeysFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s mode %v, want 0600", KeysFile, fi.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	for _, s := range secrets {
		raw, _ := base64.StdEncoding.DecodeString(s)
		if bytes.Contains(data, []byte(s)) || bytes.Contains(data, raw) || bytes.Contains(data, []byte(fmt.Sprintf("%x", raw))) {
			t.Fatalf("keys.json contains a secret in clear:\n%s", data)
		}
	}
	// Others' permissions on the file are refused, not ignored.
	os.Chmod(path, 0o640)
	if _, err := OpenKeyStore(dir, ks.ring); err == nil {
		t.Error("a group-readable keys.json was accepted")
	}
}

// A second KeyStore on the same directory, as a running gateway is to
// `gatehouse keys create|revoke`, sees every change at its next lookup.
func TestKeyStoreChangesVisibleToAnotherStore(t *testing.T) {
	cli, ring, dir := newTestKeyStore(t)
	gw, err := OpenKeyStore(dir, ring)
	if err != nil {
		t.Fatal(err)
	}
	k, secret, err := cli.Create("late-agent", nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, s, err := gw.Lookup(k.AccessKeyID); err != nil || s != secret {
		t.Fatalf("gateway after create: %v", err)
	}
	if err := cli.Revoke(k.AccessKeyID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := gw.Lookup(k.AccessKeyID); !errors.Is(err, ErrInvalidClientTokenID) {
		t.Fatalf("gateway after revoke: %v, want ErrInvalidClientTokenID", err)
	}
	// The CLI, with a ring of its own loaded from the same file, and a
	// rotation in between: the gateway's ring picks up the new key.
	cliRing, _ := LoadOrCreateKeyRing(dir)
	cli2, _ := OpenKeyStore(dir, cliRing)
	if err := cliRing.Rotate(); err != nil {
		t.Fatal(err)
	}
	k2, secret2, err := cli2.Create("after-rotation", nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, s, err := gw.Lookup(k2.AccessKeyID); err != nil || s != secret2 {
		t.Fatalf("gateway after a rotation by another process: %v", err)
	}
}

// Writes after a rotation re-seal every stored secret under the new key;
// secrets sealed under a key the ring lost stop looking up.
func TestKeyStoreRotation(t *testing.T) {
	ks, ring, dir := newTestKeyStore(t)
	old, oldSecret, _ := ks.Create("old", nil, time.Now())
	if err := ring.Rotate(); err != nil {
		t.Fatal(err)
	}
	if _, s, err := ks.Lookup(old.AccessKeyID); err != nil || s != oldSecret {
		t.Fatalf("after rotation, before a write: %v", err)
	}
	if _, _, err := ks.Create("new", nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	var f keysFile
	data, _ := os.ReadFile(filepath.Join(dir, KeysFile))
	json.Unmarshal(data, &f)
	for _, k := range f.Keys {
		raw, _ := base64.StdEncoding.DecodeString(k.Secret)
		if got := keyIDString(binary.BigEndian.Uint32(raw)); got != ring.CurrentID() {
			t.Errorf("%s sealed under %s, want the current key %s", k.Identity, got, ring.CurrentID())
		}
	}
	if _, s, err := ks.Lookup(old.AccessKeyID); err != nil || s != oldSecret {
		t.Fatalf("after re-sealing: %v", err)
	}

	other, _ := LoadOrCreateKeyRing(t.TempDir())
	lost, _ := OpenKeyStore(dir, other)
	if _, _, err := lost.Lookup(old.AccessKeyID); !errors.Is(err, ErrInvalidClientTokenID) {
		t.Errorf("a ring without the key: %v, want ErrInvalidClientTokenID", err)
	}
}

// Two stores creating at once (two `keys create` runs) lose nothing: writes
// are serialised by the lock file and each re-reads before writing.
func TestKeyStoreConcurrentCreates(t *testing.T) {
	a, ring, dir := newTestKeyStore(t)
	b, _ := OpenKeyStore(dir, ring)
	var wg sync.WaitGroup
	ids := make(chan string, 20)
	for i := range 20 {
		ks := a
		if i%2 == 1 {
			ks = b
		}
		wg.Go(func() {
			k, _, err := ks.Create(fmt.Sprintf("agent-%d", i), nil, time.Now())
			if err != nil {
				t.Error(err)
				return
			}
			ids <- k.AccessKeyID
		})
	}
	wg.Wait()
	close(ids)
	keys, err := a.List()
	if err != nil || len(keys) != 20 {
		t.Fatalf("List = %d keys, %v; want 20", len(keys), err)
	}
	for id := range ids {
		if _, _, err := b.Lookup(id); err != nil {
			t.Errorf("Lookup(%s): %v", id, err)
		}
	}
}

// Lookup runs on every request signed with a static key: a stat of
// keys.json and of the ring, and one AES-GCM open.
func BenchmarkKeyStoreLookup(b *testing.B) {
	dir := b.TempDir()
	ring, _ := LoadOrCreateKeyRing(dir)
	ks, _ := OpenKeyStore(dir, ring)
	k, _, err := ks.Create("bench", nil, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ks.Lookup(k.AccessKeyID); err != nil {
			b.Fatal(err)
		}
	}
}
