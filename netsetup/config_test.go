package netsetup

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/nftables/expr"
)

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func TestWithDefaultsFillsOnlyZeroFields(t *testing.T) {
	got := Config{Agents: prefixes("10.0.0.0/8")}.WithDefaults()
	if !slices.Equal(got.Ports, []uint16{443}) || got.ListenPort != 15001 || got.Mark != 0x6768 || got.Table != 6768 || got.NetNS != 0 {
		t.Errorf("defaults = %+v", got)
	}
	set := Config{Agents: prefixes("10.0.0.0/8"), Ports: []uint16{8443}, ListenPort: 1, Mark: 2, Table: 3}
	if got := set.WithDefaults(); !slices.Equal(got.Ports, []uint16{8443}) || got.ListenPort != 1 || got.Mark != 2 || got.Table != 3 {
		t.Errorf("WithDefaults changed set fields: %+v", got)
	}
}

func TestValidate(t *testing.T) {
	ok := Config{Agents: prefixes("10.99.1.0/24", "fd00:99::/64")}.WithDefaults()
	tests := []struct {
		name   string
		change func(*Config)
		want   string // substring of the error; "" means valid
	}{
		{"defaults with v4 and v6 agents", func(*Config) {}, ""},
		{"whole internet", func(c *Config) { c.Agents = prefixes("0.0.0.0/0") }, ""},
		{"no agents", func(c *Config) { c.Agents = nil }, "agents is empty"},
		{"host bits set", func(c *Config) { c.Agents = prefixes("10.99.1.2/24") }, "did you mean 10.99.1.0/24"},
		{"ipv4-mapped", func(c *Config) { c.Agents = prefixes("::ffff:10.0.0.0/104") }, "write it as IPv4"},
		{"zero prefix value", func(c *Config) { c.Agents = []netip.Prefix{{}} }, "not a valid prefix"},
		{"duplicate agent", func(c *Config) { c.Agents = prefixes("10.0.0.0/8", "10.0.0.0/8") }, "listed twice"},
		{"no ports", func(c *Config) { c.Ports = nil }, "ports is empty"},
		{"port 0", func(c *Config) { c.Ports = []uint16{443, 0} }, "ports[1] is 0"},
		{"duplicate port", func(c *Config) { c.Ports = []uint16{443, 443} }, "ports[1] 443 is listed twice"},
		{"no listen port", func(c *Config) { c.ListenPort = 0 }, "listen port is 0"},
		{"no mark", func(c *Config) { c.Mark = 0 }, "mark is 0"},
		{"no table", func(c *Config) { c.Table = 0 }, "out of range"},
		{"main table", func(c *Config) { c.Table = 254 }, "reserved"},
		{"bad netns", func(c *Config) { c.NetNS = -2 }, "not a file descriptor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.change(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want ErrInvalidConfig mentioning %q", err, tt.want)
			}
		})
	}
}

func TestValidateReportsAllProblems(t *testing.T) {
	err := Config{}.Validate()
	for _, want := range []string{"agents is empty", "ports is empty", "listen port is 0", "mark is 0", "out of range"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %q", err, want)
		}
	}
}

// The rules Up installs, as Status describes them and as nft itself lists
// them (nft leaves out the nfproto and l4proto dependencies it infers).
func TestRulesetDescription(t *testing.T) {
	cfg := Config{Agents: prefixes("10.99.1.0/24", "fd00:99::/64"), Ports: []uint16{443, 8443}}.WithDefaults()
	var got []string
	for _, r := range buildRuleset(cfg).rules {
		got = append(got, r.Chain.Name+": "+describe(asNFTExprs(r)))
	}
	v4 := "meta nfproto ipv4 ip saddr 10.99.1.0/24 meta l4proto tcp tcp dport "
	v6 := "meta nfproto ipv6 ip6 saddr fd00:99::/64 meta l4proto tcp tcp dport "
	want := []string{
		"prerouting: " + v4 + "443 tproxy ip to :15001 meta mark set 0x00006768 accept",
		"prerouting: " + v4 + "8443 tproxy ip to :15001 meta mark set 0x00006768 accept",
		"prerouting: " + v6 + "443 tproxy ip6 to :15001 meta mark set 0x00006768 accept",
		"prerouting: " + v6 + "8443 tproxy ip6 to :15001 meta mark set 0x00006768 accept",
		"forward: " + v4 + "443 reject with tcp reset",
		"forward: " + v4 + "8443 reject with tcp reset",
		"forward: " + v6 + "443 reject with tcp reset",
		"forward: " + v6 + "8443 reject with tcp reset",
	}
	if !slices.Equal(got, want) {
		t.Errorf("ruleset:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A rule changed by hand must not read like ours: what the describer does
// not understand is shown, not skipped.
func TestDescribeShowsWhatItDoesNotDecode(t *testing.T) {
	got := describe([]nftExpr{
		{Name: "socket"},
		{Name: "cmp", Expr: &expr.Cmp{Op: expr.CmpOpNeq, Register: 3, Data: []byte{1}}},
		{Name: "verdict", Expr: &expr.Verdict{Kind: expr.VerdictDrop}},
	})
	if want := "[socket] [cmp reg 3 != 0x01] drop"; got != want {
		t.Errorf("describe = %q, want %q", got, want)
	}
}

func TestMaskLen(t *testing.T) {
	for _, tt := range []struct {
		mask []byte
		ones int
		ok   bool
	}{
		{[]byte{0, 0, 0, 0}, 0, true},
		{[]byte{255, 255, 255, 0}, 24, true},
		{[]byte{255, 255, 255, 255}, 32, true},
		{[]byte{255, 254, 0, 0}, 15, true},
		{[]byte{255, 0, 255, 0}, 0, false},
		{[]byte{0xf0, 0x0f, 0, 0}, 0, false},
		{[]byte{0xa0, 0, 0, 0}, 0, false},
	} {
		if ones, ok := maskLen(tt.mask); ones != tt.ones || ok != tt.ok {
			t.Errorf("maskLen(%x) = %d, %v; want %d, %v", tt.mask, ones, ok, tt.ones, tt.ok)
		}
	}
}
