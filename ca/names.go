package ca

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

var (
	// ErrInvalidName: the name is not one we mint for (empty, an IP
	// address, a wildcard, not a DNS name). Server names come from
	// ClientHellos, i.e. from whoever connects.
	ErrInvalidName = errors.New("invalid server name")
	// ErrNameNotPermitted: the name is outside the CA's name constraints;
	// agents would reject a leaf for it, so none is minted.
	ErrNameNotPermitted = errors.New("server name not permitted by the CA's name constraints")
)

const (
	maxNameLen  = 253
	maxLabelLen = 63
)

// canonicalName lower-cases an ASCII name and drops one trailing dot, the
// only normalisation the cache key needs. It refuses non-ASCII before
// lower-casing: Unicode case folding maps some letters (the Kelvin sign)
// onto ASCII ones, which would turn a name the client never asked for into
// one we mint. For an already canonical name it does not allocate.
func canonicalName(name string) (string, error) {
	upper := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 0x80 {
			return "", fmt.Errorf("%w: %s is not ASCII: internationalised names must arrive as punycode (xn--)", ErrInvalidName, quoteName(name))
		}
		upper = upper || ('A' <= c && c <= 'Z')
	}
	name = strings.TrimSuffix(name, ".")
	if upper {
		name = strings.ToLower(name)
	}
	return name, nil
}

// validateName checks a canonical name. It is stricter than crypto/x509
// (no leading or trailing hyphens, no all-numeric top label, the DNS
// length limits) because a name that x509 would sign but a client would
// refuse is only a harder-to-read failure later.
func validateName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty: the client sent no server name (SNI), so there is no host to mint for", ErrInvalidName)
	case len(name) > maxNameLen:
		return fmt.Errorf("%w: %s is longer than %d bytes", ErrInvalidName, quoteName(name), maxNameLen)
	case strings.Contains(name, "*"):
		return fmt.Errorf("%w: %s is a wildcard: leaves are minted for exact hosts only", ErrInvalidName, quoteName(name))
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return fmt.Errorf("%w: %s is an IP address: leaves are minted for DNS names only", ErrInvalidName, quoteName(name))
	}
	allDigits := false
	for label := range strings.SplitSeq(name, ".") {
		if len(label) == 0 || len(label) > maxLabelLen {
			return fmt.Errorf("%w: %s has a label that is empty or longer than %d bytes", ErrInvalidName, quoteName(name), maxLabelLen)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("%w: %s has a label that starts or ends with a hyphen", ErrInvalidName, quoteName(name))
		}
		allDigits = true
		for i := 0; i < len(label); i++ {
			switch c := label[i]; {
			case '0' <= c && c <= '9':
			case 'a' <= c && c <= 'z', c == '-',
				// Not valid in hostnames, but found in legacy S3 bucket
				// hosts, and crypto/x509 accepts it.
				c == '_':
				allDigits = false
			default:
				return fmt.Errorf("%w: %s contains %q: only letters, digits, '-', '_' and '.' are allowed", ErrInvalidName, quoteName(name), c)
			}
		}
	}
	if allDigits {
		// No TLD is numeric; resolvers would read "10.1" as an address.
		return fmt.Errorf("%w: %s ends in a numeric label, so it reads as an IP address", ErrInvalidName, quoteName(name))
	}
	return nil
}

// canonicalConstraints checks and lower-cases the PermittedDomains of a
// new CA. An empty constraint would permit everything, so it is refused.
func canonicalConstraints(domains []string) ([]string, error) {
	out := make([]string, 0, len(domains))
	for _, d := range domains {
		if strings.TrimPrefix(d, ".") == "" {
			return nil, fmt.Errorf("permitted domain %q would permit every name: set NoNameConstraints instead", d)
		}
		name, err := canonicalName(strings.TrimPrefix(d, "."))
		if err == nil {
			err = validateName(name)
		}
		if err != nil {
			return nil, fmt.Errorf("permitted domain %q: %w", d, err)
		}
		if strings.HasPrefix(d, ".") {
			name = "." + name
		}
		out = append(out, name)
	}
	return out, nil
}

// permits checks name against the DNS constraints of every certificate in
// the chain, as a verifying client will; with none, every name passes.
// Permits reports whether the CA's name constraints let it issue for name
// (nil if so). Gatehouse checks its intercept list with it at startup, so a
// host it could never mint for is a config error, not a failed handshake.
func (a *Authority) Permits(name string) error {
	n, err := canonicalName(name)
	if err != nil {
		return err
	}
	return a.permits(n)
}

func (a *Authority) permits(name string) error {
	for _, c := range a.chain {
		if len(c.PermittedDNSDomains) > 0 && !matchesAny(name, c.PermittedDNSDomains) {
			return fmt.Errorf("%w: %s is outside %s (permitted by %q): splice this host instead of intercepting it, or use a CA that permits it",
				ErrNameNotPermitted, quoteName(name), strings.Join(c.PermittedDNSDomains, ", "), c.Subject.CommonName)
		}
		if matchesAny(name, c.ExcludedDNSDomains) {
			return fmt.Errorf("%w: %s is excluded by %q: splice this host instead of intercepting it",
				ErrNameNotPermitted, quoteName(name), c.Subject.CommonName)
		}
	}
	return nil
}

func matchesAny(name string, constraints []string) bool {
	for _, c := range constraints {
		if matchConstraint(name, c) {
			return true
		}
	}
	return false
}

// matchConstraint applies RFC 5280's dNSName rule as crypto/x509 does:
// "example.com" matches itself and its subdomains, ".example.com" only
// its subdomains, "" everything. name is already lower case.
func matchConstraint(name, constraint string) bool {
	constraint = strings.ToLower(constraint)
	if constraint == "" {
		return true
	}
	if constraint[0] == '.' {
		return len(name) > len(constraint) && strings.HasSuffix(name, constraint)
	}
	return name == constraint || strings.HasSuffix(name, "."+constraint)
}

// quoteName quotes a name for an error message, cut short: it comes from
// the network and may be long or hostile.
func quoteName(name string) string {
	const max = 80
	if len(name) > max {
		return fmt.Sprintf("%q…", name[:max])
	}
	return fmt.Sprintf("%q", name)
}
