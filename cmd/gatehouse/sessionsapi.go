package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/policy/approval"
	"github.com/gatehouse/gatehouse/recorder"
)

// The records API is what `gatehouse sessions`, `audit verify` and `export
// har|pcapng` read. While `gatehouse serve` runs it holds the store's lock,
// so the CLI asks it over the admin API, where mountRecords serves:
//
//	GET /v1/records?q=QUERY&limit=N&bodies=false  {"records": [...], "more": bool}
//	GET /v1/records/{id}                           record
//	GET /v1/sessions?q=QUERY&since=24h&limit=N     {"sessions": [summary, ...]}
//	GET /v1/sessions/{id}?bodies=false             {"session": summary, "calls": [record, ...]}
//	GET /v1/audit/verify                           report
//
// behind the admin API's authentication (root on the socket, approver
// groups over HTTPS). With no gateway on the socket, the CLI opens the
// store read-only and asks storeRecords directly: the same code answers
// both ways.

// recordSource is where the CLI reads records.
type recordSource interface {
	// Search returns the newest limit records matching query (0: the
	// query's limit or recorder.DefaultLimit, negative: all), oldest first
	// unless the query says order=newest. Without bodies the records'
	// body data is left out.
	Search(ctx context.Context, query string, limit int, bodies bool) (searchResult, error)
	// Sessions summarizes the sessions of the records matching query
	// whose Start is since or later (a since= term: 24h, 7d, a time; "" or
	// "0": no bound; a since= in the query wins), newest first, at most
	// limit of them (0: 50).
	Sessions(ctx context.Context, query, since string, limit int) ([]sessionSummary, error)
	// Session returns one session's records, oldest first.
	Session(ctx context.Context, id string, bodies bool) (sessionDetail, error)
	Record(ctx context.Context, id string) (*recorder.Record, error)
	Verify(ctx context.Context) (auditReport, error)
	Close() error
}

// errBadQuery marks a query the recorder could not parse: the caller's to
// fix (400 over the API).
var errBadQuery = errors.New("bad query")

const defaultSessions = 50

type searchResult struct {
	Records []*recorder.Record `json:"records"`
	More    bool               `json:"more"` // more records matched than the limit kept
}

// sessionSummary is one connection as its records show it. The counts are
// of the records a query matched.
type sessionSummary struct {
	ID         string    `json:"id"`
	First      time.Time `json:"first"` // earliest Start
	Last       time.Time `json:"last"`  // latest End (Start for a call with none)
	Identity   string    `json:"identity"`
	SourceAddr string    `json:"source_addr"`
	SNI        string    `json:"sni"`
	Calls      int       `json:"calls"` // HTTP requests; a connection record is not one
	// Denied counts calls policy or an approver denied; Refused the other
	// records the gateway refused (no or bad credentials, a hold that
	// timed out, a connection refused before any request).
	Denied     int `json:"denied"`
	Refused    int `json:"refused"`
	Incomplete int `json:"incomplete"` // intent committed, completion not (yet)
}

type sessionDetail struct {
	Session sessionSummary     `json:"session"`
	Calls   []*recorder.Record `json:"calls"`
}

// auditReport is recorder.Verify's report with each problem's record.
type auditReport struct {
	Entries     uint64 `json:"entries"`
	Expired     uint64 `json:"expired"` // gone by recorder.retention, before the oldest entry left
	Head        uint64 `json:"head"`
	Checkpoints int    `json:"checkpoints"`
	// Signed says the store's checkpoint key was at hand, so checkpoints
	// and the head's signature were checked.
	Signed   bool           `json:"signed"`
	Problems []auditProblem `json:"problems"`
	// Incomplete are calls whose intent was committed and completion not:
	// cut off by a crash the gateway has not restarted from, or in flight
	// when the store was read directly.
	Incomplete []string `json:"incomplete"`
	OK         bool     `json:"ok"`
}

