package netsetup

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

func deleteChain(t *testing.T, ns netns.NsHandle, name string) {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		t.Fatal(err)
	}
	ch := &nftables.Chain{Name: name, Table: ourTable()}
	c.FlushChain(ch)
	c.DelChain(ch)
	if err := c.Flush(); err != nil {
		t.Fatalf("delete chain %s: %v", name, err)
	}
}

// The lab: three namespaces joined by veth pairs, dual-stack.
//
//	agent 10.99.1.2/24 fd00:99:1::2/64
//	  └─ gw 10.99.1.1 fd00:99:1::1 | 10.99.2.1 fd00:99:2::1   (Up runs here)
//	       └─ upstream 10.99.2.2/24 fd00:99:2::2/64
type lab struct {
	agent, gw, upstream netns.NsHandle
}

var (
	agentV4    = netip.MustParseAddr("10.99.1.2")
	agentV6    = netip.MustParseAddr("fd00:99:1::2")
	upstreamV4 = netip.MustParseAddr("10.99.2.2")
	upstreamV6 = netip.MustParseAddr("fd00:99:2::2")
)

const ioTimeout = 2 * time.Second

func newLab(t *testing.T) lab {
	l := lab{agent: newNS(t, "agent"), gw: newNS(t, "gw"), upstream: newNS(t, "upstream")}
	// Without this, IPv6 neighbour discovery fails for about a second after
	// the links come up, while their link-local addresses are tentative.
	for _, ns := range []netns.NsHandle{l.agent, l.gw, l.upstream} {
		if err := inNetNS(ns, func() error {
			return os.WriteFile("/proc/sys/net/ipv6/conf/default/accept_dad", []byte("0"), 0)
		}); err != nil {
			t.Fatalf("turn off duplicate address detection: %v", err)
		}
	}
	vethPair(t, l.gw, "gw-agent", []string{"10.99.1.1/24", "fd00:99:1::1/64"}, l.agent, "eth0", []string{"10.99.1.2/24", "fd00:99:1::2/64"})
	vethPair(t, l.gw, "gw-up", []string{"10.99.2.1/24", "fd00:99:2::1/64"}, l.upstream, "eth0", []string{"10.99.2.2/24", "fd00:99:2::2/64"})
	defaultVia(t, l.agent, "10.99.1.1", "fd00:99:1::1")
	defaultVia(t, l.upstream, "10.99.2.1", "fd00:99:2::1")
	return l
}

// vethPair creates a veth in ns whose peer is created straight into peerNS,
// then addresses both ends (without duplicate address detection, so IPv6 is
// usable at once) and brings them up.
func vethPair(t *testing.T, ns netns.NsHandle, name string, addrs []string, peerNS netns.NsHandle, peerName string, peerAddrs []string) {
	t.Helper()
	la := netlink.NewLinkAttrs()
	la.Name = name
	if err := nlHandle(t, ns).LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: peerName, PeerNamespace: netlink.NsFd(int(peerNS))}); err != nil {
		t.Fatalf("add veth %s/%s: %v", name, peerName, err)
	}
	linkUp(t, ns, name, addrs)
	linkUp(t, peerNS, peerName, peerAddrs)
}

func linkUp(t *testing.T, ns netns.NsHandle, name string, addrs []string) {
	t.Helper()
	h := nlHandle(t, ns)
	link, err := h.LinkByName(name)
	if err != nil {
		t.Fatalf("find %s: %v", name, err)
	}
	for _, a := range addrs {
		addr, err := netlink.ParseAddr(a)
		if err != nil {
			t.Fatal(err)
		}
		addr.Flags = unix.IFA_F_NODAD
		if err := h.AddrAdd(link, addr); err != nil {
			t.Fatalf("add %s to %s: %v", a, name, err)
		}
	}
	if err := h.LinkSetUp(link); err != nil {
		t.Fatalf("set %s up: %v", name, err)
	}
}

func defaultVia(t *testing.T, ns netns.NsHandle, gws ...string) {
	t.Helper()
	h := nlHandle(t, ns)
	for _, gw := range gws {
		ip := net.ParseIP(gw)
		fam := unix.AF_INET
		if ip.To4() == nil {
			fam = unix.AF_INET6
		}
		if err := h.RouteAdd(&netlink.Route{Family: fam, Dst: defaultDst(fam), Gw: ip}); err != nil {
			t.Fatalf("add default route via %s: %v", gw, err)
		}
	}
}

