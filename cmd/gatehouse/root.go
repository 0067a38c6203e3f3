package main

import (
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

type globalFlags struct {
	config  string
	dataDir string
}

func newRootCmd() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "gatehouse",
		Short:         "Egress gateway for agents' AWS calls: intercept, identify, decide, sign, record",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVarP(&g.config, "config", "c", "", "YAML config file (default: embedded defaults)")
	root.PersistentFlags().StringVar(&g.dataDir, "data-dir", "", "state directory (CA, records); overrides data_dir in the config (default "+defaultDataDir+")")
	root.AddCommand(newServeCmd(g), newCACmd(g), newNetCmd(), newConfigCmd(), newKeysCmd(g), newPolicyCmd(), newApprovalsCmd(g),
		newSessionsCmd(g), newAuditCmd(g), newExportCmd(g))
	return root
}

// load reads the config file if one was given, applies flag overrides and
// defaults, and validates.
func (g *globalFlags) load() (*Config, error) {
	cfg := &Config{}
	if g.config != "" {
		var err error
		if cfg, err = LoadConfig(g.config); err != nil {
			return nil, err
		}
	}
	if g.dataDir != "" {
		cfg.DataDir = g.dataDir
	}
	cfg.applyDefaults()
	return cfg, cfg.Validate()
}

func newLogger(level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if strings.EqualFold(format, "text") {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}
