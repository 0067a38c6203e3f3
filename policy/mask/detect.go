package mask

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
)

// Detector names, as they appear in profiles and reports.
const (
	DetAccessKeyID = "aws-access-key-id"
	DetSecretKey   = "aws-secret-access-key"
	DetPrivateKey  = "private-key"
	DetJWT         = "jwt"
	DetEmail       = "email"
	DetCard        = "card"
	DetSSN         = "ssn"
)

// Match is one detector's find in a text.
type Match struct {
	Start, End int // byte range [Start, End)
	Detector   string
}

// FindAll runs every detector over b and returns their matches in order,
// without overlaps: where two overlap, the one that starts first wins, and
// of two that start together the longer one.
func FindAll(b []byte, ds []Detector) []Match {
	var ms []Match
	for _, d := range ds {
		for _, r := range d.Find(b) {
			if r[0] < r[1] {
				ms = append(ms, Match{r[0], r[1], d.Name()})
			}
		}
	}
	if len(ms) < 2 {
		return ms
	}
	sort.SliceStable(ms, func(i, j int) bool {
		if ms[i].Start != ms[j].Start {
			return ms[i].Start < ms[j].Start
		}
		return ms[i].End > ms[j].End
	})
	out := ms[:1]
	for _, m := range ms[1:] {
		if m.Start >= out[len(out)-1].End {
			out = append(out, m)
		}
	}
	return out
}

// Detector constructors. The built-in ones are stateless values, safe for
// concurrent use like every Detector here.

// AccessKeyID finds AWS access key ids: AKIA (long-term) and ASIA
// (temporary) followed by 16 upper-case letters or digits, standing alone
// (not inside a longer word). The other AWS id prefixes (AIDA, AROA, ...)
// name principals, not credentials, and are left alone.
func AccessKeyID() Detector { return accessKeyID{} }

type accessKeyID struct{}

func (accessKeyID) Name() string { return DetAccessKeyID }
func (accessKeyID) MaxLen() int  { return 20 + 2 } // the key and a boundary byte either side

func (accessKeyID) Find(b []byte) [][2]int {
	var out [][2]int
	for i := 0; i+20 <= len(b); {
		j := bytes.Index(b[i:], []byte("A"))
		if j < 0 {
			break
		}
		i += j
		if i+20 <= len(b) && isKeyID(b[i:i+20]) && !isAlnum(at(b, i-1)) && !isAlnum(at(b, i+20)) {
			out = append(out, [2]int{i, i + 20})
			i += 20
			continue
		}
		i++
	}
	return out
}

