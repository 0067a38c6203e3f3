package main

// The idle workload: -idle-conns (10,000) TLS connections from gh-agent
// through each target of targets.go in turn, one signed call on each,
// then all left open and idle; the memory of the target's processes with
// all of them open and again 10 s later, and through the lab's Gatehouse
// its CPU and heap profiles, and a second run with Go's soft memory limit
// off.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/gatehouse/gatehouse/deploy/lab"
)

const (
	// idleSection is the workload's heading in BENCHMARKS.md (its start:
	// the count follows).
	idleSection = "## Idle keep-alive connections"
	// idleWait is how long the connections stay idle between the two
	// samples; Gatehouse closes an idle agent connection after
	// intercept.timeouts.idle (90 s in the lab), so everything, the
	// opening included, has to fit well inside that.
	idleWait = 10 * time.Second
	// idleOpeners open connections in parallel (each dial locks an OS
	// thread while it enters gh-agent). More than the upstream pool's 64,
	// so the pool's cap shows.
	idleOpeners = 128
	// The target: 10k idle connections in at most 1 GiB.
	idleTargetBytes = 1 << 30
	// nofile is the file-descriptor limit the bench sets for itself: the
	// direct run holds both ends of every connection in this process.
	nofile = 65536
)

// benchUpstream is the bench's own DynamoDB-like HTTPS server on
// lab.AWSIP2, 443 (captured: reached through Gatehouse) and 8443 (not
// captured: direct), in the bench's process (the held workload's; the
// idle workload's is startUpstreamChild's). It counts the calls by
// X-Amz-Target.
type benchUpstream struct {
	srv   *http.Server
	mu    sync.Mutex
	calls map[string]int
}

func startBenchUpstream(root string) (*benchUpstream, error) {
	cert, err := lab.PublicLeaf(root, benchHost)
	if err != nil {
		return nil, err
	}
	u := &benchUpstream{calls: map[string]int{}}
	u.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u.mu.Lock()
			u.calls[r.Header.Get("X-Amz-Target")]++
			u.mu.Unlock()
			dynamoLike(w, r)
		}),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{*cert}},
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	for _, port := range []string{"443", "8443"} {
		ln, err := lab.Listen(lab.NSAWS, lab.AWSIP2+":"+port)
		if err != nil {
			u.srv.Close()
			return nil, err
		}
		go u.srv.ServeTLS(ln, "", "")
	}
	return u, nil
}

func (u *benchUpstream) callsOf(target string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls[target]
}

func (u *benchUpstream) Close() error { return u.srv.Close() }

// raiseNofile raises this process's file-descriptor limit to need, or
// says why it cannot: the hard limit stays where it is without
// CAP_SYS_RESOURCE (Go already raises the soft limit to it at start).
func raiseNofile(need int) error {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return err
	}
	if l.Cur >= uint64(need) {
		return nil
	}
	want := l
	want.Cur, want.Max = uint64(max(need, nofile)), max(l.Max, uint64(max(need, nofile)))
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err == nil {
		return nil
	}
	if l.Max >= uint64(need) {
		l.Cur = l.Max
		return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
	return fmt.Errorf("%d file descriptors needed, and RLIMIT_NOFILE's hard limit is %d (raising it needs CAP_SYS_RESOURCE)", need, l.Max)
}

// upstreamEnv, set in the environment of the bench's own executable,
// makes it serve the direct upstream of the idle workload on the address
// it names, in gh-aws, and nothing else (main calls serveUpstream). In a
// process of its own, the server's ends of the direct connections do not
// count against the bench's descriptors.
const upstreamEnv = "GATEHOUSE_BENCH_UPSTREAM"

// serveUpstream is the child: dynamoLike on addr in gh-aws, with a
// certificate from the lab's public CA; "ready" on stdout once it
// listens; it serves until killed.
func serveUpstream(addr string) error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	cert, err := lab.PublicLeaf(root, benchHost)
	if err != nil {
		return err
	}
	ln, err := lab.Listen(lab.NSAWS, addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(dynamoLike), TLSConfig: &tls.Config{Certificates: []tls.Certificate{*cert}}, ErrorLog: log.New(io.Discard, "", 0)}
	fmt.Println("ready")
	return srv.ServeTLS(ln, "", "")
}

// startUpstreamChild starts serveUpstream on addr in a child process and
// waits until it listens; stop kills it.
func startUpstreamChild(root, addr string) (stop func(), err error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Dir, cmd.Env, cmd.Stderr = root, append(os.Environ(), upstreamEnv+"="+addr), os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop = func() { cmd.Process.Kill(); cmd.Wait() }
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		stop()
		return nil, fmt.Errorf("the direct upstream (pid %d) did not start: %q %v", cmd.Process.Pid, line, err)
	}
	return stop, nil
}

