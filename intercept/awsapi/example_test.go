package awsapi_test

import (
	"fmt"
	"net/http/httptest"

	"github.com/gatehouse/gatehouse/intercept/awsapi"
)

func ExampleDescribe() {
	// An S3 PutObject in virtual-host style, as the chain receives it.
	r := httptest.NewRequest("PUT", "https://photos.s3.us-east-1.amazonaws.com/2024/cat.jpg?x-id=PutObject", nil)
	call := awsapi.Describe(r, nil, "s3", "us-east-1", awsapi.Options{Account: "123456789012"})
	fmt.Println(call.Operation, call.Action, call.Resources, call.Params["Key"])

	// A CopyObject needs PutObject on the target and GetObject on the source.
	r = httptest.NewRequest("PUT", "https://photos.s3.us-east-1.amazonaws.com/2024/cat.jpg", nil)
	r.Header.Set("X-Amz-Copy-Source", "archive/cat.jpg")
	call = awsapi.Describe(r, nil, "s3", "us-east-1", awsapi.Options{Account: "123456789012"})
	fmt.Println(call.Operation, call.Action, call.AlsoActions)

	// Output:
	// PutObject s3:PutObject [arn:aws:s3:::photos/2024/cat.jpg] 2024/cat.jpg
	// CopyObject s3:PutObject [{s3:GetObject [arn:aws:s3:::archive/cat.jpg]}]
}