func isKeyID(b []byte) bool {
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

// SecretAccessKey finds AWS secret access keys: 40 characters of
// [A-Za-z0-9/+] standing alone. Any SHA-1 in hex, base64 of 30 bytes or
// random token has that shape, so a candidate is a match only in the
// company of a credential:
//
//   - right after a secret-key field name and its separator
//     ("SecretAccessKey": "…", <SecretAccessKey>…, aws_secret_access_key = …,
//     AWS_SECRET_ACCESS_KEY=…, secret_key: …), or
//   - within 128 bytes of an access key id (AKIA…/ASIA…), as in a CSV of
//     credentials or "AKIA… / …" in a note.
//
// Candidates of hex digits only, or without both lower- and upper-case
// letters, are never matches: real keys are random base64, which has all
// of them, and hex digests do not. Field rules catch secret keys this
// misses (the default profile masks SecretAccessKey in STS, IAM, SSO and
// Cognito responses by field, whatever its shape).
func SecretAccessKey() Detector { return secretKey{} }

type secretKey struct{}

const secretKeyWindow = 128

func (secretKey) Name() string { return DetSecretKey }
func (secretKey) MaxLen() int  { return 40 + 2*secretKeyWindow + 2 }

// secretKeyName matches a secret-key field name and its separator at the
// end of the text before a candidate.
// The quotes may be escaped: JSON held in a JSON string, as S3 objects
// and SecretStrings often are.
var secretKeyName = regexp.MustCompile(`(?i)(secret[_\-. ]?(access[_\-. ]?)?key|secretaccesskey|aws_secret)\\?["']?\s*(:|=|=>|>)\s*\\?["']?$`)

func (secretKey) Find(b []byte) [][2]int {
	var out [][2]int
	// Candidates are the maximal runs of base64 characters 40 long. Any
	// that starts in b[i:i+40] covers b[i+39], so a byte there outside
	// base64 skips 40 bytes at once; else the run through it is read
	// whole. Invariant: i is 0 or b[i-1] is not base64.
	for i := 0; i+40 <= len(b); {
		p := i + 39
		if !isB64(b[p]) {
			i = p + 1
			continue
		}
		r := p // the start of the run through p: at i at the earliest
		for r > i && isB64(b[r-1]) {
			r--
		}
		j := p + 1
		for j < len(b) && isB64(b[j]) {
			j++
		}
		if j-r == 40 && at(b, j) != '=' && randomLooking(b[r:j]) && secretContext(b, r, j) {
			out = append(out, [2]int{r, j})
		}
		i = j + 1
	}
	return out
}

func randomLooking(s []byte) bool {
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

func secretContext(b []byte, i, j int) bool {
	lo := max(0, i-secretKeyWindow)
	if secretKeyName.Match(b[lo:i]) {
		return true
	}
	hi := min(len(b), j+secretKeyWindow)
	return len(AccessKeyID().Find(b[lo:i])) > 0 || len(AccessKeyID().Find(b[j:hi])) > 0
}

// PrivateKey finds PEM private keys, the whole block from
// "-----BEGIN … PRIVATE KEY-----" to its END line (RSA, EC, DSA, OpenSSH,
// PKCS#8, encrypted PKCS#8), also when the newlines are JSON escapes. A
// BEGIN line without an END within MaxLen masks the key body that follows
// it: a truncated key still leaks.
func PrivateKey() Detector { return privateKey{} }

type privateKey struct{}

const privateKeyMax = 16 << 10 // an RSA-8192 key is about 6.5 KiB of PEM

func (privateKey) Name() string { return DetPrivateKey }
func (privateKey) MaxLen() int  { return privateKeyMax }

// The BEGIN and END lines are what the leftmost-first regexps
//
//	-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY-----
//	-----END ([A-Z0-9]+ )*PRIVATE KEY-----
//
// find; pemLine reads them by hand.

func (privateKey) Find(b []byte) [][2]int {
	var out [][2]int
	for i := 0; i < len(b); {
		start, bodyAt := pemLine(b, i, "BEGIN ")
		if start < 0 {
			break
		}
		limit := min(len(b), start+privateKeyMax)
		end := bodyAt
		if _, e := pemLine(b[:limit], bodyAt, "END "); e >= 0 {
			end = e
		} else {
			for end < limit && isPEMBody(b[end]) {
				end++
			}
		}
		out = append(out, [2]int{start, end})
		i = end
	}
	return out
}

// pemLine finds the first "-----" kw ([A-Z0-9]+ )* "PRIVATE KEY-----"
// in b[from:], kw "BEGIN " or "END ", and returns its range, or -1, -1.
// It looks for kw, rarer in text than the dashes. The labels between kw
// and PRIVATE are words that each end at a space, so there is one way to
// read them: the regexp's.
func pemLine(b []byte, from int, kw string) (int, int) {
	const tail = "PRIVATE KEY-----"
	for k := from + 5; k < len(b); k++ {
		j := bytes.Index(b[k:], []byte(kw))
		if j < 0 {
			break
		}
		k += j // b[k:] starts with kw, at least 5 bytes into b[from:]
		if string(b[k-5:k]) != "-----" {
			continue
		}
		for q := k + len(kw); ; {
			if bytes.HasPrefix(b[q:], []byte(tail)) {
				return k - 5, q + len(tail)
			}
			w := q
			for w < len(b) && (b[w] >= 'A' && b[w] <= 'Z' || isDigit(b[w])) {
				w++
			}
			if w == q || w == len(b) || b[w] != ' ' {
				break
			}
			q = w + 1
		}
	}
	return -1, -1
}

func isPEMBody(c byte) bool {
	return isB64(c) || c == '=' || c == ':' || c == ',' || c == '-' || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\\'
}

// JWT finds JSON Web Tokens (and JWEs): dot-separated base64url parts
// whose first part decodes to a JSON object with an "alg" string. The
// check on the header keeps dotted identifiers and version strings out.
func JWT() Detector { return jwt{} }

type jwt struct{}

const jwtMax = 16 << 10

func (jwt) Name() string { return DetJWT }
func (jwt) MaxLen() int  { return jwtMax }

// A JSON object's base64url starts "ey" ({") or "ew" ({ followed by a
// newline); the header part is at least {"alg":"x"}, 15 characters. A
// candidate is what the leftmost-first regular expression
//
//	e[wy][A-Za-z0-9_-]{13,}={0,2}(\.[A-Za-z0-9_-]*={0,2}){2,4}
//
// finds (FindAllIndex): Find reads it by hand, since the regexp would
// start a match at every 'e' of a text.
func (jwt) Find(b []byte) [][2]int {
	var out [][2]int
	c := jwtCandidates{b: b}
	for {
		s, e := c.next()
		if s < 0 {
			return out
		}
		if isB64URL(at(b, s-1)) || isB64URL(at(b, e)) || at(b, e) == '.' {
			continue
		}
		head := b[s:e]
		head = bytes.TrimRight(head[:bytes.IndexByte(head, '.')], "=")
		if jwtHeader(head) {
			out = append(out, [2]int{s, e})
		}
	}
}

// jwtCandidates yields the candidates in b, in order: the matches of
// the candidate expression's FindAllIndex.
type jwtCandidates struct {
	b       []byte
	pos     int // where the next match is looked for
	ey, ew  int // the next "ey" and "ew" at or after pos; -1: none
	started bool
}

// next returns the next candidate's range, or -1, -1.
func (c *jwtCandidates) next() (int, int) {
	if !c.started {
		c.ey, c.ew, c.started = indexEFrom(c.b, 0, 'y'), indexEFrom(c.b, 0, 'w'), true
	}
	for {
		if c.ey >= 0 && c.ey < c.pos {
			c.ey = indexEFrom(c.b, c.pos, 'y')
		}
		if c.ew >= 0 && c.ew < c.pos {
			c.ew = indexEFrom(c.b, c.pos, 'w')
		}
		s := c.ey
		if s < 0 || c.ew >= 0 && c.ew < s {
			s = c.ew
		}
		if s < 0 {
			return -1, -1
		}
		e, ok := jwtCandidateAt(c.b, s)
		c.pos = e
		if ok {
			return s, e
		}
	}
}

// indexEFrom is the index of the first "e" followed by c in b at or
// after from, or -1. It looks for c, rarer in text than 'e'.
func indexEFrom(b []byte, from int, c byte) int {
	for k := from + 1; k < len(b); k++ {
		j := bytes.IndexByte(b[k:], c)
		if j < 0 {
			return -1
		}
		if k += j; b[k-1] == 'e' {
			return k - 1
		}
	}
	return -1
}

// jwtCandidateAt matches the candidate expression at s, where b[s:]
// starts "ey" or "ew". All its parts are greedy and each stops at a byte
// the next part cannot start with, so the expression matches at most one
// way there: the longest base64url run, up to two '=', then two to four
// parts each '.', a run and up to two '='. It returns the end of the
// match, or (when there is none) the end of the first run: the regexp
// finds no match starting before it either, since a start later in the
// same run has a shorter first run and the same text after it.
func jwtCandidateAt(b []byte, s int) (int, bool) {
	k := skipB64URL(b, s+2)
	if k-(s+2) < 13 {
		return k, false
	}
	e := skipPad(b, k)
	parts := 0
	for parts < 4 && e < len(b) && b[e] == '.' {
		e = skipPad(b, skipB64URL(b, e+1))
		parts++
	}
	if parts < 2 {
		return k, false
	}
	return e, true
}

func skipB64URL(b []byte, i int) int {
	for i < len(b) && isB64URL(b[i]) {
		i++
	}
	return i
}

// skipPad skips up to two '='.
func skipPad(b []byte, i int) int {
	for k := 0; k < 2 && i < len(b) && b[i] == '='; k++ {
		i++
	}
	return i
}

func jwtHeader(part []byte) bool {
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

// Email finds e-mail addresses: a local part of letters, digits and
// ._%+-, '@', and a domain of at least two labels whose last is two or
// more letters. user@localhost and "a @ b" are not matches.
func Email() Detector { return email{} }

type email struct{}

func (email) Name() string { return DetEmail }
func (email) MaxLen() int  { return 64 + 1 + 253 + 2 }

func isLocal(c byte) bool  { return charClass[c]&clLocal != 0 }
func isDomain(c byte) bool { return charClass[c]&clDomain != 0 }

func (email) Find(b []byte) [][2]int {
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
		for s > last && at-s < 64 && isLocal(b[s-1]) {
			s--
		}
		for s < at && b[s] == '.' {
			s++
		}
		if s == at || b[at-1] == '.' {
			continue
		}
		e := at + 1
		for e < len(b) && e-at <= 253 && isDomain(b[e]) {
			e++
		}
		e = domainEnd(b[at+1 : e])
		if e < 0 {
			continue
		}
		e += at + 1
		out = append(out, [2]int{s, e})
		last, i = e, e
	}
	return out
}

// domainEnd returns the length of the domain at the start of d (trailing
// dots and hyphens dropped: "mail me at a@b.com."), or -1 when it is not
// one: fewer than two labels, an empty label, or a top-level label that is
// not two or more letters.
func domainEnd(d []byte) int {
	d = bytes.TrimRight(d, ".-")
	labels := 0
	for start := 0; ; {
		k := bytes.IndexByte(d[start:], '.')
		if k < 0 {
			k = len(d)
		} else {
			k += start
		}
		l := d[start:k]
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return -1
		}
		labels++
		if k == len(d) {
			if labels < 2 || len(l) < 2 {
				return -1
			}
			for _, c := range l { // the top-level label
				if !isAlpha(c) {
					return -1
				}
			}
			return len(d)
		}
		start = k + 1
	}
}

// Card finds payment card numbers: 13 to 19 digits, optionally in groups
// separated by single spaces or dashes, that pass the Luhn check and start
// with a card network's prefix (Visa, Mastercard, American Express,
// Discover, Diners, JCB, UnionPay, Maestro). The prefix check keeps epoch
// milliseconds and most ids out, the Luhn check the rest of all but one in
// ten; a number inside a longer run of digits, or a decimal fraction
// (0.4111111111111111), is not a card.
func Card() Detector { return card{} }

type card struct{}

func (card) Name() string { return DetCard }
func (card) MaxLen() int  { return 19 + 18 + 2 }

func (card) Find(b []byte) [][2]int {
	var out [][2]int
	// The groups of the run being read: one backing array for the whole
	// call (runs of more than len(gbuf) groups are rare: "1 2 3 4 ...").
	var gbuf [24][2]int
	groups := gbuf[:0]
	// A card is 13 bytes or more of digits, each space or dash between
	// two digits. Any card, or run of digit groups long enough to hold
	// one, that starts in b[i:i+13] covers b[i+12]: a byte there that
	// cannot be inside one skips 13 at once. Else the card bytes around
	// it are read as runs, from the byte after the last other byte.
	// Invariant: no run of digit groups starts before i and goes on past
	// it: reading runs from i finds what reading them from 0 would.
	for i := 0; i+13 <= len(b); {
		p := i + 12
		if c := b[p]; !isCardByte(c) || !isDigit(c) && !(isDigit(b[p-1]) && isDigit(at(b, p+1))) {
			i = p + 1
			continue
		}
		r := p
		for r > i && isCardByte(b[r-1]) {
			r--
		}
		var q int
		out, groups, q = cardRuns(out, groups, b, r)
		i = q + 1
	}
	return out
}

// cardRuns appends the cards in the runs of digit groups that start in
// the card bytes from r to the next other byte q, and returns q (or
// len(b)). No run starts before r and goes on past it.
func cardRuns(out, groups [][2]int, b []byte, r int) ([][2]int, [][2]int, int) {
	for i := r; i < len(b); {
		if c := b[i]; !isDigit(c) {
			if !isCardByte(c) {
				return out, groups, i
			}
			i++
			continue
		}
		if i > 0 && (isAlnum(b[i-1]) || b[i-1] == '.' && isDigit(at(b, i-2))) {
			// Inside a word or a decimal fraction, as is every digit
			// that follows this one.
			for i++; i < len(b) && isDigit(b[i]); i++ {
			}
			continue
		}
		// A run of digit groups, each separated by one space or dash. Most
		// are too short to hold a card: count its digits first.
		n, j := 0, i // digits in the run, its end
		for {
			s := j
			for j < len(b) && isDigit(b[j]) {
				j++
			}
			n += j - s
			if j+1 < len(b) && (b[j] == ' ' || b[j] == '-') && isDigit(b[j+1]) {
				j++
				continue
			}
			break
		}
		end := j
		if n >= 13 {
			groups = groups[:0]
			for j := i; j < end; {
				s := j
				for j < end && isDigit(b[j]) {
					j++
				}
				groups = append(groups, [2]int{s, j})
				j++ // the separator
			}
			if isAlpha(at(b, end)) || at(b, end) == '.' && isDigit(at(b, end+1)) {
				// "4111111111111111abc" or "...1111.5": a token, not a card
				// (its leading groups may still be one).
				groups = groups[:len(groups)-1]
			}
			out = cardsIn(out, b, groups)
		}
		if end == len(b) || !isCardByte(b[end]) {
			return out, groups, end
		}
		i = end + 1
	}
	return out, groups, len(b)
}

// cardsIn appends to out the cards among consecutive groups of a run,
// leftmost first, longest first: "Order 12 4111 1111 1111 1111" holds one.
func cardsIn(out [][2]int, b []byte, groups [][2]int) [][2]int {
	for g := 0; g < len(groups); {
		found := -1
		n := 0
		for h := g; h < len(groups) && n <= 19; h++ {
			n += groups[h][1] - groups[h][0]
			if n >= 13 && n <= 19 && validCard(b[groups[g][0]:groups[h][1]]) {
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

// validCard says whether the digits of s (13 to 19 of them, with any
// separators) are a card number: issuer prefix and length, Luhn.
func validCard(s []byte) bool {
	var d [19]byte
	n := 0
	for _, c := range s {
		if isDigit(c) {
			if n == len(d) {
				return false // more than 19 digits: no issuer has them
			}
			d[n] = c - '0'
			n++
		}
	}
	return n > 0 && cardPrefix(d[:n]) && luhn(d[:n])
}

func luhn(d []byte) bool {
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

// cardPrefix checks the issuer prefix and length of the digits d (at
// least 4 of them).
func cardPrefix(d []byte) bool {
	n := len(d)
	if n < 4 {
		return false
	}
	p2 := int(d[0])*10 + int(d[1]) // the first 2, 3, 4 digits as numbers
	p3 := p2*10 + int(d[2])
	p4 := p3*10 + int(d[3])
	switch {
	case d[0] == 4: // Visa
		return n == 13 || n == 16 || n == 19
	case p2 == 34 || p2 == 37: // American Express
		return n == 15
	case p2 >= 51 && p2 <= 55, p4 >= 2221 && p4 <= 2720: // Mastercard
		return n == 16
	case p2 == 36, p2 == 38, p2 == 39, p3 >= 300 && p3 <= 305: // Diners
		return n >= 14 && n <= 19
	case p4 >= 3528 && p4 <= 3589: // JCB
		return n >= 16 && n <= 19
	case p4 == 6011, p2 == 65, p3 >= 644 && p3 <= 649, p2 == 62: // Discover, UnionPay
		return n >= 16 && n <= 19
	case p2 == 50, p2 >= 56 && p2 <= 69: // Maestro
		return n >= 13 && n <= 19
	}
	return false
}

// SSN finds US social security numbers written NNN-NN-NNNN, except those
// the SSA never issues: area 000, 666 or 900–999, group 00, serial 0000.
// Nine digits without dashes are too often something else to mask by
// shape; name the field instead.
func SSN() Detector { return ssn{} }

type ssn struct{}

func (ssn) Name() string { return DetSSN }
func (ssn) MaxLen() int  { return 11 + 2 }

func (ssn) Find(b []byte) [][2]int {
	var out [][2]int
	// Every NNN-NN-NNNN that starts in b[i:i+11] covers b[i+10]: a byte
	// there other than a digit or a dash skips 11 at once. Else each
	// place in the digits and dashes around it is tried. Two numbers
	// cannot overlap (the first's dashes are not the second's digits).
	for i := 0; i+11 <= len(b); {
		p := i + 10
		if !isSSNByte(b[p]) {
			i = p + 1
			continue
		}
		r := p
		for r > i && isSSNByte(b[r-1]) {
			r--
		}
		q := p + 1
		for q < len(b) && isSSNByte(b[q]) {
			q++
		}
		for s := r; s+11 <= q; s++ {
			if b[s+3] == '-' && ssnAt(b, s) {
				out = append(out, [2]int{s, s + 11})
				s += 10
			}
		}
		i = q + 1
	}
	return out
}

// ssnAt says whether an SSN starts at s, standing alone.
func ssnAt(b []byte, s int) bool {
	if s+11 > len(b) || !ssnShape(b[s:s+11]) {
		return false
	}
	if prev := at(b, s-1); isAlnum(prev) || prev == '-' && isDigit(at(b, s-2)) {
		return false
	}
	if next := at(b, s+11); isAlnum(next) || next == '-' && isDigit(at(b, s+12)) {
		return false
	}
	return validSSN(b[s : s+11])
}

func ssnShape(s []byte) bool {
	for k, c := range s {
		if k == 3 || k == 6 {
			if c != '-' {
				return false
			}
		} else if !isDigit(c) {
			return false
		}
	}
	return true
}

func validSSN(s []byte) bool {
	area := string(s[0:3])
	return area != "000" && area != "666" && s[0] != '9' && string(s[4:6]) != "00" && string(s[7:11]) != "0000"
}

// Regexp is a custom detector: every leftmost-first match of expr (Go
// syntax, RE2), empty matches ignored. maxLen is the longest match a
// stream masker must find whole (1..64 KiB): it holds back that many
// bytes across chunk boundaries; in whole values (field rules, JSON and
// XML strings) longer matches are masked too.
func Regexp(name, expr string, maxLen int) (Detector, error) {
	if !validName(name) {
		return nil, fmt.Errorf("detector %q: name must be letters, digits, '.', '_' or '-'", name)
	}
	if maxLen < 1 || maxLen > maxCustomLen {
		return nil, fmt.Errorf("detector %s: max_len %d out of range: give the longest match, 1 to %d bytes", name, maxLen, maxCustomLen)
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("detector %s: compile pattern: %w", name, err)
	}
	if expr == "" {
		return nil, fmt.Errorf("detector %s: empty pattern: give the regular expression to mask", name)
	}
	return &regexpDet{name: name, re: re, maxLen: maxLen}, nil
}

const maxCustomLen = 64 << 10

type regexpDet struct {
	name   string
	re     *regexp.Regexp
	maxLen int
}

func (d *regexpDet) Name() string { return d.name }
func (d *regexpDet) MaxLen() int  { return d.maxLen }

func (d *regexpDet) Find(b []byte) [][2]int {
	var out [][2]int
	for _, loc := range d.re.FindAllIndex(b, -1) {
		if loc[0] < loc[1] {
			out = append(out, [2]int{loc[0], loc[1]})
		}
	}
	return out
}

// DenyList finds exact occurrences of the given strings (case-sensitive,
// anywhere, even inside words: a known secret is masked wherever it
// appears). Where two overlap, the leftmost and then the longest wins.
// Entries shorter than 4 bytes are refused: they would mask ordinary text.
func DenyList(name string, values []string) (Detector, error) {
	if !validName(name) {
		return nil, fmt.Errorf("deny list %q: name must be letters, digits, '.', '_' or '-'", name)
	}
	if len(values) == 0 {
		return nil, fmt.Errorf("deny list %s: no values: list the strings to mask", name)
	}
	d := &denyList{name: name}
	for _, v := range values {
		if len(v) < 4 {
			return nil, fmt.Errorf("deny list %s: value of %d bytes would mask ordinary text: give 4 bytes or more", name, len(v))
		}
		if len(v) > maxCustomLen {
			return nil, fmt.Errorf("deny list %s: value longer than %d bytes", name, maxCustomLen)
		}
		d.values = append(d.values, []byte(v))
		d.maxLen = max(d.maxLen, len(v))
	}
	slices.SortFunc(d.values, func(a, b []byte) int { return len(b) - len(a) })
	d.values = slices.CompactFunc(d.values, bytes.Equal)
	return d, nil
}

type denyList struct {
	name   string
	values [][]byte // longest first
	maxLen int
}

func (d *denyList) Name() string { return d.name }
func (d *denyList) MaxLen() int  { return d.maxLen }

func (d *denyList) Find(b []byte) [][2]int {
	var all [][2]int
	for _, v := range d.values {
		for i := 0; i < len(b); {
			j := bytes.Index(b[i:], v)
			if j < 0 {
				break
			}
			all = append(all, [2]int{i + j, i + j + len(v)})
			i += j + 1
		}
	}
	slices.SortFunc(all, func(x, y [2]int) int {
		if x[0] != y[0] {
			return x[0] - y[0]
		}
		return y[1] - x[1]
	})
	var out [][2]int
	for _, r := range all {
		if len(out) == 0 || r[0] >= out[len(out)-1][1] {
			out = append(out, r)
		}
	}
	return out
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// at is b[i], or 0 outside b: the ends of b count as boundaries.
func at(b []byte, i int) byte {
	if i < 0 || i >= len(b) {
		return 0
	}
	return b[i]
}

func isDigit(c byte) bool    { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool    { return charClass[c]&clAlpha != 0 }
func isAlnum(c byte) bool    { return charClass[c]&(clDigit|clAlpha) != 0 }
func isB64(c byte) bool      { return charClass[c]&clB64 != 0 }
func isB64URL(c byte) bool   { return charClass[c]&clB64URL != 0 }
func isCardByte(c byte) bool { return charClass[c]&clCard != 0 }
func isSSNByte(c byte) bool  { return charClass[c]&clSSN != 0 }

// Character classes of the detectors, looked up in one table (one load
// per byte where the detectors scan text).
const (
	clDigit  = 1 << iota // 0-9
	clAlpha              // A-Z a-z
	clB64                // base64: letters, digits, + /
	clB64URL             // base64url: letters, digits, - _
	clLocal              // an e-mail's local part: letters, digits, . _ % + -
	clDomain             // an e-mail's domain: letters, digits, . -
	clCard               // a card number's: digits, space, -
	clSSN                // an SSN's: digits, -
)

var charClass = func() (t [256]uint8) {
	for c := range 256 {
		var k uint8
		switch {
		case c >= '0' && c <= '9':
			k = clDigit
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			k = clAlpha
		}
		if k != 0 {
			k |= clB64 | clB64URL | clLocal | clDomain
		}
		switch c {
		case '+', '/':
			k |= clB64
		}
		switch c {
		case '-', '_':
			k |= clB64URL
		}
		switch c {
		case '.', '_', '%', '+', '-':
			k |= clLocal
		}
		switch c {
		case '.', '-':
			k |= clDomain
		}
		if c >= '0' && c <= '9' || c == ' ' || c == '-' {
			k |= clCard
		}
		if c >= '0' && c <= '9' || c == '-' {
			k |= clSSN
		}
		t[c] = k
	}
	return t
}()
