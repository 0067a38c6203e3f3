// Command bench is `make bench`: it brings the lab up, runs its workloads,
// prints tables of absolute figures and ratios to direct, writes
// BENCHMARKS.md, and tears the lab down.
//
// Workloads (-workloads, comma-separated; default all):
//
//   - small: small DynamoDB-shaped calls from gh-agent to an HTTPS upstream
//     in gh-aws, kept alive, from 1 and 64 clients (-clients), over every
//     target (targets.go): direct, gatehouse-full (explicit proxy and
//     transparent capture), gatehouse-passthrough, squid, mitmproxy and
//     goproxy-bare, the peers started in gh-gw for the run; calls/s,
//     latency, CPU per call of each target's process (small.go).
//   - conns: the same call on a new TCP and TLS connection each time (a new
//     CONNECT through a proxy), over the same targets in the same run:
//     connections/s (small.go).
//   - large: one 1 GiB object PUT and GET with aws-sdk-go-v2's S3 client
//     against MinIO through every target (direct from gh-gw; through a
//     proxy with CONNECT to the S3 endpoint's name), with the memory of
//     the target's processes sampled during each transfer (large.go).
//   - mask: one 1 GiB text object, log and CSV lines with emails, card
//     numbers, SSNs and access key ids planted in them, GET whole through
//     Gatehouse with a mask profile the bench adds to the lab policy for
//     the run, against the same bytes direct, unscanned through Gatehouse
//     (octet-stream) and with the built-in profile; Gatehouse's RSS
//     sampled while the body streams, the masked body checked against the
//     generator's, and a CPU profile of Gatehouse masking (mask.go).
//   - idle: -idle-conns (10,000) TLS connections from gh-agent through
//     every target in turn, one signed call on each, then left open and
//     idle; the memory of the target's processes with all open and 10 s
//     later, and Gatehouse's heap profile (idle.go).
//   - held: -held-calls (1,000) signed calls held for approval at once by
//     a rule the bench adds to the lab policy, through Gatehouse only (the
//     peers have no approvals), with Gatehouse restarted
//     with a longer approvals.hold; Gatehouse's RSS while they are held,
//     the time an approver takes to approve each through the admin API,
//     and the time until all complete (held.go).
//   - records: the recorder alone, without the lab: durable records/s from
//     concurrent callers with fsync on, and indexed search latency over a
//     store of 1M synthetic records (records.go). It runs before the lab
//     comes up; run alone, it needs no lab.
//
// Each workload replaces its own section of -out and keeps the others', so
// that `-workloads mask` updates only the mask section. The file's opening
// paragraph describes the last run of the small and large workloads; the
// mask and records sections say when they ran.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/gatehouse/gatehouse/deploy/lab"
)

// benchHost is the name small calls go to (the upstream answers whatever
// name; this one makes them dynamodb:GetItem to Gatehouse's policy). The
// lab's hosts files resolve it to the bench's upstream on AWSIP2, for the
// proxies that resolve what they are asked to CONNECT to.
const benchHost = lab.BenchHost

