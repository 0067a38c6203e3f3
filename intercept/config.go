package intercept

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// DefaultHosts are the domains intercepted unless the config names others:
// AWS's public endpoints.
var DefaultHosts = []string{"amazonaws.com", "amazonaws.com.cn", "api.aws", "aws"}

// Passthrough says what happens to TLS for hosts that are not intercepted.
type Passthrough string

const (
	PassthroughDeny  Passthrough = "deny"  // refuse the connection (default)
	PassthroughAllow Passthrough = "allow" // splice it, unread, to its original destination
)

// Config is the intercept section of Gatehouse's configuration. The zero
// value plus WithDefaults is what `gatehouse serve` runs with.
type Config struct {
	// Hosts are the domains whose TLS is terminated; a host matches a
	// domain if it equals it or ends in "." + domain.
	Hosts       []string    `yaml:"hosts"`
	Passthrough Passthrough `yaml:"passthrough"`

	Transparent TransparentConfig `yaml:"transparent"`
	Proxy       ProxyConfig       `yaml:"proxy"`
	Upstream    UpstreamConfig    `yaml:"upstream"`
	Timeouts    Timeouts          `yaml:"timeouts"`

	// MaxHeaderBytes caps a request's header block; larger is refused.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// MaskCap caps a response document (JSON, XML) read whole to be
	// masked; a larger one that must be masked is withheld. Default
	// 16 MiB. S3 objects stream and have no cap.
	MaskCap int `yaml:"mask_cap"`
}

// TransparentConfig is the listener that nftables TPROXY feeds.
type TransparentConfig struct {
	Enabled bool   `yaml:"enabled"`
	Listen  string `yaml:"listen"` // default ":15001"
}

// ProxyConfig is the explicit proxy (HTTPS_PROXY=http://gateway:3128).
type ProxyConfig struct {
	Enabled *bool  `yaml:"enabled"` // default true
	Listen  string `yaml:"listen"`  // default "127.0.0.1:3128"
	// Ports a CONNECT may name; default [443].
	Ports []uint16 `yaml:"ports"`
}

// UpstreamConfig is how Gatehouse reaches AWS.
type UpstreamConfig struct {
	// CABundle is a PEM file of roots trusted in addition to the system's.
	// Upstream certificates are always verified; there is no skip option.
	CABundle            string `yaml:"ca_bundle"`
	MaxIdleConnsPerHost int    `yaml:"max_idle_conns_per_host"`
}

// Timeouts bound every client read, handshake and upstream exchange.
type Timeouts struct {
	ClientHello    time.Duration `yaml:"client_hello"`    // first bytes from the agent
	Handshake      time.Duration `yaml:"handshake"`       // TLS with the agent
	ReadHeader     time.Duration `yaml:"read_header"`     // each request's header block
	Idle           time.Duration `yaml:"idle"`            // keep-alive, both sides
	Dial           time.Duration `yaml:"dial"`            // TCP to the upstream
	UpstreamTLS    time.Duration `yaml:"upstream_tls"`    // TLS with the upstream
	ResponseHeader time.Duration `yaml:"response_header"` // upstream's answer after the request is sent
	Shutdown       time.Duration `yaml:"shutdown"`        // grace for requests in flight on SIGTERM
}

// WithDefaults fills what the config leaves out.
func (c Config) WithDefaults() Config {
	if len(c.Hosts) == 0 {
		c.Hosts = DefaultHosts
	}
	if c.Passthrough == "" {
		c.Passthrough = PassthroughDeny
	}
	if c.Transparent.Listen == "" {
		c.Transparent.Listen = ":15001"
	}
	if c.Proxy.Enabled == nil {
		on := true
		c.Proxy.Enabled = &on
	}
	if c.Proxy.Listen == "" {
		c.Proxy.Listen = "127.0.0.1:3128"
	}
	if len(c.Proxy.Ports) == 0 {
		c.Proxy.Ports = []uint16{443}
	}
	if c.Upstream.MaxIdleConnsPerHost == 0 {
		c.Upstream.MaxIdleConnsPerHost = 64
	}
	t := &c.Timeouts
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&t.ClientHello, 5*time.Second)
	def(&t.Handshake, 10*time.Second)
	def(&t.ReadHeader, 10*time.Second)
	def(&t.Idle, 90*time.Second)
	def(&t.Dial, 10*time.Second)
	def(&t.UpstreamTLS, 10*time.Second)
	def(&t.ResponseHeader, 5*time.Minute)
	def(&t.Shutdown, 15*time.Second)
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = 64 << 10
	}
	if c.MaskCap == 0 {
		c.MaskCap = DefaultMaskCap
	}
	return c
}

// Validate reports every problem with a defaulted config at once.
func (c Config) Validate() error {
	var errs []error
	for _, h := range c.Hosts {
		if h == "" || strings.ContainsAny(h, "*/: ") || strings.HasPrefix(h, ".") {
			errs = append(errs, fmt.Errorf("intercept.hosts: %q is not a domain (write amazonaws.com, not *.amazonaws.com)", h))
		}
	}
	switch c.Passthrough {
	case PassthroughDeny, PassthroughAllow:
	default:
		errs = append(errs, fmt.Errorf("intercept.passthrough: %q is neither allow nor deny", c.Passthrough))
	}
	for name, addr := range map[string]string{"transparent.listen": c.Transparent.Listen, "proxy.listen": c.Proxy.Listen} {
		if _, err := netip.ParseAddrPort(withHost(addr)); err != nil {
			errs = append(errs, fmt.Errorf("intercept.%s: %q is not host:port with an IP host", name, addr))
		}
	}
	if c.MaskCap < 0 {
		errs = append(errs, fmt.Errorf("intercept.mask_cap: %d is negative", c.MaskCap))
	}
	if c.MaxHeaderBytes < 4096 {
		errs = append(errs, fmt.Errorf("intercept.max_header_bytes: %d is below 4096; SigV4 requests need more", c.MaxHeaderBytes))
	}
	return errors.Join(errs...)
}

func withHost(addr string) string {
	if strings.HasPrefix(addr, ":") {
		return "0.0.0.0" + addr
	}
	return addr
}

// intercepts reports whether TLS to host is terminated.
func (c *Config) intercepts(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	for _, d := range c.Hosts {
		if host == d || strings.HasSuffix(host, "."+d) {
			return true
		}
	}
	return false
}
