package oracle

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	brtypes "github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logstypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/gatehouse/gatehouse/intercept/awsapi"
)

const (
	region  = "us-east-1"
	account = "123456789012"
)

// recorder is the httptest server every client talks to, whatever host
// its endpoint names: the transport dials the server, so the Host header
// (bucket.s3.us-east-1.amazonaws.com) is what the SDK would send to AWS.
type recorder struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	r    *http.Request
	body []byte
}

func newRecorder(t *testing.T) *recorder {
	rec := &recorder{}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, recorded{r.Clone(context.Background()), body})
		rec.mu.Unlock()
		// An error response: the client gives up (no retries are
		// configured) without needing a well-formed output.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"__type":"ValidationException","message":"oracle"}`)
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (rec *recorder) config() aws.Config {
	addr := rec.srv.Listener.Addr().String()
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", addr)
		},
	}
	return aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "SESSIONTOKEN"),
		HTTPClient:  &http.Client{Transport: tr, Timeout: 10 * time.Second},
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
	}
}

// take returns the one request the last call sent.
func (rec *recorder) take(t *testing.T) recorded {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.reqs) != 1 {
		t.Fatalf("the SDK sent %d requests, want 1", len(rec.reqs))
	}
	r := rec.reqs[0]
	rec.reqs = nil
	return r
}

type clients struct {
	s3path, s3vhost *s3.Client
	ddb             *dynamodb.Client
	sts             *sts.Client
	iam             *iam.Client
	ec2             *ec2.Client
	rds             *rds.Client
	lambda          *lambda.Client
	sqs             *sqs.Client
	sns             *sns.Client
	kms             *kms.Client
	sm              *secretsmanager.Client
	ssm             *ssm.Client
	logs            *cloudwatchlogs.Client
	cfn             *cloudformation.Client
	ecr             *ecr.Client
	ecs             *ecs.Client
	eks             *eks.Client
	r53             *route53.Client
	bedrock         *bedrock.Client
	brt             *bedrockruntime.Client
}

func endpoint(host string) *string { return aws.String("http://" + host) }

func newClients(cfg aws.Config) clients {
	return clients{
		s3path: s3.NewFromConfig(cfg, func(o *s3.Options) {
			o.BaseEndpoint = endpoint("s3.us-east-1.amazonaws.com")
			o.UsePathStyle = true
		}),
		s3vhost: s3.NewFromConfig(cfg, func(o *s3.Options) { o.BaseEndpoint = endpoint("s3.us-east-1.amazonaws.com") }),
		ddb:     dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = endpoint("dynamodb.us-east-1.amazonaws.com") }),
		sts:     sts.NewFromConfig(cfg, func(o *sts.Options) { o.BaseEndpoint = endpoint("sts.us-east-1.amazonaws.com") }),
		iam:     iam.NewFromConfig(cfg, func(o *iam.Options) { o.BaseEndpoint = endpoint("iam.amazonaws.com") }),
		ec2:     ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = endpoint("ec2.us-east-1.amazonaws.com") }),
		rds:     rds.NewFromConfig(cfg, func(o *rds.Options) { o.BaseEndpoint = endpoint("rds.us-east-1.amazonaws.com") }),
		lambda:  lambda.NewFromConfig(cfg, func(o *lambda.Options) { o.BaseEndpoint = endpoint("lambda.us-east-1.amazonaws.com") }),
		sqs:     sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = endpoint("sqs.us-east-1.amazonaws.com") }),
		sns:     sns.NewFromConfig(cfg, func(o *sns.Options) { o.BaseEndpoint = endpoint("sns.us-east-1.amazonaws.com") }),
		kms:     kms.NewFromConfig(cfg, func(o *kms.Options) { o.BaseEndpoint = endpoint("kms.us-east-1.amazonaws.com") }),
		sm:      secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = endpoint("secretsmanager.us-east-1.amazonaws.com") }),
		ssm:     ssm.NewFromConfig(cfg, func(o *ssm.Options) { o.BaseEndpoint = endpoint("ssm.us-east-1.amazonaws.com") }),
		logs:    cloudwatchlogs.NewFromConfig(cfg, func(o *cloudwatchlogs.Options) { o.BaseEndpoint = endpoint("logs.us-east-1.amazonaws.com") }),
		cfn:     cloudformation.NewFromConfig(cfg, func(o *cloudformation.Options) { o.BaseEndpoint = endpoint("cloudformation.us-east-1.amazonaws.com") }),
		ecr:     ecr.NewFromConfig(cfg, func(o *ecr.Options) { o.BaseEndpoint = endpoint("api.ecr.us-east-1.amazonaws.com") }),
		ecs:     ecs.NewFromConfig(cfg, func(o *ecs.Options) { o.BaseEndpoint = endpoint("ecs.us-east-1.amazonaws.com") }),
		eks:     eks.NewFromConfig(cfg, func(o *eks.Options) { o.BaseEndpoint = endpoint("eks.us-east-1.amazonaws.com") }),
		r53:     route53.NewFromConfig(cfg, func(o *route53.Options) { o.BaseEndpoint = endpoint("route53.amazonaws.com") }),
		bedrock: bedrock.NewFromConfig(cfg, func(o *bedrock.Options) { o.BaseEndpoint = endpoint("bedrock.us-east-1.amazonaws.com") }),
		brt:     bedrockruntime.NewFromConfig(cfg, func(o *bedrockruntime.Options) { o.BaseEndpoint = endpoint("bedrock-runtime.us-east-1.amazonaws.com") }),
	}
}

