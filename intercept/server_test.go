package intercept

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// lab is one Gatehouse with an agent-side CA and a real TLS upstream on
// 127.0.0.1 whose certificate comes from a separate "public" CA.
type lab struct {
	gw        *Server
	agentCA   *testCA
	upstream  *httptest.Server
	upstreamN atomic.Int64 // requests that reached the upstream
	logs      *logBuffer
}

func newLab(t testing.TB, upstreamNames []string, mutate func(*Config)) *lab {
	return newLabWith(t, upstreamNames, mutate, nil, nil)
}

// newLabWith also takes the gateway's Authn and the upstream's handler
// (nil: one that echoes what it received).
func newLabWith(t testing.TB, upstreamNames []string, mutate func(*Config), authn *Authn, upstream http.Handler, opts ...func(*Options)) *lab {
	t.Helper()
	l := &lab{agentCA: newTestCA(t, "gatehouse-test"), logs: &logBuffer{}}
	public := newTestCA(t, "public-test")
	if upstream == nil {
		upstream = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			w.Header().Set("X-Amz-Request-Id", "UP123")
			fmt.Fprintf(w, "host=%s path=%s body=%d auth=%s", r.Host, r.URL.Path, len(body), r.Header.Get("Authorization"))
		})
	}
	l.upstream = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.upstreamN.Add(1)
		upstream.ServeHTTP(w, r)
	}))
	l.upstream.Config.ErrorLog = log.New(io.Discard, "", 0)
	l.upstream.TLS = &tls.Config{Certificates: []tls.Certificate{*public.leaf(t, upstreamNames...)}}
	l.upstream.StartTLS()
	t.Cleanup(l.upstream.Close)

	cfg := Config{Timeouts: Timeouts{ClientHello: 300 * time.Millisecond, ReadHeader: time.Second}}
	if mutate != nil {
		mutate(&cfg)
	}
	o := Options{Config: cfg, Certs: &certSource{ca: l.agentCA, t: t}, Roots: public.pool, Logger: l.logs.logger(), Authn: authn}
	for _, f := range opts {
		f(&o)
	}
	gw, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	upAddr := netip.MustParseAddrPort(l.upstream.Listener.Addr().String())
	gw.lookup = func(context.Context, string, string) ([]netip.Addr, error) { return []netip.Addr{upAddr.Addr()}, nil }
	t.Cleanup(func() { gw.Close() })
	l.gw = gw
	return l
}

// dialTransparent plays the TPROXY path: a TCP conn whose original
// destination is the upstream, handed to the gateway like an accepted one.
func (l *lab) dialTransparent(t testing.TB) net.Conn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dst := netip.MustParseAddrPort(l.upstream.Listener.Addr().String())
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	ci := &ConnInfo{ID: newID(), Mode: ModeTransparent, Client: addrPort(sc.RemoteAddr()), Dst: dst, Start: time.Now()}
	go l.gw.handleConn(l.gw.ctx, sc, ci)
	t.Cleanup(func() { c.Close() })
	return c
}

// waitLog waits for a log line containing want and returns all logs.
func (l *lab) waitLog(want string) string {
	deadline := time.Now().Add(3 * time.Second)
	for !strings.Contains(l.logs.String(), want) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	return l.logs.String()
}

func (l *lab) client(t testing.TB, sni string) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			tc := tls.Client(l.dialTransparent(t), &tls.Config{ServerName: sni, RootCAs: l.agentCA.pool})
			return tc, tc.HandshakeContext(ctx)
		},
	}}
}

func TestInterceptForwardsToOriginalDestination(t *testing.T) {
	l := newLab(t, []string{"s3.amazonaws.com"}, nil)
	req, _ := http.NewRequest("PUT", "https://s3.amazonaws.com/bucket/key?X-Amz-Signature=secretsig", strings.NewReader("hello"))
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/...")
	resp, err := l.client(t, "s3.amazonaws.com").Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "host=s3.amazonaws.com path=/bucket/key body=5 auth=AWS4") {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	logs := l.waitLog(`"msg":"request"`)
	for _, want := range []string{`"msg":"request"`, `"sni":"s3.amazonaws.com"`, `"dst":"` + l.upstream.Listener.Addr().String(), `"verdict":"forwarded"`, `"upstream_request_id":"UP123"`, `"bytes_in":5`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "secretsig") || strings.Contains(logs, "AKIDEXAMPLE") {
		t.Errorf("log leaks a signature or credential:\n%s", logs)
	}
}

