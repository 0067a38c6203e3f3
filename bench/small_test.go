package main

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// A target that fails is a row saying why, and the verdicts that need it
// say it was not measured; the others get figures and ratios.
func TestRenderSmallReportsAFailedTarget(t *testing.T) {
	res := func(calls int, p50 time.Duration) *result {
		r := &result{calls: calls, elapsed: time.Second}
		for range calls {
			r.lat = append(r.lat, p50)
		}
		return r
	}
	direct := &measured{t: &target{name: "direct"}, conc: 64, r: res(1000, time.Millisecond)}
	full := &measured{t: &target{name: "gatehouse-full", pid: 1}, conc: 64, r: res(600, 1200*time.Microsecond), use: usage{target: 0.3}}
	squid := &measured{t: &target{name: "squid", pid: 2}, conc: 64, r: res(500, 2*time.Millisecond)}
	mitm := &measured{t: &target{name: "mitmproxy", pid: 3}, conc: 64, err: errors.New("mitmdump exited | Traceback")}
	out := renderSmall("HEAD\n", [][]*measured{{direct, full, squid, mitm}}, time.Second)
	for _, want := range []string{
		"| gatehouse-full | 600 | 0.60 | 1.200 ms | 1.200 ms | 0.200 ms | 0.200 ms | 500 µs |",
		"| mitmproxy | — | — | — | — | — | — | — | — | — | — | error: mitmdump exited / Traceback |",
		"0.60× direct (want ≥ 0.5: holds)",
		"1.20× squid (want ≥ 1.0: holds)",
		"× mitmproxy not measured (want ≥ 20.0)",
		"added p50 0.200 ms (want ≤ 0.300 ms: holds)",
		"0.1 cores before each run",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
}
