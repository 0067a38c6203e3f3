package intercept

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/policy"
)

// Certificates mints or returns cached leaf certificates for server names
// (ca.Cache implements it).
type Certificates interface {
	Get(serverName string) (*tls.Certificate, error)
}

// Options are what New needs.
type Options struct {
	Config Config // WithDefaults applied by New
	Certs  Certificates
	Roots  *x509.CertPool // upstream trust anchors; nil = LoadRoots(Config.Upstream.CABundle)
	Logger *slog.Logger
	// Authn authenticates agents and signs upstream. Without it agents'
	// own signatures pass through unverified: for measuring interception
	// alone, never for production.
	Authn *Authn
	// Policy decides every authenticated call; nil is policy.Default()
	// (everything but unidentified calls allowed).
	Policy Decider
	// Approvals holds calls the policy marks approve; nil refuses them.
	Approvals *Approvals
	// Recorder records every call (the intent before it leaves) and every
	// refused or spliced connection; nil records nothing. BodyCap is how
	// much of each body a record keeps (default DefaultBodyCap).
	Recorder Recorder
	BodyCap  int
	// Metrics registers the chain's Prometheus series; nil does not.
	Metrics prometheus.Registerer
}

// Server terminates agents' TLS on the transparent and proxy listeners and
// runs every request through the chain.
type Server struct {
	cfg       Config
	certs     Certificates
	log       *slog.Logger
	upstreams *upstreams
	chain     *Chain
	tlsConf   *tls.Config
	lookup    func(ctx context.Context, network, host string) ([]netip.Addr, error)

	accepted chan net.Conn
	http     *http.Server
	httpLn   *chanListener

	mu        sync.Mutex
	listeners []net.Listener
	wg        sync.WaitGroup
	ctx       context.Context
	cancel    context.CancelFunc
}

// New validates the config and builds a Server; it listens on nothing until
// Run or Serve*.
func New(o Options) (*Server, error) {
	cfg := o.Config.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.Certs == nil {
		return nil, errors.New("new intercept server: no certificate source")
	}
	roots := o.Roots
	if roots == nil {
		var err error
		if roots, err = LoadRoots(cfg.Upstream.CABundle); err != nil {
			return nil, err
		}
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:       cfg,
		certs:     o.Certs,
		log:       logger,
		upstreams: newUpstreams(roots, &cfg),
		accepted:  make(chan net.Conn),
		ctx:       ctx,
		cancel:    cancel,
		lookup:    net.DefaultResolver.LookupNetIP,
	}
	if o.Authn == nil {
		logger.Warn("no Authn: agents' own credentials pass through unverified; do not run this way in production")
	} else if o.Authn.Now == nil {
		o.Authn.Now = time.Now
	}
	decider := o.Policy
	if decider == nil {
		logger.Warn("no policy file: the built-in policy allows every identified call (policy.Default); production ships a file with default: deny")
		decider = policy.Default()
	}
	if o.Approvals != nil && o.Approvals.Hold == 0 {
		o.Approvals.Hold = 20 * time.Second
	}
	s.chain = newChain(s.upstreams, o, decider, logger)
	s.tlsConf = &tls.Config{
		MinVersion: tls.VersionTLS12,
		// HTTP/1.1 only until the chain handles HTTP/2 end to end.
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(chi *tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.certs.Get(chi.ServerName)
		},
	}
	s.httpLn = &chanListener{ch: s.accepted, addr: &net.TCPAddr{}, done: make(chan struct{})}
	s.http = &http.Server{
		Handler:           s.chain,
		ReadHeaderTimeout: cfg.Timeouts.ReadHeader,
		IdleTimeout:       cfg.Timeouts.Idle,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          log.New(slogWriter{logger}, "", 0),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c.(*agentConn).ci)
		},
		ConnState: s.connState,
	}
	go func() { _ = s.http.Serve(s.httpLn) }()
	return s, nil
}

