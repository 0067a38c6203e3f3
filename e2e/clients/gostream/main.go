// Command gostream is a stream of S3 calls through the unmodified AWS SDK
// for Go v2, for the recorder's crash test: it keeps one slow upload in
// flight and puts small objects from several workers until it is stopped or
// the gateway goes away.
//
// For every PutObject whose response reached it, it prints
//
//	ok KEY UPSTREAM-REQUEST-ID
//
// and, when the slow upload has started sending its body, "slow started".
// It exits 0 after -n objects, or 1 at the first failed call (as when the
// gateway is killed).
//
// Configuration as gos3: AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN,
// AWS_REGION, AWS_CA_BUNDLE from the environment; flags for the rest.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
)

func main() {
	bucket := flag.String("bucket", "", "existing bucket")
	prefix := flag.String("prefix", "stream/", "key prefix")
	n := flag.Int("n", 100000, "objects to put")
	workers := flag.Int("workers", 4, "concurrent writers")
	slow := flag.Duration("slow", time.Minute, "how long the slow upload takes to send its body (0: none)")
	flag.Parse()
	if *bucket == "" {
		fmt.Fprintln(os.Stderr, "gostream: -bucket is required")
		os.Exit(2)
	}
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRetryMaxAttempts(1))
	if err != nil {
		fmt.Fprintln(os.Stderr, "gostream: config:", err)
		os.Exit(1)
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })

	var out sync.Mutex
	say := func(format string, a ...any) {
		out.Lock()
		fmt.Printf(format+"\n", a...)
		out.Unlock()
	}
	fail := func(err error) {
		out.Lock()
		fmt.Fprintln(os.Stderr, "gostream:", err)
		os.Exit(1)
	}
	if *slow > 0 {
		go func() {
			const size = 64
			body := &slowBody{left: size, every: *slow / size, started: func() { say("slow started") }}
			_, err := client.PutObject(ctx, &s3.PutObjectInput{
				Bucket: bucket, Key: aws.String(*prefix + "slow"), Body: body, ContentLength: aws.Int64(size),
			})
			if err != nil {
				fail(fmt.Errorf("slow upload: %w", err))
			}
			say("slow done")
		}()
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(*n) {
					return
				}
				key := fmt.Sprintf("%s%06d", *prefix, i)
				res, err := client.PutObject(ctx, &s3.PutObjectInput{
					Bucket: bucket, Key: aws.String(key), Body: bytes.NewReader([]byte(key)),
				})
				if err != nil {
					fail(fmt.Errorf("put %s: %w", key, err))
				}
				say("ok %s %s", key, requestID(res.ResultMetadata))
			}
		}()
	}
	wg.Wait()
}

// requestID is the x-amz-request-id of the response.
func requestID(md middleware.Metadata) string {
	id, _ := awsmiddleware.GetRequestIDMetadata(md)
	return id
}

// slowBody sends one byte every interval; it is not seekable, so the SDK
// streams it.
type slowBody struct {
	left    int
	every   time.Duration
	started func()
	once    sync.Once
}

func (b *slowBody) Read(p []byte) (int, error) {
	if b.left == 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, errors.New("empty read")
	}
	b.once.Do(b.started)
	time.Sleep(b.every)
	p[0] = 'x'
	b.left--
	return 1, nil
}
