package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
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

	"github.com/gatehouse/gatehouse/deploy/lab"
)

// The lab's account: Gatehouse writes it in the ARNs of resources named
// without one (identity.account, 000000000000 by default).
const (
	opsAcct   = "000000000000"
	opsBucket = "ops-e2e-photos" // no such bucket: S3 calls are allowed and MinIO answers NoSuchBucket
	opsObj    = "arn:aws:s3:::" + opsBucket + "/2024/cat.jpg"
	opsBkt    = "arn:aws:s3:::" + opsBucket
	opsTable  = "arn:aws:dynamodb:us-east-1:" + opsAcct + ":table/Orders"
	opsFn     = "arn:aws:lambda:us-east-1:" + opsAcct + ":function:resize"
	opsQueue  = "https://sqs.us-east-1.amazonaws.com/" + opsAcct + "/jobs"
	opsQArn   = "arn:aws:sqs:us-east-1:" + opsAcct + ":jobs"
	opsTopic  = "arn:aws:sns:us-east-1:" + opsAcct + ":alerts"
	opsKey    = "arn:aws:kms:us-east-1:" + opsAcct + ":key/1234abcd-12ab-34cd-56ef-1234567890ab"
	opsHaiku  = "anthropic.claude-3-haiku-20240307-v1:0"
	opsHaikuA = "arn:aws:bedrock:us-east-1::foundation-model/" + opsHaiku
)

// goClients are aws-sdk-go-v2 clients used in-process as an agent: they
// dial from gh-agent (every host to MinIO's address, which TPROXY captures
// like any other destination on 443) with Gatehouse session credentials.
type goClients struct {
	s3      *s3.Client
	ddb     *dynamodb.Client
	sts     *sts.Client
	iam     *iam.Client
	ec2     *ec2.Client
	rds     *rds.Client
	lambda  *lambda.Client
	sqs     *sqs.Client
	sns     *sns.Client
	kms     *kms.Client
	sm      *secretsmanager.Client
	ssm     *ssm.Client
	logs    *cloudwatchlogs.Client
	cfn     *cloudformation.Client
	ecr     *ecr.Client
	ecs     *ecs.Client
	eks     *eks.Client
	r53     *route53.Client
	bedrock *bedrock.Client
	brt     *bedrockruntime.Client
}

func newGoClients(t *testing.T) *goClients {
	creds := sessionCreds(t, filepath.Join(outDir, "tokens/agent"))
	cfg := aws.Config{
		Region: "us-east-1", HTTPClient: agentHTTP(t), RetryMaxAttempts: 1,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil }),
	}
	return &goClients{
		s3:      s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }),
		ddb:     dynamodb.NewFromConfig(cfg),
		sts:     sts.NewFromConfig(cfg),
		iam:     iam.NewFromConfig(cfg),
		ec2:     ec2.NewFromConfig(cfg),
		rds:     rds.NewFromConfig(cfg),
		lambda:  lambda.NewFromConfig(cfg),
		sqs:     sqs.NewFromConfig(cfg),
		sns:     sns.NewFromConfig(cfg),
		kms:     kms.NewFromConfig(cfg),
		sm:      secretsmanager.NewFromConfig(cfg),
		ssm:     ssm.NewFromConfig(cfg),
		logs:    cloudwatchlogs.NewFromConfig(cfg),
		cfn:     cloudformation.NewFromConfig(cfg),
		ecr:     ecr.NewFromConfig(cfg),
		ecs:     ecs.NewFromConfig(cfg),
		eks:     eks.NewFromConfig(cfg),
		r53:     route53.NewFromConfig(cfg),
		bedrock: bedrock.NewFromConfig(cfg),
		brt:     bedrockruntime.NewFromConfig(cfg),
	}
}

// opCase is one client-side call and what Gatehouse must log for it.
type opCase struct {
	client    string // "go", "js" or "cli"
	service   string
	operation string // the log line's operation
	action    string
	resources []string
	goCall    func(ctx context.Context, c *goClients) error
	args      []string // js: client package suffix, operation, JSON input; cli: aws arguments
	env       []string // js, cli: added to the agent's environment
	// known is a misclassification Gatehouse has today ("action|resources"
	// as logged): a case logging it is skipped, loudly, rather than failed.
	known string
}

func goCase(svc, op, action string, resources []string, call func(ctx context.Context, c *goClients) error) opCase {
	return opCase{client: "go", service: svc, operation: op, action: action, resources: resources, goCall: call}
}

