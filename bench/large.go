package main

// The large workload: one object of -size bytes (1 GiB) PUT and GET with
// aws-sdk-go-v2's S3 client against MinIO, direct from gh-gw and through
// Gatehouse from gh-agent, with Gatehouse's RSS sampled while each transfer
// runs.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/gatehouse/gatehouse/deploy/lab"
)

const (
	minioAddr = lab.AWSIP + ":443"
	// pprofAddr is where Gatehouse serves net/http/pprof in gh-gw during the
	// bench (GATEHOUSE_SERVE_ARGS, read by gw.sh).
	pprofAddr = "127.0.0.1:6060"
	// The targets for the large workload.
	targetRatio  = 0.8
	targetRSSMiB = 100
	largeKey     = "large.bin"
	largeSeed    = 0x6761746568 // "gateh"
)

// largeTarget is one way of reaching MinIO with the S3 client.
type largeTarget struct {
	name     string
	bucket   string
	client   *s3.Client
	rec      *recorder
	measured bool // Gatehouse is in the path: sample its RSS
}

// putMode is one way the SDK uploads the object.
type putMode struct {
	name      string
	checksum  aws.RequestChecksumCalculation
	multipart bool
	// refusable: MinIO refuses this mode for bodies over 16 MiB (the SDK
	// sends the whole body as one aws-chunked chunk; MinIO takes chunks of
	// at most 16 MiB). The refusal is reported, not fatal.
	refusable bool
}

// gatehouseLog is the lab's Gatehouse log, where refusals give reasons.
var gatehouseLog string

const partSize = 16 << 20 // the largest aws-chunked chunk MinIO accepts

var putModes = []putMode{
	{name: "PutObject, SDK defaults", checksum: aws.RequestChecksumCalculationWhenSupported, refusable: true},
	{name: "PutObject, AWS_REQUEST_CHECKSUM_CALCULATION=when_required", checksum: aws.RequestChecksumCalculationWhenRequired},
	{name: "multipart (manager.Uploader: 16 MiB parts, 5 in flight), SDK defaults", checksum: aws.RequestChecksumCalculationWhenSupported, multipart: true},
}

type largeResult struct {
	mode        *putMode
	target      string
	wire, proto string // how the PUT (or each UploadPart) went on the wire
	putErr      error  // a refused PUT (refusable modes only)
	gwReason    string // Gatehouse's logged reason when it answered the refusal itself
	puts, gets  []time.Duration
	// Gatehouse's RSS in bytes (0 when it is not in the path): before the
	// first PUT, and the largest sample during any PUT and any GET.
	rssBefore, rssPeakPut, rssPeakGet int64
	// CPU during the transfers, in cores (CPU time / wall time), summed
	// over repetitions: Gatehouse's own, and the whole machine's busy
	// share (every process and the kernel).
	gwCPUPut, gwCPUGet, busyPut, busyGet cpuUse
}

type cpuUse struct{ cpu, wall float64 }

