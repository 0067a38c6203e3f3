package netsetup

import (
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Chain names in TableName, in the order Status reports them.
const (
	chainPrerouting = "prerouting"
	chainForward    = "forward"
)

// ruleset is everything Up puts into nftables, built from a Config.
type ruleset struct {
	table  *nftables.Table
	chains []*nftables.Chain
	rules  []*nftables.Rule
}

func ourTable() *nftables.Table {
	return &nftables.Table{Name: TableName, Family: nftables.TableFamilyINet}
}

// buildRuleset is the whole capture, in one place:
//
//	table inet gatehouse {
//	  chain prerouting { type filter hook prerouting priority mangle; policy accept;
//	    <agent prefix> tcp dport <port> tproxy ip|ip6 to :<ListenPort> meta mark set <Mark> accept
//	  }
//	  chain forward { type filter hook forward priority filter; policy accept;
//	    <agent prefix> tcp dport <port> reject with tcp reset
//	  }
//	}
//
// The forward rule is the fail-closed guard: TPROXY does not match when no
// socket listens on ListenPort, and the packet would then be routed on to
// its real destination.
func buildRuleset(cfg Config) ruleset {
	accept := nftables.ChainPolicyAccept
	t := ourTable()
	pre := &nftables.Chain{
		Name:     chainPrerouting,
		Table:    t,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  nftables.ChainHookPrerouting,
		Priority: nftables.ChainPriorityMangle,
		Policy:   &accept,
	}
	fwd := &nftables.Chain{
		Name:     chainForward,
		Table:    t,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  nftables.ChainHookForward,
		Priority: nftables.ChainPriorityFilter,
		Policy:   &accept,
	}
	rs := ruleset{table: t, chains: []*nftables.Chain{pre, fwd}}
	for _, c := range []*nftables.Chain{pre, fwd} {
		for _, p := range cfg.Agents {
			for _, port := range cfg.Ports {
				exprs := matchExprs(p, port)
				if c == pre {
					exprs = append(exprs, tproxyExprs(p.Addr().Is6(), cfg.ListenPort, cfg.Mark)...)
				} else {
					exprs = append(exprs, &expr.Reject{Type: unix.NFT_REJECT_TCP_RST})
				}
				rs.rules = append(rs.rules, &nftables.Rule{Table: t, Chain: c, Exprs: exprs})
			}
		}
	}
	return rs
}

// matchExprs matches TCP from prefix p to port: in an inet table the
// address family is checked first (meta nfproto), as nft itself does,
// before the network header is read at the family's offsets.
func matchExprs(p netip.Prefix, port uint16) []expr.Any {
	nfproto, saddrOffset := byte(unix.NFPROTO_IPV4), uint32(12)
	if p.Addr().Is6() {
		nfproto, saddrOffset = unix.NFPROTO_IPV6, 8
	}
	addr := p.Masked().Addr().AsSlice()
	n := uint32(len(addr))
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{nfproto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: saddrOffset, Len: n},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: n, Mask: prefixMask(p), Xor: make([]byte, n)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(port)},
	}
}

// tproxyExprs is "tproxy ip|ip6 to :listenPort meta mark set mark accept".
// In an inet table the tproxy expression must name the address family
// (NFTA_TPROXY_FAMILY); the port is read from a register, big-endian. The
// mark is set only if tproxy found a listener: without one tproxy breaks
// out of the rule and the packet goes on to the forward chain's guard.
func tproxyExprs(v6 bool, listenPort uint16, mark uint32) []expr.Any {
	family := byte(unix.NFPROTO_IPV4)
	if v6 {
		family = unix.NFPROTO_IPV6
	}
	return []expr.Any{
		&expr.Immediate{Register: 1, Data: binaryutil.BigEndian.PutUint16(listenPort)},
		&expr.TProxy{Family: family, TableFamily: unix.NFPROTO_INET, RegPort: 1},
		&expr.Immediate{Register: 1, Data: binaryutil.NativeEndian.PutUint32(mark)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
		&expr.Verdict{Kind: expr.VerdictAccept},
	}
}

func prefixMask(p netip.Prefix) []byte {
	mask := make([]byte, p.Addr().BitLen()/8)
	for i := 0; i < p.Bits(); i++ {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	return mask
}

// replaceTable installs rs as one nftables transaction. Adding the table,
// deleting it and adding it again in the same batch empties whatever a
// previous run (or a crash half-way through one) left, without failing
// when there was nothing: the kernel applies the whole batch or none of it,
// so the capture is never half-installed nor installed twice.
//
// The table deliberately has no NFT_TABLE_F_OWNER flag: it must outlive the
// process that made it, so that a gateway killed with -9 fails closed.
func replaceTable(c *nftables.Conn, rs ruleset) error {
	c.AddTable(rs.table)
	c.DelTable(rs.table)
	c.AddTable(rs.table)
	for _, ch := range rs.chains {
		c.AddChain(ch)
	}
	for _, r := range rs.rules {
		c.AddRule(r)
	}
	return c.Flush()
}

// deleteTable removes our table, and succeeds when there is none, by the
// same add-then-delete idiom in one batch.
func deleteTable(c *nftables.Conn) error {
	t := ourTable()
	c.AddTable(t)
	c.DelTable(t)
	return c.Flush()
}
