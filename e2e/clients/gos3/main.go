// Command gos3 is the Gatehouse e2e S3 workload for the unmodified AWS SDK
// for Go v2.
//
// It runs: create bucket -> put a small object -> multipart-upload a 20 MiB
// object (5 MiB parts, feature/s3/manager Uploader) -> list -> get both and
// byte-compare -> awkward keys (for each of four keys with characters that
// SigV4 canonicalization must get right: put, head, get and byte-compare,
// prefix-list where the key must come back exactly, delete, prefix-list again
// to prove it is gone) -> presigned GET of the small object (s3.NewPresignClient,
// fetched with plain net/http trusting AWS_CA_BUNDLE, HTTPS_PROXY honoured) ->
// a 6 MiB PutObject from a non-seekable io.Reader with ContentLength set (the
// SDK's default aws-chunked upload with STREAMING-UNSIGNED-PAYLOAD-TRAILER and
// a CRC32 trailer; checked from the request headers the SDK sent), get and
// byte-compare -> delete the objects -> delete bucket, printing one line per
// step to stdout and exiting 1 with a message on stderr at the first failure.
//
// The SDK only uses trailing checksums over TLS: against a plain-HTTP
// LAB_S3_ENDPOINT it refuses a non-seekable body, so that step is reported as
// skipped there (it always runs over HTTPS, as through Gatehouse).
//
// Configuration comes only from the environment:
//
//	AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (or AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN),
//	AWS_REGION, AWS_CA_BUNDLE
//	    read by config.LoadDefaultConfig
//	HTTPS_PROXY / NO_PROXY (optional)
//	    honoured by the SDK's default transport (http.ProxyFromEnvironment)
//	LAB_BUCKET                         bucket name prefix (not needed with LAB_BUCKET_NAME)
//	LAB_BUCKET_NAME                    optional exact bucket name (overrides the prefix)
//	LAB_SKIP_BUCKET_CREATE=1           optional: use the existing bucket LAB_BUCKET_NAME
//	                                   (checked with HeadBucket), do not create it and do
//	                                   not delete it at the end; other keys in it are
//	                                   tolerated by the listing check
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
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

const (
	clientName    = "go"
	mib           = 1 << 20
	smallKey      = "hello.txt"
	largeKey      = "large.bin"
	largeSize     = 20 * mib
	partSize      = 5 * mib
	expectedParts = largeSize / partSize
	streamKey     = "stream.bin"
	streamSize    = 6 * mib
)

// awkwardKeys must survive SigV4 canonicalization (path and query encoding)
// through a re-signing proxy unchanged.
var awkwardKeys = []string{
	"dir/a b+c.txt",            // space and plus
	"enc%2Fslash.txt",          // a literal percent-2F in the key name, not a slash
	"unicodé/ключ-日本.txt",      // multi-byte UTF-8
	"tilde~and=equals&amp.txt", // unreserved ~, and = & that are special in queries
}

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
	// Credentials: static keys, or a web identity token and a role (the
	// SDK then calls STS AssumeRoleWithWebIdentity itself).
	required := []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"}
	if os.Getenv("AWS_WEB_IDENTITY_TOKEN_FILE") != "" {
		required = []string{"AWS_ROLE_ARN", "AWS_REGION"}
	}
	if os.Getenv("LAB_BUCKET_NAME") == "" {
		required = append(required, "LAB_BUCKET")
	}
	for _, v := range required {
		if os.Getenv(v) == "" {
			return fmt.Errorf("config: environment variable %s is required", v)
		}
	}
	var skipCreate bool
	switch v := os.Getenv("LAB_SKIP_BUCKET_CREATE"); v {
	case "", "0":
	case "1":
		skipCreate = true
		if os.Getenv("LAB_BUCKET_NAME") == "" {
			return fmt.Errorf("config: LAB_SKIP_BUCKET_CREATE=1 needs LAB_BUCKET_NAME, the existing bucket")
		}
	default:
		return fmt.Errorf("config: LAB_SKIP_BUCKET_CREATE must be 1 (or unset), got %q", v)
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

	// 1. create bucket (or check that the existing one is there)
	if skipCreate {
		if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
			return stepErr("head-bucket", err)
		}
		step("head-bucket", bucket+" exists, LAB_SKIP_BUCKET_CREATE=1: not created")
	} else {
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
	}

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
	// An existing bucket (LAB_SKIP_BUCKET_CREATE=1) may hold other keys.
	if len(listed.Contents) != len(want) && !skipCreate {
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

	// 6. awkward keys: each is put, read back, listed and deleted here.
	for _, key := range awkwardKeys {
		body := []byte(fmt.Sprintf("key %q from the gatehouse %s e2e client, run %s\n", key, clientName, suffix))
		if err := awkwardKey(ctx, client, bucket, key, body); err != nil {
			return err
		}
	}

	// 7. presigned GET of the small object, fetched without the SDK
	if err := presignedGet(ctx, client, bucket, smallKey, small); err != nil {
		return err
	}

	// 8. 6 MiB PutObject from a non-seekable reader: aws-chunked with a trailer
	created := []string{smallKey, largeKey}
	if strings.HasPrefix(strings.ToLower(endpoint), "http://") {
		step("put-stream", "skipped: LAB_S3_ENDPOINT is plain HTTP; the SDK sends a non-seekable body (aws-chunked, trailing checksum) only over TLS")
	} else {
		if err := putStream(ctx, client, bucket); err != nil {
			return err
		}
		created = append(created, streamKey)
	}

	// 9. delete the objects
	for _, key := range created {
		if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
			return stepErr("delete-object "+key, err)
		}
		step("delete-object", key)
	}

	// 10. delete bucket, unless it was there before us
	if skipCreate {
		step("keep-bucket", bucket+" left in place, LAB_SKIP_BUCKET_CREATE=1")
		return nil
	}
	if _, err := client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return stepErr("delete-bucket", err)
	}
	step("delete-bucket", bucket)
	return nil
}

