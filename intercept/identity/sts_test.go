package identity

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"
	jose "github.com/go-jose/go-jose/v4"
)

const (
	testRoleARN = "arn:aws:iam::123456789012:role/agents/agent-role"
	testAccount = "210987654321" // what Gatehouse reports for keys
)

// stsFixture is Gatehouse's STS on a real socket, answered by this
// package the way intercept's chain will: ParseForm, Action, then
// AssumeRoleWithWebIdentity (unsigned), or GetCallerIdentity for the
// identity Lookup finds behind the request's access key id (the signature
// itself is intercept/sigv4's to check).
type stsFixture struct {
	issuer   *testIssuer
	sts      *STS
	lookup   *Lookup
	keys     *KeyStore
	srv      *httptest.Server
	requests atomic.Int32

	mu       sync.Mutex
	bodies   []string // every response body, to search for leaks
	outcomes []Outcome
}

func newSTSFixture(t *testing.T) *stsFixture {
	t.Helper()
	f := &stsFixture{issuer: newTestIssuer(t)}
	v, err := NewVerifier([]IssuerConfig{f.issuer.config()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ks, ring, _ := newTestKeyStore(t)
	sessions := NewSessions(ring)
	f.keys = ks
	f.lookup = &Lookup{Sessions: sessions, Keys: ks}
	f.sts = &STS{Verifier: v, Sessions: sessions, Report: func(_ context.Context, o Outcome) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.outcomes = append(f.outcomes, o)
	}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *stsFixture) serve(w http.ResponseWriter, r *http.Request) {
	reqID := fmt.Sprintf("gh-%d", f.requests.Add(1))
	body, _ := io.ReadAll(io.LimitReader(r.Body, MaxFormBytes+1))
	status, out := f.answer(r, body, reqID)
	f.mu.Lock()
	f.bodies = append(f.bodies, string(out))
	f.mu.Unlock()
	w.Header().Set("Content-Type", STSContentType)
	w.Header().Set("X-Amzn-Requestid", reqID)
	w.WriteHeader(status)
	w.Write(out)
}

func (f *stsFixture) answer(r *http.Request, body []byte, reqID string) (int, []byte) {
	form, err := ParseForm(r, body)
	if err != nil {
		return ErrorResponse("MalformedQueryString", "Gatehouse: malformed STS request", reqID, 400)
	}
	action, err := Action(form)
	if err != nil {
		return ErrorResponse("InvalidAction", "Gatehouse: unknown STS action or version", reqID, 400)
	}
	switch action {
	case "AssumeRoleWithWebIdentity":
		return f.sts.AssumeRoleWithWebIdentity(r.Context(), form, reqID, time.Now())
	case "GetCallerIdentity":
		akid := accessKeyIDOf(r.Header.Get("Authorization"))
		id, _, err := f.lookup.Credentials(akid, r.Header.Get("X-Amz-Security-Token"), time.Now())
		if err != nil {
			code, status := ErrorCode(err)
			return ErrorResponse(code, "Gatehouse: credentials not valid", reqID, status)
		}
		return f.sts.GetCallerIdentity(id, testAccount, reqID)
	}
	return ErrorResponse("InvalidAction", "Gatehouse: unknown STS action", reqID, 400)
}

// accessKeyIDOf reads Credential=AKID/... from a SigV4 Authorization header.
func accessKeyIDOf(auth string) string {
	_, rest, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return ""
	}
	akid, _, _ := strings.Cut(rest, "/")
	return akid
}

// client is an SDK STS client for the fixture: no retries, so each call is
// one request.
func (f *stsFixture) client(creds aws.CredentialsProvider) *sts.Client {
	return sts.New(sts.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(f.srv.URL),
		Credentials:  creds,
		Retryer:      aws.NopRetryer{},
	})
}