// tcpStates summarises the TCP sockets in namespace ns by state and ports
// ("ESTAB :443 → :eph 5, ...").
func tcpStates(ns string) string {
	out, err := exec.Command("ip", "netns", "exec", ns, "ss", "-Htan").Output()
	if err != nil {
		return err.Error()
	}
	n := map[string]int{}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) < 5 {
			continue
		}
		n[f[0]+" "+portOf(f[3])+" → "+portOf(f[4])]++
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(n)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, n[k]))
	}
	return strings.Join(parts, ", ")
}

// portOf is ":port" of an address ss prints, ":eph" for ports in
// Linux's default ephemeral range.
func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	if p, err := strconv.Atoi(port); err == nil && p >= 32768 {
		return ":eph"
	}
	return ":" + port
}

// establishedAt counts the TCP connections established to addr inside
// gh-aws, whoever holds them.
func establishedAt(addr string) int64 {
	out, err := exec.Command("ip", "netns", "exec", lab.NSAWS, "ss", "-Htn", "state", "established", "src", addr).Output()
	if err != nil {
		return -1
	}
	return int64(strings.Count(string(out), "\n"))
}

// hostRegion is the region an AWS endpoint's name gives
// (dynamodb.us-east-1.amazonaws.com: us-east-1), for signing.
func hostRegion(host string) string {
	if f := strings.Split(host, "."); len(f) > 2 {
		return f[1]
	}
	return "us-east-1"
}

// idleConn is one agent connection, kept open between calls.
type idleConn struct {
	c    *tls.Conn
	br   *bufio.Reader
	last time.Time // end of the last call on it
}

// call sends one signed GetItem on the connection and reads the answer,
// which must be a 200 that keeps the connection open.
func (ic *idleConn) call(creds aws.Credentials) error {
	req, _ := http.NewRequest("POST", "https://"+benchHost+"/", bytes.NewReader(getItem))
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.GetItem")
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	if err := signer.SignHTTP(req.Context(), creds, req, getItemHash, "dynamodb", hostRegion(benchHost), time.Now()); err != nil {
		return err
	}
	ic.c.SetDeadline(time.Now().Add(30 * time.Second))
	defer ic.c.SetDeadline(time.Time{})
	if err := req.Write(ic.c); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	resp, err := http.ReadResponse(ic.br, req)
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	switch {
	case err != nil:
		return fmt.Errorf("body: %w", err)
	case resp.StatusCode != 200:
		return fmt.Errorf("status %d", resp.StatusCode)
	case resp.Close:
		return errors.New("the answer closes the connection")
	}
	ic.last = time.Now()
	return nil
}

// idleRun is what one target did.
type idleRun struct {
	t         *target
	name      string // the target's, or with what changed for the run
	err       error  // the target could not be measured
	opened    int
	openErrs  int
	firstErr  error
	openTook  time.Duration
	again     tally // second calls after the wait: ok is the connections that answered
	againTook time.Duration
	maxIdle   time.Duration // the longest a connection sat idle before its second call
	upOpen    int64         // upstream connections open, all open (upstreamConns)
	upAfter   int64         // the same, after the wait
	// The target's processes (treeMem; none for direct): before the
	// first connection, all open, after the wait, all closed; their CPU
	// seconds during the wait.
	before, open, after, closed gwSample
	procs                       []string
	cpuIdle                     float64
	// prof: the lab's Gatehouse, profiled over the wait.
	prof *idleProf
}

// idleProf is what the lab's Gatehouse says of itself over a run.
type idleProf struct {
	memLimit      string // Gatehouse's memory_limit, as the config gives it
	memLimitBytes int64  // 0: off or unknown
	heap          string // pprof -top of the heap after the wait
	cpuProf       string // pprof -top of a CPU profile over the wait
	gcs           int    // GC cycles during the wait
	memStats      map[string]float64
}

// gwSample is Gatehouse's memory and descriptors at one moment.
type gwSample struct {
	anon, rss  int64
	fds        int
	goroutines int
}

func sampleGW(pid int) gwSample {
	var s gwSample
	s.anon, _ = vm(pid, "RssAnon")
	s.rss, _ = vm(pid, "VmRSS")
	if des, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		s.fds = len(des)
	}
	s.goroutines = gwGoroutines()
	return s
}

