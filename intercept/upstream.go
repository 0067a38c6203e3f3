package intercept

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// LoadRoots returns the system roots plus the PEM certificates in bundle (if
// any): the only anchors an upstream certificate is verified against.
func LoadRoots(bundle string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if bundle == "" {
		return pool, nil
	}
	pem, err := os.ReadFile(bundle)
	if err != nil {
		return nil, fmt.Errorf("read upstream CA bundle: %w", err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("read upstream CA bundle %s: no PEM certificates in it", bundle)
	}
	return pool, nil
}

// upstreams hands out one http.Transport per server name. The pool key of an
// http.Transport is the URL's host, and Gatehouse dials the original
// destination address, so a transport shared across names could reuse a
// connection verified for one name for a request to another. One transport
// per name keeps every pooled connection bound to the name it was verified
// for.
type upstreams struct {
	roots    *x509.CertPool
	timeouts Timeouts
	maxIdle  int

	mu sync.Mutex
	m  map[string]*http.Transport
}

// maxTransports bounds the map; intercepted names are AWS endpoints and
// bucket hosts, and a name evicted only loses its idle connections.
const maxTransports = 4096

func newUpstreams(roots *x509.CertPool, cfg *Config) *upstreams {
	return &upstreams{roots: roots, timeouts: cfg.Timeouts, maxIdle: cfg.Upstream.MaxIdleConnsPerHost, m: make(map[string]*http.Transport)}
}

func (u *upstreams) transport(serverName string) *http.Transport {
	u.mu.Lock()
	defer u.mu.Unlock()
	if t, ok := u.m[serverName]; ok {
		return t
	}
	if len(u.m) >= maxTransports {
		for name, t := range u.m { // evict one, any one
			t.CloseIdleConnections()
			delete(u.m, name)
			break
		}
	}
	t := u.newTransport(serverName)
	u.m[serverName] = t
	return t
}

func (u *upstreams) newTransport(serverName string) *http.Transport {
	dialer := &net.Dialer{Timeout: u.timeouts.Dial, KeepAlive: 30 * time.Second}
	tlsConf := &tls.Config{
		ServerName: serverName, // verify the certificate for the SNI the agent sent
		RootCAs:    u.roots,
		MinVersion: tls.VersionTLS12,
	}
	return &http.Transport{
		// Never an environment proxy: Gatehouse dials the destination itself.
		Proxy:               nil,
		DialContext:         dialer.DialContext,
		TLSClientConfig:     tlsConf,
		TLSHandshakeTimeout: u.timeouts.UpstreamTLS,
		// HTTP/1.1 upstream, as the agent spoke it: per-request TCP
		// connections keep large S3 transfers from sharing one window, and
		// the bench showed no latency gain from h2 for small calls.
		ForceAttemptHTTP2:     false,
		MaxIdleConnsPerHost:   u.maxIdle,
		IdleConnTimeout:       u.timeouts.Idle,
		ResponseHeaderTimeout: u.timeouts.ResponseHeader,
		ExpectContinueTimeout: time.Second,
		// The agent's Accept-Encoding goes through as sent; the transport
		// must not add its own and decode behind the agent's back.
		DisableCompression: true,
	}
}

func (u *upstreams) closeIdle() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, t := range u.m {
		t.CloseIdleConnections()
	}
}

// dialSplice connects to a passthrough destination as is.
func (u *upstreams) dialSplice(ctx context.Context, dst string) (net.Conn, error) {
	d := &net.Dialer{Timeout: u.timeouts.Dial}
	return d.DialContext(ctx, "tcp", dst)
}
