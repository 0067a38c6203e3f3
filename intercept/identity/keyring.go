package identity

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// KeyRingFile is the key ring's file name in its directory.
const KeyRingFile = "session-keys.json"

// KeyRing holds the gateway's AEAD keys by id. The newest seals, all open,
// so Rotate never invalidates what was sealed before it. The ring is the
// file: every gateway of a fleet given the same file opens every session
// token any of them issued. Removing a key from the file revokes every
// session token and stored secret sealed under it.
//
// A KeyRing never prints its keys: it formats as its path and key ids.
type KeyRing struct {
	path  string
	mu    sync.Mutex // serialises reloads and rotations in this process
	state atomic.Pointer[ringState]
}

type ringState struct {
	current *ringKey
	keys    map[uint32]*ringKey
	file    os.FileInfo // the version of the file this state was read from
}

// ringKey is one master key and the keys derived from it, one per use, so
// that nothing sealed or derived for one purpose is ever valid for another.
type ringKey struct {
	id      uint32
	created time.Time
	master  []byte      // kept only to write the file back
	seal    cipher.AEAD // session tokens
	store   cipher.AEAD // secrets in keys.json
	akid    []byte      // HMAC key: session token → access key id
	secret  []byte      // HMAC key: session token → secret access key
}

type ringFile struct {
	Version int           `json:"version"`
	Current string        `json:"current"`
	Keys    []ringFileKey `json:"keys"`
}

type ringFileKey struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	Key     []byte    `json:"key"` // 32 bytes, base64
}

// LoadOrCreateKeyRing reads dir/session-keys.json, creating it (and dir,
// 0700) with one new key if it does not exist. It refuses a file others
// can read.
func LoadOrCreateKeyRing(dir string) (*KeyRing, error) {
	if err := ensureDir(dir); err != nil {
		return nil, fmt.Errorf("load key ring: %w", err)
	}
	k := &KeyRing{path: filepath.Join(dir, KeyRingFile)}
	if _, err := os.Stat(k.path); errors.Is(err, fs.ErrNotExist) {
		first, err := newRingKey(nil, time.Now())
		if err != nil {
			return nil, fmt.Errorf("create key ring: %w", err)
		}
		data, err := encodeRing(first, []*ringKey{first})
		if err != nil {
			return nil, fmt.Errorf("create key ring: %w", err)
		}
		// If another process created it meanwhile, theirs wins and is
		// read below.
		if _, err := createPrivate(k.path, data); err != nil {
			return nil, fmt.Errorf("create key ring: %w", err)
		}
	}
	st, err := k.read()
	if err != nil {
		return nil, fmt.Errorf("load key ring: %w", err)
	}
	k.state.Store(st)
	return k, nil
}

// Rotate adds a new key and makes it the one that seals. Keys already in
// the ring keep opening what they sealed.
func (k *KeyRing) Rotate() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	err := withLock(k.path, func() error {
		st, err := k.read() // another process may have rotated since
		if err != nil {
			return err
		}
		next, err := newRingKey(st.keys, time.Now())
		if err != nil {
			return err
		}
		all := append(st.sorted(), next)
		data, err := encodeRing(next, all)
		if err != nil {
			return err
		}
		if err := writePrivate(k.path, data); err != nil {
			return err
		}
		st, err = k.read()
		if err != nil {
			return err
		}
		k.state.Store(st)
		return nil
	})
	if err != nil {
		return fmt.Errorf("rotate key ring: %w", err)
	}
	return nil
}

// CurrentID is the id of the key that seals, as written in the file.
func (k *KeyRing) CurrentID() string { return keyIDString(k.state.Load().current.id) }

// Format prints the ring's path and key ids, never its keys, whatever the
// verb.
func (k *KeyRing) Format(f fmt.State, _ rune) {
	st := k.state.Load()
	if st == nil {
		fmt.Fprintf(f, "KeyRing(%s)", k.path)
		return
	}
	fmt.Fprintf(f, "KeyRing(%s, %d keys, current %s)", k.path, len(st.keys), keyIDString(st.current.id))
}

// current returns the sealing key, first picking up a rotation another
// process wrote.
func (k *KeyRing) current() (*ringKey, error) {
	st, err := k.fresh()
	if err != nil {
		return nil, err
	}
	return st.current, nil
}

