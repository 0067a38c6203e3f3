// Command gos3 is the Gatehouse e2e S3 workload for the unmodified AWS SDK
// for Go v2.
//
// It runs: create bucket -> put a small object -> multipart-upload a 20 MiB
// object (5 MiB parts, feature/s3/manager Uploader) -> list -> get both and
// byte-compare -> delete both objects -> delete bucket, printing one line per
// step to stdout and exiting 1 with a message on stderr at the first failure.
//
// Configuration comes only from the environment:
//
//	AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_CA_BUNDLE
//	    read by config.LoadDefaultConfig
//	HTTPS_PROXY / NO_PROXY (optional)
//	    honoured by the SDK's default transport (http.ProxyFromEnvironment)
//	LAB_BUCKET                         bucket name prefix
//	LAB_BUCKET_NAME                    optional exact bucket name (overrides the prefix)
//	LAB_S3_ADDRESSING=path|virtual     optional, default path
//	LAB_S3_ENDPOINT                    optional, default: SDK endpoint resolution
//
// TLS verification, checksums and request encoding are left at SDK defaults.
//
// Usage: go run ./e2e/clients/gos3   (or build it and run the binary)
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

const (
	clientName    = "go"
	mib           = 1 << 20
	smallKey      = "hello.txt"
	largeKey      = "large.bin"
	largeSize     = 20 * mib
	partSize      = 5 * mib
	expectedParts = largeSize / partSize
)

func step(name, detail string) {
	fmt.Printf("[%s] %s: ok (%s)\n", clientName, name, detail)
}

// stepErr names the step that failed. The SDK's error text already carries
// the operation, HTTP status, request id and S3 error code.
func stepErr(name string, err error) error {
	return fmt.Errorf("%s: %w", name, err)
}

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintf(os.Stderr, "[%s] FAIL at %v\n", clientName, err)
		os.Exit(1)
	}
	fmt.Printf("[%s] PASS\n", clientName)
}