// gwPprof fetches path from Gatehouse's pprof, from inside gh-gw.
func gwPprof(path string) ([]byte, error) {
	// A connection per fetch, closed after: one kept alive would count
	// among Gatehouse's descriptors and goroutines.
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{DialContext: lab.DialFrom(lab.NSGW, nil), DisableKeepAlives: true}}
	resp, err := hc.Get("http://" + pprofAddr + path)
	if err != nil {
		return nil, fmt.Errorf("%w (Gatehouse started without --pprof %s?)", err, pprofAddr)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("pprof %s: %s", path, resp.Status)
	}
	return b, err
}

// gwGoroutines is Gatehouse's goroutine count, -1 when pprof does not
// answer.
func gwGoroutines() int {
	b, err := gwPprof("/debug/pprof/goroutine?debug=1")
	if err != nil {
		return -1
	}
	var n int
	if _, err := fmt.Sscanf(string(b), "goroutine profile: total %d", &n); err != nil {
		return -1
	}
	return n
}

// memoryLimit is memory_limit in Gatehouse's config file, in words and
// bytes (0 when off or unknown).
func memoryLimit(file string) (string, int64) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "unknown (" + err.Error() + ")", 0
	}
	m := regexp.MustCompile(`(?m)^memory_limit:[ \t]*(-?[0-9]+)`).FindSubmatch(b)
	if m == nil {
		return "512 MiB (default)", 512 << 20 // cmd/gatehouse/config.go
	}
	v, _ := strconv.ParseInt(string(m[1]), 10, 64)
	if v < 0 {
		return "off", 0
	}
	return mib(v), v
}

// gwProfile fetches one of Gatehouse's pprof profiles (path), keeps it in
// the temporary directory as keep for `go tool pprof`, and returns its
// `go tool pprof -top` with args (header lines naming the file dropped).
func gwProfile(path, keep string, args ...string) (string, error) {
	b, err := gwPprof(path)
	if err != nil {
		return "", err
	}
	keep = filepath.Join(os.TempDir(), keep)
	if err := os.WriteFile(keep, b, 0o644); err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "bench: profile %s kept in %s\n", path, keep)
	goBin := os.Getenv("GO")
	if goBin == "" {
		goBin = "go"
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(goBin, append(append([]string{"tool", "pprof", "-top"}, args...), keep)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go tool pprof %v: %w: %s", args, err, stderr.String())
	}
	return keepTable(stdout.String()), nil
}

// heapTop is the top n entries of Gatehouse's in-use heap, after a GC,
// by flat bytes.
func heapTop(keep string, n int) (string, error) {
	return gwProfile("/debug/pprof/heap?gc=1", keep, "-sample_index=inuse_space", fmt.Sprintf("-nodecount=%d", n))
}

// gwMemStats reads fields of the runtime.MemStats Gatehouse's heap
// profile ends with in its text form ("# NumGC = 12"), -1 when absent.
func gwMemStats(fields ...string) map[string]float64 {
	got := map[string]float64{}
	for _, f := range fields {
		got[f] = -1
	}
	b, err := gwPprof("/debug/pprof/heap?debug=1")
	if err != nil {
		return got
	}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(strings.TrimPrefix(l, "# "), " = ")
		if _, want := got[k]; ok && want {
			var x float64
			if _, err := fmt.Sscan(v, &x); err == nil {
				got[k] = x
			}
		}
	}
	return got
}

// openIdle opens n connections through t from gh-agent, one call on
// each, idleOpeners at a time.
func openIdle(ctx context.Context, t *target, creds aws.Credentials, n int, r *idleRun) []*idleConn {
	conf := &tls.Config{RootCAs: t.roots, ServerName: benchHost, NextProtos: []string{"http/1.1"}}
	conns := make([]*idleConn, n)
	var mu sync.Mutex
	t0 := time.Now()
	forEach(n, idleOpeners, func(i int) {
		ic, err := func() (*idleConn, error) {
			dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			raw, err := t.tunnel(dctx, benchHost)
			if err != nil {
				return nil, err
			}
			tc := tls.Client(raw, conf)
			if err := tc.HandshakeContext(dctx); err != nil {
				raw.Close()
				return nil, fmt.Errorf("handshake: %w", err)
			}
			ic := &idleConn{c: tc, br: bufio.NewReaderSize(tc, 4096)}
			if err := ic.call(creds); err != nil {
				tc.Close()
				return nil, err
			}
			return ic, nil
		}()
		if err != nil {
			mu.Lock()
			r.openErrs++
			if r.firstErr == nil {
				r.firstErr = err
			}
			mu.Unlock()
			return
		}
		conns[i] = ic
	})
	r.openTook = time.Since(t0)
	var open []*idleConn
	for _, c := range conns {
		if c != nil {
			open = append(open, c)
		}
	}
	r.opened = len(open)
	return open
}