func TestUpstreamCertificateNotValidForSNIReachesNothing(t *testing.T) {
	l := newLab(t, []string{"impostor.example"}, nil)
	resp, err := l.client(t, "s3.amazonaws.com").Get("https://s3.amazonaws.com/bucket")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "<Code>ServiceUnavailable</Code>") {
		t.Fatalf("got %d %s", resp.StatusCode, body)
	}
	if n := l.upstreamN.Load(); n != 0 {
		t.Fatalf("%d requests reached an upstream that failed verification", n)
	}
	if !strings.Contains(l.waitLog("impostor"), "certificate is valid for impostor.example") {
		t.Errorf("log does not say why:\n%s", l.logs)
	}
}

func TestHostNotMatchingSNIIsRefused(t *testing.T) {
	l := newLab(t, []string{"s3.amazonaws.com"}, nil)
	req, _ := http.NewRequest("GET", "https://s3.amazonaws.com/", nil)
	req.Host = "evil.example.com"
	resp, err := l.client(t, "s3.amazonaws.com").Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest || l.upstreamN.Load() != 0 {
		t.Fatalf("status %d, upstream saw %d", resp.StatusCode, l.upstreamN.Load())
	}
	if !strings.Contains(l.waitLog("domain fronting"), "domain fronting") {
		t.Errorf("no log line says why:\n%s", l.logs)
	}
}

// Each bad input is refused with a log line naming why, and the gateway
// keeps serving.
func TestBadInputRefusedWithLogLine(t *testing.T) {
	tests := []struct {
		name string
		send func(t *testing.T, c net.Conn)
		want string
	}{
		{"plain HTTP on 443", func(t *testing.T, c net.Conn) {
			fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: s3.amazonaws.com\r\n\r\n")
		}, "not a TLS ClientHello"},
		{"no SNI", func(t *testing.T, c net.Conn) {
			_ = tls.Client(c, &tls.Config{InsecureSkipVerify: true}).Handshake()
		}, "no server name"},
		{"truncated ClientHello", func(t *testing.T, c net.Conn) {
			h := clientHello(t, &tls.Config{ServerName: "s3.amazonaws.com", InsecureSkipVerify: true})
			c.Write(h[:40])
			c.(*net.TCPConn).CloseWrite()
		}, "ClientHello truncated"},
		{"client sends nothing", func(t *testing.T, c net.Conn) {}, "no ClientHello before the deadline"},
		{"host not intercepted", func(t *testing.T, c net.Conn) {
			_ = tls.Client(c, &tls.Config{ServerName: "example.com", InsecureSkipVerify: true}).Handshake()
		}, "not in intercept.hosts"},
		{"oversized headers", func(t *testing.T, c net.Conn) {
			tc := tls.Client(c, &tls.Config{ServerName: "s3.amazonaws.com", InsecureSkipVerify: true})
			fmt.Fprintf(tc, "GET / HTTP/1.1\r\nHost: s3.amazonaws.com\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", 200<<10))
			resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
			if err == nil && resp.StatusCode != 431 {
				t.Errorf("status %d, want 431", resp.StatusCode)
			}
		}, "431 Request Header Fields Too Large"},
		{"garbage request line", func(t *testing.T, c net.Conn) {
			tc := tls.Client(c, &tls.Config{ServerName: "s3.amazonaws.com", InsecureSkipVerify: true})
			fmt.Fprintf(tc, "\x00\x01 nonsense\r\n\r\n")
			io.Copy(io.Discard, tc)
		}, "400 Bad Request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLab(t, []string{"s3.amazonaws.com"}, nil)
			c := l.dialTransparent(t)
			tt.send(t, c)
			logs := l.waitLog(tt.want)
			if !strings.Contains(logs, tt.want) || !strings.Contains(logs, `"verdict":"refused"`) {
				t.Fatalf("no refusal line containing %q:\n%s", tt.want, logs)
			}
			if l.upstreamN.Load() != 0 {
				t.Fatal("a refused input reached the upstream")
			}
			// Still serving.
			resp, err := l.client(t, "s3.amazonaws.com").Get("https://s3.amazonaws.com/ok")
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("gateway stopped serving after bad input: %v", err)
			}
			resp.Body.Close()
		})
	}
}