func (c *cpuUse) add(cpu float64, wall time.Duration) { c.cpu += cpu; c.wall += wall.Seconds() }
func (c cpuUse) cores() float64 {
	if c.wall == 0 {
		return 0
	}
	return c.cpu / c.wall
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// pairedRatio is the median over repetitions of direct's time over the
// target's: each repetition's two transfers ran back to back, so drift on
// the machine between repetitions (MinIO's disk writeback, other work)
// cancels out.
func pairedRatio(direct, target []time.Duration) float64 {
	var rs []float64
	for i := range min(len(direct), len(target)) {
		rs = append(rs, direct[i].Seconds()/target[i].Seconds())
	}
	slices.Sort(rs)
	if len(rs)%2 == 1 {
		return rs[len(rs)/2]
	}
	return (rs[len(rs)/2-1] + rs[len(rs)/2]) / 2
}

func mbps(size int64, d time.Duration) float64 { return float64(size) / 1e6 / d.Seconds() }

// rate is the median MB/s of ds and, with more than one, its range.
func rate(size int64, ds []time.Duration) string {
	if len(ds) == 1 {
		return fmt.Sprintf("%.0f", mbps(size, ds[0]))
	}
	return fmt.Sprintf("%.0f (%.0f–%.0f)", mbps(size, median(ds)), mbps(size, slices.Max(ds)), mbps(size, slices.Min(ds)))
}

func runLarge(ctx context.Context, root string, size int64, reps int) (string, error) {
	publicCA, err := lab.CertPool(filepath.Join(lab.Out(root), "pki/public-ca.pem"))
	if err != nil {
		return "", err
	}
	gatehouseCA, err := lab.CertPool(filepath.Join(lab.Out(root), "gatehouse-ca.pem"))
	if err != nil {
		return "", err
	}
	pid, err := gatehousePID(root)
	if err != nil {
		return "", err
	}
	gatehouseLog = filepath.Join(lab.Out(root), "gatehouse.log")
	toMinIO := func(string) string { return minioAddr }

	// direct: from gh-gw (its own traffic is not captured), MinIO's root keys.
	direct := &largeTarget{name: "direct", bucket: "gh-bench-large-direct"}
	direct.client, direct.rec = s3Client(lab.DialFrom(lab.NSGW, toMinIO), publicCA,
		credentials.NewStaticCredentialsProvider("gatehouse-lab", "gatehouse-lab-secret-1", ""))

	// gatehouse: from gh-agent, captured by TPROXY, with session credentials
	// Gatehouse issued for the agent's web identity token.
	agentDial := lab.AgentDial(toMinIO)
	creds, err := sessionCreds(ctx, agentDial, gatehouseCA, filepath.Join(lab.Out(root), "tokens/agent"))
	if err != nil {
		return "", err
	}
	gw := &largeTarget{name: "gatehouse (transparent)", bucket: "gh-bench-large-gatehouse", measured: true}
	gw.client, gw.rec = s3Client(agentDial, gatehouseCA, credentials.StaticCredentialsProvider{Value: creds})
	targets := []*largeTarget{direct, gw}

	// The SHA-256 of what the generator sends, computed once outside the
	// timed transfers (the generator is deterministic).
	t0 := time.Now()
	h := sha256.New()
	if _, err := io.Copy(h, newGenerator(largeSeed, size)); err != nil {
		return "", err
	}
	want := hex.EncodeToString(h.Sum(nil))
	fmt.Fprintf(os.Stderr, "bench: large: generator SHA-256 %s (%d bytes, %.1fs)\n", want, size, time.Since(t0).Seconds())

	for _, tg := range targets {
		if _, err := tg.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(tg.bucket)}); err != nil {
			return "", fmt.Errorf("large, %s: CreateBucket: %w", tg.name, err)
		}
		defer tg.client.DeleteBucket(context.Background(), &s3.DeleteBucketInput{Bucket: aws.String(tg.bucket)})
	}
	// Modes in turn; within a mode, repetitions alternate direct and
	// Gatehouse so that drift on the machine falls on both.
	var results []*largeResult
	for i := range putModes {
		m := &putModes[i]
		rs := []*largeResult{{mode: m, target: direct.name}, {mode: m, target: gw.name}}
		for rep := 0; rep < reps; rep++ {
			for j, tg := range targets {
				if rs[j].putErr != nil {
					continue
				}
				if err := transfer(ctx, tg, rs[j], pid, size, want); err != nil {
					return "", fmt.Errorf("large, %s, %s: %w", m.name, tg.name, err)
				}
			}
			if rs[0].putErr != nil && rs[1].putErr != nil {
				break // refused both ways: once is enough
			}
		}
		results = append(results, rs...)
	}
	hwm, _ := vm(pid, "VmHWM")

	// The targets, for each upload mode that went through.
	type check struct {
		what string
		ok   bool
	}
	var checks []check
	var worstPut, worstGet *putMode // the measured modes with the lowest ratios
	minPut, minGet := 1e9, 1e9
	var peak int64
	for i := 0; i < len(results); i += 2 {
		d, g := results[i], results[i+1]
		peak = max(peak, g.rssPeakPut, g.rssPeakGet)
		if d.putErr != nil || g.putErr != nil {
			continue
		}
		putRatio, getRatio := pairedRatio(d.puts, g.puts), pairedRatio(d.gets, g.gets)
		checks = append(checks,
			check{fmt.Sprintf("%s: PUT through Gatehouse ≥ %.1f× direct: %.2f×", d.mode.name, targetRatio, putRatio), putRatio >= targetRatio},
			check{fmt.Sprintf("%s: GET through Gatehouse ≥ %.1f× direct: %.2f×", d.mode.name, targetRatio, getRatio), getRatio >= targetRatio})
		if putRatio < minPut {
			minPut, worstPut = putRatio, d.mode
		}
		if getRatio < minGet {
			minGet, worstGet = getRatio, d.mode
		}
	}
	checks = append(checks, check{fmt.Sprintf("Gatehouse peak memory ≤ %d MiB over every transfer above: anonymous (RssAnon: heap, stacks, Badger's memtables and cache) %s sampled; "+
		"VmRSS %s sampled, VmHWM (the kernel's lifetime peak) %s, which add the pages of the record store's files Badger maps (page cache, growing with the store, not with the object)",
		targetRSSMiB, mib(anonPeak.Load()), mib(peak), mib(hwm)), anonPeak.Load() > 0 && anonPeak.Load() <= targetRSSMiB<<20})

	var b strings.Builder
	b.WriteString(renderLarge(results, size, reps))
	b.WriteString("\nTargets (issue [6/6]):\n\n")
	allOK := true
	for _, c := range checks {
		verdict := "holds"
		if !c.ok {
			verdict, allOK = "DOES NOT HOLD", false
		}
		fmt.Fprintf(&b, "- %s — %s\n", c.what, verdict)
	}
	if allOK {
		return b.String(), nil
	}
	// A target missed: profile Gatehouse during the PUTs of the mode with
	// the lowest PUT ratio and, when a GET ratio is short too, during the
	// GETs of the mode with the lowest GET ratio (extra, unmeasured
	// transfers, repeated until the profile's 10 s are over).
	if worstPut == nil {
		return b.String(), nil
	}
	m := worstPut
	prof, err := profile(fmt.Sprintf("%s uploads (%s)", sizeName(size), m.name), func() error { return put(ctx, gw, m, size) })
	if err != nil {
		return "", fmt.Errorf("profile: %w", err)
	}
	b.WriteString("\n" + prof)
	if minGet < targetRatio {
		m := worstGet
		if err := put(ctx, gw, m, size); err != nil {
			return "", fmt.Errorf("profile: PUT: %w", err)
		}
		prof, err := profile(fmt.Sprintf("%s GetObjects (of the object a %s upload made)", sizeName(size), m.name), func() error {
			out, err := gw.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(gw.bucket), Key: aws.String(largeKey)})
			if err != nil {
				return err
			}
			defer out.Body.Close()
			_, err = io.Copy(io.Discard, out.Body)
			return err
		})
		if err != nil {
			return "", fmt.Errorf("profile: %w", err)
		}
		b.WriteString("\n" + prof)
	}
	gw.client.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(gw.bucket), Key: aws.String(largeKey)})
	return b.String(), nil
}

