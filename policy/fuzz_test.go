package policy

import (
	"errors"
	"os"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzCalls are what a policy that loads is asked about.
var fuzzCalls = []*Call{
	agent("s3:GetObject", "arn:aws:s3:::prod-x/k"),
	agent("s3:Unknown"),
	agent("iam:CreateUser"),
	agent("S3:DeleteObject", "arn:aws:s3:::a/b", "arn:aws:s3:::prod-b/c"),
	{Action: ""}, // nothing filled in at all
	func() *Call {
		c := agent("dynamodb:Scan", "arn:aws:dynamodb:us-east-1:1:table/t")
		c.Params = map[string]any{"Key": "tmp/x", "Limit": 5000.0, "L": []any{1.0, "x", nil, map[string]any{"a": true}}}
		c.Identity.Groups = nil
		return c
	}(),
}

func FuzzLoad(f *testing.F) {
	example, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(example),
		DefaultPolicy,
		"version: 1\n",
		"version: 1\nshadow: true\nrules:\n  - {id: a, effect: approve, actions: [\"*\"], condition: 'call.params.L.exists(x, x == 1)'}\n",
		"version: 1\nrules:\n  - id: a\n    effect: deny\n    not_actions: [\"s3:Get*\"]\n    resources: [\"*\"]\n    identities: {groups: [\"a*\"], sources: [key]}\n",
		"a: &a [*a]\n", // an alias inside its own anchor
		"version: 1\nrules: [" + strings.Repeat("[", 200) + "\n", // deep nesting
		"version: 1\nrules:\n  - id: a\n    id: b\n",             // duplicate key
		"version: !!str 1\n",                                     // tag
		"version: 1\n---\n",                                      // two documents
		"version: 1\nrules:\n  - id: a\n    effect: deny\n    actions: [\"*\"]\n    condition: |\n      call.params.\n",
		"\xff\xfe",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.yaml", data)
		if err != nil {
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error %T %v is not a non-empty Errors", err, err)
			}
			for _, e := range errs {
				if e.File != "fuzz.yaml" || e.Msg == "" || e.Line < 0 || e.Col < 0 {
					t.Fatalf("malformed error %+v", e)
				}
			}
			return
		}
		for _, c := range fuzzCalls {
			d := p.Decide(c)
			if !d.Effect.valid() || d.Rule == "" || d.Reason == "" {
				t.Fatalf("decision %+v", d)
			}
			if x := p.Explain(c); x.Decision != d || len(x.Rules) != p.Len() {
				t.Fatalf("Explain decided %+v, Decide %+v", x.Decision, d)
			}
		}
	})
}

func FuzzMatch(f *testing.F) {
	for _, seed := range []struct {
		pat, s string
		fold   bool
	}{
		{"*", "", false},
		{"arn:aws:s3:::prod-*/*", "arn:aws:s3:::prod-x/a/b", false},
		{"s3:get*", "S3:GetObject", true},
		{"a?c", "aéc", false},
		{"*a*a*a*b", "aaaaaaaaaaaaaaaaaaac", false},
		{"*?*?", "é", false},
		{"s3:unknown", "s3:Unknown", true},
		{"*:Unknown", "sqs:Unknown", true},
		{"*prod*", "xPRODx", true},
		{"?", "\xff", false},
	} {
		f.Add(seed.pat, seed.s, seed.fold)
	}
	f.Fuzz(func(t *testing.T, pat, s string, fold bool) {
		g := compileGlob(pat, fold)
		got := g.match(s) // never panics, whatever the bytes
		if utf8.ValidString(pat) && utf8.ValidString(s) {
			if want := refMatch(pat, s, fold); got != want {
				t.Fatalf("glob %q (fold %v) on %q: %v, reference %v", pat, fold, s, got, want)
			}
		}

		// As an action pattern, on s as the call's action.
		if checkActionPattern(pat) != nil {
			return
		}
		r := rule{actions: []actionGlob{compileAction(pat)}}
		var ev evalCtx
		ev.init(&Call{Action: s, Service: "svc"})
		got = r.matchAction(r.actions, &ev)
		want := false
		switch {
		case pat == "*":
			want = true
		case ev.unknown:
			svc, name, _ := strings.Cut(pat, ":")
			want = strings.EqualFold(name, "unknown") && refMatch(svc, ev.svc, true)
		default:
			want = refMatch(pat, s, true)
		}
		if utf8.ValidString(s) && got != want {
			t.Fatalf("action pattern %q on %q: %v, reference %v", pat, s, got, want)
		}
	})
}
