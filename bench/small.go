package main

// The small-call workloads over every target (targets.go), in one run:
//
//   - small: DynamoDB GetItem-shaped calls, SigV4-signed, on kept-alive
//     connections from 1 and 64 concurrent clients: calls/s, p50, p99,
//     added latency, and the CPU the target's process spent per call;
//   - conns: the same call on a new TCP and TLS connection each time (for
//     a proxy, a new CONNECT too) from -conns-clients clients:
//     connections/s.
//
// Ratios are to direct in the same run, and for gatehouse-full also to
// squid and mitmproxy; each of the targets is printed with
// whether it holds. A target that fails is reported in its rows.

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/gatehouse/gatehouse/deploy/lab"
)

// The sections' headings in BENCHMARKS.md.
const (
	smallSection = "## Small calls"
	connsSection = "## New TLS connection per call"
)

// smallConfig says what runSmall measures.
type smallConfig struct {
	dur         time.Duration
	levels      []int // small: concurrent clients per run
	connClients int   // conns: concurrent clients
	small       bool  // run the small workload
	conns       bool  // run the conns workload
}

// The targets for gatehouse-full.
const (
	wantVsDirect    = 0.5
	wantVsSquid     = 1.0
	wantVsMitmproxy = 20.0
	wantAddedP50    = 300 * time.Microsecond
	wantAddedP99    = 2 * time.Millisecond
	wantConnsDirect = 0.5
)

// usage is CPU time over one measured run, in seconds.
type usage struct {
	target  float64 // the target's process tree
	bench   float64 // the bench: clients and upstream
	machine float64 // all busy time (/proc/stat)
	others  float64 // processes none of the bench's (othersCPU)
}

// Before each run the bench waits up to quietWait for other processes to
// use less than quietCores: the clients, the upstream and the target
// share the machine's few cores, and a test or fuzzer running beside
// them would skew one row against another.
const (
	quietWait  = 60 * time.Second
	quietCores = 0.1
	quietTries = 5
)

// measured is one run of a workload against one target.
type measured struct {
	t      *target
	conc   int
	r      *result
	use    usage
	waited time.Duration // for other processes to go quiet
	tries  int           // runs made (others were busy during all but the last)
	err    error         // the target could not be measured: no figures
}

