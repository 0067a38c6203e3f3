package main

// The large workload: one object of -size bytes (1 GiB) PUT and GET with
// aws-sdk-go-v2's S3 client against MinIO through every target of
// targets.go, with the memory and CPU of the target's processes sampled
// while each transfer runs.

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
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
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
	// largePeerReps is how many transfers of each upload mode go through
	// each peer (squid, mitmproxy, goproxy-bare), whatever -reps says:
	// direct and Gatehouse get -reps, and the peers one, to keep `make
	// bench` within about 25 minutes.
	largePeerReps = 1
	// largeFloor is the slowest rate a transfer may go at: one slower
	// times out (after largeTimeout), and its target gets no more
	// transfers in the workload, which would otherwise take hours.
	largeFloor = 5e6 // bytes per second
)

// largeTimeout bounds one PUT or GET of size bytes.
func largeTimeout(size int64) time.Duration {
	return time.Minute + time.Duration(float64(size)/largeFloor*float64(time.Second))
}

// largeTarget is a target reached with the S3 client, with a bucket of
// its own, made and removed with MinIO's keys, direct.
type largeTarget struct {
	t      *target
	bucket string
	client *s3.Client
	rec    *recorder
	reps   int    // transfers per upload mode
	host   string // the name the S3 client asked for (through a proxy, the CONNECT's)
	procs  []string
	// stuck: a transfer through the target timed out; it gets no more.
	stuck error
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

// largeResult is one upload mode through one target.
type largeResult struct {
	mode        *putMode
	lt          *largeTarget
	wire, proto string // how the PUT (or each UploadPart) went on the wire
	putErr      error  // a refused PUT (refusable modes only)
	gwReason    string // Gatehouse's logged reason when it answered the refusal itself
	// err: a transfer failed (not a refusal) or could not be made; the
	// figures are those of the transfers before it.
	err        error
	puts, gets []time.Duration
	// The memory of the target's processes (summed; 0 for direct): before
	// the first PUT, and the largest samples during any PUT and any GET
	// (RssAnon and VmRSS each its own largest).
	before, peakPut, peakGet gwSample
	// CPU during the transfers, in cores (CPU time / wall time), summed
	// over repetitions: the target's processes', and the whole machine's
	// busy share (every process and the kernel).
	cpuPut, cpuGet, busyPut, busyGet cpuUse
	others                           float64       // the most cores other processes took during one of its transfers
	waited                           time.Duration // for other processes to go quiet before its PUTs
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
// target's: each repetition's transfers ran one after the other, so drift
// on the machine between repetitions (MinIO's disk writeback, other work)
// cancels out. A target with fewer repetitions (a peer) is compared with
// direct's first ones.
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
	t0 := time.Now()
	gatehouseCA, err := lab.CertPool(filepath.Join(lab.Out(root), "gatehouse-ca.pem"))
	if err != nil {
		return "", err
	}
	gatehouseLog = filepath.Join(lab.Out(root), "gatehouse.log")
	// Session credentials Gatehouse issued for the agent's web identity
	// token, for gatehouse-full; the others pass the signature on, and
	// MinIO checks it against its own keys.
	creds, err := sessionCreds(ctx, lab.AgentDial(lab.AWSAddr), gatehouseCA, filepath.Join(lab.Out(root), "tokens/agent"))
	if err != nil {
		return "", err
	}
	minioKeys := credentials.NewStaticCredentialsProvider("gatehouse-lab", "gatehouse-lab-secret-1", "")
	ts, p, err := setUpTargets(root)
	defer p.close()
	if err != nil {
		return "", err
	}
	var lts []*largeTarget
	for _, t := range ts {
		lt := &largeTarget{t: t, bucket: "gh-bench-large-" + slug(t.name), reps: reps}
		if t.peer() {
			lt.reps = min(reps, largePeerReps)
		}
		lt.client, lt.rec = t.s3(minioKeys, credentials.StaticCredentialsProvider{Value: creds})
		lts = append(lts, lt)
	}
	direct := lts[0]
	if direct.t.reach != reachDirect {
		return "", fmt.Errorf("large: the first target is %s, not direct", direct.t.name)
	}

	// The SHA-256 of what the generator sends, computed once outside the
	// timed transfers (the generator is deterministic).
	tg := time.Now()
	h := sha256.New()
	if _, err := io.Copy(h, newGenerator(largeSeed, size)); err != nil {
		return "", err
	}
	want := hex.EncodeToString(h.Sum(nil))
	fmt.Fprintf(os.Stderr, "bench: large: generator SHA-256 %s (%d bytes, %.1fs)\n", want, size, time.Since(tg).Seconds())

	for _, lt := range lts {
		if _, err := direct.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(lt.bucket)}); err != nil {
			return "", fmt.Errorf("large: CreateBucket %s: %w", lt.bucket, err)
		}
		defer direct.client.DeleteBucket(context.Background(), &s3.DeleteBucketInput{Bucket: aws.String(lt.bucket)})
	}
	for _, lt := range lts {
		if lt.t.err == nil {
			lt.t.err = probeS3(ctx, lt, direct)
		}
		status := "ok"
		if lt.t.err != nil {
			status = lt.t.err.Error()
		}
		fmt.Fprintf(os.Stderr, "bench: large: target %s (%s, asked for %s, pid %d): %s\n", lt.t.name, lt.t.s3How(), lt.host, lt.t.pid, status)
	}

	// Modes in turn; within a mode, each repetition goes through every
	// target in turn, so that drift on the machine falls on all.
	var results []*largeResult
	for i := range putModes {
		m := &putModes[i]
		var rs []*largeResult
		for _, lt := range lts {
			rs = append(rs, &largeResult{mode: m, lt: lt, err: lt.t.err})
		}
		for rep := 0; rep < reps; rep++ {
			for _, r := range rs {
				lt := r.lt
				if rep >= lt.reps || r.err != nil || r.putErr != nil {
					continue
				}
				if lt.stuck != nil {
					r.err = fmt.Errorf("not made: an earlier transfer through it timed out (%v)", lt.stuck)
					continue
				}
				if err := transfer(ctx, lt, r, size, want, direct.client); err != nil {
					r.err = err
					fmt.Fprintf(os.Stderr, "bench: large, %s, %s: %v\n", m.name, lt.t.name, err)
				}
			}
			if !slices.ContainsFunc(rs, func(r *largeResult) bool { return r.err == nil && r.putErr == nil }) {
				break // refused (or failed) every way: once is enough
			}
		}
		results = append(results, rs...)
	}
	took := time.Since(t0)

	// The targets, for each Gatehouse target and each upload mode
	// that went through direct.
	type check struct {
		what string
		ok   bool
	}
	var checks []check
	var fullT *largeTarget // the lab's Gatehouse, transparent: profiled when one of its targets is missed
	var worstPut, worstGet *putMode
	minPut, minGet := 1e9, 1e9
	fullMissed := false
	labAnonMissed := false // the lab's Gatehouse's RssAnon over the target
	for _, lt := range lts {
		if !lt.t.gatehouse() {
			continue
		}
		profiled := lt.t.lab && lt.t.reach == reachTransparent
		if profiled {
			fullT = lt
		}
		var peak gwSample
		for i := 0; i < len(results); i += len(lts) {
			d := results[i]
			r := results[i+slices.Index(lts, lt)]
			peak.anon = max(peak.anon, r.peakPut.anon, r.peakGet.anon)
			peak.rss = max(peak.rss, r.peakPut.rss, r.peakGet.rss)
			if d.putErr != nil || d.err != nil {
				continue // nothing direct to compare with
			}
			if r.putErr != nil || r.err != nil || len(r.gets) == 0 {
				why := "refused"
				if r.err != nil {
					why = "failed: " + oneLine(r.err.Error())
				}
				checks = append(checks, check{fmt.Sprintf("%s, %s: PUT and GET ≥ %.1f× direct: not measured (%s)", lt.t.name, d.mode.name, targetRatio, why), false})
				fullMissed = fullMissed || profiled
				continue
			}
			putRatio, getRatio := pairedRatio(d.puts, r.puts), pairedRatio(d.gets, r.gets)
			checks = append(checks,
				check{fmt.Sprintf("%s, %s: PUT ≥ %.1f× direct: %.3f×", lt.t.name, d.mode.name, targetRatio, putRatio), putRatio >= targetRatio},
				check{fmt.Sprintf("%s, %s: GET ≥ %.1f× direct: %.3f×", lt.t.name, d.mode.name, targetRatio, getRatio), getRatio >= targetRatio})
			if profiled {
				fullMissed = fullMissed || putRatio < targetRatio || getRatio < targetRatio
				if putRatio < minPut {
					minPut, worstPut = putRatio, d.mode
				}
				if getRatio < minGet {
					minGet, worstGet = getRatio, d.mode
				}
			}
		}
		hwm, _ := vm(lt.t.pid, "VmHWM")
		anonOK := peak.anon > 0 && peak.anon <= targetRSSMiB<<20
		rssOK := peak.rss > 0 && peak.rss <= targetRSSMiB<<20
		fullMissed = fullMissed || (profiled && !anonOK)
		labAnonMissed = labAnonMissed || (lt.t.lab && !anonOK)
		checks = append(checks,
			check{fmt.Sprintf("%s: peak RssAnon (heap, stacks, Badger's memtables and cache) ≤ %d MiB over its transfers: %s", lt.t.name, targetRSSMiB, mib(peak.anon)), anonOK},
			check{fmt.Sprintf("%s: peak VmRSS ≤ %d MiB over its transfers: %s (VmHWM, the process's lifetime peak, %s; VmRSS adds the pages of mapped files, the record store's among them, which grow with the store, not with the object)", lt.t.name, targetRSSMiB, mib(peak.rss), mib(hwm)), rssOK})
	}

	// The peers are done; the lab's policy goes back.
	p.close()

	var b strings.Builder
	b.WriteString(renderLarge(lts, results, size, reps, took))
	b.WriteString("\n### The issue's targets for Gatehouse\n\n")
	for _, c := range checks {
		fmt.Fprintf(&b, "- %s — %s\n", c.what, holdsOrNot(c.ok))
	}
	if fullMissed && fullT != nil && worstPut != nil && fullT.t.err == nil && fullT.stuck == nil {
		prof, err := profileLarge(ctx, p, fullT, direct, worstPut, worstGet, minGet < targetRatio, size)
		if err != nil {
			return "", fmt.Errorf("profile: %w", err)
		}
		b.WriteString(prof)
	}
	if labAnonMissed {
		// What the anonymous memory is: the Go heap's live part and what
		// the collector has not yet taken back (pprof's MemStats, read
		// before heap?gc=1 collects).
		ms := gwMemStats("HeapAlloc", "HeapInuse", "HeapIdle", "HeapReleased", "NextGC", "NumGC")
		heap, err := heapTop("gatehouse-bench-large-heap.pprof", 12)
		if err != nil {
			return "", fmt.Errorf("heap profile: %w", err)
		}
		live := "(not parsed)"
		if m := pprofTotal.FindStringSubmatch(heap); m != nil {
			live = m[1]
		}
		fmt.Fprintf(&b, "\nThe lab's Gatehouse after the transfers above (memory_limit %s): HeapAlloc %s (live and not yet collected), HeapInuse %s, HeapIdle %s of which released to the OS %s, next GC at %s, %0.f GC cycles so far; after a GC, %s of heap in use (the profile's total). Its in-use heap after that GC (net/http/pprof heap?gc=1, `go tool pprof -top -sample_index=inuse_space`), top 12:\n\n```\n%s```\n",
			labMemLimit(root), mib(int64(ms["HeapAlloc"])), mib(int64(ms["HeapInuse"])), mib(int64(ms["HeapIdle"])), mib(int64(ms["HeapReleased"])), mib(int64(ms["NextGC"])), ms["NumGC"], live, heap)
	}
	return b.String(), nil
}

