package awsapi

import (
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

const acct = "123456789012"

// req is a hand-built request as the chain receives it: the Host header,
// the path as sent (RequestURI), headers and, for the JSON and query
// protocols, the body.
type req struct {
	method, host, uri string
	header            map[string]string
	body              string
	service, region   string
}

func (q req) build(t testing.TB) (*http.Request, []byte) {
	t.Helper()
	u, err := url.ParseRequestURI(q.uri)
	if err != nil {
		t.Fatalf("uri %q: %v", q.uri, err)
	}
	r := &http.Request{Method: q.method, Host: q.host, URL: u, RequestURI: q.uri, Header: http.Header{}}
	for k, v := range q.header {
		r.Header[k] = []string{v}
	}
	var body []byte
	if q.body != "" {
		body = []byte(q.body)
	}
	return r, body
}

var form = map[string]string{"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}

type want struct {
	op, action string
	resources  []string
	also       []Access
	params     map[string]any
	protocol   string
}

var describeCases = []struct {
	name string
	req  req
	want want
}{
	// S3: path style, virtual host, the bucket in the Host.
	{"s3 path GetObject", req{method: "GET", host: "s3.us-east-1.amazonaws.com", uri: "/photos/2024/cat.jpg"},
		want{op: "GetObject", action: "s3:GetObject", resources: []string{"arn:aws:s3:::photos/2024/cat.jpg"}, params: map[string]any{"Bucket": "photos", "Key": "2024/cat.jpg"}, protocol: "restxml"}},
	{"s3 virtual host GetObject", req{method: "GET", host: "photos.s3.us-east-1.amazonaws.com", uri: "/2024/cat.jpg"},
		want{op: "GetObject", action: "s3:GetObject", resources: []string{"arn:aws:s3:::photos/2024/cat.jpg"}}},
	{"s3 virtual host legacy global endpoint", req{method: "GET", host: "photos.s3.amazonaws.com", uri: "/cat.jpg"},
		want{op: "GetObject", action: "s3:GetObject", resources: []string{"arn:aws:s3:::photos/cat.jpg"}}},
	{"s3 virtual host dashed region", req{method: "DELETE", host: "photos.s3-us-west-2.amazonaws.com", uri: "/cat.jpg", region: "us-west-2"},
		want{op: "DeleteObject", action: "s3:DeleteObject", resources: []string{"arn:aws:s3:::photos/cat.jpg"}}},
	{"s3 virtual host dualstack with port", req{method: "GET", host: "photos.s3.dualstack.eu-west-1.amazonaws.com:443", uri: "/cat.jpg", region: "eu-west-1"},
		want{op: "GetObject", action: "s3:GetObject", resources: []string{"arn:aws:s3:::photos/cat.jpg"}}},
	{"s3 dotted bucket that contains s3", req{method: "GET", host: "my.s3.bucket.s3.us-east-1.amazonaws.com", uri: "/?list-type=2"},
		want{op: "ListObjectsV2", action: "s3:ListBucket", resources: []string{"arn:aws:s3:::my.s3.bucket"}}},
	{"s3 china partition", req{method: "GET", host: "photos.s3.cn-north-1.amazonaws.com.cn", uri: "/a", region: "cn-north-1"},
		want{op: "GetObject", action: "s3:GetObject", resources: []string{"arn:aws-cn:s3:::photos/a"}}},
	{"s3 access point", req{method: "GET", host: "reports-123456789012.s3-accesspoint.us-east-1.amazonaws.com", uri: "/q1.csv"},
		want{op: "GetObject", action: "s3:GetObject", resources: []string{"arn:aws:s3:us-east-1:123456789012:accesspoint/reports/object/q1.csv"}}},
	{"s3 control endpoint is not the object API", req{method: "GET", host: "123456789012.s3-control.us-east-1.amazonaws.com", uri: "/v20180820/accesspoint"},
		want{op: "", action: "s3:Unknown"}},
	{"s3 directory buckets' control endpoint lists directory buckets", req{method: "GET", host: "s3express-control.us-east-1.amazonaws.com", uri: "/"},
		want{op: "ListDirectoryBuckets", action: "s3express:ListAllMyDirectoryBuckets"}},
	{"s3 ListBuckets", req{method: "GET", host: "s3.amazonaws.com", uri: "/"},
		want{op: "ListBuckets", action: "s3:ListAllMyBuckets"}},
	{"s3 non-AWS host is path style", req{method: "GET", host: "127.0.0.1:9000", service: "s3", uri: "/photos/cat.jpg"},
		want{op: "GetObject", action: "s3:GetObject", resources: []string{"arn:aws:s3:::photos/cat.jpg"}}},

	// Greedy labels: the key keeps its slashes, %2F and trailing slash.
	{"s3 key with escaped slash and spaces", req{method: "GET", host: "photos.s3.us-east-1.amazonaws.com", uri: "/a%2Fb/c%20d%3Fe"},
		want{op: "GetObject", action: "s3:GetObject", resources: []string{"arn:aws:s3:::photos/a/b/c d?e"}, params: map[string]any{"Bucket": "photos", "Key": "a/b/c d?e"}}},
	{"s3 key with empty segments and trailing slash", req{method: "PUT", host: "s3.us-east-1.amazonaws.com", uri: "/photos//dir//"},
		want{op: "PutObject", action: "s3:PutObject", resources: []string{"arn:aws:s3:::photos//dir//"}}},
	{"s3 bucket with trailing slash is the bucket", req{method: "GET", host: "s3.us-east-1.amazonaws.com", uri: "/photos/"},
		want{op: "ListObjects", action: "s3:ListBucket", resources: []string{"arn:aws:s3:::photos"}}},
	{"s3 utf-8 key", req{method: "GET", host: "photos.s3.us-east-1.amazonaws.com", uri: "/%C3%BC%2Bx.txt"},
		want{op: "GetObject", action: "s3:GetObject", resources: []string{"arn:aws:s3:::photos/ü+x.txt"}}},

	// Query literals and required query keys: the most specific wins.
	{"s3 UploadPart over PutObject", req{method: "PUT", host: "photos.s3.us-east-1.amazonaws.com", uri: "/big.bin?partNumber=3&uploadId=u"},
		want{op: "UploadPart", action: "s3:PutObject", resources: []string{"arn:aws:s3:::photos/big.bin"}, params: map[string]any{"Bucket": "photos", "Key": "big.bin", "PartNumber": "3", "UploadId": "u"}}},
	{"s3 partNumber alone is PutObject", req{method: "PUT", host: "photos.s3.us-east-1.amazonaws.com", uri: "/big.bin?partNumber=3"},
		want{op: "PutObject", action: "s3:PutObject", resources: []string{"arn:aws:s3:::photos/big.bin"}}},
	{"s3 UploadPartCopy", req{method: "PUT", host: "photos.s3.us-east-1.amazonaws.com", uri: "/big.bin?partNumber=3&uploadId=u", header: map[string]string{"X-Amz-Copy-Source": "src/a.bin"}},
		want{op: "UploadPartCopy", action: "s3:PutObject", resources: []string{"arn:aws:s3:::photos/big.bin"}, also: []Access{{"s3:GetObject", []string{"arn:aws:s3:::src/a.bin"}}}}},
	{"s3 CopyObject by header", req{method: "PUT", host: "photos.s3.us-east-1.amazonaws.com", uri: "/b.jpg", header: map[string]string{"X-Amz-Copy-Source": "/secret%20bucket/k%2Fy.jpg?versionId=4"}},
		want{op: "CopyObject", action: "s3:PutObject", resources: []string{"arn:aws:s3:::photos/b.jpg"}, also: []Access{{"s3:GetObjectVersion", []string{"arn:aws:s3:::secret bucket/k/y.jpg"}}}}},
	{"s3 CopyObject header in any spelling", req{method: "PUT", host: "photos.s3.us-east-1.amazonaws.com", uri: "/b.jpg", header: map[string]string{"x-amz-copy-source": "src/a"}},
		want{op: "CopyObject", action: "s3:PutObject", resources: []string{"arn:aws:s3:::photos/b.jpg"}, also: []Access{{"s3:GetObject", []string{"arn:aws:s3:::src/a"}}}}},
	{"s3 CreateMultipartUpload ?uploads", req{method: "POST", host: "photos.s3.us-east-1.amazonaws.com", uri: "/big.bin?uploads"},
		want{op: "CreateMultipartUpload", action: "s3:PutObject", resources: []string{"arn:aws:s3:::photos/big.bin"}}},
	{"s3 ListMultipartUploads ?uploads on the bucket", req{method: "GET", host: "s3.us-east-1.amazonaws.com", uri: "/photos?uploads"},
		want{op: "ListMultipartUploads", action: "s3:ListBucketMultipartUploads", resources: []string{"arn:aws:s3:::photos"}}},
	{"s3 GetObjectAcl", req{method: "GET", host: "s3.us-east-1.amazonaws.com", uri: "/photos/a.jpg?acl"},
		want{op: "GetObjectAcl", action: "s3:GetObjectAcl", resources: []string{"arn:aws:s3:::photos/a.jpg"}}},
	{"s3 GetObjectAcl of a version", req{method: "GET", host: "s3.us-east-1.amazonaws.com", uri: "/photos/a.jpg?acl&versionId=2"},
		want{op: "GetObjectAcl", action: "s3:GetObjectVersionAcl", resources: []string{"arn:aws:s3:::photos/a.jpg"}}},
	{"s3 PutBucketAcl", req{method: "PUT", host: "photos.s3.us-east-1.amazonaws.com", uri: "/?acl"},
		want{op: "PutBucketAcl", action: "s3:PutBucketAcl", resources: []string{"arn:aws:s3:::photos"}}},
	{"s3 DeleteObjectTagging", req{method: "DELETE", host: "photos.s3.us-east-1.amazonaws.com", uri: "/a.jpg?tagging"},
		want{op: "DeleteObjectTagging", action: "s3:DeleteObjectTagging", resources: []string{"arn:aws:s3:::photos/a.jpg"}}},
	{"s3 DeleteBucketTagging", req{method: "DELETE", host: "photos.s3.us-east-1.amazonaws.com", uri: "/?tagging"},
		want{op: "DeleteBucketTagging", action: "s3:PutBucketTagging", resources: []string{"arn:aws:s3:::photos"}}},
	{"s3 PutBucketVersioning", req{method: "PUT", host: "s3.us-east-1.amazonaws.com", uri: "/photos?versioning"},
		want{op: "PutBucketVersioning", action: "s3:PutBucketVersioning", resources: []string{"arn:aws:s3:::photos"}}},
	{"s3 list-type=1 is ListObjects", req{method: "GET", host: "photos.s3.us-east-1.amazonaws.com", uri: "/?list-type=1"},
		want{op: "ListObjects", action: "s3:ListBucket", resources: []string{"arn:aws:s3:::photos"}}},
	{"s3 x-id does not decide", req{method: "DELETE", host: "photos.s3.us-east-1.amazonaws.com", uri: "/a.jpg?x-id=GetObject"},
		want{op: "DeleteObject", action: "s3:DeleteObject", resources: []string{"arn:aws:s3:::photos/a.jpg"}}},
	{"s3 DeleteObjects lists its keys from the body", req{method: "POST", host: "photos.s3.us-east-1.amazonaws.com", uri: "/?delete",
		body: `<Delete><Object><Key>a.jpg</Key></Object><Object><Key>b.jpg</Key><VersionId>3</VersionId></Object></Delete>`},
		want{op: "DeleteObjects", action: "s3:DeleteObject", resources: []string{"arn:aws:s3:::photos/a.jpg"}, also: []Access{{"s3:DeleteObjectVersion", []string{"arn:aws:s3:::photos/b.jpg"}}}}},
	{"s3 DeleteObjects without its body names the bucket", req{method: "POST", host: "photos.s3.us-east-1.amazonaws.com", uri: "/?delete"},
		want{op: "DeleteObjects", action: "s3:DeleteObject", resources: []string{"arn:aws:s3:::photos"}}},
	{"s3 presigned GET keeps auth out of Params", req{method: "GET", host: "photos.s3.us-east-1.amazonaws.com",
		uri: "/a.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20240101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20240101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Security-Token=tok&X-Amz-Signature=abc&response-content-type=text%2Fplain"},
		want{op: "GetObject", action: "s3:GetObject", resources: []string{"arn:aws:s3:::photos/a.jpg"}, params: map[string]any{"Bucket": "photos", "Key": "a.jpg", "ResponseContentType": "text/plain"}}},
	{"s3 unknown method", req{method: "PATCH", host: "photos.s3.us-east-1.amazonaws.com", uri: "/a.jpg"},
		want{op: "", action: "s3:Unknown"}},

	// REST-JSON
	{"lambda escaped literal segment routes as AWS decodes it", req{method: "POST", host: "lambda.us-east-1.amazonaws.com", uri: "/2015-03-31/functions/f/invocation%73"},
		want{op: "Invoke", action: "lambda:InvokeFunction", resources: []string{"arn:aws:lambda:us-east-1:123456789012:function:f"}}},
	{"lambda trailing slash", req{method: "GET", host: "lambda.us-east-1.amazonaws.com", uri: "/2015-03-31/functions/"},
		want{op: "ListFunctions", action: "lambda:ListFunctions"}},
	{"lambda layer by ARN needs ?find=LayerVersion", req{method: "GET", host: "lambda.us-east-1.amazonaws.com", uri: "/2018-10-31/layers?find=LayerVersion&Arn=arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Alayer%3Ax%3A1"},
		want{op: "GetLayerVersionByArn", action: "lambda:GetLayerVersion"}},
	{"lambda ListLayers", req{method: "GET", host: "lambda.us-east-1.amazonaws.com", uri: "/2018-10-31/layers"},
		want{op: "ListLayers", action: "lambda:ListLayers"}},
	{"bedrock-runtime model id with ':' and '/'", req{method: "POST", host: "bedrock-runtime.us-west-2.amazonaws.com", region: "us-west-2", service: "bedrock",
		uri: "/model/arn%3Aaws%3Abedrock%3Aus-west-2%3A123456789012%3Aprovisioned-model%2Fabc123/invoke-with-response-stream"},
		want{op: "InvokeModelWithResponseStream", action: "bedrock:InvokeModelWithResponseStream", resources: []string{"arn:aws:bedrock:us-west-2:123456789012:provisioned-model/abc123"}}},
	{"bedrock signing name on an unknown host tries both APIs", req{method: "POST", host: "127.0.0.1:8443", service: "bedrock", uri: "/model/amazon.titan-text-express-v1/converse"},
		want{op: "Converse", action: "bedrock:InvokeModel", resources: []string{"arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-express-v1"}}},
	{"bedrock control plane", req{method: "GET", host: "bedrock.us-east-1.amazonaws.com", service: "bedrock", uri: "/foundation-models?byProvider=meta"},
		want{op: "ListFoundationModels", action: "bedrock:ListFoundationModels", params: map[string]any{"ByProvider": "meta"}}},
	{"eks cluster label", req{method: "GET", host: "eks.us-east-1.amazonaws.com", uri: "/clusters/prod"},
		want{op: "DescribeCluster", action: "eks:DescribeCluster", resources: []string{"arn:aws:eks:us-east-1:123456789012:cluster/prod"}}},
	{"route53 hosted zone", req{method: "POST", host: "route53.amazonaws.com", uri: "/2013-04-01/hostedzone/Z9/rrset/"},
		want{op: "ChangeResourceRecordSets", action: "route53:ChangeResourceRecordSets", resources: []string{"arn:aws:route53:::hostedzone/Z9"}}},

	// JSON
	{"dynamodb GetItem", req{method: "POST", host: "dynamodb.us-east-1.amazonaws.com", uri: "/", header: map[string]string{"X-Amz-Target": "DynamoDB_20120810.GetItem"},
		body: `{"TableName":"Orders","Key":{"id":{"S":"1"}},"Limit":5}`},
		want{op: "GetItem", action: "dynamodb:GetItem", resources: []string{"arn:aws:dynamodb:us-east-1:123456789012:table/Orders"}, protocol: "json",
			params: map[string]any{"TableName": "Orders", "Key": map[string]any{"id": map[string]any{"S": "1"}}}}},
	{"dynamodb TransactGetItems", req{method: "POST", host: "dynamodb.us-east-1.amazonaws.com", uri: "/", header: map[string]string{"X-Amz-Target": "DynamoDB_20120810.TransactGetItems"},
		body: `{"TransactItems":[{"Get":{"TableName":"A","Key":{}}},{"Get":{"TableName":"B","Key":{}}},{"Get":{"TableName":"A","Key":{}}}]}`},
		want{op: "TransactGetItems", action: "dynamodb:GetItem", resources: []string{"arn:aws:dynamodb:us-east-1:123456789012:table/A", "arn:aws:dynamodb:us-east-1:123456789012:table/B"}}},
	{"dynamodb ExecuteStatement select", req{method: "POST", host: "dynamodb.us-east-1.amazonaws.com", uri: "/", header: map[string]string{"X-Amz-Target": "DynamoDB_20120810.ExecuteStatement"},
		body: `{"Statement":"  select * from t"}`},
		want{op: "ExecuteStatement", action: "dynamodb:PartiQLSelect"}},
	{"dynamodb unknown target", req{method: "POST", host: "dynamodb.us-east-1.amazonaws.com", uri: "/", header: map[string]string{"X-Amz-Target": "DynamoDB_20120810.DropEverything"}},
		want{op: "", action: "dynamodb:Unknown"}},
	{"dynamodb target of another service", req{method: "POST", host: "dynamodb.us-east-1.amazonaws.com", uri: "/", header: map[string]string{"X-Amz-Target": "TrentService.Decrypt"}},
		want{op: "", action: "dynamodb:Unknown"}},
	{"dynamodb target on GET", req{method: "GET", host: "dynamodb.us-east-1.amazonaws.com", uri: "/", header: map[string]string{"X-Amz-Target": "DynamoDB_20120810.GetItem"}},
		want{op: "", action: "dynamodb:Unknown"}},
	{"dynamodb malformed body still identifies", req{method: "POST", host: "dynamodb.us-east-1.amazonaws.com", uri: "/", header: map[string]string{"X-Amz-Target": "DynamoDB_20120810.DeleteTable"}, body: `{"TableName":`},
		want{op: "DeleteTable", action: "dynamodb:DeleteTable"}},
	{"kms ReEncrypt names both keys", req{method: "POST", host: "kms.us-gov-west-1.amazonaws.com", region: "us-gov-west-1", uri: "/", header: map[string]string{"X-Amz-Target": "TrentService.ReEncrypt"},
		body: `{"SourceKeyId":"alias/old","DestinationKeyId":"k-1","CiphertextBlob":"eA=="}`},
		want{op: "ReEncrypt", action: "kms:ReEncrypt", resources: []string{"arn:aws-us-gov:kms:us-gov-west-1:123456789012:alias/old", "arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/k-1"}}},
	{"secretsmanager PutSecretValue keeps the secret out", req{method: "POST", host: "secretsmanager.us-east-1.amazonaws.com", uri: "/", header: map[string]string{"X-Amz-Target": "secretsmanager.PutSecretValue"},
		body: `{"SecretId":"arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf","SecretString":"hunter2"}`},
		want{op: "PutSecretValue", action: "secretsmanager:PutSecretValue", resources: []string{"arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"},
			params: map[string]any{"SecretId": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"}}},
	{"ssm GetParameters", req{method: "POST", host: "ssm.us-east-1.amazonaws.com", uri: "/", header: map[string]string{"X-Amz-Target": "AmazonSSM.GetParameters"},
		body: `{"Names":["/a/b","c"]}`},
		want{op: "GetParameters", action: "ssm:GetParameters", resources: []string{"arn:aws:ssm:us-east-1:123456789012:parameter/a/b", "arn:aws:ssm:us-east-1:123456789012:parameter/c"}}},
	{"logs by its host label", req{method: "POST", host: "logs.us-east-1.amazonaws.com", service: "logs", uri: "/", header: map[string]string{"X-Amz-Target": "Logs_20140328.CreateLogGroup"},
		body: `{"logGroupName":"/app"}`},
		want{op: "CreateLogGroup", action: "logs:CreateLogGroup", resources: []string{"arn:aws:logs:us-east-1:123456789012:log-group:/app"}, params: map[string]any{"LogGroupName": "/app"}}},
	{"ecr by its host's first label", req{method: "POST", host: "api.ecr.us-east-1.amazonaws.com", service: "api", uri: "/", header: map[string]string{"X-Amz-Target": "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories"},
		body: `{"repositoryNames":["web","api"]}`},
		want{op: "DescribeRepositories", action: "ecr:DescribeRepositories", resources: []string{"arn:aws:ecr:us-east-1:123456789012:repository/web", "arn:aws:ecr:us-east-1:123456789012:repository/api"}}},
	{"ecs service without a cluster names nothing", req{method: "POST", host: "ecs.us-east-1.amazonaws.com", uri: "/", header: map[string]string{"X-Amz-Target": "AmazonEC2ContainerServiceV20141113.UpdateService"},
		body: `{"service":"web"}`},
		want{op: "UpdateService", action: "ecs:UpdateService"}},

	// Query and ec2query
	{"sqs legacy query protocol", req{method: "POST", host: "sqs.us-east-1.amazonaws.com", uri: "/", header: form,
		body: "Action=SendMessage&Version=2012-11-05&QueueUrl=https%3A%2F%2Fsqs.us-east-1.amazonaws.com%2F123456789012%2Fjobs&MessageBody=hi"},
		want{op: "SendMessage", action: "sqs:SendMessage", resources: []string{"arn:aws:sqs:us-east-1:123456789012:jobs"}, protocol: "query"}},
	{"sqs legacy query to the queue's URL", req{method: "POST", host: "sqs.us-east-1.amazonaws.com", uri: "/123456789012/jobs", header: form, body: "Action=ReceiveMessage&MaxNumberOfMessages=1"},
		want{op: "ReceiveMessage", action: "sqs:ReceiveMessage", resources: []string{"arn:aws:sqs:us-east-1:123456789012:jobs"}}},
	{"sts by GET query string", req{method: "GET", host: "sts.amazonaws.com", uri: "/?Action=GetCallerIdentity&Version=2011-06-15"},
		want{op: "GetCallerIdentity", action: "sts:GetCallerIdentity", protocol: "query"}},
	{"sts MFA code stays out of Params", req{method: "POST", host: "sts.amazonaws.com", uri: "/", header: form,
		body: "Action=GetSessionToken&Version=2011-06-15&SerialNumber=arn%3Aaws%3Aiam%3A%3A123456789012%3Amfa%2Fme&TokenCode=123456"},
		want{op: "GetSessionToken", action: "sts:GetSessionToken", params: map[string]any{"SerialNumber": "arn:aws:iam::123456789012:mfa/me"}}},
	{"query Action in body and URL must agree", req{method: "POST", host: "iam.amazonaws.com", uri: "/?Action=ListRoles", header: form, body: "Action=DeleteRole&RoleName=admin"},
		want{op: "", action: "iam:Unknown"}},
	{"iam form keeps auth and unknown keys out", req{method: "POST", host: "iam.amazonaws.com", uri: "/", header: form,
		body: "Action=DeleteRole&Version=2010-05-08&RoleName=admin&X-Amz-Signature=abc&X-Amz-Credential=AKID&AWSAccessKeyId=AKID&Signature=x&Bogus=1"},
		want{op: "DeleteRole", action: "iam:DeleteRole", resources: []string{"arn:aws:iam::123456789012:role/admin"}, params: map[string]any{"RoleName": "admin"}}},
	{"ec2 instance ids in order", req{method: "POST", host: "ec2.us-east-1.amazonaws.com", uri: "/", header: form,
		body: "Action=StopInstances&Version=2016-11-15&InstanceId.10=i-j&InstanceId.2=i-b&InstanceId.1=i-a"},
		want{op: "StopInstances", action: "ec2:StopInstances", resources: []string{"arn:aws:ec2:us-east-1:123456789012:instance/i-a", "arn:aws:ec2:us-east-1:123456789012:instance/i-b", "arn:aws:ec2:us-east-1:123456789012:instance/i-j"}, protocol: "ec2query"}},
	{"ec2 user data is secret", req{method: "POST", host: "ec2.us-east-1.amazonaws.com", uri: "/", header: form, body: "Action=RunInstances&ImageId=ami-1&MinCount=1&MaxCount=1&UserData=c2VjcmV0"},
		want{op: "RunInstances", action: "ec2:RunInstances", resources: []string{"arn:aws:ec2:us-east-1::image/ami-1"}, params: map[string]any{"ImageId": "ami-1", "MinCount": "1", "MaxCount": "1"}}},

	{"a form body that does not say so is not read", req{method: "POST", host: "iam.amazonaws.com", uri: "/", body: "Action=DeleteRole&RoleName=admin"},
		want{op: "", action: "iam:Unknown"}},
	{"sqs with a JSON target never falls back to a form", req{method: "POST", host: "sqs.us-east-1.amazonaws.com", uri: "/",
		header: map[string]string{"X-Amz-Target": "AmazonSQS.Nope", "Content-Type": "application/x-www-form-urlencoded"}, body: "Action=DeleteQueue"},
		want{op: "", action: "sqs:Unknown"}},

	// Ambiguous requests: AWS reads one value, which one is not ours to guess.
	{"s3 two subresources tie", req{method: "GET", host: "s3.us-east-1.amazonaws.com", uri: "/photos?acl&policy"},
		want{op: "", action: "s3:Unknown"}},
	{"s3 repeated versionId", req{method: "GET", host: "photos.s3.us-east-1.amazonaws.com", uri: "/a?versionId=1&versionId=2"},
		want{op: "", action: "s3:Unknown"}},
	{"eks list query parameter may repeat", req{method: "GET", host: "eks.us-east-1.amazonaws.com", uri: "/clusters?include=a&include=b"},
		want{op: "ListClusters", action: "eks:ListClusters", params: map[string]any{"Include": []string{"a", "b"}}}},
	{"iam repeated form key", req{method: "POST", host: "iam.amazonaws.com", uri: "/", header: form, body: "Action=DeleteRole&RoleName=a&RoleName=b"},
		want{op: "", action: "iam:Unknown"}},
	{"iam URL and form disagree", req{method: "POST", host: "iam.amazonaws.com", uri: "/?RoleName=a", header: form, body: "Action=DeleteRole&RoleName=b"},
		want{op: "", action: "iam:Unknown"}},
	{"dynamodb repeated member, spelled with an escape", req{method: "POST", host: "dynamodb.us-east-1.amazonaws.com", uri: "/", header: map[string]string{"X-Amz-Target": "DynamoDB_20120810.DeleteTable"},
		body: `{"TableName":"scratch", "Table\u004eame" : "prod"}`},
		want{op: "", action: "dynamodb:Unknown"}},
	{"dynamodb nested repeats are the item's business", req{method: "POST", host: "dynamodb.us-east-1.amazonaws.com", uri: "/", header: map[string]string{"X-Amz-Target": "DynamoDB_20120810.PutItem"},
		body: `{"Item":{"a":{"S":"x"},"b":{"L":[{"S":"a,}"},{"M":{"a":{"S":"\"}"}}}]}},"TableName":"t"}`},
		want{op: "PutItem", action: "dynamodb:PutItem", resources: []string{"arn:aws:dynamodb:us-east-1:123456789012:table/t"}}},

	// Unknown
	{"unknown service", req{method: "POST", host: "athena.us-east-1.amazonaws.com", service: "athena", uri: "/", header: map[string]string{"X-Amz-Target": "AmazonAthena.StartQueryExecution"}},
		want{op: "", action: "athena:Unknown"}},
	{"no service at all", req{method: "GET", host: "example.com", service: "-", uri: "/"},
		want{op: "", action: "-:Unknown"}},
	{"lambda unknown path", req{method: "GET", host: "lambda.us-east-1.amazonaws.com", uri: "/2015-03-31/nope"},
		want{op: "", action: "lambda:Unknown"}},
}

func serviceFor(q req) string {
	if q.service != "" {
		return q.service
	}
	h := q.host
	switch {
	case strings.Contains(h, "s3"):
		return "s3"
	}
	l, _, _ := strings.Cut(h, ".")
	return l
}

func TestDescribe(t *testing.T) {
	for _, tc := range describeCases {
		t.Run(tc.name, func(t *testing.T) {
			r, body := tc.req.build(t)
			region := tc.req.region
			if region == "" {
				region = "us-east-1"
			}
			got := Describe(r, body, serviceFor(tc.req), region, Options{Account: acct})
			if got.Operation != tc.want.op || got.Action != tc.want.action {
				t.Errorf("got %q/%q, want %q/%q", got.Operation, got.Action, tc.want.op, tc.want.action)
			}
			if !reflect.DeepEqual(got.Resources, tc.want.resources) {
				t.Errorf("resources\n got %q\nwant %q", got.Resources, tc.want.resources)
			}
			if !reflect.DeepEqual(got.AlsoActions, tc.want.also) {
				t.Errorf("also\n got %+v\nwant %+v", got.AlsoActions, tc.want.also)
			}
			if tc.want.params != nil && !reflect.DeepEqual(got.Params, tc.want.params) {
				t.Errorf("params\n got %#v\nwant %#v", got.Params, tc.want.params)
			}
			if tc.want.protocol != "" && got.Protocol != tc.want.protocol {
				t.Errorf("protocol %q, want %q", got.Protocol, tc.want.protocol)
			}
			if got.Region != region {
				t.Errorf("region %q", got.Region)
			}
		})
	}
}

func TestDescribeLeavesTheRequestAlone(t *testing.T) {
	r, body := req{method: "PUT", host: "photos.s3.us-east-1.amazonaws.com", uri: "/a.jpg?uploadId=1&partNumber=2",
		header: map[string]string{"X-Amz-Copy-Source": "b/k"}}.build(t)
	before := r.Clone(r.Context())
	Describe(r, body, "s3", "us-east-1", Options{})
	if !reflect.DeepEqual(before.URL, r.URL) || !reflect.DeepEqual(before.Header, r.Header) || before.Host != r.Host {
		t.Fatal("Describe changed the request")
	}
}

func TestDescribeNilRequest(t *testing.T) {
	if c := Describe(nil, nil, "s3", "us-east-1", Options{}); c.Action != "s3:Unknown" {
		t.Fatalf("%+v", c)
	}
	if c := Describe(&http.Request{Method: "GET"}, nil, "", "", Options{}); c.Action != "unknown:Unknown" {
		t.Fatalf("%+v", c)
	}
}

func TestPartition(t *testing.T) {
	for region, want := range map[string]string{
		"us-east-1": "aws", "cn-northwest-1": "aws-cn", "us-gov-east-1": "aws-us-gov",
		"us-iso-east-1": "aws-iso", "us-isob-east-1": "aws-iso-b", "eu-isoe-west-1": "aws-iso-e", "": "aws",
	} {
		if got := partition(region); got != want {
			t.Errorf("partition(%q) = %q, want %q", region, got, want)
		}
	}
}

// TestIAMExceptions pins the hand-kept table's best-known entries (the
// field notes' and iam-dataset's), and that every key names a generated
// operation: a renamed operation must not leave a dead exception behind.
func TestIAMExceptions(t *testing.T) {
	for op, want := range map[string]string{
		"s3:ListObjectsV2": "s3:ListBucket", "s3:ListObjects": "s3:ListBucket", "s3:ListObjectVersions": "s3:ListBucketVersions",
		"s3:HeadObject": "s3:GetObject", "s3:HeadBucket": "s3:ListBucket", "s3:UploadPart": "s3:PutObject",
		"s3:CreateMultipartUpload": "s3:PutObject", "s3:CompleteMultipartUpload": "s3:PutObject",
		"s3:AbortMultipartUpload": "s3:AbortMultipartUpload", "s3:ListParts": "s3:ListMultipartUploadParts",
		"s3:DeleteObjects": "s3:DeleteObject", "s3:CopyObject": "s3:PutObject", "s3:GetObjectAcl": "s3:GetObjectAcl",
		"s3:GetBucketCors": "s3:GetBucketCORS", "s3:ListBuckets": "s3:ListAllMyBuckets",
		"bedrockruntime:InvokeModel": "bedrock:InvokeModel", "bedrockruntime:Converse": "bedrock:InvokeModel",
		"sts:GetCallerIdentity": "sts:GetCallerIdentity", "lambda:Invoke": "lambda:InvokeFunction",
		"cloudwatchlogs:PutLogEvents": "logs:PutLogEvents", "dynamodb:DeleteTable": "dynamodb:DeleteTable",
	} {
		mod, name, _ := strings.Cut(op, ":")
		var s *serviceTable
		for i := range services {
			if services[i].name == mod {
				s = &services[i]
			}
		}
		if s == nil || findOp(s, name) == nil {
			t.Errorf("%s: no such operation in the tables", op)
			continue
		}
		got := action(mod, name)
		if !strings.Contains(got, ":") {
			got = s.iam + ":" + got
		}
		if got != want {
			t.Errorf("%s → %s, want %s", op, got, want)
		}
	}
	for key := range iamExceptions {
		mod, name, _ := strings.Cut(key, ":")
		found := false
		for i := range services {
			if services[i].name == mod && findOp(&services[i], name) != nil {
				found = true
			}
		}
		if !found {
			t.Errorf("exception %s names no generated operation", key)
		}
	}
}

// TestTables checks what the generator promises: sorted operations,
// required services present, REST operations with a method and path.
func TestTables(t *testing.T) {
	need := []string{"s3", "dynamodb", "sts", "iam", "ec2", "rds", "lambda", "sqs", "sns", "kms", "secretsmanager", "ssm",
		"cloudwatchlogs", "cloudformation", "ecr", "ecs", "eks", "route53", "bedrock", "bedrockruntime"}
	have := map[string]int{}
	for i := range services {
		s := &services[i]
		have[s.name] = len(s.ops)
		for j := 1; j < len(s.ops); j++ {
			if s.ops[j-1].name >= s.ops[j].name {
				t.Errorf("%s: ops not sorted at %s", s.name, s.ops[j].name)
			}
		}
		for _, o := range s.ops {
			rest := s.protocol == "restxml" || s.protocol == "restjson"
			if rest != (o.method != "" && strings.HasPrefix(o.path, "/")) {
				t.Errorf("%s.%s: protocol %s, method %q path %q", s.name, o.name, s.protocol, o.method, o.path)
			}
		}
	}
	for _, n := range need {
		if have[n] == 0 {
			t.Errorf("no operations for %s", n)
		}
	}
}

func TestRepeatedCopySourceIsAmbiguous(t *testing.T) {
	r, _ := req{method: "PUT", host: "photos.s3.us-east-1.amazonaws.com", uri: "/a"}.build(t)
	r.Header["X-Amz-Copy-Source"] = []string{"public/x", "secret/y"}
	if c := Describe(r, nil, "s3", "us-east-1", Options{}); c.Operation != "" {
		t.Fatalf("%+v", c)
	}
}

func TestDupKeys(t *testing.T) {
	for body, want := range map[string]bool{
		`{"a":1,"b":2}`: false,
		`{"a":1,"a":2}`: true,
		` { "a" : {"a":1,"a":2} , "b" : [1,{"b":1}] }`: false,
		`{"a":"}\"","b":1,"a":[]}`:                     true,
		`{"\u0061":1,"a":2}`:                           true,
		`[1,2]`:                                        false,
		`{"a":`:                                        false,
		``:                                             false,
	} {
		if got := dupKeys([]byte(body)); got != want {
			t.Errorf("dupKeys(%s) = %v, want %v", body, got, want)
		}
	}
}

// TestEveryOperationIdentifiesItself builds, for every operation in the
// tables, the smallest request its protocol allows (the template with its
// labels filled, its query literals, required query keys and headers; the
// JSON target; the query Action) and requires Describe to name that
// operation and no other. Both Bedrock APIs are tried together, as they
// are when the host does not say which.
func TestEveryOperationIdentifiesItself(t *testing.T) {
	label := regexp.MustCompile(`\{[^}]+\}`)
	n := 0
	for i := range services {
		s := &services[i]
		for _, o := range s.ops {
			r := &http.Request{Method: "POST", Host: "127.0.0.1", URL: &url.URL{Path: "/"}, Header: http.Header{}}
			var body []byte
			switch s.protocol {
			case "restjson", "restxml":
				q := url.Values{}
				if o.query != "" {
					q, _ = url.ParseQuery(o.query)
				}
				for _, k := range o.reqQuery {
					q.Set(k, "1")
				}
				r.Method = o.method
				r.URL = &url.URL{Path: label.ReplaceAllString(o.path, "x1"), RawQuery: q.Encode()}
				for _, h := range o.reqHeader {
					r.Header.Set(h, "a/b")
				}
			case "json":
				r.Header.Set("X-Amz-Target", s.target+"."+o.name)
			case "query", "ec2query":
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				body = []byte("Action=" + o.name + "&Version=" + s.version)
			}
			want := o.name
			if s.name == "s3" && o.name == "ListDirectoryBuckets" {
				want = "ListBuckets" // served by s3express-control only; tested above
			}
			if c := Describe(r, body, s.signing, "us-east-1", Options{}); c.Operation != want {
				t.Errorf("%s.%s: %s %s → %q", s.name, o.name, r.Method, r.URL, c.Operation)
			}
			n++
		}
	}
	t.Logf("%d operations", n)
}
