package main

// The held workload: -held-calls (1,000) signed DynamoDB DeleteItems from
// gh-agent at once, each held for approval by a rule the bench adds to the
// lab policy; Gatehouse's memory while all are held; an approver approves
// each through the admin API; every call must then complete.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/gatehouse/gatehouse/deploy/lab"
	"github.com/gatehouse/gatehouse/policy/approval"
)

const (
	// heldSection is the workload's heading in BENCHMARKS.md (its start:
	// the count follows).
	heldSection = "## Calls held for approval"
	heldRuleID  = "bench-held-deletes"
	heldTable   = "gh-bench-held"
	// heldHold replaces the lab's approvals.hold (3s) for the run, so that
	// every call is still held, not answered with a retryable 503, when
	// the last one arrives and while an approver works through them.
	heldHold = 2 * time.Minute
	// adminAPI is Gatehouse's admin API in the lab (approvals.listen).
	adminAPI = "https://10.77.1.1:9443"
	// heldDials bounds the calls' dials in flight (each locks an OS thread
	// while it enters gh-agent); the calls themselves all go at once.
	heldDials = 64
	// heldApprovers approve in parallel, as that many people (or one
	// script) would, over one keep-alive client.
	heldApprovers = 16
	deleteItem    = "DynamoDB_20120810.DeleteItem"
)

// heldRule goes first among the lab policy's rules for the run.
const heldRule = `  - id: ` + heldRuleID + `            # make bench (held workload); removed after
    effect: approve
    identities: {groups: [agents]}
    actions: ["dynamodb:DeleteItem"]
    resources: ["arn:aws:dynamodb:*:*:table/` + heldTable + `"]
`

var holdKey = regexp.MustCompile(`(?m)^  hold: .*$`)

// heldCall is one held call as the agent saw it.
type heldCall struct {
	status  int
	err     error
	retries int // retryable held-for-approval 503s before the answer
	done    time.Time
}

type heldResult struct {
	n                     int
	hooks                 map[approval.EventKind]int
	hookErrs              int // webhook deliveries Gatehouse logged as failed or dropped
	before, pending       gwSample
	after                 gwSample
	peakHold, peakRelease struct{ anon, rss int64 }
	allPending            time.Duration // from the first call to n pending
	seen                  int           // pending requests of the bench's rule the list showed at most
	approveTook           time.Duration // from the first approval to the last answered
	approveLat            []time.Duration
	approvals             tally         // the admin API's answers to the approvals
	completeTook          time.Duration // from the first approval to the last call's answer
	afterLast             time.Duration // from the last approval answered to the last call's answer
	ok, failed, retried   int
	firstFail             string
	upstream              int    // DeleteItems the upstream saw
	heap                  string // pprof -top of the heap with all held
	memStats              map[string]float64
}