// profileLarge profiles the lab's Gatehouse (gw: gatehouse-full,
// transparent) during uploads in worstPut's mode and, when getMissed,
// during GETs of an object a worstGet upload made, with the generated
// policy back in place (p.close takes it away again).
func profileLarge(ctx context.Context, p *peers, gw, direct *largeTarget, worstPut, worstGet *putMode, getMissed bool, size int64) (string, error) {
	// A target of the lab's Gatehouse missed: profile it during the PUTs
	// of the mode with the lowest PUT ratio and, when a GET ratio is short
	// too, during the GETs of the mode with the lowest GET ratio (extra,
	// unmeasured transfers through gatehouse-full, transparent, repeated
	// until the profile's 10 s are over), with the generated policy back.
	if err := p.installFullPolicy(); err != nil {
		return "", err
	}
	var b strings.Builder
	defer direct.client.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(gw.bucket), Key: aws.String(largeKey)})
	// The heap profile's alloc_space counts since Gatehouse started: one
	// before and one after the profiled transfers give what they
	// allocated.
	heap0, err := gwPprof("/debug/pprof/heap")
	if err != nil {
		return "", err
	}
	m := worstPut
	prof, err := profile(fmt.Sprintf("%s uploads (%s) through %s", sizeName(size), m.name, gw.t.name), func() error { return put(ctx, gw, m, size) })
	if err != nil {
		return "", err
	}
	b.WriteString("\n" + prof)
	if getMissed {
		m := worstGet
		if err := put(ctx, gw, m, size); err != nil {
			return "", fmt.Errorf("PUT: %w", err)
		}
		prof, err := profile(fmt.Sprintf("%s GetObjects (of the object a %s upload made) through %s", sizeName(size), m.name, gw.t.name), func() error {
			out, err := gw.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(gw.bucket), Key: aws.String(largeKey)})
			if err != nil {
				return err
			}
			defer out.Body.Close()
			_, err = io.Copy(io.Discard, out.Body)
			return err
		})
		if err != nil {
			return "", err
		}
		b.WriteString("\n" + prof)
	}
	allocs, err := allocsSince(heap0, 12)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&b, "\nWhat Gatehouse allocated during the profiled transfers above (two heap profiles, `go tool pprof -top -sample_index=alloc_space -diff_base`), top 12:\n\n```\n%s```\n", allocs)
	return b.String(), nil
}