// runSmall runs the small and conns workloads against every target and
// returns their sections for BENCHMARKS.md. The peers it starts are the
// bench's children: once reaped, their CPU time is the bench's in
// startOtherCPU's account.
func runSmall(root string, sc smallConfig) (small, conns string, err error) {
	t0 := time.Now()
	cert, err := lab.PublicLeaf(root, benchHost)
	if err != nil {
		return "", "", err
	}
	// The upstream answers on 443 (reached through the gateways) and 8443
	// (direct: gh-gw forwards it uncaptured).
	srv := &http.Server{Handler: http.HandlerFunc(dynamoLike), TLSConfig: &tls.Config{Certificates: []tls.Certificate{*cert}}, ErrorLog: log.New(io.Discard, "", 0)}
	for _, port := range []string{"443", "8443"} {
		ln, err := lab.Listen(lab.NSAWS, lab.AWSIP2+":"+port)
		if err != nil {
			return "", "", err
		}
		go srv.ServeTLS(ln, "", "")
	}
	defer srv.Close()

	gatehouseCA, err := lab.CertPool(filepath.Join(lab.Out(root), "gatehouse-ca.pem"))
	if err != nil {
		return "", "", err
	}
	// Every call is signed with Gatehouse session credentials, as an
	// agent's SDK signs (gatehouse-full verifies them); the others pass
	// the signature on and the upstream ignores it.
	creds, err := sessionCreds(context.Background(), lab.AgentDial(lab.AWSAddr), gatehouseCA, filepath.Join(lab.Out(root), "tokens/agent"))
	if err != nil {
		return "", "", err
	}
	ts, p, err := setUpTargets(root)
	defer p.close()
	if err != nil {
		return "", "", err
	}
	for _, t := range ts {
		if t.err == nil {
			t.err = probe(t, creds)
		}
		status := "ok"
		if t.err != nil {
			status = t.err.Error()
		}
		fmt.Fprintf(os.Stderr, "bench: target %s (%s, pid %d): %s\n", t.name, t.how(), t.pid, status)
	}
	// Other work on the machine shows here: the targets are idle.
	busy := busyCores(2 * time.Second)
	var smallRuns [][]*measured
	if sc.small {
		for _, conc := range sc.levels {
			var level []*measured
			for _, t := range ts {
				m := measureTarget(t, creds, conc, true, sc.dur)
				level = append(level, m)
				fmt.Fprintf(os.Stderr, "bench: small, %d client(s), %s: %s\n", conc, t.name, m.summary())
			}
			smallRuns = append(smallRuns, level)
		}
	}
	// Where gatehouse-full's time goes, at each level: a CPU profile over
	// extra runs (not the measured ones).
	var profiles strings.Builder
	if sc.small {
		if full := byTarget(ts, "gatehouse-full"); full != nil && full.err == nil {
			for _, conc := range sc.levels {
				what := fmt.Sprintf("small-call runs of %d client(s) through gatehouse-full (proxy)", conc)
				out, err := profileWith(what, func() error {
					c := full.client(conc, true)
					defer c.CloseIdleConnections()
					measure(c, creds, conc, 2*time.Second)
					return nil
				}, profileOpts{flatN: 12, cumOf: fullCostRE, cumLabel: "the chain's stages and the runtime's costs",
					keep: filepath.Join(os.TempDir(), fmt.Sprintf("gatehouse-bench-small-%d.pprof", conc))})
				if err != nil {
					fmt.Fprintf(&profiles, "\nNo profile of %s: %v\n", what, err)
					continue
				}
				fmt.Fprintf(&profiles, "\n### gatehouse-full, %d client(s): where the time goes\n\n%s", conc, out)
			}
		}
	}
	var connRuns []*measured
	if sc.conns {
		for _, t := range ts {
			m := measureTarget(t, creds, sc.connClients, false, sc.dur)
			connRuns = append(connRuns, m)
			fmt.Fprintf(os.Stderr, "bench: conns, %d clients, %s: %s\n", sc.connClients, t.name, m.summary())
		}
	}
	// The same for new connections, through both of gatehouse-full's
	// ways in: where a connection's cost goes.
	var connProfiles strings.Builder
	if sc.conns {
		for _, name := range []string{"gatehouse-full", "gatehouse-full, transparent"} {
			t := byTarget(ts, name)
			if t == nil || t.err != nil {
				continue
			}
			what := fmt.Sprintf("new-connection runs of %d clients through %s", sc.connClients, name)
			out, err := profileWith(what, func() error {
				c := t.client(sc.connClients, false)
				defer c.CloseIdleConnections()
				measure(c, creds, sc.connClients, 2*time.Second)
				return nil
			}, profileOpts{flatN: 12, cumOf: fullCostRE, cumLabel: "the chain's stages and the runtime's costs"})
			if err != nil {
				fmt.Fprintf(&connProfiles, "\nNo profile of %s: %v\n", what, err)
				continue
			}
			fmt.Fprintf(&connProfiles, "\n### %s, a new connection per call: where the time goes\n\n%s", name, out)
		}
	}
	p.close()
	took := time.Since(t0).Round(time.Second)
	all := slices.Concat(slices.Concat(smallRuns...), connRuns)
	head := runHead(took, p.versions, ts, busy, all)
	if sc.small {
		small = renderSmall(head, smallRuns, sc.dur) + profiles.String()
	}
	if sc.conns {
		conns = renderConns(head, connRuns, sc.connClients, sc.dur) + connProfiles.String()
	}
	return small, conns, nil
}