// key returns the key with id. The file is re-read if it changed, so a
// key added by another process opens here and a key removed from the file
// stops opening. If the file cannot be read the ring fails closed.
func (k *KeyRing) key(id uint32) (*ringKey, bool) {
	st, err := k.fresh()
	if err != nil {
		return nil, false
	}
	rk, ok := st.keys[id]
	return rk, ok
}

// fresh returns the state for the file as it is now.
func (k *KeyRing) fresh() (*ringState, error) {
	st := k.state.Load()
	fi, err := os.Stat(k.path)
	if err != nil {
		return nil, fmt.Errorf("key ring: %w", err)
	}
	if sameFile(fi, st.file) {
		return st, nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if st = k.state.Load(); sameFile(fi, st.file) {
		return st, nil
	}
	st, err = k.read()
	if err != nil {
		return nil, fmt.Errorf("key ring: %w", err)
	}
	k.state.Store(st)
	return st, nil
}

func (k *KeyRing) read() (*ringState, error) {
	data, fi, err := readPrivate(k.path)
	if err != nil {
		return nil, err
	}
	var rf ringFile
	if err := json.Unmarshal(data, &rf); err != nil {
		return nil, fmt.Errorf("parse %s: %w", k.path, err)
	}
	if rf.Version != 1 {
		return nil, fmt.Errorf("parse %s: unknown version %d", k.path, rf.Version)
	}
	st := &ringState{keys: make(map[uint32]*ringKey, len(rf.Keys)), file: fi}
	for _, fk := range rf.Keys {
		id, err := parseKeyID(fk.ID)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", k.path, err)
		}
		if _, dup := st.keys[id]; dup {
			return nil, fmt.Errorf("parse %s: key %s appears twice", k.path, fk.ID)
		}
		rk, err := deriveRingKey(id, fk.Created, fk.Key)
		if err != nil {
			return nil, fmt.Errorf("parse %s: key %s: %w", k.path, fk.ID, err)
		}
		st.keys[id] = rk
		if fk.ID == rf.Current {
			st.current = rk
		}
	}
	if st.current == nil {
		return nil, fmt.Errorf("parse %s: current key %q is not in the ring", k.path, rf.Current)
	}
	return st, nil
}

func (st *ringState) sorted() []*ringKey {
	all := make([]*ringKey, 0, len(st.keys))
	for _, rk := range st.keys {
		all = append(all, rk)
	}
	sort.Slice(all, func(i, j int) bool {
		if !all[i].created.Equal(all[j].created) {
			return all[i].created.Before(all[j].created)
		}
		return all[i].id < all[j].id
	})
	return all
}

func encodeRing(current *ringKey, all []*ringKey) ([]byte, error) {
	rf := ringFile{Version: 1, Current: keyIDString(current.id)}
	for _, rk := range all {
		rf.Keys = append(rf.Keys, ringFileKey{ID: keyIDString(rk.id), Created: rk.created.UTC(), Key: rk.master})
	}
	return json.MarshalIndent(rf, "", "  ")
}

// newRingKey makes a key with a random id not among taken.
func newRingKey(taken map[uint32]*ringKey, now time.Time) (*ringKey, error) {
	master := make([]byte, 32)
	if _, err := rand.Read(master); err != nil {
		return nil, err
	}
	var id uint32
	for {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		id = binary.BigEndian.Uint32(b[:])
		if _, used := taken[id]; !used && id != 0 {
			break
		}
	}
	return deriveRingKey(id, now.UTC().Truncate(time.Second), master)
}

func deriveRingKey(id uint32, created time.Time, master []byte) (*ringKey, error) {
	if len(master) != 32 {
		return nil, fmt.Errorf("key is %d bytes, want 32", len(master))
	}
	rk := &ringKey{id: id, created: created, master: master}
	sub := func(purpose string) []byte {
		b, err := hkdf.Key(sha256.New, master, nil, "gatehouse/v1/"+purpose, 32)
		if err != nil {
			panic(err) // only for lengths hkdf cannot produce; 32 is fine
		}
		return b
	}
	var err error
	if rk.seal, err = newGCM(sub("session-seal")); err != nil {
		return nil, err
	}
	if rk.store, err = newGCM(sub("keystore-seal")); err != nil {
		return nil, err
	}
	rk.akid = sub("session-access-key-id")
	rk.secret = sub("session-secret")
	return rk, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func keyIDString(id uint32) string { return fmt.Sprintf("%08x", id) }

func parseKeyID(s string) (uint32, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 4 {
		return 0, fmt.Errorf("key id %q is not 8 hex digits", s)
	}
	return binary.BigEndian.Uint32(b), nil
}
