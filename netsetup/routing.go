package netsetup

import (
	"errors"
	"fmt"
	"net"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Policy routing that delivers captured packets locally: the tproxy rule
// marks them, "ip rule fwmark Mark lookup Table" sends them to Table, and
// Table's only route says every destination is local, on lo.

var families = []int{unix.AF_INET, unix.AF_INET6}

func familyName(family int) string {
	if family == unix.AF_INET6 {
		return "ipv6"
	}
	return "ipv4"
}

// ipRules lists the ip rules of family with our mark and table, whatever
// else they match on.
func ipRules(h *netlink.Handle, family int, cfg Config) ([]netlink.Rule, error) {
	filter := &netlink.Rule{Mark: cfg.Mark, Table: cfg.Table}
	var rules []netlink.Rule
	err := retryDump(func() (err error) {
		rules, err = h.RuleListFiltered(family, filter, netlink.RT_FILTER_MARK|netlink.RT_FILTER_TABLE)
		return err
	})
	return rules, err
}

// wantRule is the ip rule Up adds; the kernel picks its priority, just
// before the main table's.
func wantRule(family int, cfg Config) *netlink.Rule {
	r := netlink.NewRule()
	r.Family = family
	r.Mark = cfg.Mark
	r.Table = cfg.Table
	return r
}

// exactRule reports whether r is "fwmark Mark lookup Table" and nothing
// more: a rule that also matches an interface or an address is not ours.
func exactRule(r netlink.Rule) bool {
	return (r.Mask == nil || *r.Mask == 0xffffffff) &&
		r.Src == nil && r.Dst == nil && r.IifName == "" && r.OifName == "" &&
		!r.Invert && r.Tos == 0 && r.Goto < 0 && r.IPProto == 0 &&
		r.Dport == nil && r.Sport == nil && r.UIDRange == nil && r.TunID == 0 &&
		r.SuppressPrefixlen < 0 && r.SuppressIfgroup < 0
}

// ensureIPRule leaves exactly one exact rule of family with our mark and
// table, keeping one already there so that capture never has a gap, and
// deleting duplicates and near misses (a crash between add and record, an
// operator's hand-made copy).
func ensureIPRule(h *netlink.Handle, family int, cfg Config) error {
	object := fmt.Sprintf("ip rule fwmark %#x lookup %d (%s)", cfg.Mark, cfg.Table, familyName(family))
	rules, err := ipRules(h, family, cfg)
	if err != nil {
		return wrap("list", object, err)
	}
	keep := slices.IndexFunc(rules, exactRule)
	if keep < 0 {
		if err := h.RuleAdd(wantRule(family, cfg)); err != nil {
			return wrap("add", object, err)
		}
		if rules, err = ipRules(h, family, cfg); err != nil {
			return wrap("list", object, err)
		}
		if keep = slices.IndexFunc(rules, exactRule); keep < 0 {
			return fmt.Errorf("add %s: the kernel accepted it but does not list it", object)
		}
	}
	for i, r := range rules {
		if i == keep {
			continue
		}
		if err := h.RuleDel(&r); err != nil && !errors.Is(err, unix.ENOENT) {
			return wrap("delete duplicate", object, err)
		}
	}
	return nil
}

func deleteIPRules(h *netlink.Handle, family int, cfg Config) error {
	object := fmt.Sprintf("ip rule fwmark %#x lookup %d (%s)", cfg.Mark, cfg.Table, familyName(family))
	rules, err := ipRules(h, family, cfg)
	if err != nil {
		return wrap("list", object, err)
	}
	for _, r := range rules {
		if err := h.RuleDel(&r); err != nil && !errors.Is(err, unix.ENOENT) {
			return wrap("delete", object, err)
		}
	}
	return nil
}

func defaultDst(family int) *net.IPNet {
	if family == unix.AF_INET6 {
		return &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}
	}
	return &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}
}

