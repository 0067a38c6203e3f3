package main

// The mask workload: one text object of -mask-size bytes (1 GiB) GET
// whole through Gatehouse with a mask profile of every detector, against
// the same bytes direct, through Gatehouse unscanned (octet-stream) and
// through Gatehouse with the built-in profile; Gatehouse's memory sampled
// while each body streams, the masked output checked against the
// generator's, and a CPU profile of Gatehouse while it masks.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/gatehouse/gatehouse/deploy/lab"
)

const (
	maskBucket  = "gh-lab-bench-mask"
	maskProfile = "bench-pii"
	maskSeed    = 0x6d61736b // "mask"
	// The object's three keys: the bench rule masks pii/ with its
	// profile; builtin/ falls to the lab's agents-use-s3 rule, which names
	// no profile (the built-in one); raw/ is the same bytes typed
	// application/octet-stream, which Gatehouse does not scan.
	maskKeyPII     = "pii/app.log"
	maskKeyBuiltin = "builtin/app.log"
	maskKeyRaw     = "raw/app.bin"
	// flatSlackMiB: RssAnon's peak over the second half of a masked body
	// may exceed its peak over the first half by this much and still
	// count as flat (the GC's timing moves it by a few MiB either way).
	flatSlackMiB = 8
)

// maskSection is the title BENCHMARKS.md keeps the workload under (its
// start: the size follows).
const maskSection = "## Masked text object GET"

// maskRule goes first among the lab policy's rules for the run: the first
// matching allow decides, and with it the mask profile.
const maskRule = `  - id: bench-masked-reads            # make bench (mask workload); removed after
    effect: allow
    identities: {groups: [agents]}
    actions: ["s3:GetObject"]
    resources: ["arn:aws:s3:::` + maskBucket + `/pii/*"]
    mask: ` + maskProfile + `
`

// maskProfileYAML is the profile, under the policy file's masks: key.
const maskProfileYAML = `  ` + maskProfile + `:
    detectors: [email, card, ssn, aws-access-key-id, aws-secret-access-key, private-key, jwt]
`

// maskCum picks the functions whose cumulative time the profile lists:
// the stream masker, each detector, allocation and the GC, TLS, and the
// record's hash of the body.
var maskCum = regexp.MustCompile(`^github\.com/gatehouse/gatehouse/policy/mask\.(\(\*Stream\)\.find|[a-zA-Z]+\.Find)$|^runtime\.(mallocgc|gcBgMarkWorker)$|^crypto/tls\.\(\*Conn\)\.(Read|Write)$|^github\.com/gatehouse/gatehouse/intercept\.\(\*capture\)\.Write$`)

// maskTarget is one way of reading the object.
type maskTarget struct {
	name, does string
	client     *s3.Client
	key        string
	wantSHA    string // what the body must hash to
	wantSize   int64
	masks      bool // the bench profile applies: replacements expected
	viaGW      bool // Gatehouse is in the path: sample it
	gets       []*maskGet
}

// maskGet is one measured GET.
type maskGet struct {
	d                  time.Duration
	n, lines, stars    int64
	sum                string
	anonBefore         int64
	anon1, anon2, rss  int64 // RssAnon peak over each half of the body, VmRSS peak
	samples            int
	gwCPU, busy        float64 // CPU seconds
	logMasked, logBy   string  // Gatehouse's log line for the call
	logRule, requestID string
}

func (g *maskGet) replacements() int64 { return g.stars / int64(len(maskText)) }

