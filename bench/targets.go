package main

// The targets of the small-call, new-connection, large and idle
// workloads: the ways the bench's clients in gh-agent reach the bench's
// upstream (lab.BenchHost on lab.AWSIP2), straight or through an
// intercepting proxy, each with the CA a client must trust and the
// process (tree) whose CPU and memory the bench charges to it.
//
//	direct                        gh-agent → 10.77.2.3:8443 (not captured)
//	gatehouse-full                the lab's Gatehouse, explicit proxy 10.77.1.1:3128
//	gatehouse-full, transparent   the lab's Gatehouse, TPROXY capture of 10.77.2.3:443
//	gatehouse-passthrough         a second Gatehouse, explicit proxy 10.77.1.1:3140
//	squid                         squid-openssl with ssl-bump, 10.77.1.1:3141
//	mitmproxy                     mitmdump, regular mode, 10.77.1.1:3142
//	goproxy-bare                  bench/goproxybare, 10.77.1.1:3143
//
// The large workload reaches MinIO (lab.AWSIP:443) the same ways with the
// S3 client (target.s3): through a proxy it sends CONNECT
// s3.us-east-1.amazonaws.com:443, which gh-gw's hosts file resolves to
// MinIO; direct dials MinIO from gh-gw, whose traffic is not captured
// (gh-agent's to MinIO is).
//
// The peers run in gh-gw, started here and stopped by the returned
// cleanup; their files are under out/peers, which down.sh removes, and
// down.sh kills whatever still runs in gh-gw when the bench is
// interrupted.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/gatehouse/gatehouse/deploy/lab"
)

// How a client reaches a target.
const (
	reachDirect      = "direct"      // dials the upstream
	reachTransparent = "transparent" // dials the upstream; the gateway captures it
	reachProxy       = "proxy"       // CONNECT through an explicit proxy
)

// Where the peers listen, in gh-gw on the agents' side.
const (
	passthroughAddr = "10.77.1.1:3140"
	squidAddr       = "10.77.1.1:3141"
	mitmproxyAddr   = "10.77.1.1:3142"
	goproxyAddr     = "10.77.1.1:3143"
)

// target is one way to the upstream.
type target struct {
	name  string
	reach string // reachDirect, reachTransparent or reachProxy
	addr  string // dialled (direct, transparent) or the proxy's (proxy)
	roots *x509.CertPool
	pid   int // the process to sample (its whole tree); 0 for direct
	does  string
	// session: the target verifies agents' signatures (gatehouse-full),
	// so the S3 client signs with Gatehouse session credentials; through
	// the others MinIO checks the signature, made with MinIO's keys.
	session bool
	// lab: the lab's Gatehouse, which serves pprof on pprofAddr.
	lab bool
	// log is the file the target logs to, quoted when a transfer
	// through it fails, less the lines logNoise matches.
	log      string
	logNoise *regexp.Regexp
	// err says why the target could not be set up: each of its rows
	// reports it instead of figures.
	err error
}

// how says how a client reaches the target, for the tables.
func (t *target) how() string {
	switch t.reach {
	case reachProxy:
		return "CONNECT via " + t.addr
	case reachTransparent:
		return "TPROXY capture of " + t.addr
	}
	return "dials " + t.addr
}

// client is an HTTP/1.1 client in gh-agent for the target: conc idle
// connections kept alive, or a new TCP and TLS connection (and CONNECT)
// for every call.
func (t *target) client(conc int, keepAlive bool) *http.Client {
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: t.roots, ServerName: lab.BenchHost},
		MaxIdleConnsPerHost: conc,
		DisableKeepAlives:   !keepAlive,
	}
	if t.reach == reachProxy {
		tr.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: t.addr})
		tr.DialContext = lab.AgentDial(nil)
	} else {
		addr := t.addr
		tr.DialContext = lab.AgentDial(func(string) string { return addr })
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: tr}
}

