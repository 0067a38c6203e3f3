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
	"runtime"
	"slices"
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

// tcpStates summarises the TCP sockets in namespace ns by state and
// local port ("ESTAB :15001 5, ...").
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
		_, port, _ := net.SplitHostPort(f[3])
		_, rport, _ := net.SplitHostPort(f[4])
		n[f[0]+" local :"+port+" remote :"+rport]++
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(n)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, n[k]))
	}
	return strings.Join(parts, ", ")
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
	closedSockets               string  // TCP sockets in gh-gw by state after the close
	heap                        string  // pprof -top of the heap after the wait
	heapTotal                   string
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
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{DialContext: lab.DialFrom(lab.NSGW, nil)}}
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

// heapTop is `go tool pprof -top` of Gatehouse's in-use heap (after a
// GC), the top n entries by flat bytes, and the profile's total.
func heapTop(n int) (table, total string, err error) {
	b, err := gwPprof("/debug/pprof/heap?gc=1")
	if err != nil {
		return "", "", err
	}
	tmp, err := os.CreateTemp("", "gatehouse-heap-*.pprof")
	if err != nil {
		return "", "", err
	}
	defer os.Remove(tmp.Name())
	tmp.Write(b)
	tmp.Close()
	keep := filepath.Join(os.TempDir(), "gatehouse-bench-idle-heap.pprof")
	if os.WriteFile(keep, b, 0o644) == nil {
		fmt.Fprintf(os.Stderr, "bench: idle: heap profile kept in %s\n", keep)
	}
	goBin := os.Getenv("GO")
	if goBin == "" {
		goBin = "go"
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(goBin, "tool", "pprof", "-top", "-sample_index=inuse_space", fmt.Sprintf("-nodecount=%d", n), tmp.Name())
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", "", fmt.Errorf("go tool pprof: %w: %s", err, stderr.String())
	}
	out := keepTable(stdout.String())
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "Showing nodes accounting for") {
			total = strings.TrimSpace(l)
		}
	}
	return out, total, nil
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
	gatehouseCA, err := lab.CertPool(filepath.Join(lab.Out(root), "gatehouse-ca.pem"))
	if err != nil {
		return "", err
	}
	pid, err := gatehousePID(root)
	if err != nil {
		return "", err
	}
	creds, err := sessionCreds(ctx, lab.AgentDial(lab.AWSAddr), gatehouseCA, filepath.Join(lab.Out(root), "tokens/agent"))
	if err != nil {
		return "", err
	}

	// Through Gatehouse.
	gw := &idleRun{target: "gatehouse (transparent)", gw: &idleGW{}}
	g := gw.gw
	g.before = sampleGW(pid)
	conns := openIdle(ctx, lab.AWSIP2+":443", gatehouseCA, creds, n, gw)
	if gw.opened == 0 {
		return "", fmt.Errorf("idle, %s: no connection opened: %v", gw.target, gw.firstErr)
	}
	g.open = sampleGW(pid)
	gw.upOpen = up.openConns(443)
	fmt.Fprintf(os.Stderr, "bench: idle, %s: %d of %d open in %.1fs (%d failed: %v); Gatehouse RssAnon %s → %s, VmRSS %s → %s, fds %d → %d, goroutines %d → %d; upstream connections open %d\n",
		gw.target, gw.opened, n, gw.openTook.Seconds(), gw.openErrs, gw.firstErr, mib(g.before.anon), mib(g.open.anon), mib(g.before.rss), mib(g.open.rss),
		g.before.fds, g.open.fds, g.before.goroutines, g.open.goroutines, gw.upOpen)
	cpu := startCPU(pid)
	time.Sleep(idleWait)
	g.cpuIdle, _ = cpu()
	g.after = sampleGW(pid)
	gw.upAfter = up.openConns(443)
	fmt.Fprintf(os.Stderr, "bench: idle, %s: after %s idle: RssAnon %s, VmRSS %s, fds %d, goroutines %d, CPU %.2fs; upstream connections open %d\n",
		gw.target, idleWait, mib(g.after.anon), mib(g.after.rss), g.after.fds, g.after.goroutines, g.cpuIdle, gw.upAfter)
	if g.heap, g.heapTotal, err = heapTop(15); err != nil {
		closeAll(conns)
		return "", fmt.Errorf("idle: heap profile: %w", err)
	}
	callAgain(conns, creds, gw)
	closeAll(conns)
	// Gatehouse sees the closes as they come; give it a moment.
	for i := 0; i < 100 && sampleGW(pid).fds > g.before.fds+int(gw.upAfter)+gw.opened/100; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	g.closed = sampleGW(pid)
	g.closedSockets = tcpStates(lab.NSGW)
	fmt.Fprintf(os.Stderr, "bench: idle: TCP sockets in %s after the close: %s\n", lab.NSGW, g.closedSockets)
	fmt.Fprintf(os.Stderr, "bench: idle, %s: a second call answered on %d of %d (%d failed: %v; longest idle before it %.1fs); closed: RssAnon %s, VmRSS %s, fds %d, goroutines %d\n",
		gw.target, gw.again, gw.opened, gw.againErrs, gw.againFirst, gw.maxIdle.Seconds(), mib(g.closed.anon), mib(g.closed.rss), g.closed.fds, g.closed.goroutines)

	// Direct, for comparison: the same connections to a server like the
	// bench's on 8443 (not captured), in a child process.
	directAddr := lab.AWSIP2 + ":8443"
	up.Close() // its 8443 listener
	stop, err := startUpstreamChild(root, directAddr)
	if err != nil {
		return "", fmt.Errorf("idle: %w", err)
	}
	defer stop()
	direct := &idleRun{target: "direct"}
	conns = openIdle(ctx, directAddr, publicCA, creds, n, direct)
	direct.upOpen = establishedAt(directAddr)
	time.Sleep(idleWait)
	direct.upAfter = establishedAt(directAddr)
	callAgain(conns, creds, direct)
	closeAll(conns)
	fmt.Fprintf(os.Stderr, "bench: idle, direct: %d of %d open in %.1fs (%d failed: %v), %d open at the upstream, %d after %s; a second call answered on %d (%d failed: %v)\n",
		direct.opened, n, direct.openTook.Seconds(), direct.openErrs, direct.firstErr, direct.upOpen, direct.upAfter, idleWait, direct.again, direct.againErrs, direct.againFirst)
	return renderIdle(n, gw, direct, time.Since(t0).Round(time.Second)), nil
}