func main() {
	if addr := os.Getenv(upstreamEnv); addr != "" {
		// The idle workload's direct upstream, in a process of its own.
		if err := serveUpstream(addr); err != nil {
			log.Fatal(err)
		}
		return
	}
	out := flag.String("out", "BENCHMARKS.md", "write the results here (empty: stdout only)")
	workloads := flag.String("workloads", "small,conns,large,mask,idle,held,records", "workloads to run, comma-separated: small, conns, large, mask, idle, held, records")
	dur := flag.Duration("duration", 5*time.Second, "small: measurement time per run")
	conc := flag.String("clients", "1,64", "small: concurrent clients per run, comma-separated")
	connClients := flag.Int("conns-clients", 8, "conns: concurrent clients, each call on a new connection")
	size := flag.Int64("size", 1<<30, "large: object size in bytes")
	reps := flag.Int("reps", 3, "large and mask: transfers per upload mode and target (the table gives the median)")
	maskSize := flag.Int64("mask-size", 1<<30, "mask: text object size in bytes")
	ih := idleHeld{}
	flag.IntVar(&ih.conns, "idle-conns", 10_000, "idle: agent connections held open")
	flag.IntVar(&ih.calls, "held-calls", 1_000, "held: calls held for approval at once")
	rc := recordsConfig{}
	flag.DurationVar(&rc.dur, "records-duration", 5*time.Second, "records: measurement time per writer count")
	writers := flag.String("records-writers", "1,16,64", "records: concurrent writers per durable run, comma-separated")
	flag.IntVar(&rc.n, "records-n", 1_000_000, "records: records in the search store")
	flag.IntVar(&rc.runs, "records-runs", 200, "records: runs of each search query")
	flag.Parse()
	var levels []int
	for _, f := range strings.Split(*conc, ",") {
		var n int
		if _, err := fmt.Sscan(f, &n); err != nil || n < 1 {
			log.Fatalf("-clients: %q is not a positive number", f)
		}
		levels = append(levels, n)
	}
	for _, f := range strings.Split(*writers, ",") {
		var n int
		if _, err := fmt.Sscan(f, &n); err != nil || n < 1 {
			log.Fatalf("-records-writers: %q is not a positive number", f)
		}
		rc.writers = append(rc.writers, n)
	}
	wl := map[string]bool{}
	for _, w := range strings.Split(*workloads, ",") {
		w = strings.TrimSpace(w)
		if !slices.Contains([]string{"small", "conns", "large", "mask", "idle", "held", "records"}, w) {
			log.Fatalf("-workloads: unknown workload %q (small, conns, large, mask, idle, held, records)", w)
		}
		wl[w] = true
	}
	if *size < 1 || *reps < 1 || *maskSize < 1 {
		log.Fatalf("-size %d, -reps %d, -mask-size %d: all must be positive", *size, *reps, *maskSize)
	}
	if rc.n < 1 || rc.runs < 1 || rc.dur <= 0 {
		log.Fatalf("-records-n %d, -records-runs %d, -records-duration %s: all must be positive", rc.n, rc.runs, rc.dur)
	}
	if ih.conns < 1 || ih.calls < 1 {
		log.Fatalf("-idle-conns %d, -held-calls %d: both must be positive", ih.conns, ih.calls)
	}
	if err := run(*out, wl, smallConfig{dur: *dur, levels: levels, connClients: *connClients}, *size, *maskSize, *reps, rc, ih); err != nil {
		log.Fatal(err)
	}
}

// idleHeld sizes the idle and held workloads.
type idleHeld struct{ conns, calls int }

func run(outFile string, workloads map[string]bool, sc smallConfig, size, maskSize int64, reps int, rc recordsConfig, ih idleHeld) error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	var records string
	if workloads["records"] {
		t0 := time.Now()
		// Interrupted, the workload stops and removes its stores.
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		records, err = runRecords(ctx, rc)
		stop()
		if err != nil {
			return err
		}
		fmt.Print(records)
		fmt.Fprintf(os.Stderr, "bench: records workload took %s\n", time.Since(t0).Round(time.Second))
	}
	sections := map[string]string{}
	if records != "" {
		sections["records"] = records
	}
	if !workloads["small"] && !workloads["conns"] && !workloads["large"] && !workloads["mask"] && !workloads["idle"] && !workloads["held"] {
		if outFile == "" {
			return nil
		}
		return writeSections(outFile, "", sections)
	}
	// Gatehouse serves pprof in gh-gw, for a profile when a large-workload
	// target is missed and for the mask workload's; serving it costs
	// nothing until it is asked.
	if os.Getenv("GATEHOUSE_SERVE_ARGS") == "" {
		os.Setenv("GATEHOUSE_SERVE_ARGS", "--pprof "+pprofAddr)
	}
	idle := busyCores(2 * time.Second)
	start := time.Now()
	// up.sh refuses to replace a running lab, and cleans up after itself
	// when it fails: nothing to tear down then.
	if err := lab.Script(root, "up.sh"); err != nil {
		return err
	}
	defer lab.Script(root, "down.sh")
	others := startOtherCPU(root, "the lab was up")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() { <-sig; lab.Script(root, "down.sh"); os.Exit(1) }()

	var small, conns, large, masked, idleOut, heldOut string
	if workloads["small"] || workloads["conns"] {
		t0 := time.Now()
		sc.small, sc.conns = workloads["small"], workloads["conns"]
		if small, conns, err = runSmall(root, sc); err != nil {
			return err
		}
		fmt.Print(strings.TrimSpace(small+"\n\n"+conns) + "\n")
		fmt.Fprintf(os.Stderr, "bench: small and conns workloads took %s\n", time.Since(t0).Round(time.Second))
	}
	if workloads["large"] {
		t0 := time.Now()
		if large, err = runLarge(context.Background(), root, size, reps); err != nil {
			return err
		}
		fmt.Print("\n" + large)
		fmt.Fprintf(os.Stderr, "bench: large workload took %s\n", time.Since(t0).Round(time.Second))
	}
	if workloads["mask"] {
		t0 := time.Now()
		if masked, err = runMask(context.Background(), root, maskSize, reps, idle); err != nil {
			return err
		}
		fmt.Print("\n" + masked)
		fmt.Fprintf(os.Stderr, "bench: mask workload took %s\n", time.Since(t0).Round(time.Second))
	}
	if workloads["idle"] {
		t0 := time.Now()
		if idleOut, err = runIdle(context.Background(), root, ih.conns); err != nil {
			return err
		}
		fmt.Print("\n" + idleOut)
		fmt.Fprintf(os.Stderr, "bench: idle workload took %s\n", time.Since(t0).Round(time.Second))
	}
	// Last: it restarts Gatehouse (with a longer hold, then the lab's
	// config again).
	if workloads["held"] {
		t0 := time.Now()
		if heldOut, err = runHeld(context.Background(), root, ih.calls); err != nil {
			return err
		}
		fmt.Print("\n" + heldOut)
		fmt.Fprintf(os.Stderr, "bench: held workload took %s\n", time.Since(t0).Round(time.Second))
	}
	other := others()
	took := time.Since(start).Round(time.Second)
	fmt.Fprintf(os.Stderr, "bench: %s with the lab up; %.2f cores busy before it; other processes used %.1f CPU-seconds during it\n", took, idle, other)
	if outFile == "" {
		return nil
	}
	if conns != "" {
		sections["conns"] = conns
	}
	if masked != "" {
		sections["mask"] = masked
	}
	if idleOut != "" {
		sections["idle"] = idleOut
	}
	if heldOut != "" {
		sections["held"] = heldOut
	}
	// The opening paragraph describes the run of the small and large
	// workloads; without them it stays as it is.
	var intro string
	if small != "" || large != "" {
		intro = preamble(workloads, took, idle, other)
		if small != "" {
			sections["small"] = small
		}
		if large != "" {
			sections["large"] = largeSection(large, size)
		}
	}
	return writeSections(outFile, intro, sections)
}