func jsCase(svc, op, action string, resources []string, pkg, input string) opCase {
	return opCase{client: "js", service: svc, operation: op, action: action, resources: resources, args: []string{pkg, op, input}}
}

func cliCase(svc, op, action string, resources []string, args ...string) opCase {
	return opCase{client: "cli", service: svc, operation: op, action: action, resources: resources, args: args}
}

func (c opCase) knownAs(k string) opCase    { c.known = k; return c }
func (c opCase) withEnv(e ...string) opCase { c.env = e; return c }
func rs(a ...string) []string               { return a }

// ddbRegional keeps the JS SDK on dynamodb.us-east-1.amazonaws.com.
const ddbRegional = "AWS_ACCOUNT_ID_ENDPOINT_MODE=disabled"

func operationCases() []opCase {
	s := aws.String
	key := map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: "1"}}
	cs := []opCase{
		// ---- S3 (allowed: these reach MinIO, which has no such bucket) ----
		goCase("s3", "GetObject", "s3:GetObject", rs(opsObj), func(ctx context.Context, c *goClients) error {
			_, err := c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: s(opsBucket), Key: s("2024/cat.jpg")})
			return err
		}),
		goCase("s3", "GetObject", "s3:GetObjectVersion", rs(opsObj), func(ctx context.Context, c *goClients) error {
			_, err := c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: s(opsBucket), Key: s("2024/cat.jpg"), VersionId: s("v1")})
			return err
		}),
		goCase("s3", "PutObject", "s3:PutObject", rs(opsObj), func(ctx context.Context, c *goClients) error {
			_, err := c.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: s(opsBucket), Key: s("2024/cat.jpg"), Body: strings.NewReader("meow")})
			return err
		}),
		goCase("s3", "HeadObject", "s3:GetObject", rs(opsObj), func(ctx context.Context, c *goClients) error {
			_, err := c.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: s(opsBucket), Key: s("2024/cat.jpg")})
			return err
		}),
		goCase("s3", "ListObjectsV2", "s3:ListBucket", rs(opsBkt), func(ctx context.Context, c *goClients) error {
			_, err := c.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: s(opsBucket), Prefix: s("2024/")})
			return err
		}),
		goCase("s3", "ListObjectVersions", "s3:ListBucketVersions", rs(opsBkt), func(ctx context.Context, c *goClients) error {
			_, err := c.s3.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: s(opsBucket)})
			return err
		}),
		goCase("s3", "ListBuckets", "s3:ListAllMyBuckets", nil, func(ctx context.Context, c *goClients) error {
			_, err := c.s3.ListBuckets(ctx, &s3.ListBucketsInput{})
			return err
		}),
		goCase("s3", "CopyObject", "s3:PutObject", rs(opsObj), func(ctx context.Context, c *goClients) error {
			_, err := c.s3.CopyObject(ctx, &s3.CopyObjectInput{Bucket: s(opsBucket), Key: s("2024/cat.jpg"), CopySource: s("archive/old/cat%201.jpg")})
			return err
		}),
		goCase("s3", "CreateMultipartUpload", "s3:PutObject", rs(opsObj), func(ctx context.Context, c *goClients) error {
			_, err := c.s3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: s(opsBucket), Key: s("2024/cat.jpg")})
			return err
		}),
		goCase("s3", "UploadPart", "s3:PutObject", rs(opsObj), func(ctx context.Context, c *goClients) error {
			_, err := c.s3.UploadPart(ctx, &s3.UploadPartInput{Bucket: s(opsBucket), Key: s("2024/cat.jpg"), UploadId: s("up1"), PartNumber: aws.Int32(2), Body: strings.NewReader("part")})
			return err
		}),
		goCase("s3", "AbortMultipartUpload", "s3:AbortMultipartUpload", rs(opsObj), func(ctx context.Context, c *goClients) error {
			_, err := c.s3.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: s(opsBucket), Key: s("2024/cat.jpg"), UploadId: s("up1")})
			return err
		}),
		goCase("s3", "ListParts", "s3:ListMultipartUploadParts", rs(opsObj), func(ctx context.Context, c *goClients) error {
			_, err := c.s3.ListParts(ctx, &s3.ListPartsInput{Bucket: s(opsBucket), Key: s("2024/cat.jpg"), UploadId: s("up1")})
			return err
		}),
		goCase("s3", "ListMultipartUploads", "s3:ListBucketMultipartUploads", rs(opsBkt), func(ctx context.Context, c *goClients) error {
			_, err := c.s3.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: s(opsBucket)})
			return err
		}),
		goCase("s3", "PutBucketPolicy", "s3:PutBucketPolicy", rs(opsBkt), func(ctx context.Context, c *goClients) error {
			_, err := c.s3.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: s(opsBucket), Policy: s(`{"Version":"2012-10-17","Statement":[]}`)})
			return err
		}),
		goCase("s3", "GetBucketAcl", "s3:GetBucketAcl", rs(opsBkt), func(ctx context.Context, c *goClients) error {
			_, err := c.s3.GetBucketAcl(ctx, &s3.GetBucketAclInput{Bucket: s(opsBucket)})
			return err
		}),
		goCase("s3", "PutObjectTagging", "s3:PutObjectTagging", rs(opsObj), func(ctx context.Context, c *goClients) error {
			_, err := c.s3.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: s(opsBucket), Key: s("2024/cat.jpg"),
				Tagging: &s3types.Tagging{TagSet: []s3types.Tag{{Key: s("k"), Value: s("v")}}}})
			return err
		}),
		goCase("s3", "DeleteBucketCors", "s3:PutBucketCORS", rs(opsBkt), func(ctx context.Context, c *goClients) error {
			_, err := c.s3.DeleteBucketCors(ctx, &s3.DeleteBucketCorsInput{Bucket: s(opsBucket)})
			return err
		}),
		goCase("s3", "DeleteObjects", "s3:DeleteObject", rs(opsObj, "arn:aws:s3:::"+opsBucket+"/2024/dog.jpg"), func(ctx context.Context, c *goClients) error {
			_, err := c.s3.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: s(opsBucket), Delete: &s3types.Delete{Objects: []s3types.ObjectIdentifier{
				{Key: s("2024/cat.jpg")}, {Key: s("2024/dog.jpg")}}}})
			return err
		}), // the chain reads the XML body (unframing aws-chunked) so the keys are the resources
		// ---- DynamoDB (reads allowed, writes denied by default) ----
		goCase("dynamodb", "GetItem", "dynamodb:GetItem", rs(opsTable), func(ctx context.Context, c *goClients) error {
			_, err := c.ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: s("Orders"), Key: key})
			return err
		}),
		goCase("dynamodb", "PutItem", "dynamodb:PutItem", rs("arn:aws:dynamodb:eu-west-1:210987654321:table/Other"), func(ctx context.Context, c *goClients) error {
			_, err := c.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: s("arn:aws:dynamodb:eu-west-1:210987654321:table/Other"), Item: key})
			return err
		}),
		goCase("dynamodb", "DeleteTable", "dynamodb:DeleteTable", rs(opsTable), func(ctx context.Context, c *goClients) error {
			_, err := c.ddb.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: s("Orders")})
			return err
		}),
		goCase("dynamodb", "Query", "dynamodb:Query", rs(opsTable+"/index/byCustomer"), func(ctx context.Context, c *goClients) error {
			_, err := c.ddb.Query(ctx, &dynamodb.QueryInput{TableName: s("Orders"), IndexName: s("byCustomer"), KeyConditionExpression: s("c = :v"),
				ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":v": &ddbtypes.AttributeValueMemberS{Value: "1"}}})
			return err
		}),
		goCase("dynamodb", "BatchWriteItem", "dynamodb:BatchWriteItem", rs("arn:aws:dynamodb:us-east-1:"+opsAcct+":table/Audit", opsTable), func(ctx context.Context, c *goClients) error {
			_, err := c.ddb.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]ddbtypes.WriteRequest{
				"Orders": {{PutRequest: &ddbtypes.PutRequest{Item: key}}}, "Audit": {{DeleteRequest: &ddbtypes.DeleteRequest{Key: key}}}}})
			return err
		}),
		goCase("dynamodb", "TransactWriteItems", "dynamodb:PutItem", rs(opsTable), func(ctx context.Context, c *goClients) error {
			_, err := c.ddb.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{
				{Put: &ddbtypes.Put{TableName: s("Orders"), Item: key}},
				{Delete: &ddbtypes.Delete{TableName: s("Audit"), Key: key}}}})
			return err
		}),
		goCase("dynamodb", "ExecuteStatement", "dynamodb:PartiQLDelete", nil, func(ctx context.Context, c *goClients) error {
			_, err := c.ddb.ExecuteStatement(ctx, &dynamodb.ExecuteStatementInput{Statement: s(`DELETE FROM "Orders" WHERE id = '1'`)})
			return err
		}),
		// ---- STS, IAM (credential vending refused before policy) ----
		goCase("sts", "AssumeRole", "sts:AssumeRole", rs("arn:aws:iam::"+opsAcct+":role/deployer"), func(ctx context.Context, c *goClients) error {
			_, err := c.sts.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: s("arn:aws:iam::" + opsAcct + ":role/deployer"), RoleSessionName: s("agent")})
			return err
		}),
		goCase("iam", "CreateRole", "iam:CreateRole", rs("arn:aws:iam::"+opsAcct+":role/agents/deployer"), func(ctx context.Context, c *goClients) error {
			_, err := c.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: s("deployer"), Path: s("/agents/"), AssumeRolePolicyDocument: s("{}")})
			return err
		}),
		goCase("iam", "AttachRolePolicy", "iam:AttachRolePolicy", rs("arn:aws:iam::"+opsAcct+":role/deployer", "arn:aws:iam::aws:policy/AdministratorAccess"), func(ctx context.Context, c *goClients) error {
			_, err := c.iam.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: s("deployer"), PolicyArn: s("arn:aws:iam::aws:policy/AdministratorAccess")})
			return err
		}),
		goCase("iam", "CreateAccessKey", "iam:CreateAccessKey", rs("arn:aws:iam::"+opsAcct+":user/ci"), func(ctx context.Context, c *goClients) error {
			_, err := c.iam.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: s("ci")})
			return err
		}),
		goCase("iam", "CreateLoginProfile", "iam:CreateLoginProfile", rs("arn:aws:iam::"+opsAcct+":user/ci"), func(ctx context.Context, c *goClients) error {
			_, err := c.iam.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: s("ci"), Password: s("hunter2-hunter2")})
			return err
		}),
		// ---- EC2, RDS ----
		goCase("ec2", "TerminateInstances", "ec2:TerminateInstances", func() []string {
			var out []string
			for i := 1; i <= 7; i++ {
				out = append(out, fmt.Sprintf("arn:aws:ec2:us-east-1:%s:instance/i-%d", opsAcct, i))
			}
			return out
		}(), func(ctx context.Context, c *goClients) error {
			_, err := c.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{"i-1", "i-2", "i-3", "i-4", "i-5", "i-6", "i-7"}})
			return err
		}),
		goCase("ec2", "DescribeInstances", "ec2:DescribeInstances", rs("arn:aws:ec2:us-east-1:"+opsAcct+":instance/i-1"), func(ctx context.Context, c *goClients) error {
			_, err := c.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-1"}})
			return err
		}),
		goCase("rds", "DeleteDBInstance", "rds:DeleteDBInstance", rs("arn:aws:rds:us-east-1:"+opsAcct+":db:prod-db"), func(ctx context.Context, c *goClients) error {
			_, err := c.rds.DeleteDBInstance(ctx, &rds.DeleteDBInstanceInput{DBInstanceIdentifier: s("prod-db"), SkipFinalSnapshot: aws.Bool(true)})
			return err
		}),
		goCase("rds", "DescribeDBClusters", "rds:DescribeDBClusters", rs("arn:aws:rds:us-east-1:"+opsAcct+":cluster:aurora"), func(ctx context.Context, c *goClients) error {
			_, err := c.rds.DescribeDBClusters(ctx, &rds.DescribeDBClustersInput{DBClusterIdentifier: s("aurora")})
			return err
		}),
		// ---- Lambda ----
		goCase("lambda", "Invoke", "lambda:InvokeFunction", rs(opsFn+":live"), func(ctx context.Context, c *goClients) error {
			_, err := c.lambda.Invoke(ctx, &lambda.InvokeInput{FunctionName: s(opsFn + ":live")})
			return err
		}),
		goCase("lambda", "UpdateFunctionCode", "lambda:UpdateFunctionCode", rs(opsFn), func(ctx context.Context, c *goClients) error {
			_, err := c.lambda.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: s("resize"), S3Bucket: s("code"), S3Key: s("resize.zip")})
			return err
		}),
		goCase("lambda", "GetFunction", "lambda:GetFunction", rs(opsFn), func(ctx context.Context, c *goClients) error {
			_, err := c.lambda.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: s("resize")})
			return err
		}),
		goCase("lambda", "ListFunctions", "lambda:ListFunctions", nil, func(ctx context.Context, c *goClients) error {
			_, err := c.lambda.ListFunctions(ctx, &lambda.ListFunctionsInput{})
			return err
		}),
		// ---- SQS, SNS ----
		goCase("sqs", "SendMessage", "sqs:SendMessage", rs(opsQArn), func(ctx context.Context, c *goClients) error {
			_, err := c.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: s(opsQueue), MessageBody: s("hi")})
			return err
		}),
		goCase("sqs", "DeleteQueue", "sqs:DeleteQueue", rs(opsQArn), func(ctx context.Context, c *goClients) error {
			_, err := c.sqs.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: s(opsQueue)})
			return err
		}),
		goCase("sns", "Publish", "sns:Publish", rs(opsTopic), func(ctx context.Context, c *goClients) error {
			_, err := c.sns.Publish(ctx, &sns.PublishInput{TopicArn: s(opsTopic), Message: s("x")})
			return err
		}),
		goCase("sns", "CreateTopic", "sns:CreateTopic", rs(opsTopic), func(ctx context.Context, c *goClients) error {
			_, err := c.sns.CreateTopic(ctx, &sns.CreateTopicInput{Name: s("alerts")})
			return err
		}),
		// ---- KMS, Secrets Manager, SSM ----
		goCase("kms", "Decrypt", "kms:Decrypt", rs(opsKey), func(ctx context.Context, c *goClients) error {
			_, err := c.kms.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: []byte("x"), KeyId: s(opsKey)})
			return err
		}),
		goCase("kms", "GenerateDataKey", "kms:GenerateDataKey", rs(opsKey), func(ctx context.Context, c *goClients) error {
			_, err := c.kms.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: s("1234abcd-12ab-34cd-56ef-1234567890ab"), NumberOfBytes: aws.Int32(32)})
			return err
		}),
		goCase("secretsmanager", "GetSecretValue", "secretsmanager:GetSecretValue", rs("arn:aws:secretsmanager:us-east-1:"+opsAcct+":secret:prod/db"), func(ctx context.Context, c *goClients) error {
			_, err := c.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: s("prod/db")})
			return err
		}),
		goCase("secretsmanager", "CreateSecret", "secretsmanager:CreateSecret", rs("arn:aws:secretsmanager:us-east-1:"+opsAcct+":secret:prod/api"), func(ctx context.Context, c *goClients) error {
			_, err := c.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: s("prod/api"), SecretString: s("hunter2")})
			return err
		}),
		goCase("ssm", "GetParameter", "ssm:GetParameter", rs("arn:aws:ssm:us-east-1:"+opsAcct+":parameter/prod/db/url"), func(ctx context.Context, c *goClients) error {
			_, err := c.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: s("/prod/db/url"), WithDecryption: aws.Bool(true)})
			return err
		}),
		goCase("ssm", "PutParameter", "ssm:PutParameter", rs("arn:aws:ssm:us-east-1:"+opsAcct+":parameter/token"), func(ctx context.Context, c *goClients) error {
			_, err := c.ssm.PutParameter(ctx, &ssm.PutParameterInput{Name: s("token"), Value: s("hunter2")})
			return err
		}),
		// ---- CloudWatch Logs, CloudFormation ----
		goCase("logs", "PutLogEvents", "logs:PutLogEvents", rs("arn:aws:logs:us-east-1:"+opsAcct+":log-group:/app/web:log-stream:i-1"), func(ctx context.Context, c *goClients) error {
			_, err := c.logs.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: s("/app/web"), LogStreamName: s("i-1"),
				LogEvents: []logstypes.InputLogEvent{{Message: s("hello"), Timestamp: aws.Int64(1)}}})
			return err
		}),
		goCase("logs", "DeleteLogGroup", "logs:DeleteLogGroup", rs("arn:aws:logs:us-east-1:"+opsAcct+":log-group:/app/web"), func(ctx context.Context, c *goClients) error {
			_, err := c.logs.DeleteLogGroup(ctx, &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: s("/app/web")})
			return err
		}),
		goCase("cloudformation", "DeleteStack", "cloudformation:DeleteStack", rs("arn:aws:cloudformation:us-east-1:"+opsAcct+":stack/web"), func(ctx context.Context, c *goClients) error {
			_, err := c.cfn.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: s("web")})
			return err
		}),
		goCase("cloudformation", "DescribeStacks", "cloudformation:DescribeStacks", nil, func(ctx context.Context, c *goClients) error {
			_, err := c.cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{})
			return err
		}),
		// ---- ECR, ECS, EKS ----
		goCase("ecr", "BatchGetImage", "ecr:BatchGetImage", rs("arn:aws:ecr:us-east-1:"+opsAcct+":repository/web"), func(ctx context.Context, c *goClients) error {
			_, err := c.ecr.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: s("web"), ImageIds: []ecrtypes.ImageIdentifier{{ImageTag: s("latest")}}})
			return err
		}),
		goCase("ecr", "DeleteRepository", "ecr:DeleteRepository", rs("arn:aws:ecr:us-east-1:210987654321:repository/web"), func(ctx context.Context, c *goClients) error {
			_, err := c.ecr.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: s("web"), RegistryId: s("210987654321")})
			return err
		}),
		goCase("ecr", "GetAuthorizationToken", "ecr:GetAuthorizationToken", nil, func(ctx context.Context, c *goClients) error {
			_, err := c.ecr.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
			return err
		}),
		goCase("ecs", "DeleteService", "ecs:DeleteService", rs("arn:aws:ecs:us-east-1:"+opsAcct+":cluster/prod", "arn:aws:ecs:us-east-1:"+opsAcct+":service/prod/web"), func(ctx context.Context, c *goClients) error {
			_, err := c.ecs.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: s("prod"), Service: s("web")})
			return err
		}),
		goCase("ecs", "DescribeClusters", "ecs:DescribeClusters", rs("arn:aws:ecs:us-east-1:"+opsAcct+":cluster/prod", "arn:aws:ecs:us-east-1:"+opsAcct+":cluster/dev"), func(ctx context.Context, c *goClients) error {
			_, err := c.ecs.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"prod", "arn:aws:ecs:us-east-1:" + opsAcct + ":cluster/dev"}})
			return err
		}),
		goCase("eks", "DescribeCluster", "eks:DescribeCluster", rs("arn:aws:eks:us-east-1:"+opsAcct+":cluster/prod"), func(ctx context.Context, c *goClients) error {
			_, err := c.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: s("prod")})
			return err
		}),
		goCase("eks", "DeleteCluster", "eks:DeleteCluster", rs("arn:aws:eks:us-east-1:"+opsAcct+":cluster/prod"), func(ctx context.Context, c *goClients) error {
			_, err := c.eks.DeleteCluster(ctx, &eks.DeleteClusterInput{Name: s("prod")})
			return err
		}),
		goCase("eks", "ListClusters", "eks:ListClusters", nil, func(ctx context.Context, c *goClients) error {
			_, err := c.eks.ListClusters(ctx, &eks.ListClustersInput{})
			return err
		}),
		// ---- Route 53 ----
		goCase("route53", "ChangeResourceRecordSets", "route53:ChangeResourceRecordSets", rs("arn:aws:route53:::hostedzone/Z123"), func(ctx context.Context, c *goClients) error {
			_, err := c.r53.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: s("/hostedzone/Z123"),
				ChangeBatch: &r53types.ChangeBatch{Changes: []r53types.Change{{Action: r53types.ChangeActionUpsert,
					ResourceRecordSet: &r53types.ResourceRecordSet{Name: s("a.example.com"), Type: r53types.RRTypeA}}}}})
			return err
		}),
		goCase("route53", "GetHostedZone", "route53:GetHostedZone", rs("arn:aws:route53:::hostedzone/Z123"), func(ctx context.Context, c *goClients) error {
			_, err := c.r53.GetHostedZone(ctx, &route53.GetHostedZoneInput{Id: s("Z123")})
			return err
		}),
		goCase("route53", "ListHostedZones", "route53:ListHostedZones", nil, func(ctx context.Context, c *goClients) error {
			_, err := c.r53.ListHostedZones(ctx, &route53.ListHostedZonesInput{})
			return err
		}),
		// ---- Bedrock, Bedrock Runtime ----
		goCase("bedrock", "ListFoundationModels", "bedrock:ListFoundationModels", nil, func(ctx context.Context, c *goClients) error {
			_, err := c.bedrock.ListFoundationModels(ctx, &bedrock.ListFoundationModelsInput{ByProvider: s("anthropic")})
			return err
		}),
		goCase("bedrock", "GetFoundationModel", "bedrock:GetFoundationModel", rs(opsHaikuA), func(ctx context.Context, c *goClients) error {
			_, err := c.bedrock.GetFoundationModel(ctx, &bedrock.GetFoundationModelInput{ModelIdentifier: s(opsHaiku)})
			return err
		}),
		goCase("bedrock-runtime", "InvokeModel", "bedrock:InvokeModel", rs(opsHaikuA), func(ctx context.Context, c *goClients) error {
			_, err := c.brt.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: s(opsHaiku), Body: []byte(`{}`), ContentType: s("application/json")})
			return err
		}),
		goCase("bedrock-runtime", "Converse", "bedrock:InvokeModel", rs("arn:aws:bedrock:us-east-1:"+opsAcct+":inference-profile/us."+opsHaiku), func(ctx context.Context, c *goClients) error {
			_, err := c.brt.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: s("us." + opsHaiku),
				Messages: []brtypes.Message{{Role: brtypes.ConversationRoleUser, Content: []brtypes.ContentBlock{&brtypes.ContentBlockMemberText{Value: "hi"}}}}})
			return err
		}),

		// ---- the AWS SDK for JavaScript v3 ----
		jsCase("s3", "DeleteObject", "s3:DeleteObject", rs(opsObj), "s3", `{"Bucket":"`+opsBucket+`","Key":"2024/cat.jpg"}`),
		jsCase("s3", "GetBucketVersioning", "s3:GetBucketVersioning", rs(opsBkt), "s3", `{"Bucket":"`+opsBucket+`"}`),
		jsCase("s3", "GetObjectAcl", "s3:GetObjectAcl", rs(opsObj), "s3", `{"Bucket":"`+opsBucket+`","Key":"2024/cat.jpg"}`),
		// The JS SDK's default for DynamoDB is an account-based endpoint,
		// <account>.ddb.us-east-1.amazonaws.com, once its credentials name
		// an account (Gatehouse's web identity answer does).
		jsCase("dynamodb", "GetItem", "dynamodb:GetItem", rs(opsTable), "dynamodb", `{"TableName":"Orders","Key":{"id":{"S":"1"}}}`),
		jsCase("dynamodb", "GetItem", "dynamodb:GetItem", rs(opsTable), "dynamodb", `{"TableName":"Orders","Key":{"id":{"S":"1"}}}`).
			withEnv(ddbRegional),
		jsCase("dynamodb", "Scan", "dynamodb:Scan", rs(opsTable), "dynamodb", `{"TableName":"Orders"}`).withEnv(ddbRegional),
		jsCase("dynamodb", "DeleteItem", "dynamodb:DeleteItem", rs(opsTable), "dynamodb", `{"TableName":"Orders","Key":{"id":{"S":"1"}}}`).withEnv(ddbRegional),
		jsCase("dynamodb", "UpdateTable", "dynamodb:UpdateTable", rs(opsTable), "dynamodb", `{"TableName":"Orders","BillingMode":"PAY_PER_REQUEST"}`).withEnv(ddbRegional),
		jsCase("sqs", "SendMessage", "sqs:SendMessage", rs(opsQArn), "sqs", `{"QueueUrl":"`+opsQueue+`","MessageBody":"hi"}`),
		jsCase("sqs", "PurgeQueue", "sqs:PurgeQueue", rs(opsQArn), "sqs", `{"QueueUrl":"`+opsQueue+`"}`),
		jsCase("lambda", "Invoke", "lambda:InvokeFunction", rs(opsFn), "lambda", `{"FunctionName":"resize","Payload":"{}"}`),
		jsCase("lambda", "DeleteFunction", "lambda:DeleteFunction", rs(opsFn), "lambda", `{"FunctionName":"resize"}`),
		jsCase("sns", "Publish", "sns:Publish", rs(opsTopic), "sns", `{"TopicArn":"`+opsTopic+`","Message":"x"}`),
		jsCase("sns", "DeleteTopic", "sns:DeleteTopic", rs(opsTopic), "sns", `{"TopicArn":"`+opsTopic+`"}`),
		jsCase("kms", "Encrypt", "kms:Encrypt", rs("arn:aws:kms:us-east-1:"+opsAcct+":alias/app"), "kms", `{"KeyId":"alias/app","Plaintext":"secret"}`),
		jsCase("kms", "ScheduleKeyDeletion", "kms:ScheduleKeyDeletion", rs(opsKey), "kms", `{"KeyId":"`+opsKey+`","PendingWindowInDays":7}`),

		// ---- the AWS CLI v2 (the lab's hosts files name S3, STS, DynamoDB and IAM) ----
		// (virtual-host style: a bucket the hosts files name)
		cliCase("s3", "HeadBucket", "s3:ListBucket", rs("arn:aws:s3:::gh-lab-vhost-cli"), "s3api", "head-bucket", "--bucket", "gh-lab-vhost-cli"),
		cliCase("s3", "GetBucketTagging", "s3:GetBucketTagging", rs("arn:aws:s3:::gh-lab-vhost-cli"), "s3api", "get-bucket-tagging", "--bucket", "gh-lab-vhost-cli"),
		cliCase("dynamodb", "Query", "dynamodb:Query", rs(opsTable), "dynamodb", "query", "--table-name", "Orders",
			"--key-condition-expression", "id = :v", "--expression-attribute-values", `{":v":{"S":"1"}}`),
		cliCase("dynamodb", "DescribeTable", "dynamodb:DescribeTable", rs(opsTable), "dynamodb", "describe-table", "--table-name", "Orders"),
		cliCase("dynamodb", "CreateTable", "dynamodb:CreateTable", rs("arn:aws:dynamodb:us-east-1:"+opsAcct+":table/Jobs"), "dynamodb", "create-table",
			"--table-name", "Jobs", "--attribute-definitions", "AttributeName=id,AttributeType=S", "--key-schema", "AttributeName=id,KeyType=HASH",
			"--billing-mode", "PAY_PER_REQUEST"),
		cliCase("iam", "DeleteUser", "iam:DeleteUser", rs("arn:aws:iam::"+opsAcct+":user/ci"), "iam", "delete-user", "--user-name", "ci"),
		cliCase("iam", "CreateAccessKey", "iam:CreateAccessKey", rs("arn:aws:iam::"+opsAcct+":user/ci"), "iam", "create-access-key", "--user-name", "ci"),
	}
	return cs
}

