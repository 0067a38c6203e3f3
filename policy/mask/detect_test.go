package mask

import (
	"strings"
	"testing"
)

// found returns the texts d finds in s.
func found(d Detector, s string) []string {
	var out []string
	for _, r := range d.Find([]byte(s)) {
		out = append(out, s[r[0]:r[1]])
	}
	return out
}

type detCase struct {
	name string
	in   string
	want []string // nil: no match
}

func runDet(t *testing.T, d Detector, cases []detCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := found(d, c.in)
			if strings.Join(got, "|") != strings.Join(c.want, "|") || len(got) != len(c.want) {
				t.Errorf("%s.Find(%q) = %q, want %q", d.Name(), c.in, got, c.want)
			}
			for _, g := range got {
				if len(g) > d.MaxLen() {
					t.Errorf("match of %d bytes exceeds MaxLen %d", len(g), d.MaxLen())
				}
			}
		})
	}
}

const (
	keyID  = "AKIAIOSFODNN7EXAMPLE"
	secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	jwtTok = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
)

func TestAccessKeyID(t *testing.T) {
	runDet(t, AccessKeyID(), []detCase{
		{"long-term", "id=" + keyID + ";", []string{keyID}},
		{"temporary", "ASIAY34FZKBOKMUTVV7A", []string{"ASIAY34FZKBOKMUTVV7A"}},
		{"two", keyID + "," + keyID, []string{keyID, keyID}},
		{"inside a word", "X" + keyID, nil},
		{"longer run", keyID + "9", nil},
		{"lower case", strings.ToLower(keyID), nil},
		{"principal id, not a key", "AIDAJQABLZS4A3QDU576Q", nil},
		{"too short", "AKIAIOSFODNN7EXAMPL", nil},
	})
}

func TestSecretAccessKey(t *testing.T) {
	runDet(t, SecretAccessKey(), []detCase{
		{"JSON field", `{"SecretAccessKey": "` + secret + `"}`, []string{secret}},
		{"XML element", `<SecretAccessKey>` + secret + `</SecretAccessKey>`, []string{secret}},
		{"credentials file", "aws_secret_access_key = " + secret + "\n", []string{secret}},
		{"environment", "AWS_SECRET_ACCESS_KEY=" + secret, []string{secret}},
		{"escaped JSON in JSON", `"{\"secretAccessKey\":\"` + secret + `\"}"`, []string{secret}},
		{"YAML", "secret_key: '" + secret + "'", []string{secret}},
		{"next to a key id", keyID + "," + secret, []string{secret}},
		{"key id after it", secret + " " + keyID, []string{secret}},
		{"alone: could be any token", "token " + secret + " end", nil},
		{"SHA-1 after a secret name", `"SecretAccessKey": "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"`, nil},
		{"41 characters", `"SecretAccessKey": "` + secret + `A"`, nil},
		{"base64 padding follows", `"SecretAccessKey": "` + secret + `=="`, nil},
		{"lower case only", `secret_key: "` + strings.ToLower(secret) + `"`, nil},
		{"name far away", "secret_key: " + strings.Repeat("x ", 100) + secret, nil},
	})
}

