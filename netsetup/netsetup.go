package netsetup

import (
	"errors"
	"fmt"
	"runtime"
	"slices"

	"github.com/google/nftables"
	mnetlink "github.com/mdlayher/netlink"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Up makes the namespace the agents' egress hop. It is idempotent and
// repairs what a crash left: after it returns nil, everything listed in the
// package doc is present exactly once. Where IPv6 is disabled (on lo, or
// at boot) it installs the IPv4 half of the routing and forwarding only,
// and refuses IPv6 agents.
//
// The order keeps the namespace fail-closed at every step: the nftables
// guard goes in first, forwarding is turned on last.
func Up(cfg Config) error {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	return withTarget(cfg.NetNS, func(t *target) error { return up(t, cfg) })
}

func up(t *target, cfg Config) error {
	fams, err := activeFamilies(t)
	if err != nil {
		return err
	}
	if !slices.Contains(fams, unix.AF_INET6) {
		for _, p := range cfg.Agents {
			if p.Addr().Is6() {
				return fmt.Errorf("capture agents %s: IPv6 is disabled in this namespace (%s = 1 or ipv6.disable=1): enable it, or list only IPv4 agents", p, loIPv6Disabled.name)
			}
		}
	}

	if err := replaceTable(t.nft, buildRuleset(cfg)); err != nil {
		return wrapNFT("install", "nftables table inet "+TableName, err)
	}
	lo, err := t.nl.LinkByName("lo")
	if err != nil {
		return wrap("find", "loopback device lo", err)
	}
	for _, fam := range fams {
		if err := ensureLocalRoute(t.nl, fam, lo.Attrs().Index, cfg); err != nil {
			return err
		}
		if err := ensureIPRule(t.nl, fam, cfg); err != nil {
			return err
		}
	}
	for _, fam := range fams {
		s := forwarding[fam]
		if err := t.run(s.enable); err != nil {
			return wrap("enable", s.name, err)
		}
	}
	return nil
}

// Down removes the nftables table, our ip rules (every rule with our mark
// and table) and our local routes in Table. It is idempotent: on a
// namespace without them it does nothing. It tries every step and reports
// all failures.
//
// Down leaves IP forwarding on: the host may route the subnet's other
// traffic, and turning forwarding off would cut it.
//
// Agents, Ports and ListenPort are not needed: the table goes whole.
func Down(cfg Config) error {
	cfg = cfg.WithDefaults()
	if errs := cfg.validateRouting(); len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	return withTarget(cfg.NetNS, func(t *target) error { return down(t, cfg) })
}

func down(t *target, cfg Config) error {
	var errs []error
	if err := deleteTable(t.nft); err != nil {
		errs = append(errs, wrapNFT("delete", "nftables table inet "+TableName, err))
	}
	for _, fam := range families {
		if err := deleteIPRules(t.nl, fam, cfg); err != nil {
			errs = append(errs, err)
		}
		if err := deleteLocalRoutes(t.nl, fam, cfg); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// target is an open namespace: an nftables, a raw nfnetlink and an
// rtnetlink connection, all created inside it.
type target struct {
	ns  netns.NsHandle // netns.None() for the calling thread's namespace
	nft *nftables.Conn
	raw *mnetlink.Conn // for dumping rules; see nftread.go
	nl  *netlink.Handle
}

// withTarget runs fn with the namespace ns opened, ns being 0 or -1 for
// the calling thread's. For that one the calling goroutine stays on its
// thread throughout and nothing calls setns, so Gatehouse can run there
// with CAP_NET_ADMIN alone; entering another namespace also needs
// CAP_SYS_ADMIN.
func withTarget(ns netns.NsHandle, fn func(*target) error) error {
	t := &target{ns: ns}
	if ns == 0 || ns == netns.None() {
		t.ns = netns.None()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	err := t.run(func() error {
		var err error
		if t.nl, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
			return wrap("open", "rtnetlink socket", err)
		}
		if t.nft, err = nftables.New(nftables.AsLasting()); err != nil {
			return wrap("open", "nftables socket", err)
		}
		if t.raw, err = mnetlink.Dial(unix.NETLINK_NETFILTER, nil); err != nil {
			return wrap("open", "nfnetlink socket", err)
		}
		return nil
	})
	defer t.close()
	if err != nil {
		return err
	}
	return fn(t)
}

// run runs fn inside the target namespace: on the calling thread when that
// is the target, else on a thread of its own switched into it. Sockets and
// /proc/sys/net files belong to the namespace of the thread that opened
// them.
func (t *target) run(fn func() error) error {
	if t.ns == netns.None() {
		return fn()
	}
	return inNetNS(t.ns, fn)
}

func (t *target) close() {
	if t.nft != nil {
		t.nft.CloseLasting()
	}
	if t.raw != nil {
		t.raw.Close()
	}
	if t.nl != nil {
		t.nl.Close()
	}
}

// wrap names the failed step as "<op> <object>: <cause>" and, where the
// cause says what the user should do, says it.
func wrap(op, object string, err error) error {
	return fmt.Errorf("%s %s: %w%s", op, object, err, hint(err))
}

func hint(err error) string {
	var enter *enterError
	switch {
	case errors.As(err, &enter):
		return "" // it says it itself
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return " (are you root? CAP_NET_ADMIN is needed)"
	case errors.Is(err, unix.EROFS):
		return " (/proc/sys is read-only here: run with a writable /proc/sys, or set the sysctl beforehand)"
	case errors.Is(err, unix.EAFNOSUPPORT):
		return " (is IPv6 disabled here?)"
	}
	return ""
}

// wrapNFT is wrap for an nftables batch, where ENOENT and EOPNOTSUPP mean
// the kernel lacks an expression Gatehouse needs.
func wrapNFT(op, object string, err error) error {
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) {
		return fmt.Errorf("%s %s: %w (does this kernel have nftables TPROXY and reject? CONFIG_NFT_TPROXY, CONFIG_NFT_REJECT_INET, or modprobe nft_tproxy nft_reject_inet)", op, object, err)
	}
	return wrap(op, object, err)
}