// gatehouse says whether the target is a Gatehouse (the targets
// are Gatehouse's); peer, whether it is one of the other proxies.
func (t *target) gatehouse() bool { return strings.HasPrefix(t.name, "gatehouse") }
func (t *target) peer() bool      { return t.reach == reachProxy && !t.gatehouse() }

// s3How says how the S3 client reaches MinIO through the target.
func (t *target) s3How() string {
	switch t.reach {
	case reachProxy:
		return "from gh-agent, CONNECT via " + t.addr
	case reachTransparent:
		return "from gh-agent, TPROXY capture of " + minioAddr
	}
	return "from gh-gw (not captured), dials " + minioAddr
}

// s3 is aws-sdk-go-v2's S3 client reaching MinIO through the target (see
// the file's comment), trusting the target's CA, signing with session
// credentials where the target verifies them and MinIO's keys elsewhere.
func (t *target) s3(minioKeys, session aws.CredentialsProvider) (*s3.Client, *recorder) {
	creds := minioKeys
	if t.session {
		creds = session
	}
	toMinIO := func(string) string { return minioAddr }
	switch t.reach {
	case reachProxy:
		return s3Client(lab.AgentDial(nil), &url.URL{Scheme: "http", Host: t.addr}, t.roots, creds)
	case reachTransparent:
		return s3Client(lab.AgentDial(toMinIO), nil, t.roots, creds)
	}
	return s3Client(lab.DialFrom(lab.NSGW, toMinIO), nil, t.roots, creds)
}

// tunnel is a connection from gh-agent on which a TLS client reaches
// host:443 through the target: the upstream's (or the capturing
// gateway's) socket, or a CONNECT tunnel through the proxy.
func (t *target) tunnel(ctx context.Context, host string) (net.Conn, error) {
	if t.reach != reachProxy {
		addr := t.addr
		return lab.AgentDial(func(string) string { return addr })(ctx, "tcp", addr)
	}
	c, err := lab.AgentDial(nil)(ctx, "tcp", t.addr)
	if err != nil {
		return nil, err
	}
	if d, ok := ctx.Deadline(); ok {
		c.SetDeadline(d)
		defer c.SetDeadline(time.Time{})
	}
	target := net.JoinHostPort(host, "443")
	if _, err := fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target); err != nil {
		c.Close()
		return nil, fmt.Errorf("CONNECT %s: %w", target, err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	switch {
	case err != nil:
		c.Close()
		return nil, fmt.Errorf("CONNECT %s: %w", target, err)
	case resp.StatusCode != 200:
		c.Close()
		return nil, fmt.Errorf("CONNECT %s: %s", target, resp.Status)
	case br.Buffered() > 0:
		// The client speaks first in TLS: nothing may follow the answer.
		c.Close()
		return nil, fmt.Errorf("CONNECT %s: %d bytes after the answer", target, br.Buffered())
	}
	return c, nil
}

// treeMem is the memory of pid and its descendants now, each process's
// RssAnon and VmRSS summed (a page two of them share counts twice in the
// VmRSS sum: shared libraries, not data), with their open descriptors
// and what they are ("squid, security_file_certgen"). Goroutines are -1:
// only the lab's Gatehouse answers for them (sampleGW).
func treeMem(pid int) (s gwSample, procs []string) {
	s.goroutines = -1
	for _, p := range append([]int{pid}, descendants(pid)...) {
		anon, err1 := vm(p, "RssAnon")
		rss, err2 := vm(p, "VmRSS")
		if err1 != nil || err2 != nil {
			continue // gone, or a zombie
		}
		s.anon += anon
		s.rss += rss
		if des, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p)); err == nil {
			s.fds += len(des)
		}
		procs = append(procs, procName(p))
	}
	return s, procs
}

// procName is what pid is: its comm, or where that is cut at 15 bytes
// ("security_file_c"), its executable's base name.
func procName(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	comm := strings.TrimSpace(string(b))
	if len(comm) >= 15 {
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil {
			return filepath.Base(exe)
		}
	}
	return comm
}

