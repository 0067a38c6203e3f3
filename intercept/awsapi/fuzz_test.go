package awsapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// FuzzDescribe: whatever arrives (method, host, path, query, a header,
// body, service name), Describe neither panics nor answers differently
// twice, an unidentified call is "<service>:Unknown", and Params never
// carries auth parameters. Seeds are the unit tests' requests.
func FuzzDescribe(f *testing.F) {
	for _, tc := range describeCases {
		hk, hv := "", ""
		for k, v := range tc.req.header {
			hk, hv = k, v
		}
		f.Add(tc.req.method, tc.req.host, tc.req.uri, hk, hv, []byte(tc.req.body), serviceFor(tc.req), tc.req.region)
	}
	f.Fuzz(func(t *testing.T, method, host, uri, hk, hv string, body []byte, service, region string) {
		u, err := url.ParseRequestURI(uri)
		if err != nil {
			path, q, _ := strings.Cut(uri, "?")
			u = &url.URL{Path: path, RawPath: path, RawQuery: q}
		}
		r := &http.Request{Method: method, Host: host, URL: u, Header: http.Header{}}
		if hk != "" {
			r.Header[hk] = []string{hv}
		}
		a := Describe(r, body, service, region, Options{Account: acct})
		b := Describe(r, body, service, region, Options{Account: acct})
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("not deterministic:\n%+v\n%+v", a, b)
		}
		if a.Operation == "" && !strings.HasSuffix(a.Action, ":Unknown") {
			t.Fatalf("no operation but action %q", a.Action)
		}
		if a.Operation != "" && (a.Action == "" || strings.HasSuffix(a.Action, ":Unknown")) {
			t.Fatalf("operation %q but action %q", a.Operation, a.Action)
		}
		for k := range a.Params {
			lk := strings.ToLower(k)
			if strings.HasPrefix(lk, "x-amz-") || strings.Contains(lk, "signature") || lk == "awsaccesskeyid" {
				t.Fatalf("Params carries %q", k)
			}
		}
	})
}

// FuzzDupKeys holds the hand-written scanner to encoding/json's reading of
// the same bytes: for any valid JSON, a repeated top-level key is found
// exactly when the decoder's tokens show one.
func FuzzDupKeys(f *testing.F) {
	for _, s := range []string{`{"a":1,"a":2}`, `{"a":{"a":1},"b":[{"a":2}]}`, `{"\u0061":1,"a":2}`, `{"a":"\"}","b":1}`, `[]`, `{}`, "{\"\xff\":1,\"\xfe\":2}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := dupKeys(b)
		if !json.Valid(b) {
			return
		}
		if want := dupKeysReference(b); got != want {
			t.Fatalf("dupKeys(%q) = %v, encoding/json says %v", b, got, want)
		}
	})
}

func dupKeysReference(b []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		k := tok.(string)
		if seen[k] {
			return true
		}
		seen[k] = true
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return false
		}
	}
	return false
}
