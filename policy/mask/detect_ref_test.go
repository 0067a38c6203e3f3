package mask

// Reference copies of the built-in detectors as they were before they were
// made faster (detect.go at 775afc9), kept self-contained (their own
// character classes, regexps and helpers) so FuzzDetectorsMatchReference
// can check that the new ones find exactly the same ranges in every input.
// Do not "fix" these: they define the behaviour the fast ones must keep.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// refDetectors pairs each built-in detector with its reference Find.
func refDetectors() []struct {
	d   Detector
	ref func([]byte) [][2]int
} {
	return []struct {
		d   Detector
		ref func([]byte) [][2]int
	}{
		{AccessKeyID(), refAccessKeyIDFind},
		{SecretAccessKey(), refSecretKeyFind},
		{PrivateKey(), refPrivateKeyFind},
		{JWT(), refJWTFind},
		{Email(), refEmailFind},
		{Card(), refCardFind},
		{SSN(), refSSNFind},
	}
}

func refAccessKeyIDFind(b []byte) [][2]int {
	var out [][2]int
	for i := 0; i+20 <= len(b); {
		j := bytes.Index(b[i:], []byte("A"))
		if j < 0 {
			break
		}
		i += j
		if i+20 <= len(b) && refIsKeyID(b[i:i+20]) && !refIsAlnum(refAt(b, i-1)) && !refIsAlnum(refAt(b, i+20)) {
			out = append(out, [2]int{i, i + 20})
			i += 20
			continue
		}
		i++
	}
	return out
}

func refIsKeyID(b []byte) bool {
	if !bytes.HasPrefix(b, []byte("AKIA")) && !bytes.HasPrefix(b, []byte("ASIA")) {
		return false
	}
	for _, c := range b[4:] {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

const refSecretKeyWindow = 128

var refSecretKeyName = regexp.MustCompile(`(?i)(secret[_\-. ]?(access[_\-. ]?)?key|secretaccesskey|aws_secret)\\?["']?\s*(:|=|=>|>)\s*\\?["']?$`)

func refSecretKeyFind(b []byte) [][2]int {
	var out [][2]int
	for i := 0; i+40 <= len(b); {
		if !refIsB64(b[i]) || refIsB64(refAt(b, i-1)) {
			i++
			continue
		}
		j := i
		for j < len(b) && refIsB64(b[j]) {
			j++
		}
		if j-i == 40 && refAt(b, j) != '=' && refRandomLooking(b[i:j]) && refSecretContext(b, i, j) {
			out = append(out, [2]int{i, j})
		}
		i = j
	}
	return out
}

func refRandomLooking(s []byte) bool {
	var lower, upper, nonHex bool
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z':
			lower = true
			nonHex = nonHex || c > 'f'
		case c >= 'A' && c <= 'Z':
			upper = true
			nonHex = nonHex || c > 'F'
		case c == '/' || c == '+':
			nonHex = true
		}
	}
	return lower && upper && nonHex
}

func refSecretContext(b []byte, i, j int) bool {
	lo := max(0, i-refSecretKeyWindow)
	if refSecretKeyName.Match(b[lo:i]) {
		return true
	}
	hi := min(len(b), j+refSecretKeyWindow)
	return len(refAccessKeyIDFind(b[lo:i])) > 0 || len(refAccessKeyIDFind(b[j:hi])) > 0
}

const refPrivateKeyMax = 16 << 10

var (
	refPemBegin = regexp.MustCompile(`-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY-----`)
	refPemEnd   = regexp.MustCompile(`-----END ([A-Z0-9]+ )*PRIVATE KEY-----`)
)

func refPrivateKeyFind(b []byte) [][2]int {
	var out [][2]int
	for i := 0; i < len(b); {
		loc := refPemBegin.FindIndex(b[i:])
		if loc == nil {
			break
		}
		start, bodyAt := i+loc[0], i+loc[1]
		limit := min(len(b), start+refPrivateKeyMax)
		end := bodyAt
		if e := refPemEnd.FindIndex(b[bodyAt:limit]); e != nil {
			end = bodyAt + e[1]
		} else {
			for end < limit && refIsPEMBody(b[end]) {
				end++
			}
		}
		out = append(out, [2]int{start, end})
		i = end
	}
	return out
}

