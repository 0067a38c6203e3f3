package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"hash/crc32"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
)

// The request log only with -v.
func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Verbose() {
		log.SetOutput(io.Discard)
	}
	os.Exit(m.Run())
}

// testNow has milliseconds, which AWS JSON timestamps carry.
var testNow = time.Date(2025, 3, 4, 5, 6, 7, 890e6, time.UTC)

// testServer runs the handler on plain HTTP; clients reach it under any
// name (the Host header routes), as the lab's hosts files make them.
func testServer(t *testing.T, dynamodbURL string) (*handler, *http.Client) {
	t.Helper()
	if dynamodbURL == "" {
		dynamodbURL = "http://127.0.0.1:1"
	}
	// Each call a second later: creation order is visible in listings.
	var mu sync.Mutex
	clock := testNow
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(time.Second)
		return clock
	}
	h, err := newHandler(config{dynamodb: dynamodbURL, region: "us-east-1", account: "000000000000"}, now)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	return h, &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DisableCompression: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
}

func sdkConfig(c *http.Client) aws.Config {
	return aws.Config{Region: "us-east-1", HTTPClient: c, RetryMaxAttempts: 1,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDLAB", SecretAccessKey: "lab"}, nil
		})}
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// post sends a raw AWS JSON 1.1 call and returns the status and body.
func post(t *testing.T, c *http.Client, host, target, body string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+host+"/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", target)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

const scopeSM = "AWS4-HMAC-SHA256 Credential=AKID/20250304/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=00"