type auditProblem struct {
	recorder.Problem
	Record string `json:"record,omitempty"` // the id in the entry at Seq, when it is readable
}

// storeRecords answers from the store: in the gateway for the API, or in
// the CLI when no gateway runs.
type storeRecords struct {
	store *recorder.Store
	now   func() time.Time
	owned bool // Close closes the store: the CLI's read-only open
}

func (s *storeRecords) Close() error {
	if s.owned {
		return s.store.Close()
	}
	return nil
}

func (s *storeRecords) parse(query string) (recorder.Query, error) {
	if strings.TrimSpace(query) == "" {
		return recorder.Query{}, nil
	}
	q, err := recorder.ParseQuery(query, s.now())
	if err != nil {
		return q, fmt.Errorf("%w: %w", errBadQuery, err)
	}
	return q, nil
}

func (s *storeRecords) Search(_ context.Context, query string, limit int, bodies bool) (searchResult, error) {
	q, err := s.parse(query)
	if err != nil {
		return searchResult{}, err
	}
	if limit == 0 {
		limit = q.Limit
	}
	if limit == 0 {
		limit = recorder.DefaultLimit
	}
	newestFirst := q.Newest
	q.Newest, q.Limit = true, -1
	if limit > 0 {
		q.Limit = limit + 1 // one more tells whether there are more
	}
	recs, err := s.store.Search(q)
	if err != nil {
		return searchResult{}, err
	}
	res := searchResult{Records: recs}
	if limit > 0 && len(recs) > limit {
		res.Records, res.More = recs[:limit], true
	}
	if !newestFirst {
		slices.Reverse(res.Records)
	}
	if !bodies {
		withoutBodies(res.Records)
	}
	if res.Records == nil {
		res.Records = []*recorder.Record{}
	}
	return res, nil
}

