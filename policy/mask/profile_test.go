package mask

import (
	"errors"
	"strings"
	"testing"
)

var hashKey = []byte("test key of thirty-two bytes....")

const profilesYAML = `masks:
  pii:
    detectors: [email, card]
    patterns:
      - {name: employee-id, regex: 'EMP-[0-9]{6}', max_len: 10}
    deny:
      - name: canaries
        values: ["canary-7f3a9"]
    replace:
      default: {fixed: "[redacted]"}
      card: {keep_last: 4}
      email: hash
    fields:
      - name: customer-pii
        actions: ["dynamodb:GetItem", "dynamodb:Query"]
        paths: ["Item.ssn", "Items[*].ssn"]
        replace: {fixed: "XXX-XX-XXXX"}
  bare:
    defaults: false
    fields:
      - actions: ["*"]
        paths: [Token]
`

func TestParseProfiles(t *testing.T) {
	set, err := Parse("policy.yaml", []byte(profilesYAML), Options{HashKey: hashKey})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(set.Names(), ","); got != "bare,default,none,pii" {
		t.Errorf("names %s", got)
	}
	pii, ok := set.Profile("pii")
	if !ok {
		t.Fatal("no pii")
	}
	m := pii.For("dynamodb:getitem") // actions compare case-insensitively
	in := `{"Item":{"ssn":{"S":"123-45-6789"},"note":{"S":"EMP-123456 mailed bob@example.com card 4111111111111111 canary-7f3a9"},"k":{"S":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY AKIAIOSFODNN7EXAMPLE"}}}`
	out, rep, err := m.JSON([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	got := string(out)
	for _, leak := range []string{"123-45-6789", "EMP-123456", "bob@example.com", "4111111111111111", "canary-7f3a9", "wJalrXUtnFEMI"} {
		if strings.Contains(got, leak) {
			t.Errorf("%s leaked: %s", leak, got)
		}
	}
	for _, want := range []string{`"XXX-XX-XXXX"`, "[redacted] mailed h:", "card ****1111 [redacted]", "AKIAIOSFODNN7EXAMPLE"} {
		if !strings.Contains(got, want) {
			t.Errorf("want %q in %s", want, got)
		}
	}
	if rep["customer-pii"] != 1 || rep["employee-id"] != 1 || rep[DetEmail] != 1 || rep[DetCard] != 1 || rep["canaries"] != 1 || rep[DetSecretKey] != 1 {
		t.Errorf("report %v", rep)
	}
	// The field rule is for DynamoDB reads only; the defaults still apply elsewhere.
	if m := pii.For("secretsmanager:GetSecretValue"); len(m.Fields) == 0 {
		t.Error("pii lost the built-in field rules")
	}
	bare, _ := set.Profile("bare")
	if m := bare.For("secretsmanager:GetSecretValue"); len(m.Fields) != 1 || len(m.Detectors) != 0 {
		t.Errorf("defaults: false kept the built-in masks: %+v", m)
	}
	none, _ := set.Profile(NoneName)
	if !none.For("secretsmanager:GetSecretValue").Empty() {
		t.Error("none masks something")
	}
	def, _ := set.Profile("")
	if def.For("secretsmanager:GetSecretValue").Empty() {
		t.Error(`"" is not the built-in default`)
	}
}

func TestParseRedefinesDefault(t *testing.T) {
	set, err := Parse("p.yaml", []byte("masks:\n  default:\n    detectors: [ssn]\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	def, _ := set.Profile("")
	m := def.For("ssm:GetParameter")
	if len(m.Fields) == 0 || len(m.Detectors) != 3 {
		t.Errorf("redefined default: %d fields, %d detectors", len(m.Fields), len(m.Detectors))
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct {
		name, yaml, want string
		opts             Options
	}{
		{"unknown top key", "masks: {}\nrules: []\n", `p.yaml:2:1: file: unknown key "rules"`, Options{}},
		{"unknown profile key", "masks:\n  p:\n    detector: [email]\n", `p.yaml:3:5: masks.p: unknown key "detector"`, Options{}},
		{"bad profile name", "masks:\n  p q:\n    defaults: true\n", `p.yaml:2:3: masks: "p q" is not a profile name`, Options{}},
		{"none is built in", "masks:\n  none: {}\n", `p.yaml:2:3: masks: profile "none" is built in`, Options{}},
		{"unknown detector", "masks:\n  p:\n    detectors: [email, phone]\n", `p.yaml:3:24: masks.p.detectors: no built-in detector "phone"`, Options{}},
		{"detectors not a list", "masks:\n  p:\n    detectors: email\n", `p.yaml:3:16: masks.p.detectors: want a list, got a string`, Options{}},
		{"bad regex", "masks:\n  p:\n    patterns:\n      - name: x\n        regex: 'a('\n        max_len: 4\n", `p.yaml:5:16: masks.p.patterns[0]: detector x: compile pattern`, Options{}},
		{"regex without max_len", "masks:\n  p:\n    patterns:\n      - name: x\n        regex: 'a'\n", `p.yaml:4:9: masks.p.patterns[0]: name, regex and max_len`, Options{}},
		{"max_len not an integer", "masks:\n  p:\n    patterns:\n      - {name: x, regex: a, max_len: \"4\"}\n", `p.yaml:4:38: masks.p.patterns[0].max_len: want an integer, got a string`, Options{}},
		{"short deny value", "masks:\n  p:\n    deny:\n      - name: d\n        values: [abc]\n", `p.yaml:4:9: masks.p.deny[0]: deny list d: value of 3 bytes`, Options{}},
		{"bad path", "masks:\n  p:\n    fields:\n      - actions: ['*']\n        paths: ['Items[0].x']\n", `p.yaml:5:17: masks.p.fields[0].paths: path "Items[0].x": only [*] may follow a name`, Options{}},
		{"bad action", "masks:\n  p:\n    fields:\n      - actions: [GetItem]\n        paths: [x]\n", `p.yaml:4:19: masks.p.fields[0].actions: "GetItem" is not an IAM action`, Options{}},
		{"field without paths", "masks:\n  p:\n    fields:\n      - actions: ['*']\n", `p.yaml:4:9: masks.p.fields[0]: actions and paths are required`, Options{}},
		{"hash without key", "masks:\n  p:\n    replace:\n      default: hash\n", `p.yaml:4:16: masks.p.replace.default: hash needs a key`, Options{}},
		{"hash key too short", "masks:\n  p:\n    replace:\n      default: hash\n", `p.yaml:4:16: masks.p.replace.default: hash replacer: key of 5 bytes`, Options{HashKey: []byte("short")}},
		{"bad replacement", "masks:\n  p:\n    replace:\n      default: blur\n", `p.yaml:4:16: masks.p.replace.default: "blur" is not a replacement`, Options{}},
		{"two replacements", "masks:\n  p:\n    replace:\n      default: {fixed: x, keep_last: 4}\n", `masks.p.replace.default: give one of fixed, keep_last or hash`, Options{}},
		{"replace names nothing", "masks:\n  p:\n    defaults: false\n    replace:\n      card: fixed\n", `p.yaml:5:7: masks.p.replace: no detector or field rule named "card"`, Options{}},
		{"duplicate key", "masks:\n  p:\n    defaults: true\n    defaults: false\n", `p.yaml:4:5: YAML: mapping key "defaults" already defined`, Options{}},
		{"yes is not a boolean", "masks:\n  p:\n    defaults: yes\n", `p.yaml:3:15: masks.p.defaults: want true or false, got a string`, Options{}},
		{"syntax", "masks:\n  p: [\n", `p.yaml:2:`, Options{}},
		{"empty", "", `p.yaml: empty file`, Options{}},
		{"alias to nothing", "masks:\n  p: *x\n", `alias *x names no anchor`, Options{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(c.yaml), c.opts)
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error\n%v\nwant it to contain\n%s", err, c.want)
			}
		})
	}
}

func TestParseReportsEveryError(t *testing.T) {
	_, err := Parse("p.yaml", []byte("masks:\n  p:\n    detectors: [phone]\n    fields:\n      - actions: [x]\n        paths: ['']\n"), Options{})
	var es Errors
	if !errors.As(err, &es) || len(es) != 3 {
		t.Fatalf("want 3 errors, got %v", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Line != 3 {
		t.Errorf("first error %+v", e)
	}
}

func TestParsePath(t *testing.T) {
	for _, ok := range []string{"SecretString", "Item.ssn", "Items[*].card", "Environment.Variables.*", "[*].x", "a[*][*]", "**.SecretAccessKey", "a.**", "*"} {
		if _, err := ParsePath(ok); err != nil {
			t.Errorf("ParsePath(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".a", "a.", "a..b", "a[0]", "a[*", "a]", "a*b", "**.**", "x.[*]", "a[*]b"} {
		if _, err := ParsePath(bad); err == nil {
			t.Errorf("ParsePath(%q): no error", bad)
		}
	}
}

func TestFieldRuleActions(t *testing.T) {
	r := FieldRule{Actions: []string{"dynamodb:Get*", "s3:GetObject"}}
	for action, want := range map[string]bool{
		"dynamodb:GetItem": true, "DynamoDB:getitem": true, "dynamodb:Query": false,
		"s3:GetObject": true, "s3:GetObjectAcl": false,
	} {
		if got := r.Applies(action); got != want {
			t.Errorf("Applies(%q) = %v", action, got)
		}
	}
}

func TestNewSet(t *testing.T) {
	if _, err := NewSet(&Profile{Name: "a"}, &Profile{Name: "a"}); err == nil {
		t.Error("duplicate accepted")
	}
	if _, err := NewSet(&Profile{Name: NoneName}); err == nil {
		t.Error("none accepted")
	}
	s, _ := NewSet()
	if _, ok := s.Profile("missing"); ok {
		t.Error("missing profile found")
	}
	var p *Profile
	if !p.For("x:Y").Empty() {
		t.Error("nil profile masks")
	}
}