// put uploads size generated bytes to the target's bucket in mode m.
func put(ctx context.Context, tg *largeTarget, m *putMode, size int64) error {
	in := &s3.PutObjectInput{
		Bucket: aws.String(tg.bucket), Key: aws.String(largeKey),
		Body: newGenerator(largeSeed, size), ContentLength: aws.Int64(size),
	}
	checksum := func(o *s3.Options) { o.RequestChecksumCalculation = m.checksum }
	if !m.multipart {
		_, err := tg.client.PutObject(ctx, in, checksum)
		return err
	}
	up := manager.NewUploader(tg.client, func(u *manager.Uploader) {
		u.PartSize = partSize
		u.RequestChecksumCalculation = m.checksum
		u.ClientOptions = append(u.ClientOptions, checksum)
	})
	_, err := up.Upload(ctx, in)
	return err
}

// transfer PUTs size generated bytes in r's mode, GETs them back into a
// hasher, checks the hash and deletes the object, adding to r. A refused
// PUT in a refusable mode is noted in r, not returned.
func transfer(ctx context.Context, tg *largeTarget, r *largeResult, pid int, size int64, want string) error {
	c, m := tg.client, r.mode
	defer c.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(tg.bucket), Key: aws.String(largeKey)})
	if tg.measured && r.rssBefore == 0 {
		var err error
		if r.rssBefore, err = vm(pid, "VmRSS"); err != nil {
			return err
		}
	}
	// watch samples Gatehouse's RSS and CPU while a transfer runs.
	watch := func(peak *int64, gwCPU, busy *cpuUse) func() time.Duration {
		var stop func() (int64, int)
		if tg.measured {
			stop = sampleRSS(pid)
		}
		cpu := startCPU(pid)
		t0 := time.Now()
		return func() time.Duration {
			d := time.Since(t0)
			g, b := cpu()
			gwCPU.add(g, d)
			busy.add(b, d)
			if stop != nil {
				p, _ := stop()
				*peak = max(*peak, p)
			}
			return d
		}
	}

	// Start every PUT with MinIO's earlier writes on disk, not in the
	// page cache waiting for writeback.
	syscall.Sync()
	tg.rec.reset()
	done := watch(&r.rssPeakPut, &r.gwCPUPut, &r.busyPut)
	err := put(ctx, tg, m, size)
	d := done()
	r.wire, r.proto = tg.rec.mode()
	if err != nil {
		if !m.refusable {
			return fmt.Errorf("PUT: %w", err)
		}
		// MinIO answers as soon as it reads the chunk header and closes;
		// the SDK reports that answer or the reset of the connection it is
		// still writing to, whichever it sees first. A few more tries for
		// the answer.
		var api smithy.APIError
		for try := 0; try < 3 && !errors.As(err, &api); try++ {
			if e := put(ctx, tg, m, size); e != nil {
				err = e
			}
		}
		r.putErr = err
		r.puts = append(r.puts, d)
		var re *awshttp.ResponseError
		if tg.measured && errors.As(err, &re) && re.HTTPStatusCode() >= 500 {
			r.gwReason = gatehouseReason(re.ServiceRequestID())
		}
		fmt.Fprintf(os.Stderr, "bench: large, %s, %s: PUT (%s) refused after %.1fs: %v; Gatehouse RSS before %s, peak %s\n",
			m.name, tg.name, r.wire, d.Seconds(), err, mib(r.rssBefore), mib(r.rssPeakPut))
		return nil
	}
	r.puts = append(r.puts, d)

	done = watch(&r.rssPeakGet, &r.gwCPUGet, &r.busyGet)
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(tg.bucket), Key: aws.String(largeKey)})
	if err != nil {
		done()
		return fmt.Errorf("GetObject: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(h, out.Body)
	out.Body.Close()
	r.gets = append(r.gets, done())
	if err != nil {
		return fmt.Errorf("GetObject body after %d bytes: %w", n, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != size || got != want {
		return fmt.Errorf("GetObject returned %d bytes with SHA-256 %s; sent %d bytes with %s", n, got, size, want)
	}
	fmt.Fprintf(os.Stderr, "bench: large, %s, %s: PUT %.0f MB/s (%s, %s), GET %.0f MB/s, SHA-256 matches; Gatehouse RSS before %s, peak PUT %s, peak GET %s\n",
		m.name, tg.name, mbps(size, d), r.wire, r.proto, mbps(size, r.gets[len(r.gets)-1]),
		mib(r.rssBefore), mib(r.rssPeakPut), mib(r.rssPeakGet))
	return nil
}

func renderLarge(rs []*largeResult, size int64, reps int) string {
	var b strings.Builder
	stat := "median"
	if reps > 1 {
		stat = fmt.Sprintf("median of %d (range)", reps)
	}
	fmt.Fprintf(&b, "| %s upload (as sent) + GetObject | target | PUT MB/s, %s | GET MB/s, %s | PUT ratio to direct | GET ratio to direct | Gatehouse RSS before / peak PUT / peak GET | CPU cores, Gatehouse / machine: PUT · GET |\n", sizeName(size), stat, stat)
	fmt.Fprintf(&b, "|---|---|---:|---:|---:|---:|---:|---:|\n")
	var d *largeResult
	for _, r := range rs {
		if r.target == "direct" {
			d = r
		}
		wire := r.wire
		if r.proto != "" {
			wire += ", " + r.proto
		}
		mode := fmt.Sprintf("%s (%s)", r.mode.name, wire)
		rss := "— (not in the path)"
		if r.putErr != nil {
			if r.rssBefore > 0 {
				rss = fmt.Sprintf("%s / %s / —", mib(r.rssBefore), mib(r.rssPeakPut))
			}
			why := shortErr(r.putErr)
			if r.gwReason != "" {
				why += "; Gatehouse's log gives the reason: " + r.gwReason
			}
			fmt.Fprintf(&b, "| %s | %s | refused after %.1f s: %s | — | — | — | %s | — |\n",
				mode, r.target, r.puts[0].Seconds(), strings.ReplaceAll(why, "|", "\\|"), rss)
			continue
		}
		if r.rssBefore > 0 {
			rss = fmt.Sprintf("%s / %s / %s", mib(r.rssBefore), mib(r.rssPeakPut), mib(r.rssPeakGet))
		}
		ratio := func(dd, rr []time.Duration) string {
			if d.putErr != nil {
				return "—"
			}
			return fmt.Sprintf("%.2f", pairedRatio(dd, rr))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %.2f / %.2f · %.2f / %.2f |\n",
			mode, r.target, rate(size, r.puts), rate(size, r.gets), ratio(d.puts, r.puts), ratio(d.gets, r.gets), rss,
			r.gwCPUPut.cores(), r.busyPut.cores(), r.gwCPUGet.cores(), r.busyGet.cores())
	}
	return b.String()
}

// shortErr is an S3 error as "HTTP 400 Code: message", or the cause of a
// failed send.
func shortErr(err error) string {
	var re *awshttp.ResponseError
	var api smithy.APIError
	var op *net.OpError
	switch {
	case errors.As(err, &api) && errors.As(err, &re):
		return fmt.Sprintf("HTTP %d %s: %s", re.HTTPStatusCode(), api.ErrorCode(), api.ErrorMessage())
	case errors.As(err, &api):
		return fmt.Sprintf("%s: %s", api.ErrorCode(), api.ErrorMessage())
	case errors.As(err, &op):
		return fmt.Sprintf("no response, the request's %s failed: %v", op.Op, op.Err)
	}
	return err.Error()
}

func sizeName(n int64) string {
	switch {
	case n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d B", n)
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// s3Client is aws-sdk-go-v2's S3 client on the SDK's default HTTP client,
// dialling with dial and trusting roots; path-style addressing, no retries
// (a failed transfer is a failed run).
func s3Client(dial func(context.Context, string, string) (net.Conn, error), roots *x509.CertPool, creds aws.CredentialsProvider) (*s3.Client, *recorder) {
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.DialContext = dial
		if t.TLSClientConfig == nil {
			t.TLSClientConfig = &tls.Config{}
		}
		t.TLSClientConfig.RootCAs = roots
	})
	rec := &recorder{next: hc}
	return s3.New(s3.Options{
		Region: "us-east-1", Credentials: creds, HTTPClient: rec,
		UsePathStyle: true, RetryMaxAttempts: 1,
		// What config.LoadDefaultConfig gives (s3.New alone leaves them
		// unset, and then PutObject sends no checksum at all).
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported,
	}), rec
}

// recorder notes how the SDK sent its PUT (payload hash, content encoding,
// trailer) and the protocol the server answered with.
type recorder struct {
	next                          aws.HTTPClient
	mu                            sync.Mutex
	payload, encoding, trailer, p string
}

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	resp, err := r.next.Do(req)
	if x := req.URL.Query().Get("x-id"); req.Method == http.MethodPut && (x == "PutObject" || x == "UploadPart") {
		r.mu.Lock()
		r.payload = req.Header.Get("X-Amz-Content-Sha256")
		r.encoding = req.Header.Get("Content-Encoding")
		r.trailer = req.Header.Get("X-Amz-Trailer")
		if resp != nil {
			r.p = resp.Proto
		}
		r.mu.Unlock()
	}
	return resp, err
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.payload, r.encoding, r.trailer, r.p = "", "", "", ""
	r.mu.Unlock()
}

func (r *recorder) mode() (mode, proto string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	mode = r.payload
	if r.encoding != "" {
		mode = r.encoding + " " + mode
	}
	if r.trailer != "" {
		mode += ", trailer " + r.trailer
	}
	return mode, r.p
}

// sessionCreds exchanges the agent's web identity token for Gatehouse
// session credentials at Gatehouse's STS, through dial (from gh-agent), as
// e2e/identity_test.go's sessionCreds does.
func sessionCreds(ctx context.Context, dial func(context.Context, string, string) (net.Conn, error), roots *x509.CertPool, tokenFile string) (aws.Credentials, error) {
	token, err := os.ReadFile(tokenFile)
	if err != nil {
		return aws.Credentials{}, err
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: dial, TLSClientConfig: &tls.Config{RootCAs: roots}}}
	out, err := sts.New(sts.Options{Region: "us-east-1", HTTPClient: hc}).AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String("arn:aws:iam::000000000000:role/gatehouse-agent"), RoleSessionName: aws.String("bench"),
		WebIdentityToken: aws.String(strings.TrimSpace(string(token))),
	})
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("AssumeRoleWithWebIdentity through Gatehouse: %w", err)
	}
	c := out.Credentials
	return aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken}, nil
}

