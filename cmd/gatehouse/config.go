package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/gatehouse/gatehouse/ca"
	"github.com/gatehouse/gatehouse/intercept"
	"github.com/gatehouse/gatehouse/intercept/awscreds"
)

const defaultDataDir = "/var/lib/gatehouse"

// Config is Gatehouse's configuration file. Every field has a default, so
// `gatehouse serve` runs with no file at all.
type Config struct {
	DataDir string `yaml:"data_dir"`
	// MemoryLimit is the Go runtime's soft memory limit in bytes (the
	// GOMEMLIMIT environment variable wins): the collector works harder
	// as the heap nears it. Default 512 MiB; -1 leaves it off. Below the
	// live heap it collects without pause for nothing: at 128 MiB, 10,000
	// idle agent connections (about 300 MiB live) cost 0.8 cores of
	// collection (make bench, idle).
	MemoryLimit int64            `yaml:"memory_limit"`
	Log         LogConfig        `yaml:"log"`
	CA          CAConfig         `yaml:"ca"`
	Intercept   intercept.Config `yaml:"intercept"`
	Identity    IdentityConfig   `yaml:"identity"`
	Policy      PolicyConfig     `yaml:"policy"`
	Approvals   ApprovalsConfig  `yaml:"approvals"`
	Recorder    RecorderConfig   `yaml:"recorder"`
	Metrics     MetricsConfig    `yaml:"metrics"`
	// UpstreamCredentials are what Gatehouse signs with: its own (the
	// aws-sdk-go-v2 default chain) or roles assumed per agent.
	UpstreamCredentials awscreds.Config `yaml:"upstream_credentials"`
}

// MetricsConfig serves Prometheus metrics; off unless Listen is set.
type MetricsConfig struct {
	Listen string `yaml:"listen"` // e.g. 127.0.0.1:9464; serves /metrics
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
		return nil, fmt.Errorf("config %s:\n%s", path, withLine(data, yaml.FormatError(err, false, true)))
	}
	return cfg, nil
}

// withLine adds a line number to decode errors that lack one: goccy/go-yaml
// reports a value rejected by a text unmarshaler (a duration such as
// "forever") without its position, so find the quoted value in the file.
func withLine(data []byte, msg string) string {
	if strings.HasPrefix(msg, "[") {
		return msg
	}
	_, rest, ok := strings.Cut(msg, `"`)
	value, _, ok2 := strings.Cut(rest, `"`)
	if !ok || !ok2 || value == "" {
		return msg
	}
	for i, line := range strings.Split(string(data), "\n") {
		if _, v, ok := strings.Cut(line, ":"); ok && strings.Trim(strings.TrimSpace(v), `"'`) == value {
			return fmt.Sprintf("[%d:%d] %s\n> %3d | %s", i+1, strings.Index(line, value)+1, msg, i+1, line)
		}
	}
	return msg
}

func (c *Config) applyDefaults() {
	if c.DataDir == "" {
		c.DataDir = defaultDataDir
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.MemoryLimit == 0 {
		c.MemoryLimit = 512 << 20
	}
	if c.Log.Format == "" {
		c.Log.Format = "json"
	}
	c.Intercept = c.Intercept.WithDefaults()
	c.Identity.applyDefaults()
	c.approvalsDefaults()
	c.recorderDefaults()
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
	if err := c.Identity.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.UpstreamCredentials.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Recorder.validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c *Config) caOptions() ca.Options {
	return ca.Options{Dir: c.caDir(), PermittedDomains: c.CA.PermittedDomains, NoNameConstraints: c.CA.NoNameConstraints}
}

func (c *Config) caDir() string { return c.DataDir + "/ca" }
