package policy

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func TestStrictLoadErrors(t *testing.T) {
	const head = "version: 1\nrules:\n"
	for _, tc := range []struct {
		name, src string
		want      string // "line:col: fragment"
	}{
		{"unknown top-level key", "version: 1\ndefaults: allow\n", `2:1: policy: unknown key "defaults"`},
		{"unknown rule key", head + "  - id: a\n    effect: deny\n    action: [\"s3:*\"]\n", `5:5: rules[0]: unknown key "action"`},
		{"unknown identities key", head + "  - id: a\n    effect: deny\n    actions: [\"*\"]\n    identities:\n      subject: [x]\n", `7:7: identities: unknown key "subject"`},
		{"wrong type: yes is not a boolean", "version: 1\nshadow: yes\n", `2:9: shadow: want true or false, got a string`},
		{"wrong type: quoted version", "version: \"1\"\n", `1:10: version: want an integer, got a string`},
		{"wrong type: unquoted number as id", head + "  - id: 42\n    effect: deny\n    actions: [\"*\"]\n", `3:9: id: want a string, got an integer (quote it`},
		{"wrong type: a string where a list goes", head + "  - id: a\n    effect: deny\n    actions: s3:GetObject\n", `5:14: actions: want a list, got a string`},
		{"wrong type: rules is a mapping", "version: 1\nrules:\n  id: a\n", `3:3: rules: want a list of rules, got a mapping`},
		{"wrong type: min_approvals", head + "  - id: a\n    effect: approve\n    actions: [\"*\"]\n    min_approvals: two\n", `6:20: min_approvals: want an integer, got a string`},
		{"wrong type: list entry", head + "  - id: a\n    effect: deny\n    actions: [\"*\"]\n    regions: [us-east-1, [eu-west-1]]\n", `6:26: regions: want a string, got a list`},
		{"duplicate rule id", head + "  - {id: a, effect: deny, actions: [\"*\"]}\n  - {id: b, effect: deny, actions: [\"*\"]}\n  - {id: a, effect: allow, actions: [\"*\"]}\n", `5:10: rule id "a" is used twice (first at line 3)`},
		{"duplicate key", head + "  - id: a\n    effect: deny\n    effect: allow\n    actions: [\"*\"]\n", `5:5: `},
		{"bad effect", head + "  - id: a\n    effect: block\n    actions: [\"*\"]\n", `4:13: effect: "block" is not an effect`},
		{"effects are lower-case", head + "  - id: a\n    effect: Deny\n    actions: [\"*\"]\n", `4:13: effect: "Deny" is not an effect`},
		{"bad default", "version: 1\ndefault: reject\n", `2:10: default: "reject" is not an effect`},
		{"missing effect", head + "  - id: a\n    actions: [\"*\"]\n", `3:5: rule a: effect is required`},
		{"missing id", head + "  - effect: deny\n    actions: [\"*\"]\n", `3:5: rules[0]: id is required`},
		{"missing actions", head + "  - id: a\n    effect: deny\n", `3:5: rule a: actions or not_actions is required`},
		{"missing version", "rules: []\n", `1:1: policy: version is required`},
		{"unsupported version", "version: 2\n", `1:10: version: 2 is not supported`},
		{"reserved id", head + "  - {id: default, effect: deny, actions: [\"*\"]}\n", `3:10: id "default" is reserved`},
		{"bad id", head + "  - {id: \"no spaces\", effect: deny, actions: [\"*\"]}\n", `3:10: id "no spaces"`},
		{"empty list", head + "  - id: a\n    effect: deny\n    actions: [\"*\"]\n    resources: []\n", `6:16: resources: empty list matches nothing`},
		{"empty identities", head + "  - id: a\n    effect: deny\n    actions: [\"*\"]\n    identities: {}\n", `6:17: identities: empty`},
		{"min_approvals on an allow rule", head + "  - id: a\n    effect: allow\n    actions: [\"*\"]\n    min_approvals: 2\n", `6:20: min_approvals: only approve rules`},
		{"min_approvals zero", head + "  - id: a\n    effect: approve\n    actions: [\"*\"]\n    min_approvals: 0\n", `6:20: min_approvals: 0 is out of range`},
		{"bad glob: resource that is not an ARN", head + "  - id: a\n    effect: deny\n    actions: [\"*\"]\n    resources: [\"arn:aws:s3:::ok/*\", \"prod-*\"]\n", `6:38: resource pattern "prod-*": want an ARN`},
		{"bad glob: character class", head + "  - id: a\n    effect: deny\n    actions: [\"*\"]\n    resources:\n      - \"arn:aws:s3:::prod-[0-9]\"\n", `7:9: resource pattern "arn:aws:s3:::prod-[0-9]": '[' is not glob syntax`},
		{"bad glob: action without a service", head + "  - id: a\n    effect: deny\n    actions: [GetObject]\n", `5:15: action pattern "GetObject": want <service>:<action>`},
		{"bad glob: action with a regexp", head + "  - id: a\n    effect: deny\n    actions: [\"s3:Get.*\"]\n", `5:15: action pattern "s3:Get.*": character '.' not allowed in an action name`},
		{"bad glob: region", head + "  - id: a\n    effect: deny\n    actions: [\"*\"]\n    regions: [\"US East\"]\n", `6:15: region pattern "US East"`},
		{"bad glob: empty subject", head + "  - id: a\n    effect: deny\n    actions: [\"*\"]\n    identities: {subjects: [\"\"]}\n", `6:29: empty pattern`},
		{"unknown source", head + "  - id: a\n    effect: deny\n    actions: [\"*\"]\n    identities: {sources: [oidc, token]}\n", `6:34: sources: "token" is not an identity source`},
		{"bad CEL: syntax, plain scalar, column inside the expression", head + "  - id: a\n    effect: deny\n    actions: [\"*\"]\n    condition: call.params.Key ==\n", `6:34: condition: Syntax error`},
		{"bad CEL: single-quoted", head + "  - id: a\n    effect: deny\n    actions: [\"*\"]\n    condition: 'call.params.Key.startsWith(1) && nope'\n", `6:50: condition: undeclared reference to 'nope'`},
		{"bad CEL: unknown field of call", head + "  - id: a\n    effect: deny\n    actions: [\"*\"]\n    condition: \"has(call.parms.Key)\"\n", `6:26: condition: call has no field "parms"`},
		{"bad CEL: literal block, second line", head + "  - id: a\n    effect: deny\n    actions: [\"*\"]\n    condition: |\n      identity.subject == \"x\" &&\n        identity.group == \"y\"\n", `8:18: condition: identity has no field "group"`},
		{"bad CEL: not a boolean", head + "  - id: a\n    effect: deny\n    actions: [\"*\"]\n    condition: '1 + 2'\n", `6:17: condition: condition must be a boolean expression; it is int`},
		{"bad CEL: empty", head + "  - id: a\n    effect: deny\n    actions: [\"*\"]\n    condition: \"  \"\n", `6:16: condition: empty`},
		{"YAML syntax error", "version: 1\nrules: [\n", `2:8: YAML: `},
		{"YAML tags are refused", "version: !!int 1\n", `1:10: YAML tags (!!int) are not supported`},
		{"two documents", "version: 1\n---\nversion: 1\n", `3:1: more than one YAML document`},
		{"alias to nothing", head + "  - id: a\n    effect: deny\n    actions: *acts\n", `5:14: `},
		{"not a mapping", "- a\n", `1:1: policy: want a mapping, got a list`},
		{"nesting that would make the parser crawl", "version: 1\nrules: " + strings.Repeat("[", 100000) + "\n", `2:264: YAML nested more than 256 levels deep`},
		{"empty effect", head + "  - id: a\n    effect: \"\"\n    actions: [\"*\"]\n", `4:13: effect: "" is not an effect`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("test.yaml", []byte(tc.src))
			if err == nil {
				t.Fatalf("Parse accepted:\n%s", tc.src)
			}
			if !strings.Contains(err.Error(), "test.yaml:"+tc.want) {
				t.Fatalf("Parse error:\n%v\nwant it to contain test.yaml:%s", err, tc.want)
			}
			var e *Error
			if !errors.As(err, &e) || e.File != "test.yaml" || e.Line == 0 || e.Col == 0 {
				t.Errorf("errors.As(*Error) = %+v", e)
			}
		})
	}
}