// sectionOrder is the order of the workloads' sections in BENCHMARKS.md.
var sectionOrder = []string{"small", "conns", "large", "mask", "idle", "held", "records"}

// sectionKey names the workload whose section a heading of BENCHMARKS.md
// opens, "" for a section the bench does not write.
func sectionKey(heading string) string {
	switch {
	case heading == smallSection:
		return "small"
	case heading == connsSection:
		return "conns"
	case strings.HasSuffix(heading, " PUT and GET"):
		return "large"
	case strings.HasPrefix(heading, maskSection):
		return "mask"
	case strings.HasPrefix(heading, idleSection):
		return "idle"
	case strings.HasPrefix(heading, heldSection):
		return "held"
	case heading == recordsSection:
		return "records"
	}
	return ""
}

// writeSections writes file with each of sections (by workload) in place
// of the workload's section there, keeping the sections of the workloads
// that did not run, in sectionOrder; sections the bench does not write
// are kept after them. intro replaces the opening (everything before the
// first section) unless it is empty. The closing paragraph is notMeasured.
func writeSections(file, intro string, sections map[string]string) error {
	old, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	doc := string(old)
	if i := strings.Index(doc, "\nNot measured"); i >= 0 {
		doc = doc[:i+1]
	}
	type part struct{ key, text string }
	var head string
	var parts []part
	fenced := false // inside a ``` block, "## " opens no section
	for _, l := range strings.SplitAfter(doc, "\n") {
		if strings.HasPrefix(l, "```") {
			fenced = !fenced
		}
		switch {
		case !fenced && strings.HasPrefix(l, "## "):
			parts = append(parts, part{sectionKey(strings.TrimRight(l, "\n")), l})
		case len(parts) == 0:
			head += l
		default:
			parts[len(parts)-1].text += l
		}
	}
	if intro != "" {
		head = intro
	} else if strings.TrimSpace(head) == "" {
		head = "# Benchmarks\n\nWritten by `go run ./bench`; each section says what ran and when.\n"
	}
	trim := func(s string) string { return strings.TrimRight(s, "\n") }
	out := []string{trim(head)}
	for _, k := range sectionOrder {
		if s, ok := sections[k]; ok {
			out = append(out, trim(s))
			continue
		}
		if i := slices.IndexFunc(parts, func(p part) bool { return p.key == k }); i >= 0 {
			out = append(out, trim(parts[i].text))
		}
	}
	for _, p := range parts {
		if p.key == "" {
			out = append(out, trim(p.text))
		}
	}
	out = append(out, trim(notMeasured))
	return os.WriteFile(file, []byte(strings.Join(out, "\n\n")+"\n"), 0o644)
}

// busyCores is how many cores the machine keeps busy over d, before the
// bench starts anything: other work on the machine shows here.
func busyCores(d time.Duration) float64 {
	b0 := machineBusy()
	time.Sleep(d)
	return (machineBusy() - b0) / d.Seconds()
}

