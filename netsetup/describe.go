package netsetup

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"net/netip"
	"strings"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// describe renders a rule in nft's syntax, as far as it can: expressions it
// does not understand are shown, never skipped, so that a rule someone
// changed by hand does not look like ours.
func describe(exprs []nftExpr) string {
	d := describer{regs: make(map[uint32]regValue)}
	for _, x := range exprs {
		d.add(x)
	}
	return strings.Join(d.out, " ")
}

// regValue is what an earlier expression left in a register.
type regValue struct {
	meta    *expr.Meta
	payload *expr.Payload
	mask    []byte // from a bitwise AND on the loaded value
	imm     []byte // from an immediate
}

type describer struct {
	regs map[uint32]regValue
	l4   string // transport protocol matched so far, for "tcp dport"
	out  []string
}

func (d *describer) add(x nftExpr) {
	switch e := x.Expr.(type) {
	case nil:
		d.out = append(d.out, fmt.Sprintf("[%s]", x.Name))
	case *expr.Meta:
		if e.SourceRegister {
			d.out = append(d.out, fmt.Sprintf("meta %s set %s", metaName(e.Key), d.immString(e.Register, e.Key)))
			return
		}
		d.regs[e.Register] = regValue{meta: e}
	case *expr.Payload:
		if e.OperationType != expr.PayloadLoad {
			d.out = append(d.out, fmt.Sprintf("[payload write %+v]", *e))
			return
		}
		d.regs[e.DestRegister] = regValue{payload: e}
	case *expr.Bitwise:
		v := d.regs[e.SourceRegister]
		if !allZero(e.Xor) {
			d.out = append(d.out, fmt.Sprintf("[bitwise mask %x xor %x]", e.Mask, e.Xor))
		}
		v.mask = e.Mask
		d.regs[e.DestRegister] = v
	case *expr.Cmp:
		d.out = append(d.out, d.cmp(e))
	case *expr.Immediate:
		d.regs[e.Register] = regValue{imm: e.Data}
	case *expr.TProxy:
		d.out = append(d.out, d.tproxy(e))
	case *expr.Verdict:
		d.out = append(d.out, verdictString(e))
	case *expr.Reject:
		d.out = append(d.out, rejectString(e))
	case *expr.Counter:
		d.out = append(d.out, fmt.Sprintf("counter packets %d bytes %d", e.Packets, e.Bytes))
	default:
		d.out = append(d.out, fmt.Sprintf("[%s %+v]", x.Name, e))
	}
}

func (d *describer) cmp(e *expr.Cmp) string {
	op := cmpOp(e.Op)
	v := d.regs[e.Register]
	switch {
	case v.meta != nil && v.mask == nil:
		return fmt.Sprintf("meta %s %s%s", metaName(v.meta.Key), op, d.metaValue(v.meta.Key, e.Data))
	case v.payload != nil:
		field, val := d.payloadField(v.payload, v.mask, e.Data)
		return fmt.Sprintf("%s %s%s", field, op, val)
	}
	return fmt.Sprintf("[cmp reg %d %s0x%x]", e.Register, op, e.Data)
}

func (d *describer) metaValue(key expr.MetaKey, data []byte) string {
	switch {
	case key == expr.MetaKeyNFPROTO && len(data) == 1:
		switch data[0] {
		case unix.NFPROTO_IPV4:
			return "ipv4"
		case unix.NFPROTO_IPV6:
			return "ipv6"
		}
	case key == expr.MetaKeyL4PROTO && len(data) == 1:
		d.l4 = l4Name(data[0])
		return d.l4
	case key == expr.MetaKeyMARK && len(data) == 4:
		return fmt.Sprintf("0x%08x", binaryutil.NativeEndian.Uint32(data))
	case key == expr.MetaKeyIIFNAME || key == expr.MetaKeyOIFNAME:
		return fmt.Sprintf("%q", strings.TrimRight(string(data), "\x00"))
	}
	return fmt.Sprintf("0x%x", data)
}

// payloadField names the header field the payload expression loads, and
// renders the compared value the way nft does.
func (d *describer) payloadField(p *expr.Payload, mask, data []byte) (field, value string) {
	type key struct {
		base      expr.PayloadBase
		off, size uint32
	}
	name := map[key]string{
		{expr.PayloadBaseNetworkHeader, 12, 4}:  "ip saddr",
		{expr.PayloadBaseNetworkHeader, 16, 4}:  "ip daddr",
		{expr.PayloadBaseNetworkHeader, 8, 16}:  "ip6 saddr",
		{expr.PayloadBaseNetworkHeader, 24, 16}: "ip6 daddr",
	}[key{p.Base, p.Offset, p.Len}]
	if name != "" {
		addr, ok := netip.AddrFromSlice(data)
		if !ok {
			return name, fmt.Sprintf("0x%x", data)
		}
		if mask == nil {
			return name, addr.String()
		}
		if ones, ok := maskLen(mask); ok && len(mask) == len(data) {
			return name, netip.PrefixFrom(addr, ones).String()
		}
		return name, fmt.Sprintf("& 0x%x == %s", mask, addr)
	}
	if p.Base == expr.PayloadBaseTransportHeader && p.Len == 2 && (p.Offset == 0 || p.Offset == 2) && mask == nil {
		proto := d.l4
		if proto != "tcp" && proto != "udp" {
			proto = "th"
		}
		port := "sport"
		if p.Offset == 2 {
			port = "dport"
		}
		return proto + " " + port, fmt.Sprint(binary.BigEndian.Uint16(data))
	}
	field = fmt.Sprintf("@%s,%d,%d", baseName(p.Base), p.Offset*8, p.Len*8)
	if mask != nil {
		field += fmt.Sprintf(" & 0x%x", mask)
	}
	return field, fmt.Sprintf("0x%x", data)
}

