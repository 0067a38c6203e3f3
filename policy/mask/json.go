package mask

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrMalformed is wrapped by the errors of JSON and XML for a body that
// is not a well-formed document: the caller refuses it rather than pass
// it on unmasked.
var ErrMalformed = errors.New("malformed document")

// maxDepth bounds nesting: DynamoDB allows 32 levels, AWS responses a few
// more; a deeper document is refused rather than walked.
const maxDepth = 512

// JSON masks a JSON document: values under the field rules are replaced
// whole (strings by the replacer's text, numbers by 0 so typed SDKs still
// parse them, booleans and nulls kept, objects and arrays leaf by leaf
// with their keys kept), then every other string value is scanned by the
// detectors. Keys are never changed. Everything that is not masked is
// copied byte for byte, whitespace and number spellings included; when
// nothing is masked the result is doc itself.
//
// DynamoDB's typed AttributeValues are seen through: the path Item.ssn
// masks {"Item":{"ssn":{"S":"…"}}}, Item.address.zip goes through
// {"M":{…}}, Item.tags[*] through {"L":[…]}. A masked S or SS keeps its
// type; N, B, NS and BS become S and SS with the replacement, since "****"
// is neither a number nor base64; BOOL and NULL are kept.
//
// A document that does not parse, has data after its value or nests
// deeper than 512 levels is an error wrapping ErrMalformed, whether or not
// a rule would have matched: the caller must refuse it.
func (m *Masker) JSON(doc []byte) ([]byte, Report, error) {
	p := jsonParser{b: doc}
	root, err := p.document()
	if err != nil {
		return nil, nil, fmt.Errorf("mask JSON: %w: %w", ErrMalformed, err)
	}
	j := jsonMasker{m: m, b: doc}
	for i := range m.Fields {
		r := &m.Fields[i]
		for _, path := range r.Paths {
			j.match(root, nil, path.steps, r)
		}
	}
	j.walk(root)
	if len(j.edits) == 0 {
		return doc, j.report, nil
	}
	return splice(doc, j.edits), j.report, nil
}

// jnode is a parsed JSON value and where it is in the document.
type jnode struct {
	kind       byte // '{' '[' '"' '0' (number) 't' 'f' 'n'
	start, end int
	esc        bool     // a string with escapes
	keys, vals []*jnode // members of an object (keys are strings), elements of an array
	mark       *FieldRule
	avKnown    bool   // avType is set
	avType     string // DynamoDB AttributeValue type, "" when not one
}

type jsonParser struct {
	b     []byte
	i     int
	depth int
	slab  []jnode // nodes are allocated in chunks: a Scan response has tens of thousands
}

func (p *jsonParser) node(kind byte) *jnode {
	if len(p.slab) == cap(p.slab) {
		// Chunks are sized for the document (a typical value takes a
		// few bytes), up to 256 nodes: a small response does not pay
		// for a Scan's.
		p.slab = make([]jnode, 0, min(256, len(p.b)/4+4))
	}
	p.slab = append(p.slab, jnode{kind: kind, start: p.i})
	return &p.slab[len(p.slab)-1]
}

func (p *jsonParser) document() (*jnode, error) {
	n, err := p.value()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i != len(p.b) {
		return nil, fmt.Errorf("data after the document at offset %d", p.i)
	}
	return n, nil
}

func (p *jsonParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonParser) errf(format string, args ...any) error {
	return fmt.Errorf("offset %d: "+format, append([]any{p.i}, args...)...)
}

func (p *jsonParser) value() (*jnode, error) {
	p.space()
	if p.i >= len(p.b) {
		return nil, p.errf("unexpected end of input")
	}
	switch c := p.b[p.i]; {
	case c == '{' || c == '[':
		return p.container(c)
	case c == '"':
		return p.str()
	case c == '-' || isDigit(c):
		return p.number()
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	default:
		return nil, p.errf("unexpected %q", c)
	}
}