func runMask(ctx context.Context, root string, size int64, reps int, idle float64) (string, error) {
	others := startOtherCPU(root, "the mask workload ran")
	t0 := time.Now()
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
	direct, _ := s3Client(lab.DialFrom(lab.NSGW, toMinIO), nil, publicCA,
		credentials.NewStaticCredentialsProvider("gatehouse-lab", "gatehouse-lab-secret-1", ""))
	agentDial := lab.AgentDial(toMinIO)
	creds, err := sessionCreds(ctx, agentDial, gatehouseCA, filepath.Join(lab.Out(root), "tokens/agent"))
	if err != nil {
		return "", err
	}
	gw, _ := s3Client(agentDial, nil, gatehouseCA, credentials.StaticCredentialsProvider{Value: creds})

	tf := time.Now()
	facts := factsOf(maskSeed, size)
	fmt.Fprintf(os.Stderr, "bench: mask: generator: %d lines, %d values planted, masked text %d bytes, SHA-256 %s / masked %s (%.1fs)\n",
		facts.lines, facts.plantedTotal, facts.maskedSize, facts.rawSHA, facts.maskedSHA, time.Since(tf).Seconds())

	// The object, direct to MinIO from gh-gw, then copied by MinIO.
	if _, err := direct.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(maskBucket)}); err != nil {
		return "", fmt.Errorf("mask: CreateBucket: %w", err)
	}
	defer func() {
		for _, k := range []string{maskKeyPII, maskKeyBuiltin, maskKeyRaw} {
			direct.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(maskBucket), Key: aws.String(k)})
		}
		direct.DeleteBucket(context.Background(), &s3.DeleteBucketInput{Bucket: aws.String(maskBucket)})
	}()
	tu := time.Now()
	_, err = direct.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(maskBucket), Key: aws.String(maskKeyPII), ContentType: aws.String("text/plain"),
		Body: newTextGen(maskSeed, size), ContentLength: aws.Int64(size),
	}, func(o *s3.Options) { o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired })
	if err != nil {
		return "", fmt.Errorf("mask: PutObject: %w", err)
	}
	upload := time.Since(tu)
	for _, c := range []struct{ key, ctype string }{{maskKeyBuiltin, "text/plain"}, {maskKeyRaw, "application/octet-stream"}} {
		if _, err := direct.CopyObject(ctx, &s3.CopyObjectInput{
			Bucket: aws.String(maskBucket), Key: aws.String(c.key), CopySource: aws.String(maskBucket + "/" + maskKeyPII),
			MetadataDirective: types.MetadataDirectiveReplace, ContentType: aws.String(c.ctype),
		}); err != nil {
			return "", fmt.Errorf("mask: CopyObject to %s: %w", c.key, err)
		}
	}
	fmt.Fprintf(os.Stderr, "bench: mask: uploaded at %.0f MB/s and copied\n", mbps(size, upload))

	// The bench's rule and profile in the lab policy, until the end.
	restore, err := installMaskPolicy(ctx, root, gw)
	if err != nil {
		return "", err
	}
	defer restore()

	// Ranged reads: refused where Gatehouse masks.
	probes := []struct{ what, key, got string }{
		{"of " + maskKeyPII + " (text/plain, profile " + maskProfile + ")", maskKeyPII, ""},
		{"of " + maskKeyBuiltin + " (text/plain, built-in profile)", maskKeyBuiltin, ""},
		{"of " + maskKeyRaw + " (application/octet-stream)", maskKeyRaw, ""},
	}
	for i := range probes {
		probes[i].got = rangedGet(ctx, gw, probes[i].key)
	}

	targets := []*maskTarget{
		{name: "direct", does: "— (MinIO from gh-gw)", client: direct, key: maskKeyPII, wantSHA: facts.rawSHA, wantSize: size},
		{name: "gatehouse, application/octet-stream", does: "forwards (binary objects are not scanned)", client: gw, key: maskKeyRaw, wantSHA: facts.rawSHA, wantSize: size, viaGW: true},
		{name: "gatehouse, text/plain, built-in profile", does: "no profile named: the built-in one", client: gw, key: maskKeyBuiltin, wantSHA: facts.rawSHA, wantSize: size, viaGW: true},
		{name: "gatehouse, text/plain, profile " + maskProfile, does: "streams through 7 detectors, replaces each match with " + maskText, client: gw, key: maskKeyPII, wantSHA: facts.maskedSHA, wantSize: facts.maskedSize, masks: true, viaGW: true},
	}
	for rep := range reps {
		for _, tg := range targets {
			g, err := getWhole(ctx, tg, pid)
			if err != nil {
				return "", fmt.Errorf("mask, %s: %w", tg.name, err)
			}
			tg.gets = append(tg.gets, g)
			verdict := "SHA-256 as expected"
			if g.sum != tg.wantSHA {
				verdict = "SHA-256 DIFFERS"
			}
			fmt.Fprintf(os.Stderr, "bench: mask, rep %d, %s: %.0f MB/s, %d bytes, %d lines, %d replacements, %s; Gatehouse RssAnon %s → %s / %s, VmRSS peak %s; log masked=%q rule=%q\n",
				rep+1, tg.name, mbps(size, g.d), g.n, g.lines, g.replacements(), verdict,
				mib(g.anonBefore), mib(g.anon1), mib(g.anon2), mib(g.rss), g.logMasked, g.logRule)
		}
	}

	// A masked body that is not the expected text: compare it line by
	// line (one more GET, not measured).
	pii := targets[3]
	var check *textCheck
	if slices.ContainsFunc(pii.gets, func(g *maskGet) bool { return g.sum != pii.wantSHA }) {
		out, err := gw.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(maskBucket), Key: aws.String(maskKeyPII)})
		if err != nil {
			return "", fmt.Errorf("mask: GET to compare: %w", err)
		}
		check, err = checkMasked(out.Body, maskSeed, size)
		out.Body.Close()
		if err != nil {
			return "", fmt.Errorf("mask: comparing the masked body: %w", err)
		}
	}

	prof, err := profileWith(fmt.Sprintf("%s GetObjects of %s (profile %s)", sizeName(size), maskKeyPII, maskProfile), func() error {
		out, err := gw.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(maskBucket), Key: aws.String(maskKeyPII)})
		if err != nil {
			return err
		}
		defer out.Body.Close()
		_, err = io.Copy(io.Discard, out.Body)
		return err
	}, profileOpts{flatN: 15, cumOf: maskCum, keep: filepath.Join(os.TempDir(), "gatehouse-bench-mask.pprof"),
		cumLabel: "the masking stream, each detector, and what surrounds them (allocation, GC, TLS, the record's hash)"})
	if err != nil {
		return "", fmt.Errorf("mask: profile: %w", err)
	}
	took := time.Since(t0).Round(time.Second)
	other := others()
	return renderMask(facts, targets, probes, check, prof, upload, reps, took, idle, other), nil
}

