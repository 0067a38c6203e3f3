package intercept

import (
	"context"
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// ListenTransparent listens with IP_TRANSPARENT (and IPV6_TRANSPARENT), the
// socket nftables TPROXY hands agents' connections to. It needs
// CAP_NET_ADMIN.
func ListenTransparent(ctx context.Context, addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if network == "tcp6" || network == "tcp" {
				// On a dual-stack socket both options apply; IPV6 may fail
				// on an IPv4 socket, which is fine.
				_ = unix.SetsockoptInt(int(fd), unix.SOL_IPV6, unix.IPV6_TRANSPARENT, 1)
			}
			serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_TRANSPARENT, 1)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen transparent %s (needs CAP_NET_ADMIN): %w", addr, err)
	}
	return ln, nil
}
