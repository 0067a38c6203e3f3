package mask

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
)

// Test detectors of the stream tests. Each decides a match from at most
// MaxLen bytes around it and none can overlap another or itself in a way
// that cascades, so masking a stream must equal masking the whole text.

// stWord finds a word of letters standing alone: no letter or digit on
// either side.
type stWord struct{ name, word string }

func (d stWord) Name() string { return d.name }
func (d stWord) MaxLen() int  { return len(d.word) + 2 }
func (d stWord) Find(b []byte) [][2]int {
	var out [][2]int
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte(d.word))
		if j < 0 {
			return out
		}
		s, e := i+j, i+j+len(d.word)
		if !stAlnum(stAt(b, s-1)) && !stAlnum(stAt(b, e)) {
			out = append(out, [2]int{s, e})
		}
		i = s + 1
	}
}

// stDigits finds runs of exactly n digits, not inside a longer run: a
// card number split across a block boundary must not be taken for a
// shorter run, nor a prefix of a longer run for a card.
type stDigits struct {
	name string
	n    int
}

func (d stDigits) Name() string { return d.name }
func (d stDigits) MaxLen() int  { return d.n + 2 }
func (d stDigits) Find(b []byte) [][2]int {
	var out [][2]int
	for i := 0; i < len(b); {
		if !stDigit(b[i]) {
			i++
			continue
		}
		j := i
		for j < len(b) && stDigit(b[j]) {
			j++
		}
		if j-i == d.n {
			out = append(out, [2]int{i, j})
		}
		i = j
	}
	return out
}

// stBlock finds "<<" up to the first ">>" after it, the whole at most max
// bytes: a PEM block, larger than the other matches.
type stBlock struct{ max int }

func (d stBlock) Name() string { return "block" }
func (d stBlock) MaxLen() int  { return d.max }
func (d stBlock) Find(b []byte) [][2]int {
	var out [][2]int
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte("<<"))
		if j < 0 {
			return out
		}
		s := i + j
		lim := min(len(b), s+d.max)
		if k := bytes.Index(b[s+2:lim], []byte(">>")); k >= 0 {
			out = append(out, [2]int{s, s + 2 + k + 2})
			i = s + 2 + k + 2
			continue
		}
		i = s + 1
	}
}

// stBad returns a range past the end of its text.
type stBad struct{}

func (stBad) Name() string           { return "bad" }
func (stBad) MaxLen() int            { return 4 }
func (stBad) Find(b []byte) [][2]int { return [][2]int{{0, len(b) + 1}} }

// stTag replaces a value with its detector's name and length, so a test
// sees which detector took how much, never the value.
type stTag struct{}

func (stTag) Replace(det string, v []byte) []byte { return fmt.Appendf(nil, "[%s:%d]", det, len(v)) }

// stSame replaces a value with as many X: the output is as long as the
// input, so what a Stream holds is read minus delivered.
type stSame struct{}

func (stSame) Replace(_ string, v []byte) []byte { return bytes.Repeat([]byte("X"), len(v)) }

func stAt(b []byte, i int) byte {
	if i < 0 || i >= len(b) {
		return 0
	}
	return b[i]
}
func stDigit(c byte) bool { return c >= '0' && c <= '9' }
func stAlnum(c byte) bool {
	return stDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

const stCanary = "CANARY-8d1f2"

func stDetectors(t testing.TB) []Detector {
	deny, err := DenyList("canary", []string{stCanary})
	if err != nil {
		t.Fatal(err)
	}
	return []Detector{
		stWord{"secret", "hunter"},
		stWord{"name", "alice"},
		stDigits{"card16", 16},
		stBlock{max: 40},
		deny,
	}
}

// stWhole masks text all at once (Masker.Text): what a stream must equal.
func stWhole(text []byte, dets []Detector, rep Replacer) []byte {
	out, _ := (&Masker{Detectors: dets, Replacer: rep}).Text(text)
	return out
}

// stChunks returns the sizes in turn (cycling), whatever the caller asks.
type stChunks struct {
	data  []byte
	sizes []int
	i     int
}

func (r *stChunks) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(r.data), max(r.sizes[r.i%len(r.sizes)], 0))
	r.i++
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

func stMask(t testing.TB, src io.Reader, dets []Detector, rep Replacer, opts StreamOptions) ([]byte, *Stream, error) {
	t.Helper()
	s, err := NewStream(src, dets, rep, opts)
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(s)
	return out, s, err
}