// procNames says what a treeMem sum counted: "squid + 2 security_file_certgen".
func procNames(procs []string) string {
	n := map[string]int{}
	var order []string
	for _, p := range procs {
		if n[p] == 0 {
			order = append(order, p)
		}
		n[p]++
	}
	var parts []string
	for _, p := range order {
		if n[p] > 1 {
			parts = append(parts, fmt.Sprintf("%d %s", n[p], p))
		} else {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, " + ")
}

// peers are the targets' processes and files; close stops the processes
// the bench started and puts the lab's policy back.
type peers struct {
	root, dir, publicCA string
	gatehouseCA         *x509.CertPool
	versions            []string // "Squid Cache: Version 5.7 (...)", ...
	closers             []func()
}

func (p *peers) close() {
	for i := len(p.closers) - 1; i >= 0; i-- {
		p.closers[i]()
	}
	p.closers = nil
}

// setUpTargets starts the peers and writes gatehouse-full's policy. A
// peer that does not start is a target with err set; an error is
// returned only when the lab itself is not usable. p.close is to be
// called whatever happens.
func setUpTargets(root string) (ts []*target, p *peers, err error) {
	out := lab.Out(root)
	p = &peers{root: root, dir: filepath.Join(out, "peers"), publicCA: filepath.Join(out, "pki/public-ca.pem")}
	publicCA, err := lab.CertPool(p.publicCA)
	if err != nil {
		return nil, p, err
	}
	if p.gatehouseCA, err = lab.CertPool(filepath.Join(out, "gatehouse-ca.pem")); err != nil {
		return nil, p, err
	}
	gwPID, err := gatehousePID(root)
	if err != nil {
		return nil, p, err
	}
	os.RemoveAll(p.dir)
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return nil, p, err
	}
	p.versions = append(p.versions, "Gatehouse "+gitVersion(root)+" (Go "+runtime.Version()+", as the bench and goproxy-bare)")

	full := &target{name: "gatehouse-full", reach: reachProxy, addr: lab.ProxyAddr, roots: p.gatehouseCA, pid: gwPID, session: true, lab: true,
		does: "OIDC session credentials, SigV4 verified, 200-rule policy, re-signed, recorded (durable), masked (profile " + fullPolicyMask + ")"}
	full.log = filepath.Join(out, "gatehouse.log")
	fullT := &target{name: "gatehouse-full, transparent", reach: reachTransparent, addr: lab.AWSIP2 + ":443", roots: p.gatehouseCA, pid: gwPID, session: true, lab: true, does: full.does, log: full.log}
	ts = []*target{
		{name: "direct", reach: reachDirect, addr: lab.AWSIP2 + ":8443", roots: publicCA, does: "—"},
		full, fullT,
	}
	// gatehouse-full decides with the generated policy until cleanup.
	if err := p.installFullPolicy(); err != nil {
		full.err, fullT.err = err, err
	}
	ts = append(ts, p.startPassthrough(), p.startSquid(), p.startMitmproxy(), p.startGoproxy())
	return ts, p, nil
}