func refIsPEMBody(c byte) bool {
	return refIsB64(c) || c == '=' || c == ':' || c == ',' || c == '-' || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\\'
}

var refJWTCandidate = regexp.MustCompile(`e[wy][A-Za-z0-9_-]{13,}={0,2}(\.[A-Za-z0-9_-]*={0,2}){2,4}`)

func refJWTFind(b []byte) [][2]int {
	var out [][2]int
	for _, loc := range refJWTCandidate.FindAllIndex(b, -1) {
		s, e := loc[0], loc[1]
		if refIsB64URL(refAt(b, s-1)) || refIsB64URL(refAt(b, e)) || refAt(b, e) == '.' {
			continue
		}
		head := b[s:e]
		head = bytes.TrimRight(head[:bytes.IndexByte(head, '.')], "=")
		if refJWTHeader(head) {
			out = append(out, [2]int{s, e})
		}
	}
	return out
}

func refJWTHeader(part []byte) bool {
	raw := make([]byte, base64.RawURLEncoding.DecodedLen(len(part)))
	n, err := base64.RawURLEncoding.Decode(raw, part)
	if err != nil {
		return false
	}
	var h struct {
		Alg *string `json:"alg"`
	}
	return json.Unmarshal(raw[:n], &h) == nil && h.Alg != nil
}

func refIsLocal(c byte) bool {
	return refIsAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}

func refIsDomain(c byte) bool { return refIsAlnum(c) || c == '.' || c == '-' }

func refEmailFind(b []byte) [][2]int {
	var out [][2]int
	last := 0
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '@')
		if j < 0 {
			break
		}
		at := i + j
		i = at + 1
		s := at
		for s > last && at-s < 64 && refIsLocal(b[s-1]) {
			s--
		}
		for s < at && b[s] == '.' {
			s++
		}
		if s == at || b[at-1] == '.' {
			continue
		}
		e := at + 1
		for e < len(b) && e-at <= 253 && refIsDomain(b[e]) {
			e++
		}
		e = refDomainEnd(b[at+1 : e])
		if e < 0 {
			continue
		}
		e += at + 1
		out = append(out, [2]int{s, e})
		last, i = e, e
	}
	return out
}

func refDomainEnd(d []byte) int {
	d = bytes.TrimRight(d, ".-")
	labels := bytes.Split(d, []byte("."))
	if len(labels) < 2 {
		return -1
	}
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return -1
		}
	}
	tld := labels[len(labels)-1]
	if len(tld) < 2 {
		return -1
	}
	for _, c := range tld {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return -1
		}
	}
	return len(d)
}

func refCardFind(b []byte) [][2]int {
	var out [][2]int
	for i := 0; i < len(b); {
		if !refIsDigit(b[i]) || refIsAlnum(refAt(b, i-1)) || refAt(b, i-1) == '.' && refIsDigit(refAt(b, i-2)) {
			i++
			continue
		}
		var groups [][2]int
		j := i
		for {
			s := j
			for j < len(b) && refIsDigit(b[j]) {
				j++
			}
			groups = append(groups, [2]int{s, j})
			if j+1 < len(b) && (b[j] == ' ' || b[j] == '-') && refIsDigit(b[j+1]) {
				j++
				continue
			}
			break
		}
		end := groups[len(groups)-1][1]
		if refIsAlpha(refAt(b, end)) || refAt(b, end) == '.' && refIsDigit(refAt(b, end+1)) {
			groups = groups[:len(groups)-1]
		}
		out = append(out, refCardsIn(b, groups)...)
		i = end + 1
	}
	return out
}

func refCardsIn(b []byte, groups [][2]int) [][2]int {
	var out [][2]int
	for g := 0; g < len(groups); {
		found := -1
		n := 0
		for h := g; h < len(groups) && n <= 19; h++ {
			n += groups[h][1] - groups[h][0]
			if n >= 13 && n <= 19 && refValidCard(b[groups[g][0]:groups[h][1]]) {
				found = h
			}
		}
		if found < 0 {
			g++
			continue
		}
		out = append(out, [2]int{groups[g][0], groups[found][1]})
		g = found + 1
	}
	return out
}

