package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/intercept/identity"
)

// newKeysCmd manages static keys for agents that cannot use OIDC.
func newKeysCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Gateway-issued static keys for agents without OIDC"}
	open := func() (*identity.KeyStore, error) {
		cfg, err := g.load()
		if err != nil {
			return nil, err
		}
		ring, err := identity.LoadOrCreateKeyRing(cfg.identityDir())
		if err != nil {
			return nil, err
		}
		return identity.OpenKeyStore(cfg.identityDir(), ring)
	}
	var name string
	var groups []string
	var asJSON bool
	create := &cobra.Command{
		Use:   "create --identity NAME [--groups a,b]",
		Short: "Create a key; the secret is shown once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ks, err := open()
			if err != nil {
				return err
			}
			info, secret, err := ks.Create(name, groups, time.Now())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(out).Encode(struct {
					identity.KeyInfo
					SecretAccessKey string `json:"secret_access_key"`
				}{info, secret})
			}
			fmt.Fprintf(out, "identity           %s\ngroups             %v\nAWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n(the secret is shown once; Gatehouse keeps it only encrypted)\n", info.Identity, info.Groups, info.AccessKeyID, secret)
			return nil
		},
	}
	create.Flags().StringVar(&name, "identity", "", "the agent's identity (required)")
	create.Flags().StringSliceVar(&groups, "groups", nil, "groups the agent is in")
	create.Flags().BoolVar(&asJSON, "json", false, "machine-readable output")
	_ = create.MarkFlagRequired("identity")

	list := &cobra.Command{
		Use:   "list",
		Short: "List keys (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ks, err := open()
			if err != nil {
				return err
			}
			keys, err := ks.List()
			if err != nil {
				return err
			}
			if asJSON {
				if keys == nil {
					keys = []identity.KeyInfo{}
				}
				return json.NewEncoder(cmd.OutOrStdout()).Encode(keys)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ACCESS KEY ID\tIDENTITY\tGROUPS\tCREATED\tREVOKED")
			for _, k := range keys {
				revoked := "-"
				if k.Revoked != nil {
					revoked = k.Revoked.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\n", k.AccessKeyID, k.Identity, k.Groups, k.Created.UTC().Format(time.RFC3339), revoked)
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "machine-readable output")

	revoke := &cobra.Command{
		Use:   "revoke ACCESS_KEY_ID",
		Short: "Revoke a key; a running gateway refuses it from its next request",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ks, err := open()
			if err != nil {
				return err
			}
			if err := ks.Revoke(args[0], time.Now()); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}
