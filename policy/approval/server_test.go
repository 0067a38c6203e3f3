package approval

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// tokens is an Authenticator over a fixed table.
type tokens map[string]Principal

func (ts tokens) Authenticate(_ context.Context, token string) (Principal, error) {
	if token == "idp-down" {
		return Principal{}, fmt.Errorf("discover: %w", ErrAuthUnavailable)
	}
	p, ok := ts[token]
	if !ok {
		return Principal{}, errors.New("signature not valid")
	}
	return p, nil
}

var testTokens = tokens{
	"alice-token": alice,
	"bob-token":   bob,
	"agent-token": agentAsApprover,
	"eve-token":   {Issuer: "https://idp.test", Subject: "eve", Groups: []string{"developers"}},
}

// serveTLS runs the admin API with ServeTLS on 127.0.0.1:0 under a
// certificate made here, and returns its URL and a client trusting it.
func serveTLS(t *testing.T, s *Store) (string, *http.Client) {
	t.Helper()
	cfg, leaf := testCert(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	api := NewServer(s, testTokens, []string{"approvers", "sre"})
	go func() { done <- api.ServeTLS(ctx, ln, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeTLS: %v", err)
		}
	})
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	t.Cleanup(tr.CloseIdleConnections)
	return "https://" + ln.Addr().String(), &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// testCert is a self-signed certificate for 127.0.0.1, made here.
func testCert(t *testing.T) (*tls.Config, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "approvals test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}}}, leaf
}

func TestAdminAPI(t *testing.T) {
	clk := newClock()
	s := openStore(t, t.TempDir(), clk)
	base, hc := serveTLS(t, s)
	pending := mustCreate(t, s, call("pending"))
	own := mustCreate(t, s, call("own"))
	twice := mustCreate(t, s, call("twice"))
	denied := mustCreate(t, s, call("denied"))
	if _, err := s.Deny(denied.ID, bob, "no"); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		token      string
		method     string
		path       string
		body       string
		wantStatus int
		wantError  string // in {"error"}
	}{
		{name: "no token: 401", method: "GET", path: "/v1/approvals", wantStatus: 401, wantError: "bearer token is required"},
		{name: "a token the IdP refuses: 401", token: "forged", method: "GET", path: "/v1/approvals", wantStatus: 401, wantError: "not accepted"},
		{name: "IdP unavailable: 503", token: "idp-down", method: "GET", path: "/v1/approvals", wantStatus: 503},
		{name: "not in an approver group: 403", token: "eve-token", method: "GET", path: "/v1/approvals", wantStatus: 403, wantError: "not in an approver group"},
		{name: "not in an approver group cannot approve: 403", token: "eve-token", method: "POST", path: "/v1/approvals/" + pending.ID + "/approve", wantStatus: 403},
		{name: "approver lists: 200", token: "alice-token", method: "GET", path: "/v1/approvals?status=pending", wantStatus: 200},
		{name: "a status that does not exist: 400", token: "alice-token", method: "GET", path: "/v1/approvals?status=maybe", wantStatus: 400},
		{name: "approver shows one: 200", token: "alice-token", method: "GET", path: "/v1/approvals/" + pending.ID, wantStatus: 200},
		{name: "an unknown id: 404", token: "alice-token", method: "GET", path: "/v1/approvals/0000000000000000", wantStatus: 404},
		{name: "an unknown endpoint: 404", token: "alice-token", method: "GET", path: "/v1/other", wantStatus: 404},
		{name: "GET on approve: 405", token: "alice-token", method: "GET", path: "/v1/approvals/" + pending.ID + "/approve", wantStatus: 405},
		{name: "self-approval: 403", token: "agent-token", method: "POST", path: "/v1/approvals/" + own.ID + "/approve", body: `{"reason":"mine"}`, wantStatus: 403, wantError: "own call"},
		{name: "self-denial: 403", token: "agent-token", method: "POST", path: "/v1/approvals/" + own.ID + "/deny", wantStatus: 403},
		{name: "a window that does not parse: 400", token: "alice-token", method: "POST", path: "/v1/approvals/" + pending.ID + "/approve", body: `{"for":"soon"}`, wantStatus: 400},
		{name: "a window over the maximum: 400", token: "alice-token", method: "POST", path: "/v1/approvals/" + pending.ID + "/approve", body: `{"for":"48h"}`, wantStatus: 400},
		{name: "a denial with a window: 400", token: "alice-token", method: "POST", path: "/v1/approvals/" + pending.ID + "/deny", body: `{"for":"1h"}`, wantStatus: 400},
		{name: "an unknown field: 400", token: "alice-token", method: "POST", path: "/v1/approvals/" + pending.ID + "/approve", body: `{"reson":"typo"}`, wantStatus: 400},
		{name: "deciding a denied request: 409", token: "alice-token", method: "POST", path: "/v1/approvals/" + denied.ID + "/approve", wantStatus: 409, wantError: "already decided"},
		{name: "first approval: 200", token: "alice-token", method: "POST", path: "/v1/approvals/" + twice.ID + "/approve", body: `{"reason":"ok","for":"15m"}`, wantStatus: 200},
		{name: "approved already: 409", token: "alice-token", method: "POST", path: "/v1/approvals/" + twice.ID + "/approve", wantStatus: 409},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, base+tt.path, strings.NewReader(tt.body))
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("%d %s, want %d", resp.StatusCode, body, tt.wantStatus)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("content type %q", ct)
			}
			var e errorBody
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("not JSON: %s", body)
			}
			if (tt.wantStatus >= 400) != (e.Error != "") || !strings.Contains(e.Error, tt.wantError) {
				t.Fatalf("error %q, want one with %q", e.Error, tt.wantError)
			}
			if tt.wantStatus == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
			if strings.Contains(string(body), "signature not valid") {
				t.Fatal("the Authenticator's reason reached the caller")
			}
		})
	}

	t.Run("self-approval leaves the request unchanged", func(t *testing.T) {
		got, _ := s.Get(own.ID)
		if got.Status != StatusPending || len(got.Approvals) != 0 || got.Denial != nil {
			t.Fatalf("%+v", got)
		}
	})
	t.Run("the decision is recorded: who, when, why, for how long", func(t *testing.T) {
		got, _ := s.Get(twice.ID)
		v := got.Approvals[0]
		if got.Status != StatusApproved || v.Approver.Subject != "alice" || v.Approver.Issuer != alice.Issuer ||
			!v.At.Equal(clk.Now()) || v.Reason != "ok" || got.GrantFor != 15*time.Minute {
			t.Fatalf("%+v", got)
		}
	})
}