// installFullPolicy writes fullPolicy to the lab's out/policy.yaml and
// waits for Gatehouse to reload it; the lab's policy is restored at close.
func (p *peers) installFullPolicy() error {
	file := filepath.Join(lab.Out(p.root), "policy.yaml")
	gatehouseLog = filepath.Join(lab.Out(p.root), "gatehouse.log")
	orig, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	st, err := os.Stat(file)
	if err != nil {
		return err
	}
	gen := []byte(fullPolicy(fullPolicyRules))
	// Checked outside out/: Gatehouse watches that directory.
	tmp := filepath.Join(os.TempDir(), fmt.Sprintf("gatehouse-bench-full-policy-%d.yaml", os.Getpid()))
	defer os.Remove(tmp)
	if err := os.WriteFile(tmp, gen, 0o644); err != nil {
		return err
	}
	if out, err := exec.Command(filepath.Join(lab.Out(p.root), "bin/gatehouse"), "policy", "check", tmp).CombinedOutput(); err != nil {
		return fmt.Errorf("the generated policy does not check: %v: %s", err, out)
	}
	write := func(b []byte) error {
		off := logSize()
		if err := os.WriteFile(file, b, st.Mode().Perm()); err != nil {
			return err
		}
		return waitReload(off, 15*time.Second)
	}
	p.closers = append(p.closers, func() {
		if err := write(orig); err != nil {
			fmt.Fprintf(os.Stderr, "bench: restoring %s: %v\n", file, err)
		}
	})
	if err := write(gen); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

// startPassthrough starts a second Gatehouse that intercepts and forwards
// only: agents' own signatures, a policy that allows everything and masks
// nothing, no recorder.
func (p *peers) startPassthrough() *target {
	t := &target{name: "gatehouse-passthrough", reach: reachProxy, addr: passthroughAddr,
		does: "intercepts and forwards: agents' signatures passed through, allow-all policy with mask none, recorder off"}
	dir := filepath.Join(p.dir, "gatehouse-passthrough")
	bin := filepath.Join(lab.Out(p.root), "bin/gatehouse")
	cfg := fmt.Sprintf(`# make bench's gatehouse-passthrough: interception and forwarding only.
data_dir: %[1]s/data
intercept:
  transparent: {enabled: false}
  proxy: {listen: "%[2]s"}
  upstream: {ca_bundle: %[3]s}
identity: {pass_through_credentials: true}
policy: {file: %[1]s/policy.yaml}
recorder: {disabled: true}
`, dir, passthroughAddr, p.publicCA)
	pol := "version: 1\ndefault: deny\nrules:\n  - {id: everything, effect: allow, actions: [\"*\"], mask: none}\n"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.err = err
		return t
	}
	if err := errors.Join(os.WriteFile(filepath.Join(dir, "gatehouse.yaml"), []byte(cfg), 0o644),
		os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(pol), 0o644)); err != nil {
		t.err = err
		return t
	}
	if out, err := exec.Command(bin, "config", "check", filepath.Join(dir, "gatehouse.yaml")).CombinedOutput(); err != nil {
		t.err = fmt.Errorf("config check: %v: %s", err, out)
		return t
	}
	t.log = filepath.Join(dir, "gatehouse.log")
	proc, err := p.start(t.name, t.log,
		"env", "-i", "PATH=/usr/bin:/bin", "HOME="+dir, bin, "serve", "-c", filepath.Join(dir, "gatehouse.yaml"))
	if err != nil {
		t.err = err
		return t
	}
	if t.err = proc.waitListening(t.addr); t.err != nil {
		return t
	}
	t.pid = proc.pid()
	ca, err := exec.Command(bin, "ca", "export", "--data-dir", filepath.Join(dir, "data")).Output()
	if err != nil {
		t.err = fmt.Errorf("ca export: %w", err)
		return t
	}
	t.roots = x509.NewCertPool()
	if !t.roots.AppendCertsFromPEM(ca) {
		t.err = errors.New("ca export: no certificate")
	}
	return t
}