// awkwardKey puts key, heads it, gets and byte-compares it, lists it by
// prefix (the listing must hold exactly key), deletes it and lists again
// (nothing left: DeleteObject of a mangled key would "succeed" silently).
func awkwardKey(ctx context.Context, client *s3.Client, bucket, key string, body []byte) error {
	q := strconv.Quote(key)
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:      aws.String(bucket),
		Key:         aws.String(key),
		Body:        bytes.NewReader(body),
		ContentType: aws.String("text/plain"),
	}); err != nil {
		return stepErr("put-key "+q, err)
	}
	step("put-key", fmt.Sprintf("%s %d bytes", q, len(body)))

	head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return stepErr("head-key "+q, err)
	}
	if n := aws.ToInt64(head.ContentLength); n != int64(len(body)) {
		return fmt.Errorf("head-key %s: content-length %d, want %d", q, n, len(body))
	}
	step("head-key", fmt.Sprintf("%s content-length %d", q, len(body)))

	got, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return stepErr("get-key "+q, err)
	}
	b, err := io.ReadAll(got.Body)
	got.Body.Close()
	if err != nil {
		return stepErr("get-key "+q, err)
	}
	if !bytes.Equal(b, body) {
		return fmt.Errorf("get-key %s: got %d bytes that differ from the %d sent", q, len(b), len(body))
	}
	step("get-key", fmt.Sprintf("%s %d bytes identical", q, len(b)))

	keys, err := listPrefix(ctx, client, bucket, key)
	if err != nil {
		return stepErr("list-key "+q, err)
	}
	if len(keys) != 1 || keys[0] != key {
		return fmt.Errorf("list-key %s: prefix listing returned %q, want exactly [%s]", q, keys, q)
	}
	step("list-key", q+" listed exactly")

	if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
		return stepErr("delete-key "+q, err)
	}
	keys, err = listPrefix(ctx, client, bucket, key)
	if err != nil {
		return stepErr("delete-key "+q, err)
	}
	if len(keys) != 0 {
		return fmt.Errorf("delete-key %s: still listed after delete: %q", q, keys)
	}
	step("delete-key", q+" deleted, no longer listed")
	return nil
}

func listPrefix(ctx context.Context, client *s3.Client, bucket, prefix string) ([]string, error) {
	out, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	if err != nil {
		return nil, err
	}
	keys := []string{}
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys, nil
}