type oracleCase struct {
	name      string
	call      func(ctx context.Context, c clients) error
	operation string
	action    string
	resources []string
	also      []awsapi.Access
	params    map[string]any // a subset that must be present
	absent    []string       // Params keys that must not be present (secrets)
}

// s3both runs an S3 case path-style and virtual-host style.
func s3both(name string, call func(ctx context.Context, c *s3.Client) error, op, action string, resources []string, also ...awsapi.Access) []oracleCase {
	return []oracleCase{
		{name: name + "/path", call: func(ctx context.Context, c clients) error { return call(ctx, c.s3path) }, operation: op, action: action, resources: resources, also: also},
		{name: name + "/vhost", call: func(ctx context.Context, c clients) error { return call(ctx, c.s3vhost) }, operation: op, action: action, resources: resources, also: also},
	}
}

func s3path(name string, call func(ctx context.Context, c *s3.Client) error, op, action string, resources []string, also ...awsapi.Access) oracleCase {
	return oracleCase{name: name, call: func(ctx context.Context, c clients) error { return call(ctx, c.s3path) }, operation: op, action: action, resources: resources, also: also}
}

func s3vhost(name string, call func(ctx context.Context, c *s3.Client) error, op, action string, resources []string, also ...awsapi.Access) oracleCase {
	return oracleCase{name: name, call: func(ctx context.Context, c clients) error { return call(ctx, c.s3vhost) }, operation: op, action: action, resources: resources, also: also}
}

func arns(a ...string) []string { return a }

const (
	bkt    = "arn:aws:s3:::photos"
	obj    = "arn:aws:s3:::photos/2024/cat.jpg"
	table  = "arn:aws:dynamodb:us-east-1:123456789012:table/Orders"
	fn     = "arn:aws:lambda:us-east-1:123456789012:function:resize"
	haiku  = "anthropic.claude-3-haiku-20240307-v1:0"
	haikuA = "arn:aws:bedrock:us-east-1::foundation-model/" + haiku
)

var s = aws.String

