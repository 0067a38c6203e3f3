package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/recorder"
)

const queryHelp = `A query is key=value terms separated by spaces, all of which must hold:
  identity=SUBJECT  action=GLOB  resource=GLOB  decision=allow|deny|approve
  session=ID  request_id=ID  error=CODE
  since=WHEN  until=WHEN   (90m, 7d, 2026-11-26T10:00:00Z or 2026-11-26)
  limit=N|all  order=oldest|newest
A glob's * matches any run of characters (s3:Delete*, arn:aws:s3:::prod-*);
a value with spaces is quoted: resource="arn:aws:s3:::b/my key".`

func newSessionsCmd(g *globalFlags) *cobra.Command {
	var af adminFlags
	cmd := &cobra.Command{
		Use:   "sessions",
		Short: "Recorded calls: recent sessions, search, one call in full, a session's timeline",
		Long: `Recorded calls, read from the running gateway over its admin API (root on
its unix socket, or --server with an approver's token), or from the store
itself when no gateway runs.

` + queryHelp,
	}
	af.register(cmd)
	var asJSON bool
	var since string
	var listLimit, searchLimit int
	withRecords := func(fn func(recordSource) error) error {
		src, err := af.records(g)
		if err != nil {
			return err
		}
		err = fn(src)
		if cerr := src.Close(); err == nil {
			err = cerr
		}
		return err
	}

	list := &cobra.Command{
		Use:   "list [QUERY...]",
		Short: "Recent sessions (connections), newest first: calls, denied, refused",
		RunE: func(cmd *cobra.Command, args []string) error {
			return withRecords(func(src recordSource) error {
				ss, err := src.Sessions(cmd.Context(), strings.Join(args, " "), since, listLimit)
				if err != nil {
					return queryError(err)
				}
				if asJSON {
					if ss == nil {
						ss = []sessionSummary{}
					}
					return writeJSON(cmd.OutOrStdout(), ss)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "SESSION\tFIRST\tLAST\tIDENTITY\tSOURCE\tCALLS\tDENIED\tREFUSED\tINCOMPLETE")
				for _, s := range ss {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\n", s.ID, stamp(s.First), stamp(s.Last),
						dash(s.Identity), dash(s.SourceAddr), s.Calls, s.Denied, s.Refused, s.Incomplete)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				if len(ss) == 0 {
					fmt.Fprintf(cmd.ErrOrStderr(), "no sessions since %s; try --since 7d, or --since 0 for all\n", since)
				}
				return nil
			})
		},
	}
	list.Flags().StringVar(&since, "since", "24h", "sessions with calls since then: 90m, 7d, a time or a date (0: all); a since= in the query wins")
	list.Flags().IntVar(&listLimit, "limit", defaultSessions, "at most this many sessions")
	list.Flags().BoolVar(&asJSON, "json", false, "machine-readable output")

	search := &cobra.Command{
		Use:   "search QUERY...",
		Short: "Calls matching a query, oldest first: time, id, identity, action, resources, decision, status",
		Long:  "Calls matching a query: the newest --limit of them, oldest first.\n\n" + queryHelp,
		Example: `  gatehouse sessions search 'identity=agent action=s3:Delete* decision=deny since=1h'
  gatehouse sessions search resource='arn:aws:s3:::prod-*' --json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withRecords(func(src recordSource) error {
				res, err := src.Search(cmd.Context(), strings.Join(args, " "), searchLimit, asJSON)
				if err != nil {
					return queryError(err)
				}
				if asJSON {
					return writeJSON(cmd.OutOrStdout(), res)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TIME\tID\tIDENTITY\tACTION\tRESOURCES\tDECISION\tSTATUS")
				for _, r := range res.Records {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", stamp(r.Start), r.ID, dash(r.Identity.Subject),
						actionOf(r), dash(strings.Join(r.Resources, ",")), decisionOf(r), outcomeOf(r))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				switch {
				case res.More:
					fmt.Fprintf(cmd.ErrOrStderr(), "showing the newest %d matches; more match: narrow the query or raise --limit\n", len(res.Records))
				case len(res.Records) == 0:
					fmt.Fprintln(cmd.ErrOrStderr(), "no calls match")
				}
				return nil
			})
		},
	}
	search.Flags().IntVar(&searchLimit, "limit", 0, fmt.Sprintf("at most this many calls, the newest (default: the query's limit=, else %d; -1: all)", recorder.DefaultLimit))
	search.Flags().BoolVar(&asJSON, "json", false, "machine-readable output: the records, bodies included")

	show := &cobra.Command{
		Use:   "show ID",
		Short: "One call in full: every field, headers, bodies",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withRecords(func(src recordSource) error {
				r, err := src.Record(cmd.Context(), args[0])
				if errors.Is(err, recorder.ErrNotFound) {
					return fmt.Errorf("no call %s: record ids are in 'gatehouse sessions search' and 'sessions replay SESSION'; a session's calls are in 'gatehouse sessions replay %s'", args[0], args[0])
				}
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(cmd.OutOrStdout(), r)
				}
				return printRecord(cmd.OutOrStdout(), r)
			})
		},
	}
	show.Flags().BoolVar(&asJSON, "json", false, "machine-readable output: the record, bodies in base64")

	replay := &cobra.Command{
		Use:   "replay SESSION",
		Short: "A session's calls as a timeline: request, decision, outcome, time to first byte and total, gaps",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withRecords(func(src recordSource) error {
				d, err := src.Session(cmd.Context(), args[0], false)
				if errors.Is(err, recorder.ErrNotFound) {
					return fmt.Errorf("no session %s: 'gatehouse sessions list' shows recent ones (--since 0 for all)", args[0])
				}
				if err != nil {
					return err
				}
				tl := timelineOf(d)
				if asJSON {
					return writeJSON(cmd.OutOrStdout(), tl)
				}
				return printTimeline(cmd.OutOrStdout(), tl)
			})
		},
	}
	replay.Flags().BoolVar(&asJSON, "json", false, "machine-readable output")

	cmd.AddCommand(list, search, show, replay)
	return cmd
}

// queryError says how to write a query when the recorder could not parse
// one.
func queryError(err error) error {
	if errors.Is(err, errBadQuery) {
		return fmt.Errorf("%w\n%s", err, queryHelp)
	}
	return err
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

const stampLayout = "2006-01-02T15:04:05.000Z07:00"

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(stampLayout)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// actionOf is the IAM action, or what a connection record was.
func actionOf(r *recorder.Record) string {
	if r.Kind == "connection" {
		return "(connection " + dash(firstNonEmpty(r.SNI, r.Host, r.Dst)) + ")"
	}
	return dash(r.Action)
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// decisionOf is the effect, its rule, and what approvers or shadow mode
// made of it.
func decisionOf(r *recorder.Record) string {
	d := r.Decision
	if d.Effect == "" {
		return "-"
	}
	s := d.Effect
	if d.Rule != "" {
		s += " (" + d.Rule + ")"
	}
	if d.Shadow && d.WouldBe != "" {
		s += " shadow: would " + d.WouldBe
	}
	for _, v := range d.Votes {
		if v.Approve {
			s += " approved by " + v.Approver
		} else {
			s += " denied by " + v.Approver
		}
	}
	return s
}

// outcomeOf is the status and error, or why there is none.
func outcomeOf(r *recorder.Record) string {
	var parts []string
	if r.Status != 0 {
		parts = append(parts, strconv.Itoa(r.Status))
	}
	if r.ErrorCode != "" {
		parts = append(parts, r.ErrorCode)
	}
	switch {
	case !r.Complete:
		parts = append(parts, "incomplete")
	case r.Verdict != "" && r.Verdict != "forwarded" && r.Verdict != "answered":
		parts = append([]string{r.Verdict}, parts...)
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

// printRecord writes every field of r, then its headers and bodies.
func printRecord(w io.Writer, r *recorder.Record) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	field := func(name string, v any) {
		s := fmt.Sprint(v)
		switch v := v.(type) {
		case time.Time:
			s = stamp(v)
		case []string:
			s = strings.Join(v, ", ")
		}
		fmt.Fprintf(tw, "%s\t%s\n", name, dash(s))
	}
	since := func(t time.Time) string {
		if t.IsZero() || r.Start.IsZero() {
			return stamp(t)
		}
		return stamp(t) + " (+" + millis(t.Sub(r.Start)) + ")"
	}
	field("id", r.ID)
	field("session", r.Session)
	field("kind", r.Kind)
	field("seq", r.Seq)
	field("complete", r.Complete)
	field("start", r.Start)
	field("upstream first byte", since(r.UpstreamFirstByte))
	field("end", since(r.End))
	field("identity", r.Identity.Subject)
	field("  issuer", r.Identity.Issuer)
	field("  source", r.Identity.Source)
	field("  groups", r.Identity.Groups)
	field("  source addr", r.Identity.SourceAddr)
	field("mode", r.Mode)
	field("sni", r.SNI)
	field("dst", r.Dst)
	field("upstream role", r.UpstreamRole)
	field("service", r.Service)
	field("region", r.Region)
	field("method", r.Method)
	field("host", r.Host)
	field("path", r.Path)
	field("operation", r.Operation)
	field("action", r.Action)
	field("resources", r.Resources)
	field("decision", r.Decision.Effect)
	field("  rule", r.Decision.Rule)
	field("  reason", r.Decision.Reason)
	field("  shadow", r.Decision.Shadow)
	field("  would be", r.Decision.WouldBe)
	field("  approval", r.Decision.ApprovalID)
	for _, v := range r.Decision.Votes {
		verb := "approved"
		if !v.Approve {
			verb = "denied"
		}
		vote := fmt.Sprintf("%s %s at %s", verb, v.Approver, stamp(v.At))
		if v.Reason != "" {
			vote += ": " + strconv.Quote(v.Reason)
		}
		field("  vote", vote)
	}
	field("verdict", r.Verdict)
	field("status", r.Status)
	field("error code", r.ErrorCode)
	field("upstream request id", r.UpstreamRequestID)
	field("upstream id2", r.UpstreamID2)
	field("bytes in", r.BytesIn)
	field("bytes out", r.BytesOut)
	field("prev hash", r.PrevHash)
	field("hash", r.Hash)
	if err := tw.Flush(); err != nil {
		return err
	}
	printBody(w, "request", r.Request)
	printBody(w, "response", r.Response)
	return nil
}

// previewBytes is how much of a binary body show dumps.
const previewBytes = 512

func printBody(w io.Writer, name string, b recorder.Body) {
	fmt.Fprintf(w, "\n%s headers\n", name)
	if len(b.Headers) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	keys := make([]string, 0, len(b.Headers))
	for k := range b.Headers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range b.Headers[k] {
			fmt.Fprintf(w, "  %s: %s\n", k, v)
		}
	}
	head := fmt.Sprintf("\n%s body: %d bytes", name, b.Size)
	if b.SHA256 != "" {
		head += ", sha256 " + b.SHA256
	}
	if b.Truncated {
		head += fmt.Sprintf("; truncated: the first %d bytes were kept (recorder.body_cap)", len(b.Data))
	}
	fmt.Fprintln(w, head)
	switch {
	case len(b.Data) == 0 && b.Size == 0:
		fmt.Fprintln(w, "  (empty)")
	case b.Withheld != "":
		fmt.Fprintf(w, "  (withheld: %s)\n", b.Withheld)
	case len(b.Data) == 0:
		fmt.Fprintln(w, "  (not kept)")
	case isText(b.Data):
		for line := range strings.Lines(string(b.Data)) {
			fmt.Fprint(w, "  ", line)
		}
		if !strings.HasSuffix(string(b.Data), "\n") {
			fmt.Fprintln(w)
		}
	default:
		p := b.Data[:min(len(b.Data), previewBytes)]
		for line := range strings.Lines(hex.Dump(p)) {
			fmt.Fprint(w, "  ", line)
		}
		if rest := len(b.Data) - len(p); rest > 0 {
			fmt.Fprintf(w, "  ... %d more bytes kept: --json has them all (base64)\n", rest)
		}
	}
}

// isText reports whether a body reads as text: UTF-8 with no control
// characters but tabs and line ends.
func isText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' {
			return false
		}
	}
	return true
}

func millis(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', -1, 64) + "ms"
}

// timeline is a session's calls for replay.
type timeline struct {
	Session sessionSummary `json:"session"`
	Steps   []step         `json:"steps"`
}

// step is one call of a timeline; times are milliseconds.
type step struct {
	ID       string    `json:"id"`
	Kind     string    `json:"kind"`
	Start    time.Time `json:"start"`
	OffsetMS float64   `json:"offset_ms"` // from the session's first Start
	// GapMS is the time since the previous call ended, negative when the
	// two overlapped (HTTP/2); absent for the first.
	GapMS     *float64 `json:"gap_ms,omitempty"`
	Method    string   `json:"method"`
	Host      string   `json:"host"`
	Path      string   `json:"path"`
	Action    string   `json:"action"`
	Resources []string `json:"resources"`
	Decision  string   `json:"decision"`
	Rule      string   `json:"rule"`
	Verdict   string   `json:"verdict"`
	Status    int      `json:"status"`
	ErrorCode string   `json:"error_code"`
	Complete  bool     `json:"complete"`
	// FirstByteMS is the time from Start to the upstream's first byte,
	// TotalMS from Start to End; absent when the call has none.
	FirstByteMS *float64 `json:"first_byte_ms,omitempty"`
	TotalMS     *float64 `json:"total_ms,omitempty"`
}

func timelineOf(d sessionDetail) timeline {
	tl := timeline{Session: d.Session, Steps: make([]step, 0, len(d.Calls))}
	ms := func(from, to time.Time) *float64 {
		if from.IsZero() || to.IsZero() {
			return nil
		}
		v := float64(to.Sub(from)) / float64(time.Millisecond)
		return &v
	}
	var prevEnd time.Time
	for i, r := range d.Calls {
		s := step{
			ID: r.ID, Kind: r.Kind, Start: r.Start, Method: r.Method, Host: r.Host, Path: r.Path,
			Action: r.Action, Resources: r.Resources, Decision: r.Decision.Effect, Rule: r.Decision.Rule,
			Verdict: r.Verdict, Status: r.Status, ErrorCode: r.ErrorCode, Complete: r.Complete,
			FirstByteMS: ms(r.Start, r.UpstreamFirstByte), TotalMS: ms(r.Start, r.End),
		}
		if r.Kind == "connection" {
			s.Host = firstNonEmpty(r.Host, r.SNI, r.Dst)
		}
		if o := ms(d.Session.First, r.Start); o != nil {
			s.OffsetMS = *o
		}
		if i > 0 {
			s.GapMS = ms(prevEnd, r.Start)
		}
		prevEnd = r.End
		if prevEnd.IsZero() {
			prevEnd = r.Start
		}
		tl.Steps = append(tl.Steps, s)
	}
	return tl
}

func printTimeline(w io.Writer, tl timeline) error {
	s := tl.Session
	fmt.Fprintf(w, "session %s  identity %s  from %s  sni %s\n", s.ID, dash(s.Identity), dash(s.SourceAddr), dash(s.SNI))
	fmt.Fprintf(w, "%s → %s (%s)  %d calls, %d denied, %d refused, %d incomplete\n\n",
		stamp(s.First), stamp(s.Last), s.Last.Sub(s.First).Round(time.Millisecond), s.Calls, s.Denied, s.Refused, s.Incomplete)
	dur := func(v *float64) string {
		if v == nil {
			return "-"
		}
		return time.Duration(*v * float64(time.Millisecond)).Round(time.Millisecond).String()
	}
	for _, st := range tl.Steps {
		if st.GapMS != nil {
			if *st.GapMS < 0 {
				fmt.Fprintf(w, "%10s  (overlaps the previous call by %s)\n", "", dur(ptr(-*st.GapMS)))
			} else {
				fmt.Fprintf(w, "%10s  (gap %s)\n", "", dur(st.GapMS))
			}
		}
		offset := fmt.Sprintf("+%.3fs", st.OffsetMS/1000)
		outcome := outcomeOf(&recorder.Record{Status: st.Status, ErrorCode: st.ErrorCode, Verdict: st.Verdict, Complete: st.Complete})
		if st.Kind == "connection" {
			fmt.Fprintf(w, "%10s  %s  connection to %s, no request read\n", offset, st.ID, dash(st.Host))
			fmt.Fprintf(w, "%10s  %s  total %s\n", "", outcome, dur(st.TotalMS))
			continue
		}
		fmt.Fprintf(w, "%10s  %s  %s %s%s\n", offset, st.ID, dash(st.Method), st.Host, st.Path)
		decision := dash(st.Decision)
		if st.Rule != "" {
			decision += " (" + st.Rule + ")"
		}
		fmt.Fprintf(w, "%10s  %s  %s → %s  first byte %s  total %s\n", "", dash(st.Action), decision, outcome, dur(st.FirstByteMS), dur(st.TotalMS))
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