func renderIdle(n int, gw, direct *idleRun, took time.Duration) string {
	g := gw.gw
	per := func(a, b int64) string {
		if gw.opened == 0 {
			return "—"
		}
		return fmt.Sprintf("%.1f KiB", float64(b-a)/1024/float64(gw.opened))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%d)\n\n", idleSection, n)
	fmt.Fprintf(&b, `Run on %s: %d cores, %s, with the lab up (this section is rewritten
alone by `+"`go run ./bench -workloads idle`"+`; the workload took %s).
From gh-agent, %d TLS connections (%d opened in parallel), each with one
SigV4-signed GetItem (session credentials from Gatehouse's STS) whose 200
keeps it open, then all left idle for %s; Gatehouse's memory sampled
before the first, when all are open, and after the wait
(/proc/<pid>/status: RssAnon is its heap, stacks and Badger's tables;
VmRSS adds mapped files, the record store's among them). Then a second
call on every connection, oldest first, shows it was still open
(Gatehouse closes agent connections idle for intercept.timeouts.idle,
90 s), and all are closed. The upstream is the bench's own DynamoDB-like
server on %s: through Gatehouse on 443 (captured), direct on 8443.

`, time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), cpuModel(), took, n, idleOpeners, idleWait, lab.AWSIP2)
	fmt.Fprintf(&b, "| target | connections open | opening took | second call answered | longest idle before it | upstream connections open: all open / after %s |\n|---|---:|---:|---:|---:|---:|\n", idleWait)
	for _, r := range []*idleRun{direct, gw} {
		fmt.Fprintf(&b, "| %s | %d of %d | %.1f s | %d of %d | %.1f s | %d / %d |\n", r.target, r.opened, n, r.openTook.Seconds(), r.again, r.opened, r.maxIdle.Seconds(), r.upOpen, r.upAfter)
	}
	fmt.Fprintf(&b, "\n| Gatehouse | RssAnon | VmRSS | open fds | goroutines |\n|---|---:|---:|---:|---:|\n")
	for _, s := range []struct {
		what string
		s    gwSample
	}{{"before", g.before}, {fmt.Sprintf("%d open", gw.opened), g.open}, {fmt.Sprintf("%d open, after %s idle", gw.opened, idleWait), g.after}, {"all closed", g.closed}} {
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %d |\n", s.what, mib(s.s.anon), mib(s.s.rss), s.s.fds, s.s.goroutines)
	}
	fmt.Fprintf(&b, "| per connection (all open, after the wait; less before) | %s, %s | %s, %s | | |\n",
		per(g.before.anon, g.open.anon), per(g.before.anon, g.after.anon), per(g.before.rss, g.open.rss), per(g.before.rss, g.after.rss))
	peak := max(g.open.rss, g.after.rss)
	verdict := "holds"
	if gw.opened < n || peak > idleTargetBytes {
		verdict = "DOES NOT HOLD"
	}
	fmt.Fprintf(&b, "\nTarget (issue [6/6]): %d idle connections ≤ 1 GiB RSS: VmRSS %s with %d open — %s.\n", n, mib(peak), gw.opened, verdict)
	fmt.Fprintf(&b, "\nGatehouse used %.2f CPU-seconds over the %s the connections sat idle.\n", g.cpuIdle, idleWait)
	fmt.Fprintf(&b, `
Upstream connections: Gatehouse's upstream transport keeps at most
intercept.upstream.max_idle_conns_per_host (64 by default) idle
connections per host. With all %d agent connections open, %d upstream
connections were open at the bench's upstream, %d after the wait`, gw.opened, gw.upOpen, gw.upAfter)
	if gw.upAfter < int64(gw.opened) {
		b.WriteString(": an idle agent connection holds no upstream connection of its own, and its cost to Gatehouse is the agent side")
	}
	b.WriteString(".\n")
	if direct.opened > 0 {
		fmt.Fprintf(&b, "Direct, the bench process holds both ends of every connection: %d opened, %d open at the upstream after the wait, %d answered a second call.\n", direct.opened, direct.upAfter, direct.again)
	}
	if gw.openErrs > 0 || gw.againErrs > 0 || direct.openErrs > 0 || direct.againErrs > 0 {
		fmt.Fprintf(&b, "\nFailures: through Gatehouse %d opening (first: %v) and %d second calls (first: %v); direct %d opening (first: %v) and %d second calls (first: %v).\n",
			gw.openErrs, gw.firstErr, gw.againErrs, gw.againFirst, direct.openErrs, direct.firstErr, direct.againErrs, direct.againFirst)
	}
	fmt.Fprintf(&b, "\nGatehouse's in-use heap after the wait (net/http/pprof heap?gc=1, `go tool pprof -top -sample_index=inuse_space`), top 15:\n\n```\n%s```\n", g.heap)
	return b.String()
}
