package main

// The mask workload's object: log and CSV lines made as they are read, a
// value to mask planted in one line of every plantEvery, and beside each
// line the text a masker must make of it.

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
)

// What the generator plants, in turn.
const (
	plantEmail     = iota // first.last123@example.com
	plantCardSpace        // a Visa number in groups of four
	plantCardPlain        // a Mastercard number, 16 digits together
	plantSSN              // NNN-NN-NNNN
	plantKeyID            // AKIA + 16
	nPlants
)

var plantNames = [nPlants]string{"email", "card (Visa, grouped)", "card (Mastercard, plain)", "ssn", "aws-access-key-id"}

// plantEvery: one line in plantEvery carries a value; the lines average
// about 110 bytes, so that is one value per 4 KiB or so.
const plantEvery = 37

// maskText is what the bench profile's replacer (the default, Fixed) puts
// in place of each value.
const maskText = "****"

// lastLine: when fewer bytes than this are left, the generator ends with
// one filler line of exactly what is left. Every other line is shorter.
const lastLine = 512

// textGen yields n bytes of text, deterministic for a seed. next makes one
// line: raw is what the object holds, masked what a masker must send, and
// value the planted value (nil in filler lines).
type textGen struct {
	rng         *rand.Rand
	left        int64
	lineNo      int64
	raw, masked []byte
	value       []byte
	kind        int
	off         int // Read's position in raw
	planted     [nPlants]int64
	digits      [19]byte
}

func newTextGen(seed uint64, n int64) *textGen {
	return &textGen{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), left: n}
}

func (g *textGen) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if g.off == len(g.raw) {
			if !g.next() {
				if n == 0 {
					return 0, io.EOF
				}
				break
			}
		}
		c := copy(p[n:], g.raw[g.off:])
		g.off += c
		n += c
	}
	return n, nil
}

var (
	levels   = []string{"INFO", "INFO", "INFO", "DEBUG", "WARN"}
	methods  = []string{"GET", "GET", "GET", "PUT", "POST", "DELETE"}
	paths    = []string{"/api/v1/items/", "/api/v1/orders/", "/api/v2/carts/", "/healthz?probe=", "/static/img/"}
	statuses = []string{"shipped", "pending", "cancelled", "returned", "captured"}
	regions  = []string{"eu-west-1", "us-east-1", "ap-southeast-2", "eu-central-1"}
	firsts   = []string{"ada", "grace", "alan", "edsger", "barbara", "ken", "dennis", "margaret", "linus", "radia"}
	lasts    = []string{"lovelace", "hopper", "turing", "dijkstra", "liskov", "thompson", "ritchie", "hamilton", "torvalds", "perlman"}
	domains  = []string{"example.com", "mail.example.org", "corp.example.net"}
	names    = []string{"Jane Doe", "John Roe", "Erika Mustermann", "Mario Rossi", "Juan Perez"}
)

// next makes the next line; false at the end.
func (g *textGen) next() bool {
	if g.left <= 0 {
		return false
	}
	g.raw, g.masked, g.value, g.kind, g.off = g.raw[:0], g.masked[:0], nil, -1, 0
	if g.left < lastLine {
		// The last line fills the object to its size exactly.
		if g.left > 1 {
			g.raw = append(g.raw, '#')
			for range g.left - 2 {
				g.raw = append(g.raw, '.')
			}
		}
		g.raw = append(g.raw, '\n')
		g.masked = append(g.masked, g.raw...)
		g.left = 0
		g.lineNo++
		return true
	}
	if g.lineNo%plantEvery == plantEvery-1 {
		g.kind = int(g.lineNo/plantEvery) % nPlants
		g.plant(g.kind)
		g.planted[g.kind]++
	} else {
		g.filler()
		g.masked = append(g.masked, g.raw...)
	}
	g.left -= int64(len(g.raw))
	g.lineNo++
	return true
}

// stamp appends the line's timestamp: 2026-11-26T08:14:03.123Z, from the
// line number (a millisecond or so per line).
func (g *textGen) stamp(b []byte) []byte {
	ms := g.lineNo * 7 / 5
	s := ms / 1000
	b = append(b, "2026-11-26T"...)
	b = two(b, s/3600%24)
	b = append(b, ':')
	b = two(b, s/60%60)
	b = append(b, ':')
	b = two(b, s%60)
	b = append(b, '.')
	b = append(b, byte('0'+ms%1000/100), byte('0'+ms%100/10), byte('0'+ms%10))
	return append(b, 'Z', ' ')
}