// callAgain makes a second call on every connection, oldest first, to
// show it was still open; it notes the longest any sat idle.
func callAgain(conns []*idleConn, creds aws.Credentials, r *idleRun) {
	var mu sync.Mutex
	t0 := time.Now()
	forEach(len(conns), idleOpeners, func(i int) {
		ic := conns[i]
		idle := time.Since(ic.last)
		err := ic.call(creds)
		mu.Lock()
		r.maxIdle = max(r.maxIdle, idle)
		r.again.add(err)
		mu.Unlock()
	})
	r.againTook = time.Since(t0)
}

// forEach runs fn(i) for every i below n on workers goroutines, each
// taking the next i, and returns when all are done.
func forEach(n, workers int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				fn(i)
			}
		}()
	}
	wg.Wait()
}

func closeAll(conns []*idleConn) {
	for _, c := range conns {
		c.c.Close()
	}
}

func runIdle(ctx context.Context, root string, n int) (string, error) {
	t0 := time.Now()
	// The clients' ends of every connection are here.
	if err := raiseNofile(n + 1000); err != nil {
		return "", fmt.Errorf("idle: %w", err)
	}
	gatehouseCA, err := lab.CertPool(filepath.Join(lab.Out(root), "gatehouse-ca.pem"))
	if err != nil {
		return "", err
	}
	creds, err := sessionCreds(ctx, lab.AgentDial(lab.AWSAddr), gatehouseCA, filepath.Join(lab.Out(root), "tokens/agent"))
	if err != nil {
		return "", err
	}
	// The upstream's ends are in child processes: a peer keeps an
	// upstream connection per agent connection, and direct has them all.
	for _, port := range []string{"443", "8443"} {
		stop, err := startUpstreamChild(root, lab.AWSIP2+":"+port)
		if err != nil {
			return "", fmt.Errorf("idle: %w", err)
		}
		defer stop()
	}
	ts, p, err := setUpTargets(root)
	defer p.close()
	if err != nil {
		return "", err
	}
	var runs []*idleRun
	var gw *idleRun // gatehouse-full, transparent: profiled
	for _, t := range ts {
		if t.err == nil {
			t.err = probe(t, creds)
		}
		r := &idleRun{t: t, name: t.name, err: t.err}
		if t.lab && t.reach == reachTransparent {
			gw = r
			r.prof = &idleProf{}
			r.prof.memLimit, r.prof.memLimitBytes = memoryLimit(filepath.Join(lab.Out(root), "gatehouse.yaml"))
		}
		if r.err == nil && t.lab {
			// A fresh lab Gatehouse for each of its runs: the heap an
			// earlier workload (or run) left would be reused, and the
			// connections' cost would not show. It decides with the
			// generated policy still in out/.
			creds, r.err = restartGatehouse(ctx, root, ts)
		}
		if r.err == nil {
			waitQuiet()
			r.err = idleThrough(ctx, r, n, creds, r == gw)
		}
		if r.err != nil {
			fmt.Fprintf(os.Stderr, "bench: idle, %s: %v\n", r.name, r.err)
		}
		runs = append(runs, r)
	}
	// Again through gatehouse-full, transparent, with Go's soft memory
	// limit off, to tell the collector's share of the idle CPU; the lab's
	// Gatehouse is restarted for it, and again after it with its own
	// config.
	var off *idleRun
	if gw != nil && gw.err == nil {
		const cfg = "gatehouse-bench-idle.yaml"
		restore, err := withConfig(root, cfg, func(cfg []byte) ([]byte, error) {
			if memLimitKey.Match(cfg) {
				return memLimitKey.ReplaceAll(cfg, []byte("memory_limit: -1")), nil
			}
			return append(cfg, "memory_limit: -1   # make bench (idle workload)\n"...), nil
		})
		if err != nil {
			return "", fmt.Errorf("idle: %w", err)
		}
		t := *gw.t
		off = &idleRun{t: &t, name: t.name + ", memory_limit -1", prof: &idleProf{}}
		off.prof.memLimit, off.prof.memLimitBytes = memoryLimit(filepath.Join(lab.Out(root), cfg))
		if t.pid, off.err = gatehousePID(root); off.err == nil {
			creds, off.err = sessionCreds(ctx, lab.AgentDial(lab.AWSAddr), gatehouseCA, filepath.Join(lab.Out(root), "tokens/agent"))
		}
		if off.err == nil {
			waitQuiet()
			off.err = idleThrough(ctx, off, n, creds, false)
		}
		restore()
		if off.err != nil {
			fmt.Fprintf(os.Stderr, "bench: idle, %s: %v\n", off.name, off.err)
		}
		runs = append(runs, off)
	}
	p.close()
	return renderIdle(n, runs, gw, off, time.Since(t0).Round(time.Second)), nil
}

