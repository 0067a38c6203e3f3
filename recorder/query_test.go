package recorder

import (
	"strings"
	"testing"
	"time"
)

var queryNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func TestParseQuery(t *testing.T) {
	tests := []struct {
		in   string
		want Query
	}{
		{"", Query{}},
		{"  \t ", Query{}},
		{"identity=agent action=s3:Delete* decision=deny since=1h", Query{Identity: "agent", Action: "s3:Delete*", Decision: "deny", Since: queryNow.Add(-time.Hour)}},
		{"resource=arn:aws:s3:::prod-* session=conn-1 request_id=REQ1 error=NoSuchKey until=2026-11-26T10:00:00Z limit=50",
			Query{Resource: "arn:aws:s3:::prod-*", Session: "conn-1", RequestID: "REQ1", ErrorCode: "NoSuchKey", Until: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC), Limit: 50}},
		{"error_code=AccessDenied", Query{ErrorCode: "AccessDenied"}},
		{"Identity=a", Query{Identity: "a"}},
		{"since=7d until=1d12h", Query{Since: queryNow.Add(-7 * 24 * time.Hour), Until: queryNow.Add(-36 * time.Hour)}},
		{"since=2026-11-20 until=2026-11-21T08:30", Query{Since: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 11, 21, 8, 30, 0, 0, time.UTC)}},
		{"since=2026-11-26T10:00:00+01:00", Query{Since: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}},
		{"limit=all order=newest", Query{Limit: -1, Newest: true}},
		{"order=oldest", Query{}},
		{`resource="arn:aws:s3:::b/my key" identity=a`, Query{Resource: "arn:aws:s3:::b/my key", Identity: "a"}},
		{`resource="a\x00b"`, Query{Resource: "a\x00b"}},
		{`identity=a"b action=x=y`, Query{Identity: `a"b`, Action: "x=y"}},
	}
	for _, tt := range tests {
		got, err := ParseQuery(tt.in, queryNow)
		if err != nil {
			t.Errorf("ParseQuery(%q): %v", tt.in, err)
			continue
		}
		if !sameQuery(got, tt.want) {
			t.Errorf("ParseQuery(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseQueryErrorsNameTheTerm(t *testing.T) {
	tests := []struct{ in, want string }{
		{"idenity=agent", `query term "idenity=agent": unknown key "idenity"; keys are identity, action, resource, decision, session, request_id, error, since, until, limit, order`},
		{"deny", `query term "deny": want key=value, with keys identity, action`},
		{"identity=a identity=b", `query term "identity=b": identity given twice`},
		{"error=A error_code=B", `"error_code=B": error given twice`},
		{"identity=", `query term "identity=": empty value`},
		{`identity=""`, `empty value`},
		{"since=yesterday", `query term "since=yesterday": want a duration back from now (90m, 1h30m, 7d), an RFC 3339 time`},
		{"since=-1h", `query term "since=-1h": a duration back from now is not negative`},
		{"since=90", `query term "since=90": "90": time: missing unit`},
		{"since=1.5d", `days are a whole number`},
		{"since=2026-13-01", `want a duration back from now`},
		{"since=1h until=2h", `query: since 2026-11-26T11:00:00Z is not before until 2026-11-26T10:00:00Z`},
		{"limit=0", `query term "limit=0": limit is a positive number or all`},
		{"limit=ten", `limit is a positive number or all`},
		{"order=up", `order is oldest or newest`},
		{`resource="abc`, `unterminated quoted value`},
		{`resource="abc"def`, `text after the closing quote`},
		{`resource="\q"`, `quoted value: invalid syntax`},
		{"=x", `unknown key ""`},
	}
	for _, tt := range tests {
		_, err := ParseQuery(tt.in, queryNow)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseQuery(%q): %v, want %q", tt.in, err, tt.want)
		}
	}
}

func sameQuery(a, b Query) bool {
	ta, tb := a, b
	ta.Since, ta.Until, tb.Since, tb.Until = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return ta == tb && a.Since.Equal(b.Since) && a.Until.Equal(b.Until)
}

// FuzzParseQuery: queries come from auditors over the admin API; parsing
// never panics, and what parses writes back (String) to the same query.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		"identity=agent action=s3:Delete* decision=deny since=1h resource=arn:aws:s3:::prod-* session=s request_id=r error=e until=2026-11-26T10:00:00Z limit=50",
		`resource="arn:aws:s3:::b/my key" order=newest limit=all`,
		`identity="\xff\x00" action="a\tb"`,
		"since=7d until=1d12h",
		"since=2026-11-20 until=2026-11-21T08:30:00.5+02:00",
		"since=106751d",
		"deny",
		`resource="abc`,
		"identity=a identity=b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseQuery(s, queryNow)
		if err != nil {
			return
		}
		back, err := ParseQuery(q.String(), queryNow)
		if err != nil {
			t.Fatalf("%q parses to %+v, whose String %q does not parse: %v", s, q, q.String(), err)
		}
		if !sameQuery(q, back) {
			t.Fatalf("%q parses to %+v; String %q parses to %+v", s, q, q.String(), back)
		}
	})
}