// presignedGet presigns a GetObject and fetches it with a plain net/http
// client that trusts what the SDK trusts (AWS_CA_BUNDLE, else the system
// roots) and honours HTTPS_PROXY / NO_PROXY.
func presignedGet(ctx context.Context, client *s3.Client, bucket, key string, want []byte) error {
	const name = "presigned-get"
	const expires = 5 * time.Minute
	ps, err := s3.NewPresignClient(client).PresignGetObject(ctx,
		&s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)},
		s3.WithPresignExpires(expires))
	if err != nil {
		return stepErr(name, err)
	}
	u, err := url.Parse(ps.URL)
	if err != nil {
		return stepErr(name, err)
	}
	if u.Query().Get("X-Amz-Signature") == "" {
		return fmt.Errorf("%s: presigned URL carries no X-Amz-Signature", name)
	}
	hc, err := plainHTTPClient()
	if err != nil {
		return stepErr(name, err)
	}
	req, err := http.NewRequestWithContext(ctx, ps.Method, ps.URL, nil)
	if err != nil {
		return stepErr(name, err)
	}
	for h, vs := range ps.SignedHeader {
		if !strings.EqualFold(h, "Host") {
			req.Header[h] = vs
		}
	}
	via := ""
	if p, err := http.ProxyFromEnvironment(req); err == nil && p != nil {
		via = "through HTTPS_PROXY, "
	}
	resp, err := hc.Do(req)
	if err != nil {
		return stepErr(name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return stepErr(name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: http %d: %.300s", name, resp.StatusCode, b)
	}
	if !bytes.Equal(b, want) {
		return fmt.Errorf("%s: got %d bytes that differ from the %d uploaded", name, len(b), len(want))
	}
	// The query holds the credential and signature: print scheme, host, path.
	step(name, fmt.Sprintf("%s via %s://%s%s, expires %s, %shttp %d, %d bytes identical",
		key, u.Scheme, u.Host, u.EscapedPath(), expires, via, resp.StatusCode, len(b)))
	return nil
}

func plainHTTPClient() (*http.Client, error) {
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if path := os.Getenv("AWS_CA_BUNDLE"); path != "" {
		pem, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("AWS_CA_BUNDLE: %w", err)
		}
		// Like the SDK: the bundle replaces the system roots.
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("AWS_CA_BUNDLE %s: no PEM certificates", path)
		}
		tlsConf.RootCAs = pool
	}
	return &http.Client{
		Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, TLSClientConfig: tlsConf},
		Timeout:   2 * time.Minute,
	}, nil
}

// onlyReader hides every method of the embedded reader but Read, so the SDK
// cannot seek (rewind or pre-hash) the body.
type onlyReader struct{ io.Reader }

// putStream puts streamSize random bytes from a non-seekable reader with
// ContentLength set. Over TLS the SDK's default for such a body is an
// aws-chunked upload with STREAMING-UNSIGNED-PAYLOAD-TRAILER and a CRC32
// trailer; the headers it sent are checked, then the object is read back.
func putStream(ctx context.Context, client *s3.Client, bucket string) error {
	const name = "put-stream"
	data := make([]byte, streamSize)
	if _, err := io.ReadFull(rand.Reader, data); err != nil {
		return stepErr(name, err)
	}
	var sent http.Header
	captureSent := func(stack *middleware.Stack) error {
		// Deserialize runs after signing and checksum/aws-chunked encoding:
		// these are the headers on the wire.
		return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("GatehouseE2ECaptureSentHeaders",
			func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (
				middleware.DeserializeOutput, middleware.Metadata, error,
			) {
				if req, ok := in.Request.(*smithyhttp.Request); ok {
					sent = req.Header.Clone()
				}
				return next.HandleDeserialize(ctx, in)
			}), middleware.After)
	}
	var body io.Reader = onlyReader{bytes.NewReader(data)}
	if _, ok := body.(io.Seeker); ok {
		return fmt.Errorf("%s: test body is seekable", name)
	}
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(bucket),
		Key:           aws.String(streamKey),
		Body:          body,
		ContentLength: aws.Int64(streamSize),
		ContentType:   aws.String("application/octet-stream"),
	}, s3.WithAPIOptions(captureSent)); err != nil {
		return stepErr(name, err)
	}
	if sent == nil {
		return errors.New(name + ": request headers were not captured")
	}
	sha := sent.Get("X-Amz-Content-Sha256")
	enc := sent.Get("Content-Encoding")
	trailer := sent.Get("X-Amz-Trailer")
	if sha != "STREAMING-UNSIGNED-PAYLOAD-TRAILER" || !strings.Contains(enc, "aws-chunked") || trailer == "" {
		return fmt.Errorf("%s: the SDK did not send an aws-chunked trailer upload: x-amz-content-sha256=%q content-encoding=%q x-amz-trailer=%q",
			name, sha, enc, trailer)
	}
	step(name, fmt.Sprintf("%s %d bytes from a non-seekable reader, x-amz-content-sha256 %s, content-encoding %s, x-amz-trailer %s, x-amz-decoded-content-length %s",
		streamKey, streamSize, sha, enc, trailer, sent.Get("X-Amz-Decoded-Content-Length")))

	got, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(streamKey)})
	if err != nil {
		return stepErr("get "+streamKey, err)
	}
	b, err := io.ReadAll(got.Body)
	got.Body.Close()
	if err != nil {
		return stepErr("get "+streamKey, err)
	}
	if !bytes.Equal(b, data) {
		return fmt.Errorf("get %s: got %d bytes that differ from the %d sent", streamKey, len(b), len(data))
	}
	step("get", fmt.Sprintf("%s %d bytes identical", streamKey, len(b)))
	return nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
