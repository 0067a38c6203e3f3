package identity

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// AddressRule names the agent at a source address. It is the weakest
// source of identity (anyone who can use the address is the agent), so it
// is off unless configured, and policy decides what it may do.
type AddressRule struct {
	CIDR     netip.Prefix `yaml:"cidr"`
	Identity string       `yaml:"identity"`
	Groups   []string     `yaml:"groups"`
}

// Validate checks a rule as config loading should: a valid prefix and an
// IAM-style identity name.
func (r AddressRule) Validate() error {
	if !r.CIDR.IsValid() {
		return fmt.Errorf("address rule %q: cidr missing or invalid", r.Identity)
	}
	if !iamName(r.Identity, 1, 64) {
		return fmt.Errorf("address rule %s: identity %q: want 1-64 letters, digits or _+=,.@-", r.CIDR, r.Identity)
	}
	for _, g := range r.Groups {
		if !printable(g, 256) || strings.ContainsAny(g, " \t") {
			return fmt.Errorf("address rule %s: group %q: want 1-256 printable characters without spaces", r.CIDR, g)
		}
	}
	return nil
}

// MatchAddress returns the identity of the most specific rule containing
// addr (the first such rule on a tie). An IPv4 address seen as IPv6
// (::ffff:10.0.0.5, from a dual-stack socket) matches IPv4 rules.
func MatchAddress(rules []AddressRule, addr netip.Addr) (*Identity, bool) {
	if !addr.IsValid() {
		return nil, false
	}
	addr = addr.Unmap().WithZone("")
	best, bestBits := -1, -1
	for i, r := range rules {
		p := r.CIDR
		if !p.IsValid() {
			continue
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		if !p.Contains(addr) {
			continue
		}
		if p.Bits() > bestBits {
			best, bestBits = i, p.Bits()
		}
	}
	if best < 0 {
		return nil, false
	}
	r := rules[best]
	return &Identity{Source: SourceAddress, Subject: r.Identity, Groups: slices.Clone(r.Groups)}, true
}