func two(b []byte, v int64) []byte { return append(b, byte('0'+v/10), byte('0'+v%10)) }

func (g *textGen) pick(s []string) string { return s[g.rng.IntN(len(s))] }
func (g *textGen) num(b []byte, n int) []byte {
	return strconv.AppendInt(b, int64(g.rng.IntN(n)), 10)
}

// filler appends a line no detector matches: no '@', no run of digits
// groups long enough for a card, no NNN-NN-NNNN, no AKIA, no 40-character
// token, no PEM or JWT.
func (g *textGen) filler() {
	b := g.raw
	switch g.rng.IntN(4) {
	case 0, 1:
		b = g.stamp(b)
		b = append(b, g.pick(levels)...)
		b = append(b, " http method="...)
		b = append(b, g.pick(methods)...)
		b = append(b, " path="...)
		b = append(b, g.pick(paths)...)
		b = g.num(b, 1_000_000)
		b = append(b, " status=200 bytes="...)
		b = g.num(b, 65536)
		b = append(b, " dur_ms="...)
		b = g.num(b, 900)
		// 0x keeps an all-digit trace id from reading as a card number
		// (found by the first run: 221 of them in 1 GiB passed Luhn).
		b = append(b, " trace=0x"...)
		b = strconv.AppendUint(b, g.rng.Uint64()>>1, 16)
	case 2:
		b = append(b, "orders.csv,"...)
		b = g.num(b, 1_000_000)
		b = append(b, ",2026-11-"...)
		b = two(b, int64(1+g.rng.IntN(28)))
		b = append(b, ',')
		b = append(b, g.pick(statuses)...)
		b = append(b, ",EUR,"...)
		b = g.num(b, 2000)
		b = append(b, '.')
		b = two(b, int64(g.rng.IntN(100)))
		b = append(b, ",warehouse-"...)
		b = g.num(b, 12)
		b = append(b, `,"priority, gift wrap"`...)
	default:
		b = g.stamp(b)
		b = append(b, "DEBUG cache key=user:"...)
		b = g.num(b, 1_000_000)
		b = append(b, ":profile hit="...)
		b = strconv.AppendBool(b, g.rng.IntN(2) == 0)
		b = append(b, " size="...)
		b = g.num(b, 4096)
		b = append(b, " region="...)
		b = append(b, g.pick(regions)...)
	}
	g.raw = append(b, '\n')
}

// plant appends a line carrying a value of kind k to raw, and the same
// line with the value masked to masked.
func (g *textGen) plant(k int) {
	var pre, val, post []byte
	switch k {
	case plantEmail:
		pre = g.stamp(pre)
		pre = append(pre, "INFO signup user="...)
		val = append(val, g.pick(firsts)...)
		val = append(val, '.')
		val = append(val, g.pick(lasts)...)
		val = g.num(val, 1000)
		val = append(val, '@')
		val = append(val, g.pick(domains)...)
		post = append(post, " plan=pro source=web"...)
	case plantCardSpace:
		pre = g.stamp(pre)
		pre = append(pre, "INFO payment card="...)
		d := g.card(4, 16)
		for i, c := range d {
			if i > 0 && i%4 == 0 {
				val = append(val, ' ')
			}
			val = append(val, c)
		}
		post = append(post, " amount="...)
		post = g.num(post, 2000)
		post = append(post, ".50 currency=EUR order="...)
		post = g.num(post, 1_000_000)
	case plantCardPlain:
		pre = append(pre, "payments.csv,"...)
		pre = g.num(pre, 1_000_000)
		pre = append(pre, ',')
		val = append(val, g.card(51+g.rng.IntN(5), 16)...)
		post = append(post, ",EUR,"...)
		post = g.num(post, 2000)
		post = append(post, ".00,captured"...)
	case plantSSN:
		pre = append(pre, "kyc.csv,"...)
		pre = g.num(pre, 1_000_000)
		pre = append(pre, ',')
		pre = append(pre, g.pick(names)...)
		pre = append(pre, ',')
		area := 1 + g.rng.IntN(665) // 001–665: not 000, 666 or 9xx
		val = fmt.Appendf(val, "%03d-%02d-%04d", area, 1+g.rng.IntN(99), 1+g.rng.IntN(9999))
		post = append(post, ",verified"...)
	case plantKeyID:
		pre = g.stamp(pre)
		pre = append(pre, "WARN credentials key_id="...)
		val = append(val, "AKIA"...)
		const b32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
		for range 16 {
			val = append(val, b32[g.rng.IntN(32)])
		}
		post = append(post, " rotated by svc-"...)
		post = g.num(post, 12)
	}
	post = append(post, '\n')
	g.raw = append(append(append(g.raw, pre...), val...), post...)
	g.masked = append(append(append(g.masked, pre...), maskText...), post...)
	g.value = g.raw[len(pre) : len(pre)+len(val)]
}

