package netsetup

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/vishvananda/netns"
)

// sysctl is a per-namespace switch under /proc/sys/net. Which namespace a
// path under /proc/sys/net refers to is decided by the thread that opens
// it, so it is only ever opened from inNetNS.
type sysctl struct {
	name string // as sysctl(8) writes it
	path string
}

var forwardingSysctls = []sysctl{
	{"net.ipv4.ip_forward", "/proc/sys/net/ipv4/ip_forward"},
	{"net.ipv6.conf.all.forwarding", "/proc/sys/net/ipv6/conf/all/forwarding"},
}

func (s sysctl) on() (bool, error) {
	b, err := os.ReadFile(s.path)
	if err != nil {
		return false, err
	}
	return string(bytes.TrimSpace(b)) == "1", nil
}

// enable writes 1 unless it is already 1: writing ip_forward resets
// per-device settings, and a read-only /proc/sys is fine when there is
// nothing to change.
func (s sysctl) enable() error {
	on, err := s.on()
	if err != nil || on {
		return err
	}
	return os.WriteFile(s.path, []byte("1\n"), 0)
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
			errc <- fmt.Errorf("enter network namespace %s: %w", ns, err)
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
