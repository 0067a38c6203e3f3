package mask

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

const canary = "CANARY-5d1e9b7a"

// fuzzMasker has field rules of every kind of step and every detector,
// the canary in a deny list.
func fuzzMasker(t testing.TB) *Masker {
	deny, err := DenyList("canary", []string{canary})
	if err != nil {
		t.Fatal(err)
	}
	re, _ := Regexp("employee-id", `EMP-[0-9]{6}`, 10)
	m := Default().For("dynamodb:GetItem")
	m.Fields = append(m.Fields, rule("secret", "Secret", "Item.*", "Items[*].card", "**.Value"))
	m.Detectors = append(slices.Clone(m.Detectors), deny, re, AccessKeyID(), JWT(), Email(), Card(), SSN())
	return m
}

// stringsIn returns every string value (not key) of a JSON document.
func stringsIn(t *testing.T, doc []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var out []string
	type level struct{ object, wantKey bool }
	var stack []level
	value := func() { // a value ended: in an object, a key comes next
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].wantKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("output does not decode: %v\n%s", err, doc)
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				stack = append(stack, level{object: v == '{', wantKey: v == '{'})
			default:
				stack = stack[:len(stack)-1]
				value()
			}
		case string:
			if n := len(stack); n > 0 && stack[n-1].wantKey {
				stack[n-1].wantKey = false
				continue
			}
			out = append(out, v)
			value()
		default:
			value()
		}
	}
}

func FuzzJSON(f *testing.F) {
	for _, s := range []string{
		`{"SecretString":"{\"password\":\"x\"}","Name":"n"}`,
		`{"Item":{"ssn":{"S":"123-45-6789"},"n":{"N":"1.5"},"m":{"M":{"a":{"L":[{"B":"aGk="}]}}}}}`,
		`{"Items":[{"card":{"S":"4111 1111 1111 1111"}}],"Count":1}`,
		`{"Parameter":{"Type":"SecureString","Value":"v"},"x":[1,-0.5e10,true,null]}`,
		`{"note":"CANARY-5d1e9b7a and bob@example.com, AKIAIOSFODNN7EXAMPLE"}`,
		`{"a":"CANARY-5d1e9b7\u0061","b":"\ud83d\ude00"}`,
		`["` + canary + `",{"Secret":{"x":[` + "\"" + canary + `"]}}]`,
		`{"Credentials":{"SecretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}}`,
		`{"a":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`,
		`{"a" : 1 , }`, `"just a string with ` + canary + `"`, `12`, ``,
	} {
		f.Add([]byte(s))
	}
	m := fuzzMasker(f)
	f.Fuzz(func(t *testing.T, doc []byte) {
		out, rep, err := m.JSON(doc)
		valid := json.Valid(doc)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			if valid {
				t.Fatalf("valid JSON refused: %v\n%q", err, doc)
			}
			return
		}
		if !valid {
			t.Fatalf("invalid JSON accepted: %q", doc)
		}
		if !json.Valid(out) {
			t.Fatalf("output not JSON:\n%q\n%q", doc, out)
		}
		for _, s := range stringsIn(t, out) {
			if strings.Contains(s, canary) {
				t.Fatalf("canary in a string value of the output:\n%q\n%q", doc, out)
			}
		}
		if rep.Total() == 0 && !bytes.Equal(out, doc) {
			t.Fatalf("nothing reported, yet the document changed:\n%q\n%q", doc, out)
		}
	})
}

// textsIn returns the character data of an XML document.
func textsIn(t *testing.T, doc []byte) []string {
	dec := xml.NewDecoder(bytes.NewReader(doc))
	var out []string
	adjacent := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("output does not decode: %v\n%s", err, doc)
		}
		// Adjacent text and CDATA read as one text.
		if cd, ok := tok.(xml.CharData); ok {
			if adjacent && len(out) > 0 {
				out[len(out)-1] += string(cd)
			} else {
				out = append(out, string(cd))
			}
			adjacent = true
		} else {
			adjacent = false
		}
	}
}