// listen opens a TCP listener whose socket is created in ns (a socket stays
// in the namespace it was created in), optionally with IP_TRANSPARENT.
func listen(t *testing.T, ns netns.NsHandle, addr string, transparent bool) *net.TCPListener {
	t.Helper()
	lc := net.ListenConfig{}
	if transparent {
		lc.Control = func(network, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_TRANSPARENT, 1)
				if serr == nil && network == "tcp6" {
					serr = unix.SetsockoptInt(int(fd), unix.SOL_IPV6, unix.IPV6_TRANSPARENT, 1)
				}
			})
			return errors.Join(err, serr)
		}
	}
	var ln net.Listener
	if err := inNetNS(ns, func() (err error) {
		ln, err = lc.Listen(context.Background(), "tcp", addr)
		return err
	}); err != nil {
		t.Fatalf("listen on %s in %s: %v", addr, ns, err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.(*net.TCPListener)
}

// dial connects from a socket created in ns.
func dial(ns netns.NsHandle, addr netip.AddrPort) (net.Conn, error) {
	var c net.Conn
	err := inNetNS(ns, func() (err error) {
		c, err = (&net.Dialer{Timeout: ioTimeout}).Dial("tcp", addr.String())
		return err
	})
	return c, err
}

// acceptOne waits up to ioTimeout for one connection.
func acceptOne(ln *net.TCPListener) (net.Conn, error) {
	if err := ln.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		return nil, err
	}
	return ln.Accept()
}

// upstreamLog accepts every connection on a listener in the upstream
// namespace and hands them to the test, which counts them.
func upstreamLog(t *testing.T, ln net.Listener) <-chan net.Conn {
	ch := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ch <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for {
			select {
			case c := <-ch:
				c.Close()
			default:
				return
			}
		}
	})
	return ch
}

func wantNoUpstream(t *testing.T, ch <-chan net.Conn) {
	t.Helper()
	select {
	case c := <-ch:
		t.Errorf("upstream accepted %s -> %s: the agent got past the gateway", c.RemoteAddr(), c.LocalAddr())
		c.Close()
	case <-time.After(100 * time.Millisecond):
	}
}

// exchange proves the connection carries bytes both ways.
func exchange(t *testing.T, agentSide, otherSide net.Conn) {
	t.Helper()
	for _, c := range []net.Conn{agentSide, otherSide} {
		c.SetDeadline(time.Now().Add(ioTimeout))
	}
	buf := make([]byte, 4)
	if _, err := agentSide.Write([]byte("ping")); err != nil {
		t.Fatalf("agent write: %v", err)
	}
	if _, err := io.ReadFull(otherSide, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("read from agent = %q, %v", buf, err)
	}
	if _, err := otherSide.Write([]byte("pong")); err != nil {
		t.Fatalf("write to agent: %v", err)
	}
	if _, err := io.ReadFull(agentSide, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("agent read = %q, %v", buf, err)
	}
}

func wantAddr(t *testing.T, what string, got net.Addr, want netip.Addr, port uint16) {
	t.Helper()
	ap, err := netip.ParseAddrPort(got.String())
	if err != nil {
		t.Fatalf("%s %s: %v", what, got, err)
	}
	if ap.Addr().Unmap() != want || (port != 0 && ap.Port() != port) {
		t.Errorf("%s = %s, want %s port %d", what, got, want, port)
	}
}

