package recorder

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// queryKeys are the terms ParseQuery takes, in the order String writes them.
var queryKeys = []string{"identity", "action", "resource", "decision", "session", "request_id", "error", "since", "until", "limit", "order"}

// ParseQuery reads a query as the CLI and the admin API take it: terms
// key=value separated by spaces, e.g.
//
//	identity=agent action=s3:Delete* decision=deny since=1h
//	resource=arn:aws:s3:::prod-* until=2026-11-26T10:00:00Z limit=50
//
// Keys: identity, action (glob), resource (glob), decision, session,
// request_id, error (the error code; error_code also works), since, until
// (a duration back from now such as 90m, 1h30m or 7d, an RFC 3339 time, or
// a date, midnight UTC), limit (a positive number, or all) and order
// (oldest, the default, or newest). A value with spaces or other
// unprintable characters is written as a Go string literal:
// resource="arn:aws:s3:::b/my key". An empty string is the empty Query.
func ParseQuery(s string, now time.Time) (Query, error) {
	var q Query
	seen := map[string]bool{}
	for i := 0; ; {
		for i < len(s) && isQuerySpace(s[i]) {
			i++
		}
		if i == len(s) {
			break
		}
		start := i
		for i < len(s) && !isQuerySpace(s[i]) && s[i] != '=' {
			i++
		}
		if i == len(s) || s[i] != '=' {
			return Query{}, fmt.Errorf("query term %q: want key=value, with keys %s", s[start:i], strings.Join(queryKeys, ", "))
		}
		key := strings.ToLower(s[start:i])
		i++
		var value string
		if i < len(s) && s[i] == '"' {
			end, ok := closingQuote(s, i)
			if !ok {
				return Query{}, fmt.Errorf("query term %q: unterminated quoted value", s[start:])
			}
			v, err := strconv.Unquote(s[i : end+1])
			if err != nil {
				return Query{}, fmt.Errorf("query term %q: quoted value: %w", s[start:end+1], err)
			}
			if i = end + 1; i < len(s) && !isQuerySpace(s[i]) {
				return Query{}, fmt.Errorf("query term %q: text after the closing quote", s[start:])
			}
			value = v
		} else {
			v := i
			for i < len(s) && !isQuerySpace(s[i]) {
				i++
			}
			value = s[v:i]
		}
		term := s[start:i]
		if key == "error_code" {
			key = "error"
		}
		if seen[key] {
			return Query{}, fmt.Errorf("query term %q: %s given twice", term, key)
		}
		seen[key] = true
		if value == "" {
			return Query{}, fmt.Errorf("query term %q: empty value", term)
		}
		if err := q.set(key, value, now); err != nil {
			return Query{}, fmt.Errorf("query term %q: %w", term, err)
		}
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
		return Query{}, fmt.Errorf("query: since %s is not before until %s", q.Since.Format(time.RFC3339), q.Until.Format(time.RFC3339))
	}
	return q, nil
}

func (q *Query) set(key, value string, now time.Time) error {
	var err error
	switch key {
	case "identity":
		q.Identity = value
	case "action":
		q.Action = value
	case "resource":
		q.Resource = value
	case "decision":
		q.Decision = value
	case "session":
		q.Session = value
	case "request_id":
		q.RequestID = value
	case "error":
		q.ErrorCode = value
	case "since":
		q.Since, err = parseQueryTime(value, now)
	case "until":
		q.Until, err = parseQueryTime(value, now)
	case "limit":
		if value == "all" {
			q.Limit = -1
			break
		}
		n, perr := strconv.Atoi(value)
		if perr != nil || n < 1 {
			return fmt.Errorf("limit is a positive number or all")
		}
		q.Limit = n
	case "order":
		switch value {
		case "oldest":
			q.Newest = false
		case "newest":
			q.Newest = true
		default:
			return fmt.Errorf("order is oldest or newest")
		}
	default:
		return fmt.Errorf("unknown key %q; keys are %s", key, strings.Join(queryKeys, ", "))
	}
	return err
}

func isQuerySpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// closingQuote finds the quote ending the Go string literal that opens at
// s[i], skipping escaped characters.
func closingQuote(s string, i int) (int, bool) {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '"':
			return j, true
		}
	}
	return 0, false
}

// queryDay is a day as since and until count it (d).
const queryDay = 24 * time.Hour

var queryTimeLayouts = []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"}

// parseQueryTime reads a duration back from now (7d, 1d12h, 90m), an RFC
// 3339 time, or a date or local-less time, taken as UTC.
func parseQueryTime(v string, now time.Time) (time.Time, error) {
	if d, ok, err := parseQueryDuration(v); ok {
		if err != nil {
			return time.Time{}, err
		}
		return now.Add(-d), nil
	}
	for _, l := range queryTimeLayouts {
		if t, err := time.Parse(l, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("want a duration back from now (90m, 1h30m, 7d), an RFC 3339 time (2026-11-26T10:00:00Z) or a date (2026-11-26)")
}

// parseQueryDuration reads v as a duration if it looks like one (starts
// with a digit or a sign and has no date separators): ok says it does, err
// what is wrong with it.
func parseQueryDuration(v string) (d time.Duration, ok bool, err error) {
	if v == "" || !strings.ContainsAny(v[:1], "0123456789+-.") || strings.ContainsAny(v, ":T") || strings.Count(v, "-") > 1 {
		return 0, false, nil
	}
	if v[0] == '-' {
		return 0, true, fmt.Errorf("a duration back from now is not negative")
	}
	rest := v
	if days, after, found := strings.Cut(v, "d"); found {
		n, err := strconv.ParseUint(days, 10, 32)
		if err != nil {
			return 0, true, fmt.Errorf("%q: days are a whole number, as in 7d", v)
		}
		if n > uint64(math.MaxInt64/int64(queryDay)) {
			return 0, true, fmt.Errorf("%q: too far back", v)
		}
		d, rest = time.Duration(n)*queryDay, after
		if rest == "" {
			return d, true, nil
		}
	}
	r, err := time.ParseDuration(rest)
	if err != nil {
		if strings.Count(v, "-") == 1 && !strings.Contains(v, "d") {
			return 0, false, nil // perhaps a date with a typo: say what is wanted
		}
		return 0, true, fmt.Errorf("%q: %w", v, err)
	}
	if r < 0 {
		return 0, true, fmt.Errorf("a duration back from now is not negative")
	}
	if d > math.MaxInt64-r {
		return 0, true, fmt.Errorf("%q: too far back", v)
	}
	return d + r, true, nil
}

// String writes q as ParseQuery reads it: ParseQuery(q.String(), now)
// gives q back, with times as RFC 3339 times.
func (q Query) String() string {
	var terms []string
	add := func(k, v string) {
		if v != "" {
			terms = append(terms, k+"="+queryValue(v))
		}
	}
	add("identity", q.Identity)
	add("action", q.Action)
	add("resource", q.Resource)
	add("decision", q.Decision)
	add("session", q.Session)
	add("request_id", q.RequestID)
	add("error", q.ErrorCode)
	if !q.Since.IsZero() {
		add("since", q.Since.Format(time.RFC3339Nano))
	}
	if !q.Until.IsZero() {
		add("until", q.Until.Format(time.RFC3339Nano))
	}
	switch {
	case q.Limit < 0:
		add("limit", "all")
	case q.Limit > 0:
		add("limit", strconv.Itoa(q.Limit))
	}
	if q.Newest {
		add("order", "newest")
	}
	return strings.Join(terms, " ")
}

// queryValue quotes v unless it reads back bare.
func queryValue(v string) string {
	bare := utf8.ValidString(v) && v[0] != '"' && strings.IndexFunc(v, func(r rune) bool { return r == ' ' || !unicode.IsPrint(r) }) < 0
	if bare {
		return v
	}
	return strconv.Quote(v)
}