func cases() []oracleCase {
	var cs []oracleCase
	add := func(c ...oracleCase) { cs = append(cs, c...) }

	// ---- S3 ----
	add(s3both("GetObject", func(ctx context.Context, c *s3.Client) error {
		_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: s("photos"), Key: s("2024/cat.jpg")})
		return err
	}, "GetObject", "s3:GetObject", arns(obj))...)
	add(s3both("GetObject/odd key", func(ctx context.Context, c *s3.Client) error {
		_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: s("photos"), Key: s("a b/ü+x=1&y?z#%2F//end/")})
		return err
	}, "GetObject", "s3:GetObject", arns("arn:aws:s3:::photos/a b/ü+x=1&y?z#%2F//end/"))...)
	add(s3path("GetObject/versionId", func(ctx context.Context, c *s3.Client) error {
		_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: s("photos"), Key: s("2024/cat.jpg"), VersionId: s("v1")})
		return err
	}, "GetObject", "s3:GetObjectVersion", arns(obj)))
	add(s3both("PutObject", func(ctx context.Context, c *s3.Client) error {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: s("photos"), Key: s("2024/cat.jpg"), Body: strings.NewReader("meow")})
		return err
	}, "PutObject", "s3:PutObject", arns(obj))...)
	add(s3vhost("PutObject/acl+tagging", func(ctx context.Context, c *s3.Client) error {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: s("photos"), Key: s("2024/cat.jpg"), Body: strings.NewReader("meow"),
			ACL: s3types.ObjectCannedACLPublicRead, Tagging: s("k=v")})
		return err
	}, "PutObject", "s3:PutObject", arns(obj),
		awsapi.Access{Action: "s3:PutObjectAcl", Resources: arns(obj)}, awsapi.Access{Action: "s3:PutObjectTagging", Resources: arns(obj)}))
	add(s3both("DeleteObject", func(ctx context.Context, c *s3.Client) error {
		_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: s("photos"), Key: s("2024/cat.jpg")})
		return err
	}, "DeleteObject", "s3:DeleteObject", arns(obj))...)
	add(s3both("HeadObject", func(ctx context.Context, c *s3.Client) error {
		_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: s("photos"), Key: s("2024/cat.jpg")})
		return err
	}, "HeadObject", "s3:GetObject", arns(obj))...)
	add(s3both("ListObjectsV2", func(ctx context.Context, c *s3.Client) error {
		_, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: s("photos"), Prefix: s("2024/")})
		return err
	}, "ListObjectsV2", "s3:ListBucket", arns(bkt))...)
	add(s3path("ListObjects", func(ctx context.Context, c *s3.Client) error {
		_, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: s("photos")})
		return err
	}, "ListObjects", "s3:ListBucket", arns(bkt)))
	add(s3vhost("ListObjectVersions", func(ctx context.Context, c *s3.Client) error {
		_, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: s("photos")})
		return err
	}, "ListObjectVersions", "s3:ListBucketVersions", arns(bkt)))
	add(s3both("HeadBucket", func(ctx context.Context, c *s3.Client) error {
		_, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: s("photos")})
		return err
	}, "HeadBucket", "s3:ListBucket", arns(bkt))...)
	add(s3path("ListBuckets", func(ctx context.Context, c *s3.Client) error {
		_, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
		return err
	}, "ListBuckets", "s3:ListAllMyBuckets", nil))
	src := awsapi.Access{Action: "s3:GetObject", Resources: arns("arn:aws:s3:::archive/old/cat 1.jpg")}
	add(s3both("CopyObject", func(ctx context.Context, c *s3.Client) error {
		_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: s("photos"), Key: s("2024/cat.jpg"), CopySource: s("archive/old/cat%201.jpg")})
		return err
	}, "CopyObject", "s3:PutObject", arns(obj), src)...)
	add(s3vhost("CopyObject/versioned source", func(ctx context.Context, c *s3.Client) error {
		_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: s("photos"), Key: s("2024/cat.jpg"), CopySource: s("archive/old/cat%201.jpg?versionId=7")})
		return err
	}, "CopyObject", "s3:PutObject", arns(obj), awsapi.Access{Action: "s3:GetObjectVersion", Resources: src.Resources}))
	add(s3both("CreateMultipartUpload", func(ctx context.Context, c *s3.Client) error {
		_, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: s("photos"), Key: s("2024/cat.jpg")})
		return err
	}, "CreateMultipartUpload", "s3:PutObject", arns(obj))...)
	add(s3both("UploadPart", func(ctx context.Context, c *s3.Client) error {
		_, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: s("photos"), Key: s("2024/cat.jpg"), UploadId: s("up1"), PartNumber: aws.Int32(2), Body: strings.NewReader("part")})
		return err
	}, "UploadPart", "s3:PutObject", arns(obj))...)
	add(s3vhost("UploadPartCopy", func(ctx context.Context, c *s3.Client) error {
		_, err := c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: s("photos"), Key: s("2024/cat.jpg"), UploadId: s("up1"), PartNumber: aws.Int32(1), CopySource: s("/archive/old/cat%201.jpg")})
		return err
	}, "UploadPartCopy", "s3:PutObject", arns(obj), src))
	add(s3both("CompleteMultipartUpload", func(ctx context.Context, c *s3.Client) error {
		_, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: s("photos"), Key: s("2024/cat.jpg"), UploadId: s("up1")})
		return err
	}, "CompleteMultipartUpload", "s3:PutObject", arns(obj))...)
	add(s3both("AbortMultipartUpload", func(ctx context.Context, c *s3.Client) error {
		_, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: s("photos"), Key: s("2024/cat.jpg"), UploadId: s("up1")})
		return err
	}, "AbortMultipartUpload", "s3:AbortMultipartUpload", arns(obj))...)
	add(s3both("ListParts", func(ctx context.Context, c *s3.Client) error {
		_, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: s("photos"), Key: s("2024/cat.jpg"), UploadId: s("up1")})
		return err
	}, "ListParts", "s3:ListMultipartUploadParts", arns(obj))...)
	add(s3vhost("ListMultipartUploads", func(ctx context.Context, c *s3.Client) error {
		_, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: s("photos")})
		return err
	}, "ListMultipartUploads", "s3:ListBucketMultipartUploads", arns(bkt)))
	add(s3both("DeleteBucket", func(ctx context.Context, c *s3.Client) error {
		_, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: s("photos")})
		return err
	}, "DeleteBucket", "s3:DeleteBucket", arns(bkt))...)
	add(s3path("CreateBucket", func(ctx context.Context, c *s3.Client) error {
		_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: s("photos")})
		return err
	}, "CreateBucket", "s3:CreateBucket", arns(bkt)))
	add(s3both("PutBucketPolicy", func(ctx context.Context, c *s3.Client) error {
		_, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: s("photos"), Policy: s(`{"Version":"2012-10-17","Statement":[]}`)})
		return err
	}, "PutBucketPolicy", "s3:PutBucketPolicy", arns(bkt))...)
	add(s3both("GetBucketAcl", func(ctx context.Context, c *s3.Client) error {
		_, err := c.GetBucketAcl(ctx, &s3.GetBucketAclInput{Bucket: s("photos")})
		return err
	}, "GetBucketAcl", "s3:GetBucketAcl", arns(bkt))...)
	add(s3vhost("GetObjectAcl", func(ctx context.Context, c *s3.Client) error {
		_, err := c.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: s("photos"), Key: s("2024/cat.jpg")})
		return err
	}, "GetObjectAcl", "s3:GetObjectAcl", arns(obj)))
	add(s3path("PutObjectTagging", func(ctx context.Context, c *s3.Client) error {
		_, err := c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: s("photos"), Key: s("2024/cat.jpg"),
			Tagging: &s3types.Tagging{TagSet: []s3types.Tag{{Key: s("k"), Value: s("v")}}}})
		return err
	}, "PutObjectTagging", "s3:PutObjectTagging", arns(obj)))
	add(s3vhost("GetBucketVersioning", func(ctx context.Context, c *s3.Client) error {
		_, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: s("photos")})
		return err
	}, "GetBucketVersioning", "s3:GetBucketVersioning", arns(bkt)))
	add(s3path("DeleteBucketCors", func(ctx context.Context, c *s3.Client) error {
		_, err := c.DeleteBucketCors(ctx, &s3.DeleteBucketCorsInput{Bucket: s("photos")})
		return err
	}, "DeleteBucketCors", "s3:PutBucketCORS", arns(bkt)))
	add(s3both("DeleteObjects", func(ctx context.Context, c *s3.Client) error {
		_, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: s("photos"), Delete: &s3types.Delete{Objects: []s3types.ObjectIdentifier{
			{Key: s("2024/cat.jpg")}, {Key: s("2024/dog.jpg")}}}})
		return err
	}, "DeleteObjects", "s3:DeleteObject", arns(obj, "arn:aws:s3:::photos/2024/dog.jpg"))...)

	// ---- DynamoDB ----
	key := map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: "1"}}
	add(oracleCase{name: "GetItem", call: func(ctx context.Context, c clients) error {
		_, err := c.ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: s("Orders"), Key: key})
		return err
	}, operation: "GetItem", action: "dynamodb:GetItem", resources: arns(table),
		params: map[string]any{"TableName": "Orders", "Key": map[string]any{"id": map[string]any{"S": "1"}}}})
	add(oracleCase{name: "PutItem", call: func(ctx context.Context, c clients) error {
		_, err := c.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: s("Orders"), Item: key})
		return err
	}, operation: "PutItem", action: "dynamodb:PutItem", resources: arns(table)})
	add(oracleCase{name: "PutItem/table ARN", call: func(ctx context.Context, c clients) error {
		_, err := c.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: s("arn:aws:dynamodb:eu-west-1:210987654321:table/Other"), Item: key})
		return err
	}, operation: "PutItem", action: "dynamodb:PutItem", resources: arns("arn:aws:dynamodb:eu-west-1:210987654321:table/Other")})
	add(oracleCase{name: "DeleteTable", call: func(ctx context.Context, c clients) error {
		_, err := c.ddb.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: s("Orders")})
		return err
	}, operation: "DeleteTable", action: "dynamodb:DeleteTable", resources: arns(table)})
	add(oracleCase{name: "Query", call: func(ctx context.Context, c clients) error {
		_, err := c.ddb.Query(ctx, &dynamodb.QueryInput{TableName: s("Orders"), KeyConditionExpression: s("id = :v"),
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":v": &ddbtypes.AttributeValueMemberS{Value: "1"}}})
		return err
	}, operation: "Query", action: "dynamodb:Query", resources: arns(table)})
	add(oracleCase{name: "Query/index", call: func(ctx context.Context, c clients) error {
		_, err := c.ddb.Query(ctx, &dynamodb.QueryInput{TableName: s("Orders"), IndexName: s("byCustomer"), KeyConditionExpression: s("c = :v"),
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":v": &ddbtypes.AttributeValueMemberS{Value: "1"}}})
		return err
	}, operation: "Query", action: "dynamodb:Query", resources: arns(table + "/index/byCustomer")})
	add(oracleCase{name: "BatchWriteItem", call: func(ctx context.Context, c clients) error {
		_, err := c.ddb.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]ddbtypes.WriteRequest{
			"Orders": {{PutRequest: &ddbtypes.PutRequest{Item: key}}}, "Audit": {{DeleteRequest: &ddbtypes.DeleteRequest{Key: key}}}}})
		return err
	}, operation: "BatchWriteItem", action: "dynamodb:BatchWriteItem", resources: arns("arn:aws:dynamodb:us-east-1:123456789012:table/Audit", table)})
	add(oracleCase{name: "TransactWriteItems", call: func(ctx context.Context, c clients) error {
		_, err := c.ddb.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{
			{Put: &ddbtypes.Put{TableName: s("Orders"), Item: key}},
			{Delete: &ddbtypes.Delete{TableName: s("Audit"), Key: key}}}})
		return err
	}, operation: "TransactWriteItems", action: "dynamodb:PutItem", resources: arns(table),
		also: []awsapi.Access{{Action: "dynamodb:DeleteItem", Resources: arns("arn:aws:dynamodb:us-east-1:123456789012:table/Audit")}}})
	add(oracleCase{name: "ExecuteStatement", call: func(ctx context.Context, c clients) error {
		_, err := c.ddb.ExecuteStatement(ctx, &dynamodb.ExecuteStatementInput{Statement: s(`DELETE FROM "Orders" WHERE id = '1'`)})
		return err
	}, operation: "ExecuteStatement", action: "dynamodb:PartiQLDelete"})

	// ---- STS, IAM ----
	add(oracleCase{name: "AssumeRole", call: func(ctx context.Context, c clients) error {
		_, err := c.sts.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: s("arn:aws:iam::123456789012:role/deployer"), RoleSessionName: s("agent")})
		return err
	}, operation: "AssumeRole", action: "sts:AssumeRole", resources: arns("arn:aws:iam::123456789012:role/deployer"),
		params: map[string]any{"RoleSessionName": "agent"}})
	add(oracleCase{name: "GetCallerIdentity", call: func(ctx context.Context, c clients) error {
		_, err := c.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		return err
	}, operation: "GetCallerIdentity", action: "sts:GetCallerIdentity"})
	add(oracleCase{name: "CreateRole", call: func(ctx context.Context, c clients) error {
		_, err := c.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: s("deployer"), Path: s("/agents/"), AssumeRolePolicyDocument: s("{}")})
		return err
	}, operation: "CreateRole", action: "iam:CreateRole", resources: arns("arn:aws:iam::123456789012:role/agents/deployer")})
	add(oracleCase{name: "AttachRolePolicy", call: func(ctx context.Context, c clients) error {
		_, err := c.iam.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: s("deployer"), PolicyArn: s("arn:aws:iam::aws:policy/AdministratorAccess")})
		return err
	}, operation: "AttachRolePolicy", action: "iam:AttachRolePolicy",
		resources: arns("arn:aws:iam::123456789012:role/deployer", "arn:aws:iam::aws:policy/AdministratorAccess")})
	add(oracleCase{name: "CreateAccessKey", call: func(ctx context.Context, c clients) error {
		_, err := c.iam.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: s("ci")})
		return err
	}, operation: "CreateAccessKey", action: "iam:CreateAccessKey", resources: arns("arn:aws:iam::123456789012:user/ci")})
	add(oracleCase{name: "CreateAccessKey/self", call: func(ctx context.Context, c clients) error {
		_, err := c.iam.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{})
		return err
	}, operation: "CreateAccessKey", action: "iam:CreateAccessKey"})
	add(oracleCase{name: "CreateLoginProfile", call: func(ctx context.Context, c clients) error {
		_, err := c.iam.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: s("ci"), Password: s("hunter2-hunter2")})
		return err
	}, operation: "CreateLoginProfile", action: "iam:CreateLoginProfile", resources: arns("arn:aws:iam::123456789012:user/ci"), absent: []string{"Password"}})

	// ---- EC2, RDS ----
	add(oracleCase{name: "RunInstances", call: func(ctx context.Context, c clients) error {
		_, err := c.ec2.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: s("ami-0abc"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
			SubnetId: s("subnet-1"), UserData: s("c2VjcmV0")})
		return err
	}, operation: "RunInstances", action: "ec2:RunInstances",
		resources: arns("arn:aws:ec2:us-east-1::image/ami-0abc", "arn:aws:ec2:us-east-1:123456789012:subnet/subnet-1"), absent: []string{"UserData"}})
	add(oracleCase{name: "TerminateInstances", call: func(ctx context.Context, c clients) error {
		_, err := c.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{"i-1", "i-2", "i-3", "i-4", "i-5", "i-6", "i-7", "i-8", "i-9", "i-10"}})
		return err
	}, operation: "TerminateInstances", action: "ec2:TerminateInstances", resources: func() []string {
		var out []string
		for _, i := range []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"} {
			out = append(out, "arn:aws:ec2:us-east-1:123456789012:instance/i-"+i)
		}
		return out
	}()})
	add(oracleCase{name: "DescribeInstances", call: func(ctx context.Context, c clients) error {
		_, err := c.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-1"}})
		return err
	}, operation: "DescribeInstances", action: "ec2:DescribeInstances", resources: arns("arn:aws:ec2:us-east-1:123456789012:instance/i-1")})
	add(oracleCase{name: "DeleteDBInstance", call: func(ctx context.Context, c clients) error {
		_, err := c.rds.DeleteDBInstance(ctx, &rds.DeleteDBInstanceInput{DBInstanceIdentifier: s("prod-db"), SkipFinalSnapshot: aws.Bool(true)})
		return err
	}, operation: "DeleteDBInstance", action: "rds:DeleteDBInstance", resources: arns("arn:aws:rds:us-east-1:123456789012:db:prod-db")})
	add(oracleCase{name: "DescribeDBClusters", call: func(ctx context.Context, c clients) error {
		_, err := c.rds.DescribeDBClusters(ctx, &rds.DescribeDBClustersInput{DBClusterIdentifier: s("aurora")})
		return err
	}, operation: "DescribeDBClusters", action: "rds:DescribeDBClusters", resources: arns("arn:aws:rds:us-east-1:123456789012:cluster:aurora")})

	// ---- Lambda ----
	add(oracleCase{name: "Invoke", call: func(ctx context.Context, c clients) error {
		_, err := c.lambda.Invoke(ctx, &lambda.InvokeInput{FunctionName: s("resize"), Payload: []byte(`{}`)})
		return err
	}, operation: "Invoke", action: "lambda:InvokeFunction", resources: arns(fn)})
	add(oracleCase{name: "Invoke/qualified ARN", call: func(ctx context.Context, c clients) error {
		_, err := c.lambda.Invoke(ctx, &lambda.InvokeInput{FunctionName: s("arn:aws:lambda:us-east-1:123456789012:function:resize:live")})
		return err
	}, operation: "Invoke", action: "lambda:InvokeFunction", resources: arns(fn + ":live")})
	add(oracleCase{name: "Invoke/partial ARN+Qualifier", call: func(ctx context.Context, c clients) error {
		_, err := c.lambda.Invoke(ctx, &lambda.InvokeInput{FunctionName: s("123456789012:function:resize"), Qualifier: s("7")})
		return err
	}, operation: "Invoke", action: "lambda:InvokeFunction", resources: arns(fn + ":7")})
	add(oracleCase{name: "UpdateFunctionCode", call: func(ctx context.Context, c clients) error {
		_, err := c.lambda.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: s("resize"), S3Bucket: s("code"), S3Key: s("resize.zip")})
		return err
	}, operation: "UpdateFunctionCode", action: "lambda:UpdateFunctionCode", resources: arns(fn), params: map[string]any{"S3Bucket": "code"}})
	add(oracleCase{name: "GetFunction", call: func(ctx context.Context, c clients) error {
		_, err := c.lambda.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: s("resize")})
		return err
	}, operation: "GetFunction", action: "lambda:GetFunction", resources: arns(fn)})
	add(oracleCase{name: "ListFunctions", call: func(ctx context.Context, c clients) error {
		_, err := c.lambda.ListFunctions(ctx, &lambda.ListFunctionsInput{})
		return err
	}, operation: "ListFunctions", action: "lambda:ListFunctions"})

	// ---- SQS, SNS ----
	qurl := "https://sqs.us-east-1.amazonaws.com/123456789012/jobs"
	add(oracleCase{name: "SendMessage", call: func(ctx context.Context, c clients) error {
		_, err := c.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: s(qurl), MessageBody: s("hi")})
		return err
	}, operation: "SendMessage", action: "sqs:SendMessage", resources: arns("arn:aws:sqs:us-east-1:123456789012:jobs")})
	add(oracleCase{name: "DeleteQueue", call: func(ctx context.Context, c clients) error {
		_, err := c.sqs.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: s(qurl)})
		return err
	}, operation: "DeleteQueue", action: "sqs:DeleteQueue", resources: arns("arn:aws:sqs:us-east-1:123456789012:jobs")})
	add(oracleCase{name: "Publish", call: func(ctx context.Context, c clients) error {
		_, err := c.sns.Publish(ctx, &sns.PublishInput{TopicArn: s("arn:aws:sns:us-east-1:123456789012:alerts"), Message: s("x")})
		return err
	}, operation: "Publish", action: "sns:Publish", resources: arns("arn:aws:sns:us-east-1:123456789012:alerts")})
	add(oracleCase{name: "CreateTopic", call: func(ctx context.Context, c clients) error {
		_, err := c.sns.CreateTopic(ctx, &sns.CreateTopicInput{Name: s("alerts")})
		return err
	}, operation: "CreateTopic", action: "sns:CreateTopic", resources: arns("arn:aws:sns:us-east-1:123456789012:alerts")})

	// ---- KMS, Secrets Manager, SSM ----
	add(oracleCase{name: "Decrypt", call: func(ctx context.Context, c clients) error {
		_, err := c.kms.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: []byte("x"), KeyId: s("arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab")})
		return err
	}, operation: "Decrypt", action: "kms:Decrypt", resources: arns("arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab")})
	add(oracleCase{name: "Encrypt/alias", call: func(ctx context.Context, c clients) error {
		_, err := c.kms.Encrypt(ctx, &kms.EncryptInput{KeyId: s("alias/app"), Plaintext: []byte("secret")})
		return err
	}, operation: "Encrypt", action: "kms:Encrypt", resources: arns("arn:aws:kms:us-east-1:123456789012:alias/app"), absent: []string{"Plaintext"}})
	add(oracleCase{name: "GenerateDataKey", call: func(ctx context.Context, c clients) error {
		_, err := c.kms.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: s("1234abcd-12ab-34cd-56ef-1234567890ab"), NumberOfBytes: aws.Int32(32)})
		return err
	}, operation: "GenerateDataKey", action: "kms:GenerateDataKey", resources: arns("arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab")})
	add(oracleCase{name: "GetSecretValue", call: func(ctx context.Context, c clients) error {
		_, err := c.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: s("prod/db")})
		return err
	}, operation: "GetSecretValue", action: "secretsmanager:GetSecretValue", resources: arns("arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db")})
	add(oracleCase{name: "CreateSecret", call: func(ctx context.Context, c clients) error {
		_, err := c.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: s("prod/api"), SecretString: s("hunter2")})
		return err
	}, operation: "CreateSecret", action: "secretsmanager:CreateSecret", resources: arns("arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/api"),
		absent: []string{"SecretString"}})
	add(oracleCase{name: "GetParameter", call: func(ctx context.Context, c clients) error {
		_, err := c.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: s("/prod/db/url"), WithDecryption: aws.Bool(true)})
		return err
	}, operation: "GetParameter", action: "ssm:GetParameter", resources: arns("arn:aws:ssm:us-east-1:123456789012:parameter/prod/db/url")})
	add(oracleCase{name: "PutParameter", call: func(ctx context.Context, c clients) error {
		_, err := c.ssm.PutParameter(ctx, &ssm.PutParameterInput{Name: s("token"), Value: s("hunter2")})
		return err
	}, operation: "PutParameter", action: "ssm:PutParameter", resources: arns("arn:aws:ssm:us-east-1:123456789012:parameter/token"), absent: []string{"Value"}})

	// ---- CloudWatch Logs, CloudFormation ----
	add(oracleCase{name: "PutLogEvents", call: func(ctx context.Context, c clients) error {
		_, err := c.logs.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: s("/app/web"), LogStreamName: s("i-1"),
			LogEvents: []logstypes.InputLogEvent{{Message: s("hello"), Timestamp: aws.Int64(1)}}})
		return err
	}, operation: "PutLogEvents", action: "logs:PutLogEvents", resources: arns("arn:aws:logs:us-east-1:123456789012:log-group:/app/web:log-stream:i-1")})
	add(oracleCase{name: "DeleteLogGroup", call: func(ctx context.Context, c clients) error {
		_, err := c.logs.DeleteLogGroup(ctx, &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: s("/app/web")})
		return err
	}, operation: "DeleteLogGroup", action: "logs:DeleteLogGroup", resources: arns("arn:aws:logs:us-east-1:123456789012:log-group:/app/web")})
	add(oracleCase{name: "DeleteStack", call: func(ctx context.Context, c clients) error {
		_, err := c.cfn.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: s("web")})
		return err
	}, operation: "DeleteStack", action: "cloudformation:DeleteStack", resources: arns("arn:aws:cloudformation:us-east-1:123456789012:stack/web")})
	add(oracleCase{name: "DescribeStacks", call: func(ctx context.Context, c clients) error {
		_, err := c.cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{})
		return err
	}, operation: "DescribeStacks", action: "cloudformation:DescribeStacks"})

	// ---- ECR, ECS, EKS ----
	add(oracleCase{name: "BatchGetImage", call: func(ctx context.Context, c clients) error {
		_, err := c.ecr.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: s("web"), ImageIds: []ecrtypes.ImageIdentifier{{ImageTag: s("latest")}}})
		return err
	}, operation: "BatchGetImage", action: "ecr:BatchGetImage", resources: arns("arn:aws:ecr:us-east-1:123456789012:repository/web")})
	add(oracleCase{name: "DeleteRepository", call: func(ctx context.Context, c clients) error {
		_, err := c.ecr.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: s("web"), RegistryId: s("210987654321")})
		return err
	}, operation: "DeleteRepository", action: "ecr:DeleteRepository", resources: arns("arn:aws:ecr:us-east-1:210987654321:repository/web")})
	add(oracleCase{name: "GetAuthorizationToken", call: func(ctx context.Context, c clients) error {
		_, err := c.ecr.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
		return err
	}, operation: "GetAuthorizationToken", action: "ecr:GetAuthorizationToken"})
	add(oracleCase{name: "DeleteService", call: func(ctx context.Context, c clients) error {
		_, err := c.ecs.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: s("prod"), Service: s("web")})
		return err
	}, operation: "DeleteService", action: "ecs:DeleteService",
		resources: arns("arn:aws:ecs:us-east-1:123456789012:cluster/prod", "arn:aws:ecs:us-east-1:123456789012:service/prod/web")})
	add(oracleCase{name: "DescribeClusters", call: func(ctx context.Context, c clients) error {
		_, err := c.ecs.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"prod", "arn:aws:ecs:us-east-1:123456789012:cluster/dev"}})
		return err
	}, operation: "DescribeClusters", action: "ecs:DescribeClusters",
		resources: arns("arn:aws:ecs:us-east-1:123456789012:cluster/prod", "arn:aws:ecs:us-east-1:123456789012:cluster/dev")})
	add(oracleCase{name: "DescribeCluster", call: func(ctx context.Context, c clients) error {
		_, err := c.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: s("prod")})
		return err
	}, operation: "DescribeCluster", action: "eks:DescribeCluster", resources: arns("arn:aws:eks:us-east-1:123456789012:cluster/prod")})
	add(oracleCase{name: "DeleteCluster", call: func(ctx context.Context, c clients) error {
		_, err := c.eks.DeleteCluster(ctx, &eks.DeleteClusterInput{Name: s("prod")})
		return err
	}, operation: "DeleteCluster", action: "eks:DeleteCluster", resources: arns("arn:aws:eks:us-east-1:123456789012:cluster/prod")})
	add(oracleCase{name: "ListClusters", call: func(ctx context.Context, c clients) error {
		_, err := c.eks.ListClusters(ctx, &eks.ListClustersInput{})
		return err
	}, operation: "ListClusters", action: "eks:ListClusters"})

	// ---- Route 53 ----
	add(oracleCase{name: "ChangeResourceRecordSets", call: func(ctx context.Context, c clients) error {
		_, err := c.r53.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: s("/hostedzone/Z123"),
			ChangeBatch: &r53types.ChangeBatch{Changes: []r53types.Change{{Action: r53types.ChangeActionUpsert,
				ResourceRecordSet: &r53types.ResourceRecordSet{Name: s("a.example.com"), Type: r53types.RRTypeA}}}}})
		return err
	}, operation: "ChangeResourceRecordSets", action: "route53:ChangeResourceRecordSets", resources: arns("arn:aws:route53:::hostedzone/Z123")})
	add(oracleCase{name: "GetHostedZone", call: func(ctx context.Context, c clients) error {
		_, err := c.r53.GetHostedZone(ctx, &route53.GetHostedZoneInput{Id: s("Z123")})
		return err
	}, operation: "GetHostedZone", action: "route53:GetHostedZone", resources: arns("arn:aws:route53:::hostedzone/Z123")})
	add(oracleCase{name: "ListHostedZones", call: func(ctx context.Context, c clients) error {
		_, err := c.r53.ListHostedZones(ctx, &route53.ListHostedZonesInput{})
		return err
	}, operation: "ListHostedZones", action: "route53:ListHostedZones"})

	// ---- Bedrock ----
	add(oracleCase{name: "ListFoundationModels", call: func(ctx context.Context, c clients) error {
		_, err := c.bedrock.ListFoundationModels(ctx, &bedrock.ListFoundationModelsInput{ByProvider: s("anthropic")})
		return err
	}, operation: "ListFoundationModels", action: "bedrock:ListFoundationModels", params: map[string]any{"ByProvider": "anthropic"}})
	add(oracleCase{name: "GetFoundationModel", call: func(ctx context.Context, c clients) error {
		_, err := c.bedrock.GetFoundationModel(ctx, &bedrock.GetFoundationModelInput{ModelIdentifier: s(haiku)})
		return err
	}, operation: "GetFoundationModel", action: "bedrock:GetFoundationModel", resources: arns(haikuA)})
	add(oracleCase{name: "InvokeModel/ARN", call: func(ctx context.Context, c clients) error {
		_, err := c.brt.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: s(haikuA), Body: []byte(`{}`), ContentType: s("application/json")})
		return err
	}, operation: "InvokeModel", action: "bedrock:InvokeModel", resources: arns(haikuA), params: map[string]any{"ModelId": haikuA}})
	add(oracleCase{name: "InvokeModel/id", call: func(ctx context.Context, c clients) error {
		_, err := c.brt.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: s(haiku), Body: []byte(`{}`)})
		return err
	}, operation: "InvokeModel", action: "bedrock:InvokeModel", resources: arns(haikuA)})
	add(oracleCase{name: "Converse/inference profile", call: func(ctx context.Context, c clients) error {
		_, err := c.brt.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: s("us." + haiku),
			Messages: []brtypes.Message{{Role: brtypes.ConversationRoleUser, Content: []brtypes.ContentBlock{&brtypes.ContentBlockMemberText{Value: "hi"}}}}})
		return err
	}, operation: "Converse", action: "bedrock:InvokeModel", resources: arns("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us." + haiku)})
	return cs
}

