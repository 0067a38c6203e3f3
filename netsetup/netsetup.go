package netsetup

import (
	"errors"
	"fmt"
	"slices"

	"github.com/google/nftables"
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
	t, err := open(cfg.NetNS)
	if err != nil {
		return err
	}
	defer t.close()

	fams, err := activeFamilies(t.ns)
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
		if err := inNetNS(t.ns, s.enable); err != nil {
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
	t, err := open(cfg.NetNS)
	if err != nil {
		return err
	}
	defer t.close()

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

// target is an open namespace: one nftables and one rtnetlink connection,
// both created inside it.
type target struct {
	ns    netns.NsHandle
	owned bool // ns was opened here and is closed by close
	nft   *nftables.Conn
	nl    *netlink.Handle
}

// open connects to namespace ns, or to the calling thread's when ns is 0 or
// -1. The current namespace is pinned by a handle here, once: everything
// after (sysctls run on another thread) must land in the same namespace.
func open(ns netns.NsHandle) (*target, error) {
	t := &target{ns: ns}
	if ns == 0 || ns == netns.None() {
		cur, err := netns.Get()
		if err != nil {
			return nil, wrap("open", "current network namespace", err)
		}
		t.ns, t.owned = cur, true
	}
	var err error
	if t.nl, err = netlink.NewHandleAt(t.ns, unix.NETLINK_ROUTE); err != nil {
		t.close()
		return nil, wrap("open", "rtnetlink socket in network namespace "+t.ns.String(), err)
	}
	if t.nft, err = nftables.New(nftables.WithNetNSFd(int(t.ns)), nftables.AsLasting()); err != nil {
		t.close()
		return nil, wrap("open", "nftables socket in network namespace "+t.ns.String(), err)
	}
	return t, nil
}

func (t *target) close() {
	if t.nft != nil {
		t.nft.CloseLasting()
	}
	if t.nl != nil {
		t.nl.Close()
	}
	if t.owned {
		t.ns.Close()
	}
}

// wrap names the failed step as "<op> <object>: <cause>" and, where the
// cause says what the user should do, says it.
func wrap(op, object string, err error) error {
	return fmt.Errorf("%s %s: %w%s", op, object, err, hint(err))
}

func hint(err error) string {
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return " (are you root? CAP_NET_ADMIN is needed)"
	case errors.Is(err, unix.EROFS):
		return " (/proc/sys is read-only here: run with a writable /proc/sys, or set the sysctl beforehand)"
	case errors.Is(err, unix.EAFNOSUPPORT):
		return " (is IPv6 disabled on this host? Gatehouse needs it enabled)"
	case errors.Is(err, unix.EBADF):
		return " (Config.NetNS must be an open network namespace handle)"
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