func TestLoadErrorsWithoutPosition(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"empty file", "", "test.yaml: empty policy file"},
		{"only comments", "# nothing yet\n", "test.yaml: empty policy file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("test.yaml", []byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse error %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file: %v", err)
	}
}

func TestLoadReportsEveryProblemInFileOrder(t *testing.T) {
	_, err := Parse("p.yaml", []byte(`version: 1
rules:
  - id: a
    effect: nope
    bogus: 1
    actions: ["s3:*"]
    condition: 'call.x'
  - id: a
    effect: deny
    actions: ["*"]
`))
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error %T %v, want Errors", err, err)
	}
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
	}
	want := []string{
		`p.yaml:4:13: effect: "nope" is not an effect (want allow, deny or approve)`,
		`p.yaml:5:5: rules[0]: unknown key "bogus" (known: id, effect, identities, actions, not_actions, resources, regions, condition, shadow, mask, min_approvals)`,
		`p.yaml:7:22: condition: call has no field "x" (it has service, region, operation, action, resources, params, source_ip)`,
		`p.yaml:8:9: rule id "a" is used twice (first at line 3)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestAnchorsAndAliasesWork(t *testing.T) {
	p := mustParse(t, `
version: 1
rules:
  - id: a
    effect: allow
    identities: &agents {groups: ["agents"]}
    actions: &reads ["s3:Get*", "s3:List*"]
  - id: b
    effect: approve
    identities: *agents
    actions: ["s3:Put*"]
`)
	check(t, p, agent("s3:GetObject"), want{Allow, "a"})
	check(t, p, agent("s3:PutObject"), want{Approve, "b"})
}

func TestAliasBombIsRefused(t *testing.T) {
	src := "version: 1\nx0: &a0 [\"s\",\"s\",\"s\",\"s\",\"s\",\"s\",\"s\",\"s\",\"s\",\"s\"]\n"
	for i := 1; i < 9; i++ {
		src += "x" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [" + strings.Repeat("*a"+string(rune('0'+i-1))+",", 9) + "*a" + string(rune('0'+i-1)) + "]\n"
	}
	src += "rules:\n  - id: a\n    effect: deny\n    actions: *a8\n"
	start := time.Now()
	_, err := Parse("bomb.yaml", []byte(src))
	if err == nil {
		t.Fatal("alias bomb accepted")
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("alias bomb took %v", time.Since(start))
	}
}

func TestExampleLoads(t *testing.T) {
	p, err := Load("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if p.Len() != 6 || p.DefaultEffect() != Deny || p.Shadow() || p.Name() != "testdata/example.yaml" {
		t.Errorf("example: %d rules, default %s, shadow %v, name %s", p.Len(), p.DefaultEffect(), p.Shadow(), p.Name())
	}
}

func TestDefaultPolicyTextIsInTheDoc(t *testing.T) {
	if _, err := Parse("builtin", []byte(DefaultPolicy)); err != nil {
		t.Fatal(err)
	}
}

// TestExplainGolden renders explanations of the example policy for a set
// of calls; run with -update after an intended change.
func TestExplainGolden(t *testing.T) {
	p, err := Load("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	at10 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	calls := []*Call{
		{Identity: Identity{Subject: "agent-7", Source: "oidc", Groups: []string{"agents"}, Issuer: "https://idp.example.com"},
			Action: "s3:PutObject", Region: "us-east-1", Resources: []string{"arn:aws:s3:::scratch/tmp/out.json"},
			Params: map[string]any{"Key": "tmp/out.json"}, Time: at10},
		{Identity: Identity{Subject: "agent-7", Source: "oidc", Groups: []string{"agents"}},
			Action: "s3:PutObject", Region: "us-east-1", Resources: []string{"arn:aws:s3:::scratch/etc/passwd"},
			Params: map[string]any{"Key": "etc/passwd"}, Time: at10},
		{Identity: Identity{Subject: "agent-7", Source: "key", Groups: []string{"agents"}},
			Action: "s3:DeleteObject", Region: "us-east-1", Resources: []string{"arn:aws:s3:::prod-logs/2026/03/02.log"}, Time: at10},
		{Identity: Identity{Subject: "agent-7", Source: "oidc", Groups: []string{"agents"}},
			Action: "dynamodb:Scan", Region: "eu-west-1", Resources: []string{"arn:aws:dynamodb:eu-west-1:123456789012:table/orders"},
			Params: map[string]any{"Limit": 5000.0}, Time: at10},
		{Identity: Identity{Subject: "agent-9", Source: "address"},
			Action: "iam:CreateAccessKey", Region: "us-east-1", Time: at10},
		{Identity: Identity{Subject: "agent-9", Source: "address"},
			Action: "sqs:Unknown", Region: "us-east-1", Time: at10},
	}
	var b strings.Builder
	for _, c := range calls {
		x := p.Explain(c)
		b.WriteString(x.String())
		b.WriteString("\n")
	}
	golden := filepath.Join("testdata", "explain.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run ExplainGolden -update)", err)
	}
	if b.String() != string(want) {
		t.Errorf("explanations differ from %s (run with -update if intended):\n%s", golden, b.String())
	}
}