// fullCostRE names what a gatehouse-full profile sums: the record's
// commit and its syncs, the head's signature, masking, SigV4, policy, the
// record's JSON, TLS, and the collector.
var fullCostRE = regexp.MustCompile(`^(github.com/gatehouse/gatehouse/recorder\.\(\*Store\)\.(write|commitSome)|github.com/gatehouse/gatehouse/recorder\.\(\*walFiles\)\.sync|golang.org/x/sys/unix\.Msync|crypto/ed25519\.Sign|github.com/gatehouse/gatehouse/policy/mask\.\(\*Masker\)\.JSON|github.com/gatehouse/gatehouse/intercept/sigv4\.Verify|github.com/gatehouse/gatehouse/intercept\.\(\*Authn\)\.sign|github.com/gatehouse/gatehouse/policy\.\(\*Policy\)\.Decide|github.com/gatehouse/gatehouse/recorder\.canonical|github.com/dgraph-io/badger/v4\.\(\*levelsController\)\.(runCompactDef|subcompact)|crypto/tls\.\(\*Conn\)\.(Read|Write|HandshakeContext|serverHandshake|clientHandshake)|runtime\.gcBgMarkWorker|runtime\.mallocgc)$`)

// byTarget is the target named name, nil if there is none.
func byTarget(ts []*target, name string) *target {
	for _, t := range ts {
		if t.name == name {
			return t
		}
	}
	return nil
}

// probe makes one call through t and checks the answer: masked by
// gatehouse-full's profile (the payload replaced), as the upstream sent
// it through every other target.
func probe(t *target, creds aws.Credentials) error {
	c := t.client(1, true)
	defer c.CloseIdleConnections()
	body, err := callBody(c, creds)
	if err != nil {
		return fmt.Errorf("first call: %w", err)
	}
	masked := !strings.Contains(body, benchPayload)
	switch {
	case strings.HasPrefix(t.name, "gatehouse-full") && !masked:
		return fmt.Errorf("first call: the answer's Item.payload is not masked (is the generated policy deciding?): %s", body)
	case !strings.HasPrefix(t.name, "gatehouse-full") && masked:
		return fmt.Errorf("first call: the answer is not the upstream's: %s", body)
	}
	return nil
}

// measureTarget warms up (a second: handshakes, leaves minted, pools
// filled) and measures calls through t for dur, with the CPU each process
// spent.
func measureTarget(t *target, creds aws.Credentials, conc int, keepAlive bool, dur time.Duration) *measured {
	m := &measured{t: t, conc: conc, err: t.err}
	if t.err != nil {
		return m
	}
	c := t.client(conc, keepAlive)
	defer c.CloseIdleConnections()
	// A run during which other processes took more than quietCores is
	// measured again, up to quietTries times: the last one is kept.
	for m.tries = 1; ; m.tries++ {
		waited, _ := waitQuiet()
		m.waited += waited
		measure(c, creds, conc, time.Second)
		tc, bc, mc, oc := procTreeCPU(t.pid), procCPU(os.Getpid()), machineBusy(), othersCPU()
		m.r = measure(c, creds, conc, dur)
		// othersCPU loses processes that exit during the run: never below 0.
		m.use = usage{target: procTreeCPU(t.pid) - tc, bench: procCPU(os.Getpid()) - bc, machine: machineBusy() - mc, others: max(0, othersCPU()-oc)}
		if m.use.others/m.r.elapsed.Seconds() < quietCores || m.tries == quietTries {
			break
		}
		fmt.Fprintf(os.Stderr, "bench: %s, %d client(s): other processes took %.2f cores during the run; again\n", t.name, conc, m.use.others/m.r.elapsed.Seconds())
	}
	if t.pid != 0 && !alive(t.pid) {
		m.err = fmt.Errorf("its process %d exited during the run", t.pid)
	}
	return m
}

// waitQuiet waits, up to quietWait, for a second in which other
// processes use less than quietCores; it says how long it waited and
// whether they went quiet.
func waitQuiet() (time.Duration, bool) {
	t0 := time.Now()
	for time.Since(t0) < quietWait {
		o := othersCPU()
		time.Sleep(time.Second)
		if othersCPU()-o < quietCores {
			return time.Since(t0), true
		}
	}
	return time.Since(t0), false
}

// othersCPU is the CPU time (seconds) of the processes that are none of
// the bench's: not the bench, not in the lab's namespaces (the lab's
// daemons, Gatehouse, the peers), not kernel threads. Only processes
// alive at both ends of an interval count in a difference: a lower bound.
func othersCPU() float64 {
	self := os.Getpid()
	ents, _ := os.ReadDir("/proc")
	t := 0.0
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if ns, err := os.Readlink("/proc/" + e.Name() + "/ns/net"); err != nil || ns != hostNS {
			continue // gone, or in the lab
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		_, rest, _ := strings.Cut(string(b), ") ")
		if f := strings.Fields(rest); len(f) > 6 {
			if flags, _ := strconv.ParseUint(f[6], 10, 64); flags&pfKthread != 0 {
				continue
			}
		}
		t += procCPU(pid)
	}
	return t
}