func refValidCard(s []byte) bool {
	d := make([]byte, 0, 19)
	for _, c := range s {
		if refIsDigit(c) {
			d = append(d, c-'0')
		}
	}
	return refCardPrefix(d) && refLuhn(d)
}

func refLuhn(d []byte) bool {
	sum := 0
	for i := range d {
		x := int(d[len(d)-1-i])
		if i%2 == 1 {
			x *= 2
			if x > 9 {
				x -= 9
			}
		}
		sum += x
	}
	return sum%10 == 0
}

func refCardPrefix(d []byte) bool {
	n := len(d)
	p := func(k int) int {
		v := 0
		for _, x := range d[:k] {
			v = v*10 + int(x)
		}
		return v
	}
	switch {
	case d[0] == 4:
		return n == 13 || n == 16 || n == 19
	case p(2) == 34 || p(2) == 37:
		return n == 15
	case p(2) >= 51 && p(2) <= 55, p(4) >= 2221 && p(4) <= 2720:
		return n == 16
	case p(2) == 36, p(2) == 38, p(2) == 39, p(3) >= 300 && p(3) <= 305:
		return n >= 14 && n <= 19
	case p(4) >= 3528 && p(4) <= 3589:
		return n >= 16 && n <= 19
	case p(4) == 6011, p(2) == 65, p(3) >= 644 && p(3) <= 649, p(2) == 62:
		return n >= 16 && n <= 19
	case p(2) == 50, p(2) >= 56 && p(2) <= 69:
		return n >= 13 && n <= 19
	}
	return false
}

func refSSNFind(b []byte) [][2]int {
	var out [][2]int
	for i := 0; i+11 <= len(b); {
		j := bytes.IndexByte(b[i+3:], '-')
		if j < 0 {
			break
		}
		s := i + j
		i = s + 1
		if s+11 > len(b) || !refSSNShape(b[s:s+11]) {
			continue
		}
		if prev := refAt(b, s-1); refIsAlnum(prev) || prev == '-' && refIsDigit(refAt(b, s-2)) {
			continue
		}
		if next := refAt(b, s+11); refIsAlnum(next) || next == '-' && refIsDigit(refAt(b, s+12)) {
			continue
		}
		if refValidSSN(b[s : s+11]) {
			out = append(out, [2]int{s, s + 11})
			i = s + 11
		}
	}
	return out
}

func refSSNShape(s []byte) bool {
	for k, c := range s {
		if k == 3 || k == 6 {
			if c != '-' {
				return false
			}
		} else if !refIsDigit(c) {
			return false
		}
	}
	return true
}

func refValidSSN(s []byte) bool {
	area := string(s[0:3])
	return area != "000" && area != "666" && s[0] != '9' && string(s[4:6]) != "00" && string(s[7:11]) != "0000"
}

func refAt(b []byte, i int) byte {
	if i < 0 || i >= len(b) {
		return 0
	}
	return b[i]
}