// generator yields n deterministic pseudo-random bytes, made as they are
// read. It has only Read: not seekable, so the SDK cannot read it twice to
// hash it before sending; it streams it.
type generator struct {
	rng  *rand.ChaCha8
	left int64
}

func newGenerator(seed uint64, n int64) io.Reader {
	var s [32]byte
	for i := range 4 {
		v := seed + uint64(i)
		for j := range 8 {
			s[i*8+j] = byte(v >> (8 * j))
		}
	}
	return &generator{rng: rand.NewChaCha8(s), left: n}
}

func (g *generator) Read(p []byte) (int, error) {
	if g.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.left {
		p = p[:g.left]
	}
	g.rng.Read(p)
	g.left -= int64(len(p))
	return len(p), nil
}

func gatehousePID(root string) (int, error) {
	b, err := os.ReadFile(filepath.Join(lab.Out(root), "gatehouse.pid"))
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("gatehouse.pid: %w", err)
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil || strings.TrimSpace(string(comm)) != "gatehouse" {
		return 0, fmt.Errorf("pid %d from gatehouse.pid is not Gatehouse (comm %q, %v)", pid, comm, err)
	}
	return pid, nil
}

// vm reads a Vm* field of /proc/<pid>/status, in bytes.
func vm(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			f := strings.Fields(v)
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no %s", pid, field)
}