// pfKthread marks a kernel thread in /proc/<pid>/stat's flags.
const pfKthread = 0x00200000

// hostNS names the network namespace the bench started in (the machine's:
// /proc/1 cannot be read here), for othersCPU.
var hostNS = func() string {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ns, _ := os.Readlink("/proc/thread-self/ns/net")
	return ns
}()

func alive(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}

func (m *measured) summary() string {
	if m.r == nil {
		return "not measured: " + m.err.Error()
	}
	el := m.r.elapsed.Seconds()
	s := fmt.Sprintf("%.0f/s, p50 %s, p99 %s, target CPU %.2f cores, machine %.2f cores, other processes %.2f cores (waited %s for them)", m.r.rate(), us(m.r.pct(0.5)), us(m.r.pct(0.99)),
		m.use.target/el, m.use.machine/el, m.use.others/el, m.waited.Round(100*time.Millisecond))
	if m.r.errors > 0 {
		s += fmt.Sprintf(", %d errors, first: %v", m.r.errors, m.r.firstErr)
	}
	return s
}

// ok says whether the run has figures to compare.
func (m *measured) ok() bool { return m != nil && m.r != nil && m.r.calls > 0 }

// cpuPerCall is the target's CPU time per call, in µs.
func (m *measured) cpuPerCall() float64 {
	return m.use.target / float64(m.r.calls) * 1e6
}

