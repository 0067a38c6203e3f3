// Package oracle checks awsapi against the real SDK: each test builds a
// request with an aws-sdk-go-v2 service client pointed at an httptest
// server, records the request as the server received it, and asserts what
// awsapi.Describe says about it. It is its own module so that the SDK's
// service modules stay out of Gatehouse's go.mod:
//
//	cd intercept/awsapi/internal/oracle && go test ./...
package oracle
