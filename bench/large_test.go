package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"
)

// Every target has its rows: a peer whose transfer timed out and one that
// could not be set up say why in their own rows, with no figures, and the
// others keep their ratios to direct.
func TestRenderLargeReportsFailedTargets(t *testing.T) {
	const size = 1 << 30
	s := func(secs ...float64) []time.Duration {
		var ds []time.Duration
		for _, x := range secs {
			ds = append(ds, time.Duration(x*float64(time.Second)))
		}
		return ds
	}
	direct := &largeTarget{t: &target{name: "direct", reach: reachDirect, addr: minioAddr}, reps: 3, host: "s3.us-east-1.amazonaws.com"}
	full := &largeTarget{t: &target{name: "gatehouse-full", reach: reachProxy, addr: "10.77.1.1:3128", pid: 1, session: true}, reps: 3, procs: []string{"gatehouse"}}
	mitm := &largeTarget{t: &target{name: "mitmproxy", reach: reachProxy, addr: "10.77.1.1:3142", pid: 2}, reps: 1, procs: []string{"mitmdump"}}
	squid := &largeTarget{t: &target{name: "squid", reach: reachProxy, addr: "10.77.1.1:3141", pid: 4}, reps: 1, procs: []string{"squid", "security_file_certgen"}}
	gop := &largeTarget{t: &target{name: "goproxy-bare", reach: reachProxy, addr: "10.77.1.1:3143", pid: 3, err: errors.New("probe: PutObject (64 KiB): HTTP 403 SignatureDoesNotMatch")}, reps: 1}
	m := &putModes[1]
	rs := []*largeResult{
		{mode: m, lt: direct, puts: s(2, 2, 2), gets: s(1, 1, 1)},
		{mode: m, lt: full, puts: s(2.5, 2.5, 2.5), gets: s(2, 2, 2), peakPut: gwSample{anon: 30 << 20, rss: 60 << 20}, peakGet: gwSample{anon: 31 << 20, rss: 61 << 20}},
		{mode: m, lt: mitm, err: errors.New("PUT timed out after 275 s (1 GiB at 5 MB/s or less): context deadline exceeded")},
		{mode: m, lt: squid, gets: s(4), err: errors.New("PUT failed after 0.2 s: no response, the request's write failed: write: connection reset by peer (the GET read the object put direct)")},
		{mode: m, lt: gop, err: gop.t.err},
	}
	out := renderLarge([]*largeTarget{direct, full, mitm, squid, gop}, rs, size, 3, time.Minute)
	for _, want := range []string{
		"| gatehouse-full | 429 (429–429) | 537 (537–537) | 0.80 | 0.50 |",
		"| mitmproxy | — | — | — | — | — | — | error: PUT timed out after 275 s",
		"| goproxy-bare | — | — | — | — | — | — | error: probe: PutObject (64 KiB): HTTP 403 SignatureDoesNotMatch |",
		"| gatehouse-full | gatehouse | — | 30.0 MiB | 31.0 MiB | — | 60.0 MiB | 61.0 MiB |",
		"| squid | failed (see note) | 268 | — | 0.25 | 0.00 / 0.00 · 0.00 / 0.00 | 0.00 | 0 of 1 PUTs and 1 of 1 GETs made; error: PUT failed after 0.2 s",
		"| mitmproxy | from gh-agent, CONNECT via 10.77.1.1:3142 | — | MinIO's keys | 1 | mitmdump |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
}

// A failed multipart upload is told by its UploadPart's cause, not by the
// upload id in front of it.
func TestShortErrNamesTheCauseOfAMultipartFailure(t *testing.T) {
	err := fmt.Errorf("upload multipart failed, upload id: NjViNTk3, cause: %w",
		&smithy.OperationError{ServiceID: "S3", OperationName: "UploadPart", Err: fmt.Errorf("request send failed: %w", io.ErrUnexpectedEOF)})
	if got, want := shortErr(err), "UploadPart: unexpected EOF"; got != want {
		t.Errorf("shortErr = %q, want %q", got, want)
	}
}