// allocsSince is `go tool pprof -top` of what Gatehouse allocated since
// the heap profile before was taken, its top n entries by bytes.
func allocsSince(before []byte, n int) (string, error) {
	after, err := gwPprof("/debug/pprof/heap")
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "gatehouse-bench-allocs-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	a, z := filepath.Join(dir, "before.pprof"), filepath.Join(dir, "after.pprof")
	if err := errors.Join(os.WriteFile(a, before, 0o644), os.WriteFile(z, after, 0o644)); err != nil {
		return "", err
	}
	goBin := os.Getenv("GO")
	if goBin == "" {
		goBin = "go"
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(goBin, "tool", "pprof", "-top", "-sample_index=alloc_space", fmt.Sprintf("-nodecount=%d", n), "-diff_base="+a, z)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go tool pprof -diff_base: %w: %s", err, stderr.String())
	}
	return keepTable(stdout.String()), nil
}

// pprofTotal finds a profile's total in `pprof -top`'s header ("... of
// 52.10MB total").
var pprofTotal = regexp.MustCompile(`of ([0-9.]+[kMG]?B) total`)

// labMemLimit is the lab's Gatehouse's memory_limit, in words.
func labMemLimit(root string) string {
	l, _ := memoryLimit(filepath.Join(lab.Out(root), "gatehouse.yaml"))
	return l
}

