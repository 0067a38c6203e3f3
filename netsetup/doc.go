// Package netsetup makes this host, or a given network namespace, the egress
// hop of an agent subnet: TCP connections from the agents to the captured
// ports are handed to Gatehouse's transparent listener instead of being
// routed on. It speaks netlink only (google/nftables, vishvananda/netlink)
// and never runs ip or nft.
//
//	cfg := netsetup.Config{
//		Agents: []netip.Prefix{netip.MustParsePrefix("10.0.1.0/24")},
//	}.WithDefaults() // ports [443], listener :15001, mark 0x6768, table 6768
//	if err := netsetup.Up(cfg); err != nil {
//		return err // says what failed and, e.g. "are you root?", what to do
//	}
//	st, err := netsetup.Status(cfg) // st.Installed; fmt.Print(st) for humans
//	...
//	err = netsetup.Down(cfg)
//
// The listener (package intercept) binds ListenPort on the wildcard address
// (":15001" serves IPv4 and IPv6 alike) with IP_TRANSPARENT set in
// net.ListenConfig.Control; the LocalAddr of an accepted connection is the
// address the agent dialled. TPROXY without an
// address looks the listener up on the primary address of the interface the
// packet came in on, so a listener bound to 127.0.0.1 is not found.
//
// # What it owns
//
// Up installs, and Down removes, exactly this:
//
//   - nftables table "inet gatehouse" (TableName), replaced whole in one
//     transaction, so a rerun after a crash or kill -9 leaves one copy:
//     chain prerouting (filter, priority mangle): for each agent prefix and
//     port, "tproxy ip|ip6 to :ListenPort meta mark set Mark accept";
//     chain forward (filter, priority filter): the same match, "reject with
//     tcp reset".
//   - ip rule "fwmark Mark lookup Table", one for IPv4 and one for IPv6.
//   - routes "local 0.0.0.0/0 dev lo" and "local ::/0 dev lo" in Table.
//   - net.ipv4.ip_forward and net.ipv6.conf.all.forwarding, set to 1.
//
// # Fail closed
//
// TPROXY fails open: when nothing listens on ListenPort its rule does not
// match and the packet is routed to its real destination. The forward
// chain's reject is what stops that; it answers the agent with a TCP reset
// while Gatehouse is down, and Up installs it before anything else. The
// table has no owner flag: it outlives the process that made it, on
// purpose.
//
// # What it never does
//
// It never touches other nftables tables, ip rules or routes; never turns
// forwarding off (Down leaves it on, since the host may route the subnet's
// other traffic, and Status says so); never listens, accepts or dials; and
// imports no other Gatehouse package.
//
// # Who imports it
//
// cmd/gatehouse, for "gatehouse net up|down|status".
//
// # Running it
//
// In the caller's own namespace (Config.NetNS 0) CAP_NET_ADMIN is enough;
// the calling goroutine stays on its OS thread throughout. Another
// namespace needs CAP_SYS_ADMIN as well, to enter it. Errors say which.
//
// Where IPv6 is disabled (net.ipv6.conf.lo.disable_ipv6, ipv6.disable=1) Up
// installs the IPv4 half and refuses IPv6 agents. Turning IPv6 forwarding
// on makes the kernel ignore router advertisements on interfaces with
// accept_ra=1: a gateway that learns its own IPv6 default route by SLAAC
// needs accept_ra=2 on its uplink.
//
// Up, Down and Status on the same namespace must not run concurrently: the
// nftables part is atomic, the ip rule and route repair is not.
package netsetup