// textSink hashes a body and counts its lines and '*' bytes as it comes.
type textSink struct {
	h            hash.Hash
	lines, stars int64
	n            atomic.Int64
}

func (s *textSink) Write(p []byte) (int, error) {
	s.h.Write(p)
	s.lines += int64(bytes.Count(p, []byte{'\n'}))
	s.stars += int64(bytes.Count(p, []byte{'*'}))
	s.n.Add(int64(len(p)))
	return len(p), nil
}

// getWhole GETs the target's object in one request into a textSink, with
// Gatehouse's memory and CPU sampled while the body streams.
func getWhole(ctx context.Context, tg *maskTarget, pid int) (*maskGet, error) {
	g := &maskGet{}
	sink := &textSink{h: sha256.New()}
	var stop func()
	if tg.viaGW {
		g.anonBefore, _ = vm(pid, "RssAnon")
		stop = traceMem(pid, g, sink.n.Load, tg.wantSize/2)
	}
	cpu := startCPU(pid)
	t0 := time.Now()
	out, err := tg.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(maskBucket), Key: aws.String(tg.key)})
	if err == nil {
		_, err = io.Copy(sink, out.Body)
		out.Body.Close()
	}
	g.d = time.Since(t0)
	g.gwCPU, g.busy = cpu()
	if stop != nil {
		stop()
	}
	if err != nil {
		return nil, fmt.Errorf("GetObject after %d bytes: %w", sink.n.Load(), err)
	}
	g.n, g.lines, g.stars, g.sum = sink.n.Load(), sink.lines, sink.stars, hex.EncodeToString(sink.h.Sum(nil))
	g.requestID, _ = awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
	if tg.viaGW {
		a := gatehouseLogAttrs(g.requestID, "masked", "masked_by", "rule")
		g.logMasked, g.logBy, g.logRule = a["masked"], a["masked_by"], a["rule"]
	}
	return g, nil
}

