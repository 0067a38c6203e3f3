package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/intercept"
	"github.com/gatehouse/gatehouse/policy"
	"github.com/gatehouse/gatehouse/policy/mask"
)

// PolicyConfig is the policy section.
type PolicyConfig struct {
	// File is the policy YAML; empty: the built-in policy.Default(), which
	// allows every identified call. Production ships a file.
	File string `yaml:"file"`
	// MaskKeyFile keys the mask profiles' hash replacer (32 random bytes,
	// 0600), so that equal values stay correlatable across restarts
	// without being readable. Created on first start; default
	// data_dir/mask.key. It is not in the policy file, which agents'
	// owners may read.
	MaskKeyFile string `yaml:"mask_key_file"`
}

// loadOrCreateMaskKey reads the hash replacer's key, creating it 0600
// when it does not exist; it refuses a key others can read.
func loadOrCreateMaskKey(path string) ([]byte, error) {
	b, err := readOrCreatePrivate(path, "mask key", func() ([]byte, error) {
		key := make([]byte, 32)
		_, err := rand.Read(key)
		return key, err
	})
	if err != nil {
		return nil, err
	}
	if len(b) < 16 {
		return nil, fmt.Errorf("mask key %s: %d bytes, want at least 16 (delete it to have a new one made)", path, len(b))
	}
	return b, nil
}

// checkOptions are for reading a policy file to check or explain it: a
// throwaway hash key, since only the gateway's own key matters for what
// agents see.
func checkOptions() policy.Options {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return policy.Options{Mask: mask.Options{HashKey: key}}
}

// buildPolicy loads the policy file into an engine that reloads it on change
// and on SIGHUP; a broken file keeps the last good policy and is logged.
func buildPolicy(ctx context.Context, cfg PolicyConfig, log *slog.Logger) (intercept.Decider, error) {
	if cfg.File == "" {
		return nil, nil
	}
	key, err := loadOrCreateMaskKey(cfg.MaskKeyFile)
	if err != nil {
		return nil, err
	}
	engine, err := policy.NewEngineWith(cfg.File, policy.Options{Mask: mask.Options{HashKey: key}}, func(err error) {
		if err != nil {
			log.Error("policy reload refused; the previous policy stays in force", "file", cfg.File, "err", err)
			return
		}
		log.Info("policy reloaded", "file", cfg.File)
	})
	if err != nil {
		return nil, err
	}
	go func() { _ = engine.Run(ctx) }()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for {
			select {
			case <-ctx.Done():
				signal.Stop(hup)
				return
			case <-hup:
				_ = engine.Reload() // reported through the callback
			}
		}
	}()
	p := engine.Current()
	log.Info("policy loaded", "file", cfg.File, "rules", p.Len(), "default", p.DefaultEffect(), "shadow", p.Shadow())
	return engine, nil
}

func newPolicyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Policy files: check them, explain their decisions"}
	cmd.AddCommand(&cobra.Command{
		Use:   "check FILE",
		Short: "Load FILE strictly; exit 1 with file:line:col on error",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := policy.LoadWith(args[0], checkOptions())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%d rules, default %s, shadow %v)\n", args[0], p.Len(), p.DefaultEffect(), p.Shadow())
			return nil
		},
	})
	var file, subject, issuer, source, action, region string
	var groups, resources []string
	var asJSON bool
	explain := &cobra.Command{
		Use:   "explain --policy FILE --action SERVICE:ACTION [--subject S] [--groups a,b] [--resource ARN]...",
		Short: "Show which rule decides a call, and why every other rule did not",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := policy.LoadWith(file, checkOptions())
			if err != nil {
				return err
			}
			service, _, _ := strings.Cut(action, ":")
			x := p.Explain(&policy.Call{
				Identity: policy.Identity{Issuer: issuer, Subject: subject, Source: source, Groups: groups},
				Service:  service, Region: region, Action: action, Resources: resources,
			})
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(x)
			}
			fmt.Fprint(cmd.OutOrStdout(), x.String())
			return nil
		},
	}
	f := explain.Flags()
	f.StringVar(&file, "policy", "", "policy file (required)")
	f.StringVar(&action, "action", "", "IAM action, e.g. s3:DeleteBucket (required)")
	f.StringVar(&subject, "subject", "", "the agent's subject")
	f.StringVar(&issuer, "issuer", "", "the agent's OIDC issuer")
	f.StringVar(&source, "source", "oidc", "how the agent was identified: oidc, key, address")
	f.StringSliceVar(&groups, "groups", nil, "the agent's groups")
	f.StringArrayVar(&resources, "resource", nil, "a resource ARN (repeatable)")
	f.StringVar(&region, "region", "us-east-1", "region")
	f.BoolVar(&asJSON, "json", false, "machine-readable output")
	_ = explain.MarkFlagRequired("policy")
	_ = explain.MarkFlagRequired("action")
	cmd.AddCommand(explain)
	return cmd
}