func runHeld(ctx context.Context, root string, n int) (string, error) {
	t0 := time.Now()
	// Both ends of every call's connections, once approved ones go
	// upstream to the bench's server here.
	if err := raiseNofile(2*n + 1000); err != nil {
		return "", fmt.Errorf("held: %w", err)
	}
	out := lab.Out(root)
	gatehouseLog = filepath.Join(out, "gatehouse.log")
	publicCA, err := lab.CertPool(filepath.Join(out, "pki/public-ca.pem"))
	if err != nil {
		return "", err
	}
	gatehouseCA, err := lab.CertPool(filepath.Join(out, "gatehouse-ca.pem"))
	if err != nil {
		return "", err
	}
	adminToken, err := os.ReadFile(filepath.Join(out, "tokens/admin"))
	if err != nil {
		return "", err
	}
	up, err := startBenchUpstream(root)
	if err != nil {
		return "", err
	}
	defer up.Close()
	hooks := &heldHooks{kinds: map[approval.EventKind]int{}}
	hln, err := lab.Listen(lab.NSAWS, lab.AWSIP2+":8080") // approvals.webhooks in the lab config
	if err != nil {
		return "", err
	}
	hsrv := &http.Server{Handler: hooks, ErrorLog: log.New(io.Discard, "", 0)}
	go hsrv.Serve(hln)
	defer hsrv.Close()

	restore, err := installHeld(root)
	if err != nil {
		return "", err
	}
	defer restore()
	pid, err := gatehousePID(root)
	if err != nil {
		return "", err
	}
	creds, err := sessionCreds(ctx, lab.AgentDial(lab.AWSAddr), gatehouseCA, filepath.Join(out, "tokens/agent"))
	if err != nil {
		return "", err
	}
	admin := &approval.Client{BaseURL: adminAPI, Token: strings.TrimSpace(string(adminToken)), HTTPClient: &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext:         lab.AgentDial(nil),
			TLSClientConfig:     &tls.Config{RootCAs: publicCA},
			MaxIdleConnsPerHost: heldApprovers,
		},
	}}
	// The admin API answers (Gatehouse just started) and nothing of the
	// bench's rule is pending yet.
	var pend []approval.Request
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if pend, err = admin.List(ctx, approval.StatusPending); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		return "", fmt.Errorf("held: the admin API at %s: %w", adminAPI, err)
	}
	if k := len(benchPending(pend)); k > 0 {
		return "", fmt.Errorf("held: %d requests of rule %s already pending", k, heldRuleID)
	}

	r := &heldResult{n: n}
	r.before = sampleGW(pid)
	logOff := logSize()
	sem := make(chan struct{}, heldDials)
	dial := lab.AgentDial(func(string) string { return lab.AWSIP2 + ":443" })
	client := &http.Client{Timeout: heldHold + time.Minute, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			sem <- struct{}{}
			defer func() { <-sem }()
			return dial(ctx, network, addr)
		},
		TLSClientConfig:     &tls.Config{RootCAs: gatehouseCA, ServerName: benchHost},
		MaxIdleConnsPerHost: n,
	}}
	defer client.CloseIdleConnections()

	// Every call at once, each on its own connection, as n agents.
	calls := make([]heldCall, n)
	var wg sync.WaitGroup
	var finished atomic.Int64
	stopHold := peakMem(pid)
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer finished.Add(1)
			calls[i] = deleteHeld(ctx, client, creds, i)
		}()
	}
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()

	// Wait for all n pending, as an approver lists them.
	for deadline := time.Now().Add(heldHold - 15*time.Second); ; time.Sleep(250 * time.Millisecond) {
		pend, err = admin.List(ctx, approval.StatusPending)
		if err == nil {
			pend = benchPending(pend)
			r.seen = max(r.seen, len(pend))
			if len(pend) >= n {
				r.allPending = time.Since(start)
				break
			}
		}
		if time.Now().After(deadline) || finished.Load() > 0 {
			stopHold()
			<-allDone
			return "", fmt.Errorf("held: %d of %d calls pending at most after %s (%d answered already; first: %s; list error: %v)",
				r.seen, n, time.Since(start).Round(time.Second), finished.Load(), firstFailure(calls), err)
		}
	}
	r.pending = sampleGW(pid)
	r.peakHold.anon, r.peakHold.rss = stopHold()
	r.memStats = gwMemStats("HeapAlloc", "HeapInuse", "Stack")
	if r.heap, err = heapTop("gatehouse-bench-held-heap.pprof", 12); err != nil {
		return "", fmt.Errorf("held: heap profile: %w", err)
	}
	fmt.Fprintf(os.Stderr, "bench: held: %d pending after %.1fs; Gatehouse RssAnon %s → %s (peak %s), VmRSS %s → %s (peak %s), fds %d → %d, goroutines %d → %d\n",
		len(pend), r.allPending.Seconds(), mib(r.before.anon), mib(r.pending.anon), mib(r.peakHold.anon), mib(r.before.rss), mib(r.pending.rss), mib(r.peakHold.rss),
		r.before.fds, r.pending.fds, r.before.goroutines, r.pending.goroutines)

	// Approve each (the API has no bulk approval), heldApprovers at a time.
	stopRelease := peakMem(pid)
	ids := make(chan string, len(pend))
	for _, p := range pend {
		ids <- p.ID
	}
	close(ids)
	var mu sync.Mutex
	var awg sync.WaitGroup
	a0 := time.Now()
	for range heldApprovers {
		awg.Add(1)
		go func() {
			defer awg.Done()
			for id := range ids {
				t := time.Now()
				_, err := admin.Approve(ctx, id, "make bench: held workload", 0)
				d := time.Since(t)
				mu.Lock()
				r.approveLat = append(r.approveLat, d)
				r.approvals.add(err)
				mu.Unlock()
			}
		}()
	}
	awg.Wait()
	r.approveTook = time.Since(a0)
	lastApproval := time.Now()
	fmt.Fprintf(os.Stderr, "bench: held: %d approved in %.1fs (%d failed: %v); %d calls answered so far\n",
		r.approvals.ok, r.approveTook.Seconds(), r.approvals.errs, r.approvals.first, finished.Load())
	select {
	case <-allDone:
	case <-time.After(heldHold + time.Minute):
		return "", fmt.Errorf("held: %d of %d calls answered %s after the approvals", finished.Load(), n, heldHold+time.Minute)
	}
	r.peakRelease.anon, r.peakRelease.rss = stopRelease()
	var last time.Time
	for _, c := range calls {
		last = later(last, c.done)
		r.retried += c.retries
		if c.err == nil && c.status == 200 {
			r.ok++
			continue
		}
		r.failed++
	}
	r.firstFail = firstFailure(calls)
	r.completeTook = last.Sub(a0)
	r.afterLast = last.Sub(lastApproval)
	r.upstream = up.callsOf(deleteItem)
	time.Sleep(time.Second) // the webhooks of the last decisions
	r.after = sampleGW(pid)
	r.hooks = hooks.counts()
	r.hookErrs = countLog(logOff, "approval webhook")
	fmt.Fprintf(os.Stderr, "bench: held: %d of %d completed with 200 (%d failed: %s; %d held-for-approval retries), the last %.1fs after the first approval, %.1fs after the last; upstream saw %d DeleteItems; webhooks %v (%d failures logged)\n",
		r.ok, n, r.failed, r.firstFail, r.retried, r.completeTook.Seconds(), r.afterLast.Seconds(), r.upstream, r.hooks, r.hookErrs)
	return renderHeld(r, time.Since(t0).Round(time.Second)), nil
}