// startCPU notes pid's CPU time (user+system) and the machine's busy time
// (/proc/stat: all but idle, iowait and steal); the returned func gives
// both since then, in CPU seconds.
func startCPU(pid int) func() (proc, machine float64) {
	p0, m0 := procCPU(pid), machineBusy()
	return func() (float64, float64) { return procCPU(pid) - p0, machineBusy() - m0 }
}

// clkTck is USER_HZ, 100 on every Linux this runs on.
const clkTck = 100

// procCPU is pid's user+system CPU time in seconds (/proc/<pid>/stat).
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command: state is field 3, utime 14, stime 15.
	_, rest, ok := strings.Cut(string(b), ") ")
	if !ok {
		return 0
	}
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / clkTck
}

// machineBusy is the machine's non-idle CPU time in seconds, all CPUs.
func machineBusy() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	var busy float64
	for i, v := range f[1:] {
		n, _ := strconv.ParseFloat(v, 64)
		if i == 3 || i == 4 || i >= 7 { // idle, iowait, steal; guest time is already in user
			continue
		}
		busy += n
	}
	return busy / clkTck
}

// machineTasks is the machine's user, nice and system time in seconds, all
// CPUs: what processes (and kernel threads) are charged with.
func machineTasks() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var t float64
	for _, v := range f[1:min(4, len(f))] {
		n, _ := strconv.ParseFloat(v, 64)
		t += n
	}
	return t / clkTck
}