// logResources is the log line's resources field: comma-joined, the first
// five and ",..." after them.
func logResources(rs []string) string {
	if len(rs) > 5 {
		return strings.Join(rs[:5], ",") + ",..."
	}
	return strings.Join(rs, ",")
}

// Issue [3/6] acceptance 1: real SDKs (aws-sdk-go-v2, the AWS SDK for
// JavaScript v3) and the AWS CLI drive operations of twenty services through
// Gatehouse, and each request's log line names the action and resources the
// oracle expects. Most are denied by the lab's policy (default deny), which
// is fine: Describe runs before Decide, and the request is what is
// classified.
func TestOperationsClassified(t *testing.T) {
	start := time.Now()
	cases := operationCases()
	gc := newGoClients(t)
	env := agentEnv(t, "AWS_MAX_ATTEMPTS=1", "AWS_RETRY_MODE=standard", "LAB_AWS_IP="+lab.AWSIP, "AWS_REGION=us-east-1", "AWS_DEFAULT_REGION=us-east-1", "AWS_PAGER=")
	ops := map[string]bool{}
	count := map[string]int{}
	for i, tc := range cases {
		ops[tc.service+":"+tc.operation] = true
		count[tc.client+" "+tc.service]++
		t.Run(fmt.Sprintf("%s/%s/%s#%d", tc.client, tc.service, tc.operation, i), func(t *testing.T) {
			mark := logMark(t)
			var out string
			switch tc.client {
			case "go":
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if err := tc.goCall(ctx, gc); err != nil {
					out = err.Error()
				}
			case "js":
				out, _ = inAgent(t, append(env[:len(env):len(env)], tc.env...), time.Minute, "node", append([]string{"e2e/clients/js/call.mjs"}, tc.args...)...)
			case "cli":
				out, _ = inAgent(t, append(env[:len(env):len(env)], tc.env...), time.Minute, "/usr/bin/aws", tc.args...)
			}
			var got []logLine
			for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				got = got[:0]
				for _, l := range linesSince(t, mark) {
					if l.str("operation") == tc.operation && l.str("action") != "sts:AssumeRoleWithWebIdentity" {
						got = append(got, l)
					}
				}
				if len(got) > 0 || time.Now().After(deadline) {
					break
				}
			}
			if len(got) == 0 {
				var seen []string
				for _, l := range linesSince(t, mark) {
					seen = append(seen, l.str("operation")+" "+l.str("action")+" "+l.str("decision"))
				}
				t.Fatalf("no log line with operation %s; lines since the call: %q\nclient said: %s", tc.operation, seen, out)
			}
			want := logResources(tc.resources)
			for _, l := range got {
				if tc.known != "" && l.str("action")+"|"+l.str("resources") == tc.known {
					t.Skipf("KNOWN MISCLASSIFICATION: %s logged %q, want action %q resources %q", tc.operation, tc.known, tc.action, want)
				}
			}
			for _, l := range got {
				if l.str("action") != tc.action || l.str("resources") != want {
					t.Errorf("%s logged action %q resources %q (decision %s, rule %s)\nwant action %q resources %q\nclient said: %s",
						tc.operation, l.str("action"), l.str("resources"), l.str("decision"), l.str("rule"), tc.action, want, out)
				}
			}
		})
	}
	t.Logf("%d cases, %d distinct operations; per client and service: %v; %s", len(cases), len(ops), count, time.Since(start).Round(time.Second))
	if len(ops) < 60 {
		t.Errorf("%d distinct operations, want at least 60", len(ops))
	}
}
