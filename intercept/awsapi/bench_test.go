package awsapi

import "testing"

// BenchmarkDescribe measures the two calls agents make most: an S3
// GetObject as the Go SDK sends it (virtual host, x-id) and a DynamoDB
// GetItem.
func BenchmarkDescribe(b *testing.B) {
	for _, bc := range []struct {
		name, service string
		req           req
	}{
		{"S3GetObject", "s3", req{method: "GET", host: "photos.s3.us-east-1.amazonaws.com", uri: "/2024/06/cat.jpg?x-id=GetObject"}},
		{"DynamoDBGetItem", "dynamodb", req{method: "POST", host: "dynamodb.us-east-1.amazonaws.com", uri: "/",
			header: map[string]string{"X-Amz-Target": "DynamoDB_20120810.GetItem", "Content-Type": "application/x-amz-json-1.0"},
			body:   `{"TableName":"Orders","Key":{"id":{"S":"42"}},"ConsistentRead":true}`}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r, body := bc.req.build(b)
			b.ReportAllocs()
			for b.Loop() {
				c := Describe(r, body, bc.service, "us-east-1", Options{Account: acct})
				if c.Operation == "" {
					b.Fatal("not identified")
				}
			}
		})
	}
}
