package identity

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// KeysFile is the static keys' file name in its directory.
const KeysFile = "keys.json"

// KeyStore holds static access keys for agents without OIDC. Secrets are
// stored sealed under the key ring (AES-256-GCM, bound to their access key
// id), never in clear; the file is 0600 and replaced whole on every write.
// Lookup re-reads the file when it changed, so `gatehouse keys revoke` in
// another process takes effect in a running gateway at the next request.
type KeyStore struct {
	path  string
	ring  *KeyRing
	mu    sync.Mutex // serialises reloads and writes in this process
	state atomic.Pointer[keysState]
}

type keysState struct {
	keys map[string]*storedKey
	file os.FileInfo // nil if the file does not exist
}

// KeyInfo describes a static key; it never holds the secret.
type KeyInfo struct {
	AccessKeyID string     `json:"access_key_id"`
	Identity    string     `json:"identity"`
	Groups      []string   `json:"groups,omitempty"`
	Created     time.Time  `json:"created"`
	Revoked     *time.Time `json:"revoked,omitempty"`
}

type storedKey struct {
	KeyInfo
	Secret string `json:"sealed_secret,omitempty"` // base64(ring key id | nonce | AES-GCM(secret))
}

type keysFile struct {
	Version int          `json:"version"`
	Keys    []*storedKey `json:"keys"`
}

// OpenKeyStore opens dir/keys.json (created on the first Create). It
// refuses a file others can read.
func OpenKeyStore(dir string, ring *KeyRing) (*KeyStore, error) {
	if ring == nil {
		return nil, errors.New("open key store: no key ring")
	}
	if err := ensureDir(dir); err != nil {
		return nil, fmt.Errorf("open key store: %w", err)
	}
	s := &KeyStore{path: filepath.Join(dir, KeysFile), ring: ring}
	st, err := s.read()
	if err != nil {
		return nil, fmt.Errorf("open key store: %w", err)
	}
	s.state.Store(st)
	return s, nil
}

// Create makes a key for identity (an IAM-style name: letters, digits and
// _+=,.@-, up to 64) with groups. It returns the secret, which is shown
// once and cannot be read back.
func (s *KeyStore) Create(identity string, groups []string, now time.Time) (KeyInfo, string, error) {
	if !iamName(identity, 1, 64) {
		return KeyInfo{}, "", fmt.Errorf("create key: identity %q: want 1-64 letters, digits or _+=,.@-", identity)
	}
	for _, g := range groups {
		if !printable(g, 256) || strings.ContainsAny(g, " \t") {
			return KeyInfo{}, "", fmt.Errorf("create key: group %q: want 1-256 printable characters without spaces", g)
		}
	}
	var idBytes [11]byte
	secret := make([]byte, 30)
	if _, err := rand.Read(idBytes[:]); err != nil {
		return KeyInfo{}, "", fmt.Errorf("create key: %w", err)
	}
	if _, err := rand.Read(secret); err != nil {
		return KeyInfo{}, "", fmt.Errorf("create key: %w", err)
	}
	info := KeyInfo{
		AccessKeyID: StaticKeyPrefix + b32.EncodeToString(idBytes[:])[:17],
		Identity:    identity,
		Groups:      slices.Clone(groups),
		Created:     now.UTC(),
	}
	secretStr := base64.StdEncoding.EncodeToString(secret) // 40 characters, like AWS's
	err := s.update(func(keys map[string]*workingKey) error {
		if _, dup := keys[info.AccessKeyID]; dup {
			return errors.New("access key id collision; try again")
		}
		keys[info.AccessKeyID] = &workingKey{info: info, secret: secretStr}
		return nil
	})
	if err != nil {
		return KeyInfo{}, "", fmt.Errorf("create key: %w", err)
	}
	return info, secretStr, nil
}

// List returns every key, revoked ones included, oldest first.
func (s *KeyStore) List() ([]KeyInfo, error) {
	st, err := s.fresh()
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	out := make([]KeyInfo, 0, len(st.keys))
	for _, k := range st.keys {
		info := k.KeyInfo
		info.Groups = slices.Clone(info.Groups)
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].AccessKeyID < out[j].AccessKeyID
	})
	return out, nil
}