const stText = "alice's card 4111111111111111 and 12345678901234567 (17 digits), " +
	"password hunter; key <<MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf>> " +
	"<<short>> hunters alice2 " + stCanary + "x" + stCanary + " 0000111122223333."

func TestStreamEqualsWholeText(t *testing.T) {
	dets := stDetectors(t)
	text := []byte(stText)
	want := stWhole(text, dets, stTag{})
	if bytes.Contains(want, []byte("4111")) || bytes.Contains(want, []byte(stCanary)) || !bytes.Contains(want, []byte("12345678901234567")) {
		t.Fatalf("reference masking is off: %s", want)
	}
	// Every block size moves the block boundaries over every match.
	for block := 1; block <= len(text)+1; block++ {
		got, _, err := stMask(t, bytes.NewReader(text), dets, stTag{}, StreamOptions{BlockSize: block})
		if err != nil {
			t.Fatalf("block %d: %v", block, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("block %d:\n got %s\nwant %s", block, got, want)
		}
	}
}

func TestStreamSplitAtEveryOffset(t *testing.T) {
	dets := stDetectors(t)
	text := []byte(stText)
	want := stWhole(text, dets, stTag{})
	readers := map[string]func(k int) io.Reader{
		"two reads": func(k int) io.Reader {
			return io.MultiReader(bytes.NewReader(text[:k]), bytes.NewReader(text[k:]))
		},
		"one byte": func(int) io.Reader { return iotest.OneByteReader(bytes.NewReader(text)) },
		"half":     func(int) io.Reader { return iotest.HalfReader(bytes.NewReader(text)) },
		"data with EOF": func(k int) io.Reader {
			return iotest.DataErrReader(io.MultiReader(bytes.NewReader(text[:k]), bytes.NewReader(text[k:])))
		},
		"1..k bytes": func(k int) io.Reader {
			sizes := make([]int, k+1)
			for i := range sizes {
				sizes[i] = i + 1
			}
			return &stChunks{data: text, sizes: sizes}
		},
		"empty reads": func(k int) io.Reader { return &stChunks{data: text, sizes: []int{0, k, 0, 1}} },
	}
	for name, mk := range readers {
		t.Run(name, func(t *testing.T) {
			for k := 0; k <= len(text); k++ {
				for _, block := range []int{1, 7, 64} {
					got, _, err := stMask(t, mk(k), dets, stTag{}, StreamOptions{BlockSize: block})
					if err != nil {
						t.Fatalf("split %d, block %d: %v", k, block, err)
					}
					if !bytes.Equal(got, want) {
						t.Fatalf("split %d, block %d:\n got %s\nwant %s", k, block, got, want)
					}
				}
			}
		})
	}
}

// With the detectors of the package a stream must equal the whole text
// too. Each case slides across the first block boundary one byte at a
// time: a match before it, straddling it, in the context kept after it.
func TestStreamBuiltinDetectors(t *testing.T) {
	re, err := Regexp("ticket", `TCK-[0-9]{6}`, 10)
	if err != nil {
		t.Fatal(err)
	}
	short := []Detector{AccessKeyID(), SecretAccessKey(), Email(), Card(), SSN(), re}
	long := []Detector{PrivateKey(), JWT(), Card()} // a 16 KiB window
	jwtTok := "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
	pem := "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----"
	cases := []struct {
		name string
		dets []Detector
		text string
	}{
		{"card", short, "pay 4111 1111 1111 1111 now; not 41111111111111112 nor 0.4111111111111111"},
		{"card at end", short, "x 5555555555554444"},
		{"ssn", short, "ssn 078-05-1120, not 078-05-11201 or 666-12-3456"},
		{"email", short, "write to first.last+tag@mail.example.com. or a@b"},
		{"key id", short, "id AKIAIOSFODNN7EXAMPLE but not XAKIAIOSFODNN7EXAMPLE"},
		{"secret key", short, "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"},
		{"key pair", short, "AKIAIOSFODNN7EXAMPLE,wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
		{"regexp", short, "see TCK-123456 and TCK-12345"},
		{"jwt", long, "Authorization: Bearer " + jwtTok + " end"},
		{"pem", long, "key:\n" + pem + "\nrest"},
	}
	rep := KeepLast(2, "")
	const block = 256
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			win := 0
			for _, d := range c.dets {
				win = max(win, d.MaxLen())
			}
			// The first block ends win+block bytes in.
			before := win + block - len(c.text) - 10
			for p := 0; p <= len(c.text)+20; p++ {
				text := []byte(strings.Repeat(" ", before+p) + c.text + strings.Repeat(" ", win+50))
				want := stWhole(text, c.dets, rep)
				if bytes.Equal(want, text) {
					t.Fatalf("nothing masked in %q", c.text)
				}
				got, _, err := stMask(t, bytes.NewReader(text), c.dets, rep, StreamOptions{BlockSize: block})
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("case at %d:\n got %q\nwant %q", before+p, bytes.TrimSpace(got), bytes.TrimSpace(want))
				}
			}
		})
	}
}