// card returns n digits starting with prefix that pass the Luhn check.
func (g *textGen) card(prefix, n int) []byte {
	d := strconv.AppendInt(g.digits[:0], int64(prefix), 10)
	for len(d) < n-1 {
		d = append(d, byte('0'+g.rng.IntN(10)))
	}
	// The check digit: Luhn over the payload, doubling from its last digit.
	sum := 0
	for i := range d {
		x := int(d[len(d)-1-i] - '0')
		if i%2 == 0 {
			x *= 2
			if x > 9 {
				x -= 9
			}
		}
		sum += x
	}
	return append(d, byte('0'+(10-sum%10)%10))
}

// textFacts is what the generator made, counted once before the
// transfers.
type textFacts struct {
	size              int64
	lines             int64
	planted           [nPlants]int64
	rawSHA, maskedSHA string
	maskedSize        int64
	plantedTotal      int64
}

// textCheck compares a masked body with the generator's text line by
// line, for a body whose hash is not the expected one: what differs, and
// which planted values came through.
type textCheck struct {
	lines, differ  int64 // lines compared, and those that differ
	missing, extra int64 // lines the body lacks, or has beyond the text
	leaked         [nPlants]int64
	firstDiffs     []string // want/got of the first few
}

func checkMasked(body io.Reader, seed uint64, size int64) (*textCheck, error) {
	g := newTextGen(seed, size)
	br := bufio.NewReaderSize(body, 64<<10)
	c := &textCheck{}
	// line is the body's next line, nil at its end; a line longer than
	// the buffer is cut (no generated line comes near it).
	line := func() ([]byte, error) {
		b, err := br.ReadSlice('\n')
		for err == bufio.ErrBufferFull {
			_, err = br.ReadSlice('\n')
		}
		if err == io.EOF {
			if len(b) == 0 {
				return nil, nil
			}
			err = nil
		}
		return b, err
	}
	for g.next() {
		got, err := line()
		if err != nil {
			return c, err
		}
		if got == nil {
			c.missing++
			continue
		}
		c.lines++
		if !bytes.Equal(got, g.masked) {
			c.differ++
			if g.value != nil && bytes.Contains(got, g.value) {
				c.leaked[g.kind]++
			}
			if len(c.firstDiffs) < 3 {
				c.firstDiffs = append(c.firstDiffs, fmt.Sprintf("line %d: want %q, got %q", g.lineNo, g.masked, got))
			}
		}
	}
	for {
		got, err := line()
		if err != nil {
			return c, err
		}
		if got == nil {
			return c, nil
		}
		c.extra++
	}
}

// factsOf runs the generator once: sizes, lines, planted values and the
// hashes of the object and of its masked text.
func factsOf(seed uint64, size int64) textFacts {
	g := newTextGen(seed, size)
	hr, hm := sha256.New(), sha256.New()
	f := textFacts{size: size}
	for g.next() {
		hr.Write(g.raw)
		hm.Write(g.masked)
		f.lines++
		f.maskedSize += int64(len(g.masked))
	}
	f.planted = g.planted
	for _, n := range g.planted {
		f.plantedTotal += n
	}
	f.rawSHA, f.maskedSHA = hex.EncodeToString(hr.Sum(nil)), hex.EncodeToString(hm.Sum(nil))
	return f
}
