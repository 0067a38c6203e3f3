package intercept

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is how a connection reached Gatehouse.
type Mode string

const (
	ModeTransparent Mode = "transparent" // nftables TPROXY
	ModeProxy       Mode = "proxy"       // explicit proxy, CONNECT
)

// ConnInfo is what Gatehouse knows of one agent connection. The chain reads
// it from the request context (ConnFromContext).
type ConnInfo struct {
	ID     string
	Mode   Mode
	Client netip.AddrPort
	// Dst is the original destination: the address the agent dialled
	// (transparent) or the CONNECT host resolved by Gatehouse (proxy).
	// Requests are forwarded there and nowhere else.
	Dst         netip.AddrPort
	ConnectHost string // proxy mode: the host the CONNECT named
	SNI         string
	ALPN        []string
	Start       time.Time

	// Counters the HTTP server and the chain update; they tell a request
	// the HTTP parser refused (malformed, oversized) from one the chain saw.
	reads    atomic.Int64 // requests the server started reading
	requests atomic.Int64 // requests that reached the chain
	refusal  atomic.Pointer[string]
	bytesIn  atomic.Int64
	bytesOut atomic.Int64
}

type connKey struct{}

// ConnFromContext returns the connection a request arrived on.
func ConnFromContext(ctx context.Context) *ConnInfo {
	ci, _ := ctx.Value(connKey{}).(*ConnInfo)
	return ci
}

func newID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// handleConn takes one accepted agent connection through the connection
// stages: peek the ClientHello, choose intercept / splice / refuse, and for
// an intercepted one terminate TLS and hand it to the HTTP server that runs
// the request chain.
func (s *Server) handleConn(ctx context.Context, conn net.Conn, ci *ConnInfo) {
	hello, pc, err := PeekClientHello(conn, s.cfg.Timeouts.ClientHello)
	if err != nil {
		s.refuseConn(conn, ci, "client hello", err)
		return
	}
	ci.SNI, ci.ALPN = hello.ServerName, hello.ALPN
	if ci.ConnectHost != "" && !strings.EqualFold(strings.TrimSuffix(ci.ConnectHost, "."), ci.SNI) {
		s.refuseConn(conn, ci, "domain fronting", fmt.Errorf("SNI %q does not match CONNECT host %q", ci.SNI, ci.ConnectHost))
		return
	}
	if !s.cfg.intercepts(ci.SNI) {
		if s.cfg.Passthrough != PassthroughAllow {
			s.refuseConn(conn, ci, "not intercepted", fmt.Errorf("host %q is not in intercept.hosts and passthrough is deny", ci.SNI))
			return
		}
		s.splice(ctx, pc, ci)
		return
	}
	tc, err := s.agentTLS(ctx, pc)
	if err != nil {
		s.refuseConn(conn, ci, "agent tls", err)
		return
	}
	ac := &agentConn{Conn: tc, ci: ci}
	select {
	case s.accepted <- ac:
	case <-ctx.Done():
		ac.Close()
	}
}

func (s *Server) refuseConn(conn net.Conn, ci *ConnInfo, stage string, err error) {
	conn.Close()
	s.logConn(ci, "refused", slog.String("stage", stage), slog.String("reason", err.Error()))
}

func (s *Server) logConn(ci *ConnInfo, verdict string, attrs ...slog.Attr) {
	base := []slog.Attr{
		slog.String("conn", ci.ID),
		slog.String("mode", string(ci.Mode)),
		slog.String("client", ci.Client.String()),
		slog.String("dst", ci.Dst.String()),
		slog.String("sni", ci.SNI),
		slog.String("verdict", verdict),
		slog.Int64("requests", ci.requests.Load()),
		slog.Int64("bytes_in", ci.bytesIn.Load()),
		slog.Int64("bytes_out", ci.bytesOut.Load()),
		slog.Float64("duration_ms", ms(time.Since(ci.Start))),
	}
	if ci.ConnectHost != "" {
		base = append(base, slog.String("connect_host", ci.ConnectHost))
	}
	if len(ci.ALPN) > 0 {
		base = append(base, slog.Any("alpn", ci.ALPN))
	}
	level := slog.LevelInfo
	if verdict == "refused" {
		level = slog.LevelWarn
	}
	s.log.LogAttrs(context.Background(), level, "connection", append(base, attrs...)...)
	if verdict != "intercepted" {
		stage, reason := "", ""
		for _, a := range attrs {
			switch a.Key {
			case "stage":
				stage = a.Value.String()
			case "reason":
				reason = a.Value.String()
			}
		}
		s.chain.recordConn(ci, verdict, stage, reason)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// splice copies a passthrough connection, unread, to its original
// destination. The peeked hello is replayed by pc.
func (s *Server) splice(ctx context.Context, pc net.Conn, ci *ConnInfo) {
	up, err := s.upstreams.dialSplice(ctx, ci.Dst.String())
	if err != nil {
		s.refuseConn(pc, ci, "splice dial", err)
		return
	}
	var wg sync.WaitGroup
	wg.Add(2)
	pipe := func(dst, src net.Conn, n *atomic.Int64) {
		defer wg.Done()
		c, _ := io.Copy(dst, src)
		n.Add(c)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		} else {
			_ = dst.Close()
		}
	}
	go pipe(up, pc, &ci.bytesIn)
	go pipe(pc, up, &ci.bytesOut)
	wg.Wait()
	up.Close()
	pc.Close()
	s.logConn(ci, "spliced")
}

// agentConn is an intercepted agent connection after the TLS handshake, as
// the HTTP server sees it.
type agentConn struct {
	net.Conn
	ci *ConnInfo
}

func (c *agentConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.ci.bytesIn.Add(int64(n))
	return n, err
}

// Write notes the status line of an answer the HTTP server wrote on its own
// (a request it could not parse, or one over the header limit) so that the
// connection's log line can say why the request never reached the chain.
func (c *agentConn) Write(p []byte) (int, error) {
	if c.ci.reads.Load() > c.ci.requests.Load() && c.ci.refusal.Load() == nil && len(p) > 12 && string(p[:5]) == "HTTP/" {
		line, _, _ := strings.Cut(string(p[:min(len(p), 80)]), "\r\n")
		c.ci.refusal.Store(&line)
	}
	n, err := c.Conn.Write(p)
	c.ci.bytesOut.Add(int64(n))
	return n, err
}

// chanListener is the net.Listener the internal HTTP server accepts from:
// connections arrive already peeked, routed and TLS-terminated.
type chanListener struct {
	ch     chan net.Conn
	addr   net.Addr
	done   chan struct{}
	closed sync.Once
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.closed.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

var errServerClosed = errors.New("intercept server closed")
