package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/gatehouse/gatehouse/ca"
	"github.com/gatehouse/gatehouse/intercept"
)

const defaultDataDir = "/var/lib/gatehouse"

// Config is Gatehouse's configuration file. Every field has a default, so
// `gatehouse serve` runs with no file at all.
type Config struct {
	DataDir   string           `yaml:"data_dir"`
	Log       LogConfig        `yaml:"log"`
	CA        CAConfig         `yaml:"ca"`
	Intercept intercept.Config `yaml:"intercept"`
}

type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // json (default) or text
}

type CAConfig struct {
	// PermittedDomains are written into the root as X.509 name constraints
	// at `ca init`; default: the intercepted AWS domains.
	PermittedDomains  []string      `yaml:"permitted_domains"`
	NoNameConstraints bool          `yaml:"no_name_constraints"`
	LeafLifetime      time.Duration `yaml:"leaf_lifetime"`
	CacheSize         int           `yaml:"cache_size"`
}

// LoadConfig decodes path strictly: an unknown key or a wrong type is an
// error that names the line.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg := &Config{}
	if err := yaml.UnmarshalWithOptions(data, cfg, yaml.Strict()); err != nil {
		return nil, fmt.Errorf("config %s:\n%s", path, yaml.FormatError(err, false, true))
	}
	return cfg, nil
}

func (c *Config) applyDefaults() {
	if c.DataDir == "" {
		c.DataDir = defaultDataDir
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "json"
	}
	c.Intercept = c.Intercept.WithDefaults()
}

func (c *Config) Validate() error {
	var errs []error
	switch c.Log.Format {
	case "json", "text":
	default:
		errs = append(errs, fmt.Errorf("log.format: %q is neither json nor text", c.Log.Format))
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(c.Log.Level)); err != nil {
		errs = append(errs, fmt.Errorf("log.level: %q is not debug, info, warn or error", c.Log.Level))
	}
	if c.CA.LeafLifetime < 0 || (c.CA.LeafLifetime > 0 && c.CA.LeafLifetime < time.Hour) {
		errs = append(errs, fmt.Errorf("ca.leaf_lifetime: %v is under an hour", c.CA.LeafLifetime))
	}
	if err := c.Intercept.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c *Config) caOptions() ca.Options {
	return ca.Options{Dir: c.caDir(), PermittedDomains: c.CA.PermittedDomains, NoNameConstraints: c.CA.NoNameConstraints}
}

func (c *Config) caDir() string { return c.DataDir + "/ca" }
