package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/gatehouse/gatehouse/intercept"
	"github.com/gatehouse/gatehouse/intercept/awscreds"
	"github.com/gatehouse/gatehouse/intercept/identity"
)

// IdentityConfig is the identity section: who agents are.
type IdentityConfig struct {
	Issuers   []identity.IssuerConfig `yaml:"issuers"`
	Addresses []identity.AddressRule  `yaml:"addresses"` // identity by source address; off when empty
	// Lifetimes of the session credentials Gatehouse issues.
	SessionLifetime    time.Duration `yaml:"session_lifetime"`     // default 1h
	MaxSessionLifetime time.Duration `yaml:"max_session_lifetime"` // default 12h
	// Account is the account id in the ARNs Gatehouse writes
	// (GetCallerIdentity); default 000000000000.
	Account string `yaml:"account"`
	// SpoolMaxBytes caps bodies sent without a declared payload hash, which
	// must be hashed before their signature can be checked; default 64 MiB.
	SpoolMaxBytes int64 `yaml:"spool_max_bytes"`
	// PassThroughCredentials forwards agents' own signatures unverified.
	// Insecure: for measuring interception alone.
	PassThroughCredentials bool `yaml:"pass_through_credentials"`
}

func (c *IdentityConfig) applyDefaults() {
	if c.SessionLifetime == 0 {
		c.SessionLifetime = time.Hour
	}
	if c.MaxSessionLifetime == 0 {
		c.MaxSessionLifetime = 12 * time.Hour
	}
	if c.Account == "" {
		c.Account = "000000000000"
	}
	if c.SpoolMaxBytes == 0 {
		c.SpoolMaxBytes = 64 << 20
	}
}

func (c *IdentityConfig) validate() error {
	var errs []error
	if c.SessionLifetime < 15*time.Minute || c.SessionLifetime > c.MaxSessionLifetime {
		errs = append(errs, fmt.Errorf("identity.session_lifetime: %v must be between 15m and max_session_lifetime (%v)", c.SessionLifetime, c.MaxSessionLifetime))
	}
	if len(c.Account) != 12 {
		errs = append(errs, fmt.Errorf("identity.account: %q is not a 12-digit account id", c.Account))
	}
	// NewVerifier checks issuer configs (and reads JWKS files) without
	// dialling anything.
	if _, err := identity.NewVerifier(c.Issuers, nil); err != nil {
		errs = append(errs, fmt.Errorf("identity.issuers: %w", err))
	}
	for i, r := range c.Addresses {
		if err := r.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("identity.addresses[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

func (c *Config) identityDir() string { return filepath.Join(c.DataDir, "identity") }

// buildAuthn wires identity (OIDC issuers, session keys, static keys,
// address rules) and upstream credentials into the chain's Authn.
func buildAuthn(ctx context.Context, cfg *Config, log *slog.Logger) (*intercept.Authn, error) {
	if cfg.Identity.PassThroughCredentials {
		log.Warn("identity.pass_through_credentials is on: agents' own signatures are forwarded unverified")
		return nil, nil
	}
	ring, err := identity.LoadOrCreateKeyRing(cfg.identityDir())
	if err != nil {
		return nil, err
	}
	verifier, err := identity.NewVerifier(cfg.Identity.Issuers, &http.Client{Timeout: 10 * time.Second})
	if err != nil {
		return nil, err
	}
	keys, err := identity.OpenKeyStore(cfg.identityDir(), ring)
	if err != nil {
		return nil, err
	}
	sessions := identity.NewSessions(ring)
	upstream, err := awscreds.New(ctx, cfg.UpstreamCredentials)
	if err != nil {
		return nil, err
	}
	spool := filepath.Join(cfg.DataDir, "spool")
	if err := os.MkdirAll(spool, 0o700); err != nil {
		return nil, fmt.Errorf("create spool dir: %w", err)
	}
	return &intercept.Authn{
		STS: &identity.STS{
			Verifier: verifier, Sessions: sessions,
			DefaultLifetime: cfg.Identity.SessionLifetime, MaxLifetime: cfg.Identity.MaxSessionLifetime,
		},
		Lookup:    &identity.Lookup{Sessions: sessions, Keys: keys},
		Addresses: cfg.Identity.Addresses,
		Upstream:  upstream,
		Account:   cfg.Identity.Account,
		SpoolMax:  cfg.Identity.SpoolMaxBytes,
		SpoolDir:  spool,
	}, nil
}
