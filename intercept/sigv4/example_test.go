package sigv4_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/gatehouse/gatehouse/intercept/sigv4"
)

// An agent's request is verified with the agent's secret, stripped, and
// signed again with credentials the agent never sees.
func Example() {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	agent := aws.Credentials{AccessKeyID: "AKIAAGENTEXAMPLE", SecretAccessKey: "agent-secret"}
	upstream := aws.Credentials{AccessKeyID: "AKIAUPSTREAMEXAMPLE", SecretAccessKey: "upstream-secret"}

	// What the agent sends (here signed by aws-sdk-go-v2, as its clients do).
	r, _ := http.NewRequest("GET", "https://bucket.s3.us-east-1.amazonaws.com/my%20key?versionId=1", nil)
	r.Header.Set("X-Amz-Content-Sha256", sigv4.UnsignedPayload)
	_ = v4.NewSigner().SignHTTP(context.Background(), agent, r, sigv4.UnsignedPayload, "s3", "us-east-1", at,
		func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })

	a, err := sigv4.Parse(r)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("agent:", a.AccessKeyID, a.Scope.Service, a.Scope.Region)
	if err := sigv4.Verify(r, a, agent.SecretAccessKey, a.PayloadHash, at.Add(time.Minute)); err != nil {
		fmt.Println(err)
		return
	}

	out := r.Clone(context.Background())
	sigv4.Strip(out)
	if _, err := sigv4.Sign(context.Background(), out, upstream, a.PayloadHash, "us-east-1", "s3", at.Add(time.Minute)); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("upstream:", strings.Fields(out.Header.Get("Authorization"))[1])
	fmt.Println("path and query as sent:", out.URL.EscapedPath(), out.URL.RawQuery)

	err = sigv4.Verify(r, a, "wrong-secret", a.PayloadHash, at.Add(time.Minute))
	fmt.Println(err)
	// Output:
	// agent: AKIAAGENTEXAMPLE s3 us-east-1
	// upstream: Credential=AKIAUPSTREAMEXAMPLE/20250301/us-east-1/s3/aws4_request,
	// path and query as sent: /my%20key versionId=1
	// sigv4: SignatureDoesNotMatch: The request signature we calculated does not match the signature you provided. Check your key and signing method.
}
