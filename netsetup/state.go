package netsetup

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// State is what Status read back from the kernel.
type State struct {
	// Table reports whether nftables table "inet gatehouse" is present.
	Table bool `json:"table"`
	// Rules describes each rule in our table, in order, in nft's syntax,
	// prefixed by its chain: "prerouting: meta nfproto ipv4 ...".
	Rules []string `json:"rules"`
	// IPRules are the ip rules with our mark and table (IPv4, then IPv6).
	IPRules []string `json:"ip_rules"`
	// Routes are the local default routes in our table (IPv4, then IPv6).
	Routes []string `json:"routes"`
	// Forwarding is the namespace's IP forwarding. Down leaves it on.
	Forwarding struct {
		IPv4 bool `json:"ipv4"`
		IPv6 bool `json:"ipv6"`
	} `json:"forwarding"`
	// Installed reports whether everything Up installs for this Config is
	// present, exactly once, and nothing else is in our table.
	Installed bool `json:"installed"`
	// Problems says why Installed is false.
	Problems []string `json:"problems"`
	// Notes are facts worth knowing that are not problems.
	Notes []string `json:"notes"`
}

// forwardingNote is said whenever forwarding is on, since Down will not
// turn it off.
const forwardingNote = "IP forwarding stays on after Down: turning it off would cut the subnet's other traffic; turn it off by hand if this host routes nothing else"

// ipv6DisabledNote explains why Status does not ask for the IPv6 half.
const ipv6DisabledNote = "IPv6 is disabled in this namespace: no IPv6 ip rule, route or forwarding is needed, and IPv6 agents cannot be captured"

// Status reads back what Up installs and compares it with cfg. It changes
// nothing. With no Agents in cfg (`gatehouse net status` on its own) the
// rules are shown but not compared: Installed then means both chains hold
// rules and the ip rules and routes are in place.
func Status(cfg Config) (*State, error) {
	cfg = cfg.WithDefaults()
	if len(cfg.Agents) == 0 {
		if errs := cfg.validateRouting(); len(errs) > 0 {
			return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
		}
	} else if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var st *State
	err := withTarget(cfg.NetNS, func(t *target) (err error) {
		st, err = status(t, cfg)
		return err
	})
	return st, err
}

func status(t *target, cfg Config) (*State, error) {
	st := &State{Rules: []string{}, IPRules: []string{}, Routes: []string{}, Problems: []string{}, Notes: []string{}}
	problem := func(format string, a ...any) { st.Problems = append(st.Problems, fmt.Sprintf(format, a...)) }

	if err := t.readNFT(cfg, st, problem); err != nil {
		return nil, err
	}
	fams, err := activeFamilies(t)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(fams, unix.AF_INET6) {
		st.Notes = append(st.Notes, ipv6DisabledNote)
		for _, p := range cfg.Agents {
			if p.Addr().Is6() {
				problem("agents %s cannot be captured: IPv6 is disabled in this namespace", p)
			}
		}
	}
	lo, err := t.nl.LinkByName("lo")
	if err != nil {
		return nil, wrap("find", "loopback device lo", err)
	}
	for _, fam := range families {
		required := slices.Contains(fams, fam)
		rules, err := ipRules(t.nl, fam, cfg)
		if err != nil {
			return nil, wrap("list", "ip rules", err)
		}
		exact := 0
		for _, r := range rules {
			st.IPRules = append(st.IPRules, describeIPRule(r))
			if exactRule(r) {
				exact++
			}
		}
		if required && (len(rules) != 1 || exact != 1) {
			problem("%d %s ip rules with fwmark %#x lookup %d (%d without other selectors), want exactly 1", len(rules), familyName(fam), cfg.Mark, cfg.Table, exact)
		}

		routes, err := localRoutes(t.nl, fam, cfg)
		if err != nil {
			return nil, wrap("list", "routes", err)
		}
		for _, r := range routes {
			st.Routes = append(st.Routes, describeRoute(t.nl, r))
		}
		if required && (len(routes) != 1 || routes[0].LinkIndex != lo.Attrs().Index) {
			problem("%d %s local default routes in table %d, want exactly 1, on lo", len(routes), familyName(fam), cfg.Table)
		}

		s := forwarding[fam]
		var on bool
		if err := t.run(func() (err error) { on, err = s.on(); return err }); err != nil {
			return nil, wrap("read", s.name, err)
		}
		if fam == unix.AF_INET6 {
			st.Forwarding.IPv6 = on
		} else {
			st.Forwarding.IPv4 = on
		}
		if required && !on {
			problem("%s is off", s.name)
		}
	}
	if st.Forwarding.IPv4 || st.Forwarding.IPv6 {
		st.Notes = append(st.Notes, forwardingNote)
	}
	st.Installed = len(st.Problems) == 0
	return st, nil
}

