package mask

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func rule(name string, paths ...string) FieldRule {
	r := FieldRule{Name: name, Actions: []string{"*"}}
	for _, p := range paths {
		r.Paths = append(r.Paths, MustPath(p))
	}
	return r
}

func maskJSON(t *testing.T, m *Masker, in string) (string, Report) {
	t.Helper()
	out, rep, err := m.JSON([]byte(in))
	if err != nil {
		t.Fatalf("JSON(%s): %v", in, err)
	}
	if !json.Valid(out) {
		t.Fatalf("output is not JSON: %s", out)
	}
	return string(out), rep
}

func TestJSONFieldKeepsEverythingElse(t *testing.T) {
	m := &Masker{Fields: []FieldRule{rule("secret-value", "SecretString")}}
	in := "{\n  \"ARN\" : \"arn:aws:secretsmanager:us-east-1:1:secret:x\",\n\t\"SecretString\":\"{\\\"password\\\":\\\"hunter2\\\"}\" ,\"CreatedDate\": 1.7000000000000001e9, \"Big\": 123456789012345678901234567890, \"Uni\":\"\\u00e9t\\u00e9\"}"
	want := "{\n  \"ARN\" : \"arn:aws:secretsmanager:us-east-1:1:secret:x\",\n\t\"SecretString\":\"****\" ,\"CreatedDate\": 1.7000000000000001e9, \"Big\": 123456789012345678901234567890, \"Uni\":\"\\u00e9t\\u00e9\"}"
	got, rep := maskJSON(t, m, in)
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if rep["secret-value"] != 1 || rep.Total() != 1 {
		t.Errorf("report %v", rep)
	}
}

func TestJSONNothingToMaskReturnsInput(t *testing.T) {
	m := &Masker{Fields: []FieldRule{rule("r", "SecretString")}, Detectors: []Detector{Email()}}
	in := `{"Name":"x","List":[1,2,{"a":null}]}`
	out, rep, err := m.JSON([]byte(in))
	if err != nil || string(out) != in || rep != nil {
		t.Errorf("got %s %v %v", out, rep, err)
	}
}

func TestJSONDynamoDBAttributeValues(t *testing.T) {
	m := &Masker{Fields: []FieldRule{rule("pii", "Item.ssn", "Item.balance", "Item.photo", "Item.aliases",
		"Item.lucky", "Item.blobs", "Item.address.zip", "Item.cards[*]", "Item.vip", "Item.gone", "Item.profile")}}
	in := `{"Item":{"id":{"S":"u1"},"ssn":{"S":"123-45-6789"},"balance":{"N":"12.50"},"photo":{"B":"aGk="},` +
		`"aliases":{"SS":["bob","robert"]},"lucky":{"NS":["7","13"]},"blobs":{"BS":["aGk="]},` +
		`"address":{"M":{"zip":{"S":"90210"},"city":{"S":"LA"}}},"cards":{"L":[{"S":"4111111111111111"},{"N":"5"}]},` +
		`"vip":{"BOOL":true},"gone":{"NULL":true},"profile":{"M":{"nick":{"S":"bobby"},"tags":{"L":[{"S":"a"}]}}}}}`
	got, rep := maskJSON(t, m, in)
	want := `{"Item":{"id":{"S":"u1"},"ssn":{"S":"****"},"balance":{"S":"****"},"photo":{"S":"****"},` +
		`"aliases":{"SS":["****","****"]},"lucky":{"SS":["****","****"]},"blobs":{"SS":["****"]},` +
		`"address":{"M":{"zip":{"S":"****"},"city":{"S":"LA"}}},"cards":{"L":[{"S":"****"},{"S":"****"}]},` +
		`"vip":{"BOOL":true},"gone":{"NULL":true},"profile":{"M":{"nick":{"S":"****"},"tags":{"L":[{"S":"****"}]}}}}}`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if rep["pii"] != 13 {
		t.Errorf("report %v, want 13 values", rep)
	}
}