func (s *storeRecords) Sessions(_ context.Context, query, since string, limit int) ([]sessionSummary, error) {
	q, err := s.parse(query)
	if err != nil {
		return nil, err
	}
	if q.Since.IsZero() && since != "" && since != "0" {
		w, err := recorder.ParseQuery("since="+strconv.Quote(since), s.now())
		if err != nil {
			return nil, fmt.Errorf("%w: since %s: want 90m, 7d, a time (2026-11-26T10:00:00Z) or a date, or 0 for all", errBadQuery, since)
		}
		q.Since = w.Since
	}
	if limit <= 0 {
		limit = defaultSessions
	}
	q.Limit, q.Newest = -1, true
	recs, err := s.store.Search(q)
	if err != nil {
		return nil, err
	}
	by := map[string][]*recorder.Record{}
	var ids []string
	for _, r := range recs {
		if _, ok := by[r.Session]; !ok {
			ids = append(ids, r.Session)
		}
		by[r.Session] = append(by[r.Session], r)
	}
	out := make([]sessionSummary, 0, len(ids))
	for _, id := range ids {
		out = append(out, summarize(id, by[id]))
	}
	slices.SortStableFunc(out, func(a, b sessionSummary) int { return b.Last.Compare(a.Last) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (s *storeRecords) Session(_ context.Context, id string, bodies bool) (sessionDetail, error) {
	recs, err := s.store.Search(recorder.Query{Session: id, Limit: -1})
	if err != nil {
		return sessionDetail{}, err
	}
	if len(recs) == 0 {
		return sessionDetail{}, fmt.Errorf("no session %s: %w", id, recorder.ErrNotFound)
	}
	if !bodies {
		withoutBodies(recs)
	}
	return sessionDetail{Session: summarize(id, recs), Calls: recs}, nil
}

func (s *storeRecords) Record(_ context.Context, id string) (*recorder.Record, error) {
	return s.store.Get(id)
}

func (s *storeRecords) Verify(ctx context.Context) (auditReport, error) {
	rep, err := s.store.Verify(ctx)
	if err != nil {
		return auditReport{}, err
	}
	out := auditReport{
		Entries: rep.Entries, Expired: rep.Expired, Head: rep.Head, Checkpoints: rep.Checkpoints,
		Signed:     s.store.CheckpointPublicKey() != nil,
		Problems:   make([]auditProblem, 0, len(rep.Problems)),
		Incomplete: []string{},
		OK:         rep.OK(),
	}
	// Incomplete is as of the store's opening; serve has since closed
	// those records (verdict interrupted), so only the still open count.
	for _, id := range s.store.Incomplete() {
		if r, err := s.store.Get(id); err == nil && !r.Complete {
			out.Incomplete = append(out.Incomplete, id)
		}
	}
	ids := map[uint64]string{}
	for _, p := range rep.Problems {
		id, seen := p.Record, true
		if id == "" {
			id, seen = ids[p.Seq]
		}
		if !seen && p.Seq > 0 {
			id = s.idAt(ctx, p.Seq)
			ids[p.Seq] = id
		}
		out.Problems = append(out.Problems, auditProblem{Problem: p, Record: id})
	}
	return out, nil
}

var errStop = errors.New("stop")

// idAt is the record id of the entry stored under seq, "" when there is
// none or it cannot be decoded.
func (s *storeRecords) idAt(ctx context.Context, seq uint64) string {
	var id string
	_ = s.store.Entries(ctx, seq, func(e recorder.Entry) error {
		if e.Seq == seq {
			id = e.Record.ID
		}
		return errStop
	})
	return id
}

// withoutBodies drops the body data (headers, size and hash stay) of
// records read for a table or a timeline.
func withoutBodies(recs []*recorder.Record) {
	for _, r := range recs {
		r.Request.Data, r.Response.Data = nil, nil
	}
}

func summarize(id string, recs []*recorder.Record) sessionSummary {
	s := sessionSummary{ID: id}
	var who []string
	for _, r := range recs {
		if s.First.IsZero() || r.Start.Before(s.First) {
			s.First = r.Start
		}
		end := r.End
		if end.IsZero() {
			end = r.Start
		}
		if end.After(s.Last) {
			s.Last = end
		}
		if sub := r.Identity.Subject; sub != "" && !slices.Contains(who, sub) {
			who = append(who, sub)
		}
		if s.SourceAddr == "" {
			s.SourceAddr = r.Identity.SourceAddr
		}
		if s.SNI == "" {
			s.SNI = r.SNI
		}
		if r.Kind != "connection" {
			s.Calls++
		}
		switch {
		case denied(r):
			s.Denied++
		case r.Verdict == "refused":
			s.Refused++
		}
		if !r.Complete {
			s.Incomplete++
		}
	}
	s.Identity = strings.Join(who, ", ")
	return s
}

// denied reports whether policy or an approver denied the call.
func denied(r *recorder.Record) bool {
	if r.Decision.Effect == "deny" {
		return true
	}
	for _, v := range r.Decision.Votes {
		if !v.Approve {
			return true
		}
	}
	return false
}

// mountRecords serves the records API on the admin API.
func mountRecords(api *approval.Server, src recordSource, log *slog.Logger) {
	h := func(name string, fn func(r *http.Request) (any, error)) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// A search over a large store or a verify outlasts the admin
			// API's write timeout, which is sized for approvals.
			_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(recordsTimeout))
			p, _ := approval.PrincipalFrom(r.Context())
			log.Info("records read", "endpoint", name, "by", p.Issuer+" "+p.Subject, "query", r.URL.RawQuery, "id", r.PathValue("id"))
			v, err := fn(r)
			if err != nil {
				writeRecordsError(w, log, name, err)
				return
			}
			b, err := json.Marshal(v)
			if err != nil {
				writeRecordsError(w, log, name, err)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Write(append(b, '\n'))
		})
	}
	intParam := func(r *http.Request, name string) (int, error) {
		v := r.URL.Query().Get(name)
		if v == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, fmt.Errorf("%w: %s=%q is not a number", errBadQuery, name, v)
		}
		return n, nil
	}
	bodies := func(r *http.Request) bool { return r.URL.Query().Get("bodies") != "false" }
	api.Handle("GET /v1/records", h("search", func(r *http.Request) (any, error) {
		limit, err := intParam(r, "limit")
		if err != nil {
			return nil, err
		}
		return src.Search(r.Context(), r.URL.Query().Get("q"), limit, bodies(r))
	}))
	api.Handle("GET /v1/records/{id}", h("record", func(r *http.Request) (any, error) {
		return src.Record(r.Context(), r.PathValue("id"))
	}))
	api.Handle("GET /v1/sessions", h("sessions", func(r *http.Request) (any, error) {
		limit, err := intParam(r, "limit")
		if err != nil {
			return nil, err
		}
		ss, err := src.Sessions(r.Context(), r.URL.Query().Get("q"), r.URL.Query().Get("since"), limit)
		return sessionList{Sessions: ss}, err
	}))
	api.Handle("GET /v1/sessions/{id}", h("session", func(r *http.Request) (any, error) {
		return src.Session(r.Context(), r.PathValue("id"), bodies(r))
	}))
	api.Handle("GET /v1/audit/verify", h("verify", func(r *http.Request) (any, error) {
		return src.Verify(r.Context())
	}))
}