func TestPrivateKey(t *testing.T) {
	pem := "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1x\nabc=\n-----END RSA PRIVATE KEY-----"
	pkcs8 := "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMG\n-----END PRIVATE KEY-----"
	escaped := `-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----`
	runDet(t, PrivateKey(), []detCase{
		{"RSA", "key:\n" + pem + "\nnext", []string{pem}},
		{"PKCS#8", pkcs8, []string{pkcs8}},
		{"JSON-escaped newlines", `{"k":"` + escaped + `"}`, []string{escaped}},
		{"encrypted", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIF\n-----END ENCRYPTED PRIVATE KEY-----", []string{"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIF\n-----END ENCRYPTED PRIVATE KEY-----"}},
		{"truncated: the body still goes", "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\nIIb\"}", []string{"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\nIIb"}},
		{"two keys", pkcs8 + "\n" + pkcs8, []string{pkcs8, pkcs8}},
		{"certificate", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", nil},
		{"public key", "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----", nil},
	})
}

func TestJWT(t *testing.T) {
	runDet(t, JWT(), []detCase{
		{"bearer", "Authorization: Bearer " + jwtTok, []string{jwtTok}},
		{"in JSON", `{"IdToken":"` + jwtTok + `"}`, []string{jwtTok}},
		{"unsigned", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", []string{"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."}},
		{"header without alg", "eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJ4In0.c2ln", nil},
		{"header not JSON", "eyJub3QganNvbg.eyJzdWIiOiJ4In0.c2ln", nil},
		{"dotted name", "com.example.service.v1", nil},
		{"inside a longer word", "x" + jwtTok, nil},
		{"four dots too many", jwtTok + ".a.b.c", nil},
	})
}

func TestEmail(t *testing.T) {
	runDet(t, Email(), []detCase{
		{"plain", "mail bob@example.com now", []string{"bob@example.com"}},
		{"sub-domains and tags", "<alice.smith+aws@mail.corp.example.co.uk>", []string{"alice.smith+aws@mail.corp.example.co.uk"}},
		{"end of sentence", "write to bob@example.com.", []string{"bob@example.com"}},
		{"JSON", `{"Email":"a_b-c%d@ex-ample.org"}`, []string{"a_b-c%d@ex-ample.org"}},
		{"two", "a@b.io,c@d.io", []string{"a@b.io", "c@d.io"}},
		{"no domain dot", "root@localhost", nil},
		{"numeric tld", "user@10.0.0.1", nil},
		{"spaced", "a @ b.com", nil},
		{"handle", "@someone on chat", nil},
		{"leading dot dropped", ".bob@example.com", []string{"bob@example.com"}},
		{"dot before @", "bob.@example.com", nil},
	})
}

func TestCard(t *testing.T) {
	runDet(t, Card(), []detCase{
		{"visa", "card 4111111111111111 ok", []string{"4111111111111111"}},
		{"spaces", "4111 1111 1111 1111", []string{"4111 1111 1111 1111"}},
		{"dashes", "5500-0000-0000-0004", []string{"5500-0000-0000-0004"}},
		{"amex 4-6-5", "3782 822463 10005", []string{"3782 822463 10005"}},
		{"mastercard 2-series", "2223000048400011", []string{"2223000048400011"}},
		{"discover", "6011111111111117", []string{"6011111111111117"}},
		{"after other numbers", "Order 12 4111 1111 1111 1111", []string{"4111 1111 1111 1111"}},
		{"CSV", "1,4111111111111111,x", []string{"4111111111111111"}},
		{"Luhn fails", "4111111111111112", nil},
		{"epoch milliseconds", "1700000000009", nil},
		{"inside a longer number", "94111111111111111", nil},
		{"decimal fraction", "0.4111111111111111", nil},
		{"followed by decimals", "4111111111111111.5", nil},
		{"in a hex string", "ab4111111111111111cd", nil},
		{"double separator", "4111  1111  1111  1111", nil},
		{"too long", "41111111111111111111", nil},
	})
}

func TestSSN(t *testing.T) {
	runDet(t, SSN(), []detCase{
		{"plain", "ssn 123-45-6789.", []string{"123-45-6789"}},
		{"JSON", `{"ssn":"078-05-1121"}`, []string{"078-05-1121"}},
		{"area 000", "000-12-3456", nil},
		{"area 666", "666-12-3456", nil},
		{"area 9xx", "900-12-3456", nil},
		{"group 00", "123-00-4567", nil},
		{"serial 0000", "123-45-0000", nil},
		{"no dashes", "123456789", nil},
		{"part of a longer id", "1-123-45-6789", nil},
		{"digit after", "123-45-67890", nil},
		{"date-like", "2024-01-15", nil},
		{"phone", "555-123-4567", nil},
	})
}

func TestRegexp(t *testing.T) {
	d, err := Regexp("employee-id", `EMP-[0-9]{6}`, 10)
	if err != nil {
		t.Fatal(err)
	}
	runDet(t, d, []detCase{
		{"two", "EMP-123456 and EMP-654321", []string{"EMP-123456", "EMP-654321"}},
		{"none", "EMP-12", nil},
	})
	e, _ := Regexp("opt", `x*`, 5)
	if got := e.Find([]byte("abc")); len(got) != 0 {
		t.Errorf("empty matches reported: %v", got)
	}
	for _, c := range []struct {
		name, expr string
		max        int
	}{
		{"bad name", "a", 5}, {"x", "(", 5}, {"x", "a", 0}, {"x", "a", maxCustomLen + 1}, {"x", "", 5},
	} {
		if _, err := Regexp(c.name, c.expr, c.max); err == nil {
			t.Errorf("Regexp(%q, %q, %d): no error", c.name, c.expr, c.max)
		}
	}
}

func TestDenyList(t *testing.T) {
	d, err := DenyList("canaries", []string{"hunter2", "hunter2-long", "s3cr3t"})
	if err != nil {
		t.Fatal(err)
	}
	runDet(t, d, []detCase{
		{"longest wins", "pw=hunter2-long;", []string{"hunter2-long"}},
		{"inside words", "xs3cr3ty hunter2", []string{"s3cr3t", "hunter2"}},
		{"case-sensitive", "HUNTER2", nil},
	})
	if d.MaxLen() != len("hunter2-long") {
		t.Errorf("MaxLen = %d", d.MaxLen())
	}
	for _, vs := range [][]string{nil, {"abc"}, {""}} {
		if _, err := DenyList("x", vs); err == nil {
			t.Errorf("DenyList(%q): no error", vs)
		}
	}
}

func TestFindAllOverlaps(t *testing.T) {
	// An email whose local part is a deny-listed word: the match that
	// starts first wins, and nothing is reported twice.
	d, _ := DenyList("names", []string{"alice"})
	s := "to alice@example.com"
	ms := FindAll([]byte(s), []Detector{d, Email()})
	if len(ms) != 1 || ms[0].Detector != DetEmail && ms[0].Detector != "names" {
		t.Fatalf("FindAll = %+v", ms)
	}
	if got := s[ms[0].Start:ms[0].End]; got != "alice@example.com" {
		t.Errorf("longest of equal starts: got %q", got)
	}
}