// traceMem samples pid's RssAnon and VmRSS every 100 ms into g until the
// returned stop is called: RssAnon's peak apart for the samples taken
// before and after progress reaches half.
func traceMem(pid int, g *maskGet, progress func() int64, half int64) (stop func()) {
	take := func() {
		anon, err1 := vm(pid, "RssAnon")
		rss, err2 := vm(pid, "VmRSS")
		if err1 != nil || err2 != nil {
			return
		}
		if progress() < half {
			g.anon1 = max(g.anon1, anon)
		} else {
			g.anon2 = max(g.anon2, anon)
		}
		g.rss = max(g.rss, rss)
		g.samples++
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
	return func() { close(quit); <-done }
}

// rangedGet asks for the first KiB of key and says what came back.
func rangedGet(ctx context.Context, c *s3.Client, key string) string {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(maskBucket), Key: aws.String(key), Range: aws.String("bytes=0-1023")})
	if err != nil {
		return "refused: " + shortErr(err)
	}
	defer out.Body.Close()
	n, err := io.Copy(io.Discard, out.Body)
	if err != nil {
		return fmt.Sprintf("broke off after %d bytes: %v", n, err)
	}
	return fmt.Sprintf("served: %d bytes (Content-Range %s)", n, aws.ToString(out.ContentRange))
}

// installMaskPolicy puts the bench's rule first among the lab policy's
// rules and its profile in the masks section, checks the file with
// `gatehouse policy check`, writes it over out/policy.yaml, and waits
// until Gatehouse has reloaded it and decides with the profile (a ranged
// GET of the pii key is refused naming it). restore writes the lab's
// file back.
func installMaskPolicy(ctx context.Context, root string, gw *s3.Client) (restore func(), err error) {
	file := filepath.Join(lab.Out(root), "policy.yaml")
	orig, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(file)
	if err != nil {
		return nil, err
	}
	withBench, err := benchPolicy(orig)
	if err != nil {
		return nil, err
	}
	// Checked outside out/: Gatehouse watches that directory.
	tmp, err := os.CreateTemp("", "gatehouse-bench-policy-*.yaml")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	tmp.Write(withBench)
	tmp.Close()
	if out, err := exec.Command(filepath.Join(lab.Out(root), "bin/gatehouse"), "policy", "check", tmp.Name()).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("mask: the lab policy with the bench rule does not check: %v: %s", err, out)
	}
	write := func(b []byte) error {
		off := logSize()
		if err := os.WriteFile(file, b, st.Mode().Perm()); err != nil {
			return err
		}
		return waitReload(off, 15*time.Second)
	}
	restore = func() {
		if err := write(orig); err != nil {
			fmt.Fprintf(os.Stderr, "bench: mask: restoring %s: %v\n", file, err)
		}
	}
	if err := write(withBench); err != nil {
		restore()
		return nil, fmt.Errorf("mask: %s: %w", file, err)
	}
	var got string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if got = rangedGet(ctx, gw, maskKeyPII); strings.Contains(got, strconv.Quote(maskProfile)) {
			return restore, nil
		}
	}
	restore()
	return nil, fmt.Errorf("mask: Gatehouse reloaded the policy but does not decide with profile %s: a ranged GET of %s was %s", maskProfile, maskKeyPII, got)
}

var (
	rulesKey = regexp.MustCompile(`(?m)^rules:[ \t]*(#.*)?\n`)
	masksKey = regexp.MustCompile(`(?m)^masks:[ \t]*(#.*)?\n`)
)

