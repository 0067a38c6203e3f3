package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/ca"
)

// authority loads the CA of the configured data dir.
func (g *globalFlags) authority() (*ca.Authority, error) {
	cfg, err := g.load()
	if err != nil {
		return nil, err
	}
	return ca.Load(cfg.caDir())
}

func newCACmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "ca", Short: "The private CA agents trust"}

	var domains []string
	var noConstraints bool
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Create the root (ECDSA P-256), name-constrained to the intercepted domains",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.load()
			if err != nil {
				return err
			}
			opts := cfg.caOptions()
			if cmd.Flags().Changed("domains") {
				opts.PermittedDomains = domains
			}
			if noConstraints {
				opts.NoNameConstraints = true
			}
			a, err := ca.Init(opts)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created CA in %s\nfingerprint %s\nagents trust it with: gatehouse ca export > gatehouse-ca.pem\n", opts.Dir, a.Fingerprint())
			return nil
		},
	}
	initCmd.Flags().StringSliceVar(&domains, "domains", nil, "permitted domains (default amazonaws.com,amazonaws.com.cn,api.aws,aws)")
	initCmd.Flags().BoolVar(&noConstraints, "no-name-constraints", false, "create a root without name constraints (it can then impersonate any site)")

	exportCmd := &cobra.Command{
		Use:   "export",
		Short: "Print the PEM certificate agents must trust",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := g.authority()
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(a.CertPEM())
			return err
		},
	}

	var certFile, keyFile string
	var force bool
	importCmd := &cobra.Command{
		Use:   "import --cert FILE --key FILE",
		Short: "Use an existing enterprise CA or intermediate (cert file may hold the chain)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.load()
			if err != nil {
				return err
			}
			certPEM, err := os.ReadFile(certFile)
			if err != nil {
				return fmt.Errorf("read --cert: %w", err)
			}
			keyPEM, err := os.ReadFile(keyFile)
			if err != nil {
				return fmt.Errorf("read --key: %w", err)
			}
			a, err := ca.Import(cfg.caDir(), certPEM, keyPEM, force)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "imported CA into %s\nfingerprint %s\n", cfg.caDir(), a.Fingerprint())
			return nil
		},
	}
	importCmd.Flags().StringVar(&certFile, "cert", "", "PEM certificate (and chain) of the CA")
	importCmd.Flags().StringVar(&keyFile, "key", "", "PEM private key of the CA")
	importCmd.Flags().BoolVar(&force, "force", false, "replace an existing CA")
	_ = importCmd.MarkFlagRequired("cert")
	_ = importCmd.MarkFlagRequired("key")

	var asJSON bool
	showCmd := &cobra.Command{
		Use:   "show",
		Short: "Describe the CA (subject, validity, name constraints, fingerprint)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := g.authority()
			if err != nil {
				return err
			}
			c := a.Certificate()
			info := struct {
				Subject          string   `json:"subject"`
				NotBefore        string   `json:"not_before"`
				NotAfter         string   `json:"not_after"`
				PermittedDomains []string `json:"permitted_domains"`
				Fingerprint      string   `json:"fingerprint_sha256"`
			}{c.Subject.String(), c.NotBefore.UTC().Format("2006-01-02T15:04:05Z"), c.NotAfter.UTC().Format("2006-01-02T15:04:05Z"), c.PermittedDNSDomains, a.Fingerprint()}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(info)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "subject      %s\nvalid        %s to %s\npermitted    %v\nfingerprint  %s\n", info.Subject, info.NotBefore, info.NotAfter, info.PermittedDomains, info.Fingerprint)
			return nil
		},
	}
	showCmd.Flags().BoolVar(&asJSON, "json", false, "machine-readable output")
	cmd.AddCommand(initCmd, exportCmd, importCmd, showCmd)
	return cmd
}