func holdsOrNot(ok bool) string {
	if ok {
		return "holds"
	}
	return "DOES NOT HOLD"
}

// slug is a target's name as a bucket name's tail: "gatehouse-full,
// transparent" is "gatehouse-full-transparent".
func slug(name string) string {
	return strings.Join(strings.FieldsFunc(strings.ToLower(name), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	}), "-")
}

// probeS3 puts a small object through the target and reads it back
// through it and direct from MinIO: the target reached MinIO by the name
// the client asked for (lt.host), and passes bodies through unchanged.
func probeS3(ctx context.Context, lt, direct *largeTarget) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	const key = "probe.bin"
	body, _ := io.ReadAll(newGenerator(largeSeed+1, 64<<10))
	lt.rec.reset()
	_, err := lt.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(lt.bucket), Key: aws.String(key), Body: bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))), ContentType: aws.String("application/octet-stream"),
	})
	lt.host = lt.rec.lastHost()
	if err != nil {
		return fmt.Errorf("probe: PutObject (64 KiB): %s", shortErr(err))
	}
	defer direct.client.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(lt.bucket), Key: aws.String(key)})
	for _, c := range []*largeTarget{lt, direct} {
		out, err := c.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(lt.bucket), Key: aws.String(key)})
		if err != nil {
			return fmt.Errorf("probe: GetObject through %s: %s", c.t.name, shortErr(err))
		}
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil || !bytes.Equal(got, body) {
			return fmt.Errorf("probe: GetObject through %s: %d bytes, not the %d put (%v)", c.t.name, len(got), len(body), err)
		}
	}
	return nil
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

