package awsapi

import (
	"net/url"
	"strings"
)

// rest matches the request against a REST service's URI templates: method,
// path (literal segments, {Label} and greedy {Label+}), static query
// literals (?uploads, ?list-type=2) and the query keys and headers bound to
// required members (?uploadId&partNumber, x-amz-copy-source). The most
// specific match wins: more literal segments, then more labels, then a
// non-greedy end, then more query and header constraints.
func (d *describer) rest(s *serviceTable) (*op, int) {
	path := d.r.URL.EscapedPath()
	virtual := false
	if s.name == "s3" {
		if !d.s3ok {
			d.s3, d.s3ok = parseS3Host(d.host), true
		}
		if d.s3.kind == s3Other {
			return nil, 0
		}
		virtual = d.s3.bucket != ""
	}
	var best *op
	bestScore, tied := -1, false
	for i := range s.ops {
		o := &s.ops[i]
		if o.method != d.r.Method {
			continue
		}
		tmpl, ok := d.template(o, virtual)
		if !ok {
			continue
		}
		score, ok := matchPath(tmpl, path, nil)
		if !ok {
			continue
		}
		n, ok := d.constraints(o)
		if !ok {
			continue
		}
		score += n
		// ListBuckets and ListDirectoryBuckets share GET /: the latter is
		// served only by s3express-control.
		switch {
		case score > bestScore:
			best, bestScore, tied = o, score, false
		case score == bestScore && o.name == "ListDirectoryBuckets":
			if d.s3.express {
				best = o
			}
		case score == bestScore:
			tied = true
		}
	}
	if tied {
		// Two operations fit equally well (GET /b?acl&policy): AWS
		// will act as one of them, and which is not ours to guess.
		return nil, 0
	}
	return best, bestScore
}

// template is the path template to match: for an S3 virtual-host request
// the bucket came in the Host, so only templates that start with the
// bucket label apply, without it.
func (d *describer) template(o *op, virtual bool) (string, bool) {
	if !virtual {
		return o.path, true
	}
	const b = "/{Bucket}"
	if !strings.HasPrefix(o.path, b) {
		return "", false
	}
	return o.path[len(b):], true
}

// matchPath matches an escaped request path against a template and calls
// capture with each label's raw (still escaped) value. The score counts
// literal segments, labels and whether the template ends without a greedy
// label. A single trailing slash on either side is not significant, except
// inside a greedy label (an S3 key "dir/").
func matchPath(tmpl, path string, capture func(label, raw string)) (int, bool) {
	t := strings.TrimPrefix(tmpl, "/")
	t = strings.TrimSuffix(t, "/")
	if !strings.HasPrefix(path, "/") {
		return 0, false
	}
	p := path[1:]
	more := p != ""
	score := 10 // a non-greedy end, unless a greedy label takes the rest
	for t != "" {
		var seg string
		seg, t, _ = strings.Cut(t, "/")
		if len(seg) > 2 && seg[0] == '{' && seg[len(seg)-1] == '}' {
			name := seg[1 : len(seg)-1]
			if greedy := strings.HasSuffix(name, "+"); greedy {
				if t != "" || !more || p == "" {
					return 0, false
				}
				if capture != nil {
					capture(name[:len(name)-1], p)
				}
				return score - 10 + 20, true
			}
			if !more {
				return 0, false
			}
			var rseg string
			rseg, p, more = strings.Cut(p, "/")
			if rseg == "" {
				return 0, false
			}
			if capture != nil {
				capture(name, rseg)
			}
			score += 20
			continue
		}
		if !more {
			return 0, false
		}
		var rseg string
		rseg, p, more = strings.Cut(p, "/")
		if rseg != seg && !escapedEqual(rseg, seg) {
			return 0, false
		}
		score += 1000
	}
	if more && p != "" {
		return 0, false
	}
	return score, true
}

// escapedEqual compares a path segment that percent-encodes characters
// needlessly with a literal, as AWS decodes it before routing.
func escapedEqual(raw, lit string) bool {
	if strings.IndexByte(raw, '%') < 0 {
		return false
	}
	u, err := url.PathUnescape(raw)
	return err == nil && u == lit
}

// constraints checks the template's query literals and the required query
// keys and headers, and counts them.
func (d *describer) constraints(o *op) (int, bool) {
	n := 0
	if o.query != "" {
		q := d.urlQuery()
		rest := o.query
		for rest != "" {
			var kv string
			kv, rest, _ = strings.Cut(rest, "&")
			k, v, hasValue := strings.Cut(kv, "=")
			got, ok := q[k]
			if !ok || (hasValue && (len(got) == 0 || got[0] != v)) {
				return 0, false
			}
			n++
		}
	}
	if len(o.reqQuery) > 0 {
		q := d.urlQuery()
		for _, k := range o.reqQuery {
			if _, ok := q[k]; !ok {
				return 0, false
			}
			n++
		}
	}
	for _, h := range o.reqHeader {
		if headerValue(d.r.Header, h) == "" {
			return 0, false
		}
		n++
	}
	return n, true
}

// headerValue looks a lower-case header name up in canonical form first,
// then in whatever spelling a hand-built request used.
func headerValue(h map[string][]string, lower string) string {
	if v := h[canonical(lower)]; len(v) > 0 {
		return v[0]
	}
	for k, v := range h {
		if len(v) > 0 && strings.EqualFold(k, lower) {
			return v[0]
		}
	}
	return ""
}

// canonical is textproto's canonical form for the few header names the
// tables hold, without allocating for the common ones.
func canonical(lower string) string {
	switch lower {
	case "x-amz-copy-source":
		return "X-Amz-Copy-Source"
	case "x-amz-object-attributes":
		return "X-Amz-Object-Attributes"
	case "x-amz-rename-source":
		return "X-Amz-Rename-Source"
	}
	b := []byte(lower)
	up := true
	for i, c := range b {
		if up && 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
		up = c == '-'
	}
	return string(b)
}

// restParams fills Params from the matched template's labels (the S3
// bucket from the Host in virtual-host style) and bound query parameters.
func (d *describer) restParams(s *serviceTable, o *op, p map[string]any) {
	virtual := s.name == "s3" && d.s3.bucket != ""
	if virtual {
		p["Bucket"] = d.s3.bucket
	}
	tmpl, _ := d.template(o, virtual)
	matchPath(tmpl, d.r.URL.EscapedPath(), func(label, raw string) {
		m := memberByWire(o.labels, label)
		if m == nil || m.secret {
			return
		}
		v, err := url.PathUnescape(raw)
		if err != nil {
			v = raw
		}
		p[m.field] = v
	})
	if len(o.queries) == 0 || d.r.URL.RawQuery == "" {
		return
	}
	q := d.urlQuery()
	for _, m := range o.queries {
		v := q[m.wire]
		if m.secret || len(v) == 0 {
			continue
		}
		if len(v) == 1 {
			p[m.field] = v[0]
		} else {
			p[m.field] = append([]string(nil), v...)
		}
	}
}