func (p *jsonParser) container(open byte) (*jnode, error) {
	p.depth++
	if p.depth > maxDepth {
		return nil, p.errf("nested more than %d levels", maxDepth)
	}
	defer func() { p.depth-- }()
	n := p.node(open)
	p.i++
	closer := byte('}')
	if open == '[' {
		closer = ']'
	}
	p.space()
	if p.i < len(p.b) && p.b[p.i] == closer {
		p.i++
		n.end = p.i
		return n, nil
	}
	for {
		if open == '{' {
			p.space()
			if p.i >= len(p.b) || p.b[p.i] != '"' {
				return nil, p.errf("want a member name")
			}
			k, err := p.str()
			if err != nil {
				return nil, err
			}
			p.space()
			if p.i >= len(p.b) || p.b[p.i] != ':' {
				return nil, p.errf("want ':' after a member name")
			}
			p.i++
			n.keys = append(n.keys, k)
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		n.vals = append(n.vals, v)
		p.space()
		if p.i >= len(p.b) {
			return nil, p.errf("unexpected end of input")
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case closer:
			p.i++
			n.end = p.i
			return n, nil
		default:
			return nil, p.errf("want ',' or %q", closer)
		}
	}
}

func (p *jsonParser) str() (*jnode, error) {
	n := p.node('"')
	p.i++
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			n.end = p.i
			return n, nil
		case c == '\\':
			n.esc = true
			if p.i+1 >= len(p.b) {
				return nil, p.errf("unterminated string")
			}
			switch p.b[p.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.i += 2
			case 'u':
				if p.i+6 > len(p.b) || !isHex4(p.b[p.i+2:p.i+6]) {
					return nil, p.errf("bad \\u escape")
				}
				p.i += 6
			default:
				return nil, p.errf("bad escape \\%c", p.b[p.i+1])
			}
		case c < 0x20:
			return nil, p.errf("control character in string")
		default:
			p.i++
		}
	}
	return nil, p.errf("unterminated string")
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !isDigit(c) && !(c >= 'a' && c <= 'f') && !(c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func (p *jsonParser) number() (*jnode, error) {
	n := p.node('0')
	b := p.b
	if p.i < len(b) && b[p.i] == '-' {
		p.i++
	}
	digits := func() int {
		s := p.i
		for p.i < len(b) && isDigit(b[p.i]) {
			p.i++
		}
		return p.i - s
	}
	switch {
	case p.i < len(b) && b[p.i] == '0':
		p.i++
	case digits() == 0:
		return nil, p.errf("bad number")
	}
	if p.i < len(b) && b[p.i] == '.' {
		p.i++
		if digits() == 0 {
			return nil, p.errf("bad number")
		}
	}
	if p.i < len(b) && (b[p.i] == 'e' || b[p.i] == 'E') {
		p.i++
		if p.i < len(b) && (b[p.i] == '+' || b[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return nil, p.errf("bad number")
		}
	}
	n.end = p.i
	return n, nil
}

func (p *jsonParser) literal(lit string) (*jnode, error) {
	if !bytes.HasPrefix(p.b[p.i:], []byte(lit)) {
		return nil, p.errf("bad literal")
	}
	n := p.node(lit[0])
	n.end = p.i + len(lit)
	p.i += len(lit)
	return n, nil
}

// text is the decoded value of a string node.
func (n *jnode) text(b []byte) []byte {
	raw := b[n.start+1 : n.end-1]
	if !n.esc {
		return raw
	}
	return unescapeJSON(raw)
}

// unescapeJSON decodes the inside of a string the parser accepted. Lone
// surrogates become U+FFFD, as encoding/json does.
func unescapeJSON(raw []byte) []byte {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		switch raw[i+1] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r := hex4(raw[i+2 : i+6])
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					if r2 := utf16.DecodeRune(r, hex4(raw[i+2:i+6])); r2 != utf8.RuneError {
						out = utf8.AppendRune(out, r2)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
			continue
		default: // " \ /
			out = append(out, raw[i+1])
		}
		i += 2
	}
	return out
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		r <<= 4
		switch {
		case isDigit(c):
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		default:
			r |= rune(c - 'A' + 10)
		}
	}
	return r
}

// appendJSONString encodes s as a JSON string, escaping only what JSON
// requires; bytes that are not UTF-8 are kept as they are.
func appendJSONString(dst, s []byte) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

type edit struct {
	start, end int
	with       []byte
}