var memLimitKey = regexp.MustCompile(`(?m)^memory_limit:.*$`)

// restartGatehouse restarts the lab's Gatehouse with its config (gw.sh),
// points the targets that are it at the new process, and returns session
// credentials the new process issued.
func restartGatehouse(ctx context.Context, root string, ts []*target) (aws.Credentials, error) {
	if err := errors.Join(lab.Script(root, "gw.sh", "stop"), lab.Script(root, "gw.sh", "start")); err != nil {
		return aws.Credentials{}, fmt.Errorf("restarting the lab's Gatehouse: %w", err)
	}
	pid, err := gatehousePID(root)
	if err != nil {
		return aws.Credentials{}, err
	}
	for _, t := range ts {
		if t.lab {
			t.pid = pid
		}
	}
	gatehouseCA, err := lab.CertPool(filepath.Join(lab.Out(root), "gatehouse-ca.pem"))
	if err != nil {
		return aws.Credentials{}, err
	}
	return sessionCreds(ctx, lab.AgentDial(lab.AWSAddr), gatehouseCA, filepath.Join(lab.Out(root), "tokens/agent"))
}

// upstreamConns counts the connections to the bench's upstream that the
// target holds: for direct, those established at its port 8443, whoever
// holds them (the bench); for a gateway, those established from gh-gw
// to 10.77.2.3:443 by the target's processes (ss -p), so that another
// gateway's idle pool does not count.
func upstreamConns(t *target) int64 {
	if t.pid == 0 {
		return establishedAt(lab.AWSIP2 + ":8443")
	}
	out, err := exec.Command("ip", "netns", "exec", lab.NSGW, "ss", "-Htnp", "state", "established", "dst", lab.AWSIP2+":443").Output()
	if err != nil {
		return -1
	}
	ours := map[string]bool{strconv.Itoa(t.pid): true}
	for _, d := range descendants(t.pid) {
		ours[strconv.Itoa(d)] = true
	}
	var n int64
	for _, l := range strings.Split(string(out), "\n") {
		for _, m := range ssPID.FindAllStringSubmatch(l, -1) {
			if ours[m[1]] {
				n++
				break
			}
		}
	}
	return n
}

var ssPID = regexp.MustCompile(`pid=([0-9]+)`)