func TestStreamRandomText(t *testing.T) {
	dets := stDetectors(t)
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"hunter", "alice", "4111111111111111", "41111111111111111", "<<", ">>", stCanary, " ", "x", "7", ".", "\n"}
	for range 200 {
		var b []byte
		for range rng.IntN(200) {
			b = append(b, pieces[rng.IntN(len(pieces))]...)
		}
		want := stWhole(b, dets, stTag{})
		sizes := []int{rng.IntN(9), rng.IntN(100), 1 + rng.IntN(3)}
		got, _, err := stMask(t, &stChunks{data: b, sizes: sizes}, dets, stTag{}, StreamOptions{BlockSize: 1 + rng.IntN(80)})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("text %q:\n got %s\nwant %s", b, got, want)
		}
	}
}

// stWatch reports how much a Stream has taken from its source and the
// largest read it asked for.
type stWatch struct {
	r       io.Reader
	read    int
	biggest int
}

func (w *stWatch) Read(p []byte) (int, error) {
	w.biggest = max(w.biggest, len(p))
	n, err := w.r.Read(p)
	w.read += n
	return n, err
}

func TestStreamHoldsWindowAndBlock(t *testing.T) {
	dets := stDetectors(t) // window: stBlock's 40
	const win, block = 40, 100
	unit := []byte("some text with a card 4111111111111111 in it, and <<a block>>; ")
	src := &stWatch{r: io.LimitReader(stRepeat(unit), 1<<20)}
	s, err := NewStream(src, dets, stSame{}, StreamOptions{BlockSize: block})
	if err != nil {
		t.Fatal(err)
	}
	if s.win != win || len(s.buf) != 2*win+block {
		t.Fatalf("window %d, buffer %d; want %d, %d", s.win, len(s.buf), win, 2*win+block)
	}
	delivered := 0
	p := make([]byte, 1<<16) // a caller asking for more than the buffer
	for {
		n, err := s.Read(p)
		delivered += n
		if held := src.read - delivered; held > 2*win+block {
			t.Fatalf("holding %d bytes, more than the window either side and a block (%d)", held, 2*win+block)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if delivered != 1<<20 || src.biggest > 2*win+block || len(s.buf) != 2*win+block {
		t.Fatalf("delivered %d, largest read %d, buffer %d", delivered, src.biggest, len(s.buf))
	}
}

// stRepeat repeats unit forever.
type stRepeater struct {
	unit []byte
	off  int
}

func stRepeat(unit []byte) io.Reader { return &stRepeater{unit: unit} }

func (r *stRepeater) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k := copy(p[n:], r.unit[r.off:])
		n += k
		r.off = (r.off + k) % len(r.unit)
	}
	return n, nil
}

func TestStreamErrors(t *testing.T) {
	dets := stDetectors(t)
	boom := errors.New("connection reset")
	// The source fails in the middle of a card number: the first half
	// must not come out, and the error must.
	text := "before the card 41111111"
	cases := map[string]io.Reader{
		"error after data": io.MultiReader(strings.NewReader(text), iotest.ErrReader(boom)),
		"data and error":   &stFailing{data: []byte(text), err: boom},
		"timeout":          iotest.TimeoutReader(io.MultiReader(strings.NewReader(text), strings.NewReader("11111111 after"))),
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			got, _, err := stMask(t, iotest.HalfReader(src), dets, stTag{}, StreamOptions{BlockSize: 4})
			if err == nil {
				t.Fatalf("no error, got %q", got)
			}
			if !errors.Is(err, boom) && !errors.Is(err, iotest.ErrTimeout) {
				t.Fatalf("error %v, want the source's", err)
			}
			if bytes.Contains(got, []byte("4111")) {
				t.Fatalf("part of the card came out before the error: %q", got)
			}
			// The error sticks.
			s, _ := NewStream(&stFailing{err: boom}, dets, stTag{}, StreamOptions{})
			for range 2 {
				if _, err := s.Read(make([]byte, 10)); !errors.Is(err, boom) {
					t.Fatalf("read after the error: %v", err)
				}
			}
		})
	}
	t.Run("no progress", func(t *testing.T) {
		_, _, err := stMask(t, &stChunks{data: []byte("abc"), sizes: []int{0}}, dets, stTag{}, StreamOptions{})
		if !errors.Is(err, io.ErrNoProgress) {
			t.Fatalf("error %v, want io.ErrNoProgress", err)
		}
	})
	t.Run("detector out of range", func(t *testing.T) {
		got, _, err := stMask(t, strings.NewReader("secret"), []Detector{stBad{}}, stTag{}, StreamOptions{})
		if !errors.Is(err, errStreamDetector) || len(got) != 0 {
			t.Fatalf("got %q, %v", got, err)
		}
	})
}