// splice returns b with the edits (in order, not overlapping) applied.
func splice(b []byte, edits []edit) []byte {
	n := len(b)
	for _, e := range edits {
		n += len(e.with) - (e.end - e.start)
	}
	out := make([]byte, 0, n)
	at := 0
	for _, e := range edits {
		out = append(out, b[at:e.start]...)
		out = append(out, e.with...)
		at = e.end
	}
	return append(out, b[at:]...)
}

type jsonMasker struct {
	m      *Masker
	b      []byte
	edits  []edit
	report Report
}

// keyIs reports whether the i'th member of the object n is named key.
// Callers look at every member so named: a duplicate key must not hide a
// value from masking.
func (j *jsonMasker) keyIs(n *jnode, i int, key string) bool {
	k := n.keys[i]
	if !k.esc && k.end-k.start-2 != len(key) {
		return false
	}
	return string(k.text(j.b)) == key
}

func (j *jsonMasker) hasMember(n *jnode, key string) bool {
	for i := range n.keys {
		if j.keyIs(n, i, key) {
			return true
		}
	}
	return false
}

// avTypes are DynamoDB AttributeValue type keys and the JSON kind of their
// values.
var avTypes = map[string]byte{"S": '"', "N": '"', "B": '"', "SS": '[', "NS": '[', "BS": '[', "L": '[', "M": '{', "BOOL": 0, "NULL": 0}

// av returns the type and value of a DynamoDB AttributeValue: an object of
// one member whose key is a type and whose value has that type's shape.
func (j *jsonMasker) av(n *jnode) (string, *jnode) {
	if n.kind != '{' || len(n.keys) != 1 {
		return "", nil
	}
	if !n.avKnown {
		n.avKnown = true
		t := string(n.keys[0].text(j.b))
		want, ok := avTypes[t]
		v := n.vals[0]
		if ok && (want != 0 && v.kind == want || want == 0 && (v.kind == 't' || v.kind == 'f')) {
			n.avType = t
		}
	}
	if n.avType == "" {
		return "", nil
	}
	return n.avType, n.vals[0]
}

// match marks the nodes a path reaches from n; parent is the object n is
// a member of, for the rule's When.
func (j *jsonMasker) match(n, parent *jnode, steps []step, r *FieldRule) {
	if len(steps) == 0 {
		if n.mark == nil && j.when(parent, r) {
			n.mark = r
		}
		return
	}
	st := steps[0]
	if st.kind == stepAnyDepth {
		j.match(n, parent, steps[1:], r)
		switch n.kind {
		case '{':
			for _, v := range n.vals {
				j.match(v, n, steps, r)
			}
		case '[':
			for _, v := range n.vals {
				j.match(v, parent, steps, r)
			}
		}
		return
	}
	switch n.kind {
	case '{':
		if t, v := j.av(n); t == "M" && (st.kind != stepKey || !j.hasMember(n, st.key)) || t == "L" {
			j.match(v, parent, steps, r) // see through {"M":…} and {"L":…}
			return
		}
		switch st.kind {
		case stepKey:
			for i, v := range n.vals {
				if j.keyIs(n, i, st.key) {
					j.match(v, n, steps[1:], r)
				}
			}
		case stepAnyKey:
			for _, v := range n.vals {
				j.match(v, n, steps[1:], r)
			}
		}
	case '[':
		if st.kind == stepElem {
			steps = steps[1:]
		}
		// A key step on an array applies to its elements: Items.card
		// means Items[*].card, rather than masking nothing.
		for _, v := range n.vals {
			j.match(v, parent, steps, r)
		}
	}
}

