package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"

	"github.com/gatehouse/gatehouse/deploy/lab"
	"github.com/gatehouse/gatehouse/recorder"
)

// The lab's canaries for masking: planted through the gateway, each must
// come back masked to every SDK and appear nowhere in the record, the log
// or an export. The note is found by a field rule only (no detector knows
// it); the others by the lab's pii profile (deploy/lab/policy.yaml) or the
// built-in one.
var maskCanaries = map[string]string{
	"secret value":       "canary-secret-3c9e1f7a",
	"SecureString value": "canary-param-b41d27e0",
	"item note":          "canary-note-91f0c2aa",
	"email":              "canary.holder@pii.example",
	"card (item)":        "4111111111111111",
	"card (object)":      "5555 5555 5555 4444",
	"SSN":                "219-09-9999",
}

func checkNoCanaries(t *testing.T, where string, b []byte) {
	t.Helper()
	for what, c := range maskCanaries {
		for _, form := range encodedForms(c) {
			if n := bytes.Count(b, []byte(form)); n > 0 {
				t.Errorf("%s holds the %s canary %d times (as %q)", where, what, n, form)
			}
		}
	}
}

// encodedForms are s and what its bytes look like in base64 (the store's
// and the HAR's bodies) at each of the three alignments it can start at:
// the characters that depend on s's bytes alone.
func encodedForms(s string) []string {
	forms := []string{s}
	for k := range 3 {
		enc := base64.StdEncoding.EncodeToString(append(make([]byte, k), s...))
		forms = append(forms, enc[(k*8+5)/6:(k+len(s))*8/6])
	}
	return forms
}

const (
	piiTable  = "customers"
	piiBucket = "gh-lab-pii"
)

// maskClients are aws-sdk-go-v2 clients in gh-agent with Gatehouse session
// credentials; names the lab serves itself (DynamoDB, Secrets Manager,
// SSM) go to its services address, S3 to MinIO.
type maskClients struct {
	// sdkLog is what the SDK logged: aws-sdk-go-v2 reports a DynamoDB
	// CRC32 mismatch as a warning when it closes the body.
	sdkLog *bytes.Buffer
	ddb    *dynamodb.Client
	s3     *s3.Client
	sm     *secretsmanager.Client
	ssm    *ssm.Client
}

func newMaskClients(t *testing.T) *maskClients {
	creds := sessionCreds(t, filepath.Join(outDir, "tokens/agent"))
	var mu sync.Mutex
	sdkLog := &bytes.Buffer{}
	cfg := aws.Config{
		Region: "us-east-1", HTTPClient: agentHTTPTo(t, lab.HostAddr), RetryMaxAttempts: 1,
		Credentials: credentials.StaticCredentialsProvider{Value: creds},
		Logger: logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(sdkLog, string(c)+" "+format+"\n", v...)
		}),
	}
	return &maskClients{
		sdkLog: sdkLog,
		ddb:    dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.AccountIDEndpointMode = aws.AccountIDEndpointModeDisabled }),
		s3:     s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }),
		sm:     secretsmanager.NewFromConfig(cfg),
		ssm:    ssm.NewFromConfig(cfg),
	}
}