func TestJSONDynamoDBQueryItems(t *testing.T) {
	m := &Masker{Fields: []FieldRule{rule("cards", "Items[*].card")}}
	in := `{"Count":2,"Items":[{"card":{"S":"4111111111111111"},"n":{"S":"a"}},{"card":{"S":"5500000000000004"}}],"ScannedCount":2}`
	got, _ := maskJSON(t, m, in)
	if strings.Contains(got, "4111") || strings.Contains(got, "5500") || !strings.Contains(got, `"n":{"S":"a"}`) {
		t.Errorf("got %s", got)
	}
	// A key step on an array takes its elements: Items.card means Items[*].card.
	m2 := &Masker{Fields: []FieldRule{rule("cards", "Items.card")}}
	got2, _ := maskJSON(t, m2, in)
	if got2 != got {
		t.Errorf("Items.card: %s, want %s", got2, got)
	}
}

func TestJSONLambdaEnvironment(t *testing.T) {
	d := Default().For("lambda:ListFunctions")
	in := `{"Functions":[{"FunctionName":"f","Environment":{"Variables":{"DB_PASSWORD":"pw1","MODE":"prod"},"Error":{"Message":"m"}}}]}`
	got, rep := maskJSON(t, d, in)
	want := `{"Functions":[{"FunctionName":"f","Environment":{"Variables":{"DB_PASSWORD":"****","MODE":"****"},"Error":{"Message":"m"}}}]}`
	if got != want || rep["lambda-environment"] != 2 {
		t.Errorf("got %s %v", got, rep)
	}
}

func TestJSONSSMSecureStringOnly(t *testing.T) {
	d := Default().For("ssm:GetParameters")
	in := `{"Parameters":[{"Name":"/a","Type":"SecureString","Value":"s3cret"},{"Name":"/b","Type":"String","Value":"plain"}],"InvalidParameters":[]}`
	got, rep := maskJSON(t, d, in)
	if strings.Contains(got, "s3cret") || !strings.Contains(got, `"Value":"plain"`) || rep["ssm-securestring"] != 1 {
		t.Errorf("got %s %v", got, rep)
	}
	// Type after Value, as JSON allows.
	got, _ = maskJSON(t, Default().For("ssm:GetParameter"), `{"Parameter":{"Value":"s3cret","Type":"SecureString"}}`)
	if strings.Contains(got, "s3cret") {
		t.Errorf("got %s", got)
	}
}

func TestJSONSecretBinaryStaysBase64(t *testing.T) {
	d := Default().For("secretsmanager:GetSecretValue")
	got, _ := maskJSON(t, d, `{"Name":"n","SecretBinary":"c2VjcmV0IGJ5dGVz"}`)
	var v struct{ SecretBinary []byte } // encoding/json decodes blobs as the SDKs do
	if err := json.Unmarshal([]byte(got), &v); err != nil {
		t.Fatalf("SDK-style decode of %s: %v", got, err)
	}
	if string(v.SecretBinary) != DefaultText {
		t.Errorf("SecretBinary decodes to %q", v.SecretBinary)
	}
}

func TestJSONWholeValuesAndTypes(t *testing.T) {
	m := &Masker{Fields: []FieldRule{rule("r", "obj", "num", "flag", "nothing", "arr")}}
	got, rep := maskJSON(t, m, `{"obj":{"a":"x","b":{"c":"y"},"n":3},"num":-1.5e3,"flag":true,"nothing":null,"arr":["p",["q"]]}`)
	want := `{"obj":{"a":"****","b":{"c":"****"},"n":0},"num":0,"flag":true,"nothing":null,"arr":["****",["****"]]}`
	if got != want || rep["r"] != 6 {
		t.Errorf("got %s %v", got, rep)
	}
}

func TestJSONDuplicateKeysAllMasked(t *testing.T) {
	m := &Masker{Fields: []FieldRule{rule("r", "SecretString")}}
	got, _ := maskJSON(t, m, `{"SecretString":"one","SecretString":"two"}`)
	if strings.Contains(got, "one") || strings.Contains(got, "two") {
		t.Errorf("a duplicate key hid a value: %s", got)
	}
}

func TestJSONEscapedKeysMatch(t *testing.T) {
	m := &Masker{Fields: []FieldRule{rule("r", "SecretString")}}
	got, _ := maskJSON(t, m, `{"Secret\u0053tring":"one"}`)
	if strings.Contains(got, "one") {
		t.Errorf("escaped key not matched: %s", got)
	}
}