func TestSignatureRequired(t *testing.T) {
	_, c := testServer(t, "")
	for _, tc := range []struct {
		name, host, auth string
		status           int
		typ              string
	}{
		{"no Authorization", "secretsmanager.us-east-1.amazonaws.com", "", 403, "MissingAuthenticationTokenException"},
		{"scoped to another service", "ssm.us-east-1.amazonaws.com", scopeSM, 400, "InvalidSignatureException"},
		{"scoped to another region", "secretsmanager.us-east-1.amazonaws.com", strings.Replace(scopeSM, "us-east-1", "eu-west-1", 1), 400, "InvalidSignatureException"},
		{"signed", "secretsmanager.us-east-1.amazonaws.com", scopeSM, 400, "ResourceNotFoundException"},
		{"unknown host", "sqs.us-east-1.amazonaws.com", scopeSM, 404, "UnknownEndpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tc.auth != "" {
				hdr["Authorization"] = tc.auth
			}
			status, h, body := post(t, c, tc.host, "secretsmanager.GetSecretValue", `{"SecretId":"x"}`, hdr)
			var e apiError
			if err := json.Unmarshal([]byte(body), &e); err != nil || status != tc.status || e.Type != tc.typ {
				t.Errorf("got %d %s, want %d %s", status, body, tc.status, tc.typ)
			}
			if ct := h.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

func TestSecretsManagerWithSDK(t *testing.T) {
	_, c := testServer(t, "")
	sm := secretsmanager.NewFromConfig(sdkConfig(c), func(o *secretsmanager.Options) {
		o.BaseEndpoint = aws.String("http://secretsmanager.us-east-1.amazonaws.com")
	})
	ctx := context.Background()
	created, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("app/db"), SecretString: aws.String("pw-1"), Description: aws.String("the db")})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(*created.ARN, "arn:aws:secretsmanager:us-east-1:000000000000:secret:app/db-") || len(*created.ARN) != len("arn:aws:secretsmanager:us-east-1:000000000000:secret:app/db-")+6 {
		t.Errorf("ARN %s", *created.ARN)
	}
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("app/db"), SecretString: aws.String("x")}); apiCode(err) != "ResourceExistsException" {
		t.Errorf("second CreateSecret: %v", err)
	}
	// By name, by ARN, by partial ARN.
	for _, id := range []string{"app/db", *created.ARN, "arn:aws:secretsmanager:us-east-1:000000000000:secret:app/db"} {
		got, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if *got.SecretString != "pw-1" || *got.Name != "app/db" || *got.ARN != *created.ARN || *got.VersionId != *created.VersionId ||
			strings.Join(got.VersionStages, ",") != "AWSCURRENT" || !got.CreatedDate.After(testNow) || got.CreatedDate.Nanosecond() != 890e6 || got.SecretBinary != nil {
			t.Errorf("%s: %+v", id, got)
		}
	}
	put, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("app/db"), SecretBinary: []byte{0, 1, 2, 0xff}})
	if err != nil {
		t.Fatal(err)
	}
	cur, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("app/db")})
	if err != nil || !bytes.Equal(cur.SecretBinary, []byte{0, 1, 2, 0xff}) || cur.SecretString != nil || *cur.VersionId != *put.VersionId {
		t.Errorf("current after PutSecretValue: %+v %v", cur, err)
	}
	prev, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("app/db"), VersionStage: aws.String("AWSPREVIOUS")})
	if err != nil || *prev.SecretString != "pw-1" || *prev.VersionId != *created.VersionId {
		t.Errorf("AWSPREVIOUS: %+v %v", prev, err)
	}
	// A retried PutSecretValue (same token, same value) is the same version.
	again, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("app/db"), SecretBinary: []byte{0, 1, 2, 0xff}, ClientRequestToken: put.VersionId})
	if err != nil || *again.VersionId != *put.VersionId {
		t.Errorf("retried PutSecretValue: %+v %v", again, err)
	}
	if _, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("nope")}); apiCode(err) != "ResourceNotFoundException" {
		t.Errorf("missing secret: %v", err)
	}
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("empty")}); err != nil {
		t.Fatal(err)
	}
	if _, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("empty")}); apiCode(err) != "ResourceNotFoundException" {
		t.Errorf("secret without a value: %v", err)
	}

	batch, err := sm.BatchGetSecretValue(ctx, &secretsmanager.BatchGetSecretValueInput{SecretIdList: []string{"app/db", "nope"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(batch.SecretValues) != 1 || *batch.SecretValues[0].Name != "app/db" || len(batch.Errors) != 1 ||
		*batch.Errors[0].SecretId != "nope" || *batch.Errors[0].ErrorCode != "ResourceNotFoundException" {
		t.Errorf("BatchGetSecretValue by id: %+v", batch)
	}
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("app/api"), SecretString: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	var names []string
	var pages int
	p := secretsmanager.NewBatchGetSecretValuePaginator(sm, &secretsmanager.BatchGetSecretValueInput{
		Filters: []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: []string{"APP/"}}}, MaxResults: aws.Int32(1)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, v := range out.SecretValues {
			names = append(names, *v.Name)
		}
	}
	if strings.Join(names, ",") != "app/db,app/api" || pages != 2 { // oldest first
		t.Errorf("BatchGetSecretValue by filter: %v in %d pages", names, pages)
	}
	list, err := sm.ListSecrets(ctx, &secretsmanager.ListSecretsInput{})
	if err != nil || len(list.SecretList) != 3 || *list.SecretList[2].Name != "app/db" || len(list.SecretList[2].SecretVersionsToStages) != 2 { // newest first
		t.Errorf("ListSecrets: %+v %v", list, err)
	}
}

func TestSSMWithSDK(t *testing.T) {
	_, c := testServer(t, "")
	client := ssm.NewFromConfig(sdkConfig(c), func(o *ssm.Options) {
		o.BaseEndpoint = aws.String("http://ssm.us-east-1.amazonaws.com")
	})
	ctx := context.Background()
	put := func(name, typ, value string, overwrite bool) (*ssm.PutParameterOutput, error) {
		return client.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(name), Type: ssmtypes.ParameterType(typ), Value: aws.String(value), Overwrite: aws.Bool(overwrite)})
	}
	if out, err := put("/app/db/password", "SecureString", "hunter2-canary", false); err != nil || out.Version != 1 || out.Tier != ssmtypes.ParameterTierStandard {
		t.Fatalf("PutParameter: %+v %v", out, err)
	}
	if _, err := put("/app/db/password", "SecureString", "x", false); apiCode(err) != "ParameterAlreadyExists" {
		t.Errorf("PutParameter without Overwrite: %v", err)
	}
	if out, err := put("/app/db/password", "", "hunter3-canary", true); err != nil || out.Version != 2 {
		t.Fatalf("PutParameter Overwrite: %+v %v", out, err)
	}
	for _, p := range [][3]string{{"/app/db/host", "String", "db.internal"}, {"/app/hosts", "StringList", "a,b"}, {"plain", "String", "v"}} {
		if _, err := put(p[0], p[1], p[2], false); err != nil {
			t.Fatal(err)
		}
	}

	got, err := client.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/app/db/password"), WithDecryption: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	gp := got.Parameter
	if *gp.Value != "hunter3-canary" || gp.Type != ssmtypes.ParameterTypeSecureString || gp.Version != 2 || *gp.DataType != "text" ||
		*gp.ARN != "arn:aws:ssm:us-east-1:000000000000:parameter/app/db/password" || !gp.LastModifiedDate.After(testNow) || gp.LastModifiedDate.Nanosecond() != 890e6 {
		t.Errorf("GetParameter WithDecryption: %+v", gp)
	}
	enc, err := client.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/app/db/password")})
	if err != nil || strings.Contains(*enc.Parameter.Value, "hunter") || !strings.HasPrefix(*enc.Parameter.Value, "AQICAH") {
		t.Errorf("GetParameter without decryption: %+v %v", enc, err)
	}
	v1, err := client.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("arn:aws:ssm:us-east-1:000000000000:parameter/app/db/password:1"), WithDecryption: aws.Bool(true)})
	if err != nil || *v1.Parameter.Value != "hunter2-canary" || *v1.Parameter.Selector != ":1" {
		t.Errorf("GetParameter by ARN and version: %+v %v", v1, err)
	}
	if _, err := client.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/nope")}); apiCode(err) != "ParameterNotFound" {
		t.Errorf("missing parameter: %v", err)
	}

	many, err := client.GetParameters(ctx, &ssm.GetParametersInput{Names: []string{"/app/db/host", "/nope", "plain"}})
	if err != nil || len(many.Parameters) != 2 || strings.Join(many.InvalidParameters, ",") != "/nope" {
		t.Errorf("GetParameters: %+v %v", many, err)
	}

	byPath := func(path string, recursive bool) []string {
		var names []string
		p := ssm.NewGetParametersByPathPaginator(client, &ssm.GetParametersByPathInput{Path: aws.String(path), Recursive: aws.Bool(recursive), MaxResults: aws.Int32(1)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range out.Parameters {
				if p.Type == ssmtypes.ParameterTypeSecureString && strings.Contains(*p.Value, "hunter") {
					t.Errorf("GetParametersByPath without decryption: %s", *p.Value)
				}
				names = append(names, *p.Name)
			}
		}
		return names
	}
	if got := strings.Join(byPath("/app", true), ","); got != "/app/db/host,/app/db/password,/app/hosts" {
		t.Errorf("recursive: %s", got)
	}
	if got := strings.Join(byPath("/app/", false), ","); got != "/app/hosts" {
		t.Errorf("one level: %s", got)
	}
	if got := strings.Join(byPath("/", false), ","); got != "plain" {
		t.Errorf("root: %s", got)
	}

	hist, err := client.GetParameterHistory(ctx, &ssm.GetParameterHistoryInput{Name: aws.String("/app/db/password"), WithDecryption: aws.Bool(true)})
	if err != nil || len(hist.Parameters) != 2 || *hist.Parameters[0].Value != "hunter2-canary" || *hist.Parameters[1].KeyId != "alias/aws/ssm" {
		t.Errorf("GetParameterHistory: %+v %v", hist, err)
	}
}

