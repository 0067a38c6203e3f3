package sigv4

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

const (
	sig64   = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
	credOK  = "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"
	amzDate = "20130524T000000Z"
)

func TestParseAuthorizationHeader(t *testing.T) {
	std := "AWS4-HMAC-SHA256 Credential=" + credOK + ", SignedHeaders=host;range;x-amz-date, Signature=" + sig64
	cases := []struct {
		name   string
		header http.Header
		query  string
		want   string // error code, "" for success, "unsigned" for ErrUnsigned
		check  func(t *testing.T, a *Auth)
	}{
		{name: "SDK form with spaces after commas", header: http.Header{"Authorization": {std}, "X-Amz-Date": {amzDate}}, check: func(t *testing.T, a *Auth) {
			if a.AccessKeyID != "AKIAIOSFODNN7EXAMPLE" || a.Scope != (Scope{"20130524", "us-east-1", "s3"}) || a.Signature != sig64 ||
				strings.Join(a.SignedHeaders, ";") != "host;range;x-amz-date" || a.Presigned || !a.Date.Equal(time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)) {
				t.Errorf("%+v", a)
			}
		}},
		{name: "no spaces after commas", header: http.Header{"Authorization": {strings.ReplaceAll(std, ", ", ",")}, "X-Amz-Date": {amzDate}}},
		{name: "components in another order", header: http.Header{"Authorization": {"AWS4-HMAC-SHA256 Signature=" + sig64 + ",Credential=" + credOK + ",SignedHeaders=host"}, "X-Amz-Date": {amzDate}}},
		{name: "Date header instead of X-Amz-Date", header: http.Header{"Authorization": {std}, "Date": {"Fri, 24 May 2013 00:00:00 GMT"}}, check: func(t *testing.T, a *Auth) {
			if !a.Date.Equal(time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)) {
				t.Errorf("Date = %v", a.Date)
			}
		}},
		{name: "X-Amz-Date wins over Date", header: http.Header{"Authorization": {std}, "X-Amz-Date": {"20130524T010203Z"}, "Date": {"Fri, 24 May 2013 00:00:00 GMT"}}, check: func(t *testing.T, a *Auth) {
			if a.Date.Hour() != 1 {
				t.Errorf("Date = %v", a.Date)
			}
		}},
		{name: "session token and payload hash", header: http.Header{"Authorization": {std}, "X-Amz-Date": {amzDate}, "X-Amz-Security-Token": {"tok/en+="}, "X-Amz-Content-Sha256": {StreamingSignedTrailer}}, check: func(t *testing.T, a *Auth) {
			if a.SessionToken != "tok/en+=" || a.PayloadHash != StreamingSignedTrailer {
				t.Errorf("%+v", a)
			}
		}},
		{name: "no auth at all", header: http.Header{}, want: "unsigned"},
		{name: "empty Authorization", header: http.Header{"Authorization": {""}}, want: "AuthorizationHeaderMalformed"},
		{name: "SigV2", header: http.Header{"Authorization": {"AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg="}}, want: "InvalidRequest"},
		{name: "SigV4a", header: http.Header{"Authorization": {"AWS4-ECDSA-P256-SHA256 Credential=AKID/20130524/s3/aws4_request, SignedHeaders=host, Signature=3045"}}, want: "InvalidRequest"},
		{name: "SigV2 presigned", query: "AWSAccessKeyId=AKID&Expires=1&Signature=abc", want: "InvalidRequest"},
		{name: "missing Signature", header: http.Header{"Authorization": {"AWS4-HMAC-SHA256 Credential=" + credOK + ", SignedHeaders=host"}, "X-Amz-Date": {amzDate}}, want: "IncompleteSignature"},
		{name: "missing Credential", header: http.Header{"Authorization": {"AWS4-HMAC-SHA256 SignedHeaders=host, Signature=" + sig64}, "X-Amz-Date": {amzDate}}, want: "IncompleteSignature"},
		{name: "missing date", header: http.Header{"Authorization": {std}}, want: "IncompleteSignature"},
		{name: "component twice", header: http.Header{"Authorization": {std + ", Signature=" + sig64}, "X-Amz-Date": {amzDate}}, want: "AuthorizationHeaderMalformed"},
		{name: "unknown component", header: http.Header{"Authorization": {std + ", Foo=bar"}, "X-Amz-Date": {amzDate}}, want: "AuthorizationHeaderMalformed"},
		{name: "trailing comma", header: http.Header{"Authorization": {std + ","}, "X-Amz-Date": {amzDate}}, want: "AuthorizationHeaderMalformed"},
		{name: "credential with four parts", header: http.Header{"Authorization": {strings.Replace(std, "/us-east-1", "", 1)}, "X-Amz-Date": {amzDate}}, want: "AuthorizationHeaderMalformed"},
		{name: "credential terminator wrong", header: http.Header{"Authorization": {strings.Replace(std, "aws4_request", "aws4_requesT", 1)}, "X-Amz-Date": {amzDate}}, want: "AuthorizationHeaderMalformed"},
		{name: "credential date invalid", header: http.Header{"Authorization": {strings.Replace(std, "20130524", "20131324", 1)}, "X-Amz-Date": {amzDate}}, want: "AuthorizationHeaderMalformed"},
		{name: "newline in region", header: http.Header{"Authorization": {strings.Replace(std, "us-east-1", "us\neast", 1)}, "X-Amz-Date": {amzDate}}, want: "AuthorizationHeaderMalformed"},
		{name: "signed headers unsorted", header: http.Header{"Authorization": {strings.Replace(std, "host;range", "range;host", 1)}, "X-Amz-Date": {amzDate}}, want: "AuthorizationHeaderMalformed"},
		{name: "signed headers upper case", header: http.Header{"Authorization": {strings.Replace(std, "host;range", "Host;range", 1)}, "X-Amz-Date": {amzDate}}, want: "AuthorizationHeaderMalformed"},
		{name: "signed header listed twice", header: http.Header{"Authorization": {strings.Replace(std, "host;range", "host;host;range", 1)}, "X-Amz-Date": {amzDate}}, want: "AuthorizationHeaderMalformed"},
		{name: "short signature", header: http.Header{"Authorization": {strings.Replace(std, sig64, sig64[:63], 1)}, "X-Amz-Date": {amzDate}}, want: "AuthorizationHeaderMalformed"},
		{name: "X-Amz-Date in another format", header: http.Header{"Authorization": {std}, "X-Amz-Date": {"2013-05-24T00:00:00Z"}}, want: "AuthorizationHeaderMalformed"},
		{name: "two Authorization headers", header: http.Header{"Authorization": {std, std}, "X-Amz-Date": {amzDate}}, want: "AuthorizationHeaderMalformed"},
		{name: "payload hash not a hash", header: http.Header{"Authorization": {std}, "X-Amz-Date": {amzDate}, "X-Amz-Content-Sha256": {"abc"}}, want: "InvalidRequest"},
		{name: "event stream payload", header: http.Header{"Authorization": {std}, "X-Amz-Date": {amzDate}, "X-Amz-Content-Sha256": {"STREAMING-AWS4-HMAC-SHA256-EVENTS"}}, want: "InvalidRequest"},
		{name: "header and presign together", header: http.Header{"Authorization": {std}, "X-Amz-Date": {amzDate}}, query: "X-Amz-Algorithm=AWS4-HMAC-SHA256", want: "InvalidRequest"},
		{name: "auth parameter in another spelling", header: http.Header{"Authorization": {std}, "X-Amz-Date": {amzDate}}, query: "x-amz-credential=AKID", want: "AuthorizationQueryParametersError"},
		{name: "malformed query", header: http.Header{"Authorization": {std}, "X-Amz-Date": {amzDate}}, query: "a=%zz", want: "InvalidRequest"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &http.Request{Method: "GET", Host: "examplebucket.s3.amazonaws.com", Header: c.header}
			r.URL = mustURL(t, "/test.txt?"+c.query)
			a, err := Parse(r)
			checkParse(t, a, err, c.want)
			if err == nil && c.check != nil {
				c.check(t, a)
			}
		})
	}
}