// deleteHeld sends the i-th DeleteItem (its own key, so its own approval
// request: the request's key is the call's body hash among others) and
// retries the retryable 503 of a hold that ended, as an SDK would.
func deleteHeld(ctx context.Context, c *http.Client, creds aws.Credentials, i int) heldCall {
	body := []byte(fmt.Sprintf(`{"TableName":%q,"Key":{"pk":{"S":"held-%05d"}}}`, heldTable, i))
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	var hc heldCall
	for {
		req, _ := http.NewRequestWithContext(ctx, "POST", "https://"+benchHost+"/", bytes.NewReader(body))
		req.Header.Set("X-Amz-Target", deleteItem)
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		if err := signer.SignHTTP(ctx, creds, req, hash, "dynamodb", hostRegion(benchHost), time.Now()); err != nil {
			hc.err = err
			break
		}
		resp, err := c.Do(req)
		if err != nil {
			hc.err = err
			break
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		hc.status, hc.err = resp.StatusCode, err
		if resp.StatusCode == 503 && bytes.Contains(b, []byte("held for approval")) && hc.retries < 3 {
			hc.retries++
			continue
		}
		if resp.StatusCode != 200 && err == nil {
			hc.err = fmt.Errorf("status %d: %.300s", resp.StatusCode, b)
		}
		break
	}
	hc.done = time.Now()
	return hc
}

func firstFailure(calls []heldCall) string {
	for _, c := range calls {
		if c.err != nil {
			return c.err.Error()
		}
	}
	return "none"
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// benchPending keeps the requests of the bench's rule.
func benchPending(ps []approval.Request) []approval.Request {
	var out []approval.Request
	for _, p := range ps {
		if p.Rule == heldRuleID && p.Status == approval.StatusPending {
			out = append(out, p)
		}
	}
	return out
}

// heldHooks is the approvers' webhook endpoint: it counts events by kind.
type heldHooks struct {
	mu    sync.Mutex
	kinds map[approval.EventKind]int
}

func (h *heldHooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var p approval.JSONPayload
	err := json.NewDecoder(r.Body).Decode(&p)
	h.mu.Lock()
	if err != nil {
		h.kinds["unreadable"]++
	} else {
		h.kinds[p.Event]++
	}
	h.mu.Unlock()
}

func (h *heldHooks) counts() map[approval.EventKind]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := make(map[approval.EventKind]int, len(h.kinds))
	for k, v := range h.kinds {
		c[k] = v
	}
	return c
}

// countLog counts the lines of Gatehouse's log past off containing s.
func countLog(off int64, s string) int {
	b, err := os.ReadFile(gatehouseLog)
	if err != nil || int64(len(b)) < off {
		return 0
	}
	return strings.Count(string(b[off:]), s)
}

// peakMem samples pid's RssAnon and VmRSS every 100 ms until stop, which
// returns their peaks.
func peakMem(pid int) (stop func() (anon, rss int64)) {
	var anon, rss int64
	take := func() {
		if v, err := vm(pid, "RssAnon"); err == nil {
			anon = max(anon, v)
		}
		if v, err := vm(pid, "VmRSS"); err == nil {
			rss = max(rss, v)
		}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for take(); ; take() {
			select {
			case <-quit:
				take()
				return
			case <-t.C:
			}
		}
	}()
	return func() (int64, int64) { close(quit); <-done; return anon, rss }
}

// installHeld puts the bench's rule first in out/policy.yaml, checked
// first, and restarts the lab's Gatehouse with approvals.hold at heldHold
// (withConfig), which reads it at its start. restore writes the lab's
// policy back and restarts Gatehouse with the lab's config.
func installHeld(root string) (restore func(), err error) {
	out := lab.Out(root)
	polFile := filepath.Join(out, "policy.yaml")
	orig, err := os.ReadFile(polFile)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(polFile)
	if err != nil {
		return nil, err
	}
	loc := rulesKey.FindIndex(orig)
	if loc == nil {
		return nil, errors.New("held: the lab policy has no top-level \"rules:\" line to add the bench rule under")
	}
	pol := slices.Concat(orig[:loc[1]], []byte(heldRule), orig[loc[1]:])
	// Checked outside out/, which Gatehouse watches.
	tmp, err := os.CreateTemp("", "gatehouse-bench-policy-*.yaml")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	tmp.Write(pol)
	tmp.Close()
	if b, err := exec.Command(filepath.Join(out, "bin/gatehouse"), "policy", "check", tmp.Name()).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("held: the lab policy with the bench rule does not check: %v: %s", err, b)
	}
	writePolicy := func(b []byte) {
		if err := os.WriteFile(polFile, b, st.Mode().Perm()); err != nil {
			fmt.Fprintf(os.Stderr, "bench: held: writing %s: %v\n", polFile, err)
		}
	}
	// The running Gatehouse reloads it too; the restart reads it whole.
	writePolicy(pol)
	restoreGW, err := withConfig(root, "gatehouse-bench-held.yaml", func(cfg []byte) ([]byte, error) {
		if k := len(holdKey.FindAll(cfg, -1)); k != 1 {
			return nil, fmt.Errorf("held: out/gatehouse.yaml has %d \"  hold:\" lines, want the one of approvals", k)
		}
		return holdKey.ReplaceAll(cfg, []byte("  hold: "+heldHold.String()+"   # make bench (held workload)")), nil
	})
	if err != nil {
		writePolicy(orig)
		return nil, fmt.Errorf("held: %w", err)
	}
	return func() { writePolicy(orig); restoreGW() }, nil
}