// startSquid runs Debian's squid-openssl in the foreground with ssl-bump:
// leaves from its own CA minted by security_file_certgen, upstream
// certificates verified against the lab's public CA, no cache, no access
// log, one worker.
func (p *peers) startSquid() *target {
	t := &target{name: "squid", reach: reachProxy, addr: squidAddr, does: "ssl-bump (bump all), certificates from security_file_certgen, no cache"}
	const certgen = "/usr/lib/squid/security_file_certgen"
	if _, err := os.Stat(certgen); err != nil {
		t.err = fmt.Errorf("no squid-openssl (%s): run deploy/lab/prereqs.sh --bench", certgen)
		return t
	}
	if v, err := exec.Command("squid", "-v").Output(); err == nil {
		p.versions = append(p.versions, firstLine(v)+" (Debian squid-openssl "+debVersion("squid-openssl")+")")
	}
	dir := filepath.Join(p.dir, "squid")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.err = err
		return t
	}
	var err error
	if t.roots, err = writeCA(dir, "bench squid CA"); err != nil {
		t.err = err
		return t
	}
	db := filepath.Join(dir, "ssl_db")
	if out, err := exec.Command(certgen, "-c", "-s", db, "-M", "16MB").CombinedOutput(); err != nil {
		t.err = fmt.Errorf("%s -c: %v: %s", certgen, err, out)
		return t
	}
	// Two descriptors per agent connection (a bumped connection keeps its
	// server connection pinned): as many as squid may have here, for the
	// idle workload's 10,000 (the hard limit cannot be raised without
	// CAP_SYS_RESOURCE).
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.err = err
		return t
	}
	conf := fmt.Sprintf(`# make bench's squid: ssl-bump of every CONNECT, nothing cached or logged.
workers 1
http_port %[2]s ssl-bump tls-cert=%[1]s/ca.pem tls-key=%[1]s/ca.key generate-host-certificates=on dynamic_cert_mem_cache_size=16MB
sslcrtd_program %[3]s -s %[1]s/ssl_db -M 16MB
sslcrtd_children 4 startup=1 idle=1
ssl_bump bump all
tls_outgoing_options cafile=%[4]s
acl agents src %[5]s
http_access allow agents
http_access deny all
cache deny all
cache_mem 0 MB
access_log none
cache_store_log none
cache_log %[1]s/cache.log
visible_hostname gh-gw
logfile_rotate 0
pid_filename none
coredump_dir %[1]s
shutdown_lifetime 1 seconds
pinger_enable off
max_filedescriptors %[6]d
`, dir, squidAddr, certgen, p.publicCA, "10.77.1.0/24", min(lim.Max, 1<<20))
	confFile := filepath.Join(dir, "squid.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.err = err
		return t
	}
	// squid drops root for its cache_effective_user (proxy), which must
	// write its log and the certificate database.
	if err := chownTree(dir, "proxy"); err != nil {
		t.err = err
		return t
	}
	if out, err := exec.Command("squid", "-k", "parse", "-f", confFile).CombinedOutput(); err != nil {
		t.err = fmt.Errorf("squid -k parse: %v: %s", err, lastLines(out, 5))
		return t
	}
	t.log = filepath.Join(dir, "cache.log")
	// Its DNS queries fail in gh-gw (no resolver; it finds the names in
	// the hosts file), each logged with the transaction it was for.
	t.logNoise = regexp.MustCompile(`comm_udp_sendto|idnsSendQuery|^\s+(current master transaction|connection):`)
	proc, err := p.start(t.name, filepath.Join(dir, "squid.out"), "squid", "-N", "-f", confFile)
	if err != nil {
		t.err = err
		return t
	}
	if t.err = proc.waitListening(t.addr); t.err == nil {
		t.pid = proc.pid()
	}
	return t
}