// The body of ParameterNotFound is SSM's: a type and no message.
func TestParameterNotFoundBody(t *testing.T) {
	_, c := testServer(t, "")
	status, _, body := post(t, c, "ssm.us-east-1.amazonaws.com", "AmazonSSM.GetParameter", `{"Name":"/x"}`,
		map[string]string{"Authorization": strings.Replace(scopeSM, "secretsmanager", "ssm", 1)})
	if status != 400 || body != `{"__type":"ParameterNotFound"}` {
		t.Errorf("%d %s", status, body)
	}
}

func TestSeed(t *testing.T) {
	h, err := newHandler(config{dynamodb: "http://127.0.0.1:1", region: "us-east-1", account: "000000000000"}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "seed.json")
	os.WriteFile(f, []byte(`{"secrets":[{"Name":"db","SecretString":"pw"}],"parameters":[{"Name":"/app/pw","Type":"SecureString","Value":"pw"}]}`), 0o600)
	if err := h.seed(f); err != nil {
		t.Fatal(err)
	}
	if h.secrets.lookup("db") == nil || len(h.params.byName["/app/pw"]) != 1 {
		t.Error("seed created nothing")
	}
	os.WriteFile(f, []byte(`{"secret":[]}`), 0o600)
	if err := h.seed(f); err == nil {
		t.Error("a seed file with an unknown key was accepted")
	}
}

