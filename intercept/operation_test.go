package intercept

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestDescribeHost(t *testing.T) {
	for host, want := range map[string][2]string{
		"s3.amazonaws.com":                         {"s3", ""},
		"s3.us-east-1.amazonaws.com":               {"s3", "us-east-1"},
		"bucket.s3.eu-west-1.amazonaws.com":        {"s3", "eu-west-1"},
		"my.dotted.bucket.s3.amazonaws.com":        {"s3", ""},
		"sts.amazonaws.com":                        {"sts", ""},
		"sts.us-west-2.amazonaws.com":              {"sts", "us-west-2"},
		"dynamodb.us-east-1.amazonaws.com":         {"dynamodb", "us-east-1"},
		"portal.sso.eu-central-1.amazonaws.com":    {"portal.sso", "eu-central-1"},
		"cognito-identity.us-east-1.amazonaws.com": {"cognito-identity", "us-east-1"},
		"bedrock-runtime.us-east-1.amazonaws.com":  {"bedrock-runtime", "us-east-1"},
	} {
		s, r := describeHost(host)
		if s != want[0] || r != want[1] {
			t.Errorf("describeHost(%q) = %q, %q; want %q, %q", host, s, r, want[0], want[1])
		}
	}
}

func TestOperation(t *testing.T) {
	get := func(u string, h ...string) *http.Request {
		r, _ := http.NewRequest("GET", u, nil)
		for i := 0; i+1 < len(h); i += 2 {
			r.Header.Set(h[i], h[i+1])
		}
		return r
	}
	tests := []struct {
		name, service string
		r             *http.Request
		form          url.Values
		want          string
	}{
		{"query protocol form", "sts", get("https://sts.amazonaws.com/"), url.Values{"Action": {"AssumeRole"}}, "AssumeRole"},
		{"query protocol GET", "iam", get("https://iam.amazonaws.com/?Action=CreateAccessKey&Version=2010-05-08"), nil, "CreateAccessKey"},
		{"JSON target", "cognito-identity", get("https://cognito-identity.us-east-1.amazonaws.com/", "X-Amz-Target", "AWSCognitoIdentityService.GetCredentialsForIdentity"), nil, "GetCredentialsForIdentity"},
		{"SSO portal", "portal.sso", get("https://portal.sso.us-east-1.amazonaws.com/federation/credentials?role_name=x"), nil, "GetRoleCredentials"},
		{"REST call", "s3", get("https://s3.amazonaws.com/bucket/key"), nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := operation(tt.r, tt.service, tt.form)
			if got != tt.want {
				t.Fatalf("operation = %q, want %q", got, tt.want)
			}
			if got != "" && strings.Contains(tt.name, "protocol") && !vendsCredentials[tt.service+":"+got] {
				t.Errorf("%s:%s is not listed as credential-vending", tt.service, got)
			}
		})
	}
}

func TestCELParamsTurnJSONNumbersIntoNumbers(t *testing.T) {
	in := map[string]any{"Limit": json.Number("250"), "Key": map[string]any{"n": map[string]any{"N": "5"}}, "List": []any{json.Number("1.5")}, "Name": "t"}
	out := celParams(in)
	if out["Limit"] != 250.0 || out["List"].([]any)[0] != 1.5 || out["Name"] != "t" {
		t.Fatalf("%#v", out)
	}
	if _, ok := in["Limit"].(json.Number); !ok {
		t.Fatal("the described call's params were changed")
	}
	plain := map[string]any{"Bucket": "b"}
	if got := celParams(plain); got["Bucket"] != "b" {
		t.Fatal(got)
	}
}

func TestUnchunk(t *testing.T) {
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"unsigned with trailer", "5\r\nhello\r\n3\r\n!!!\r\n0\r\nx-amz-checksum-crc32:AAAA\r\n\r\n", "hello!!!", true},
		{"signed chunks", "5;chunk-signature=abc\r\nhello\r\n0;chunk-signature=def\r\n\r\n", "hello", true},
		{"short chunk", "9\r\nhello\r\n0\r\n\r\n", "", false},
		{"bad size", "zz\r\nhello\r\n", "", false},
		{"no terminator", "5\r\nhello\r\n", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := unchunk([]byte(tt.in))
			if (err == nil) != tt.ok || string(got) != tt.want {
				t.Fatalf("unchunk = %q, %v", got, err)
			}
		})
	}
}