// readNFT fills in the table and its rules, and compares them with what
// buildRuleset makes of cfg.
func (t *target) readNFT(cfg Config, st *State, problem func(string, ...any)) error {
	tables, err := t.nft.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return wrap("list", "nftables tables", err)
	}
	st.Table = slices.ContainsFunc(tables, func(tb *nftables.Table) bool { return tb.Name == TableName })
	if !st.Table {
		problem("nftables table inet %s is missing", TableName)
		return nil
	}

	want := buildRuleset(cfg)
	chains, err := t.nft.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return wrap("list", "nftables chains", err)
	}
	chains = slices.DeleteFunc(chains, func(c *nftables.Chain) bool { return c.Table == nil || c.Table.Name != TableName })
	for _, w := range want.chains {
		i := slices.IndexFunc(chains, func(c *nftables.Chain) bool { return c.Name == w.Name })
		if i < 0 {
			problem("nftables chain %s is missing", w.Name)
			continue
		}
		if got, want := chainString(chains[i]), chainString(w); got != want {
			problem("nftables chain is %q, want %q", got, want)
		}
	}
	for _, c := range chains {
		if !slices.ContainsFunc(want.chains, func(w *nftables.Chain) bool { return w.Name == c.Name }) {
			problem("nftables chain %s is not one of ours", c.Name)
		}
	}

	got, err := dumpRules(t.raw)
	if err != nil {
		return wrap("list", "nftables rules of table inet "+TableName, err)
	}
	st.Rules = describeRules(got)
	if len(cfg.Agents) == 0 {
		for _, c := range want.chains {
			if !slices.ContainsFunc(got, func(r nftRule) bool { return r.Chain == c.Name }) {
				problem("nftables chain %s has no rules", c.Name)
			}
		}
		return nil
	}
	wantRules := make([]string, len(want.rules))
	for i, r := range want.rules {
		wantRules[i] = r.Chain.Name + ": " + describe(asNFTExprs(r))
	}
	if !slices.Equal(st.Rules, wantRules) {
		problem("nftables rules differ from this config: %d rules, want %d; rerun Up to replace them", len(st.Rules), len(wantRules))
	}
	return nil
}

// describeRules renders rules chain by chain, ours first in hook order.
func describeRules(rules []nftRule) []string {
	order := func(chain string) int {
		switch chain {
		case chainPrerouting:
			return 0
		case chainForward:
			return 1
		}
		return 2
	}
	rules = slices.Clone(rules)
	slices.SortStableFunc(rules, func(a, b nftRule) int {
		if c := order(a.Chain) - order(b.Chain); c != 0 {
			return c
		}
		return strings.Compare(a.Chain, b.Chain)
	})
	out := make([]string, len(rules))
	for i, r := range rules {
		out[i] = r.Chain + ": " + describe(r.Exprs)
	}
	return out
}

func asNFTExprs(r *nftables.Rule) []nftExpr {
	out := make([]nftExpr, len(r.Exprs))
	for i, e := range r.Exprs {
		out[i] = nftExpr{Name: fmt.Sprintf("%T", e), Expr: e}
	}
	return out
}

func chainString(c *nftables.Chain) string {
	s := fmt.Sprintf("%s: type %s", c.Name, c.Type)
	if c.Hooknum != nil {
		hooks := []string{"prerouting", "input", "forward", "output", "postrouting"}
		if h := int(*c.Hooknum); h < len(hooks) {
			s += " hook " + hooks[h]
		} else {
			s += fmt.Sprintf(" hook %d", h)
		}
	}
	if c.Priority != nil {
		s += fmt.Sprintf(" priority %d", *c.Priority)
	}
	if c.Policy != nil {
		s += map[nftables.ChainPolicy]string{nftables.ChainPolicyAccept: " policy accept", nftables.ChainPolicyDrop: " policy drop"}[*c.Policy]
	}
	return s
}

// String renders the state for a terminal.
func (s *State) String() string {
	var b strings.Builder
	yes := map[bool]string{true: "yes", false: "no"}
	onOff := map[bool]string{true: "on", false: "off"}
	fmt.Fprintf(&b, "installed: %s\n", yes[s.Installed])
	fmt.Fprintf(&b, "nftables table inet %s: %s\n", TableName, map[bool]string{true: "present", false: "absent"}[s.Table])
	for _, r := range s.Rules {
		fmt.Fprintf(&b, "  %s\n", r)
	}
	fmt.Fprintf(&b, "ip rules:%s\n", emptyMark(s.IPRules))
	for _, r := range s.IPRules {
		fmt.Fprintf(&b, "  %s\n", r)
	}
	fmt.Fprintf(&b, "routes:%s\n", emptyMark(s.Routes))
	for _, r := range s.Routes {
		fmt.Fprintf(&b, "  %s\n", r)
	}
	fmt.Fprintf(&b, "forwarding: ipv4 %s, ipv6 %s\n", onOff[s.Forwarding.IPv4], onOff[s.Forwarding.IPv6])
	for _, p := range s.Problems {
		fmt.Fprintf(&b, "problem: %s\n", p)
	}
	for _, n := range s.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	return b.String()
}

func emptyMark(s []string) string {
	if len(s) == 0 {
		return " none"
	}
	return ""
}