// Issue [5/6] acceptance 1 and 3: DynamoDB items, an S3 object, a secret
// and a SecureString parameter, planted through the gateway, come back
// masked to aws-sdk-go-v2, the JavaScript SDK v3 and the AWS CLI, which
// accept the responses with their checks on (DynamoDB's CRC32, S3's
// checksum validation); and no canary is in the log, the store or an
// export.
func TestMaskingWithRealSDKs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := newMaskClients(t)
	start := time.Now()
	plantItems(ctx, t, c)
	plantObject(ctx, t, c)
	plantSecrets(ctx, t, c)

	env := agentEnv(t, "AWS_MAX_ATTEMPTS=1", ddbRegional, "AWS_PAGER=", "NODE_NO_WARNINGS=1")
	js := func(t *testing.T, pkg, op, input string) []byte {
		t.Helper()
		out, err := inAgent(t, env, time.Minute, "node", "e2e/clients/js/call.mjs", pkg, op, input)
		if err != nil {
			t.Fatalf("JS %s %s: %v\n%.2000s", pkg, op, err, out)
		}
		// The result is the last line (Node may warn before it).
		out = strings.TrimSpace(out)
		return []byte(out[strings.LastIndexByte(out, '\n')+1:])
	}
	cli := func(t *testing.T, args ...string) []byte {
		t.Helper()
		out, err := inAgent(t, env, time.Minute, "/usr/bin/aws", args...)
		if err != nil {
			t.Fatalf("aws %s: %v\n%.2000s", strings.Join(args, " "), err, out)
		}
		return []byte(out)
	}

	t.Run("dynamodb", func(t *testing.T) {
		key := map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: "c-1"}}
		// aws-sdk-go-v2 checks X-Amz-Crc32 unless told not to.
		g, err := c.ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(piiTable), Key: key})
		if err != nil {
			t.Fatalf("Go GetItem: %v", err)
		}
		checkMaskedItem(t, "Go GetItem", g.Item)
		q, err := c.ddb.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(piiTable), KeyConditionExpression: aws.String("id = :v"),
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":v": &ddbtypes.AttributeValueMemberS{Value: "c-1"}}})
		if err != nil || len(q.Items) != 1 {
			t.Fatalf("Go Query: %v (%d items)", err, len(q.Items))
		}
		checkMaskedItem(t, "Go Query", q.Items[0])
		s, err := c.ddb.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(piiTable)})
		if err != nil || len(s.Items) != 3 {
			t.Fatalf("Go Scan: %v (%d items)", err, len(s.Items))
		}
		for _, it := range s.Items {
			if it["id"].(*ddbtypes.AttributeValueMemberS).Value == "c-1" {
				checkMaskedItem(t, "Go Scan", it)
			}
		}
		if strings.Contains(c.sdkLog.String(), "checksum") {
			t.Errorf("aws-sdk-go-v2 found a CRC32 mismatch:\n%s", c.sdkLog)
		}
		for _, op := range []struct{ name, input string }{
			{"GetItem", `{"TableName":"customers","Key":{"id":{"S":"c-1"}}}`},
			{"Query", `{"TableName":"customers","KeyConditionExpression":"id = :v","ExpressionAttributeValues":{":v":{"S":"c-1"}}}`},
			{"Scan", `{"TableName":"customers"}`},
		} {
			checkMaskedJSON(t, "JS "+op.name, js(t, "dynamodb", op.name, op.input), `"ssn":{"S":"****"}`, `"tier":{"S":"gold"}`)
		}
		// The CLI checks DynamoDB's CRC32 and retries a response that
		// fails it (saying so in its debug log).
		ddbCLI := func(t *testing.T, args ...string) []byte {
			s, err := inAgent(t, append(env[:len(env):len(env)], "AWS_MAX_ATTEMPTS=3"), time.Minute, "/usr/bin/aws", append(append([]string{"dynamodb"}, args...), "--output", "json", "--debug")...)
			out := []byte(s)
			if err != nil || bytes.Contains(out, []byte("crc32 checksum does not match")) {
				t.Fatalf("aws dynamodb %s: %v\n%.3000s", args[0], err, out)
			}
			if !bytes.Contains(bytes.ToLower(out), []byte("x-amz-crc32")) {
				t.Fatalf("aws dynamodb %s: no CRC32 to check in the response", args[0])
			}
			return out
		}
		checkMaskedJSON(t, "CLI get-item", ddbCLI(t, "get-item", "--table-name", piiTable, "--key", `{"id":{"S":"c-1"}}`), `"S": "****"`, `"S": "gold"`)
		checkMaskedJSON(t, "CLI query", ddbCLI(t, "query", "--table-name", piiTable, "--key-condition-expression", "id = :v",
			"--expression-attribute-values", `{":v":{"S":"c-1"}}`), `"S": "****"`)
		checkMaskedJSON(t, "CLI scan", ddbCLI(t, "scan", "--table-name", piiTable), `"S": "****"`)
	})

	t.Run("s3 object", func(t *testing.T) {
		out, err := c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(piiBucket), Key: aws.String("people.txt"), ChecksumMode: s3types.ChecksumModeEnabled})
		if err != nil {
			t.Fatalf("Go GetObject: %v", err)
		}
		body, err := io.ReadAll(out.Body) // the SDK validates as the body ends
		out.Body.Close()
		if err != nil {
			t.Fatalf("Go GetObject body: %v", err)
		}
		checkMaskedObject(t, "Go GetObject", body)
		var jo struct{ Body string }
		if b := js(t, "s3", "GetObject", `{"Bucket":"`+piiBucket+`","Key":"people.txt","ChecksumMode":"ENABLED"}`); json.Unmarshal(b, &jo) != nil {
			t.Fatalf("JS GetObject: %.2000s", b)
		}
		checkMaskedObject(t, "JS GetObject", []byte(jo.Body))
		file := filepath.Join(t.TempDir(), "people.txt")
		cli(t, "s3api", "get-object", "--bucket", piiBucket, "--key", "people.txt", "--checksum-mode", "ENABLED", file)
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		checkMaskedObject(t, "CLI get-object", b)
		cli(t, "s3", "cp", "s3://"+piiBucket+"/people.txt", file)
		b, _ = os.ReadFile(file)
		checkMaskedObject(t, "CLI s3 cp", b)
	})

	t.Run("secrets", func(t *testing.T) {
		sv, err := c.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("lab/db")})
		if err != nil || aws.ToString(sv.SecretString) != "****" || aws.ToString(sv.Name) != "lab/db" {
			t.Fatalf("Go GetSecretValue: %v %q", err, aws.ToString(sv.SecretString))
		}
		p, err := c.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/lab/db/password"), WithDecryption: aws.Bool(true)})
		if err != nil || aws.ToString(p.Parameter.Value) != "****" || p.Parameter.Type != ssmtypes.ParameterTypeSecureString {
			t.Fatalf("Go GetParameter: %v %+v", err, p)
		}
		// A String parameter is no secret: it comes back as it is.
		p, err = c.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/lab/db/host"), WithDecryption: aws.Bool(true)})
		if err != nil || aws.ToString(p.Parameter.Value) != "db.internal.example" {
			t.Fatalf("Go GetParameter of a String: %v %+v", err, p)
		}
		checkMaskedJSON(t, "JS GetSecretValue", js(t, "secrets-manager", "GetSecretValue", `{"SecretId":"lab/db"}`), `"SecretString":"****"`)
		checkMaskedJSON(t, "JS GetParameter", js(t, "ssm", "GetParameter", `{"Name":"/lab/db/password","WithDecryption":true}`), `"Value":"****"`)
		checkMaskedJSON(t, "CLI get-secret-value", cli(t, "secretsmanager", "get-secret-value", "--secret-id", "lab/db", "--output", "json"), `"SecretString": "****"`)
		checkMaskedJSON(t, "CLI get-parameter", cli(t, "ssm", "get-parameter", "--name", "/lab/db/password", "--with-decryption", "--output", "json"), `"Value": "****"`)
	})

	t.Run("withheld: unsupported encoding", func(t *testing.T) {
		// An object stored with an encoding Gatehouse cannot decode is
		// refused, not passed on unmasked.
		_, err := c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(piiBucket), Key: aws.String("people.txt.br")})
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDenied" || !strings.Contains(ae.ErrorMessage(), `content encoding "br"`) {
			t.Fatalf("GetObject of a br object: %v", err)
		}
	})

	t.Run("withheld: malformed and over the cap", func(t *testing.T) {
		// A Secrets Manager of the test's own on 10.77.2.3, for answers
		// no real one gives: JSON cut short, and a document over the
		// 16 MiB cap of documents masked whole.
		const host = "secretsmanager.us-west-2.amazonaws.com"
		cert, err := lab.PublicLeaf(repoRoot, host)
		if err != nil {
			t.Fatal(err)
		}
		ln, err := lab.Listen(lab.NSAWS, lab.AWSIP2+":443")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{TLSConfig: &tls.Config{Certificates: []tls.Certificate{*cert}}, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			if bytes.Contains(body, []byte("cut-short")) {
				io.WriteString(w, `{"Name":"cut-short","SecretString":"`+maskCanaries["secret value"])
				return
			}
			io.WriteString(w, `{"Name":"huge","SecretString":"`+maskCanaries["secret value"]+`","Pad":"`)
			pad := bytes.Repeat([]byte("x"), 1<<20)
			for range 17 {
				w.Write(pad)
			}
			io.WriteString(w, `"}`)
		})}
		go srv.ServeTLS(ln, "", "")
		t.Cleanup(func() { srv.Close() })
		west := secretsmanager.NewFromConfig(aws.Config{Region: "us-west-2", HTTPClient: agentHTTPTo(t, func(string) string { return lab.AWSIP2 + ":443" }),
			RetryMaxAttempts: 1, Credentials: c.sm.Options().Credentials})
		for id, why := range map[string]string{"cut-short": "is not valid JSON", "huge": "over the 16777216-byte cap"} {
			_, err := west.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDenied" || !strings.Contains(ae.ErrorMessage(), why) {
				t.Errorf("GetSecretValue %s: %v, want AccessDenied saying it %s", id, err, why)
			}
		}
		recs := recordsOf(t, filepath.Join(outDir, "gatehouse.yaml"), "identity=agent-1 since=1m action=secretsmanager:GetSecretValue resource=arn:aws:secretsmanager:us-west-2:*")
		if len(recs) != 2 {
			t.Fatalf("%d records of the two refused calls", len(recs))
		}
		for _, r := range recs {
			if r.Verdict != "refused" || r.ErrorCode != "AccessDenied" || !bytes.Contains(r.Response.Data, []byte("withheld")) {
				t.Errorf("record %s: verdict %q, code %q, response %.300s", r.ID, r.Verdict, r.ErrorCode, r.Response.Data)
			}
		}
	})

	// The canaries are nowhere: not in the log, not in an export of the
	// test's calls, not in the store (every key and value, all versions).
	logb, err := os.ReadFile(filepath.Join(outDir, "gatehouse.log"))
	if err != nil {
		t.Fatal(err)
	}
	checkNoCanaries(t, "Gatehouse's log", logb)
	cfg := filepath.Join(outDir, "gatehouse.yaml")
	query := fmt.Sprintf("identity=agent-1 since=%ds", int(time.Since(start).Seconds())+5)
	for _, format := range []string{"har", "pcapng"} {
		file := filepath.Join(t.TempDir(), "calls."+format)
		run(t, gatehouse, "-c", cfg, "export", format, query, "-o", file)
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < 1000 {
			t.Fatalf("%s export of %q is %d bytes", format, query, len(b))
		}
		checkNoCanaries(t, "the "+format+" export", b)
	}
	recs := recordsOf(t, cfg, query+" action=s3:GetObject")
	var refused int
	for _, r := range recs {
		if r.Verdict == "refused" && r.ErrorCode == "AccessDenied" {
			refused++
		}
	}
	if refused != 1 {
		t.Errorf("%d refused GetObject records, want the br object's 1", refused)
	}
	scanStore(t, recordsDir, func(where string, b []byte) { checkNoCanaries(t, where, b) })
}

