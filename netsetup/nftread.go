package netsetup

import (
	"encoding/binary"
	"fmt"

	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Reading rules back does not use nftables.Conn.GetRules: in
// google/nftables v0.3.0 its decoder has no case for "tproxy" and silently
// drops the expression, and expr.TProxy's own unmarshal reads the 32-bit
// NFTA_TPROXY_FAMILY attribute as a byte. Status must see exactly what the
// kernel holds, so it dumps the rules itself and keeps every expression,
// decoded or not.

// nftRule is one rule of our table as the kernel reports it.
type nftRule struct {
	Chain  string
	Handle uint64
	Exprs  []nftExpr
}

// nftExpr is one expression of a rule. Expr is nil when this package does
// not decode expressions called Name; it is still reported.
type nftExpr struct {
	Name string
	Expr expr.Any
}

// dumpRules lists the rules of TableName over c, a NETLINK_NETFILTER
// connection, chain by chain in kernel order.
func dumpRules(c *netlink.Conn) ([]nftRule, error) {
	attrs, err := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NFTA_RULE_TABLE, Data: []byte(TableName + "\x00")},
	})
	if err != nil {
		return nil, err
	}
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETRULE),
			Flags: netlink.Request | netlink.Dump,
		},
		// nfgenmsg: family, version, resource id (big-endian).
		Data: append([]byte{unix.NFPROTO_INET, unix.NFNETLINK_V0, 0, 0}, attrs...),
	})
	if err != nil {
		return nil, err
	}
	var rules []nftRule
	for _, m := range msgs {
		if len(m.Data) < 4 {
			continue
		}
		r, table, err := decodeRule(m.Data[4:])
		if err != nil {
			return nil, err
		}
		if table == TableName {
			rules = append(rules, r)
		}
	}
	return rules, nil
}

func decodeRule(b []byte) (r nftRule, table string, err error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return r, "", err
	}
	ad.ByteOrder = binary.BigEndian
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_RULE_TABLE:
			table = ad.String()
		case unix.NFTA_RULE_CHAIN:
			r.Chain = ad.String()
		case unix.NFTA_RULE_HANDLE:
			r.Handle = ad.Uint64()
		case unix.NFTA_RULE_EXPRESSIONS:
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				for nad.Next() {
					if nad.Type() != unix.NFTA_LIST_ELEM {
						continue
					}
					e, err := decodeExpr(nad.Bytes())
					if err != nil {
						return err
					}
					r.Exprs = append(r.Exprs, e)
				}
				return nil
			})
		}
	}
	if err := ad.Err(); err != nil {
		return r, table, fmt.Errorf("decode nftables rule: %w", err)
	}
	return r, table, nil
}

func decodeExpr(b []byte) (nftExpr, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return nftExpr{}, err
	}
	ad.ByteOrder = binary.BigEndian
	var name string
	var data []byte
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_EXPR_NAME:
			name = ad.String()
		case unix.NFTA_EXPR_DATA:
			data = ad.Bytes()
		}
	}
	if err := ad.Err(); err != nil {
		return nftExpr{}, err
	}
	if name == "tproxy" {
		e, err := decodeTProxy(data)
		return nftExpr{Name: name, Expr: e}, err
	}
	e := newExpr(name)
	if e == nil {
		return nftExpr{Name: name}, nil
	}
	if err := expr.Unmarshal(unix.NFPROTO_INET, data, e); err != nil {
		return nftExpr{}, fmt.Errorf("decode nftables expression %q: %w", name, err)
	}
	// A verdict travels as an immediate into the verdict register.
	if imm, ok := e.(*expr.Immediate); ok && imm.Register == unix.NFT_REG_VERDICT && len(imm.Data) == 0 {
		v := &expr.Verdict{}
		if err := expr.Unmarshal(unix.NFPROTO_INET, data, v); err != nil {
			return nftExpr{}, fmt.Errorf("decode nftables verdict: %w", err)
		}
		e = v
	}
	return nftExpr{Name: name, Expr: e}, nil
}

// decodeTProxy reads the kernel's NFTA_TPROXY_* attributes, all 32-bit
// big-endian. TableFamily is not on the wire: it is our table's.
func decodeTProxy(data []byte) (*expr.TProxy, error) {
	ad, err := netlink.NewAttributeDecoder(data)
	if err != nil {
		return nil, err
	}
	ad.ByteOrder = binary.BigEndian
	e := &expr.TProxy{TableFamily: unix.NFPROTO_INET}
	for ad.Next() {
		switch ad.Type() {
		case expr.NFTA_TPROXY_FAMILY:
			e.Family = byte(ad.Uint32())
		case expr.NFTA_TPROXY_REG_ADDR:
			e.RegAddr = ad.Uint32()
		case expr.NFTA_TPROXY_REG_PORT:
			e.RegPort = ad.Uint32()
		}
	}
	if err := ad.Err(); err != nil {
		return nil, fmt.Errorf("decode nftables expression \"tproxy\": %w", err)
	}
	return e, nil
}

// newExpr returns an empty expression for the kernel expression name, or
// nil for names this package leaves undecoded.
func newExpr(name string) expr.Any {
	switch name {
	case "meta":
		return &expr.Meta{}
	case "cmp":
		return &expr.Cmp{}
	case "payload":
		return &expr.Payload{}
	case "bitwise":
		return &expr.Bitwise{}
	case "immediate":
		return &expr.Immediate{}
	case "reject":
		return &expr.Reject{}
	case "counter":
		return &expr.Counter{}
	case "ct":
		return &expr.Ct{}
	case "range":
		return &expr.Range{}
	case "lookup":
		return &expr.Lookup{}
	case "log":
		return &expr.Log{}
	case "nat":
		return &expr.NAT{}
	case "redir":
		return &expr.Redir{}
	case "masq":
		return &expr.Masq{}
	case "queue":
		return &expr.Queue{}
	case "fib":
		return &expr.Fib{}
	case "limit":
		return &expr.Limit{}
	}
	return nil
}