// serviceOf is what the chain passes today: the endpoint host's first
// label (intercept.describeHost), "s3" for S3 hosts.
func serviceOf(host string) string {
	if strings.Contains(host, ".s3.") || strings.HasPrefix(host, "s3.") {
		return "s3"
	}
	l, _, _ := strings.Cut(host, ".")
	return l
}

var authParam = regexp.MustCompile(`(?i)signature|credential|security-?token|authorization|^x-amz-`)

func TestSDKRequests(t *testing.T) {
	rec := newRecorder(t)
	c := newClients(rec.config())
	seen := map[string]bool{}
	for _, tc := range cases() {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = tc.call(ctx, c) // the server answers with an error; the request is what counts
			got := rec.take(t)
			body := got.body
			if got.r.Header.Get("Content-Type") == "application/octet-stream" || got.r.Header.Get("Content-Encoding") == "aws-chunked" {
				body = nil // a payload: the chain hands Describe no body
			}
			call := awsapi.Describe(got.r, body, serviceOf(got.r.Host), region, awsapi.Options{Account: account})
			seen[call.Operation] = true
			t.Logf("%s %s%s → %s %s %q", got.r.Method, got.r.Host, got.r.URL.RequestURI(), call.Protocol, call.Action, call.Resources)
			if call.Operation != tc.operation || call.Action != tc.action {
				t.Errorf("%s %s (host %s): got %s/%s, want %s/%s", got.r.Method, got.r.URL.RequestURI(), got.r.Host, call.Operation, call.Action, tc.operation, tc.action)
			}
			if !reflect.DeepEqual(call.Resources, tc.resources) {
				t.Errorf("%s %s: resources\n got %q\nwant %q", got.r.Method, got.r.URL.RequestURI(), call.Resources, tc.resources)
			}
			if !reflect.DeepEqual(call.AlsoActions, tc.also) {
				t.Errorf("AlsoActions\n got %+v\nwant %+v", call.AlsoActions, tc.also)
			}
			for k, v := range tc.params {
				if !reflect.DeepEqual(call.Params[k], v) {
					t.Errorf("Params[%s] = %#v, want %#v", k, call.Params[k], v)
				}
			}
			for _, k := range tc.absent {
				if _, ok := call.Params[k]; ok {
					t.Errorf("Params carries %s, which is secret", k)
				}
			}
			for k := range call.Params {
				if authParam.MatchString(k) {
					t.Errorf("Params carries auth parameter %s", k)
				}
			}
			for k, v := range call.Params {
				if sv, ok := v.(string); ok && (strings.Contains(sv, "SESSIONTOKEN") || strings.Contains(sv, "AKIDEXAMPLE")) {
					t.Errorf("Params[%s] carries the caller's credentials", k)
				}
			}
			if call.Service == "" || call.Protocol == "" {
				t.Errorf("service %q protocol %q", call.Service, call.Protocol)
			}
		})
	}
	delete(seen, "")
	t.Logf("%d SDK requests, %d distinct operations", len(cases()), len(seen))
	if len(seen) < 60 {
		t.Errorf("the oracle covers %d operations, want at least 60", len(seen))
	}
}