func (d *describer) tproxy(e *expr.TProxy) string {
	fam := map[byte]string{unix.NFPROTO_IPV4: " ip", unix.NFPROTO_IPV6: " ip6"}[e.Family]
	var to string
	if e.RegAddr != 0 {
		if a, ok := netip.AddrFromSlice(d.regs[e.RegAddr].imm); ok {
			to = a.String()
			if a.Is6() {
				to = "[" + to + "]"
			}
		} else {
			to = fmt.Sprintf("reg %d", e.RegAddr)
		}
	}
	if p := d.regs[e.RegPort].imm; len(p) == 2 {
		to += fmt.Sprintf(":%d", binary.BigEndian.Uint16(p))
	} else if e.RegPort != 0 {
		to += fmt.Sprintf(":reg %d", e.RegPort)
	}
	return fmt.Sprintf("tproxy%s to %s", fam, to)
}

func (d *describer) immString(reg uint32, key expr.MetaKey) string {
	v := d.regs[reg]
	if v.imm == nil {
		return fmt.Sprintf("reg %d", reg)
	}
	return d.metaValue(key, v.imm)
}

func metaName(k expr.MetaKey) string {
	switch k {
	case expr.MetaKeyNFPROTO:
		return "nfproto"
	case expr.MetaKeyL4PROTO:
		return "l4proto"
	case expr.MetaKeyMARK:
		return "mark"
	case expr.MetaKeyIIFNAME:
		return "iifname"
	case expr.MetaKeyOIFNAME:
		return "oifname"
	case expr.MetaKeyPROTOCOL:
		return "protocol"
	}
	return fmt.Sprintf("key%d", k)
}

func l4Name(p byte) string {
	switch p {
	case unix.IPPROTO_TCP:
		return "tcp"
	case unix.IPPROTO_UDP:
		return "udp"
	}
	return fmt.Sprint(p)
}

func baseName(b expr.PayloadBase) string {
	switch b {
	case expr.PayloadBaseLLHeader:
		return "ll"
	case expr.PayloadBaseNetworkHeader:
		return "nh"
	case expr.PayloadBaseTransportHeader:
		return "th"
	}
	return fmt.Sprintf("base%d", b)
}

func cmpOp(op expr.CmpOp) string {
	switch op {
	case expr.CmpOpEq:
		return ""
	case expr.CmpOpNeq:
		return "!= "
	case expr.CmpOpLt:
		return "< "
	case expr.CmpOpLte:
		return "<= "
	case expr.CmpOpGt:
		return "> "
	case expr.CmpOpGte:
		return ">= "
	}
	return fmt.Sprintf("op%d ", op)
}

func verdictString(v *expr.Verdict) string {
	switch v.Kind {
	case expr.VerdictAccept:
		return "accept"
	case expr.VerdictDrop:
		return "drop"
	case expr.VerdictContinue:
		return "continue"
	case expr.VerdictReturn:
		return "return"
	case expr.VerdictJump:
		return "jump " + v.Chain
	case expr.VerdictGoto:
		return "goto " + v.Chain
	}
	return fmt.Sprintf("verdict %d", v.Kind)
}

func rejectString(r *expr.Reject) string {
	switch r.Type {
	case unix.NFT_REJECT_TCP_RST:
		return "reject with tcp reset"
	case unix.NFT_REJECT_ICMPX_UNREACH:
		return fmt.Sprintf("reject with icmpx %d", r.Code)
	case unix.NFT_REJECT_ICMP_UNREACH:
		return fmt.Sprintf("reject with icmp %d", r.Code)
	}
	return fmt.Sprintf("reject type %d code %d", r.Type, r.Code)
}

// maskLen returns the prefix length of a contiguous network mask.
func maskLen(mask []byte) (int, bool) {
	ones, seenZero := 0, false
	for _, b := range mask {
		if seenZero && b != 0 {
			return 0, false
		}
		n := bits.LeadingZeros8(^b)
		if b<<n != 0 {
			return 0, false
		}
		ones += n
		if n < 8 {
			seenZero = true
		}
	}
	return ones, true
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}