// localRoutes lists the routes of family in our table that are ours in
// shape: type local, default destination. Other routes someone put in the
// table are not touched.
func localRoutes(h *netlink.Handle, family int, cfg Config) ([]netlink.Route, error) {
	var routes []netlink.Route
	err := retryDump(func() (err error) {
		routes, err = h.RouteListFiltered(family, &netlink.Route{Table: cfg.Table}, netlink.RT_FILTER_TABLE)
		return err
	})
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(routes, func(r netlink.Route) bool {
		return r.Type != unix.RTN_LOCAL || r.Dst == nil || r.Dst.IP == nil || !r.Dst.IP.IsUnspecified() || maskOnes(r.Dst) != 0
	}), nil
}

func maskOnes(n *net.IPNet) int {
	ones, _ := n.Mask.Size()
	return ones
}

// ensureLocalRoute leaves exactly one "local default dev lo" route of
// family in our table.
func ensureLocalRoute(h *netlink.Handle, family, lo int, cfg Config) error {
	object := fmt.Sprintf("route local %s dev lo table %d", defaultDst(family), cfg.Table)
	routes, err := localRoutes(h, family, cfg)
	if err != nil {
		return wrap("list", object, err)
	}
	if len(routes) == 1 && routes[0].LinkIndex == lo {
		return nil
	}
	want := &netlink.Route{
		Family:    family,
		LinkIndex: lo,
		Dst:       defaultDst(family),
		Table:     cfg.Table,
		Type:      unix.RTN_LOCAL,
		Scope:     netlink.SCOPE_HOST,
	}
	if err := h.RouteReplace(want); err != nil {
		return wrap("replace", object, err)
	}
	if routes, err = localRoutes(h, family, cfg); err != nil {
		return wrap("list", object, err)
	}
	// Keep the lo route the kernel prefers (lowest metric), drop the rest:
	// leftovers with another metric or another device.
	keep := -1
	for i, r := range routes {
		if r.LinkIndex == lo && (keep < 0 || r.Priority < routes[keep].Priority) {
			keep = i
		}
	}
	if keep < 0 {
		return fmt.Errorf("replace %s: the kernel accepted it but does not list it", object)
	}
	for i, r := range routes {
		if i == keep {
			continue
		}
		if err := h.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			return wrap("delete duplicate", object, err)
		}
	}
	return nil
}

func deleteLocalRoutes(h *netlink.Handle, family int, cfg Config) error {
	object := fmt.Sprintf("route local %s table %d", defaultDst(family), cfg.Table)
	routes, err := localRoutes(h, family, cfg)
	if err != nil {
		return wrap("list", object, err)
	}
	for _, r := range routes {
		if err := h.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			return wrap("delete", object, err)
		}
	}
	return nil
}

// retryDump retries a netlink dump the kernel interrupted because the
// list changed under it.
func retryDump(dump func() error) error {
	var err error
	for range 5 {
		if err = dump(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			return err
		}
	}
	return err
}

func describeIPRule(r netlink.Rule) string {
	var b []byte
	b = fmt.Appendf(b, "%s %d: from ", familyName(r.Family), r.Priority)
	if r.Src != nil {
		b = fmt.Append(b, r.Src)
	} else {
		b = append(b, "all"...)
	}
	if r.Dst != nil {
		b = fmt.Appendf(b, " to %s", r.Dst)
	}
	if r.IifName != "" {
		b = fmt.Appendf(b, " iif %s", r.IifName)
	}
	if r.OifName != "" {
		b = fmt.Appendf(b, " oif %s", r.OifName)
	}
	b = fmt.Appendf(b, " fwmark %#x", r.Mark)
	if r.Mask != nil && *r.Mask != 0xffffffff {
		b = fmt.Appendf(b, "/%#x", *r.Mask)
	}
	b = fmt.Appendf(b, " lookup %d", r.Table)
	if !exactRule(r) {
		b = append(b, " (has other selectors)"...)
	}
	return string(b)
}

func describeRoute(h *netlink.Handle, r netlink.Route) string {
	dev := fmt.Sprintf("ifindex %d", r.LinkIndex)
	if l, err := h.LinkByIndex(r.LinkIndex); err == nil {
		dev = l.Attrs().Name
	}
	return fmt.Sprintf("%s local %s dev %s table %d metric %d", familyName(r.Family), r.Dst, dev, r.Table, r.Priority)
}