func TestClient(t *testing.T) {
	clk := newClock()
	s := openStore(t, t.TempDir(), clk)
	base, hc := serveTLS(t, s)
	ctx := context.Background()
	two := call("two")
	two.MinApprovals = 2
	req := mustCreate(t, s, two)
	clk.Add(time.Second) // List is oldest first
	other := mustCreate(t, s, call("other"))

	aliceC := &Client{BaseURL: base, HTTPClient: hc, Token: "alice-token"}
	bobC := &Client{BaseURL: base, HTTPClient: hc, Token: "bob-token"}

	list, err := aliceC.List(ctx, StatusPending)
	if err != nil || len(list) != 2 || list[0].ID != req.ID {
		t.Fatalf("list: %v %v", list, err)
	}
	got, err := aliceC.Approve(ctx, req.ID, "one", 15*time.Minute)
	if err != nil || got.Status != StatusPending || len(got.Approvals) != 1 {
		t.Fatalf("first approval: %+v %v", got, err)
	}
	if _, err := aliceC.Approve(ctx, req.ID, "again", 0); !IsStatus(err, http.StatusConflict) {
		t.Fatalf("alice twice: %v", err)
	}
	got, err = bobC.Approve(ctx, req.ID, "two", 5*time.Minute)
	if err != nil || got.Status != StatusApproved || got.GrantFor != 5*time.Minute {
		t.Fatalf("second approval: %+v %v", got, err)
	}
	if got, err = bobC.Deny(ctx, other.ID, "not today"); err != nil || got.Status != StatusDenied || got.Denial.Reason != "not today" {
		t.Fatalf("deny: %+v %v", got, err)
	}
	if got, err = aliceC.Get(ctx, other.ID); err != nil || got.Status != StatusDenied {
		t.Fatalf("show: %+v %v", got, err)
	}
	if list, err = aliceC.List(ctx, StatusPending); err != nil || len(list) != 0 {
		t.Fatalf("pending after decisions: %v %v", list, err)
	}
	var ae *APIError
	if _, err := (&Client{BaseURL: base, HTTPClient: hc}).List(ctx, StatusNone); !errors.As(err, &ae) || ae.StatusCode != 401 || ae.Message == "" {
		t.Fatalf("no token: %v", err)
	}
	if _, err := (&Client{BaseURL: "http://127.0.0.1:1", Token: "alice-token"}).List(ctx, StatusNone); err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Fatalf("a token over http: %v", err)
	}
}

func TestListenHTTPS(t *testing.T) {
	s := openStore(t, t.TempDir(), newClock())
	api := NewServer(s, testTokens, nil)
	t.Run("refuses to serve without a certificate", func(t *testing.T) {
		for _, cfg := range []*tls.Config{nil, {}} {
			if err := api.ListenHTTPS(context.Background(), "127.0.0.1:0", cfg); err == nil {
				t.Fatal("served without a certificate")
			}
		}
	})
	t.Run("serves until its context ends", func(t *testing.T) {
		cfg, _ := testCert(t)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := api.ListenHTTPS(ctx, "127.0.0.1:0", cfg); err != nil {
			t.Fatal(err)
		}
	})
}

// An endpoint mounted with Handle is as privileged as the approvals: the
// same 401 and 403 before it runs, and it sees who called.
func TestHandleMountsBehindAuthentication(t *testing.T) {
	api := NewServer(openStore(t, t.TempDir(), newClock()), testTokens, []string{"approvers", "sre"})
	api.Handle("GET /v1/records/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := PrincipalFrom(r.Context())
		if !ok {
			t.Error("no principal in a mounted handler")
		}
		fmt.Fprintf(w, "%s read %s", p.Subject, r.PathValue("id"))
	}))
	tests := []struct {
		name, token string
		wantStatus  int
		wantBody    string
	}{
		{"no token: 401", "", 401, "bearer token is required"},
		{"refused token: 401", "forged", 401, "not accepted"},
		{"not an approver: 403", "eve-token", 403, "not in an approver group"},
		{"approver: the handler runs", "alice-token", 200, "alice read r-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "https://gatehouse/v1/records/r-1", nil)
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			rec := httptest.NewRecorder()
			api.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus || !strings.Contains(rec.Body.String(), tt.wantBody) {
				t.Fatalf("got %d %q, want %d with %q", rec.Code, rec.Body.String(), tt.wantStatus, tt.wantBody)
			}
		})
	}
}