// transfer PUTs size generated bytes through lt in r's mode, GETs them
// back into a hasher, checks the hash and deletes the object (with
// cleanup, MinIO's keys, direct), adding to r. A refused PUT in a
// refusable mode is noted in r, not returned; a transfer that times out
// marks lt stuck.
func transfer(ctx context.Context, lt *largeTarget, r *largeResult, size int64, want string, cleanup *s3.Client) (err error) {
	c, m, pid := lt.client, r.mode, lt.t.pid
	defer cleanup.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(lt.bucket), Key: aws.String(largeKey)})
	if pid != 0 && r.before.rss == 0 {
		r.before, _ = treeMem(pid)
	}
	// watch samples the target's memory and CPU while a transfer runs.
	watch := func(peak *gwSample, cpu, busy *cpuUse) func() time.Duration {
		var stop func() (gwSample, []string)
		if pid != 0 {
			stop = sampleMem(pid)
		}
		c0, m0, o0 := procTreeCPU(pid), machineBusy(), othersCPU()
		t0 := time.Now()
		return func() time.Duration {
			d := time.Since(t0)
			cpu.add(procTreeCPU(pid)-c0, d)
			busy.add(machineBusy()-m0, d)
			// othersCPU loses processes that exit meanwhile: never below 0.
			r.others = max(r.others, max(0, othersCPU()-o0)/d.Seconds())
			if stop != nil {
				p, procs := stop()
				peak.anon, peak.rss = max(peak.anon, p.anon), max(peak.rss, p.rss)
				if len(procs) > len(lt.procs) {
					lt.procs = procs
				}
			}
			return d
		}
	}
	timeout := largeTimeout(size)
	timedOut := func(what string, d time.Duration, err error) error {
		lt.stuck = fmt.Errorf("%s timed out after %.0f s (%s at %.0f MB/s or less)", what, d.Seconds(), sizeName(size), largeFloor/1e6)
		return fmt.Errorf("%w: %v", lt.stuck, err)
	}

	waited, _ := waitQuiet()
	r.waited += waited
	logOff := lt.t.logSize()
	// A failure quotes what the target logged meanwhile.
	defer func() {
		if r.err == nil && err != nil && lt.t.log != "" {
			if l := lt.t.logSince(logOff, 3); l != "" {
				err = fmt.Errorf("%w; %s logged: %s", err, filepath.Base(lt.t.log), l)
			}
		}
	}()
	// Start every PUT with MinIO's earlier writes on disk, not in the
	// page cache waiting for writeback.
	syscall.Sync()
	lt.rec.reset()
	pctx, cancel := context.WithTimeout(ctx, timeout)
	done := watch(&r.peakPut, &r.cpuPut, &r.busyPut)
	err = put(pctx, lt, m, size)
	d := done()
	cancel()
	r.wire, r.proto = lt.rec.mode()
	var putFailed error
	switch {
	case err == nil:
	case errors.Is(pctx.Err(), context.DeadlineExceeded):
		return timedOut("PUT", d, err)
	case !m.refusable:
		// The GET is measured all the same, of the object put direct.
		putFailed = fmt.Errorf("PUT failed after %.1f s: %s", d.Seconds(), shortErr(err))
		direct := &largeTarget{client: cleanup, bucket: lt.bucket}
		if err := put(ctx, direct, &putModes[1], size); err != nil {
			return fmt.Errorf("%w; and putting the object direct for the GET: %s", putFailed, shortErr(err))
		}
	default:
		// MinIO answers as soon as it reads the chunk header and closes;
		// the SDK reports that answer or the reset of the connection it is
		// still writing to, whichever it sees first. A few more tries for
		// the answer.
		var api smithy.APIError
		for try := 0; try < 3 && !errors.As(err, &api); try++ {
			tctx, cancel := context.WithTimeout(ctx, timeout)
			if e := put(tctx, lt, m, size); e != nil {
				err = e
			}
			cancel()
		}
		r.putErr = err
		r.puts = append(r.puts, d)
		var re *awshttp.ResponseError
		if lt.t.lab && errors.As(err, &re) && re.HTTPStatusCode() >= 500 {
			r.gwReason = gatehouseReason(re.ServiceRequestID())
		}
		fmt.Fprintf(os.Stderr, "bench: large, %s, %s: PUT (%s) refused after %.1fs: %v; RssAnon before %s, peak %s\n",
			m.name, lt.t.name, r.wire, d.Seconds(), err, mib(r.before.anon), mib(r.peakPut.anon))
		return nil
	}

	gctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done = watch(&r.peakGet, &r.cpuGet, &r.busyGet)
	out, err := c.GetObject(gctx, &s3.GetObjectInput{Bucket: aws.String(lt.bucket), Key: aws.String(largeKey)})
	if err != nil {
		dg := done()
		if errors.Is(gctx.Err(), context.DeadlineExceeded) {
			return timedOut("GET", dg, err)
		}
		return fmt.Errorf("GetObject failed after %.1f s: %s", dg.Seconds(), shortErr(err))
	}
	h := sha256.New()
	n, err := io.Copy(h, out.Body)
	out.Body.Close()
	dg := done()
	if err != nil {
		if errors.Is(gctx.Err(), context.DeadlineExceeded) {
			return timedOut("GET", dg, err)
		}
		return fmt.Errorf("GetObject body broke off after %d bytes (%.1f s): %v", n, dg.Seconds(), err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != size || got != want {
		return fmt.Errorf("GetObject returned %d bytes with SHA-256 %s; sent %d bytes with %s", n, got, size, want)
	}
	// Counted only once the GET is checked, so that puts and gets pair up.
	r.gets = append(r.gets, dg)
	if putFailed != nil {
		fmt.Fprintf(os.Stderr, "bench: large, %s, %s: GET %.0f MB/s of the object put direct, SHA-256 matches\n", m.name, lt.t.name, mbps(size, dg))
		return fmt.Errorf("%w (the GET read the object put direct)", putFailed)
	}
	r.puts = append(r.puts, d)
	fmt.Fprintf(os.Stderr, "bench: large, %s, %s: PUT %.0f MB/s (%s, %s), GET %.0f MB/s, SHA-256 matches; RssAnon before %s, peak PUT %s, peak GET %s; VmRSS before %s, peak PUT %s, peak GET %s\n",
		m.name, lt.t.name, mbps(size, d), r.wire, r.proto, mbps(size, dg),
		mib(r.before.anon), mib(r.peakPut.anon), mib(r.peakGet.anon), mib(r.before.rss), mib(r.peakPut.rss), mib(r.peakGet.rss))
	return nil
}

// renderLarge is the section's text after its heading: what ran, the
// targets, a table per upload mode and the memory of each target.
func renderLarge(lts []*largeTarget, rs []*largeResult, size int64, reps int, took time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, `Run on %[1]s: %[2]d cores (%[3]s), with the lab up; the
workload took %[4]s (targets set up, probed, measured; the profiles
below, if any, came after). aws-sdk-go-v2's S3 client (the SDK's default
HTTP client, path-style, no retries, checksums as
config.LoadDefaultConfig sets them unless the mode says otherwise)
against MinIO (single drive, TLS) on %[5]s, through every target of the
small-call workload. Through a proxy the client sends CONNECT for the
name the SDK gives the endpoint, which the proxy resolves with gh-gw's
hosts file (MinIO's address); transparent, it dials MinIO from gh-agent
and Gatehouse captures the connection; direct dials MinIO from gh-gw,
whose own traffic is not captured (gh-agent's to MinIO is), so it
crosses one veth hop and one TLS leg fewer than every other target.
gatehouse-full is the lab's Gatehouse deciding with the generated
200-rule policy (a rule late in it allows s3:* on the bench's buckets
with mask profile %[6]s; the object is binary, which Gatehouse does
not scan: the mask section measures a text object), with session
credentials Gatehouse issued for the agent's web identity token; through
the others the client signs with MinIO's keys, which they pass on. Each
target has a bucket of its own, made and removed with MinIO's keys,
direct. Before the transfers, a 64 KiB object put through each target
was read back through it and direct from MinIO.

The body is %[7]d bytes from a generator: deterministic pseudo-random
bytes made as they are read, never held in memory, not seekable,
ContentLength set. With the SDK's defaults a non-seekable body goes out
as aws-chunked STREAMING-UNSIGNED-PAYLOAD-TRAILER in one chunk the size
of the body, and MinIO refuses chunks over 16 MiB, whatever the path;
that mode records the refusal as the client saw it. MinIO answers as
soon as it has read the chunk header and closes the connection, so the
client sees its 400, or a reset of the connection it is still writing,
or the gateway's own error when the gateway's write upstream is reset
before it reads MinIO's answer: whichever comes first (the bench tries up
to three more times for an answer rather than a reset). The two modes
measured instead: one PutObject with the SDK's checksum set to
when_required (UNSIGNED-PAYLOAD, the body streams as is), and a multipart
upload (feature/s3/manager, 16 MiB parts, its default 5 parts in flight)
whose UploadParts carry the SDK's default aws-chunked trailer upload.
After each upload GetObject streams the object into SHA-256, compared
with the generator's; then the object is deleted. Within a mode, each
repetition goes through every target in turn: %[8]d repetitions for direct
and Gatehouse, %[9]d for the peers (squid, mitmproxy, goproxy-bare), whose
transfers ran in the first. A transfer slower than %.0[10]f MB/s times out
(after %[11]s) and its target gets no more transfers in the workload.
A PUT that fails otherwise is reported in its row, and the GET is
measured all the same, of the object put direct; any other failure ends
the target's transfers in that mode, and its row says why, quoting what
the target logged meanwhile (for squid, its failed DNS queries left out:
in gh-gw it resolves names from the hosts file).

MB/s is 10^6 bytes per second over the whole call (GET: until the body's
last byte). Each PUT starts after a sync(2), so MinIO's earlier writes are
not still in writeback, and after the bench waited (up to %[12]s) for other
processes to use under %.1[13]f cores. A ratio is the median over
repetitions of each repetition's ratio to direct's transfer in the same
repetition; a peer's rests on one such pair, and direct's PUT rate varies
from one repetition to the next (MinIO writes the object to its disk:
see direct's range), so a peer's PUT ratio is to be read with that range. Memory is the target's processes' (its process and its
children, /proc/<pid>/status): RssAnon (anonymous memory: heap, stacks)
and VmRSS (adds mapped files and the shared libraries) each summed over
the processes, sampled every 100 ms during each transfer: the largest
sample over all its transfers, and before its first PUT. CPU is CPU time
over wall time during the transfers: the target's processes' and the
whole machine's busy share (/proc/stat, all processes and the kernel;
%[2]d cores here); others' cores the most that processes none of the
bench's took during one of its transfers.

| target | how the S3 client reaches MinIO | name asked for | signed with | transfers per mode | processes whose memory is summed |
|---|---|---|---|---:|---|
`, time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), cpuModel(), took.Round(time.Second), minioAddr, fullPolicyMask,
		size, reps, min(reps, largePeerReps), largeFloor/1e6, largeTimeout(size).Round(time.Second), quietWait, quietCores)
	for _, lt := range lts {
		signed := "MinIO's keys"
		if lt.t.session {
			signed = "Gatehouse session credentials"
		}
		procs := "— (no process of its own)"
		if lt.t.pid != 0 {
			procs = procNames(lt.procs)
			if procs == "" {
				procs = "— (not sampled)"
			}
		}
		host := lt.host
		if host == "" {
			host = "—"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %d | %s |\n", lt.t.name, lt.t.s3How(), host, signed, lt.reps, procs)
	}
	stat := "median"
	if reps > 1 {
		stat = fmt.Sprintf("median (range) of %d, peers 1", reps)
		if largePeerReps > 1 {
			stat = fmt.Sprintf("median (range) of %d, peers %d", reps, min(reps, largePeerReps))
		}
	}
	for i := 0; i < len(rs); i += len(lts) {
		mode := rs[i : i+len(lts)]
		d := mode[0]
		wire := ""
		for _, r := range mode {
			if r.wire != "" {
				wire = r.wire
				if r.proto != "" {
					wire += ", " + r.proto
				}
				break
			}
		}
		fmt.Fprintf(&b, "\n### %s: %s\n\n", sizeName(size), d.mode.name)
		if wire != "" {
			fmt.Fprintf(&b, "As sent: %s.\n\n", wire)
		}
		fmt.Fprintf(&b, "| target | PUT MB/s, %s | GET MB/s, %s | PUT × direct | GET × direct | CPU cores, target / machine: PUT · GET | others' cores | note |\n", stat, stat)
		b.WriteString("|---|---:|---:|---:|---:|---:|---:|---|\n")
		for _, r := range mode {
			var notes []string
			if r.err != nil {
				notes = append(notes, "error: "+oneLine(r.err.Error()))
			}
			if r.others >= quietCores {
				notes = append(notes, fmt.Sprintf("other processes took %.2f cores during one of its transfers", r.others))
			}
			if r.putErr != nil {
				why := shortErr(r.putErr)
				if r.gwReason != "" {
					why += "; Gatehouse's log gives the reason: " + r.gwReason
				}
				fmt.Fprintf(&b, "| %s | refused after %.1f s: %s | — | — | — | — | %.2f | %s |\n",
					r.lt.t.name, r.puts[0].Seconds(), oneLine(why), r.others, strings.Join(notes, "; "))
				continue
			}
			if len(r.gets) == 0 {
				fmt.Fprintf(&b, "| %s | — | — | — | — | — | — | %s |\n", r.lt.t.name, strings.Join(notes, "; "))
				continue
			}
			ratio := func(dd, rr []time.Duration) string {
				if d.putErr != nil || len(dd) == 0 || len(rr) == 0 {
					return "—" // nothing to compare
				}
				return fmt.Sprintf("%.2f", pairedRatio(dd, rr))
			}
			puts := "failed (see note)"
			if len(r.puts) > 0 {
				puts = rate(size, r.puts)
			}
			cpu := fmt.Sprintf("— / %.2f · — / %.2f", r.busyPut.cores(), r.busyGet.cores())
			if r.lt.t.pid != 0 {
				cpu = fmt.Sprintf("%.2f / %.2f · %.2f / %.2f", r.cpuPut.cores(), r.busyPut.cores(), r.cpuGet.cores(), r.busyGet.cores())
			}
			if r.err != nil {
				notes[0] = fmt.Sprintf("%d of %d PUTs and %d of %d GETs made; ", len(r.puts), r.lt.reps, len(r.gets), r.lt.reps) + notes[0]
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %.2f | %s |\n",
				r.lt.t.name, puts, rate(size, r.gets), ratio(d.puts, r.puts), ratio(d.gets, r.gets), cpu, r.others, strings.Join(notes, "; "))
		}
	}
	fmt.Fprintf(&b, "\n### Memory of each target's processes over its %s transfers\n\n", sizeName(size))
	b.WriteString("| target | processes summed | RssAnon before | RssAnon peak, PUT | RssAnon peak, GET | VmRSS before | VmRSS peak, PUT | VmRSS peak, GET |\n|---|---|---:|---:|---:|---:|---:|---:|\n")
	for j, lt := range lts {
		if lt.t.pid == 0 {
			fmt.Fprintf(&b, "| %s | — (MinIO and the bench's client only) | — | — | — | — | — | — |\n", lt.t.name)
			continue
		}
		var before, put, get gwSample
		for i := j; i < len(rs); i += len(lts) {
			r := rs[i]
			if before.rss == 0 {
				before = r.before
			}
			put.anon, put.rss = max(put.anon, r.peakPut.anon), max(put.rss, r.peakPut.rss)
			get.anon, get.rss = max(get.anon, r.peakGet.anon), max(get.rss, r.peakGet.rss)
		}
		or := func(n int64) string {
			if n == 0 {
				return "—"
			}
			return mib(n)
		}
		procs := procNames(lt.procs)
		if procs == "" {
			procs = "—"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", lt.t.name, procs,
			or(before.anon), or(put.anon), or(get.anon), or(before.rss), or(put.rss), or(get.rss))
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
	// Otherwise the innermost cause, named by the operation that failed
	// (a multipart upload's is an UploadPart, behind the upload id).
	inner := err
	for u := errors.Unwrap(inner); u != nil; u = errors.Unwrap(inner) {
		inner = u
	}
	var oe *smithy.OperationError
	if inner != err && errors.As(err, &oe) {
		return fmt.Sprintf("%s: %v", oe.Operation(), inner)
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
// dialling with dial, through the explicit proxy when one is given (nil:
// none, whatever the environment says), trusting roots; path-style
// addressing, no retries (a failed transfer is a failed run).
func s3Client(dial func(context.Context, string, string) (net.Conn, error), proxy *url.URL, roots *x509.CertPool, creds aws.CredentialsProvider) (*s3.Client, *recorder) {
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.DialContext = dial
		t.Proxy = nil
		if proxy != nil {
			t.Proxy = http.ProxyURL(proxy)
		}
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
// trailer), the protocol the server answered with, and the host of the
// last request (what a proxy is asked to CONNECT to).
type recorder struct {
	next                          aws.HTTPClient
	mu                            sync.Mutex
	payload, encoding, trailer, p string
	host                          string
}

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	resp, err := r.next.Do(req)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.host = req.URL.Host
	if x := req.URL.Query().Get("x-id"); req.Method == http.MethodPut && (x == "PutObject" || x == "UploadPart") {
		r.payload = req.Header.Get("X-Amz-Content-Sha256")
		r.encoding = req.Header.Get("Content-Encoding")
		r.trailer = req.Header.Get("X-Amz-Trailer")
		if resp != nil {
			r.p = resp.Proto
		}
	}
	return resp, err
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.payload, r.encoding, r.trailer, r.p, r.host = "", "", "", "", ""
	r.mu.Unlock()
}

func (r *recorder) lastHost() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.host
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

// sampleMem samples the memory of pid's process tree (treeMem) every
// 100 ms until the returned stop is called; stop takes a last sample and
// returns the largest RssAnon and VmRSS sums (each its own largest) and
// the processes of the sample that had the most.
func sampleMem(pid int) (stop func() (gwSample, []string)) {
	var peak gwSample
	var procs []string
	take := func() {
		s, ps := treeMem(pid)
		peak.anon, peak.rss, peak.fds = max(peak.anon, s.anon), max(peak.rss, s.rss), max(peak.fds, s.fds)
		if len(ps) > len(procs) {
			procs = ps
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
	return func() (gwSample, []string) { close(quit); <-done; return peak, procs }
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