func TestSTSAssumeRoleWithWebIdentityWithSDK(t *testing.T) {
	f := newSTSFixture(t)
	is := f.issuer
	now := time.Now()

	tests := []struct {
		name  string
		token func() string
		input func(*sts.AssumeRoleWithWebIdentityInput)
		sts   func(*STS)
		check func(t *testing.T, out *sts.AssumeRoleWithWebIdentityOutput, err error)
	}{
		{
			name:  "valid token gets session credentials",
			token: func() string { return is.sign(jose.RS256, "rsa-1", is.claims(nil)) },
			check: func(t *testing.T, out *sts.AssumeRoleWithWebIdentityOutput, err error) {
				if err != nil {
					t.Fatal(err)
				}
				c := out.Credentials
				if !sessionKeyIDPattern.MatchString(aws.ToString(c.AccessKeyId)) || !secretPattern.MatchString(aws.ToString(c.SecretAccessKey)) || aws.ToString(c.SessionToken) == "" {
					t.Errorf("credentials %+v", c)
				}
				if d := aws.ToTime(c.Expiration).Sub(now.Add(time.Hour)); d < -2*time.Second || d > 2*time.Second {
					t.Errorf("expiration %v, want an hour from now", aws.ToTime(c.Expiration))
				}
				if got, want := aws.ToString(out.AssumedRoleUser.Arn), "arn:aws:sts::123456789012:assumed-role/agent-role/build-42"; got != want {
					t.Errorf("assumed role ARN %q, want %q", got, want)
				}
				if got := aws.ToString(out.AssumedRoleUser.AssumedRoleId); !strings.HasPrefix(got, "GHR") || !strings.HasSuffix(got, ":build-42") {
					t.Errorf("assumed role id %q", got)
				}
				if aws.ToString(out.SubjectFromWebIdentityToken) != "system:serviceaccount:agents:builder" || aws.ToString(out.Provider) != is.URL || aws.ToString(out.Audience) != testAudience {
					t.Errorf("subject %q provider %q audience %q", aws.ToString(out.SubjectFromWebIdentityToken), aws.ToString(out.Provider), aws.ToString(out.Audience))
				}
				// The credentials open here, with the identity sealed in.
				id, secret, err := f.lookup.Credentials(aws.ToString(c.AccessKeyId), aws.ToString(c.SessionToken), time.Now())
				if err != nil || secret != aws.ToString(c.SecretAccessKey) {
					t.Fatalf("the SDK's credentials do not open: %v", err)
				}
				if id.Role != testRoleARN || id.SessionName != "build-42" || id.Subject != "system:serviceaccount:agents:builder" || len(id.Groups) != 2 {
					t.Errorf("sealed identity %+v", id)
				}
			},
		},
		{
			name: "DurationSeconds honoured",
			token: func() string {
				return is.sign(jose.RS256, "rsa-1", is.claims(map[string]any{"exp": now.Add(6 * time.Hour).Unix()}))
			},
			input: func(in *sts.AssumeRoleWithWebIdentityInput) { in.DurationSeconds = aws.Int32(7200) },
			check: func(t *testing.T, out *sts.AssumeRoleWithWebIdentityOutput, err error) {
				if err != nil {
					t.Fatal(err)
				}
				if d := aws.ToTime(out.Credentials.Expiration).Sub(now.Add(2 * time.Hour)); d < -2*time.Second || d > 2*time.Second {
					t.Errorf("expiration %v, want two hours from now", aws.ToTime(out.Credentials.Expiration))
				}
			},
		},
		{
			name: "session ends with the token",
			token: func() string {
				return is.sign(jose.RS256, "rsa-1", is.claims(map[string]any{"exp": now.Add(20 * time.Minute).Unix()}))
			},
			check: func(t *testing.T, out *sts.AssumeRoleWithWebIdentityOutput, err error) {
				if err != nil {
					t.Fatal(err)
				}
				if got, want := aws.ToTime(out.Credentials.Expiration).Unix(), now.Add(20*time.Minute).Unix(); got != want {
					t.Errorf("expiration %d, want the token's exp %d", got, want)
				}
			},
		},
		{
			name: "expired token is ExpiredTokenException",
			token: func() string {
				return is.sign(jose.RS256, "rsa-1", is.claims(map[string]any{"exp": now.Add(-time.Minute).Unix(), "nbf": now.Add(-time.Hour).Unix()}))
			},
			check: wantSDKError[*types.ExpiredTokenException]("ExpiredTokenException", 400, "token has expired"),
		},
		{
			name:  "wrong audience is InvalidIdentityToken",
			token: func() string { return is.sign(jose.RS256, "rsa-1", is.claims(map[string]any{"aud": "other"})) },
			check: wantSDKError[*types.InvalidIdentityTokenException]("InvalidIdentityToken", 400, "audience not allowed"),
		},
		{
			name:  "alg none is InvalidIdentityToken",
			token: func() string { return unsignedToken(is.claims(nil)) },
			check: wantSDKError[*types.InvalidIdentityTokenException]("InvalidIdentityToken", 400, "algorithm not allowed"),
		},
		{
			name:  "HS256 with the public key is InvalidIdentityToken",
			token: func() string { return confusedToken(t, &testRSAKey.PublicKey, "rsa-1", is.claims(nil)) },
			check: wantSDKError[*types.InvalidIdentityTokenException]("InvalidIdentityToken", 400, "algorithm not allowed"),
		},
		{
			name: "unconfigured issuer is InvalidIdentityToken",
			token: func() string {
				return is.sign(jose.RS256, "rsa-1", is.claims(map[string]any{"iss": "https://other.example"}))
			},
			check: wantSDKError[*types.InvalidIdentityTokenException]("InvalidIdentityToken", 400, "issuer not configured"),
		},
		{
			name:  "session name outside IAM's alphabet is ValidationError",
			token: func() string { return is.sign(jose.RS256, "rsa-1", is.claims(nil)) },
			input: func(in *sts.AssumeRoleWithWebIdentityInput) { in.RoleSessionName = aws.String("no spaces allowed") },
			check: wantSDKError[*smithy.GenericAPIError]("ValidationError", 400, "roleSessionName"),
		},
		{
			name:  "role that is not a role ARN is ValidationError",
			token: func() string { return is.sign(jose.RS256, "rsa-1", is.claims(nil)) },
			input: func(in *sts.AssumeRoleWithWebIdentityInput) {
				in.RoleArn = aws.String("arn:aws:iam::123456789012:user/someone")
			},
			check: wantSDKError[*smithy.GenericAPIError]("ValidationError", 400, "roleArn"),
		},
		{
			name:  "DurationSeconds under 900 is ValidationError",
			token: func() string { return is.sign(jose.RS256, "rsa-1", is.claims(nil)) },
			input: func(in *sts.AssumeRoleWithWebIdentityInput) { in.DurationSeconds = aws.Int32(60) },
			check: wantSDKError[*smithy.GenericAPIError]("ValidationError", 400, "durationSeconds"),
		},
		{
			name:  "DurationSeconds over the maximum is ValidationError",
			token: func() string { return is.sign(jose.RS256, "rsa-1", is.claims(nil)) },
			input: func(in *sts.AssumeRoleWithWebIdentityInput) { in.DurationSeconds = aws.Int32(13 * 3600) },
			check: wantSDKError[*smithy.GenericAPIError]("ValidationError", 400, "MaxSessionDuration"),
		},
		{
			name:  "a session policy Gatehouse cannot honour is ValidationError",
			token: func() string { return is.sign(jose.RS256, "rsa-1", is.claims(nil)) },
			input: func(in *sts.AssumeRoleWithWebIdentityInput) { in.Policy = aws.String(`{"Version":"2012-10-17"}`) },
			check: wantSDKError[*smithy.GenericAPIError]("ValidationError", 400, "Policy"),
		},
		{
			name: "the largest token AWS accepts gets a session",
			token: func() string {
				var groups []string
				for i := range 140 {
					groups = append(groups, fmt.Sprintf("group-%03d-%s", i, strings.Repeat("x", 90)))
				}
				tok := is.sign(jose.RS256, "rsa-1", is.claims(map[string]any{"groups": groups}))
				if len(tok) > MaxTokenLen || len(tok) < MaxTokenLen-1000 {
					t.Fatalf("token of %d characters, want just under %d", len(tok), MaxTokenLen)
				}
				return tok
			},
			check: func(t *testing.T, out *sts.AssumeRoleWithWebIdentityOutput, err error) {
				if err != nil {
					t.Fatal(err)
				}
				id, _, err := f.lookup.Credentials(aws.ToString(out.Credentials.AccessKeyId), aws.ToString(out.Credentials.SessionToken), time.Now())
				if err != nil || len(id.Groups) != 140 {
					t.Fatalf("session of %d characters: %v", len(aws.ToString(out.Credentials.SessionToken)), err)
				}
			},
		},
		{
			name:  "identity refused by Authorize is AccessDenied",
			token: func() string { return is.sign(jose.RS256, "rsa-1", is.claims(nil)) },
			sts: func(s *STS) {
				s.Authorize = func(_ context.Context, id *Identity) error {
					return fmt.Errorf("policy: %s may not assume %s", id, id.Role)
				}
			},
			check: wantSDKError[*smithy.GenericAPIError]("AccessDenied", 403, "not authorized"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			saved := *f.sts
			defer func() { *f.sts = saved }()
			if tt.sts != nil {
				tt.sts(f.sts)
			}
			tok := tt.token()
			in := &sts.AssumeRoleWithWebIdentityInput{
				RoleArn:          aws.String(testRoleARN),
				RoleSessionName:  aws.String("build-42"),
				WebIdentityToken: aws.String(tok),
			}
			if tt.input != nil {
				tt.input(in)
			}
			out, err := f.client(nil).AssumeRoleWithWebIdentity(context.Background(), in)
			tt.check(t, out, err)
			if err != nil {
				assertNoToken(t, err.Error(), tok)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			for _, b := range f.bodies {
				assertNoToken(t, b, tok)
			}
			for _, o := range f.outcomes {
				if o.Err != nil {
					assertNoToken(t, o.Err.Error(), tok)
				}
			}
		})
	}
}

// wantSDKError checks that the SDK surfaced the STS error as the type E
// with code, HTTP status and a message naming why.
func wantSDKError[E error](code string, status int, msg string) func(*testing.T, *sts.AssumeRoleWithWebIdentityOutput, error) {
	return func(t *testing.T, _ *sts.AssumeRoleWithWebIdentityOutput, err error) {
		t.Helper()
		var typed E
		if !errors.As(err, &typed) {
			t.Fatalf("error %v (%T), want %T", err, err, typed)
		}
		var api smithy.APIError
		if !errors.As(err, &api) || api.ErrorCode() != code || !strings.Contains(api.ErrorMessage(), msg) {
			t.Errorf("API error %v, want code %s with a message mentioning %q", err, code, msg)
		}
		var re *awshttp.ResponseError
		if !errors.As(err, &re) || re.HTTPStatusCode() != status || !strings.HasPrefix(re.ServiceRequestID(), "gh-") {
			t.Errorf("HTTP status %d, request id %q; want %d and ours", re.HTTPStatusCode(), re.ServiceRequestID(), status)
		}
	}
}

func TestSTSIdPDownIsIDPCommunicationError(t *testing.T) {
	f := newSTSFixture(t)
	f.issuer.down.Store(true)
	_, err := f.client(nil).AssumeRoleWithWebIdentity(context.Background(), &sts.AssumeRoleWithWebIdentityInput{
		RoleArn:          aws.String(testRoleARN),
		RoleSessionName:  aws.String("s1"),
		WebIdentityToken: aws.String(f.issuer.sign(jose.RS256, "rsa-1", f.issuer.claims(nil))),
	})
	var idp *types.IDPCommunicationErrorException
	if !errors.As(err, &idp) {
		t.Fatalf("IdP down: %v (%T), want IDPCommunicationErrorException", err, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.outcomes) != 1 || f.outcomes[0].Code != "IDPCommunicationError" || !errors.Is(f.outcomes[0].Err, ErrIdPUnavailable) {
		t.Errorf("reported %+v", f.outcomes)
	}
}

func TestSTSGetCallerIdentityWithSDK(t *testing.T) {
	f := newSTSFixture(t)
	is := f.issuer
	out, err := f.client(nil).AssumeRoleWithWebIdentity(context.Background(), &sts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String(testRoleARN), RoleSessionName: aws.String("build-42"),
		WebIdentityToken: aws.String(is.sign(jose.RS256, "rsa-1", is.claims(nil))),
	})
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	key, keySecret, err := f.keys.Create("batch-runner", nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name                     string
		creds                    aws.CredentialsProvider
		wantArn, wantAcct, wantU string // wantArn "" means InvalidClientTokenId
	}{
		{"OIDC session is its assumed role", credentials.NewStaticCredentialsProvider(*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken),
			"arn:aws:sts::123456789012:assumed-role/agent-role/build-42", "123456789012", ":build-42"},
		{"static key is a Gatehouse user", credentials.NewStaticCredentialsProvider(key.AccessKeyID, keySecret, ""),
			"arn:aws:iam::" + testAccount + ":user/gatehouse/batch-runner", testAccount, "GHU"},
		{"session without its token", credentials.NewStaticCredentialsProvider(*c.AccessKeyId, *c.SecretAccessKey, ""), "", "", ""},
		{"a real AWS key", credentials.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""), "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.client(tt.creds).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
			if tt.wantArn == "" {
				var api smithy.APIError
				if !errors.As(err, &api) || api.ErrorCode() != "InvalidClientTokenId" {
					t.Fatalf("GetCallerIdentity = %v, want InvalidClientTokenId", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(got.Arn) != tt.wantArn || aws.ToString(got.Account) != tt.wantAcct || !strings.Contains(aws.ToString(got.UserId), tt.wantU) {
				t.Errorf("caller %s %s %s, want %s %s *%s*", aws.ToString(got.Arn), aws.ToString(got.Account), aws.ToString(got.UserId), tt.wantArn, tt.wantAcct, tt.wantU)
			}
		})
	}
}

// stscreds.WebIdentityRoleProvider, as SDK users wire it by hand, gets
// credentials from Gatehouse, and they work for a signed call.
func TestSTSWebIdentityRoleProvider(t *testing.T) {
	f := newSTSFixture(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(f.issuer.sign(jose.ES256, "ec-1", f.issuer.claims(nil))), 0o600); err != nil {
		t.Fatal(err)
	}
	provider := stscreds.NewWebIdentityRoleProvider(f.client(nil), testRoleARN, stscreds.IdentityTokenFile(tokenFile),
		func(o *stscreds.WebIdentityRoleOptions) { o.RoleSessionName = "provider-test" })
	creds, err := provider.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(creds.AccessKeyID, SessionKeyPrefix) || !creds.CanExpire || creds.AccountID != "123456789012" {
		t.Errorf("credentials %v, expires %v, account %q", creds.AccessKeyID, creds.CanExpire, creds.AccountID)
	}
	got, err := f.client(aws.NewCredentialsCache(provider)).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "arn:aws:sts::123456789012:assumed-role/agent-role/provider-test"; aws.ToString(got.Arn) != want {
		t.Errorf("caller %s, want %s", aws.ToString(got.Arn), want)
	}
}

// An unmodified program: the SDK's default chain reads
// AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN, calls STS (here Gatehouse,
// via AWS_ENDPOINT_URL_STS standing in for the intercepted endpoint), and
// signs the next call with what Gatehouse returned.
func TestSTSDefaultCredentialChain(t *testing.T) {
	f := newSTSFixture(t)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(f.issuer.sign(jose.RS256, "rsa-1", f.issuer.claims(nil))), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile,
		"AWS_ROLE_ARN":                testRoleARN,
		"AWS_ROLE_SESSION_NAME":       "unmodified-agent",
		"AWS_REGION":                  "eu-west-1",
		"AWS_ENDPOINT_URL_STS":        f.srv.URL,
		"AWS_CONFIG_FILE":             filepath.Join(dir, "none"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "none"),
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_ACCESS_KEY_ID":           "",
		"AWS_SECRET_ACCESS_KEY":       "",
		"AWS_SESSION_TOKEN":           "",
		"AWS_PROFILE":                 "",
		"AWS_ENDPOINT_URL":            "",
	} {
		t.Setenv(k, v)
	}
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(creds.AccessKeyID, SessionKeyPrefix) {
		t.Fatalf("the default chain got %s, not Gatehouse credentials", creds.AccessKeyID)
	}
	got, err := sts.NewFromConfig(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "arn:aws:sts::123456789012:assumed-role/agent-role/unmodified-agent"; aws.ToString(got.Arn) != want {
		t.Errorf("caller %s, want %s", aws.ToString(got.Arn), want)
	}
}

// The bodies, byte for byte where nothing is random.
func TestSTSResponseShape(t *testing.T) {
	status, body := ErrorResponse("InvalidIdentityToken", "Gatehouse: audience not allowed", "req-1", 0)
	want := `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>Gatehouse: audience not allowed</Message></Error><RequestId>req-1</RequestId></ErrorResponse>`
	if status != 400 || string(body) != want {
		t.Errorf("ErrorResponse = %d %s\nwant 400 %s", status, body, want)
	}
	if status, body := ErrorResponse("InternalFailure", "x <&> y", "r", 500); status != 500 || !strings.Contains(string(body), "<Type>Receiver</Type>") || !strings.Contains(string(body), "x &lt;&amp;&gt; y") {
		t.Errorf("5xx ErrorResponse = %d %s", status, body)
	}

	f := newSTSFixture(t)
	form := url.Values{
		"Action": {"AssumeRoleWithWebIdentity"}, "Version": {STSVersion},
		"RoleArn": {testRoleARN}, "RoleSessionName": {"s"},
		"WebIdentityToken": {f.issuer.sign(jose.RS256, "rsa-1", f.issuer.claims(nil))},
	}
	status, body = f.sts.AssumeRoleWithWebIdentity(context.Background(), form, "req-2", time.Now())
	if status != 400 || !strings.Contains(string(body), "<Code>ValidationError</Code>") {
		t.Errorf("one-character session name: %d %s", status, body)
	}
	form.Set("RoleSessionName", "s1")
	status, body = f.sts.AssumeRoleWithWebIdentity(context.Background(), form, "req-3", time.Now())
	const prefix = `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>GHS`
	const suffix = `</AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>req-3</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>`
	if status != 200 || !strings.HasPrefix(string(body), prefix) || !strings.HasSuffix(string(body), suffix) {
		t.Errorf("AssumeRoleWithWebIdentity = %d %s", status, body)
	}
	for _, elem := range []string{"</SecretAccessKey><SessionToken>", "</SessionToken><Expiration>", "Z</Expiration></Credentials><SubjectFromWebIdentityToken>",
		"</SubjectFromWebIdentityToken><AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/agent-role/s1</Arn><AssumedRoleId>GHR",
		":s1</AssumedRoleId></AssumedRoleUser><Provider>" + f.issuer.URL + "</Provider><Audience>sts.amazonaws.com</Audience>"} {
		if !strings.Contains(string(body), elem) {
			t.Errorf("response lacks %q:\n%s", elem, body)
		}
	}
}

func TestParseForm(t *testing.T) {
	const ok = "Action=GetCallerIdentity&Version=2011-06-15"
	post := func(ct, body, query string) (*http.Request, []byte) {
		r := httptest.NewRequest("POST", "https://sts.amazonaws.com/?"+query, nil)
		if query == "" {
			r.URL.RawQuery = ""
		}
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		return r, []byte(body)
	}
	get := func(query, body string) (*http.Request, []byte) {
		r := httptest.NewRequest("GET", "https://sts.amazonaws.com/?"+query, nil)
		return r, []byte(body)
	}
	tests := []struct {
		name    string
		req     func() (*http.Request, []byte)
		wantErr bool
	}{
		{"POST form, as the SDKs send it", func() (*http.Request, []byte) {
			return post("application/x-www-form-urlencoded; charset=utf-8", ok, "")
		}, false},
		{"POST form without charset", func() (*http.Request, []byte) { return post("application/x-www-form-urlencoded", ok, "") }, false},
		{"GET query (presigned GetCallerIdentity)", func() (*http.Request, []byte) { return get(ok, "") }, false},
		{"POST JSON", func() (*http.Request, []byte) { return post("application/json", `{"Action":"x"}`, "") }, true},
		{"POST without content type", func() (*http.Request, []byte) { return post("", ok, "") }, true},
		{"POST in latin-1", func() (*http.Request, []byte) {
			return post("application/x-www-form-urlencoded; charset=iso-8859-1", ok, "")
		}, true},
		{"POST with a query too", func() (*http.Request, []byte) {
			return post("application/x-www-form-urlencoded", ok, "Action=AssumeRole")
		}, true},
		{"GET with a body", func() (*http.Request, []byte) { return get(ok, "x=1") }, true},
		{"PUT", func() (*http.Request, []byte) {
			r, b := post("application/x-www-form-urlencoded", ok, "")
			r.Method = "PUT"
			return r, b
		}, true},
		{"gzip body", func() (*http.Request, []byte) {
			r, b := post("application/x-www-form-urlencoded", ok, "")
			r.Header.Set("Content-Encoding", "gzip")
			return r, b
		}, true},
		{"Action given twice", func() (*http.Request, []byte) {
			return post("application/x-www-form-urlencoded", ok+"&Action=AssumeRole", "")
		}, true},
		{"parameter without a name", func() (*http.Request, []byte) { return post("application/x-www-form-urlencoded", ok+"&=x", "") }, true},
		{"bad escape", func() (*http.Request, []byte) { return post("application/x-www-form-urlencoded", ok+"&x=%zz", "") }, true},
		{"semicolon separator", func() (*http.Request, []byte) { return post("application/x-www-form-urlencoded", ok+";x=1", "") }, true},
		{"body over 64 KiB", func() (*http.Request, []byte) {
			return post("application/x-www-form-urlencoded", ok+"&Pad="+strings.Repeat("a", MaxFormBytes), "")
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, body := tt.req()
			form, err := ParseForm(r, body)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseForm = %v, %v; want error %v", form, err, tt.wantErr)
			}
			if err == nil {
				if a, err := Action(form); err != nil || a != "GetCallerIdentity" {
					t.Errorf("Action = %q, %v", a, err)
				}
			}
		})
	}
	for _, f := range []url.Values{{"Version": {STSVersion}}, {"Action": {"GetCallerIdentity"}}, {"Action": {"GetCallerIdentity"}, "Version": {"2011-06-16"}}} {
		if _, err := Action(f); err == nil {
			t.Errorf("Action(%v) accepted", f)
		}
	}
}