func renderHeld(r *heldResult, took time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%d at once)\n\n", heldSection, r.n)
	fmt.Fprintf(&b, `Run on %s: %d cores, %s, with the lab up (this section is rewritten
alone by `+"`go run ./bench -workloads held`"+`; the workload took %s).
Through the lab's Gatehouse only: the other targets (gatehouse-passthrough
with its allow-all policy, squid, mitmproxy, goproxy-bare) have no
approvals to hold a call for, so this workload has no peer to compare
with. The bench restarts the lab's Gatehouse with approvals.hold at %s (the
lab's is 3 s, after which a held call gets a retryable 503 and its retry
finds the same request) and a rule first in the lab policy holding
dynamodb:DeleteItem on table %s for agents (effect: approve). From
gh-agent, %d SigV4-signed DeleteItems start at once, each with its own key
(so its own approval request) on its own TLS connection (dials %d at a
time), to the bench's DynamoDB-like upstream on %s:443 through
Gatehouse. When the admin API lists %d pending requests of the rule, an
approver (admin-1, group admins, a token from the lab's issuer) approves
each over HTTPS (POST /v1/approvals/{id}/approve; the API and the CLI
approve one request at a time, and a grant window, `+"`--for`"+`, covers later
calls of the same identity, action and table but does not wake calls
already held on requests of their own), %d approvals in flight; every
call must then complete with 200. A call answered with the hold's
retryable 503 would be retried (up to 3 times), as an SDK does.

`, time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), cpuModel(), took, heldHold, heldTable, r.n, heldDials, lab.AWSIP2, r.n, heldApprovers)
	slices.Sort(r.approveLat)
	pct := func(p float64) time.Duration {
		if len(r.approveLat) == 0 {
			return 0
		}
		return r.approveLat[min(len(r.approveLat)-1, int(float64(len(r.approveLat))*p))]
	}
	per := func(a, b int64) string { return fmt.Sprintf("%.1f KiB", float64(b-a)/1024/float64(r.n)) }
	fmt.Fprintf(&b, "| | |\n|---|---:|\n")
	fmt.Fprintf(&b, "| all %d pending, after the first call started | %.1f s |\n", r.n, r.allPending.Seconds())
	fmt.Fprintf(&b, "| Gatehouse RssAnon: before / all held / peak while held / peak while approved and answered | %s / %s / %s / %s |\n", mib(r.before.anon), mib(r.pending.anon), mib(r.peakHold.anon), mib(r.peakRelease.anon))
	fmt.Fprintf(&b, "| Gatehouse VmRSS: before / all held / peak while held / peak while approved and answered | %s / %s / %s / %s |\n", mib(r.before.rss), mib(r.pending.rss), mib(r.peakHold.rss), mib(r.peakRelease.rss))
	fmt.Fprintf(&b, "| per held call (all held, less before): RssAnon, VmRSS | %s, %s |\n", per(r.before.anon, r.pending.anon), per(r.before.rss, r.pending.rss))
	fmt.Fprintf(&b, "| Gatehouse's Go heap with all held: HeapAlloc (live and not yet collected) / HeapInuse / goroutine stacks | %s / %s / %s |\n",
		mib(int64(r.memStats["HeapAlloc"])), mib(int64(r.memStats["HeapInuse"])), mib(int64(r.memStats["Stack"])))
	fmt.Fprintf(&b, "| Gatehouse open fds / goroutines: before, all held, after | %d / %d, %d / %d, %d / %d |\n", r.before.fds, r.before.goroutines, r.pending.fds, r.pending.goroutines, r.after.fds, r.after.goroutines)
	fmt.Fprintf(&b, "| approving all %d (%d in flight) | %.1f s (%.0f/s; one approval p50 %s, p99 %s) |\n", r.n, heldApprovers, r.approveTook.Seconds(), float64(r.approvals.ok)/r.approveTook.Seconds(), us(pct(0.5)), us(pct(0.99)))
	fmt.Fprintf(&b, "| all calls answered, after the first approval / after the last | %.1f s / %.1f s |\n", r.completeTook.Seconds(), r.afterLast.Seconds())
	fmt.Fprintf(&b, "| calls completed with 200 | %d of %d |\n", r.ok, r.n)
	fmt.Fprintf(&b, "| DeleteItems that reached the upstream | %d |\n", r.upstream)
	fmt.Fprintf(&b, "| held-for-approval 503s retried | %d |\n", r.retried)
	var hooks []string
	for _, k := range slices.Sorted(maps.Keys(r.hooks)) {
		hooks = append(hooks, fmt.Sprintf("%s %d", k, r.hooks[k]))
	}
	fmt.Fprintf(&b, "| webhook deliveries received (one per held call and per decision) / failures Gatehouse logged | %s / %d |\n", strings.Join(hooks, ", "), r.hookErrs)
	verdict := "all complete after approval"
	if r.ok < r.n || r.approvals.errs > 0 {
		verdict = fmt.Sprintf("NOT ALL COMPLETE: %d failed (first: %s); %d approvals failed (first: %v)", r.failed, r.firstFail, r.approvals.errs, r.approvals.first)
	}
	fmt.Fprintf(&b, "\nTarget (issue [6/6]): %d calls held at once, and all complete after approval — %s.\n", r.n, verdict)
	fmt.Fprintf(&b, `
"After" is a second after the last call's answer, with the agents' %d
keep-alive connections still open and Gatehouse's upstream pool holding
what it keeps. Gatehouse's in-use heap with all %d held (net/http/pprof
heap?gc=1, taken after the samples above), `+"`go tool pprof -top -sample_index=inuse_space`"+`, top 12:

`+"```"+`
%s`+"```"+`
`, r.n, r.n, r.heap)
	return b.String()
}