type stFailing struct {
	data []byte
	err  error
}

func (r *stFailing) Read(p []byte) (int, error) {
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, r.err
}

func TestNewStreamRefuses(t *testing.T) {
	cases := map[string]struct {
		dets []Detector
		rep  Replacer
		opts StreamOptions
	}{
		"whole-value detector": {[]Detector{stWord{"w", "x"}, wholeOnly{}}, stTag{}, StreamOptions{}},
		"nil detector":         {[]Detector{nil}, stTag{}, StreamOptions{}},
		"no replacer":          {nil, nil, StreamOptions{}},
		"negative block":       {nil, stTag{}, StreamOptions{BlockSize: -1}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if s, err := NewStream(strings.NewReader("x"), c.dets, c.rep, c.opts); err == nil {
				t.Fatalf("accepted: %+v", s)
			}
		})
	}
}

type wholeOnly struct{}

func (wholeOnly) Name() string           { return "whole" }
func (wholeOnly) MaxLen() int            { return 0 }
func (wholeOnly) Find(b []byte) [][2]int { return [][2]int{{0, len(b)}} }

// A match longer than MaxLen (a custom regexp is allowed them on whole
// values) cannot wait for its end: it is masked in pieces, none left out.
func TestStreamMatchLongerThanWindow(t *testing.T) {
	re, err := Regexp("xs", `x+`, 4)
	if err != nil {
		t.Fatal(err)
	}
	text := "a" + strings.Repeat("x", 1000) + "b"
	got, s, err := stMask(t, iotest.OneByteReader(strings.NewReader(text)), []Detector{re}, Fixed("#"), StreamOptions{BlockSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.ContainsRune(got, 'x') || !bytes.HasPrefix(got, []byte("a#")) || !bytes.HasSuffix(got, []byte("#b")) {
		t.Fatalf("got %q", got)
	}
	if n := s.Report()["xs"]; n < 2 {
		t.Fatalf("counted %d pieces", n)
	}
}

func TestStreamCountsAndPassThrough(t *testing.T) {
	dets := stDetectors(t)
	text := "hunter alice hunter 4111111111111111 " + stCanary
	got, s, err := stMask(t, strings.NewReader(text), dets, Fixed(""), StreamOptions{BlockSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"secret": 2, "name": 1, "card16": 1, "canary": 1}
	if c := s.Report(); fmt.Sprint(c) != fmt.Sprint(want) {
		t.Fatalf("counts %v, want %v (output %q)", c, want, got)
	}
	// No detectors: the body passes unchanged, and empty stays empty.
	for _, text := range []string{"", "plain text"} {
		got, _, err := stMask(t, strings.NewReader(text), nil, Fixed(""), StreamOptions{})
		if err != nil || string(got) != text {
			t.Fatalf("pass-through of %q: %q, %v", text, got, err)
		}
	}
}

// stSizes turns fuzz bytes into read sizes, with an empty read here and
// there (never two in a row: many in a row are io.ErrNoProgress).
func stSizes(b []byte) []int {
	sizes := []int{1}
	for _, c := range b {
		n := int(c % 80)
		if n == 0 && sizes[len(sizes)-1] == 0 {
			n = 1
		}
		sizes = append(sizes, n)
	}
	return sizes
}

// FuzzStream: however the body is split and blocked, the stream equals
// masking the whole text, and a canary planted anywhere never survives.
func FuzzStream(f *testing.F) {
	f.Add([]byte(stText), uint16(3), uint16(17), []byte{1, 5, 0, 9})
	f.Add([]byte("4111111111111111"), uint16(0), uint16(0), []byte{1})
	f.Add([]byte("<<hunter 41111111111111111>>alice<<"), uint16(40), uint16(1), []byte{0, 2})
	f.Add([]byte("CANARY-8d1f"), uint16(11), uint16(9), []byte{3})
	dets := stDetectors(f)
	f.Fuzz(func(t *testing.T, data []byte, at, block uint16, chunks []byte) {
		pos := int(at) % (len(data) + 1)
		text := append(append(append([]byte(nil), data[:pos]...), stCanary...), data[pos:]...)
		want := stWhole(text, dets, stTag{})
		got, _, err := stMask(t, &stChunks{data: text, sizes: stSizes(chunks)}, dets, stTag{}, StreamOptions{BlockSize: 1 + int(block)%300})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("text %q, block %d:\n got %q\nwant %q", text, 1+int(block)%300, got, want)
		}
		if bytes.Contains(got, []byte(stCanary)) {
			t.Fatalf("canary survived: %q", got)
		}
	})
}

// FuzzStreamDetectors runs the package's detectors (those with a window
// short enough for fuzzed bodies to span several blocks): the stream
// equals the whole text, the output never depends on how reads split the
// body, and planted values standing apart never survive.
func FuzzStreamDetectors(f *testing.F) {
	f.Add([]byte("pay 4111 1111 1111 1111 or mail a@b.co"), uint16(4), uint16(7), []byte{1, 3})
	f.Add([]byte("AKIAIOSFODNN7EXAMPLE,wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY 078-05-1120"), uint16(30), uint16(0), []byte{0, 9})
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----"), uint16(0), uint16(20), []byte{2})
	dets := []Detector{AccessKeyID(), SecretAccessKey(), Email(), Card(), SSN()}
	canaries := []string{"4111 1111 1111 1111", "078-05-1120", "AKIAIOSFODNN7CANARY0", "canary.8d1f2@example.com"}
	f.Fuzz(func(t *testing.T, data []byte, at, block uint16, chunks []byte) {
		pos := int(at) % (len(data) + 1)
		c := canaries[int(at)%len(canaries)]
		text := append(append(append([]byte(nil), data[:pos]...), " | "+c+" | "...), data[pos:]...)
		opts := StreamOptions{BlockSize: 1 + int(block)%1000}
		got, _, err := stMask(t, &stChunks{data: text, sizes: stSizes(chunks)}, dets, Fixed(""), opts)
		if err != nil {
			t.Fatal(err)
		}
		again, _, err := stMask(t, bytes.NewReader(text), dets, Fixed(""), opts)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, again) {
			t.Fatalf("the output depends on how reads split the body:\n%q\n%q", got, again)
		}
		if want := stWhole(text, dets, Fixed("")); !bytes.Equal(got, want) {
			t.Fatalf("text %q, block %d:\n got %q\nwant %q", text, opts.BlockSize, got, want)
		}
		// The planted copy stands apart; the fuzzer's own bytes may hold the
		// same digits inside a longer run, which is rightly not a match.
		if bytes.Contains(got, []byte(" | "+c+" | ")) {
			t.Fatalf("%q survived in %q", c, got)
		}
	})
}

// The package's detectors on random texts built from their favourite
// pieces, in blocks of 1 to 200 bytes: the stream equals the whole text.
func TestStreamBuiltinRandomText(t *testing.T) {
	// PrivateKey and JWT are left out: their 16 KiB window would hold
	// these texts in one block.
	dets := []Detector{AccessKeyID(), SecretAccessKey(), Email(), Card(), SSN()}
	pieces := []string{"4111", "1111", " ", "-", "0", "5", ".", "a@b.co", "x", "@", "078-05-1120",
		"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "secret_key=", "\n",
		"eyJhbGciOiJub25lIn0.e30.", "-----BEGIN PRIVATE KEY-----", "-----END PRIVATE KEY-----"}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 1000 {
		var b []byte
		for range rng.IntN(300) {
			b = append(b, pieces[rng.IntN(len(pieces))]...)
		}
		want := stWhole(b, dets, stTag{})
		block := 1 + rng.IntN(200)
		got, _, err := stMask(t, bytes.NewReader(b), dets, stTag{}, StreamOptions{BlockSize: block})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("text %q, block %d:\n got %s\nwant %s", b, block, got, want)
		}
	}
}