func refIsDigit(c byte) bool  { return c >= '0' && c <= '9' }
func refIsAlpha(c byte) bool  { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func refIsAlnum(c byte) bool  { return refIsDigit(c) || refIsAlpha(c) }
func refIsB64(c byte) bool    { return refIsAlnum(c) || c == '+' || c == '/' }
func refIsB64URL(c byte) bool { return refIsAlnum(c) || c == '-' || c == '_' }

// refPieces are the bits of text the detectors care about: a recipe byte
// 0x80+k picks refPieces[k], any other byte stands for itself.
var refPieces = []string{
	"eyJhbGciOiJIUzI1NiJ9", "eyJhbGciOiJub25lIn0", "eyJzdWIiOiIxMjM0NTY3ODkwIn0", "eyJ", "ew", "ey", "e", ".", "=", "==",
	"-", "_", ".e30", "4111", "1111", " ", "4111111111111111", "378282246310005", "6011", "0",
	"5", "0.", "AKIA", "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "secret_key=", `"SecretAccessKey": "`, "<SecretAccessKey>", `\"`, "+",
	"/", "@", "a@b.co", "example.com", "-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----", "-----BEGIN PRIVATE KEY-----", `\n`, "\n", "078-05-1120",
	"123", "45-", "6789", "x", "9", "ASIA", "ewogICJhbGciOiAiSFMyNTYiCn0", "AbCdEfGhIjKlMnOpQrSt", "aws_secret", "-----END PRIVATE KEY-----",
	"-----", "BEGIN ", "END ", "PRIVATE KEY-----", "PRIVATE ", "RSA ", "A1 ", "-----BEGIN ", "-----END ", "KEY",
	"eyJhbGciOiJub25lIn0.e30.c2ln", ".eyJzdWIiOiJ4In0.", "eyJhbGciOiJIUzI1NiJ9.e30.", "eyAAAAAAAAAAAAAA", "ewAAAAAAAAAAAAA.", "\x00",
}

func refRecipe(recipe []byte) []byte {
	var b []byte
	for _, c := range recipe {
		if k := int(c) - 0x80; k >= 0 && k < len(refPieces) {
			b = append(b, refPieces[k]...)
		} else {
			b = append(b, c)
		}
	}
	return b
}

// refCheck fails t unless every built-in detector finds in text what its
// reference finds.
func refCheck(t *testing.T, text []byte) {
	t.Helper()
	for _, p := range refDetectors() {
		got, want := p.d.Find(text), p.ref(text)
		if len(got) == 0 && len(want) == 0 {
			continue
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s.Find(%q)\n got %v\nwant %v (reference)", p.d.Name(), text, got, want)
		}
	}
}

// refCheckParts fails t unless the hand-written matchers give what the
// regexps they replace give: the JWT candidates (FindAllIndex), and the
// PEM BEGIN and END lines (FindIndex) from every offset.
func refCheckParts(t *testing.T, text []byte) {
	t.Helper()
	var got [][]int
	c := jwtCandidates{b: text}
	for {
		s, e := c.next()
		if s < 0 {
			break
		}
		got = append(got, []int{s, e})
	}
	if want := refJWTCandidate.FindAllIndex(text, -1); !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("JWT candidates in %q\n got %v\nwant %v (regexp)", text, got, want)
	}
	// Both answers change only where from passes a dash. In a long text
	// only the first 64 such places are tried (each is a regexp over
	// the rest of the text).
	tried := 0
	for from := 0; from <= len(text) && tried < 64; from++ {
		if from > 0 && text[from-1] != '-' && (from < 2 || text[from-2] != '-') {
			continue
		}
		tried++
		for _, l := range []struct {
			kw string
			re *regexp.Regexp
		}{{"BEGIN ", refPemBegin}, {"END ", refPemEnd}} {
			s, e := pemLine(text, from, l.kw)
			want := l.re.FindIndex(text[from:])
			if want == nil && s >= 0 || want != nil && (s != from+want[0] || e != from+want[1]) {
				t.Fatalf("pemLine(%q, %d, %q) = %d, %d; regexp: %v", text, from, l.kw, s, e, want)
			}
		}
	}
}

