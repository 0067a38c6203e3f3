package main

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/recorder"
)

func newAuditCmd(g *globalFlags) *cobra.Command {
	var af adminFlags
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Check the records' hash chain and signed checkpoints",
	}
	af.register(cmd)
	var asJSON bool
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Walk the hash chain: entries changed, missing, reordered or cut off, bad checkpoints; exit 1 on any",
		Long: `Walk the records' hash chain and report every entry changed, missing,
reordered or cut from the end, every pointer that leads to another record,
and every checkpoint whose signature or hash does not hold. Each problem
names the entry's seq and, when the entry is readable, its record. The
exit status is 1 when there is any problem.

Through the running gateway (its socket as root, or --server with an
approver's token), or on the store itself when no gateway runs: then the
checkpoint key (recorder.key_file) must be readable for checkpoints to be
checked.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			src, err := af.records(g)
			if err != nil {
				return err
			}
			rep, err := src.Verify(cmd.Context())
			if cerr := src.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			if asJSON {
				if err := writeJSON(cmd.OutOrStdout(), rep); err != nil {
					return err
				}
			} else if err := printAudit(cmd.OutOrStdout(), rep); err != nil {
				return err
			}
			if n := len(rep.Problems); n > 0 {
				return fmt.Errorf("audit verify: %d %s: the records were changed, lost or cut after they were written; keep a copy of the store (recorder.dir) as evidence, and compare it with the S3 export if there is one", n, plural(n, "problem"))
			}
			return nil
		},
	}
	verify.Flags().BoolVar(&asJSON, "json", false, "machine-readable output")
	pub := &cobra.Command{
		Use:   "public-key",
		Short: "Print the public key that signs the records' checkpoints and S3 manifests (PEM), for auditors",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.load()
			if err != nil {
				return err
			}
			key, err := loadRecorderKeyIfExists(cfg.Recorder.KeyFile)
			if err != nil {
				return fmt.Errorf("%w (run as the gateway's user)", err)
			}
			if key == nil {
				return fmt.Errorf("no recorder key at %s (recorder.key_file): the gateway creates it on its first start", cfg.Recorder.KeyFile)
			}
			der, err := x509.MarshalPKIXPublicKey(key.Public())
			if err != nil {
				return err
			}
			return pem.Encode(cmd.OutOrStdout(), &pem.Block{Type: "PUBLIC KEY", Bytes: der})
		},
	}
	cmd.AddCommand(verify, pub)
	return cmd
}

func printAudit(w io.Writer, rep auditReport) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "entries\t%d\n", rep.Entries)
	if rep.Expired > 0 {
		fmt.Fprintf(tw, "expired\t%d (recorder.retention; the S3 export keeps them)\n", rep.Expired)
	}
	fmt.Fprintf(tw, "head\t%d\n", rep.Head)
	if rep.Signed {
		head := "verified"
		for _, p := range rep.Problems {
			if p.Kind == recorder.BadHead {
				head = "DOES NOT VERIFY"
			}
		}
		fmt.Fprintf(tw, "signed head\t%s\n", head)
		fmt.Fprintf(tw, "checkpoints\t%d verified\n", rep.Checkpoints)
	} else {
		fmt.Fprintf(tw, "checkpoints\tnot checked: no checkpoint key (recorder.key_file); run as its owner, or through the gateway\n")
	}
	fmt.Fprintf(tw, "incomplete\t%d\n", len(rep.Incomplete))
	fmt.Fprintf(tw, "problems\t%d\n", len(rep.Problems))
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(rep.Problems) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SEQ\tKIND\tRECORD\tDETAIL")
		for _, p := range rep.Problems {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", p.Seq, p.Kind, dash(p.Record), p.Detail)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if n := len(rep.Incomplete); n > 0 {
		shown := rep.Incomplete[:min(n, 20)]
		fmt.Fprintf(w, "\nincomplete calls (forwarded, outcome not recorded): %v", shown)
		if n > len(shown) {
			fmt.Fprintf(w, " and %d more", n-len(shown))
		}
		fmt.Fprintln(w, "; see gatehouse sessions show ID")
	}
	return nil
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