// startOtherCPU measures the CPU time of everything on the machine but the
// bench and the lab's daemons: busy time from /proc/stat less the bench's
// own, its reaped children's, and the daemons' (out/*.pid). The returned
// func gives it since the call, in CPU seconds; while says when, for the
// log.
func startOtherCPU(root, while string) func() float64 {
	pids, _ := filepath.Glob(filepath.Join(lab.Out(root), "*.pid"))
	ours := func() float64 {
		t := procCPU(os.Getpid()) + childrenCPU()
		for _, f := range pids {
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				t += procCPU(pid)
			}
		}
		return t
	}
	m0, b0, o0 := machineTasks(), machineBusy(), ours()
	return func() float64 {
		m, b, o := machineTasks()-m0, machineBusy()-b0, ours()-o0
		fmt.Fprintf(os.Stderr, "bench: CPU-seconds while %s: machine busy %.1f (user+nice+system %.1f), bench and lab daemons %.1f\n", while, b, m, o)
		// Interrupt time spent for the bench's sockets is charged to its
		// processes here, so the comparison is with all busy time.
		return max(0, b-o)
	}
}

// dynamoLike answers like DynamoDB GetItem: a small JSON body with CRC32.
func dynamoLike(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amz-Crc32", "2745614147")
	w.Header().Set("X-Amzn-Requestid", "BENCH0000000000000000000000000000000000000000000000")
	io.WriteString(w, `{"Item":{"pk":{"S":"agent-42"},"sk":{"S":"session#2026-11-26"},"count":{"N":"17"},"payload":{"S":"aGVsbG8gZ2F0ZWhvdXNlIGJlbmNobWFyayBwYXlsb2Fk"}}}`)
}

var (
	getItem     = []byte(`{"TableName":"bench","Key":{"pk":{"S":"agent-42"},"sk":{"S":"session#2026-11-26"}}}`)
	getItemHash = func() string { h := sha256.Sum256(getItem); return hex.EncodeToString(h[:]) }()
	signer      = v4.NewSigner()
)

type result struct {
	calls    int
	elapsed  time.Duration
	lat      []time.Duration
	errors   int
	firstErr error
}

func (r *result) rate() float64 { return float64(r.calls) / r.elapsed.Seconds() }
func (r *result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[min(len(r.lat)-1, int(float64(len(r.lat))*p))]
}

func measure(c *http.Client, creds aws.Credentials, conc int, dur time.Duration) *result {
	var mu sync.Mutex
	res := &result{}
	deadline := time.Now().Add(dur)
	start := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			var errs int
			var first error
			for time.Now().Before(deadline) {
				t0 := time.Now()
				err := call(c, creds)
				if err != nil {
					errs++
					if first == nil {
						first = err
					}
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			res.lat = append(res.lat, lat...)
			res.errors += errs
			if res.firstErr == nil {
				res.firstErr = first
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.calls = len(res.lat)
	slices.Sort(res.lat)
	return res
}

func us(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d.Microseconds())/1000) }

func cpuModel() string {
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
			}
		}
	}
	return "unknown CPU"
}

// preamble is the opening of BENCHMARKS.md for a run of the small or
// large workload (with the others in workloads).
func preamble(workloads map[string]bool, took time.Duration, idle, other float64) string {
	var ran []string
	for _, w := range []string{"small", "conns", "large", "mask", "idle", "held"} {
		if workloads[w] {
			ran = append(ran, w)
		}
	}
	return fmt.Sprintf(`# Benchmarks

Written by `+"`make bench`"+` on %s: %d cores, %s, %s, Linux lab namespaces
(gh-agent → gh-gw → gh-aws, veth). The clients, the upstreams and Gatehouse
share the same cores, so absolute figures understate every target; the
ratios are what to read. The run (%s) took %s with the lab up. Other work on
the machine: %.2f cores busy in the 2 s before the lab came up, and %.1f
CPU-seconds of busy time not charged to the bench or the lab's daemons
while the workloads ran (other processes, kernel threads).
`, time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), cpuModel(), runtime.Version(), strings.Join(ran, ", "), took, idle, other)
}

// largeSection is the large workload's section: its heading (which
// sectionKey knows by its end) and renderLarge's text.
func largeSection(large string, size int64) string {
	return fmt.Sprintf("## %s PUT and GET\n\n%s", sizeName(size), large)
}

// tally counts the outcomes of operations that should all succeed, keeping
// the first error.
type tally struct {
	ok, errs int
	first    error
}

func (t *tally) add(err error) {
	if err == nil {
		t.ok++
		return
	}
	t.errs++
	if t.first == nil {
		t.first = err
	}
}

// notMeasured closes BENCHMARKS.md.
const notMeasured = `Not measured (issue [6/6]): calls held for approval through the peers
(gatehouse-passthrough, squid, mitmproxy, goproxy-bare), which have no
approvals to hold a call for: the held workload runs through the lab's
Gatehouse only. Every other workload runs through every target.
`