// idleThrough opens n connections through r's target, leaves them idle
// for idleWait (under a CPU profile when r.prof is set: the lab's
// Gatehouse), samples the target's memory, profiles its heap (withHeap),
// makes a second call on each and closes them.
func idleThrough(ctx context.Context, r *idleRun, n int, creds aws.Credentials, withHeap bool) error {
	t, g := r.t, r.prof
	sample := func() gwSample {
		if t.pid == 0 {
			return gwSample{goroutines: -1}
		}
		s, procs := treeMem(t.pid)
		if len(procs) > len(r.procs) {
			r.procs = procs
		}
		if t.lab {
			s.goroutines = gwGoroutines()
		}
		return s
	}
	r.before = sample()
	conns := openIdle(ctx, t, creds, n, r)
	if r.opened == 0 {
		return fmt.Errorf("no connection opened: %v", r.firstErr)
	}
	defer closeAll(conns)
	r.open = sample()
	r.upOpen = upstreamConns(t)
	fmt.Fprintf(os.Stderr, "bench: idle, %s: %d of %d open in %.1fs (%d failed: %v); RssAnon %s → %s, VmRSS %s → %s, fds %d → %d, goroutines %d → %d; upstream connections open %d\n",
		r.name, r.opened, n, r.openTook.Seconds(), r.openErrs, r.firstErr, mib(r.before.anon), mib(r.open.anon), mib(r.before.rss), mib(r.open.rss),
		r.before.fds, r.open.fds, r.before.goroutines, r.open.goroutines, r.upOpen)
	cpu0 := procTreeCPU(t.pid)
	if g != nil {
		// The wait is a CPU profile of Gatehouse: what it does while
		// nothing is asked of it.
		ms0 := gwMemStats("NumGC")
		name := "gatehouse-bench-idle-cpu.pprof"
		if !withHeap {
			name = "gatehouse-bench-idle-nolimit-cpu.pprof"
		}
		var err error
		if g.cpuProf, err = gwProfile(fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(idleWait.Seconds())), name, "-nodecount=12"); err != nil {
			return fmt.Errorf("CPU profile: %w", err)
		}
		ms1 := gwMemStats("NumGC", "HeapAlloc", "HeapInuse", "Stack", "Sys")
		g.gcs, g.memStats = int(ms1["NumGC"]-ms0["NumGC"]), ms1
	} else {
		time.Sleep(idleWait)
	}
	r.cpuIdle = procTreeCPU(t.pid) - cpu0
	r.after = sample()
	r.upAfter = upstreamConns(t)
	fmt.Fprintf(os.Stderr, "bench: idle, %s: after %s idle: RssAnon %s, VmRSS %s, fds %d, goroutines %d, CPU %.2fs; upstream connections open %d\n",
		r.name, idleWait, mib(r.after.anon), mib(r.after.rss), r.after.fds, r.after.goroutines, r.cpuIdle, r.upAfter)
	if g != nil && withHeap {
		var err error
		if g.heap, err = heapTop("gatehouse-bench-idle-heap.pprof", 15); err != nil {
			return fmt.Errorf("heap profile: %w", err)
		}
	}
	callAgain(conns, creds, r)
	closeAll(conns)
	// The target sees the closes as they come; give it a moment.
	for i := 0; i < 100 && t.pid != 0 && sample().fds > r.before.fds+int(r.upAfter)+r.opened/100; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	r.closed = sample()
	fmt.Fprintf(os.Stderr, "bench: idle, %s: a second call answered on %d of %d (%d failed: %v; longest idle before it %.1fs); closed: RssAnon %s, VmRSS %s, fds %d, goroutines %d; TCP sockets in %s: %s\n",
		r.name, r.again.ok, r.opened, r.again.errs, r.again.first, r.maxIdle.Seconds(), mib(r.closed.anon), mib(r.closed.rss), r.closed.fds, r.closed.goroutines,
		lab.NSGW, tcpStates(lab.NSGW))
	return nil
}

// withConfig restarts the lab's Gatehouse with a copy of
// out/gatehouse.yaml that edit changed, as out/name (gw.sh's
// GATEHOUSE_CONFIG), checked first; restore restarts it with the lab's.
func withConfig(root, name string, edit func([]byte) ([]byte, error)) (restore func(), err error) {
	out := lab.Out(root)
	cfg, err := os.ReadFile(filepath.Join(out, "gatehouse.yaml"))
	if err != nil {
		return nil, err
	}
	if cfg, err = edit(cfg); err != nil {
		return nil, err
	}
	file := filepath.Join(out, name)
	if err := os.WriteFile(file, cfg, 0o600); err != nil {
		return nil, err
	}
	if b, err := exec.Command(filepath.Join(out, "bin/gatehouse"), "config", "check", file).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("gatehouse config check %s: %v: %s", file, err, b)
	}
	restore = func() {
		os.Unsetenv("GATEHOUSE_CONFIG")
		err := errors.Join(lab.Script(root, "gw.sh", "stop"), lab.Script(root, "gw.sh", "start"))
		os.Remove(file)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: restarting the lab's Gatehouse with its own config: %v\n", err)
		}
	}
	if err := lab.Script(root, "gw.sh", "stop"); err != nil {
		return nil, err
	}
	os.Setenv("GATEHOUSE_CONFIG", file)
	err = lab.Script(root, "gw.sh", "start")
	os.Unsetenv("GATEHOUSE_CONFIG")
	if err != nil {
		restore()
		return nil, err
	}
	return restore, nil
}