func plantItems(ctx context.Context, t *testing.T, c *maskClients) {
	t.Helper()
	_, err := c.ddb.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(piiTable),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: ddbtypes.KeyTypeHash}},
		BillingMode:          ddbtypes.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	w := dynamodb.NewTableExistsWaiter(c.ddb)
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(piiTable)}, time.Minute); err != nil {
		t.Fatalf("table never became active: %v", err)
	}
	s := func(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }
	for i, item := range []map[string]ddbtypes.AttributeValue{
		{"id": s("c-1"), "ssn": s(maskCanaries["SSN"]), "email": s(maskCanaries["email"]), "card": s(maskCanaries["card (item)"]),
			"profile": &ddbtypes.AttributeValueMemberM{Value: map[string]ddbtypes.AttributeValue{"secret_note": s(maskCanaries["item note"]), "tier": s("gold")}}},
		{"id": s("c-2"), "ssn": s(maskCanaries["SSN"]), "profile": &ddbtypes.AttributeValueMemberM{Value: map[string]ddbtypes.AttributeValue{"tier": s("silver")}}},
		{"id": s("c-3"), "name": s("no secrets here")},
	} {
		if _, err := c.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(piiTable), Item: item}); err != nil {
			t.Fatalf("PutItem %d: %v", i, err)
		}
	}
}