func TestPassthroughAllowSplicesUnread(t *testing.T) {
	l := newLab(t, []string{"example.org"}, func(c *Config) { c.Passthrough = PassthroughAllow })
	c := l.dialTransparent(t)
	// The agent sees the upstream's own certificate: not intercepted.
	tc := tls.Client(c, &tls.Config{ServerName: "example.org", InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	if cn := tc.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "example.org" {
		t.Fatalf("agent saw %q: the connection was not spliced", cn)
	}
}

func startProxy(t *testing.T, l *lab) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go l.gw.ServeProxy(ln)
	return ln.Addr().String()
}

func TestExplicitProxyFeedsTheSameChain(t *testing.T) {
	l := newLab(t, []string{"sts.amazonaws.com"}, nil)
	port := l.upstream.Listener.Addr().(*net.TCPAddr).Port
	l.gw.cfg.Proxy.Ports = []uint16{uint16(port)}
	proxy := startProxy(t, l)
	pu, _ := url.Parse("http://" + proxy)
	cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(pu), TLSClientConfig: &tls.Config{RootCAs: l.agentCA.pool}}}
	resp, err := cl.Get(fmt.Sprintf("https://sts.amazonaws.com:%d/?Action=GetCallerIdentity&Version=2011-06-15", port))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "host=sts.amazonaws.com") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if logs := l.waitLog(`"msg":"request"`); !strings.Contains(logs, `"mode":"proxy"`) || !strings.Contains(logs, `"sni":"sts.amazonaws.com"`) {
		t.Errorf("log:\n%s", logs)
	}
}

func TestExplicitProxyRefusesDomainFronting(t *testing.T) {
	l := newLab(t, []string{"sts.amazonaws.com"}, nil)
	proxy := startProxy(t, l)
	c, err := net.Dial("tcp", proxy)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "CONNECT sts.amazonaws.com:443 HTTP/1.1\r\nHost: sts.amazonaws.com:443\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v", err)
	}
	tc := tls.Client(&bufConn{c, br}, &tls.Config{ServerName: "iam.amazonaws.com", InsecureSkipVerify: true})
	if err := tc.Handshake(); err == nil {
		t.Fatal("handshake with a fronted SNI succeeded")
	}
	if !strings.Contains(l.waitLog("domain fronting"), "domain fronting") {
		t.Fatalf("log:\n%s", l.logs)
	}
}

func TestExplicitProxyRefusesOtherPortsAndPlainHTTP(t *testing.T) {
	l := newLab(t, []string{"sts.amazonaws.com"}, nil)
	proxy := startProxy(t, l)
	for _, req := range []string{
		"CONNECT sts.amazonaws.com:22 HTTP/1.1\r\nHost: sts.amazonaws.com:22\r\n\r\n",
		"GET http://sts.amazonaws.com/ HTTP/1.1\r\nHost: sts.amazonaws.com\r\n\r\n",
	} {
		c, err := net.Dial("tcp", proxy)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(c, req)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err != nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%q: %v %v", req, resp, err)
		}
	}
}

type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func TestShutdownLetsRequestsInFlightFinish(t *testing.T) {
	l := newLab(t, []string{"s3.amazonaws.com"}, nil)
	release := make(chan struct{})
	l.upstream.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		io.WriteString(w, "done")
	})
	cl := l.client(t, "s3.amazonaws.com")
	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := cl.Get("https://s3.amazonaws.com/slow")
		if err != nil {
			got <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- result{body: string(b)}
	}()
	l.waitLog("")
	time.Sleep(100 * time.Millisecond) // the request is at the upstream
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shut <- l.gw.Shutdown(ctx)
	}()
	time.Sleep(100 * time.Millisecond)
	close(release)
	r := <-got
	if r.err != nil || r.body != "done" {
		t.Fatalf("request in flight during shutdown: %q %v", r.body, r.err)
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
}

// A client that connects to the transparent listener directly (not through
// TPROXY) would make Gatehouse forward to itself, forever.
func TestTransparentListenerRefusesConnectionsToItself(t *testing.T) {
	l := newLab(t, []string{"s3.amazonaws.com"}, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go l.gw.ServeTransparent(ln)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = tls.Client(c, &tls.Config{ServerName: "s3.amazonaws.com", RootCAs: l.agentCA.pool}).Handshake()
	if err == nil {
		t.Fatal("handshake succeeded on a connection to the listener itself")
	}
	if logs := l.waitLog("transparent listener itself"); !strings.Contains(logs, `"stage":"loop"`) {
		t.Fatalf("log:\n%s", logs)
	}
}