// TestCaptureAndFailClosed drives real connections through a gateway
// namespace: captured while Gatehouse listens, refused while it does not,
// routed directly once Down has run.
func TestCaptureAndFailClosed(t *testing.T) {
	l := newLab(t)
	cfg := Config{Agents: prefixes("10.99.1.0/24", "fd00:99:1::/64"), NetNS: l.gw}
	if err := Up(cfg); err != nil {
		t.Fatalf("Up in gw: %v", err)
	}
	full := cfg.WithDefaults()

	upstream443 := upstreamLog(t, listen(t, l.upstream, ":443", false))
	upstream80 := upstreamLog(t, listen(t, l.upstream, ":80", false))
	gwListener := listen(t, l.gw, ":15001", true) // dual-stack, like a Go server on ":port"

	families := []struct {
		name            string
		agent, upstream netip.Addr
	}{
		{"ipv4", agentV4, upstreamV4},
		{"ipv6", agentV6, upstreamV6},
	}

	t.Run("captured while the listener is up", func(t *testing.T) {
		for _, f := range families {
			t.Run(f.name, func(t *testing.T) {
				dst := netip.AddrPortFrom(f.upstream, 443)
				agentConn, err := dial(l.agent, dst)
				if err != nil {
					t.Fatalf("agent dial %s: %v", dst, err)
				}
				defer agentConn.Close()
				gwConn, err := acceptOne(gwListener)
				if err != nil {
					t.Fatalf("gw listener accepted nothing: %v", err)
				}
				defer gwConn.Close()
				wantAddr(t, "accepted LocalAddr (the original destination)", gwConn.LocalAddr(), f.upstream, 443)
				wantAddr(t, "accepted RemoteAddr", gwConn.RemoteAddr(), f.agent, 0)
				exchange(t, agentConn, gwConn)
				// Rerunning Up replaces the table atomically and keeps the ip
				// rule and route: a live connection carries on.
				if err := Up(cfg); err != nil {
					t.Fatalf("Up again: %v", err)
				}
				exchange(t, agentConn, gwConn)
				wantNoUpstream(t, upstream443)
			})
		}
	})

	// The control: ports not in Config.Ports are routed as usual, so a
	// refused connection below is the guard's doing, not broken routing.
	t.Run("other ports are routed", func(t *testing.T) {
		for _, f := range families {
			t.Run(f.name, func(t *testing.T) {
				c, err := dial(l.agent, netip.AddrPortFrom(f.upstream, 80))
				if err != nil {
					t.Fatalf("agent dial port 80: %v", err)
				}
				defer c.Close()
				select {
				case up := <-upstream80:
					wantAddr(t, "upstream RemoteAddr", up.RemoteAddr(), f.agent, 0)
					up.Close()
				case <-time.After(ioTimeout):
					t.Fatal("upstream did not accept port 80")
				}
			})
		}
	})

	gwListener.Close()
	t.Run("refused while the listener is down", func(t *testing.T) {
		for _, f := range families {
			t.Run(f.name, func(t *testing.T) {
				start := time.Now()
				c, err := dial(l.agent, netip.AddrPortFrom(f.upstream, 443))
				if err == nil {
					c.Close()
					t.Fatalf("agent connected to %s with no Gatehouse listening: capture fails open", c.RemoteAddr())
				}
				if !errors.Is(err, syscall.ECONNREFUSED) {
					t.Errorf("agent dial error = %v after %v, want connection refused (TCP reset)", err, time.Since(start))
				}
				wantNoUpstream(t, upstream443)
			})
		}
	})

	// TPROXY looks the listener up on the address of the interface the
	// packet came in on: a listener on loopback is not it, and the guard
	// refuses the connection.
	t.Run("listener on loopback is not found", func(t *testing.T) {
		for _, f := range families {
			t.Run(f.name, func(t *testing.T) {
				loopback := "127.0.0.1:15001"
				if f.agent.Is6() {
					loopback = "[::1]:15001"
				}
				ln := listen(t, l.gw, loopback, true)
				defer ln.Close()
				c, err := dial(l.agent, netip.AddrPortFrom(f.upstream, 443))
				if err == nil {
					c.Close()
					t.Fatal("agent connected through a loopback listener")
				}
				if !errors.Is(err, syscall.ECONNREFUSED) {
					t.Errorf("agent dial error = %v, want connection refused", err)
				}
				wantNoUpstream(t, upstream443)
			})
		}
	})

	// The measured reason for the forward chain: without it, and with no
	// listener, the captured connection goes straight to its destination.
	t.Run("without the guard capture fails open", func(t *testing.T) {
		deleteChain(t, l.gw, chainForward)
		defer func() {
			if err := Up(cfg); err != nil {
				t.Fatalf("Up to restore the guard: %v", err)
			}
		}()
		c, err := dial(l.agent, netip.AddrPortFrom(upstreamV4, 443))
		if err != nil {
			t.Fatalf("without the guard the agent dial failed (%v): did the kernel change?", err)
		}
		defer c.Close()
		select {
		case up := <-upstream443:
			up.Close()
		case <-time.After(ioTimeout):
			t.Fatal("upstream accepted nothing")
		}
	})
	t.Run("refused again after Up restores the guard", func(t *testing.T) {
		if c, err := dial(l.agent, netip.AddrPortFrom(upstreamV4, 443)); !errors.Is(err, syscall.ECONNREFUSED) {
			if c != nil {
				c.Close()
			}
			t.Fatalf("agent dial error = %v, want connection refused", err)
		}
		wantNoUpstream(t, upstream443)
	})

	if err := Down(full); err != nil {
		t.Fatalf("Down in gw: %v", err)
	}
	t.Run("direct after Down", func(t *testing.T) {
		for _, f := range families {
			t.Run(f.name, func(t *testing.T) {
				dst := netip.AddrPortFrom(f.upstream, 443)
				c, err := dial(l.agent, dst)
				if err != nil {
					t.Fatalf("agent dial %s after Down: %v", dst, err)
				}
				defer c.Close()
				select {
				case up := <-upstream443:
					defer up.Close()
					wantAddr(t, "upstream LocalAddr", up.LocalAddr(), f.upstream, 443)
					wantAddr(t, "upstream RemoteAddr", up.RemoteAddr(), f.agent, 0)
					exchange(t, c, up)
				case <-time.After(ioTimeout):
					t.Fatal("upstream accepted nothing after Down")
				}
			})
		}
	})
}
