package netsetup

import (
	"errors"
	"fmt"
	"math"
	"net/netip"

	"github.com/vishvananda/netns"
)

// TableName is the nftables table (family inet) that Gatehouse owns. Up
// replaces it whole and Down deletes it; nothing else in it is kept.
const TableName = "gatehouse"

// Defaults filled in by Config.WithDefaults.
const (
	DefaultPort       uint16 = 443
	DefaultListenPort uint16 = 15001
	DefaultMark       uint32 = 0x6768
	DefaultTable      int    = 6768
)

// ErrInvalidConfig is wrapped by every error Validate returns.
var ErrInvalidConfig = errors.New("invalid netsetup config")

// Config says which connections are captured and where they go.
type Config struct {
	// Agents are the source ranges whose connections are captured (IPv4
	// and/or IPv6). Required, non-empty, without host bits.
	Agents []netip.Prefix
	// Ports are the TCP destination ports captured. Default [443].
	Ports []uint16
	// ListenPort is the port of Gatehouse's transparent listener. Default
	// 15001.
	ListenPort uint16
	// Mark is the fwmark that sends captured packets to Table. Default
	// 0x6768.
	Mark uint32
	// Table is the policy routing table holding the local default routes.
	// Default 6768.
	Table int
	// NetNS is the network namespace to configure; 0 or -1 (netns.None())
	// means the namespace of the calling thread. The handle is borrowed:
	// netsetup never closes it.
	NetNS netns.NsHandle
}

// WithDefaults returns c with zero fields set to their defaults. Agents and
// NetNS have no default.
func (c Config) WithDefaults() Config {
	if len(c.Ports) == 0 {
		c.Ports = []uint16{DefaultPort}
	}
	if c.ListenPort == 0 {
		c.ListenPort = DefaultListenPort
	}
	if c.Mark == 0 {
		c.Mark = DefaultMark
	}
	if c.Table == 0 {
		c.Table = DefaultTable
	}
	return c
}

// Validate reports every problem in c at once. It checks c as given: call
// it on c.WithDefaults() unless all fields are set (Up, Down and Status do).
func (c Config) Validate() error {
	var errs []error
	if len(c.Agents) == 0 {
		errs = append(errs, errors.New("agents is empty: list the agent subnets to capture, e.g. 10.0.1.0/24"))
	}
	seenAgent := make(map[netip.Prefix]bool)
	for i, p := range c.Agents {
		switch {
		case !p.IsValid():
			errs = append(errs, fmt.Errorf("agents[%d] is not a valid prefix", i))
		case p.Addr().Is4In6():
			errs = append(errs, fmt.Errorf("agents[%d] %s is an IPv4-mapped IPv6 prefix: write it as IPv4", i, p))
		case p.Addr().Zone() != "":
			errs = append(errs, fmt.Errorf("agents[%d] %s has a zone: prefixes match on addresses only", i, p))
		case p != p.Masked():
			errs = append(errs, fmt.Errorf("agents[%d] %s has host bits set: did you mean %s?", i, p, p.Masked()))
		case seenAgent[p]:
			errs = append(errs, fmt.Errorf("agents[%d] %s is listed twice", i, p))
		}
		seenAgent[p] = true
	}
	errs = append(errs, c.validatePorts()...)
	errs = append(errs, c.validateRouting()...)
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
}

func (c Config) validatePorts() []error {
	var errs []error
	if len(c.Ports) == 0 {
		errs = append(errs, errors.New("ports is empty (WithDefaults sets [443])"))
	}
	seen := make(map[uint16]bool)
	for i, p := range c.Ports {
		switch {
		case p == 0:
			errs = append(errs, fmt.Errorf("ports[%d] is 0", i))
		case seen[p]:
			errs = append(errs, fmt.Errorf("ports[%d] %d is listed twice", i, p))
		}
		seen[p] = true
	}
	if c.ListenPort == 0 {
		errs = append(errs, errors.New("listen port is 0 (WithDefaults sets 15001)"))
	}
	return errs
}

// validateRouting checks what Down needs: it finds our ip rules and routes
// by Mark and Table, and the namespace by NetNS.
func (c Config) validateRouting() []error {
	var errs []error
	if c.Mark == 0 {
		errs = append(errs, errors.New("mark is 0: packets without a mark would be captured (WithDefaults sets 0x6768)"))
	}
	switch {
	case c.Table <= 0 || int64(c.Table) > math.MaxUint32:
		errs = append(errs, fmt.Errorf("routing table %d is out of range 1..%d (WithDefaults sets 6768)", c.Table, uint32(math.MaxUint32)))
	case c.Table >= 252 && c.Table <= 255:
		errs = append(errs, fmt.Errorf("routing table %d is reserved by the kernel (compat, default, main, local)", c.Table))
	}
	if c.NetNS < -1 {
		errs = append(errs, fmt.Errorf("netns handle %d is not a file descriptor", int(c.NetNS)))
	}
	return errs
}
