package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/recorder"
	"github.com/gatehouse/gatehouse/recorder/export"
)

func newExportCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Copy records out: a HAR or pcapng file of some calls, the whole chain to S3",
	}
	cmd.AddCommand(
		newExportFileCmd(g, "har", "HAR 1.2 log (browser dev tools, har-validator); bodies as text or base64", export.HAR),
		newExportFileCmd(g, "pcapng", "pcapng capture of the calls' plaintext HTTP as TCP streams (Wireshark, tshark)", export.PCAPNG),
	)
	cmd.AddCommand(newExportS3Cmd(g), newExportVerifyCmd(g))
	return cmd
}

// exportFunc writes records in one file format.
type exportFunc func(w io.Writer, recs []*recorder.Record, creatorVersion string) error

// newExportFileCmd is `export har` or `export pcapng`: the calls of a
// session or a query, written to -o.
func newExportFileCmd(g *globalFlags, format, what string, write exportFunc) *cobra.Command {
	var af adminFlags
	var session, out string
	var limit int
	cmd := &cobra.Command{
		Use:   format + " (--session ID | QUERY...) -o FILE",
		Short: "Write calls as a " + what,
		Long:  "Write the calls of a session, or those a query matches (all of them unless --limit), as a " + what + ".\n\n" + queryHelp,
		Example: "  gatehouse export " + format + " --session c-7Hq2 -o session." + format + "\n" +
			"  gatehouse export " + format + " 'identity=agent since=1h' -o last-hour." + format,
		RunE: func(cmd *cobra.Command, args []string) error {
			query := strings.Join(args, " ")
			switch {
			case session == "" && query == "":
				return errors.New("which calls? give --session ID (see gatehouse sessions list) or a query such as 'identity=agent since=1h'")
			case session != "" && query != "":
				return errors.New("give --session or a query, not both (a query can say session=ID)")
			case out == "":
				return fmt.Errorf("give the file to write: -o calls.%s (-o - for stdout)", format)
			}
			src, err := af.records(g)
			if err != nil {
				return err
			}
			recs, err := exportRecords(cmd, src, session, query, limit)
			if cerr := src.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			if out == "-" {
				return write(cmd.OutOrStdout(), recs, version())
			}
			if err := writeFileAtomic(out, func(w io.Writer) error { return write(w, recs, version()) }); err != nil {
				return fmt.Errorf("export %s: %w", format, err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %d records to %s\n", len(recs), out)
			return nil
		},
	}
	af.register(cmd)
	cmd.Flags().StringVar(&session, "session", "", "the calls of this session (connection)")
	cmd.Flags().StringVarP(&out, "output", "o", "", "file to write (- for stdout)")
	cmd.Flags().IntVar(&limit, "limit", -1, "at most this many calls of a query, the newest (-1: all)")
	return cmd
}

func exportRecords(cmd *cobra.Command, src recordSource, session, query string, limit int) ([]*recorder.Record, error) {
	if session != "" {
		d, err := src.Session(cmd.Context(), session, true)
		if errors.Is(err, recorder.ErrNotFound) {
			return nil, fmt.Errorf("no session %s: 'gatehouse sessions list' shows recent ones (--since 0 for all)", session)
		}
		return d.Calls, err
	}
	res, err := src.Search(cmd.Context(), query, limit, true)
	if err != nil {
		return nil, queryError(err)
	}
	if res.More {
		fmt.Fprintf(cmd.ErrOrStderr(), "exporting the newest %d matches; more match: narrow the query or raise --limit\n", len(res.Records))
	}
	if len(res.Records) == 0 {
		return nil, errors.New("no calls match the query: nothing to export ('gatehouse sessions search QUERY' tries one)")
	}
	return res.Records, nil
}

// writeFileAtomic writes path through a temporary file beside it, so a
// failed export leaves no half-written file behind. The file is 0600
// (CreateTemp's): it holds request and response bodies.
func writeFileAtomic(path string, fn func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	err = fn(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// version is the module version the binary was built from, "(devel)"
// for a build from a checkout.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
