package netsetup

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Helpers for tests against the real kernel, in the manner of
// vishvananda/netlink's: skip unless root, a fresh namespace per test, the
// test's own thread always back in its namespace, everything torn down.

func skipUnlessRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and nftables tables")
	}
}

var (
	nsSeq   atomic.Int64
	nsNames sync.Map // UniqueId -> name, for helpers that must find it by name
)

func nsName(t *testing.T, ns netns.NsHandle) string {
	t.Helper()
	name, ok := nsNames.Load(ns.UniqueId())
	if !ok {
		t.Fatalf("no name for %s", ns)
	}
	return name.(string)
}

// newNS creates a named network namespace with lo up, unique to this test
// process, and deletes it when the test ends (also when it fails). The
// calling thread is switched back to its original namespace before newNS
// returns.
func newNS(t *testing.T, role string) netns.NsHandle {
	t.Helper()
	skipUnlessRoot(t)
	name := fmt.Sprintf("gh-test-%d-%d-%s", os.Getpid(), nsSeq.Add(1), role)

	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("get current netns: %v", err)
	}
	ns, err := netns.NewNamed(name) // also switches this thread into it
	if serr := netns.Set(orig); serr != nil {
		// This thread is stranded in the new namespace: leave it locked so
		// it dies with the test goroutine.
		t.Fatalf("restore netns after creating %s: %v", name, serr)
	}
	orig.Close()
	runtime.UnlockOSThread()
	if err != nil {
		t.Fatalf("create netns %s: %v", name, err)
	}
	nsNames.Store(ns.UniqueId(), name)
	t.Cleanup(func() {
		ns.Close()
		if err := netns.DeleteNamed(name); err != nil {
			t.Errorf("delete netns %s: %v", name, err)
		}
	})

	h := nlHandle(t, ns)
	lo, err := h.LinkByName("lo")
	if err != nil {
		t.Fatalf("find lo in %s: %v", name, err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		t.Fatalf("set lo up in %s: %v", name, err)
	}
	t.Logf("netns %s (%s)", name, ns)
	return ns
}

// nlHandle opens an rtnetlink handle in ns, closed when the test ends.
func nlHandle(t *testing.T, ns netns.NsHandle) *netlink.Handle {
	t.Helper()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatalf("netlink handle in %s: %v", ns, err)
	}
	t.Cleanup(h.Close)
	return h
}

// logRuleset logs `nft list ruleset` and the ip rules of ns, for humans
// reading a failure; no assertion reads it.
func logRuleset(t *testing.T, ns netns.NsHandle) {
	t.Helper()
	var out []byte
	err := inNetNS(ns, func() error {
		var err error
		out, err = exec.Command("nft", "list", "ruleset").CombinedOutput()
		return err
	})
	t.Logf("nft list ruleset in %s (err %v):\n%s", ns, err, out)
}
