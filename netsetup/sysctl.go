package netsetup

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// sysctl is a per-namespace switch under /proc/sys/net. Which namespace a
// path under /proc/sys/net refers to is decided by the thread that opens
// it, so it is only ever opened from inNetNS.
type sysctl struct {
	name string // as sysctl(8) writes it
	path string
}

// forwarding is each address family's forwarding switch.
var forwarding = map[int]sysctl{
	unix.AF_INET:  {"net.ipv4.ip_forward", "/proc/sys/net/ipv4/ip_forward"},
	unix.AF_INET6: {"net.ipv6.conf.all.forwarding", "/proc/sys/net/ipv6/conf/all/forwarding"},
}

// loIPv6Disabled is where IPv6 is turned off for lo, which holds the local
// route; the kernel then refuses that route with EACCES.
var loIPv6Disabled = sysctl{"net.ipv6.conf.lo.disable_ipv6", "/proc/sys/net/ipv6/conf/lo/disable_ipv6"}

// on reports whether the switch is 1. A switch that does not exist (IPv6
// compiled out or disabled at boot) is off.
func (s sysctl) on() (bool, error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return string(bytes.TrimSpace(b)) == "1", nil
}

// enable writes 1 unless it is already 1, so that a read-only /proc/sys
// (a container whose runtime set forwarding beforehand) is not an error.
func (s sysctl) enable() error {
	b, err := os.ReadFile(s.path)
	if err != nil {
		return err
	}
	if string(bytes.TrimSpace(b)) == "1" {
		return nil
	}
	return os.WriteFile(s.path, []byte("1\n"), 0)
}

// activeFamilies returns the address families Up configures in t's
// namespace: IPv4, and IPv6 unless it is disabled on lo (or at boot). Then
// the local route cannot exist and IPv6 cannot be captured: Up refuses IPv6
// agents and leaves IPv6 routing and forwarding alone.
func activeFamilies(t *target) ([]int, error) {
	var v6 bool
	err := t.run(func() error {
		if _, err := os.Stat(loIPv6Disabled.path); errors.Is(err, fs.ErrNotExist) {
			return nil // IPv6 compiled out or disabled at boot
		}
		disabled, err := loIPv6Disabled.on()
		v6 = !disabled
		return err
	})
	if err != nil {
		return nil, wrap("read", loIPv6Disabled.name, err)
	}
	if v6 {
		return []int{unix.AF_INET, unix.AF_INET6}, nil
	}
	return []int{unix.AF_INET}, nil
}

// inNetNS runs fn on a fresh OS thread switched into ns, so the caller's
// thread never changes namespace. If the thread cannot be switched back it
// stays locked and dies with the goroutine instead of returning to Go's
// pool in the wrong namespace.
func inNetNS(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("open current network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			errc <- &enterError{ns: ns, err: err}
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("return to network namespace %s: %w", orig, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// enterError is a failed setns. It says which capability is missing itself,
// since it is not the CAP_NET_ADMIN that everything else needs.
type enterError struct {
	ns  netns.NsHandle
	err error
}

func (e *enterError) Error() string {
	msg := fmt.Sprintf("enter network namespace %s: %v", e.ns, e.err)
	switch {
	case errors.Is(e.err, unix.EPERM):
		msg += " (entering another namespace needs CAP_SYS_ADMIN; are you root?)"
	case errors.Is(e.err, unix.EBADF), errors.Is(e.err, unix.EINVAL):
		msg += " (Config.NetNS must be an open network namespace handle, e.g. from netns.GetFromName)"
	}
	return msg
}

func (e *enterError) Unwrap() error { return e.err }
