package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/intercept"
	"github.com/gatehouse/gatehouse/intercept/identity"
	"github.com/gatehouse/gatehouse/policy/approval"
	"github.com/gatehouse/gatehouse/recorder"
)

// ApprovalsConfig is the approvals section: where held calls wait, who may
// decide, how they hear of them.
type ApprovalsConfig struct {
	Dir            string             `yaml:"dir"`             // default data_dir/approvals
	Hold           time.Duration      `yaml:"hold"`            // a held call's wait before a retryable error; default 20s
	TTL            time.Duration      `yaml:"ttl"`             // a request's life; default 1h
	Webhooks       []approval.Webhook `yaml:"webhooks"`        // notified on every held call and decision
	Socket         string             `yaml:"socket"`          // admin API for root on the gateway; default data_dir/admin.sock
	Listen         string             `yaml:"listen"`          // admin API over HTTPS for approvers' OIDC tokens; "" off
	CertFile       string             `yaml:"cert_file"`       // its certificate
	KeyFile        string             `yaml:"key_file"`        // and key
	ApproverGroups []string           `yaml:"approver_groups"` // default [admins]
}

func (c *Config) approvalsDefaults() {
	a := &c.Approvals
	if a.Dir == "" {
		a.Dir = filepath.Join(c.DataDir, "approvals")
	}
	if a.Socket == "" {
		a.Socket = filepath.Join(c.DataDir, "admin.sock")
	}
	if a.Hold == 0 {
		a.Hold = 20 * time.Second
	}
	if len(a.ApproverGroups) == 0 {
		a.ApproverGroups = []string{"admins"}
	}
}

// verifierAuth lets approvers in with the OIDC tokens the agents' issuers
// sign: the same verification, another audience of people.
type verifierAuth struct{ v *identity.Verifier }

func (a verifierAuth) Authenticate(ctx context.Context, token string) (approval.Principal, error) {
	id, err := a.v.Verify(ctx, token)
	if err != nil {
		if errors.Is(err, identity.ErrIdPUnavailable) {
			return approval.Principal{}, fmt.Errorf("%w: %v", approval.ErrAuthUnavailable, err)
		}
		return approval.Principal{}, err
	}
	return approval.Principal{Issuer: id.Issuer, Subject: id.Subject, Groups: id.Groups}, nil
}

// buildApprovals opens the store of held calls and serves the admin API
// (unix socket for root; HTTPS when configured), with the records API
// (sessionsapi.go) on it when there are records.
func buildApprovals(ctx context.Context, cfg *Config, authn *intercept.Authn, records *recorder.Store, log *slog.Logger) (*intercept.Approvals, error) {
	ac := cfg.Approvals
	notifier, err := approval.NewNotifier(ac.Webhooks, approval.NotifierOptions{
		OnError: func(err error) { log.Warn("approval webhook", "err", err) },
	})
	if err != nil {
		return nil, err
	}
	store, err := approval.Open(approval.Options{
		Dir: ac.Dir, TTL: ac.TTL, Notify: notifier.Notify,
		OnError: func(err error) { log.Warn("approvals store", "err", err) },
	})
	if err != nil {
		return nil, err
	}
	go func() { _ = store.Run(ctx) }()
	var auth approval.Authenticator
	if authn != nil && authn.STS != nil && authn.STS.Verifier != nil {
		auth = verifierAuth{authn.STS.Verifier}
	}
	srv := approval.NewServer(store, auth, ac.ApproverGroups)
	if records != nil {
		mountRecords(srv, &storeRecords{store: records, now: time.Now}, log)
		mountChain(srv, records, log)
	}
	go func() {
		if err := srv.ServeUnix(ctx, ac.Socket); err != nil && ctx.Err() == nil {
			log.Error("admin API on unix socket", "path", ac.Socket, "err", err)
		}
	}()
	if ac.Listen != "" {
		cert, err := tls.LoadX509KeyPair(ac.CertFile, ac.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("approvals.cert_file/key_file: %w", err)
		}
		go func() {
			if err := srv.ListenHTTPS(ctx, ac.Listen, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}); err != nil && ctx.Err() == nil {
				log.Error("admin API over HTTPS", "addr", ac.Listen, "err", err)
			}
		}()
	}
	log.Info("approvals", "dir", ac.Dir, "socket", ac.Socket, "https", ac.Listen, "approver_groups", ac.ApproverGroups, "hold", ac.Hold)
	return &intercept.Approvals{Store: store, Hold: ac.Hold}, nil
}

func newApprovalsCmd(g *globalFlags) *cobra.Command {
	var af adminFlags
	cmd := &cobra.Command{
		Use:   "approvals",
		Short: "Held calls: list, show, approve, deny (root on the gateway's socket, or an approver's OIDC token over HTTPS)",
	}
	af.register(cmd)
	client := func() (*approval.Client, error) { return af.client(g, 30*time.Second) }
	printOne := func(cmd *cobra.Command, r approval.Request, asJSON bool) error {
		if asJSON {
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(r)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s  %s  %s by %s  %s  rule %s\n", r.ID, r.Status, r.Action, r.Identity.Subject, strings.Join(r.Resources, ","), r.Rule)
		return nil
	}
	var asJSON bool
	var status string
	list := &cobra.Command{
		Use: "list", Short: "List held calls (default: pending)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			st, err := approval.ParseStatus(status)
			if err != nil {
				return err
			}
			rs, err := c.List(cmd.Context(), st)
			if err != nil {
				return err
			}
			if asJSON {
				if rs == nil {
					rs = []approval.Request{}
				}
				return json.NewEncoder(cmd.OutOrStdout()).Encode(rs)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATUS\tIDENTITY\tACTION\tRESOURCES\tRULE\tCREATED")
			for _, r := range rs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Status, r.Identity.Subject, r.Action, strings.Join(r.Resources, ","), r.Rule, r.CreatedAt.UTC().Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&status, "status", "pending", "pending, approved, denied, expired or all")
	list.Flags().BoolVar(&asJSON, "json", false, "machine-readable output")
	show := &cobra.Command{
		Use: "show ID", Short: "One held call in full", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			r, err := c.Get(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printOne(cmd, r, true)
		},
	}
	var reason string
	var grantFor time.Duration
	approve := &cobra.Command{
		Use: "approve ID [--for 15m] [--reason ...]", Short: "Let a held call through (with --for: the same identity, action and resources for a window)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			r, err := c.Approve(cmd.Context(), args[0], reason, grantFor)
			if err != nil {
				return err
			}
			return printOne(cmd, r, asJSON)
		},
	}
	approve.Flags().DurationVar(&grantFor, "for", 0, "grant the identity this action on these resources for a window")
	approve.Flags().StringVar(&reason, "reason", "", "why (recorded)")
	approve.Flags().BoolVar(&asJSON, "json", false, "machine-readable output")
	deny := &cobra.Command{
		Use: "deny ID [--reason ...]", Short: "Refuse a held call", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			r, err := c.Deny(cmd.Context(), args[0], reason)
			if err != nil {
				return err
			}
			return printOne(cmd, r, asJSON)
		},
	}
	deny.Flags().StringVar(&reason, "reason", "", "why (recorded, and shown to the agent)")
	deny.Flags().BoolVar(&asJSON, "json", false, "machine-readable output")
	cmd.AddCommand(list, show, approve, deny)
	return cmd
}
