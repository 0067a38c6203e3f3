package main

import (
	"encoding/json"
	"fmt"
	"net/netip"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/netsetup"
)

func newNetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "net",
		Short: "Make this host the agents' egress hop (nftables TPROXY, policy routing) over netlink",
	}
	var agents []string
	var ports []uint
	var listenPort uint16
	var mark uint32
	var table int
	var asJSON bool
	config := func(needAgents bool) (netsetup.Config, error) {
		c := netsetup.Config{ListenPort: listenPort, Mark: mark, Table: table}
		for _, p := range ports {
			if p == 0 || p > 65535 {
				return c, fmt.Errorf("--ports: %d is not a TCP port", p)
			}
			c.Ports = append(c.Ports, uint16(p))
		}
		for _, a := range agents {
			p, err := netip.ParsePrefix(a)
			if err != nil {
				return c, fmt.Errorf("--agents: %q is not a CIDR like 10.0.1.0/24: %w", a, err)
			}
			c.Agents = append(c.Agents, p)
		}
		if needAgents && len(c.Agents) == 0 {
			return c, fmt.Errorf("--agents is required: the agent subnets to capture, e.g. --agents 10.0.1.0/24")
		}
		return c.WithDefaults(), nil
	}
	up := &cobra.Command{
		Use:   "up --agents CIDR[,CIDR...]",
		Short: "Install capture (TPROXY to the listener), policy routing, forwarding and the fail-closed guard",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := config(true)
			if err != nil {
				return err
			}
			if err := netsetup.Up(c); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "capturing TCP %v from %v to :%d (mark %#x, table %d); run 'gatehouse serve --transparent'\n", c.Ports, c.Agents, c.ListenPort, c.Mark, c.Table)
			return nil
		},
	}
	down := &cobra.Command{
		Use:   "down",
		Short: "Remove exactly what 'net up' installed (idempotent)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := config(false)
			if err != nil {
				return err
			}
			if err := netsetup.Down(c); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "capture removed")
			return nil
		},
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "Show what is installed, read back over netlink",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := config(false)
			if err != nil {
				return err
			}
			st, err := netsetup.Status(c)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			fmt.Fprint(cmd.OutOrStdout(), st.String())
			return nil
		},
	}
	for _, c := range []*cobra.Command{up, down, status} {
		f := c.Flags()
		f.Uint32Var(&mark, "mark", 0, fmt.Sprintf("fwmark (default %#x)", netsetup.DefaultMark))
		f.IntVar(&table, "table", 0, fmt.Sprintf("policy routing table (default %d)", netsetup.DefaultTable))
	}
	up.Flags().StringSliceVar(&agents, "agents", nil, "agent source CIDRs to capture (required)")
	up.Flags().UintSliceVar(&ports, "ports", nil, "TCP destination ports to capture (default 443)")
	up.Flags().Uint16Var(&listenPort, "listen-port", 0, fmt.Sprintf("transparent listener port (default %d)", netsetup.DefaultListenPort))
	status.Flags().BoolVar(&asJSON, "json", false, "machine-readable output")
	cmd.AddCommand(up, down, status)
	return cmd
}