// childrenCPU is the CPU time of this process's reaped children
// (cutime+cstime), in seconds.
func childrenCPU() float64 {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	_, rest, ok := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 15 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[13], 64)
	s, _ := strconv.ParseFloat(f[14], 64)
	return (u + s) / clkTck
}

// anonPeak is the largest RssAnon sampled: Gatehouse's anonymous memory
// (heap, stacks, Badger's memtables and block cache), without the pages of
// the record store's files Badger maps, which VmRSS counts and which grow
// with the store, not with an object.
var anonPeak atomic.Int64

// sampleRSS samples pid's VmRSS every 100 ms until the returned stop is
// called; stop takes a last sample and returns the largest and the count.
func sampleRSS(pid int) (stop func() (int64, int)) {
	var peak int64
	var n int
	take := func() {
		if v, err := vm(pid, "VmRSS"); err == nil {
			peak = max(peak, v)
			n++
		}
		if v, err := vm(pid, "RssAnon"); err == nil {
			for old := anonPeak.Load(); v > old && !anonPeak.CompareAndSwap(old, v); old = anonPeak.Load() {
			}
		}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		take()
		for {
			select {
			case <-quit:
				take()
				return
			case <-t.C:
				take()
			}
		}
	}()
	return func() (int64, int) { close(quit); <-done; return peak, n }
}

// profile fetches a 10 s CPU profile from Gatehouse's pprof (from inside
// gh-gw) while op runs back to back through Gatehouse, and renders the top
// 15 cumulative entries. what says what op is.
func profile(what string, op func() error) (string, error) {
	return profileWith(what, op, profileOpts{})
}

// profileOpts add to what profile renders.
type profileOpts struct {
	flatN    int            // a table of the flatN entries with the most flat time
	cumOf    *regexp.Regexp // a line of the cumulative time of each function matching
	cumLabel string         // what they are, for that line
	keep     string         // keep the profile in this file, for go tool pprof
}