// when reports whether the members of parent satisfy the rule's When: each
// named member a string (or a DynamoDB S) equal to the given value.
func (j *jsonMasker) when(parent *jnode, r *FieldRule) bool {
	if len(r.When) == 0 {
		return true
	}
	if parent == nil || parent.kind != '{' {
		return false
	}
	for k, want := range r.When {
		ok := false
		for i, v := range parent.vals {
			if !j.keyIs(parent, i, k) {
				continue
			}
			if t, inner := j.av(v); t == "S" {
				v = inner
			}
			if v.kind == '"' && string(v.text(j.b)) == want {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// walk masks marked nodes and scans the other strings, in document order
// so that the edits come out sorted.
func (j *jsonMasker) walk(n *jnode) {
	if n.mark != nil {
		j.maskValue(n, n.mark)
		return
	}
	switch n.kind {
	case '"':
		j.detect(n)
	case '{', '[':
		for _, v := range n.vals {
			j.walk(v)
		}
	}
}

func (j *jsonMasker) replace(r *FieldRule, v []byte) []byte {
	var out []byte
	if r.Replacer != nil {
		out = r.Replacer.Replace(r.Name, v)
	} else {
		out = j.m.replacer().Replace(r.Name, v)
	}
	if r.Base64 {
		out = []byte(base64.StdEncoding.EncodeToString(out))
	}
	j.report.add(r.Name, 1)
	return out
}

// maskValue replaces everything a field rule reached, leaf by leaf.
func (j *jsonMasker) maskValue(n *jnode, r *FieldRule) {
	switch n.kind {
	case '"':
		j.edits = append(j.edits, edit{n.start, n.end, appendJSONString(nil, j.replace(r, n.text(j.b)))})
	case '0':
		j.report.add(r.Name, 1)
		j.edits = append(j.edits, edit{n.start, n.end, []byte("0")})
	case '[':
		for _, v := range n.vals {
			j.maskValue(v, r)
		}
	case '{':
		t, v := j.av(n)
		switch t {
		case "", "S", "SS", "L", "M":
			if t == "" {
				v = n
			}
			for _, x := range v.vals {
				j.maskValue(x, r)
			}
			if t == "S" {
				j.maskValue(v, r)
			}
		case "N", "B", "NS", "BS":
			if (t == "NS" || t == "BS") && len(v.vals) == 0 {
				return // an empty set holds nothing to mask: left as it is
			}
			// "****" is neither a number nor base64: the value becomes a
			// string (set) so that SDKs still decode the item.
			var out []byte
			if t == "N" || t == "B" {
				out = appendJSONString([]byte(`{"S":`), j.replace(r, v.text(j.b)))
			} else {
				out = []byte(`{"SS":[`)
				for i, x := range v.vals {
					if i > 0 {
						out = append(out, ',')
					}
					if x.kind != '"' {
						// Not a member DynamoDB sends: replaced all the same.
						j.report.add(r.Name, 1)
						out = append(out, `""`...)
						continue
					}
					out = appendJSONString(out, j.replace(r, x.text(j.b)))
				}
				out = append(out, ']')
			}
			j.edits = append(j.edits, edit{n.start, n.end, append(out, '}')})
		}
	}
}

// detect scans one string value that no field rule reached.
func (j *jsonMasker) detect(n *jnode) {
	if len(j.m.Detectors) == 0 {
		return
	}
	s := n.text(j.b)
	ms := FindAll(s, j.m.Detectors)
	if len(ms) == 0 {
		return
	}
	j.edits = append(j.edits, edit{n.start, n.end, appendJSONString(nil, j.m.apply(s, ms, &j.report))})
}

// apply replaces the matches in s.
func (m *Masker) apply(s []byte, ms []Match, rep *Report) []byte {
	out := make([]byte, 0, len(s))
	at := 0
	for _, x := range ms {
		out = append(out, s[at:x.Start]...)
		out = append(out, m.replacer().Replace(x.Detector, s[x.Start:x.End])...)
		rep.add(x.Detector, 1)
		at = x.End
	}
	return append(out, s[at:]...)
}

// Text masks what the detectors find in b, a text without structure (a
// body that is neither JSON nor XML, a header). It never fails.
func (m *Masker) Text(b []byte) ([]byte, Report) {
	var rep Report
	ms := FindAll(b, m.Detectors)
	if len(ms) == 0 {
		return b, nil
	}
	return m.apply(b, ms, &rep), rep
}

// Report counts the values masked in one body, by the name of the field
// rule or detector that masked them. It never holds the values.
type Report map[string]int

func (r *Report) add(name string, n int) {
	if *r == nil {
		*r = Report{}
	}
	(*r)[name] += n
}

// Merge adds the counts of o to r.
func (r *Report) Merge(o Report) {
	for k, n := range o {
		r.add(k, n)
	}
}

// Total is the number of values masked.
func (r Report) Total() int {
	n := 0
	for _, c := range r {
		n += c
	}
	return n
}

// Names lists what masked something, sorted.
func (r Report) Names() []string {
	var out []string
	for k := range r {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