func renderIdle(n int, runs []*idleRun, gw, off *idleRun, took time.Duration) string {
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	measured := func(r *idleRun) bool { return r != nil && r.err == nil && r.opened > 0 }
	per := func(r *idleRun, a, b int64) string {
		if !measured(r) || r.t.pid == 0 {
			return "—"
		}
		return fmt.Sprintf("%.1f KiB", float64(b-a)/1024/float64(r.opened))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%d)\n\n", idleSection, n)
	fmt.Fprintf(&b, `Run on %s: %d cores, %s, with the lab up (this section is rewritten
alone by `+"`go run ./bench -workloads idle`"+`; the workload took %s).
Through every target of the small-call workload in turn, from gh-agent,
%d TLS connections (%d opened in parallel; through a proxy, each its own
CONNECT %s:443), each with one SigV4-signed GetItem (session
credentials from Gatehouse's STS) whose 200 keeps it open, then all left
idle for %s. The target's processes' memory is sampled before the
first, when all are open, after the wait and once all are closed
(/proc/<pid>/status of the process and its children, each summed:
RssAnon is anonymous memory, heap and stacks, Badger's tables for
Gatehouse; VmRSS adds mapped files, the record store's among them, and
the shared libraries, counted once per process); their CPU time over the
wait. A second call on every connection, oldest first, shows it was
still open (Gatehouse closes agent connections idle for
intercept.timeouts.idle, 90 s), and all are closed. The peers and
gatehouse-passthrough are started for the workload, and the lab's
Gatehouse (gatehouse-full, deciding with the generated 200-rule policy)
is restarted before each of its runs, so that every target starts from
a fresh process: the heap an earlier run left would otherwise be reused
and the connections' cost would not show. Through gatehouse-full,
transparent, a CPU profile runs over the wait and its in-use heap is
profiled after it; then the same again with Gatehouse
restarted with memory_limit -1 (Go's soft memory limit off; the lab's
config leaves the default), and the lab's config restored. The upstream
is the bench's DynamoDB-like server on %s, in child processes of the
bench: through the gateways on 443, direct on 8443 (the bench holds the
clients' ends). Every process here may have %d open files (RLIMIT_NOFILE's
hard limit, which cannot be raised without CAP_SYS_RESOURCE): a proxy
that keeps an upstream connection per agent connection needs two per
connection. The bench waits (up to %s) for other processes to use under
%.1f cores before each target.

`, time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), cpuModel(), took, n, idleOpeners, benchHost, idleWait, lab.AWSIP2, lim.Max, quietWait, quietCores)
	fmt.Fprintf(&b, "| target | how the client reaches it | connections open | opening took | second call answered | longest idle before it | upstream connections it holds: all open / after %s | note |\n|---|---|---:|---:|---:|---:|---:|---|\n", idleWait)
	for _, r := range runs {
		var notes []string
		if r.err != nil {
			notes = append(notes, "error: "+oneLine(r.err.Error()))
		}
		if r.openErrs > 0 {
			notes = append(notes, fmt.Sprintf("%d failed to open, first: %s", r.openErrs, oneLine(fmt.Sprint(r.firstErr))))
		}
		if r.again.errs > 0 {
			notes = append(notes, fmt.Sprintf("%d second calls failed, first: %s", r.again.errs, oneLine(fmt.Sprint(r.again.first))))
		}
		if !measured(r) {
			fmt.Fprintf(&b, "| %s | %s | — | — | — | — | — | %s |\n", r.name, r.t.how(), strings.Join(notes, "; "))
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %d of %d | %.1f s | %d of %d | %.1f s | %d / %d | %s |\n", r.name, r.t.how(), r.opened, n, r.openTook.Seconds(),
			r.again.ok, r.opened, r.maxIdle.Seconds(), r.upOpen, r.upAfter, strings.Join(notes, "; "))
	}
	b.WriteString("\n| target | processes summed | RssAnon: before · all open · after the wait · all closed | VmRSS: before · all open · after the wait · all closed | per connection (all open, less before): RssAnon · VmRSS | open fds, all open | goroutines, all open | CPU during the wait |\n|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range runs {
		if !measured(r) || r.t.pid == 0 {
			what := "— (no process of its own)"
			if !measured(r) {
				what = "not measured"
			}
			fmt.Fprintf(&b, "| %s | %s | — | — | — | — | — | — |\n", r.name, what)
			continue
		}
		gor := "—"
		if r.open.goroutines >= 0 {
			gor = strconv.Itoa(r.open.goroutines)
		}
		fmt.Fprintf(&b, "| %s | %s | %s · %s · %s · %s | %s · %s · %s · %s | %s · %s | %d | %s | %.2f s (%.2f cores) |\n", r.name, procNames(r.procs),
			mib(r.before.anon), mib(r.open.anon), mib(r.after.anon), mib(r.closed.anon),
			mib(r.before.rss), mib(r.open.rss), mib(r.after.rss), mib(r.closed.rss),
			per(r, r.before.anon, r.open.anon), per(r, r.before.rss, r.open.rss), r.open.fds, gor, r.cpuIdle, r.cpuIdle/idleWait.Seconds())
	}

	b.WriteString("\n### The issue's target for Gatehouse\n\n")
	for _, r := range runs {
		if !r.t.gatehouse() || r == off {
			continue
		}
		if !measured(r) {
			fmt.Fprintf(&b, "- %s: %d idle connections ≤ 1 GiB RSS: not measured — DOES NOT HOLD\n", r.name, n)
			continue
		}
		peak := max(r.open.rss, r.after.rss)
		ok := r.opened == n && r.again.ok == n && peak <= idleTargetBytes
		fmt.Fprintf(&b, "- %s: %d idle connections ≤ 1 GiB RSS: VmRSS %s at most (RssAnon %s) with %d open, %d still open after the wait — %s\n",
			r.name, n, mib(peak), mib(max(r.open.anon, r.after.anon)), r.opened, r.again.ok, holdsOrNot(ok))
	}
	if measured(off) {
		fmt.Fprintf(&b, "- (%s is a diagnostic run, not a configuration to ship: VmRSS %s at most, RssAnon %s.)\n",
			off.name, mib(max(off.open.rss, off.after.rss)), mib(max(off.open.anon, off.after.anon)))
	}

	var pooled, own []string
	for _, r := range runs {
		if !measured(r) || r.t.pid == 0 {
			continue
		}
		what := fmt.Sprintf("%s (%d for %d)", r.name, r.upOpen, r.opened)
		if r.upOpen*10 >= int64(r.opened)*9 {
			own = append(own, what)
		} else {
			pooled = append(pooled, what)
		}
	}
	b.WriteString(`
Upstream connections: the table counts the connections to 10.77.2.3:443
the target's processes held in gh-gw (ss -p), and for direct those open
at the upstream's 8443. Gatehouse's upstream transport keeps at most
intercept.upstream.max_idle_conns_per_host (64 by default) idle
connections per host, goproxy-bare's at most 256 (its
MaxIdleConnsPerHost).`)
	if len(pooled) > 0 {
		fmt.Fprintf(&b, " With all agent connections open, these held far fewer upstream connections than agent connections, an idle agent connection costing them its agent side only: %s.", strings.Join(pooled, ", "))
	}
	if len(own) > 0 {
		fmt.Fprintf(&b, " These held about one upstream connection per agent connection: %s.", strings.Join(own, ", "))
	}
	b.WriteString("\n")

	if measured(gw) && measured(off) {
		b.WriteString("\nWhile the connections sat idle, gatehouse-full (transparent)")
		for i, r := range []*idleRun{gw, off} {
			g, ms := r.prof, r.prof.memStats
			sep := " with memory_limit "
			if i > 0 {
				sep = "; with memory_limit "
			}
			fmt.Fprintf(&b, "%s%s used %.2f CPU-seconds in %s (%.2f cores) and ran %d GC cycles, its Go heap holding %s after the wait (HeapAlloc; HeapInuse %s) and goroutine stacks %s",
				sep, g.memLimit, r.cpuIdle, idleWait, r.cpuIdle/idleWait.Seconds(), g.gcs, mib(int64(ms["HeapAlloc"])), mib(int64(ms["HeapInuse"])), mib(int64(ms["Stack"])))
		}
		b.WriteString(".")
		g := gw.prof
		if g.memLimitBytes > 0 && g.memStats["HeapAlloc"] > float64(g.memLimitBytes) && gw.cpuIdle > 0.2*idleWait.Seconds() && off.cpuIdle < gw.cpuIdle/2 {
			fmt.Fprintf(&b, ` With the lab's config the connections' live heap and stacks are over
Go's soft memory limit, so the collector runs cycle after cycle (%.0f a
second), each scanning %d goroutine stacks and the connections' buffers,
with nothing to free: an idle gateway with this many connections keeps
%.1f cores busy (the CPU profile below is the collector's). The limit
suits the transient heap of large calls, not the steady heap of many idle
connections. Off, the collector rests, but what the opening left behind
stays until the heap doubles: VmRSS %s after the wait.`,
				float64(g.gcs)/idleWait.Seconds(), gw.after.goroutines, gw.cpuIdle/idleWait.Seconds(), mib(off.after.rss))
		}
		fmt.Fprintf(&b, "\n\nCPU profile of gatehouse-full over the wait, lab config (net/http/pprof, %s), `go tool pprof -top`, top 12:\n\n```\n%s```\n", idleWait, g.cpuProf)
		fmt.Fprintf(&b, "\nThe same with memory_limit -1:\n\n```\n%s```\n", tableOnly(off.prof.cpuProf))
		fmt.Fprintf(&b, "\nGatehouse's in-use heap after the wait, lab config (net/http/pprof heap?gc=1, `go tool pprof -top -sample_index=inuse_space`), top 15:\n\n```\n%s```\n", g.heap)
	}
	return b.String()
}