// benchPolicy is the policy file with maskRule first among its rules and
// maskProfileYAML in its masks section (added when it has none). The
// file's rules and masks must be block sequences and mappings indented
// by two, as the lab's are; `gatehouse policy check` says when not.
func benchPolicy(orig []byte) ([]byte, error) {
	loc := rulesKey.FindIndex(orig)
	if loc == nil {
		return nil, errors.New("mask: the lab policy has no top-level \"rules:\" line to add the bench rule under")
	}
	out := slices.Concat(orig[:loc[1]], []byte(maskRule), orig[loc[1]:])
	if loc := masksKey.FindIndex(out); loc != nil {
		return slices.Concat(out[:loc[1]], []byte(maskProfileYAML), out[loc[1]:]), nil
	}
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	return append(out, "masks:\n"+maskProfileYAML...), nil
}

func logSize() int64 {
	st, err := os.Stat(gatehouseLog)
	if err != nil {
		return 0
	}
	return st.Size()
}

// waitReload waits for Gatehouse to log "policy reloaded" past offset off
// of its log. A refusal on the way (a read of the file half written) is
// returned only when no reload follows.
func waitReload(off int64, timeout time.Duration) error {
	var refused string
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		b, _ := os.ReadFile(gatehouseLog)
		if int64(len(b)) <= off {
			continue
		}
		for _, l := range strings.Split(string(b[off:]), "\n") {
			switch {
			case strings.Contains(l, "policy reloaded"):
				return nil
			case strings.Contains(l, "policy reload refused"):
				refused = l
			}
		}
	}
	if refused != "" {
		return fmt.Errorf("Gatehouse refused the policy: %s", refused)
	}
	return fmt.Errorf("no \"policy reloaded\" in %s within %s", gatehouseLog, timeout)
}