func TestParsePresigned(t *testing.T) {
	base := "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=" + sig64
	sts := strings.Replace(strings.Replace(base, "%2Fs3%2F", "%2Fsts%2F", 1), "&X-Amz-Expires=86400", "", 1)
	cases := []struct {
		name  string
		query string
		hdr   http.Header
		want  string
		check func(t *testing.T, a *Auth)
	}{
		{name: "S3 presigned URL", query: base, check: func(t *testing.T, a *Auth) {
			if !a.Presigned || a.Expires != 24*time.Hour || a.PayloadHash != UnsignedPayload || a.AccessKeyID != "AKIAIOSFODNN7EXAMPLE" {
				t.Errorf("%+v", a)
			}
		}},
		{name: "session token in the query", query: base + "&X-Amz-Security-Token=tok%2Fen%2B", check: func(t *testing.T, a *Auth) {
			if a.SessionToken != "tok/en+" {
				t.Errorf("token %q", a.SessionToken)
			}
		}},
		{name: "declared payload hash header", query: base, hdr: http.Header{"X-Amz-Content-Sha256": {sig64}}, check: func(t *testing.T, a *Auth) {
			if a.PayloadHash != sig64 {
				t.Errorf("PayloadHash %q", a.PayloadHash)
			}
		}},
		{name: "non-S3 without X-Amz-Expires: 15 minutes, body hash", query: sts, check: func(t *testing.T, a *Auth) {
			if a.Expires != 15*time.Minute || a.PayloadHash != "" {
				t.Errorf("%+v", a)
			}
		}},
		{name: "S3 without X-Amz-Expires", query: strings.Replace(base, "&X-Amz-Expires=86400", "", 1), want: "AuthorizationQueryParametersError"},
		{name: "expires over a week", query: strings.Replace(base, "86400", "604801", 1), want: "AuthorizationQueryParametersError"},
		{name: "expires a week", query: strings.Replace(base, "86400", "604800", 1)},
		{name: "negative expires", query: strings.Replace(base, "86400", "-1", 1), want: "AuthorizationQueryParametersError"},
		{name: "other algorithm", query: strings.Replace(base, "AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256", 1), want: "AuthorizationQueryParametersError"},
		{name: "missing signature", query: strings.Replace(base, "&X-Amz-Signature="+sig64, "", 1), want: "AuthorizationQueryParametersError"},
		{name: "signature only", query: "X-Amz-Signature=" + sig64, want: "AuthorizationQueryParametersError"},
		{name: "signature twice", query: base + "&X-Amz-Signature=" + sig64, want: "AuthorizationQueryParametersError"},
		{name: "bad credential", query: strings.Replace(base, "%2Fus-east-1", "", 1), want: "AuthorizationQueryParametersError"},
		{name: "bad date", query: strings.Replace(base, "20130524T000000Z", "20130524T250000Z", 1), want: "AuthorizationQueryParametersError"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &http.Request{Method: "GET", Host: "examplebucket.s3.amazonaws.com", Header: c.hdr}
			if r.Header == nil {
				r.Header = http.Header{}
			}
			r.URL = mustURL(t, "/test.txt?"+c.query)
			a, err := Parse(r)
			checkParse(t, a, err, c.want)
			if err == nil && c.check != nil {
				c.check(t, a)
			}
		})
	}
}

func checkParse(t *testing.T, a *Auth, err error, want string) {
	t.Helper()
	switch want {
	case "":
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
	case "unsigned":
		if !errors.Is(err, ErrUnsigned) {
			t.Fatalf("Parse = %v, want ErrUnsigned", err)
		}
	default:
		var e *Error
		if !errors.As(err, &e) || e.Code != want {
			t.Fatalf("Parse = %v, %v; want *Error %s", a, err, want)
		}
		if e.Status != http.StatusBadRequest || e.Message == "" {
			t.Errorf("status %d, message %q", e.Status, e.Message)
		}
		if strings.Contains(e.Message, sig64) {
			t.Errorf("message echoes the signature: %q", e.Message)
		}
	}
}
