package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/gatehouse/gatehouse/deploy/lab"
)

// What TestServices creates. Values are canaries a masking test could look
// for; this test never asserts on them, as Gatehouse may mask them.
const (
	svcTable  = "svc-e2e-orders"
	svcSecret = "svc-e2e/db"
	svcParam  = "/svc-e2e/db/password"
)

// The lab's services (deploy/lab/services: DynamoDB by dynalite, Secrets
// Manager and SSM in memory) reached as an agent reaches AWS: from
// gh-agent, through Gatehouse, which signs for them. aws-sdk-go-v2 creates
// a table, a secret and a SecureString parameter and reads them back; the
// AWS CLI reads each once more.
func TestServices(t *testing.T) {
	creds := sessionCreds(t, filepath.Join(outDir, "tokens/agent"))
	cfg := aws.Config{
		Region: "us-east-1", HTTPClient: agentHTTPTo(t, lab.HostAddr), RetryMaxAttempts: 1,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil }),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	mark := logMark(t)

	t.Run("go-sdk-v2 dynamodb", func(t *testing.T) {
		ddb := dynamodb.NewFromConfig(cfg)
		_, err := ddb.CreateTable(ctx, &dynamodb.CreateTableInput{
			TableName: aws.String(svcTable), BillingMode: ddbtypes.BillingModePayPerRequest,
			AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
			KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: ddbtypes.KeyTypeHash}},
		})
		if err != nil {
			t.Fatalf("CreateTable: %v", err)
		}
		waiter := dynamodb.NewTableExistsWaiter(ddb, func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = 100 * time.Millisecond })
		if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(svcTable)}, 30*time.Second); err != nil {
			t.Fatalf("DescribeTable until ACTIVE: %v", err)
		}
		item := map[string]ddbtypes.AttributeValue{
			"id":     &ddbtypes.AttributeValueMemberS{Value: "order-1"},
			"qty":    &ddbtypes.AttributeValueMemberN{Value: "3"},
			"status": &ddbtypes.AttributeValueMemberS{Value: "shipped"},
			"tags":   &ddbtypes.AttributeValueMemberSS{Value: []string{"blue", "small"}},
		}
		if _, err := ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(svcTable), Item: item}); err != nil {
			t.Fatalf("PutItem: %v", err)
		}
		// The SDK checks X-Amz-Crc32 against the body it reads.
		got, err := ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(svcTable),
			Key: map[string]ddbtypes.AttributeValue{"id": item["id"]}, ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatalf("GetItem: %v", err)
		}
		if !reflect.DeepEqual(got.Item, item) {
			t.Errorf("GetItem returned %#v, want %#v", got.Item, item)
		}
	})

	t.Run("go-sdk-v2 secretsmanager", func(t *testing.T) {
		sm := secretsmanager.NewFromConfig(cfg)
		created, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(svcSecret),
			SecretString: aws.String(`{"username":"app","password":"canary-secret-value-1"}`)})
		if err != nil {
			t.Fatalf("CreateSecret: %v", err)
		}
		arn := regexp.MustCompile(`^arn:aws:secretsmanager:us-east-1:000000000000:secret:` + regexp.QuoteMeta(svcSecret) + `-[A-Za-z]{6}$`)
		if !arn.MatchString(aws.ToString(created.ARN)) || aws.ToString(created.VersionId) == "" {
			t.Fatalf("CreateSecret returned ARN %q version %q", aws.ToString(created.ARN), aws.ToString(created.VersionId))
		}
		got, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(svcSecret)})
		if err != nil {
			t.Fatalf("GetSecretValue: %v", err)
		}
		if aws.ToString(got.Name) != svcSecret || aws.ToString(got.ARN) != aws.ToString(created.ARN) ||
			aws.ToString(got.VersionId) != aws.ToString(created.VersionId) || !slices.Contains(got.VersionStages, "AWSCURRENT") ||
			got.SecretString == nil || got.CreatedDate == nil || time.Since(*got.CreatedDate) > time.Hour {
			t.Errorf("GetSecretValue returned %+v", got)
		}
	})

	t.Run("go-sdk-v2 ssm", func(t *testing.T) {
		ps := ssm.NewFromConfig(cfg)
		put, err := ps.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(svcParam), Type: ssmtypes.ParameterTypeSecureString,
			Value: aws.String("canary-parameter-value-1")})
		if err != nil {
			t.Fatalf("PutParameter: %v", err)
		}
		if put.Version != 1 {
			t.Errorf("PutParameter returned version %d", put.Version)
		}
		got, err := ps.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(svcParam), WithDecryption: aws.Bool(true)})
		if err != nil {
			t.Fatalf("GetParameter: %v", err)
		}
		p := got.Parameter
		if p == nil || aws.ToString(p.Name) != svcParam || p.Type != ssmtypes.ParameterTypeSecureString || p.Version != 1 ||
			aws.ToString(p.ARN) != "arn:aws:ssm:us-east-1:000000000000:parameter"+svcParam || aws.ToString(p.Value) == "" ||
			aws.ToString(p.DataType) != "text" || p.LastModifiedDate == nil {
			t.Errorf("GetParameter returned %+v", p)
		}
	})

	t.Run("aws-cli", func(t *testing.T) {
		env := agentEnv(t, "AWS_MAX_ATTEMPTS=1", "AWS_PAGER=")
		cli := func(v any, args ...string) {
			t.Helper()
			out, err := inAgent(t, env, time.Minute, "/usr/bin/aws", append(args, "--output", "json")...)
			if err != nil {
				t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			if err := json.Unmarshal([]byte(out), v); err != nil {
				t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
		var table struct {
			Table struct{ TableName, TableStatus, TableArn string }
		}
		cli(&table, "dynamodb", "describe-table", "--table-name", svcTable)
		if table.Table.TableName != svcTable || table.Table.TableStatus != "ACTIVE" ||
			table.Table.TableArn != "arn:aws:dynamodb:us-east-1:000000000000:table/"+svcTable {
			t.Errorf("describe-table: %+v", table)
		}
		var secret struct {
			Name, ARN, VersionId string
			VersionStages        []string
		}
		cli(&secret, "secretsmanager", "get-secret-value", "--secret-id", svcSecret)
		if secret.Name != svcSecret || !strings.HasPrefix(secret.ARN, "arn:aws:secretsmanager:us-east-1:000000000000:secret:"+svcSecret+"-") ||
			!slices.Contains(secret.VersionStages, "AWSCURRENT") {
			t.Errorf("get-secret-value: %+v", secret)
		}
		var param struct {
			Parameter struct{ Name, Type, ARN string }
		}
		cli(&param, "ssm", "get-parameter", "--name", svcParam, "--with-decryption")
		if param.Parameter.Name != svcParam || param.Parameter.Type != "SecureString" {
			t.Errorf("get-parameter: %+v", param)
		}
	})

	t.Run("gatehouse forwarded each call", func(t *testing.T) {
		want := []string{"dynamodb:CreateTable", "dynamodb:DescribeTable", "dynamodb:PutItem", "dynamodb:GetItem",
			"secretsmanager:CreateSecret", "secretsmanager:GetSecretValue", "ssm:PutParameter", "ssm:GetParameter"}
		seen := map[string]bool{}
		for deadline := time.Now().Add(3 * time.Second); len(seen) < len(want) && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			for _, l := range linesSince(t, mark) {
				if l.str("msg") == "request" && l.str("verdict") == "forwarded" && l.str("decision") == "allow" {
					seen[l.str("action")] = true
				}
			}
		}
		for _, a := range want {
			if !seen[a] {
				t.Errorf("no forwarded, allowed call logged for %s (seen %v)", a, seen)
			}
		}
	})

	// Straight from gh-aws, as the services answer whoever reaches them: a
	// certificate from the lab's public CA for each name, and a call that
	// Gatehouse did not sign is refused.
	t.Run("services refuse unsigned calls", func(t *testing.T) {
		pool, err := lab.CertPool(filepath.Join(outDir, "pki/public-ca.pem"))
		if err != nil {
			t.Fatal(err)
		}
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			DialContext: lab.DialFrom(lab.NSAWS, lab.HostAddr), TLSClientConfig: &tls.Config{RootCAs: pool}}}
		for _, tc := range []struct{ host, target, status, typ string }{
			{lab.SecretsManagerHost, "secretsmanager.GetSecretValue", "403", "MissingAuthenticationTokenException"},
			{lab.SSMHost, "AmazonSSM.GetParameter", "403", "MissingAuthenticationTokenException"},
			{lab.DynamoDBHost, "DynamoDB_20120810.ListTables", "400", "MissingAuthenticationTokenException"},
		} {
			req, _ := http.NewRequest("POST", "https://"+tc.host+"/", bytes.NewReader([]byte(`{}`)))
			req.Header.Set("X-Amz-Target", tc.target)
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			if tc.host == lab.DynamoDBHost {
				req.Header.Set("Content-Type", "application/x-amz-json-1.0")
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", tc.host, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.HasPrefix(resp.Status, tc.status) || !strings.Contains(string(body), tc.typ) {
				t.Errorf("%s unsigned: %s %s", tc.host, resp.Status, body)
			}
		}
	})
}