func TestJSONAnyDepth(t *testing.T) {
	d := Default().For("sts:AssumeRole")
	in := `{"AssumeRoleResponse":{"AssumeRoleResult":{"Credentials":{"AccessKeyId":"ASIAY34FZKBOKMUTVV7A","SecretAccessKey":"x","SessionToken":"y","Expiration":1.7e9}}}}`
	got, rep := maskJSON(t, d, in)
	want := `{"AssumeRoleResponse":{"AssumeRoleResult":{"Credentials":{"AccessKeyId":"ASIAY34FZKBOKMUTVV7A","SecretAccessKey":"****","SessionToken":"****","Expiration":1.7e9}}}}`
	if got != want || rep["aws-credentials"] != 2 {
		t.Errorf("got %s %v", got, rep)
	}
	// SSO's spelling, in any service.
	got, _ = maskJSON(t, Default().For("sso:Unknown"), `{"roleCredentials":{"accessKeyId":"ASIA","secretAccessKey":"x","sessionToken":"y","expiration":1}}`)
	if strings.Contains(got, `"x"`) || strings.Contains(got, `"y"`) {
		t.Errorf("got %s", got)
	}
}

func TestJSONDetectorsInStrings(t *testing.T) {
	m := &Masker{Detectors: []Detector{Email(), Card()}, Replacer: &Replacers{By: map[string]Replacer{DetCard: KeepLast(4, "")}}}
	in := `{"note":"mail bob@example.com, card 4111 1111 1111 1111","esc":"x\u0040example.com","key@example.com":"k","n":4111111111111111}`
	got, rep := maskJSON(t, m, in)
	want := `{"note":"mail ****, card ****1111","esc":"****","key@example.com":"k","n":4111111111111111}`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if rep[DetEmail] != 2 || rep[DetCard] != 1 {
		t.Errorf("report %v", rep)
	}
}

func TestJSONReplacementIsEscaped(t *testing.T) {
	m := &Masker{Fields: []FieldRule{rule("r", "a")}, Replacer: Fixed("\"}\n\\")}
	got, _ := maskJSON(t, m, `{"a":"x"}`)
	if got != `{"a":"\"}\n\\"}` {
		t.Errorf("got %s", got)
	}
}

func TestJSONMalformedFailsClosed(t *testing.T) {
	m := &Masker{Fields: []FieldRule{rule("r", "SecretString")}}
	for _, in := range []string{
		``, ` `, `{`, `{"SecretString":"x"`, `{"SecretString":"x"} trailing`, `{"SecretString":'x'}`,
		`{"SecretString":"x",}`, `[1,]`, `{"a" "b"}`, `{"a":01}`, `{"a":1.}`, `{"a":-}`, `{"a":tru}`,
		`{"a":"\x"}`, `{"a":"\u12"}`, "{\"a\":\"\x01\"}", `{"a":"unterminated}`, `{1:2}`, `NaN`,
		strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1),
	} {
		if _, _, err := m.JSON([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("JSON(%.40q): err = %v, want ErrMalformed", in, err)
		}
	}
	// Deep but within the limit is fine.
	deep := strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth)
	if _, _, err := m.JSON([]byte(deep)); err != nil {
		t.Errorf("depth %d: %v", maxDepth, err)
	}
}

func TestJSONSurrogatesDecode(t *testing.T) {
	got := string(unescapeJSON([]byte(`\ud83d\ude00 \ud83d x\u0041\/\n`)))
	if got != "😀 \uFFFD xA/\n" {
		t.Errorf("got %q", got)
	}
}

func TestTextAndReport(t *testing.T) {
	m := &Masker{Detectors: []Detector{Email(), SSN()}}
	out, rep := m.Text([]byte("a@b.io 123-45-6789 c@d.io"))
	if string(out) != "**** **** ****" {
		t.Errorf("Text = %q", out)
	}
	var all Report
	all.Merge(rep)
	all.Merge(Report{"x": 1})
	if all.Total() != 4 || strings.Join(all.Names(), ",") != "email,ssn,x" {
		t.Errorf("merged %v", all)
	}
	if out, rep := m.Text([]byte("nothing")); string(out) != "nothing" || rep != nil {
		t.Errorf("Text changed plain text: %q %v", out, rep)
	}
	if !(&Masker{}).Empty() || m.Empty() || m.HasFields() {
		t.Error("Empty/HasFields")
	}
}