// refSeedTexts are realistic texts and the values of every stored fuzz
// input of the package.
func refSeedTexts(t testing.TB) [][]byte {
	out := [][]byte{stBenchText()[:2<<10], []byte(stText), benchText()[:2<<10]}
	for _, c := range canaries {
		out = append(out, []byte("x "+c.before+c.value+" y"))
	}
	for _, s := range []string{
		`{"Credentials":{"AccessKeyId":"ASIAY34FZKBOKMUTVV7A","SecretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY","SessionToken":"FwoGZXIvYXdzEJr//////////wEaDM"}}`,
		"[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
		"Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U\r\n",
		"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0. eyJhbGciOiJub25lIn0==.a.b.c.d.e eyJhbGciOiJub25lIn0.a=.b==eyJhbGciOiJub25lIn0.a.b",
		"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\nIIb\"} -----BEGIN OPENSSH PRIVATE KEY-----\\nb3Bl\\n-----END OPENSSH PRIVATE KEY-----",
		"id,name,card,ssn,email\n1,Ann,4111-1111-1111-1111,078-05-1120,ann.lee+x@mail.example.co.uk\n2,Bob,3782 822463 10005,219-55-7342,bob@ex-ample.org.\n",
		"Order 12 4111 1111 1111 1111 paid 0.4111111111111111 at 1732608000000 ref 5555555555554444x 6011111111111117.5",
		"root@localhost user@10.0.0.1 a @ b.com .bob@example.com bob.@example.com x@y.z-.com a@b..com a@-b.com",
	} {
		out = append(out, []byte(s))
	}
	// Every []byte("...") or string("...") in the stored fuzz inputs.
	files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "*", "*"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			for _, pre := range []string{"[]byte(", "string("} {
				if v, ok := strings.CutPrefix(line, pre); ok {
					if s, err := strconv.Unquote(strings.TrimSuffix(v, ")")); err == nil {
						out = append(out, []byte(s))
					}
				}
			}
		}
	}
	return out
}

// FuzzDetectorsMatchReference: the built-in detectors find what the
// reference copies of the old ones find, in the fuzzer's bytes and in
// text built from its recipe of detector-shaped pieces.
func FuzzDetectorsMatchReference(f *testing.F) {
	for _, s := range refSeedTexts(f) {
		f.Add(s, []byte(nil))
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 32 {
		f.Add([]byte(nil), refRandomRecipe(rng, 60))
	}
	f.Fuzz(func(t *testing.T, raw, recipe []byte) {
		refCheck(t, raw)
		refCheckParts(t, raw)
		if len(recipe) > 0 {
			r := refRecipe(recipe)
			refCheck(t, r)
			refCheckParts(t, r)
			refCheck(t, slices.Concat(raw, r, raw))
		}
	})
}

// TestDetectorsMatchReference runs the fuzz target's checks on the seeds
// and on random recipes.
func TestDetectorsMatchReference(t *testing.T) {
	for _, s := range refSeedTexts(t) {
		refCheck(t, s)
		refCheckParts(t, s)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	n := 2000
	if testing.Short() {
		n = 200
	}
	for range n {
		r := refRecipe(refRandomRecipe(rng, 120))
		refCheck(t, r)
		refCheckParts(t, r)
	}
}

// refRandomRecipe picks up to n pieces and bytes the detectors look at,
// in a random mix.
func refRandomRecipe(rng *rand.Rand, n int) []byte {
	const bytes = " \n\t-.=_+/0123456789eywAKIS@abcxyzZ:\"'\\>,"
	r := make([]byte, rng.IntN(n))
	lit := rng.IntN(6)
	for i := range r {
		switch k := rng.IntN(16); {
		case k == 0:
			r[i] = byte(rng.IntN(256))
		case k < 1+2*lit:
			r[i] = bytes[rng.IntN(len(bytes))]
		default:
			r[i] = 0x80 + byte(rng.IntN(len(refPieces)))
		}
	}
	return r
}

// The character class table agrees with the reference's comparisons.
func TestCharClasses(t *testing.T) {
	for i := range 256 {
		c := byte(i)
		for _, k := range []struct {
			name     string
			got, ref bool
		}{
			{"digit", isDigit(c), refIsDigit(c)},
			{"alpha", isAlpha(c), refIsAlpha(c)},
			{"alnum", isAlnum(c), refIsAlnum(c)},
			{"b64", isB64(c), refIsB64(c)},
			{"b64url", isB64URL(c), refIsB64URL(c)},
			{"local", isLocal(c), refIsLocal(c)},
			{"domain", isDomain(c), refIsDomain(c)},
			{"pem", isPEMBody(c), refIsPEMBody(c)},
			{"card", isCardByte(c), refIsDigit(c) || c == ' ' || c == '-'},
			{"ssn", isSSNByte(c), refIsDigit(c) || c == '-'},
		} {
			if k.got != k.ref {
				t.Errorf("%s(%q) = %v, reference %v", k.name, c, k.got, k.ref)
			}
		}
	}
}
