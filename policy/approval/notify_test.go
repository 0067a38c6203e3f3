package approval

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// receiver is a webhook endpoint that fails the first attempt of each
// delivery with a 500 (or every one with fail), and keeps what it
// accepted.
type receiver struct {
	mu       sync.Mutex
	attempts map[string]int // path → POSTs
	got      chan delivery
	fail     map[string]int // path → status for every attempt
}

type delivery struct {
	path   string
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T) (*receiver, *httptest.Server) {
	rc := &receiver{attempts: map[string]int{}, got: make(chan delivery, 64), fail: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.attempts[r.URL.Path]++
		n, fail := rc.attempts[r.URL.Path], rc.fail[r.URL.Path]
		rc.mu.Unlock()
		switch {
		case fail != 0:
			w.WriteHeader(fail)
		case n%2 == 1: // every event's first attempt
			http.Error(w, "try again", http.StatusInternalServerError)
		default:
			rc.got <- delivery{path: r.URL.Path, header: r.Header.Clone(), body: body}
		}
	}))
	t.Cleanup(srv.Close)
	return rc, srv
}

func (rc *receiver) next(t *testing.T, path string) delivery {
	t.Helper()
	for {
		select {
		case d := <-rc.got:
			if d.path == path {
				return d
			}
			rc.got <- d // another hook's; put it back
			time.Sleep(time.Millisecond)
		case <-time.After(10 * time.Second):
			t.Fatalf("no delivery to %s", path)
		}
	}
}

type errLog struct {
	mu   sync.Mutex
	errs []string
}

func (l *errLog) add(err error) { l.mu.Lock(); l.errs = append(l.errs, err.Error()); l.mu.Unlock() }
func (l *errLog) all() string   { l.mu.Lock(); defer l.mu.Unlock(); return strings.Join(l.errs, "\n") }

func TestWebhooks(t *testing.T) {
	rc, srv := newReceiver(t)
	var log errLog
	n, err := NewNotifier([]Webhook{
		{URL: srv.URL + "/json", Headers: map[string]string{"X-Receiver-Token": "t0k"}},
		{URL: srv.URL + "/json-no-params", OmitParams: true},
		{URL: srv.URL + "/services/T0/B0/SECRETPART", Format: "slack"},
	}, NotifierOptions{Backoff: 10 * time.Millisecond, OnError: log.add})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	s, err := Open(Options{Dir: t.TempDir(), Notify: n.Notify})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	req, _, err := s.Create(call("body"))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("json on create, after a 500", func(t *testing.T) {
		d := rc.next(t, "/json")
		if d.header.Get("X-Receiver-Token") != "t0k" || d.header.Get("Content-Type") != "application/json" {
			t.Fatalf("headers %v", d.header)
		}
		var p JSONPayload
		if err := json.Unmarshal(d.body, &p); err != nil {
			t.Fatal(err)
		}
		if p.Event != EventCreated || p.Request.ID != req.ID || p.Request.Action != "s3:DeleteObject" || p.Request.Params["Bucket"] != "reports" {
			t.Fatalf("payload %s", d.body)
		}
		if want := "gatehouse approvals approve " + req.ID; !strings.HasPrefix(p.Commands.Approve, want) {
			t.Fatalf("approve command %q, want %q...", p.Commands.Approve, want)
		}
	})
	t.Run("json without params when configured", func(t *testing.T) {
		d := rc.next(t, "/json-no-params")
		if strings.Contains(string(d.body), "params") || !strings.Contains(string(d.body), req.ID) {
			t.Fatalf("payload %s", d.body)
		}
	})
	t.Run("slack on create, after a 500", func(t *testing.T) {
		d := rc.next(t, "/services/T0/B0/SECRETPART")
		var m SlackMessage
		if err := json.Unmarshal(d.body, &m); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(m.Text, "s3:DeleteObject") || !strings.Contains(m.Text, "agent-7") || len(m.Blocks) == 0 {
			t.Fatalf("message %s", d.body)
		}
		blocks, _ := json.Marshal(m.Blocks)
		for _, want := range []string{"agent-7", "https://idp.test", "s3:DeleteObject", "arn:aws:s3:::reports/2030/q1.csv",
			"gatehouse approvals approve " + req.ID, "gatehouse approvals approve " + req.ID + " --for 15m", "gatehouse approvals deny " + req.ID} {
			if !strings.Contains(string(blocks), want) {
				t.Errorf("blocks lack %q: %s", want, blocks)
			}
		}
		if strings.Contains(string(d.body), "VersionId") {
			t.Error("a Slack message carries the call's params")
		}
	})
	t.Run("decisions are sent too", func(t *testing.T) {
		if _, err := s.Approve(req.ID, alice, "ticket OPS-1", 0); err != nil {
			t.Fatal(err)
		}
		var p JSONPayload
		json.Unmarshal(rc.next(t, "/json").body, &p)
		if p.Event != EventApproved || p.Request.Status != StatusApproved || p.Request.Approvals[0].Approver.Subject != "alice" || p.Commands != (Commands{}) {
			t.Fatalf("approved payload %+v", p)
		}
		body := rc.next(t, "/services/T0/B0/SECRETPART").body
		if !strings.Contains(string(body), "Approved by alice") || !strings.Contains(string(body), "ticket OPS-1") {
			t.Fatalf("slack approval %s", body)
		}
	})
	t.Run("failed attempts are reported without the URL's secret", func(t *testing.T) {
		errs := log.all()
		if !strings.Contains(errs, "attempt 1 of 5: status 500") {
			t.Fatalf("errors %q", errs)
		}
		if strings.Contains(errs, "SECRETPART") || strings.Contains(errs, "t0k") {
			t.Fatalf("an error shows a secret: %q", errs)
		}
	})
}

