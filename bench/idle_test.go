package main

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// A target that holds only some of the connections, or none, says so in
// its own row, and the verdict is given for each Gatehouse target.
func TestRenderIdleReportsFailedTargets(t *testing.T) {
	const n = 10_000
	mem := func(anon, rss int64) gwSample { return gwSample{anon: anon << 20, rss: rss << 20, goroutines: -1} }
	direct := &idleRun{t: &target{name: "direct", reach: reachDirect, addr: "10.77.2.3:8443"}, name: "direct", opened: n, again: tally{ok: n}, upOpen: n, upAfter: n}
	full := &idleRun{t: &target{name: "gatehouse-full", reach: reachProxy, addr: "10.77.1.1:3128", pid: 1}, name: "gatehouse-full", opened: n, again: tally{ok: n}, upOpen: 64, upAfter: 64,
		before: mem(20, 40), open: mem(320, 400), after: mem(310, 390), closed: mem(100, 200), procs: []string{"gatehouse"}}
	squid := &idleRun{t: &target{name: "squid", reach: reachProxy, addr: "10.77.1.1:3141", pid: 2}, name: "squid", opened: 9_950, again: tally{ok: 9_950}, upOpen: 9_950, upAfter: 9_950,
		openErrs: 50, firstErr: errors.New("handshake: context deadline exceeded"),
		before: mem(12, 36), open: mem(700, 730), after: mem(700, 730), closed: mem(50, 80), procs: []string{"squid", "security_file_certgen"}}
	mitm := &idleRun{t: &target{name: "mitmproxy", reach: reachProxy, addr: "10.77.1.1:3142", pid: 3}, name: "mitmproxy", err: errors.New("mitmdump exited")}
	pass := &idleRun{t: &target{name: "gatehouse-passthrough", reach: reachProxy, addr: "10.77.1.1:3140", pid: 4}, name: "gatehouse-passthrough", err: errors.New("no connection opened")}
	out := renderIdle(n, []*idleRun{direct, full, squid, mitm, pass}, nil, nil, time.Minute)
	for _, want := range []string{
		"| squid | CONNECT via 10.77.1.1:3141 | 9950 of 10000 |",
		"| 9950 / 9950 | 50 failed to open, first: handshake: context deadline exceeded |",
		"| mitmproxy | CONNECT via 10.77.1.1:3142 | — | — | — | — | — | error: mitmdump exited |",
		"| squid | squid + security_file_certgen | 12.0 MiB · 700.0 MiB · 700.0 MiB · 50.0 MiB |",
		"- gatehouse-full: 10000 idle connections ≤ 1 GiB RSS: VmRSS 400.0 MiB at most (RssAnon 320.0 MiB) with 10000 open, 10000 still open after the wait — holds",
		"- gatehouse-passthrough: 10000 idle connections ≤ 1 GiB RSS: not measured — DOES NOT HOLD",
		"about one upstream connection per agent connection: squid (9950 for 9950)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
}