func renderMask(f textFacts, ts []*maskTarget, probes []struct{ what, key, got string }, check *textCheck, prof string, upload time.Duration, reps int, took time.Duration, idle, other float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, `%s (%s)

Run on %s: %d cores, %s, %s, with the lab up (this section is
rewritten alone by `+"`go run ./bench -workloads mask`"+`; the others may come
from an earlier run). The workload took %s. Other work on the machine:
%.2f cores busy in the 2 s before the lab came up, %.1f CPU-seconds of
busy time not charged to the bench or the lab's daemons while it ran.

The object is %d bytes of text, %d lines of log and CSV records
(timestamps, request paths, orders, cache keys), made by a deterministic
generator as they are read and never held in memory. One line in %d
carries a value to mask (one per %.1f KiB), in turn an email address, a
Visa number in groups of four (4xxx xxxx xxxx xxxx), a Mastercard number
without spaces, a US SSN (NNN-NN-NNNN) and an AWS access key id (AKIA…),
the numbers random and the cards passing Luhn; the rest of the text holds
nothing a detector matches. Values planted: %d (%s). The generator also
makes the text as it must come out masked, each value replaced by %q
(the default replacement): %d bytes, and its SHA-256.

It is uploaded once, direct to MinIO from gh-gw (one PutObject,
UNSIGNED-PAYLOAD, Content-Type text/plain: %.0f MB/s), and copied by
MinIO (CopyObject) to two more keys of bucket %s: %s, text/plain too,
and %s, typed application/octet-stream. For the run the bench adds a
rule first among the lab policy's rules (deploy/lab/out/policy.yaml,
written back after the run) and a profile to its masks section, checks
the file with `+"`gatehouse policy check`"+`, and waits for Gatehouse to log
"policy reloaded" and to decide with the profile:

`+"```yaml"+`
rules:
%s  ...
masks:
%s`+"```"+`

So %s is masked with %s; %s falls to the lab's agents-use-s3 rule,
which names no profile, so the built-in one applies (it is for what AWS's
APIs return, and leaves object data as it is: whether it does shows in
its row and its ranged read below); %s is not scanned (Gatehouse does not
scan binary objects): forwarding alone.

Each GET is one GetObject of the whole object, read by aws-sdk-go-v2's
S3 client (as in the large workload) into SHA-256 while counting its
lines and its '*' bytes (the object has none, so replacements are '*'
bytes / %d). Direct dials MinIO from gh-gw with MinIO's keys; the others
from gh-agent through Gatehouse with session credentials. Each
repetition runs the four rows back to back, in order. MB/s is 10^6 bytes
of the object per second until the body's last byte (a masked body is
shorter than the object; the rate counts the object's bytes). A ratio is
the median over repetitions of each repetition's ratio. Gatehouse's
memory is read from /proc/<pid>/status every 100 ms while the body
streams: RssAnon (heap, stacks, Badger's memtables and cache) before the
GET and its peaks while the client had read less and more than half of
the body (a masker that kept what it streamed would show the second
higher than the first), and VmRSS's peak, which adds the pages of the
record store's files Badger maps. The first table gives the largest over
the repetitions, the second each GET's. CPU is CPU time over wall time
during the GETs, Gatehouse's own and the whole machine's busy share (%d
cores here).

`, maskSection, sizeName(f.size), time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), cpuModel(), runtime.Version(), took, idle, other,
		f.size, f.lines, plantEvery, float64(f.size)/float64(f.plantedTotal)/1024, f.plantedTotal, plantedList(f.planted), maskText, f.maskedSize,
		mbps(f.size, upload), maskBucket, maskKeyBuiltin, maskKeyRaw, maskRule, maskProfileYAML,
		maskKeyPII, maskProfile, maskKeyBuiltin, maskKeyRaw, len(maskText), runtime.NumCPU())

	stat := "median"
	if reps > 1 {
		stat = fmt.Sprintf("median of %d (range)", reps)
	}
	fmt.Fprintf(&b, "| GET of the %s text object | Gatehouse | MB/s, %s | ratio to direct | Gatehouse RssAnon peak | Gatehouse VmRSS peak | CPU cores, Gatehouse / machine |\n|---|---|---:|---:|---:|---:|---:|\n", sizeName(f.size), stat)
	direct := durations(ts[0].gets)
	for _, t := range ts {
		ds := durations(t.gets)
		anon, rss := "—", "—"
		if t.viaGW {
			var a, r int64
			for _, g := range t.gets {
				a, r = max(a, g.anon1, g.anon2), max(r, g.rss)
			}
			anon, rss = mib(a), mib(r)
		}
		var cpu, busy, wall float64
		for _, g := range t.gets {
			cpu, busy, wall = cpu+g.gwCPU, busy+g.busy, wall+g.d.Seconds()
		}
		gwCores := "—"
		if t.viaGW {
			gwCores = fmt.Sprintf("%.2f", cpu/wall)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %.2f | %s | %s | %s / %.2f |\n", t.name, t.does, rate(f.size, ds), pairedRatio(direct, ds), anon, rss, gwCores, busy/wall)
	}

	fmt.Fprintf(&b, "\nEach GET in the order it ran (the object has %d lines, %d planted values):\n\n", f.lines, f.plantedTotal)
	b.WriteString("| rep | GET | MB/s | bytes | lines | replacements ('*' / 4) | SHA-256 | Gatehouse's log line: rule, masked, masked_by | Gatehouse RssAnon before → peak 1st half / 2nd half; VmRSS peak |\n|---:|---|---:|---:|---:|---:|---|---|---|\n")
	for i := range reps {
		for _, t := range ts {
			g := t.gets[i]
			sum := "the object's"
			if t.masks {
				sum = "the expected masked text's"
			}
			if g.sum != t.wantSHA {
				sum = "DIFFERS from " + sum
			} else {
				sum = "= " + sum
			}
			logLine, mem := "—", "—"
			if t.viaGW {
				logLine = fmt.Sprintf("%s, %s, %s", orDash(g.logRule), orDash(g.logMasked), orDash(g.logBy))
				mem = fmt.Sprintf("%s → %s / %s; %s", mib(g.anonBefore), mib(g.anon1), mib(g.anon2), mib(g.rss))
			}
			fmt.Fprintf(&b, "| %d | %s | %.0f | %d | %d | %d | %s | %s | %s |\n", i+1, t.name, mbps(f.size, g.d), g.n, g.lines, g.replacements(), sum, logLine, mem)
		}
	}

	b.WriteString("\nRanged reads through Gatehouse (GetObject, Range bytes=0-1023):\n\n")
	for _, p := range probes {
		fmt.Fprintf(&b, "- %s: %s\n", p.what, strings.ReplaceAll(p.got, "|", "\\|"))
	}

	if check != nil {
		fmt.Fprintf(&b, "\nA masked body differed from the expected text; one more GET compared it line by line: %d lines compared, %d differ, %d missing, %d extra; planted values that came through unmasked: %s.",
			check.lines, check.differ, check.missing, check.extra, plantedList(check.leaked))
		if len(check.firstDiffs) > 0 {
			b.WriteString(" First differences:\n\n```\n" + strings.Join(check.firstDiffs, "\n") + "\n```\n")
		} else {
			b.WriteString("\n")
		}
	}

	// The acceptance: masked while streaming, with flat RSS.
	pii, plain := ts[3], ts[1]
	var checks []acceptance
	allExact, allCount, allLines, allLog := true, true, true, true
	var worstGrow int64 = -1 << 62
	for _, g := range pii.gets {
		allExact = allExact && g.sum == pii.wantSHA
		allCount = allCount && g.replacements() == f.plantedTotal
		allLines = allLines && g.lines == f.lines
		allLog = allLog && g.logMasked == strconv.FormatInt(f.plantedTotal, 10)
		worstGrow = max(worstGrow, g.anon2-g.anon1)
	}
	var anonPII, rssPII int64
	for _, g := range pii.gets {
		anonPII, rssPII = max(anonPII, g.anon1, g.anon2), max(rssPII, g.rss)
	}
	first, firstPlain := pii.gets[0], plain.gets[0]
	checks = append(checks,
		acceptance{fmt.Sprintf("the masked body is the object with each of the %d planted values replaced and nothing else changed (SHA-256 of the expected text), every repetition", f.plantedTotal), allExact},
		acceptance{fmt.Sprintf("replacements counted in the body = values planted (%d), every repetition", f.plantedTotal), allCount},
		acceptance{fmt.Sprintf("lines out = lines in (%d), every repetition", f.lines), allLines},
		acceptance{fmt.Sprintf("Gatehouse's own count (its log line's masked=) = values planted (%d), every repetition", f.plantedTotal), allLog},
		acceptance{fmt.Sprintf("flat RSS while masking: in each masked GET, RssAnon's peak over the second half of the body ≤ its peak over the first half + %d MiB (largest difference %+.1f MiB). "+
			"Over the masked GETs RssAnon peaked at %s and VmRSS at %s; the first masked GET took RssAnon from %s to %s within the first half of its body, against a peak of %s while the same bytes were forwarded unscanned just before it",
			flatSlackMiB, float64(worstGrow)/(1<<20), mib(anonPII), mib(rssPII), mib(first.anonBefore), mib(first.anon1), mib(max(firstPlain.anon1, firstPlain.anon2))), worstGrow <= flatSlackMiB<<20},
	)
	b.WriteString("\nTargets (issue: a 1 GiB text object is masked while streaming with flat RSS):\n\n")
	for _, c := range checks {
		verdict := "holds"
		if !c.ok {
			verdict = "DOES NOT HOLD"
		}
		fmt.Fprintf(&b, "- %s — %s\n", c.what, verdict)
	}
	b.WriteString("\n" + prof)
	return b.String()
}

// acceptance is one of the targets and whether it held.
type acceptance struct {
	what string
	ok   bool
}

func durations(gs []*maskGet) []time.Duration {
	ds := make([]time.Duration, len(gs))
	for i, g := range gs {
		ds[i] = g.d
	}
	return ds
}

func plantedList(n [nPlants]int64) string {
	var parts []string
	for i, name := range plantNames {
		parts = append(parts, fmt.Sprintf("%s %d", name, n[i]))
	}
	return strings.Join(parts, ", ")
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