// maskedObject is the object planted in S3: lines with an email, a card
// and an SSN each.
func maskedObject() string {
	var b strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&b, "%d,%s,paid with %s,ssn %s\n", i, maskCanaries["email"], maskCanaries["card (object)"], maskCanaries["SSN"])
	}
	return b.String()
}

func plantObject(ctx context.Context, t *testing.T, c *maskClients) {
	t.Helper()
	if _, err := c.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(piiBucket)}); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	obj := maskedObject()
	if _, err := c.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(piiBucket), Key: aws.String("people.txt"),
		Body: strings.NewReader(obj), ContentType: aws.String("text/plain"), ChecksumAlgorithm: s3types.ChecksumAlgorithmCrc32}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	if _, err := c.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(piiBucket), Key: aws.String("people.txt.br"),
		Body: strings.NewReader(obj), ContentType: aws.String("text/plain"), ContentEncoding: aws.String("br")}); err != nil {
		t.Fatalf("PutObject br: %v", err)
	}
	// Straight from MinIO the object carries its checksum, which the SDKs
	// would validate: the masked copy must not fail it.
	direct := s3.New(s3.Options{Region: "us-east-1", UsePathStyle: true, HTTPClient: publicHTTP(t),
		Credentials: credentials.NewStaticCredentialsProvider("gatehouse-lab", "gatehouse-lab-secret-1", "")})
	h, err := direct.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(piiBucket), Key: aws.String("people.txt"), ChecksumMode: s3types.ChecksumModeEnabled})
	if err != nil || aws.ToString(h.ChecksumCRC32) == "" {
		t.Fatalf("MinIO keeps no CRC32 of the object (%v): the test would prove nothing", err)
	}
}

