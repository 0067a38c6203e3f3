package mask

import (
	"bytes"
	"strings"
	"testing"
)

func TestFixed(t *testing.T) {
	if got := string(Fixed("").Replace("x", []byte("secret"))); got != DefaultText {
		t.Errorf("Fixed(\"\") = %q", got)
	}
	if got := string(Fixed("[redacted]").Replace("x", []byte("secret"))); got != "[redacted]" {
		t.Errorf("Fixed = %q", got)
	}
}

func TestKeepLast(t *testing.T) {
	for _, c := range []struct {
		n        int
		mask, in string
		want     string
	}{
		{4, "", "4111 1111 1111 1234", "****1234"},
		{4, "XXX-XX-", "123-45-6789", "XXX-XX-6789"},
		{4, "", "abc", "****c"}, // never half or more of a short value
		{4, "", "abcdefgh", "****efgh"},
		{2, "#", "héllo wörld", "#ld"},
		{3, "", "añó", "****ó"}, // whole characters, not bytes
		{0, "", "secret", "****"},
		{4, "", "", "****"},
	} {
		got := string(KeepLast(c.n, c.mask).Replace(DetCard, []byte(c.in)))
		if got != c.want {
			t.Errorf("KeepLast(%d, %q)(%q) = %q, want %q", c.n, c.mask, c.in, got, c.want)
		}
	}
}

func TestHash(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	h, err := Hash(key, 0)
	if err != nil {
		t.Fatal(err)
	}
	a := h.Replace(DetEmail, []byte("bob@example.com"))
	b := h.Replace("some-field", []byte("bob@example.com"))
	c := h.Replace(DetEmail, []byte("alice@example.com"))
	if !bytes.Equal(a, b) {
		t.Errorf("equal values, different detectors: %q != %q (they must correlate)", a, b)
	}
	if bytes.Equal(a, c) {
		t.Errorf("different values, same replacement %q", a)
	}
	if !strings.HasPrefix(string(a), HashPrefix) || len(a) != len(HashPrefix)+16 {
		t.Errorf("replacement %q: want %s and 16 hex digits", a, HashPrefix)
	}
	other, _ := Hash([]byte("another key, also 16+ bytes"), 0)
	if bytes.Equal(other.Replace("", []byte("bob@example.com")), a) {
		t.Error("a different key gives the same hash")
	}
	if _, err := Hash([]byte("short"), 0); err == nil {
		t.Error("short key accepted")
	}
	for _, n := range []int{3, 33, -1} {
		if _, err := Hash(key, n); err == nil {
			t.Errorf("length %d accepted", n)
		}
	}
	long, _ := Hash(key, 32)
	if got := long.Replace("", []byte("x")); len(got) != len(HashPrefix)+64 {
		t.Errorf("32-byte hash: %q", got)
	}
}

func TestReplacersChoose(t *testing.T) {
	rs := &Replacers{Default: Fixed("[x]"), By: map[string]Replacer{DetCard: KeepLast(4, "")}}
	if got := string(rs.Replace(DetCard, []byte("4111111111111111"))); got != "****1111" {
		t.Errorf("card: %q", got)
	}
	if got := string(rs.Replace(DetEmail, []byte("a@b.co"))); got != "[x]" {
		t.Errorf("default: %q", got)
	}
	var none *Replacers
	if got := string(none.Replace(DetEmail, []byte("a@b.co"))); got != DefaultText {
		t.Errorf("nil Replacers: %q", got)
	}
}