func profileWith(what string, op func() error, opts profileOpts) (string, error) {
	type fetched struct {
		b   []byte
		err error
	}
	got := make(chan fetched, 1)
	go func() {
		hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{DialContext: lab.DialFrom(lab.NSGW, nil)}}
		resp, err := hc.Get("http://" + pprofAddr + "/debug/pprof/profile?seconds=10")
		if err != nil {
			got <- fetched{nil, fmt.Errorf("%w (Gatehouse started without --pprof %s?)", err, pprofAddr)}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != 200 {
			err = fmt.Errorf("pprof: %s: %s", resp.Status, b)
		}
		got <- fetched{b, err}
	}()
	time.Sleep(100 * time.Millisecond) // the profile is running
	var f fetched
	runs := 0
loop:
	for {
		if err := op(); err != nil {
			return "", err
		}
		runs++
		select {
		case f = <-got:
			break loop
		default:
		}
	}
	if f.err != nil {
		return "", f.err
	}
	tmp, err := os.CreateTemp("", "gatehouse-*.pprof")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	tmp.Write(f.b)
	tmp.Close()
	if opts.keep != "" {
		if err := os.WriteFile(opts.keep, f.b, 0o644); err == nil {
			fmt.Fprintf(os.Stderr, "bench: profile of %s kept in %s\n", what, opts.keep)
		}
	}
	goBin := os.Getenv("GO")
	if goBin == "" {
		goBin = "go"
	}
	pp := func(args ...string) (string, error) {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(goBin, append(append([]string{"tool", "pprof"}, args...), tmp.Name())...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("go tool pprof %v: %w: %s", args, err, stderr.String())
		}
		return stdout.String(), nil
	}
	cum, err := pp("-top", "-cum", "-nodecount=15")
	if err != nil {
		return "", err
	}
	flat, err := pp("-top", "-nodecount=8")
	if err != nil {
		return "", err
	}
	all, err := pp("-top", "-nodecount=100000", "-nodefraction=0", "-edgefraction=0")
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "CPU profile of Gatehouse (net/http/pprof, 10 s) while %d back-to-back %s ran through it (extra transfers, not the measured ones); `go tool pprof -top -cum`, top 15:\n\n```\n%s```\n\n",
		runs, what, keepTable(cum))
	if opts.flatN > 0 {
		top, err := pp("-top", fmt.Sprintf("-nodecount=%d", opts.flatN))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "`go tool pprof -top`, top %d by flat time:\n\n```\n%s```\n\n", opts.flatN, tableOnly(top))
	}
	if opts.cumOf != nil {
		allCum, err := pp("-top", "-cum", "-nodecount=100000", "-nodefraction=0", "-edgefraction=0")
		if err != nil {
			return "", err
		}
		var parts []string
		for _, r := range cumRows(allCum) {
			if opts.cumOf.MatchString(r.fn) {
				parts = append(parts, fmt.Sprintf("`%s` %.1f%%", r.fn, r.pct))
			}
		}
		fmt.Fprintf(&b, "Cumulative time (share of the samples) of %s: %s.\n\n", opts.cumLabel, strings.Join(parts, ", "))
	}
	fmt.Fprintf(&b, "What dominates (flat time by kind): %s. Largest flat entries: %s.\n", kinds(all), flatSummary(flat))
	return b.String(), nil
}

// topRows yields (flat%, function) for each row of `pprof -top`.
func topRows(out string) (rows []struct {
	pct float64
	fn  string
}) {
	return pprofRows(out, 1)
}

// cumRows yields (cum%, function) for each row of `pprof -top`.
func cumRows(out string) []struct {
	pct float64
	fn  string
} {
	return pprofRows(out, 4)
}

// pprofRows yields the percentage in column col and the function of each
// row of `pprof -top`.
func pprofRows(out string, col int) (rows []struct {
	pct float64
	fn  string
}) {
	table := false
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 5 && f[0] == "flat" {
			table = true
			continue
		}
		if table && len(f) >= 6 {
			pct, err := strconv.ParseFloat(strings.TrimSuffix(f[col], "%"), 64)
			if err != nil {
				continue
			}
			rows = append(rows, struct {
				pct float64
				fn  string
			}{pct, strings.Join(f[5:], " ")})
		}
	}
	return rows
}

