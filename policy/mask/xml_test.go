package mask

import (
	"encoding/xml"
	"errors"
	"strings"
	"testing"
)

func maskXML(t *testing.T, m *Masker, in string) (string, Report) {
	t.Helper()
	out, rep, err := m.XML([]byte(in))
	if err != nil {
		t.Fatalf("XML(%s): %v", in, err)
	}
	var v any
	if err := xml.Unmarshal(out, &v); err != nil {
		t.Fatalf("output is not XML: %s: %v", out, err)
	}
	return string(out), rep
}

const assumeRole = `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <Credentials>
      <AccessKeyId>ASIAY34FZKBOKMUTVV7A</AccessKeyId>
      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY</SecretAccessKey>
      <SessionToken>IQoJb3JpZ2luX2VjEOr//////////wEaCXVz&amp;Zg==</SessionToken>
      <Expiration>2025-01-01T00:00:00Z</Expiration>
    </Credentials>
    <AssumedRoleUser><Arn>arn:aws:sts::1:assumed-role/r/s</Arn></AssumedRoleUser>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ResponseMetadata>
</AssumeRoleResponse>`

func TestXMLDefaultMasksSTSCredentials(t *testing.T) {
	got, rep := maskXML(t, Default().For("sts:AssumeRole"), assumeRole)
	want := strings.NewReplacer(
		"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "****",
		"IQoJb3JpZ2luX2VjEOr//////////wEaCXVz&amp;Zg==", "****").Replace(assumeRole)
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if rep["aws-credentials"] != 2 || rep.Total() != 2 {
		t.Errorf("report %v", rep)
	}
}

func TestXMLPaths(t *testing.T) {
	doc := `<?xml version="1.0" encoding="UTF-8"?>
<GetParameterResponse><GetParameterResult><Parameter><Name>/p</Name><Value>s3cret</Value></Parameter></GetParameterResult></GetParameterResponse>`
	for _, path := range []string{
		"GetParameterResult.Parameter.Value",
		"GetParameterResponse.GetParameterResult.Parameter.Value", // naming the root too
		"*.Parameter.Value",
		"**.Value",
		"GetParameterResult.Parameter", // every leaf below
	} {
		m := &Masker{Fields: []FieldRule{rule("r", path)}}
		got, rep := maskXML(t, m, doc)
		if strings.Contains(got, "s3cret") || rep["r"] == 0 {
			t.Errorf("%s: got %s", path, got)
		}
		if path != "GetParameterResult.Parameter" && !strings.Contains(got, "<Name>/p</Name>") {
			t.Errorf("%s: masked too much: %s", path, got)
		}
	}
	for _, path := range []string{"Parameter.Value", "GetParameterResult.Value", "Value"} {
		m := &Masker{Fields: []FieldRule{rule("r", path)}}
		if got, _ := maskXML(t, m, doc); got != doc {
			t.Errorf("%s matched: %s", path, got)
		}
	}
}

func TestXMLListsAndMembers(t *testing.T) {
	doc := `<ListUsersResponse><ListUsersResult><Users>` +
		`<member><UserName>alice</UserName><Path>/</Path></member>` +
		`<member><UserName>bob</UserName><Path>/</Path></member>` +
		`</Users></ListUsersResult></ListUsersResponse>`
	m := &Masker{Fields: []FieldRule{rule("r", "ListUsersResult.Users[*].UserName")}}
	got, rep := maskXML(t, m, doc)
	if strings.Contains(got, "alice") || strings.Contains(got, "bob") || rep["r"] != 2 {
		t.Errorf("got %s %v", got, rep)
	}
	s3 := `<ListBucketResult><Name>b</Name><Contents><Key>a/ssn.txt</Key><Size>1</Size></Contents><Contents><Key>b</Key><Size>2</Size></Contents></ListBucketResult>`
	m = &Masker{Fields: []FieldRule{rule("keys", "Contents[*].Key")}}
	got, rep = maskXML(t, m, s3)
	if strings.Contains(got, "ssn.txt") || rep["keys"] != 2 || !strings.Contains(got, "<Size>2</Size>") {
		t.Errorf("got %s %v", got, rep)
	}
}

func TestXMLWholeTextOneValue(t *testing.T) {
	// Text split by a comment and CDATA is one value, replaced once.
	m := &Masker{Fields: []FieldRule{rule("r", "Value")}}
	got, rep := maskXML(t, m, `<R><Value>ab<!-- c -->cd<![CDATA[<ef>]]></Value><Empty/><Value></Value></R>`)
	if got != `<R><Value>****</Value><Empty/><Value></Value></R>` || rep["r"] != 1 {
		t.Errorf("got %s %v", got, rep)
	}
}

func TestXMLMixedContentUnderMaskedElement(t *testing.T) {
	m := &Masker{Fields: []FieldRule{rule("r", "Secret")}}
	got, rep := maskXML(t, m, `<R><Secret>abc<x>def</x>ghi</Secret></R>`)
	if got != `<R><Secret>****<x>****</x>****</Secret></R>` || rep["r"] != 3 {
		t.Errorf("got %s %v", got, rep)
	}
}

func TestXMLTextSplitByCDATAIsOneText(t *testing.T) {
	m := &Masker{Detectors: []Detector{Email()}}
	got, _ := maskXML(t, m, `<R><N>bob@exa<![CDATA[mple.com]]> ok</N></R>`)
	if got != `<R><N>**** ok</N></R>` {
		t.Errorf("got %s", got)
	}
}

func TestXMLDetectors(t *testing.T) {
	m := &Masker{Detectors: []Detector{Email(), PrivateKey()}}
	in := `<R a="attr@example.com"><Note>mail bob@example.com &amp; more</Note><K>-----BEGIN PRIVATE KEY-----&#xA;MIIB&#xA;-----END PRIVATE KEY-----</K></R>`
	got, rep := maskXML(t, m, in)
	want := `<R a="attr@example.com"><Note>mail **** &amp; more</Note><K>****</K></R>`
	if got != want || rep[DetEmail] != 1 || rep[DetPrivateKey] != 1 {
		t.Errorf("got\n%s\nwant\n%s\n%v", got, want, rep)
	}
}

func TestXMLReplacementIsEscaped(t *testing.T) {
	m := &Masker{Fields: []FieldRule{rule("r", "V")}, Replacer: Fixed("</V><x>&")}
	got, _ := maskXML(t, m, `<R><V>s</V></R>`)
	if got != `<R><V>&lt;/V&gt;&lt;x&gt;&amp;</V></R>` {
		t.Errorf("got %s", got)
	}
}

func TestXMLMalformedFailsClosed(t *testing.T) {
	m := &Masker{Fields: []FieldRule{rule("r", "V")}}
	for _, in := range []string{
		``, `   `, `plain text`, `<R><V>x</R>`, `<R><V>x</V>`, `<R>&bogus;</R>`, `<R></R> tail`,
		`<?xml version="1.0" encoding="ISO-8859-1"?><R/>`, `<R a=1/>`,
		strings.Repeat("<a>", maxDepth+1) + strings.Repeat("</a>", maxDepth+1),
	} {
		if _, _, err := m.XML([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("XML(%.40q): err = %v, want ErrMalformed", in, err)
		}
	}
}