type sessionList struct {
	Sessions []sessionSummary `json:"sessions"`
}

// recordsTimeout bounds one records request, both ends.
const recordsTimeout = 10 * time.Minute

func writeRecordsError(w http.ResponseWriter, log *slog.Logger, name string, err error) {
	status, msg := http.StatusInternalServerError, "reading the records failed; the gateway's log has the reason"
	switch {
	case errors.Is(err, errBadQuery):
		status, msg = http.StatusBadRequest, err.Error()
	case errors.Is(err, recorder.ErrNotFound):
		status, msg = http.StatusNotFound, err.Error()
	case errors.Is(err, recorder.ErrUnavailable):
		status, msg = http.StatusServiceUnavailable, "the record store is unavailable; the gateway's log has the reason"
	}
	if status >= 500 {
		log.Error("records API", "endpoint", name, "err", err)
	}
	b, _ := json.Marshal(map[string]string{"error": msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// apiRecords reads the records through a gateway's admin API.
type apiRecords struct {
	c     *approval.Client
	where string // the socket or URL, for errors
}

func (a apiRecords) Close() error { return nil }

func (a apiRecords) get(ctx context.Context, path string, out any) error {
	err := a.c.GetJSON(ctx, path, out)
	var ae *approval.APIError
	if !errors.As(err, &ae) {
		if err != nil {
			return fmt.Errorf("records from the gateway at %s: %w", a.where, err)
		}
		return nil
	}
	switch ae.StatusCode {
	case http.StatusBadRequest:
		return fmt.Errorf("%s: %w", ae.Message, errBadQuery)
	case http.StatusNotFound:
		if ae.Message == "no such endpoint" {
			return fmt.Errorf("the gateway at %s has no records API (%s): it runs an older gatehouse; upgrade and restart it", a.where, path)
		}
		return fmt.Errorf("%s: %w", ae.Message, recorder.ErrNotFound)
	case http.StatusUnauthorized:
		return fmt.Errorf("the gateway at %s did not accept the token (%s): put a fresh OIDC token in --token-file", a.where, ae.Message)
	case http.StatusForbidden:
		return fmt.Errorf("the gateway at %s refused (%s): reading records takes root on the gateway's socket, or a token of someone in approvals.approver_groups", a.where, ae.Message)
	}
	return fmt.Errorf("records from the gateway at %s: %w", a.where, err)
}

func (a apiRecords) Search(ctx context.Context, query string, limit int, bodies bool) (searchResult, error) {
	v := url.Values{"q": {query}, "limit": {strconv.Itoa(limit)}}
	if !bodies {
		v.Set("bodies", "false")
	}
	var out searchResult
	return out, a.get(ctx, "/v1/records?"+v.Encode(), &out)
}

func (a apiRecords) Sessions(ctx context.Context, query, since string, limit int) ([]sessionSummary, error) {
	v := url.Values{"q": {query}, "since": {since}, "limit": {strconv.Itoa(limit)}}
	var out sessionList
	return out.Sessions, a.get(ctx, "/v1/sessions?"+v.Encode(), &out)
}

func (a apiRecords) Session(ctx context.Context, id string, bodies bool) (sessionDetail, error) {
	path := "/v1/sessions/" + url.PathEscape(id)
	if !bodies {
		path += "?bodies=false"
	}
	var out sessionDetail
	return out, a.get(ctx, path, &out)
}

func (a apiRecords) Record(ctx context.Context, id string) (*recorder.Record, error) {
	var out recorder.Record
	if err := a.get(ctx, "/v1/records/"+url.PathEscape(id), &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (a apiRecords) Verify(ctx context.Context) (auditReport, error) {
	var out auditReport
	return out, a.get(ctx, "/v1/audit/verify", &out)
}

// adminFlags are how a command reaches the gateway's admin API: its unix
// socket as root by default, or --server over HTTPS with an approver's
// token.
type adminFlags struct {
	server, tokenFile, caFile string
}

func (a *adminFlags) register(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&a.server, "server", "", "admin API, https://gateway:9443 (default: the gateway's unix socket, as root)")
	f.StringVar(&a.tokenFile, "token-file", "", "the approver's OIDC token (with --server)")
	f.StringVar(&a.caFile, "ca-file", "", "CA bundle for the admin API's certificate (with --server)")
}

// client is the admin API's client: --server's, else the configured
// gateway's socket.
func (a *adminFlags) client(g *globalFlags, timeout time.Duration) (*approval.Client, error) {
	if a.server != "" {
		return a.remote(timeout)
	}
	cfg, err := g.load()
	if err != nil {
		return nil, err
	}
	c := approval.UnixClient(cfg.Approvals.Socket)
	c.HTTPClient.Timeout = timeout
	return c, nil
}

func (a *adminFlags) remote(timeout time.Duration) (*approval.Client, error) {
	c := &approval.Client{BaseURL: a.server}
	if a.tokenFile != "" {
		b, err := os.ReadFile(a.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("read --token-file: %w", err)
		}
		c.Token = strings.TrimSpace(string(b))
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if a.caFile != "" {
		pem, err := os.ReadFile(a.caFile)
		if err != nil {
			return nil, fmt.Errorf("read --ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s: no PEM certificates", a.caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	c.HTTPClient = &http.Client{Timeout: timeout, Transport: tr}
	return c, nil
}

// records reaches the records: the admin API at --server, else the
// gateway's socket, else, when no gateway answers there, the store itself,
// read-only.
func (a *adminFlags) records(g *globalFlags) (recordSource, error) {
	if a.server != "" {
		c, err := a.remote(recordsTimeout)
		if err != nil {
			return nil, err
		}
		c.MaxResponse = 1 << 30
		return apiRecords{c: c, where: a.server}, nil
	}
	cfg, err := g.load()
	if err != nil {
		return nil, err
	}
	sock := cfg.Approvals.Socket
	conn, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err == nil {
		conn.Close()
		c := approval.UnixClient(sock)
		c.HTTPClient.Timeout = recordsTimeout
		c.MaxResponse = 1 << 30
		return apiRecords{c: c, where: sock}, nil
	}
	if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reach the gateway's admin socket: %w (run as root on the gateway, or use --server with --token-file)", err)
	}
	s, err := openRecorder(cfg, true)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no gateway answers on %s, and %w: give the gateway's config (-c) or --data-dir", sock, err)
		}
		return nil, fmt.Errorf("no gateway answers on %s, and the store could not be read: %w", sock, err)
	}
	return &storeRecords{store: s, now: time.Now, owned: true}, nil
}