// Revoke marks a key revoked at now. Revoking a revoked key changes
// nothing; an unknown id is ErrKeyNotFound.
func (s *KeyStore) Revoke(accessKeyID string, now time.Time) error {
	err := s.update(func(keys map[string]*workingKey) error {
		k, ok := keys[accessKeyID]
		if !ok {
			return ErrKeyNotFound
		}
		if k.info.Revoked == nil {
			t := now.UTC()
			k.info.Revoked = &t
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("revoke key %s: %w", accessKeyID, err)
	}
	return nil
}

// Lookup returns the identity and secret of an active key. Unknown and
// revoked keys, and keys whose secret the ring cannot open, are
// ErrInvalidClientTokenID; a key file that cannot be read is another
// error, and the caller refuses the request either way.
func (s *KeyStore) Lookup(accessKeyID string) (*Identity, string, error) {
	st, err := s.fresh()
	if err != nil {
		return nil, "", fmt.Errorf("look up key: %w", err)
	}
	k, ok := st.keys[accessKeyID]
	if !ok {
		return nil, "", fmt.Errorf("look up key: unknown access key id: %w", ErrInvalidClientTokenID)
	}
	if k.Revoked != nil {
		return nil, "", fmt.Errorf("look up key: revoked at %s: %w", k.Revoked.Format(time.RFC3339), ErrInvalidClientTokenID)
	}
	secret, err := s.openSecret(k)
	if err != nil {
		return nil, "", fmt.Errorf("look up key: %v: %w", err, ErrInvalidClientTokenID)
	}
	return &Identity{Source: SourceKey, Subject: k.Identity, Groups: slices.Clone(k.Groups)}, secret, nil
}

// fresh returns the keys as the file holds them now.
func (s *KeyStore) fresh() (*keysState, error) {
	st := s.state.Load()
	fi, err := os.Stat(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fi = nil
	case err != nil:
		return nil, err
	}
	if sameFile(fi, st.file) {
		return st, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err = s.read()
	if err != nil {
		return nil, err
	}
	s.state.Store(st)
	return st, nil
}

// workingKey is a key while update changes the file: its secret in clear
// if the ring opens it, its stored form otherwise.
type workingKey struct {
	info   KeyInfo
	secret string // "" if the ring cannot open it
	sealed string // kept as is when secret is ""
}

// update applies change to the file's current contents under the file
// lock and writes the result, sealing every secret it can open under the
// ring's current key (so a rotation reaches stored secrets at the next
// write). Secrets are in clear only inside update; in memory the store
// keeps the sealed form.
func (s *KeyStore) update(change func(map[string]*workingKey) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return withLock(s.path, func() error {
		st, err := s.read()
		if err != nil {
			return err
		}
		work := make(map[string]*workingKey, len(st.keys)+1)
		for id, k := range st.keys {
			w := &workingKey{info: k.KeyInfo, sealed: k.Secret}
			// A secret sealed by a key no longer in the ring stays as it
			// is: dead, but List still shows the key.
			w.secret, _ = s.openSecret(k)
			work[id] = w
		}
		if err := change(work); err != nil {
			return err
		}
		rk, err := s.ring.current()
		if err != nil {
			return err
		}
		f := keysFile{Version: 1, Keys: make([]*storedKey, 0, len(work))}
		for _, w := range work {
			sealed := w.sealed
			switch {
			case w.info.Revoked != nil:
				sealed = "" // never needed again
			case w.secret != "":
				sealed = sealSecret(rk, w.info.AccessKeyID, w.secret)
			}
			f.Keys = append(f.Keys, &storedKey{KeyInfo: w.info, Secret: sealed})
		}
		sort.Slice(f.Keys, func(i, j int) bool { return f.Keys[i].AccessKeyID < f.Keys[j].AccessKeyID })
		data, err := json.MarshalIndent(f, "", "  ")
		if err != nil {
			return err
		}
		if err := writePrivate(s.path, data); err != nil {
			return err
		}
		if st, err = s.read(); err != nil {
			return err
		}
		s.state.Store(st)
		return nil
	})
}

func (s *KeyStore) read() (*keysState, error) {
	data, fi, err := readPrivate(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return &keysState{keys: map[string]*storedKey{}}, nil
	}
	if err != nil {
		return nil, err
	}
	var f keysFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("parse %s: %w", s.path, err)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("parse %s: unknown version %d", s.path, f.Version)
	}
	st := &keysState{keys: make(map[string]*storedKey, len(f.Keys)), file: fi}
	for _, k := range f.Keys {
		if k == nil || !strings.HasPrefix(k.AccessKeyID, StaticKeyPrefix) {
			return nil, fmt.Errorf("parse %s: an entry without a %s access key id", s.path, StaticKeyPrefix)
		}
		if _, dup := st.keys[k.AccessKeyID]; dup {
			return nil, fmt.Errorf("parse %s: key %s appears twice", s.path, k.AccessKeyID)
		}
		st.keys[k.AccessKeyID] = k
	}
	return st, nil
}

// Stored secret layout, before base64: ring key id (4) | nonce (12) |
// AES-GCM(secret), with "gatehouse/v1/keys.json " + access key id as
// additional data so a sealed secret cannot be moved to another entry.
func sealSecret(rk *ringKey, accessKeyID, secret string) string {
	out := binary.BigEndian.AppendUint32(nil, rk.id)
	nonce := make([]byte, rk.store.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	out = append(out, nonce...)
	out = rk.store.Seal(out, nonce, []byte(secret), secretAAD(accessKeyID))
	return base64.StdEncoding.EncodeToString(out)
}

func (s *KeyStore) openSecret(k *storedKey) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(k.Secret)
	if err != nil || len(raw) < 4 {
		return "", errors.New("sealed secret malformed")
	}
	rk, ok := s.ring.key(binary.BigEndian.Uint32(raw))
	if !ok {
		return "", fmt.Errorf("secret sealed by key %s, not in the ring", keyIDString(binary.BigEndian.Uint32(raw)))
	}
	ns := rk.store.NonceSize()
	if len(raw) < 4+ns+rk.store.Overhead() {
		return "", errors.New("sealed secret malformed")
	}
	plain, err := rk.store.Open(nil, raw[4:4+ns], raw[4+ns:], secretAAD(k.AccessKeyID))
	if err != nil {
		return "", errors.New("sealed secret does not open")
	}
	return string(plain), nil
}

func secretAAD(accessKeyID string) []byte {
	return []byte("gatehouse/v1/keys.json " + accessKeyID)
}
