package intercept

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/elazarl/goproxy"
)

// ServeProxy serves the explicit proxy (HTTPS_PROXY=http://gateway:3128) on
// ln. goproxy speaks the proxy protocol; every CONNECT it accepts is
// hijacked into the same connection path as a transparent one (peek, SNI
// check, TLS from ca, the chain), so both modes share one set of checks and
// one certificate cache. goproxy's own MITM, certificate generation and
// upstream transport are never used: its transport is replaced by one that
// refuses, so nothing can leave through goproxy's defaults.
func (s *Server) ServeProxy(ln net.Listener) error {
	if err := s.track(ln); err != nil {
		return err
	}
	p := goproxy.NewProxyHttpServer()
	p.Logger = log.New(io.Discard, "", 0)
	p.Tr = &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("gatehouse does not forward through goproxy's transport")
	}}
	p.OnRequest().HandleConnectFunc(func(host string, pctx *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
		return &goproxy.ConnectAction{Action: goproxy.ConnectHijack, Hijack: s.hijackConnect}, host
	})
	// Plain-HTTP proxy requests: AWS is HTTPS only, and a plaintext request
	// would carry the agent's signature in the clear.
	p.OnRequest().DoFunc(func(r *http.Request, pctx *goproxy.ProxyCtx) (*http.Request, *http.Response) {
		s.log.Warn("connection", "mode", ModeProxy, "client", r.RemoteAddr, "verdict", "refused",
			"stage", "proxy request", "reason", "plain HTTP proxying is not supported; use https:// (CONNECT)", "host", r.Host)
		return r, goproxy.NewResponse(r, "text/plain", http.StatusForbidden, "Gatehouse proxies HTTPS only (CONNECT)\n")
	})
	srv := &http.Server{
		Handler:           p,
		ReadHeaderTimeout: s.cfg.Timeouts.ReadHeader,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		ErrorLog:          log.New(slogWriter{s.log}, "", 0),
	}
	go func() {
		<-s.ctx.Done()
		srv.Close()
	}()
	err := srv.Serve(ln)
	if s.ctx.Err() != nil {
		return errServerClosed
	}
	return err
}

// hijackConnect answers a CONNECT and hands the tunnel to handleConn with the
// destination Gatehouse resolved itself: a request is forwarded to that
// address, never to one the agent names later.
func (s *Server) hijackConnect(r *http.Request, client net.Conn, _ *goproxy.ProxyCtx) {
	ci := &ConnInfo{ID: newID(), Mode: ModeProxy, Client: addrPort(client.RemoteAddr()), Start: time.Now()}
	host, portStr, err := net.SplitHostPort(r.URL.Host)
	if err != nil {
		host, portStr = r.URL.Host, "443"
	}
	ci.ConnectHost = host
	port, _ := strconv.ParseUint(portStr, 10, 16)
	fail := func(status int, stage string, err error) {
		fmt.Fprintf(client, "HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status, http.StatusText(status))
		s.refuseConn(client, ci, stage, err)
	}
	if !slices.Contains(s.cfg.Proxy.Ports, uint16(port)) {
		fail(http.StatusForbidden, "connect", fmt.Errorf("CONNECT to port %s is not allowed (proxy.ports %v)", portStr, s.cfg.Proxy.Ports))
		return
	}
	if !s.cfg.intercepts(host) && s.cfg.Passthrough != PassthroughAllow {
		fail(http.StatusForbidden, "not intercepted", fmt.Errorf("host %q is not in intercept.hosts and passthrough is deny", host))
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Timeouts.Dial)
	addrs, err := s.lookup(ctx, "ip", host)
	cancel()
	if err != nil || len(addrs) == 0 {
		fail(http.StatusBadGateway, "resolve", fmt.Errorf("resolve %s: %w", host, err))
		return
	}
	ci.Dst = netip.AddrPortFrom(addrs[0].Unmap(), uint16(port))
	if _, err := io.WriteString(client, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		s.refuseConn(client, ci, "connect", err)
		return
	}
	s.handleConn(s.ctx, client, ci)
}