func FuzzXML(f *testing.F) {
	for _, s := range []string{
		assumeRole,
		`<?xml version="1.0"?><R><Secret>s</Secret><Value>v</Value><Note>` + canary + `</Note></R>`,
		`<R><a><Value>x<!--c-->y<![CDATA[z` + canary + `]]></Value></a></R>`,
		`<R xmlns:p="urn:x"><p:Value a="1">v</p:Value><Users><member><Value>u</Value></member></Users></R>`,
		`<R>CANARY-5d1e9b7&#x61;</R>`, `<R><Secret/></R>`, `<R>`, `<R></S>`, `text`, ``,
	} {
		f.Add([]byte(s))
	}
	m := fuzzMasker(f)
	f.Fuzz(func(t *testing.T, doc []byte) {
		out, rep, err := m.XML(doc)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		for _, s := range textsIn(t, out) {
			if strings.Contains(s, canary) {
				t.Fatalf("canary in the output's text:\n%q\n%q", doc, out)
			}
		}
		if rep.Total() == 0 && !bytes.Equal(out, doc) {
			t.Fatalf("nothing reported, yet the document changed:\n%q\n%q", doc, out)
		}
	})
}

// canaries are one value for each built-in detector, with the context
// some of them need.
var canaries = []struct{ det, before, value string }{
	{DetAccessKeyID, "", "AKIAQ3EGZXYZ5CANARY7"},
	{DetSecretKey, "aws_secret_access_key=", "Zq3+CanaryKey/0123456789abcdefghijKLMNOP"},
	{DetPrivateKey, "", "-----BEGIN PRIVATE KEY-----\nQ2FuYXJ5S2V5\n-----END PRIVATE KEY-----"},
	{DetJWT, "", "eyJhbGciOiJIUzI1NiJ9.eyJjYW5hcnkiOjF9.Q2FuYXJ5U2ln"},
	{DetEmail, "", "canary.5d1e@example.org"},
	{DetCard, "", "4000056655665556"},
	{DetSSN, "", "219-55-7342"},
}

func FuzzDetectors(f *testing.F) {
	f.Add([]byte("prefix "), []byte(" suffix"), uint8(0))
	f.Add([]byte("4111 "), []byte(" 1111"), uint8(5))
	f.Add([]byte("-----BEGIN RSA PRIVATE KEY-----\nabc"), []byte("@x.io"), uint8(3))
	f.Add([]byte("a@"), []byte(".eyJ"), uint8(4))
	f.Add([]byte("AKIAIOSFODNN7EXAMPLE,"), []byte("-12-3456"), uint8(6))
	f.Add([]byte{0xff, '\\', 'n'}, []byte("SecretAccessKey"), uint8(1))
	ds := []Detector{AccessKeyID(), SecretAccessKey(), PrivateKey(), JWT(), Email(), Card(), SSN()}
	f.Fuzz(func(t *testing.T, prefix, suffix []byte, which uint8) {
		c := canaries[int(which)%len(canaries)]
		text := slices.Concat(prefix, []byte("\n"+c.before), []byte(c.value), []byte("\n"), suffix)
		for _, d := range ds {
			last := 0
			for _, r := range d.Find(text) {
				if r[0] < last || r[1] <= r[0] || r[1] > len(text) {
					t.Fatalf("%s: bad range %v after %d in %d bytes", d.Name(), r, last, len(text))
				}
				last = r[1]
			}
		}
		m := &Masker{Detectors: ds}
		out, rep := m.Text(text)
		if bytes.Contains(out, []byte(c.value)) {
			t.Fatalf("%s canary survived:\n%q\n%q", c.det, text, out)
		}
		if rep.Total() == 0 {
			t.Fatal("nothing reported")
		}
		// The whole-value replacers are total functions too.
		for _, r := range []Replacer{Fixed(""), KeepLast(4, ""), mustHash(t)} {
			if v := r.Replace(c.det, text); bytes.Equal(v, text) && len(text) > 0 {
				t.Fatalf("replacer returned its input %q", text)
			}
		}
	})
}

func mustHash(t *testing.T) Replacer {
	h, err := Hash(hashKey, 0)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