func TestWebhookGivesUp(t *testing.T) {
	rc, srv := newReceiver(t)
	rc.fail["/gone"] = http.StatusNotFound
	rc.fail["/down"] = http.StatusServiceUnavailable
	tests := []struct {
		path         string
		wantAttempts int
	}{
		{"/gone", 1}, // a 4xx will not get better
		{"/down", 3},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			done := make(chan string, 8)
			n, err := NewNotifier([]Webhook{{URL: srv.URL + tt.path}}, NotifierOptions{Attempts: 3, Backoff: time.Millisecond, OnError: func(err error) {
				if strings.HasSuffix(err.Error(), "giving up") {
					done <- err.Error()
				}
			}})
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			n.Notify(Event{Kind: EventCreated, Request: call("x")})
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("never gave up")
			}
			rc.mu.Lock()
			defer rc.mu.Unlock()
			if rc.attempts[tt.path] != tt.wantAttempts {
				t.Fatalf("%d attempts, want %d", rc.attempts[tt.path], tt.wantAttempts)
			}
		})
	}
}

// Notify must return at once whatever the receiver does: the held call
// is waiting.
func TestNotifyNeverBlocks(t *testing.T) {
	stall := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-stall }))
	defer srv.Close()
	defer close(stall)
	n, err := NewNotifier([]Webhook{{URL: srv.URL}}, NotifierOptions{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := range maxInFlight + 10 {
		n.Notify(Event{Kind: EventCreated, Request: Request{ID: fmt.Sprint(i)}})
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Notify took %v", took)
	}
	closed := make(chan struct{})
	go func() { n.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not abandon stalled deliveries")
	}
}

func TestNewNotifierRefuses(t *testing.T) {
	for _, h := range []Webhook{
		{URL: "ftp://example.test/hook"},
		{URL: "https://"},
		{URL: "https://example.test/hook", Format: "teams"},
		{URL: "https://example.test/hook", Headers: map[string]string{"Bad Name": "x"}},
	} {
		if _, err := NewNotifier([]Webhook{h}, NotifierOptions{}); err == nil {
			t.Errorf("%+v accepted", h)
		} else if strings.Contains(err.Error(), "/hook") {
			t.Errorf("error shows the URL's path: %v", err)
		}
	}
}