// note is what a row says besides its figures: the error, the failed calls.
func (m *measured) note() string {
	var n []string
	if m.err != nil {
		n = append(n, "error: "+oneLine(m.err.Error()))
	}
	if m.r != nil && m.use.others/m.r.elapsed.Seconds() >= quietCores {
		n = append(n, fmt.Sprintf("other processes busy during all %d tries (%s of waiting for them)", m.tries, m.waited.Round(time.Second)))
	} else if m.tries > 1 {
		n = append(n, fmt.Sprintf("try %d (other processes were busy during the earlier)", m.tries))
	}
	if m.r != nil && m.r.errors > 0 {
		n = append(n, fmt.Sprintf("%d calls failed (%.1f%%), first: %s", m.r.errors, 100*float64(m.r.errors)/float64(m.r.errors+m.r.calls), oneLine(fmt.Sprint(m.r.firstErr))))
	}
	return strings.Join(n, "; ")
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	s = strings.ReplaceAll(s, "|", "/")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func byName(runs []*measured, name string) *measured {
	for _, m := range runs {
		if m.t.name == name {
			return m
		}
	}
	return nil
}

// callBody is call, returning the answer.
func callBody(c *http.Client, creds aws.Credentials) (string, error) {
	var body strings.Builder
	err := callInto(c, creds, &body)
	return body.String(), err
}

// runHead is what both sections say about the run: when, where, what
// else kept the machine busy, the versions, the targets.
func runHead(took time.Duration, versions []string, ts []*target, busy float64, runs []*measured) string {
	var u usage
	var wall float64
	for _, m := range runs {
		if m.r != nil {
			u.target += m.use.target
			u.bench += m.use.bench
			u.machine += m.use.machine
			wall += m.r.elapsed.Seconds()
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `Run on %s: %d cores (%s), Linux lab namespaces, with the lab up; the
small-call and new-connection workloads took %s together (targets set up,
measured, stopped). With the targets set up and idle, %.2f cores were
busy (other work on the machine). Over the %.0f s of measured runs the
machine was busy %.0f CPU-seconds: the bench (clients and upstream) %.0f,
the targets %.0f, the rest %.0f (the kernel's network processing not
charged to a process, the lab's other daemons, other work; never below 0,
though processes' times and the machine's are counted apart).

Versions: %s.

`, time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), cpuModel(), took, busy, wall, u.machine, u.bench, u.target, max(0, u.machine-u.bench-u.target),
		strings.Join(versions, "; "))
	b.WriteString("| target | how the client reaches it | what it does per call |\n|---|---|---|\n")
	for _, t := range ts {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", t.name, t.how(), t.does)
	}
	return b.String()
}

func ratio(a, b *measured) string {
	if !a.ok() || !b.ok() {
		return "—"
	}
	return fmt.Sprintf("%.2f", a.r.rate()/b.r.rate())
}

func renderSmall(head string, levels [][]*measured, dur time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, smallSection+`

Every target in one run. The upstream is a Go HTTPS server in gh-aws
answering like DynamoDB GetItem (an 83-byte request, a 146-byte JSON
item), on 10.77.2.3:443 and :8443, with a certificate for
%[1]s from the lab's public CA; the clients are Go
HTTP/1.1 clients in gh-agent, in the bench's process with the upstream.
Every call is a POST signed with SigV4 by session credentials Gatehouse
issued for the agent's web identity token. Direct dials 8443, which gh-gw
forwards without capture; through a proxy, the client sends CONNECT
%[1]s:443 and the proxy resolves the name (gh-gw's
hosts file: 10.77.2.3). Connections are kept alive (one per client,
reused); each run measures for %[2]s after a warm-up second. A first call
through each target checked its answer: masked by gatehouse-full (the
item's payload replaced), as the upstream sent it through the others.

%[3]s
CPU/call is the CPU time (user+system, /proc/<pid>/stat, the process and
its children) of the target's process over the run divided by the calls;
"target cores" is that CPU time over the run's wall time, "machine cores"
all busy time of the machine over it (%[4]d cores, shared by the clients,
the upstream and the target: a run near %[4]d is bound by the machine's
CPU, and its rate measures CPU cost), "others' cores" the CPU time of processes that are none of the bench's (not in
the lab's namespaces, not the bench, not kernel threads) over it: other
work on the machine, which the bench waits up to %[5]s to fall under
%.1[6]f cores before each run; a run during which they took more is made
again, up to %[7]d times. Ratios are calls/s over direct's in the same run;
added latency is the target's percentile less direct's.

`, benchHost, dur, head, runtime.NumCPU(), quietWait, quietCores, quietTries)
	for _, level := range levels {
		direct := byName(level, "direct")
		fmt.Fprintf(&b, "### %d concurrent client(s)\n\n", level[0].conc)
		b.WriteString("| target | calls/s | × direct | p50 | p99 | added p50 | added p99 | CPU/call | target cores | machine cores | others' cores | note |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
		for _, m := range level {
			if !m.ok() {
				fmt.Fprintf(&b, "| %s | — | — | — | — | — | — | — | — | — | — | %s |\n", m.t.name, m.note())
				continue
			}
			added := func(p float64) string {
				if !direct.ok() || m == direct {
					return "—"
				}
				return us(m.r.pct(p) - direct.r.pct(p))
			}
			cpu := "—"
			if m.t.pid != 0 {
				cpu = fmt.Sprintf("%.0f µs", m.cpuPerCall())
			}
			el := m.r.elapsed.Seconds()
			fmt.Fprintf(&b, "| %s | %.0f | %s | %s | %s | %s | %s | %s | %.2f | %.2f | %.2f | %s |\n", m.t.name, m.r.rate(), ratio(m, direct),
				us(m.r.pct(0.5)), us(m.r.pct(0.99)), added(0.5), added(0.99), cpu, m.use.target/el, m.use.machine/el, m.use.others/el, m.note())
		}
		b.WriteString("\n")
	}
	b.WriteString("A core or more (target cores ≥ 0.9; squid runs one worker and mitmproxy one\nPython process, so for them one core is the ceiling):\n\n")
	for _, level := range levels {
		var busy []string
		for _, m := range level {
			if m.ok() && m.use.target/m.r.elapsed.Seconds() >= 0.9 {
				busy = append(busy, fmt.Sprintf("%s %.2f", m.t.name, m.use.target/m.r.elapsed.Seconds()))
			}
		}
		if len(busy) == 0 {
			busy = []string{"none"}
		}
		fmt.Fprintf(&b, "- %d client(s): %s\n", level[0].conc, strings.Join(busy, ", "))
	}
	b.WriteString("\n### The issue's targets for gatehouse-full\n\n")
	for _, level := range levels {
		direct, squid, mitm := byName(level, "direct"), byName(level, "squid"), byName(level, "mitmproxy")
		for _, name := range []string{"gatehouse-full", "gatehouse-full, transparent"} {
			m := byName(level, name)
			fmt.Fprintf(&b, "- %d client(s), %s: %s\n", level[0].conc, name, strings.Join([]string{
				vsRatio(m, direct, "direct", wantVsDirect),
				vsRatio(m, squid, "squid", wantVsSquid),
				vsRatio(m, mitm, "mitmproxy", wantVsMitmproxy),
				vsAdded(m, direct, 0.5, wantAddedP50),
				vsAdded(m, direct, 0.99, wantAddedP99),
			}, "; "))
		}
	}
	return b.String()
}

func vsRatio(m, other *measured, name string, want float64) string {
	if !m.ok() || !other.ok() {
		return fmt.Sprintf("× %s not measured (want ≥ %.1f)", name, want)
	}
	got := m.r.rate() / other.r.rate()
	return fmt.Sprintf("%.2f× %s (want ≥ %.1f: %s)", got, name, want, holds(got >= want))
}

func vsAdded(m, direct *measured, p float64, want time.Duration) string {
	name := fmt.Sprintf("added p%.0f", p*100)
	if !m.ok() || !direct.ok() {
		return name + " not measured"
	}
	got := m.r.pct(p) - direct.r.pct(p)
	return fmt.Sprintf("%s %s (want ≤ %s: %s)", name, us(got), us(want), holds(got <= want))
}

func holds(ok bool) string {
	if ok {
		return "holds"
	}
	return "MISSED"
}

func renderConns(head string, runs []*measured, clients int, dur time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, connsSection+`

The same call as the small-call workload, each on a new TCP and TLS
connection from gh-agent (keep-alive off: the client closes it after the
answer; through a proxy, a new CONNECT each time), from %[1]d concurrent
clients for %[2]s after a warm-up second. Connections/s is calls/s; a
gateway's connection to the upstream may be reused across client
connections (each target does as it does by default). CPU/conn is the
target's CPU time per connection; the other columns, and the runs made
again when other processes were busy, are as for small calls.

%[3]s
| target | conns/s | × direct | p50 | p99 | CPU/conn | target cores | machine cores | others' cores | note |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---|
`, clients, dur, head)
	direct := byName(runs, "direct")
	for _, m := range runs {
		if !m.ok() {
			fmt.Fprintf(&b, "| %s | — | — | — | — | — | — | — | — | %s |\n", m.t.name, m.note())
			continue
		}
		cpu := "—"
		if m.t.pid != 0 {
			cpu = fmt.Sprintf("%.0f µs", m.cpuPerCall())
		}
		el := m.r.elapsed.Seconds()
		fmt.Fprintf(&b, "| %s | %.0f | %s | %s | %s | %s | %.2f | %.2f | %.2f | %s |\n", m.t.name, m.r.rate(), ratio(m, direct),
			us(m.r.pct(0.5)), us(m.r.pct(0.99)), cpu, m.use.target/el, m.use.machine/el, m.use.others/el, m.note())
	}
	b.WriteString("\n")
	for _, name := range []string{"gatehouse-full", "gatehouse-full, transparent"} {
		fmt.Fprintf(&b, "- %s: %s\n", name, vsRatio(byName(runs, name), direct, "direct", wantConnsDirect))
	}
	return b.String()
}

// call sends one GetItem, SigV4-signed as aws-sdk-go-v2 signs DynamoDB
// calls (no X-Amz-Content-Sha256 header: the signature covers the body).
func call(c *http.Client, creds aws.Credentials) error { return callInto(c, creds, io.Discard) }

// callInto is call, copying the answer's body to w.
func callInto(c *http.Client, creds aws.Credentials, w io.Writer) error {
	req, _ := http.NewRequest("POST", "https://"+benchHost+"/", bytes.NewReader(getItem))
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.GetItem")
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	if err := signer.SignHTTP(req.Context(), creds, req, getItemHash, "dynamodb", hostRegion(benchHost), time.Now()); err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}