// startMitmproxy runs Debian's mitmdump in regular (explicit proxy) mode
// with its own CA in its confdir, upstream certificates verified against
// the lab's public CA, no flow output, bodies over 1 MiB streamed.
func (p *peers) startMitmproxy() *target {
	t := &target{name: "mitmproxy", reach: reachProxy, addr: mitmproxyAddr, does: "mitmdump, regular mode, flows not printed, bodies over 1m streamed"}
	if v, err := exec.Command("mitmdump", "--version").Output(); err == nil {
		// Mitmproxy: 8.1.1 / Python: 3.11.2 / OpenSSL: ... / Platform: ...
		ls := strings.Split(strings.TrimSpace(string(v)), "\n")
		for i := range ls {
			ls[i] = strings.Join(strings.Fields(ls[i]), " ")
		}
		p.versions = append(p.versions, strings.Join(ls[:min(3, len(ls))], ", ")+" (Debian mitmproxy "+debVersion("mitmproxy")+")")
	} else {
		t.err = fmt.Errorf("no mitmdump (%v): run deploy/lab/prereqs.sh --bench", err)
		return t
	}
	dir := filepath.Join(p.dir, "mitmproxy")
	conf := filepath.Join(dir, "conf")
	if err := os.MkdirAll(conf, 0o700); err != nil {
		t.err = err
		return t
	}
	// mitmproxy reads its CA (key and certificate in one file) from the
	// confdir; its leaves carry the CA's key type, ECDSA P-256 here as for
	// the other peers.
	roots, err := writeCA(dir, "bench mitmproxy CA")
	if err != nil {
		t.err = err
		return t
	}
	t.roots = roots
	key, err1 := os.ReadFile(filepath.Join(dir, "ca.key"))
	crt, err2 := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err := errors.Join(err1, err2, os.WriteFile(filepath.Join(conf, "mitmproxy-ca.pem"), append(key, crt...), 0o600)); err != nil {
		t.err = err
		return t
	}
	host, port, _ := net.SplitHostPort(mitmproxyAddr)
	t.log = filepath.Join(dir, "mitmdump.log")
	proc, err := p.start(t.name, t.log,
		"env", "-i", "PATH=/usr/bin:/bin", "HOME="+dir, "mitmdump", "-q",
		"--listen-host", host, "--listen-port", port,
		"--set", "confdir="+conf,
		"--set", "ssl_verify_upstream_trusted_ca="+p.publicCA,
		"--set", "stream_large_bodies=1m",
		"--set", "flow_detail=0")
	if err != nil {
		t.err = err
		return t
	}
	if t.err = proc.waitListening(t.addr); t.err == nil {
		t.pid = proc.pid()
	}
	return t
}

// startGoproxy builds and runs bench/goproxybare.
func (p *peers) startGoproxy() *target {
	t := &target{name: "goproxy-bare", reach: reachProxy, addr: goproxyAddr, does: "elazarl/goproxy MITM with a certificate cache, the client's Accept-Encoding kept (SigV4 signs it), nothing else"}
	dir := filepath.Join(p.dir, "goproxy-bare")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.err = err
		return t
	}
	bin := filepath.Join(lab.Out(p.root), "bin/goproxybare")
	build := exec.Command("go", "build", "-o", bin, "./bench/goproxybare")
	build.Dir = p.root
	if out, err := build.CombinedOutput(); err != nil {
		t.err = fmt.Errorf("go build ./bench/goproxybare: %v: %s", err, out)
		return t
	}
	if v, err := exec.Command(bin, "-version").Output(); err == nil {
		p.versions = append(p.versions, "goproxy-bare: "+firstLine(v))
	} else {
		p.versions = append(p.versions, "goproxy-bare: version unknown ("+err.Error()+")")
	}
	var err error
	if t.roots, err = writeCA(dir, "bench goproxy CA"); err != nil {
		t.err = err
		return t
	}
	t.log = filepath.Join(dir, "goproxybare.log")
	proc, err := p.start(t.name, t.log, bin, "-listen", goproxyAddr,
		"-ca-cert", filepath.Join(dir, "ca.pem"), "-ca-key", filepath.Join(dir, "ca.key"), "-upstream-ca", p.publicCA)
	if err != nil {
		t.err = err
		return t
	}
	if t.err = proc.waitListening(t.addr); t.err == nil {
		t.pid = proc.pid()
	}
	return t
}

// peerProc is a process the bench started in gh-gw, in a process group
// of its own (with its helpers, squid's certificate generators).
type peerProc struct {
	name, log string
	cmd       *exec.Cmd
	exited    chan struct{}
}