func plantSecrets(ctx context.Context, t *testing.T, c *maskClients) {
	t.Helper()
	if _, err := c.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("lab/db"), SecretString: aws.String(maskCanaries["secret value"])}); err != nil {
		t.Fatalf("CreateSecret: %v", err)
	}
	for name, p := range map[string]struct {
		v string
		t ssmtypes.ParameterType
	}{"/lab/db/password": {maskCanaries["SecureString value"], ssmtypes.ParameterTypeSecureString}, "/lab/db/host": {"db.internal.example", ssmtypes.ParameterTypeString}} {
		if _, err := c.ssm.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String(p.v), Type: p.t}); err != nil {
			t.Fatalf("PutParameter %s: %v", name, err)
		}
	}
}

func checkMaskedItem(t *testing.T, who string, item map[string]ddbtypes.AttributeValue) {
	t.Helper()
	str := func(av ddbtypes.AttributeValue) string {
		if s, ok := av.(*ddbtypes.AttributeValueMemberS); ok {
			return s.Value
		}
		return fmt.Sprintf("%T", av)
	}
	prof, _ := item["profile"].(*ddbtypes.AttributeValueMemberM)
	if prof == nil || str(item["ssn"]) != "****" || str(prof.Value["secret_note"]) != "****" || str(prof.Value["tier"]) != "gold" ||
		str(item["id"]) != "c-1" || strings.Contains(str(item["email"]), "@") || !strings.HasSuffix(str(item["card"]), "1111") || str(item["card"]) == maskCanaries["card (item)"] {
		t.Errorf("%s: item not masked as configured: %+v", who, item)
	}
}

func checkMaskedJSON(t *testing.T, who string, out []byte, wants ...string) {
	t.Helper()
	checkNoCanaries(t, who, out)
	for _, w := range wants {
		if !bytes.Contains(out, []byte(w)) {
			t.Errorf("%s: output lacks %s:\n%.2000s", who, w, out)
		}
	}
}

func checkMaskedObject(t *testing.T, who string, body []byte) {
	t.Helper()
	checkNoCanaries(t, who, body)
	if n := bytes.Count(body, []byte("\n")); n != 2000 || !bytes.Contains(body, []byte("paid with ****4444,ssn ****\n")) {
		t.Errorf("%s: %d lines, object not masked as configured:\n%.300s", who, n, body)
	}
}

// publicHTTP reaches MinIO directly from gh-gw, trusting the lab's public
// CA: what the upstream holds, without the gateway.
func publicHTTP(t *testing.T) *http.Client {
	t.Helper()
	pool, err := lab.CertPool(filepath.Join(outDir, "pki/public-ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext:     lab.DialFrom(lab.NSGW, lab.AWSAddr),
		TLSClientConfig: &tls.Config{RootCAs: pool},
	}}
}

// recordsOf runs sessions search through the gateway's socket.
func recordsOf(t *testing.T, cfg, query string) []*recorder.Record {
	t.Helper()
	var res struct {
		Records []*recorder.Record `json:"records"`
	}
	out := run(t, gatehouse, "-c", cfg, "sessions", "search", "--json", "--limit", "-1", query)
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("sessions search --json %q: %v\n%s", query, err, out)
	}
	return res.Records
}