func run(ctx context.Context) error {
	for _, v := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "LAB_BUCKET"} {
		if os.Getenv(v) == "" {
			return fmt.Errorf("config: environment variable %s is required", v)
		}
	}
	addressing := os.Getenv("LAB_S3_ADDRESSING")
	if addressing == "" {
		addressing = "path"
	}
	if addressing != "path" && addressing != "virtual" {
		return fmt.Errorf("config: LAB_S3_ADDRESSING must be \"path\" or \"virtual\", got %q", addressing)
	}
	endpoint := os.Getenv("LAB_S3_ENDPOINT")

	// Region, credentials and AWS_CA_BUNDLE come from the environment via the
	// default loader. Its default HTTP client uses http.ProxyFromEnvironment,
	// so HTTPS_PROXY is honoured without extra configuration.
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return stepErr("config", err)
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = addressing == "path"
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})

	suffix, err := randomHex(4)
	if err != nil {
		return stepErr("config", err)
	}
	bucket := fmt.Sprintf("%s-%s-%s", os.Getenv("LAB_BUCKET"), clientName, suffix)
	if name := os.Getenv("LAB_BUCKET_NAME"); name != "" {
		bucket = name // exact name: virtual-host style needs it in the hosts file
	}
	if len(bucket) > 63 {
		return fmt.Errorf("config: bucket name %q is longer than 63 characters", bucket)
	}
	ep := endpoint
	if ep == "" {
		ep = "sdk-default"
	}
	proxy := "no"
	if os.Getenv("HTTPS_PROXY") != "" || os.Getenv("https_proxy") != "" {
		proxy = "yes"
	}
	step("config", fmt.Sprintf("bucket=%s region=%s addressing=%s endpoint=%s proxy=%s",
		bucket, cfg.Region, addressing, ep, proxy))

	// 1. create bucket
	createIn := &s3.CreateBucketInput{Bucket: aws.String(bucket)}
	if cfg.Region != "us-east-1" {
		createIn.CreateBucketConfiguration = &types.CreateBucketConfiguration{
			LocationConstraint: types.BucketLocationConstraint(cfg.Region),
		}
	}
	if _, err := client.CreateBucket(ctx, createIn); err != nil {
		return stepErr("create-bucket", err)
	}
	step("create-bucket", bucket)

	// 2. small object
	line := fmt.Sprintf("hello from the gatehouse %s e2e client, run %s\n", clientName, suffix)
	small := []byte(strings.Repeat(line, (3000+len(line)-1)/len(line)))
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:      aws.String(bucket),
		Key:         aws.String(smallKey),
		Body:        bytes.NewReader(small),
		ContentType: aws.String("text/plain"),
	}); err != nil {
		return stepErr("put-small", err)
	}
	step("put-small", fmt.Sprintf("%s %d bytes", smallKey, len(small)))

	// 3. 20 MiB random object, multipart.
	large := make([]byte, largeSize)
	if _, err := io.ReadFull(rand.Reader, large); err != nil {
		return stepErr("put-multipart", err)
	}
	//lint:ignore SA1019 the e2e test deliberately exercises the widely used manager.Uploader.
	uploader := manager.NewUploader(client, func(u *manager.Uploader) {
		u.PartSize = partSize
	})
	up, err := uploader.Upload(ctx, &s3.PutObjectInput{
		Bucket:      aws.String(bucket),
		Key:         aws.String(largeKey),
		Body:        bytes.NewReader(large),
		ContentType: aws.String("application/octet-stream"),
	})
	if err != nil {
		return stepErr("put-multipart", err)
	}
	if up.UploadID == "" {
		return fmt.Errorf("put-multipart: uploader did not use a multipart upload")
	}
	if len(up.CompletedParts) != expectedParts {
		return fmt.Errorf("put-multipart: uploader completed %d parts, want %d", len(up.CompletedParts), expectedParts)
	}
	step("put-multipart", fmt.Sprintf("%s %d bytes, part size %d, parts %d", largeKey, largeSize, partSize, len(up.CompletedParts)))

	// 4. list
	listed, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		return stepErr("list", err)
	}
	byKey := map[string]types.Object{}
	for _, o := range listed.Contents {
		byKey[aws.ToString(o.Key)] = o
	}
	want := []struct {
		key  string
		size int64
	}{{smallKey, int64(len(small))}, {largeKey, largeSize}}
	for _, w := range want {
		o, ok := byKey[w.key]
		if !ok {
			keys := make([]string, 0, len(byKey))
			for k := range byKey {
				keys = append(keys, k)
			}
			return fmt.Errorf("list: key %s missing from listing (got: %v)", w.key, keys)
		}
		if aws.ToInt64(o.Size) != w.size {
			return fmt.Errorf("list: key %s listed with size %d, want %d", w.key, aws.ToInt64(o.Size), w.size)
		}
	}
	if len(listed.Contents) != len(want) {
		return fmt.Errorf("list: listing has %d keys, want %d", len(listed.Contents), len(want))
	}
	largeETag := aws.ToString(byKey[largeKey].ETag)
	if !strings.HasSuffix(strings.Trim(largeETag, `"`), fmt.Sprintf("-%d", expectedParts)) {
		return fmt.Errorf("list: %s ETag %s is not a %d-part multipart ETag", largeKey, largeETag, expectedParts)
	}
	step("list", fmt.Sprintf("%d keys, sizes match, %s etag %s", len(listed.Contents), largeKey, largeETag))

	// 5. get both, byte-compare
	for _, o := range []struct {
		key  string
		sent []byte
	}{{smallKey, small}, {largeKey, large}} {
		name := "get " + o.key
		got, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(o.key)})
		if err != nil {
			return stepErr(name, err)
		}
		b, err := io.ReadAll(got.Body)
		got.Body.Close()
		if err != nil {
			return stepErr(name, err)
		}
		if len(b) != len(o.sent) {
			return fmt.Errorf("%s: got %d bytes, sent %d", name, len(b), len(o.sent))
		}
		if !bytes.Equal(b, o.sent) {
			return fmt.Errorf("%s: content differs from what was uploaded", name)
		}
		step("get", fmt.Sprintf("%s %d bytes identical", o.key, len(b)))
	}

	// 6. delete both objects
	for _, key := range []string{smallKey, largeKey} {
		if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
			return stepErr("delete-object "+key, err)
		}
		step("delete-object", key)
	}

	// 7. delete bucket
	if _, err := client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return stepErr("delete-bucket", err)
	}
	step("delete-bucket", bucket)
	return nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