// start runs argv in gh-gw (`ip netns exec` execs it: the pid is its
// own), output to logFile; close stops it.
func (p *peers) start(name, logFile string, argv ...string) (*peerProc, error) {
	f, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command("ip", append([]string{"netns", "exec", lab.NSGW}, argv...)...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	pp := &peerProc{name: name, log: logFile, cmd: cmd, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(pp.exited) }()
	p.closers = append(p.closers, pp.stop)
	return pp, nil
}

func (pp *peerProc) pid() int { return pp.cmd.Process.Pid }

// waitListening waits until addr accepts a connection from gh-agent, as
// the clients will dial it.
func (pp *peerProc) waitListening(addr string) error {
	dial := lab.AgentDial(nil)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		select {
		case <-pp.exited:
			b, _ := os.ReadFile(pp.log)
			return fmt.Errorf("%s exited (%v): %s", pp.name, pp.cmd.ProcessState, lastLines(b, 5))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := dial(ctx, "tcp", addr)
		cancel()
		if err == nil {
			c.Close()
			return nil
		}
	}
	return fmt.Errorf("%s did not listen on %s within 30s", pp.name, addr)
}

// stop sends its process group SIGTERM, and SIGKILL after 10 s (squid
// takes 5 to shut down); then SIGKILL to any of its helpers still
// running (squid starts them in process groups of their own).
func (pp *peerProc) stop() {
	pgid := pp.pid()
	helpers := descendants(pgid)
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-pp.exited:
	case <-time.After(10 * time.Second):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-pp.exited
	}
	for _, h := range helpers {
		syscall.Kill(h, syscall.SIGKILL)
	}
}

// writeCA creates a CA (ECDSA P-256, like Gatehouse's) as dir/ca.pem and
// dir/ca.key (PKCS#8), and returns a pool that trusts it.
func writeCA(dir, name string) (*x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(48 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	k, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	crt := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := errors.Join(os.WriteFile(filepath.Join(dir, "ca.pem"), crt, 0o644),
		os.WriteFile(filepath.Join(dir, "ca.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k}), 0o600)); err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(crt)
	return pool, nil
}

func chownTree(dir, name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("user %s: %w", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
}

// procTreeCPU is the CPU time (user+system, seconds) of pid and its
// descendants that are alive now.
func procTreeCPU(pid int) float64 {
	if pid == 0 {
		return 0
	}
	t := procCPU(pid)
	for _, d := range descendants(pid) {
		t += procCPU(d)
	}
	return t
}

// descendants are the processes below pid, now.
func descendants(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	children := map[int][]int{}
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		_, rest, ok := strings.Cut(string(b), ") ")
		f := strings.Fields(rest)
		if !ok || len(f) < 2 {
			continue
		}
		if pp, err := strconv.Atoi(f[1]); err == nil {
			children[pp] = append(children[pp], c)
		}
	}
	var ds []int
	for q := children[pid]; len(q) > 0; q = q[1:] {
		ds = append(ds, q[0])
		q = append(q, children[q[0]]...)
	}
	return ds
}

// logSize is the size of the target's log now, for logSince.
func (t *target) logSize() int64 {
	st, err := os.Stat(t.log)
	if err != nil {
		return 0
	}
	return st.Size()
}

// logSince is the last n lines the target logged after offset off, on
// one line, "" when it logged nothing.
func (t *target) logSince(off int64, n int) string {
	f, err := os.Open(t.log)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(io.NewSectionReader(f, off, 1<<20))
	if t.logNoise != nil {
		var kept []byte
		for _, l := range bytes.SplitAfter(b, []byte("\n")) {
			if !t.logNoise.Match(l) {
				kept = append(kept, l...)
			}
		}
		b = kept
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return ""
	}
	return lastLines(b, n)
}

func firstLine(b []byte) string {
	l, _, _ := bytes.Cut(bytes.TrimSpace(b), []byte("\n"))
	return strings.TrimSpace(string(l))
}

func lastLines(b []byte, n int) string {
	ls := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(ls[max(0, len(ls)-n):], " | ")
}

func debVersion(pkg string) string {
	if out, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", pkg).Output(); err == nil {
		return strings.TrimSpace(string(out))
	}
	return "version unknown"
}

func gitVersion(root string) string {
	cmd := exec.Command("git", "describe", "--always", "--dirty")
	cmd.Dir = root
	if out, err := cmd.Output(); err == nil {
		return "commit " + firstLine(out)
	}
	return "unknown commit"
}