// kinds sums a profile's flat time by kind of work.
func kinds(out string) string {
	names := []string{"system calls (socket reads and writes)", "AES-GCM (TLS records, both legs)", "memory copies and clears", "Go runtime (scheduler, GC, allocation)", "everything else (net/http, TLS framing, Gatehouse's own code)", "masking (policy/mask's detectors and stream)"}
	sums := make([]float64, len(names))
	for _, r := range topRows(out) {
		fn := r.fn
		switch {
		case strings.Contains(fn, "syscall"):
			sums[0] += r.pct
		case strings.HasPrefix(fn, "crypto/internal/fips140/aes") || strings.HasPrefix(fn, "crypto/aes") || strings.HasPrefix(fn, "crypto/cipher") || strings.Contains(fn, "xorNonceAEAD") || strings.Contains(fn, "prefixNonceAEAD"):
			sums[1] += r.pct
		case strings.HasPrefix(fn, "github.com/gatehouse/gatehouse/policy/mask."):
			sums[5] += r.pct
		case strings.HasPrefix(fn, "runtime.memmove") || strings.HasPrefix(fn, "runtime.memclr"):
			sums[2] += r.pct
		case strings.HasPrefix(fn, "runtime.") || strings.HasPrefix(fn, "internal/runtime/"):
			sums[3] += r.pct
		default:
			sums[4] += r.pct
		}
	}
	var parts []string
	for i, n := range names {
		if i == 5 && sums[i] == 0 {
			continue // no masking in the profile: not worth a word
		}
		parts = append(parts, fmt.Sprintf("%s %.0f%%", n, sums[i]))
	}
	return strings.Join(parts, ", ")
}

// gatehouseReason is the reason Gatehouse logged for its request id (its
// log lines carry id and reason), or "".
func gatehouseReason(id string) string { return gatehouseLogAttrs(id, "reason")["reason"] }

// gatehouseLogAttrs reads the attributes keys of the line Gatehouse logged
// for request id (its own or the upstream's: both are on the line), text
// or JSON; the line is written as the call completes, so it waits a
// second for it. Missing attributes are absent from the map.
func gatehouseLogAttrs(id string, keys ...string) map[string]string {
	got := map[string]string{}
	if id == "" || gatehouseLog == "" {
		return got
	}
	for range 10 {
		b, _ := os.ReadFile(gatehouseLog)
		for _, l := range strings.Split(string(b), "\n") {
			if !strings.Contains(l, id) {
				continue
			}
			var rec map[string]any
			dec := json.NewDecoder(strings.NewReader(l))
			dec.UseNumber() // masked=1000000, not 1e+06
			if dec.Decode(&rec) == nil {
				for _, k := range keys {
					if v, ok := rec[k]; ok {
						got[k] = fmt.Sprint(v)
					}
				}
				if len(got) > 0 {
					return got
				}
				continue
			}
			for _, k := range keys {
				re := regexp.MustCompile(`(?:^| )` + regexp.QuoteMeta(k) + `=("(?:[^"\\]|\\.)*"|\S+)`)
				if m := re.FindStringSubmatch(l); m != nil {
					if u, err := strconv.Unquote(m[1]); err == nil {
						got[k] = u
					} else {
						got[k] = m[1]
					}
				}
			}
			if len(got) > 0 {
				return got
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return got
}

// keepTable drops pprof's header lines that name the temporary file.
func keepTable(out string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(out, "\n") {
		if strings.HasPrefix(l, "File:") || strings.HasPrefix(l, "Build ID:") || strings.HasPrefix(l, "Type:") || strings.HasPrefix(l, "Time:") {
			continue
		}
		b.WriteString(l)
	}
	return b.String()
}

// tableOnly is pprof's -top table without the header lines keepTable
// keeps (the first table shows them).
func tableOnly(out string) string {
	var b strings.Builder
	table := false
	for _, l := range strings.SplitAfter(keepTable(out), "\n") {
		if f := strings.Fields(l); len(f) >= 5 && f[0] == "flat" {
			table = true
		}
		if table {
			b.WriteString(l)
		}
	}
	return b.String()
}

// flatSummary is "function flat%" for each row of `pprof -top`.
func flatSummary(out string) string {
	var parts []string
	for _, r := range topRows(out) {
		parts = append(parts, fmt.Sprintf("`%s` %.1f%%", r.fn, r.pct))
	}
	if len(parts) == 0 {
		return "(none parsed)"
	}
	return strings.Join(parts, ", ")
}