// connState follows each intercepted connection through the HTTP server and
// writes its log line when it closes.
func (s *Server) connState(c net.Conn, st http.ConnState) {
	ac, ok := c.(*agentConn)
	if !ok {
		return
	}
	ci := ac.ci
	switch st {
	case http.StateActive:
		ci.reads.Add(1)
	case http.StateClosed:
		if ci.reads.Load() > ci.requests.Load() {
			reason := "closed mid-request (header timeout, or the client went away)"
			if p := ci.refusal.Load(); p != nil {
				reason = "the HTTP parser answered " + *p + " (malformed request or header block over " + fmt.Sprint(s.cfg.MaxHeaderBytes) + " bytes)"
			}
			s.logConn(ci, "refused", slog.String("stage", "http request"), slog.String("reason", reason))
			return
		}
		s.logConn(ci, "intercepted")
	}
}

func (s *Server) agentTLS(ctx context.Context, c net.Conn) (*tls.Conn, error) {
	tc := tls.Server(c, s.tlsConf)
	hctx, cancel := context.WithTimeout(ctx, s.cfg.Timeouts.Handshake)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return nil, fmt.Errorf("tls handshake with agent: %w", err)
	}
	return tc, nil
}

// Run listens as the config says and serves until ctx is done.
func (s *Server) Run(ctx context.Context) error {
	if *s.cfg.Proxy.Enabled {
		ln, err := net.Listen("tcp", s.cfg.Proxy.Listen)
		if err != nil {
			return fmt.Errorf("listen proxy %s: %w", s.cfg.Proxy.Listen, err)
		}
		s.log.Info("explicit proxy listening", "addr", ln.Addr().String())
		go func() { _ = s.ServeProxy(ln) }()
	}
	if s.cfg.Transparent.Enabled {
		ln, err := ListenTransparent(ctx, s.cfg.Transparent.Listen)
		if err != nil {
			s.Close()
			return err
		}
		s.log.Info("transparent listener", "addr", ln.Addr().String())
		go func() { _ = s.ServeTransparent(ln) }()
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeouts.Shutdown)
	defer cancel()
	return s.Shutdown(sctx)
}

// Shutdown stops accepting, lets requests in flight finish until ctx is
// done, then closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	for _, ln := range s.listeners {
		ln.Close()
	}
	s.listeners = nil
	s.mu.Unlock()
	s.httpLn.Close()
	err := s.http.Shutdown(ctx)
	if err != nil {
		s.log.Warn("shutdown: requests still in flight were cut", "err", err)
	}
	s.Close()
	return nil
}

func (s *Server) track(ln net.Listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() != nil {
		ln.Close()
		return errServerClosed
	}
	s.listeners = append(s.listeners, ln)
	return nil
}

// ServeTransparent accepts TPROXY'd connections from ln (see
// ListenTransparent): each accepted socket's local address is the original
// destination.
func (s *Server) ServeTransparent(ln net.Listener) error {
	if err := s.track(ln); err != nil {
		return err
	}
	listenPort := addrPort(ln.Addr()).Port()
	return s.acceptLoop(ln, func(c net.Conn) {
		ci := &ConnInfo{ID: newID(), Mode: ModeTransparent, Client: addrPort(c.RemoteAddr()), Dst: addrPort(c.LocalAddr()), Start: time.Now()}
		// A connection addressed to the listener itself did not come
		// through TPROXY: its "original destination" is Gatehouse, and
		// forwarding there would loop, one connection per round.
		if ci.Dst.Port() == listenPort {
			s.refuseConn(c, ci, "loop", fmt.Errorf("connection addressed to the transparent listener itself (port %d), not captured by TPROXY", listenPort))
			return
		}
		s.handleConn(s.ctx, c, ci)
	})
}

func (s *Server) acceptLoop(ln net.Listener, handle func(net.Conn)) error {
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return errServerClosed
			}
			// Out of file descriptors and the like: back off, keep serving.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed", "addr", ln.Addr().String(), "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			handle(c)
		}()
	}
}

// Close stops the listeners and the connections in flight.
func (s *Server) Close() error {
	s.mu.Lock()
	s.cancel()
	for _, ln := range s.listeners {
		ln.Close()
	}
	s.listeners = nil
	s.mu.Unlock()
	s.httpLn.Close()
	err := s.http.Close()
	s.upstreams.closeIdle()
	return err
}

// slogWriter turns net/http's server log into structured lines.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Warn("http server", "msg_text", string(p))
	return len(p), nil
}