// The proxy to dynalite passes what dynalite wrote: the CRC32 of the body,
// its Content-Length, a gzip body left compressed; and adds no
// Accept-Encoding the client did not send.
func TestDynamoDBProxyPassesThrough(t *testing.T) {
	plain := []byte(`{"Item":{"id":{"S":"1"}}}`)
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	zw.Write(plain)
	zw.Close()
	seen := make(chan http.Header, 1)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		h.Set("Host", r.Host)
		seen <- h
		body := plain
		if r.Header.Get("Accept-Encoding") == "gzip" {
			body = zipped.Bytes()
			w.Header().Set("Content-Encoding", "gzip")
		}
		w.Header().Set("X-Amz-Crc32", "12345")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Write(body)
	}))
	defer backend.Close()
	_, c := testServer(t, backend.URL)
	for _, ae := range []string{"", "gzip"} {
		hdr := map[string]string{"Authorization": "x"}
		if ae != "" {
			hdr["Accept-Encoding"] = ae
		}
		status, h, body := post(t, c, "dynamodb.us-east-1.amazonaws.com", "DynamoDB_20120810.GetItem", `{}`, hdr)
		in := <-seen
		want := plain
		if ae != "" {
			want = zipped.Bytes()
		}
		if status != 200 || body != string(want) || h.Get("X-Amz-Crc32") != "12345" || h.Get("Content-Length") != strconv.Itoa(len(want)) ||
			h.Get("Content-Encoding") != map[string]string{"": "", "gzip": "gzip"}[ae] {
			t.Errorf("Accept-Encoding %q: %d %v %q", ae, status, h, body)
		}
		if in.Get("Accept-Encoding") != ae || in.Get("Host") != "dynamodb.us-east-1.amazonaws.com" || in.Get("X-Amz-Target") != "DynamoDB_20120810.GetItem" ||
			in.Get("X-Forwarded-For") != "" {
			t.Errorf("Accept-Encoding %q: dynalite saw %v", ae, in)
		}
	}
}

// With dynalite itself (deploy/lab/dynalite, installed by prereqs.sh):
// aws-sdk-go-v2, which checks X-Amz-Crc32, through the proxy.
func TestDynalite(t *testing.T) {
	cli := "../dynalite/node_modules/dynalite/cli.js"
	node, err := exec.LookPath("node")
	if _, serr := os.Stat(cli); err != nil || serr != nil {
		if os.Getenv("GATEHOUSE_REQUIRE_TOOLS") == "1" {
			t.Fatal("no node or no dynalite and GATEHOUSE_REQUIRE_TOOLS=1 (deploy/lab/prereqs.sh installs them)")
		}
		t.Skip("no node or no dynalite: run deploy/lab/prereqs.sh (GATEHOUSE_REQUIRE_TOOLS=1 makes this a failure)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	cmd := exec.Command(node, cli, "--host", "127.0.0.1", "--port", port, "--createTableMs", "0")
	cmd.Env = append(os.Environ(), "AWS_ACCOUNT_ID=000000000000", "AWS_REGION=us-east-1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err == nil {
			c.Close()
			break
		}
		if i == 100 {
			t.Fatal("dynalite did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, c := testServer(t, "http://127.0.0.1:"+port)
	ddb := dynamodb.NewFromConfig(sdkConfig(c), func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String("http://dynamodb.us-east-1.amazonaws.com")
	})
	ctx := context.Background()
	if _, err := ddb.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String("Orders"), BillingMode: ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: ddbtypes.KeyTypeHash}}}); err != nil {
		t.Fatal(err)
	}
	w := dynamodb.NewTableExistsWaiter(ddb, func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = 50 * time.Millisecond })
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("Orders")}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	item := map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: "1"}, "n": &ddbtypes.AttributeValueMemberN{Value: "42"}}
	if _, err := ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("Orders"), Item: item}); err != nil {
		t.Fatal(err)
	}
	got, err := ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("Orders"), Key: map[string]ddbtypes.AttributeValue{"id": item["id"]}})
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := got.Item["n"].(*ddbtypes.AttributeValueMemberN); !ok || n.Value != "42" {
		t.Errorf("GetItem: %+v", got.Item)
	}
	// The header the SDK checked, on the wire.
	status, h, body := post(t, c, "dynamodb.us-east-1.amazonaws.com", "DynamoDB_20120810.ListTables", `{}`,
		map[string]string{"Authorization": strings.Replace(scopeSM, "secretsmanager", "dynamodb", 1), "X-Amz-Date": "20250304T050607Z",
			"Content-Type": "application/x-amz-json-1.0", "Accept-Encoding": "gzip"})
	if status != 200 || h.Get("X-Amz-Crc32") != strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(body))), 10) || h.Get("Content-Encoding") != "" {
		t.Errorf("ListTables: %d %v %s", status, h, body)
	}
	// No signature: dynalite refuses the call, as DynamoDB does.
	status, _, body = post(t, c, "dynamodb.us-east-1.amazonaws.com", "DynamoDB_20120810.ListTables", `{}`,
		map[string]string{"Content-Type": "application/x-amz-json-1.0"})
	if status != 400 || !strings.Contains(body, "MissingAuthenticationTokenException") {
		t.Errorf("unsigned ListTables: %d %s", status, body)
	}
}
