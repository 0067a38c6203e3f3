package main

// The idle workload: -idle-conns (10,000) TLS connections from gh-agent
// through Gatehouse, one signed call on each, then all left open and idle;
// Gatehouse's memory with all of them open and again 10 s later, its heap
// profile, and the same connections direct for comparison.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
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
// captured: direct). It counts the connections open on each port and the
// calls by X-Amz-Target.
type benchUpstream struct {
	srv   *http.Server
	open  sync.Map // local port → *atomic.Int64
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
		ConnState: func(c net.Conn, st http.ConnState) {
			n := u.counter(c.LocalAddr())
			switch st {
			case http.StateNew:
				n.Add(1)
			case http.StateClosed, http.StateHijacked:
				n.Add(-1)
			}
		},
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

func (u *benchUpstream) counter(a net.Addr) *atomic.Int64 {
	port := 0
	if ta, ok := a.(*net.TCPAddr); ok {
		port = ta.Port
	}
	n, _ := u.open.LoadOrStore(port, new(atomic.Int64))
	return n.(*atomic.Int64)
}

// openConns is how many connections are open on port (443: Gatehouse's
// upstream connections; 8443: the direct clients').
func (u *benchUpstream) openConns(port int) int64 {
	return u.counter(&net.TCPAddr{Port: port}).Load()
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

// idleRun is what one target (direct or Gatehouse) did.
type idleRun struct {
	target     string
	opened     int
	openErrs   int
	firstErr   error
	openTook   time.Duration
	again      int // connections that answered a second call after the wait
	againErrs  int
	againFirst error
	againTook  time.Duration
	maxIdle    time.Duration // the longest a connection sat idle before its second call
	upOpen     int64         // connections open at the upstream on the target's port, all open
	upAfter    int64         // the same, after the wait
	// Gatehouse only.
	gw *idleGW
}

// idleGW is Gatehouse's side of a run.
type idleGW struct {
	before, open, after, closed gwSample
	cpuIdle                     float64 // CPU seconds during the wait
	memLimit                    string  // Gatehouse's memory_limit, as the config gives it
	memLimitBytes               int64   // 0: off or unknown
	heap                        string  // pprof -top of the heap after the wait
	cpuProf                     string  // pprof -top of a CPU profile over the wait
	gcs                         int     // GC cycles during the wait
	memStats                    map[string]float64
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
		return "128 MiB (default)", 128 << 20
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

// openIdle opens n connections to addr from gh-agent, one call on each,
// idleOpeners at a time.
func openIdle(ctx context.Context, addr string, roots *x509.CertPool, creds aws.Credentials, n int, r *idleRun) []*idleConn {
	dial := lab.AgentDial(func(string) string { return addr })
	conf := &tls.Config{RootCAs: roots, ServerName: benchHost, NextProtos: []string{"http/1.1"}}
	conns := make([]*idleConn, n)
	var next atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	t0 := time.Now()
	for range idleOpeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				ic, err := func() (*idleConn, error) {
					dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
					defer cancel()
					raw, err := dial(dctx, "tcp", addr)
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
					continue
				}
				conns[i] = ic
			}
		}()
	}
	wg.Wait()
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
	var next atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	t0 := time.Now()
	for range idleOpeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(conns) {
					return
				}
				ic := conns[i]
				idle := time.Since(ic.last)
				err := ic.call(creds)
				mu.Lock()
				r.maxIdle = max(r.maxIdle, idle)
				if err != nil {
					r.againErrs++
					if r.againFirst == nil {
						r.againFirst = err
					}
				} else {
					r.again++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	r.againTook = time.Since(t0)
}

func closeAll(conns []*idleConn) {
	for _, c := range conns {
		c.c.Close()
	}
}

func runIdle(ctx context.Context, root string, n int) (string, error) {
	t0 := time.Now()
	// Connections through Gatehouse leave one descriptor each here; the
	// direct ones too, their upstream ends being in a child process.
	if err := raiseNofile(n + 1000); err != nil {
		return "", fmt.Errorf("idle: %w", err)
	}
	up, err := startBenchUpstream(root)
	if err != nil {
		return "", err
	}
	defer up.Close()
	publicCA, err := lab.CertPool(filepath.Join(lab.Out(root), "pki/public-ca.pem"))
	if err != nil {
		return "", err
	}
	gw, err := idleThrough(ctx, root, "gatehouse (transparent)", "gatehouse.yaml", n, up, true)
	if err != nil {
		return "", err
	}
	// Again with Go's soft memory limit off, to tell the collector's
	// share of the idle CPU.
	restore, err := withConfig(root, "gatehouse-bench-idle.yaml", func(cfg []byte) ([]byte, error) {
		if memLimitKey.Match(cfg) {
			return memLimitKey.ReplaceAll(cfg, []byte("memory_limit: -1")), nil
		}
		return append(cfg, "memory_limit: -1   # make bench (idle workload)\n"...), nil
	})
	if err != nil {
		return "", fmt.Errorf("idle: %w", err)
	}
	off, err := idleThrough(ctx, root, "gatehouse (transparent), memory_limit -1", "gatehouse-bench-idle.yaml", n, up, false)
	restore()
	if err != nil {
		return "", err
	}

	// Direct, for comparison: the same connections to a server like the
	// bench's on 8443 (not captured), in a child process.
	gatehouseCA, err := lab.CertPool(filepath.Join(lab.Out(root), "gatehouse-ca.pem"))
	if err != nil {
		return "", err
	}
	creds, err := sessionCreds(ctx, lab.AgentDial(lab.AWSAddr), gatehouseCA, filepath.Join(lab.Out(root), "tokens/agent"))
	if err != nil {
		return "", err
	}
	directAddr := lab.AWSIP2 + ":8443"
	up.Close() // its 8443 listener
	stop, err := startUpstreamChild(root, directAddr)
	if err != nil {
		return "", fmt.Errorf("idle: %w", err)
	}
	defer stop()
	direct := &idleRun{target: "direct"}
	conns := openIdle(ctx, directAddr, publicCA, creds, n, direct)
	direct.upOpen = establishedAt(directAddr)
	time.Sleep(idleWait)
	direct.upAfter = establishedAt(directAddr)
	callAgain(conns, creds, direct)
	closeAll(conns)
	fmt.Fprintf(os.Stderr, "bench: idle, direct: %d of %d open in %.1fs (%d failed: %v), %d open at the upstream, %d after %s; a second call answered on %d (%d failed: %v)\n",
		direct.opened, n, direct.openTook.Seconds(), direct.openErrs, direct.firstErr, direct.upOpen, direct.upAfter, idleWait, direct.again, direct.againErrs, direct.againFirst)
	return renderIdle(n, gw, off, direct, time.Since(t0).Round(time.Second)), nil
}

var memLimitKey = regexp.MustCompile(`(?m)^memory_limit:.*$`)

// idleThrough opens n connections through the lab's Gatehouse (running
// with config, a file in out/), leaves them idle for idleWait under a CPU
// profile, samples Gatehouse's memory, profiles its heap (withHeap), makes
// a second call on each and closes them.
func idleThrough(ctx context.Context, root, target, config string, n int, up *benchUpstream, withHeap bool) (*idleRun, error) {
	gatehouseCA, err := lab.CertPool(filepath.Join(lab.Out(root), "gatehouse-ca.pem"))
	if err != nil {
		return nil, err
	}
	pid, err := gatehousePID(root)
	if err != nil {
		return nil, err
	}
	creds, err := sessionCreds(ctx, lab.AgentDial(lab.AWSAddr), gatehouseCA, filepath.Join(lab.Out(root), "tokens/agent"))
	if err != nil {
		return nil, err
	}
	gw := &idleRun{target: target, gw: &idleGW{}}
	g := gw.gw
	g.memLimit, g.memLimitBytes = memoryLimit(filepath.Join(lab.Out(root), config))
	g.before = sampleGW(pid)
	conns := openIdle(ctx, lab.AWSIP2+":443", gatehouseCA, creds, n, gw)
	if gw.opened == 0 {
		return nil, fmt.Errorf("idle, %s: no connection opened: %v", gw.target, gw.firstErr)
	}
	defer closeAll(conns)
	g.open = sampleGW(pid)
	gw.upOpen = up.openConns(443)
	fmt.Fprintf(os.Stderr, "bench: idle, %s: %d of %d open in %.1fs (%d failed: %v); Gatehouse RssAnon %s → %s, VmRSS %s → %s, fds %d → %d, goroutines %d → %d; upstream connections open %d\n",
		gw.target, gw.opened, n, gw.openTook.Seconds(), gw.openErrs, gw.firstErr, mib(g.before.anon), mib(g.open.anon), mib(g.before.rss), mib(g.open.rss),
		g.before.fds, g.open.fds, g.before.goroutines, g.open.goroutines, gw.upOpen)
	// The wait is a CPU profile of Gatehouse: what it does while nothing
	// is asked of it.
	ms0 := gwMemStats("NumGC")
	cpu := startCPU(pid)
	name := "gatehouse-bench-idle-cpu.pprof"
	if !withHeap {
		name = "gatehouse-bench-idle-nolimit-cpu.pprof"
	}
	g.cpuProf, err = gwProfile(fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(idleWait.Seconds())), name, "-nodecount=12")
	g.cpuIdle, _ = cpu()
	if err != nil {
		return nil, fmt.Errorf("idle: CPU profile: %w", err)
	}
	ms1 := gwMemStats("NumGC", "HeapAlloc", "HeapInuse", "Stack", "Sys")
	g.gcs, g.memStats = int(ms1["NumGC"]-ms0["NumGC"]), ms1
	g.after = sampleGW(pid)
	gw.upAfter = up.openConns(443)
	fmt.Fprintf(os.Stderr, "bench: idle, %s: after %s idle: RssAnon %s, VmRSS %s, fds %d, goroutines %d, CPU %.2fs, %d GC cycles (MemStats %v); upstream connections open %d\n",
		gw.target, idleWait, mib(g.after.anon), mib(g.after.rss), g.after.fds, g.after.goroutines, g.cpuIdle, g.gcs, g.memStats, gw.upAfter)
	if withHeap {
		if g.heap, err = heapTop("gatehouse-bench-idle-heap.pprof", 15); err != nil {
			return nil, fmt.Errorf("idle: heap profile: %w", err)
		}
	}
	callAgain(conns, creds, gw)
	closeAll(conns)
	// Gatehouse sees the closes as they come; give it a moment.
	for i := 0; i < 100 && sampleGW(pid).fds > g.before.fds+int(gw.upAfter)+gw.opened/100; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	g.closed = sampleGW(pid)
	fmt.Fprintf(os.Stderr, "bench: idle, %s: a second call answered on %d of %d (%d failed: %v; longest idle before it %.1fs); closed: RssAnon %s, VmRSS %s, fds %d, goroutines %d; TCP sockets in %s: %s\n",
		gw.target, gw.again, gw.opened, gw.againErrs, gw.againFirst, gw.maxIdle.Seconds(), mib(g.closed.anon), mib(g.closed.rss), g.closed.fds, g.closed.goroutines,
		lab.NSGW, tcpStates(lab.NSGW))
	return gw, nil
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

func renderIdle(n int, gw, off, direct *idleRun, took time.Duration) string {
	per := func(r *idleRun, a, b int64) string {
		if r.opened == 0 {
			return "—"
		}
		return fmt.Sprintf("%.1f KiB", float64(b-a)/1024/float64(r.opened))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%d)\n\n", idleSection, n)
	fmt.Fprintf(&b, `Run on %s: %d cores, %s, with the lab up (this section is rewritten
alone by `+"`go run ./bench -workloads idle`"+`; the workload took %s).
From gh-agent, %d TLS connections (%d opened in parallel), each with one
SigV4-signed GetItem (session credentials from Gatehouse's STS) whose 200
keeps it open, then all left idle for %s, during which a CPU profile of
Gatehouse runs. Gatehouse's memory is sampled before the first, when all
are open, and after the wait (/proc/<pid>/status: RssAnon is its heap,
stacks and Badger's tables; VmRSS adds mapped files, the record store's
among them); then its in-use heap is profiled. A second call on every
connection, oldest first, shows it was still open (Gatehouse closes agent
connections idle for intercept.timeouts.idle, 90 s), and all are closed.
Then the same again with Gatehouse restarted with memory_limit -1 (Go's
soft memory limit off; the lab's config leaves the default), and the lab's
config restored. The upstream is the bench's own DynamoDB-like server on
%s: through Gatehouse on 443 (captured); direct on 8443, from a child
process of the bench (the bench holds the clients' ends).

`, time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), cpuModel(), took, n, idleOpeners, idleWait, lab.AWSIP2)
	runs := []*idleRun{direct, gw, off}
	fmt.Fprintf(&b, "| target | connections open | opening took | second call answered | longest idle before it | upstream connections open: all open / after %s |\n|---|---:|---:|---:|---:|---:|\n", idleWait)
	for _, r := range runs {
		fmt.Fprintf(&b, "| %s | %d of %d | %.1f s | %d of %d | %.1f s | %d / %d |\n", r.target, r.opened, n, r.openTook.Seconds(), r.again, r.opened, r.maxIdle.Seconds(), r.upOpen, r.upAfter)
	}
	fmt.Fprintf(&b, "\n| Gatehouse, memory_limit | | RssAnon | VmRSS | open fds | goroutines |\n|---|---|---:|---:|---:|---:|\n")
	for _, r := range []*idleRun{gw, off} {
		g := r.gw
		for _, s := range []struct {
			what string
			s    gwSample
		}{{"before", g.before}, {fmt.Sprintf("%d open", r.opened), g.open}, {fmt.Sprintf("%d open, after %s idle", r.opened, idleWait), g.after}, {"all closed", g.closed}} {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %d | %d |\n", g.memLimit, s.what, mib(s.s.anon), mib(s.s.rss), s.s.fds, s.s.goroutines)
		}
		fmt.Fprintf(&b, "| %s | per connection, all open (less before) | %s | %s | | |\n", g.memLimit, per(r, g.before.anon, g.open.anon), per(r, g.before.rss, g.open.rss))
		fmt.Fprintf(&b, "| %s | per connection, after the wait (less before) | %s | %s | | |\n", g.memLimit, per(r, g.before.anon, g.after.anon), per(r, g.before.rss, g.after.rss))
	}
	g := gw.gw
	peak := max(g.open.rss, g.after.rss)
	verdict := "holds"
	if gw.opened < n || gw.again < n || peak > idleTargetBytes {
		verdict = "DOES NOT HOLD"
	}
	fmt.Fprintf(&b, "\nTarget (issue [6/6]): %d idle connections ≤ 1 GiB RSS, with the lab's config: VmRSS %s at most with %d open, %d still open after the wait — %s (with memory_limit -1: VmRSS %s at most).\n",
		n, mib(peak), gw.opened, gw.again, verdict, mib(max(off.gw.open.rss, off.gw.after.rss)))

	fmt.Fprintf(&b, `
Upstream connections: Gatehouse's upstream transport keeps at most
intercept.upstream.max_idle_conns_per_host (64 by default) idle
connections per host. With all %d agent connections open, %d upstream
connections were open at the bench's upstream, %d after the wait`, gw.opened, gw.upOpen, gw.upAfter)
	if gw.upAfter < int64(gw.opened) {
		b.WriteString(`: an
idle agent connection holds no upstream connection of its own; what it
costs Gatehouse is its agent side`)
	}
	b.WriteString(".")
	if direct.opened > 0 {
		fmt.Fprintf(&b, ` Direct, the bench holds the clients' ends: %d
opened, %d open at the upstream after the wait, %d answered a second call.`, direct.opened, direct.upAfter, direct.again)
	}
	b.WriteString("\n")
	for _, r := range runs {
		if r.openErrs > 0 || r.againErrs > 0 {
			fmt.Fprintf(&b, "\nFailures, %s: %d opening (first: %v), %d second calls (first: %v).\n", r.target, r.openErrs, r.firstErr, r.againErrs, r.againFirst)
		}
	}

	b.WriteString("\nWhile the connections sat idle, Gatehouse")
	for i, r := range []*idleRun{gw, off} {
		g, ms := r.gw, r.gw.memStats
		sep := " with memory_limit "
		if i > 0 {
			sep = "; with memory_limit "
		}
		fmt.Fprintf(&b, "%s%s used %.2f CPU-seconds in %s (%.2f cores) and ran %d GC cycles, its Go heap holding %s after the wait (HeapAlloc; HeapInuse %s) and goroutine stacks %s",
			sep, g.memLimit, g.cpuIdle, idleWait, g.cpuIdle/idleWait.Seconds(), g.gcs, mib(int64(ms["HeapAlloc"])), mib(int64(ms["HeapInuse"])), mib(int64(ms["Stack"])))
	}
	b.WriteString(".")
	if g.memLimitBytes > 0 && g.memStats["HeapAlloc"] > float64(g.memLimitBytes) && g.cpuIdle > 0.2*idleWait.Seconds() && off.gw.cpuIdle < g.cpuIdle/2 {
		fmt.Fprintf(&b, ` With the lab's config the connections' live heap and stacks are over
Go's soft memory limit, so the collector runs cycle after cycle (%.0f a
second), each scanning %d goroutine stacks and the connections' buffers,
with nothing to free: an idle gateway with this many connections keeps
%.1f cores busy (the CPU profile below is the collector's). The limit
suits the transient heap of large calls, not the steady heap of many idle
connections. Off, the collector rests, but what the opening left behind
stays until the heap doubles: VmRSS %s after the wait.`,
			float64(g.gcs)/idleWait.Seconds(), g.after.goroutines, g.cpuIdle/idleWait.Seconds(), mib(off.gw.after.rss))
	}
	fmt.Fprintf(&b, "\n\nCPU profile over the wait, lab config (net/http/pprof, %s), `go tool pprof -top`, top 12:\n\n```\n%s```\n", idleWait, g.cpuProf)
	fmt.Fprintf(&b, "\nThe same with memory_limit -1:\n\n```\n%s```\n", tableOnly(off.gw.cpuProf))
	fmt.Fprintf(&b, "\nGatehouse's in-use heap after the wait, lab config (net/http/pprof heap?gc=1, `go tool pprof -top -sample_index=inuse_space`), top 15:\n\n```\n%s```\n", g.heap)
	return b.String()
}
