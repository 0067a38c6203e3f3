package mask

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"unicode/utf8"
)

// DefaultText is what Fixed puts in place of a value when given no text.
const DefaultText = "****"

// Fixed replaces every value with text (DefaultText when empty).
func Fixed(text string) Replacer {
	if text == "" {
		text = DefaultText
	}
	return fixed(text)
}

type fixed string

func (f fixed) Replace(string, []byte) []byte { return []byte(f) }

// KeepLast replaces a value with mask (DefaultText when empty) followed by
// its last n characters, as receipts show cards: "****1111". It never
// keeps more than half of a value's characters, so a short value is not
// given away whole: "abc" keeps "c".
func KeepLast(n int, mask string) Replacer {
	if mask == "" {
		mask = DefaultText
	}
	return keepLast{n: max(n, 0), mask: mask}
}

type keepLast struct {
	n    int
	mask string
}

func (k keepLast) Replace(_ string, v []byte) []byte {
	keep := min(k.n, utf8.RuneCount(v)/2)
	i := len(v)
	for range keep {
		_, size := utf8.DecodeLastRune(v[:i])
		i -= size
	}
	out := make([]byte, 0, len(k.mask)+len(v)-i)
	return append(append(out, k.mask...), v[i:]...)
}

// HashPrefix starts every keyed hash replacement.
const HashPrefix = "h:"

// Hash replaces a value with HashPrefix and the first n bytes (4 to 32;
// 0 means 8) of HMAC-SHA256(key, value) in hex: "h:3f9a0c…". Equal values
// give equal replacements, whichever detector or field found them, so an
// auditor can still tell that two responses carried the same secret; no
// one without the key can test guesses against them. The key must be at
// least 16 bytes and, to keep correlations stable, the same across
// reloads and gateways.
func Hash(key []byte, n int) (Replacer, error) {
	if len(key) < 16 {
		return nil, fmt.Errorf("hash replacer: key of %d bytes is too short: give at least 16 random bytes", len(key))
	}
	if n == 0 {
		n = 8
	}
	if n < 4 || n > sha256.Size {
		return nil, fmt.Errorf("hash replacer: length %d out of range: give 4 to %d bytes", n, sha256.Size)
	}
	return &hashRep{key: append([]byte(nil), key...), n: n}, nil
}

type hashRep struct {
	key []byte
	n   int
}

func (h *hashRep) Replace(_ string, v []byte) []byte {
	m := hmac.New(sha256.New, h.key)
	m.Write(v)
	sum := m.Sum(nil)
	out := make([]byte, len(HashPrefix)+2*h.n)
	copy(out, HashPrefix)
	hex.Encode(out[len(HashPrefix):], sum[:h.n])
	return out
}

// Replacers chooses a replacer by the name of what found the value: a
// detector name (DetCard, a custom detector's name) or a field rule's
// name. Names without an entry get Default, and Fixed("") when Default is
// nil. A Replacers is itself a Replacer.
type Replacers struct {
	Default Replacer
	By      map[string]Replacer
}

// Replace implements Replacer.
func (rs *Replacers) Replace(name string, v []byte) []byte {
	if rs != nil {
		if r, ok := rs.By[name]; ok {
			return r.Replace(name, v)
		}
		if rs.Default != nil {
			return rs.Default.Replace(name, v)
		}
	}
	return []byte(DefaultText)
}
