package awsapi

import (
	"encoding/json"
	"net/url"
)

// ambiguous reports a request that says two things where AWS reads one: a
// repeated query or form parameter that is not a list, a parameter in
// both the URL and the form with different values, a JSON body that
// repeats a top-level member, or a repeated X-Amz-Target or required
// header. Such a request never comes from an SDK, and which value AWS acts
// on is not ours to guess, so it is not identified.
func (d *describer) ambiguous(o *op, proto string) bool {
	for _, h := range o.reqHeader {
		if len(d.r.Header[canonical(h)]) > 1 {
			return true
		}
	}
	switch proto {
	case "query", "ec2query":
		q, f := d.urlQuery(), d.formBody()
		if repeats(q, nil) || repeats(f, nil) {
			return true
		}
		for k, v := range q {
			if fv, ok := f[k]; ok && fv[0] != v[0] {
				return true
			}
		}
	case "json":
		return len(d.r.Header["X-Amz-Target"]) > 1 || dupKeys(d.body)
	case "restxml", "restjson":
		q := d.urlQuery()
		for _, m := range o.queries {
			if len(q[m.wire]) > 1 && !contains(o.multi, m.wire) {
				return true
			}
		}
		return proto == "restjson" && dupKeys(d.body)
	}
	return false
}

func repeats(v url.Values, allowed []string) bool {
	for k, vs := range v {
		if len(vs) > 1 && !contains(allowed, k) {
			return true
		}
	}
	return false
}

// dupKeys reports whether a JSON object repeats a top-level key (after
// decoding escapes: "Table\u004eame" is TableName). It scans without
// allocating for keys without escapes; anything that is not an object is
// left to the decoder.
func dupKeys(b []byte) bool {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	var seen [16]string
	keys := seen[:0]
	i++
	for {
		i = skipSpace(b, i)
		if i >= len(b) || b[i] != '"' {
			return false
		}
		end, escaped := scanString(b, i)
		if end < 0 {
			return false
		}
		key := string(b[i+1 : end-1])
		if escaped {
			var s string
			if json.Unmarshal(b[i:end], &s) != nil {
				return false
			}
			key = s
		}
		for _, k := range keys {
			if k == key {
				return true
			}
		}
		keys = append(keys, key)
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipValue(b, skipSpace(b, i+1))
		if i < 0 {
			return false
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i++
		case '}':
			return false
		default:
			return false
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanString returns the index after the string starting at b[i] == '"',
// and whether its bytes differ from its decoded value: escapes, and
// non-ASCII bytes (encoding/json turns invalid UTF-8 into U+FFFD, so two
// different byte strings can decode to one key).
func scanString(b []byte, i int) (int, bool) {
	escaped := false
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '\\':
			escaped = true
			j++
		case c == '"':
			return j + 1, escaped
		case c >= 0x80:
			escaped = true
		}
	}
	return -1, false
}

// skipValue returns the index after the JSON value at b[i].
func skipValue(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		switch c := b[i]; c {
		case '"':
			end, _ := scanString(b, i)
			if end < 0 {
				return -1
			}
			i = end
			if depth == 0 {
				return i
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth < 0 {
				return i // the enclosing object's end
			}
			if depth == 0 {
				return i + 1
			}
		case ',':
			if depth == 0 {
				return i
			}
		}
		i++
	}
	return -1
}
