package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/gatehouse/gatehouse/policy/approval"
	"github.com/gatehouse/gatehouse/recorder"
)

// recordsFixture is a store as serve leaves it: an allowed call and a
// denied one on one connection, a held call an approver let through (its
// response binary and capped) and a call cut off before its completion on
// another, and a connection refused before any request.
type recordsFixture struct {
	dir   string // data dir
	cfg   *Config
	base  time.Time
	store *recorder.Store // open until close
}

func newRecordsFixture(t *testing.T) *recordsFixture {
	t.Helper()
	dir := t.TempDir()
	cfg := &Config{DataDir: dir}
	cfg.applyDefaults()
	s, err := openRecorder(cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	f := &recordsFixture{dir: dir, cfg: cfg, base: time.Now().Add(-time.Hour).Truncate(time.Millisecond), store: s}
	t.Cleanup(func() { f.close(t) })
	at := func(ms int) time.Time { return f.base.Add(time.Duration(ms) * time.Millisecond) }
	ctx := context.Background()
	agent := recorder.Identity{Issuer: "https://idp.test", Subject: "agent", Source: "oidc", Groups: []string{"agents"}, SourceAddr: "10.77.1.2:40000"}

	allow := &recorder.Record{
		ID: "c-allow", Session: "s-1", Kind: "call", Start: at(0), Identity: agent,
		Mode: "transparent", SNI: "s3.us-east-1.amazonaws.com", Dst: "10.77.2.2:443",
		Service: "s3", Region: "us-east-1", Method: "GET", Host: "s3.us-east-1.amazonaws.com", Path: "/data-1/report.json",
		Operation: "GetObject", Action: "s3:GetObject", Resources: []string{"arn:aws:s3:::data-1/report.json"},
		Decision: recorder.Decision{Effect: "allow", Rule: "agents-work"},
		Request:  recorder.Body{Headers: map[string][]string{"User-Agent": {"aws-cli/2"}}},
	}
	must(t, s.Intent(ctx, allow))
	must(t, s.Complete(ctx, "c-allow", func(r *recorder.Record) {
		r.UpstreamFirstByte, r.End = at(120), at(340)
		r.Verdict, r.Status, r.UpstreamRequestID = "forwarded", 200, "REQ-1"
		r.Response = textBody(map[string][]string{"Content-Type": {"application/json"}}, "{\"rows\": 3}\n")
	}))
	must(t, s.Append(ctx, &recorder.Record{
		ID: "c-deny", Session: "s-1", Kind: "call", Start: at(1000), End: at(1010), Identity: agent,
		SNI: "s3.us-east-1.amazonaws.com", Service: "s3", Method: "DELETE", Host: "s3.us-east-1.amazonaws.com", Path: "/prod-logs",
		Operation: "DeleteBucket", Action: "s3:DeleteBucket", Resources: []string{"arn:aws:s3:::prod-logs"},
		Decision: recorder.Decision{Effect: "deny", Rule: "no-prod-deletes", Reason: "prod is not the agents'"},
		Verdict:  "refused", Status: 403, ErrorCode: "AccessDenied",
	}))
	held := &recorder.Record{
		ID: "c-held", Session: "s-2", Kind: "call", Start: at(2000), Identity: agent,
		SNI: "s3.us-east-1.amazonaws.com", Service: "s3", Method: "GET", Host: "s3.us-east-1.amazonaws.com", Path: "/data-2/blob.bin",
		Action: "s3:GetObject", Resources: []string{"arn:aws:s3:::data-2/blob.bin"},
		Decision: recorder.Decision{Effect: "approve", Rule: "blobs-need-a-human", ApprovalID: "ap-1",
			Votes: []recorder.Vote{{Approver: "https://idp.test alice", Approve: true, At: at(4000), Reason: "ticket 42"}}},
	}
	must(t, s.Intent(ctx, held))
	must(t, s.Complete(ctx, "c-held", func(r *recorder.Record) {
		r.UpstreamFirstByte, r.End = at(4100), at(5500)
		r.Verdict, r.Status = "forwarded", 200
		whole := make([]byte, 10000)
		for i := range whole {
			whole[i] = byte(i)
		}
		sum := sha256.Sum256(whole)
		r.Response = recorder.Body{Headers: map[string][]string{"Content-Type": {"application/octet-stream"}},
			Data: whole[:600], Truncated: true, Size: int64(len(whole)), SHA256: hex.EncodeToString(sum[:])}
	}))
	must(t, s.Append(ctx, &recorder.Record{
		ID: "s-3", Session: "s-3", Kind: "connection", Start: at(3000), End: at(3001),
		SNI: "exfil.example.com", Dst: "203.0.113.9:443", Identity: recorder.Identity{SourceAddr: "10.77.1.2:40001"},
		Verdict: "refused", ErrorCode: "ConnectionRefused",
	}))
	must(t, s.Intent(ctx, &recorder.Record{
		ID: "c-open", Session: "s-2", Kind: "call", Start: at(6000), Identity: agent,
		Method: "PUT", Host: "s3.us-east-1.amazonaws.com", Path: "/data-2/out", Action: "s3:PutObject",
		Resources: []string{"arn:aws:s3:::data-2/out"}, Decision: recorder.Decision{Effect: "allow", Rule: "agents-work"},
	}))
	return f
}

func textBody(h map[string][]string, s string) recorder.Body {
	sum := sha256.Sum256([]byte(s))
	return recorder.Body{Headers: h, Data: []byte(s), Size: int64(len(s)), SHA256: hex.EncodeToString(sum[:])}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// close closes the store, as a stopped gateway leaves it.
func (f *recordsFixture) close(t *testing.T) {
	if f.store != nil {
		must(t, f.store.Close())
		f.store = nil
	}
}

// gatehouse runs the CLI with args and returns its stdout and stderr.
func gatehouse(args ...string) (stdout, stderr string, err error) {
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err = root.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

// checkRecordCommands runs every records command with the extra flags
// (how to reach the records) and checks what they print.
func checkRecordCommands(t *testing.T, f *recordsFixture, reach ...string) {
	t.Helper()
	run := func(t *testing.T, args ...string) string {
		t.Helper()
		out, errOut, err := gatehouse(append(args, reach...)...)
		if err != nil {
			t.Fatalf("gatehouse %s: %v\n%s", strings.Join(args, " "), err, errOut)
		}
		return out
	}
	contains := func(t *testing.T, out string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("output lacks %q:\n%s", w, out)
			}
		}
	}
	at := func(ms int) string { return f.base.Add(time.Duration(ms) * time.Millisecond).UTC().Format(stampLayout) }

	t.Run("sessions list", func(t *testing.T) {
		out := run(t, "sessions", "list")
		contains(t, out, "SESSION", "s-1", "s-2", "s-3", "agent", at(0), at(1010))
		if i1, i2, i3 := strings.Index(out, "s-1 "), strings.Index(out, "s-2 "), strings.Index(out, "s-3 "); !(i2 < i3 && i3 < i1) {
			t.Errorf("not newest first (s-2, s-3, s-1):\n%s", out)
		}
		var ss []sessionSummary
		must(t, json.Unmarshal([]byte(run(t, "sessions", "list", "--json")), &ss))
		want := map[string]sessionSummary{
			"s-1": {Calls: 2, Denied: 1},
			"s-2": {Calls: 2, Incomplete: 1},
			"s-3": {Refused: 1},
		}
		if len(ss) != 3 {
			t.Fatalf("sessions %+v", ss)
		}
		for _, s := range ss {
			w := want[s.ID]
			if s.Calls != w.Calls || s.Denied != w.Denied || s.Refused != w.Refused || s.Incomplete != w.Incomplete {
				t.Errorf("%s: %+v, want counts %+v", s.ID, s, w)
			}
		}
		if ss[0].ID != "s-2" || !ss[0].Last.Equal(f.base.Add(6*time.Second)) || ss[2].Identity != "agent" {
			t.Errorf("sessions %+v", ss)
		}
		if out := run(t, "sessions", "list", "--since", "1m", "--json"); strings.TrimSpace(out) != "[]" {
			t.Errorf("--since 1m: %s", out)
		}
		if out := run(t, "sessions", "list", "--limit", "1", "--json"); strings.Count(out, `"id"`) != 1 {
			t.Errorf("--limit 1: %s", out)
		}
	})

	t.Run("sessions search", func(t *testing.T) {
		out := run(t, "sessions", "search", "identity=agent action=s3:Delete* decision=deny since=2h resource=arn:aws:s3:::prod-*")
		contains(t, out, "TIME", "c-deny", "s3:DeleteBucket", "arn:aws:s3:::prod-logs", "deny (no-prod-deletes)", "refused 403 AccessDenied", at(1000))
		if strings.Contains(out, "c-allow") {
			t.Errorf("the allowed call matched a deny query:\n%s", out)
		}
		out = run(t, "sessions", "search", "identity=agent")
		contains(t, out, "c-allow", "c-held", "approved by https://idp.test alice", "c-open", "incomplete")
		if strings.Index(out, "c-allow") > strings.Index(out, "c-open") {
			t.Errorf("not oldest first:\n%s", out)
		}
		var res searchResult
		must(t, json.Unmarshal([]byte(run(t, "sessions", "search", "identity=agent", "--limit", "2", "--json")), &res))
		if len(res.Records) != 2 || !res.More || res.Records[0].ID != "c-held" || res.Records[1].ID != "c-open" {
			t.Errorf("--limit 2 keeps the newest two, oldest first: %+v", res)
		}
		if string(res.Records[0].Response.Data[:3]) != "\x00\x01\x02" {
			t.Errorf("--json lacks the bodies: %+v", res.Records[0].Response)
		}
		_, _, err := gatehouse(append([]string{"sessions", "search", "colour=blue"}, reach...)...)
		if err == nil || !errors.Is(err, errBadQuery) || !strings.Contains(err.Error(), "key=value") {
			t.Errorf("a bad query: %v", err)
		}
	})

	t.Run("sessions show", func(t *testing.T) {
		out := run(t, "sessions", "show", "c-allow")
		contains(t, out, "c-allow", "s-1", "agents-work", "REQ-1", "+120ms", "+340ms", "User-Agent: aws-cli/2",
			"Content-Type: application/json", `  {"rows": 3}`, "response body: 12 bytes, sha256 ")
		out = run(t, "sessions", "show", "c-held")
		contains(t, out, "approved https://idp.test alice at "+at(4000)+`: "ticket 42"`, "ap-1",
			"response body: 10000 bytes, sha256 ", "truncated: the first 600 bytes were kept",
			"00000000  00 01 02 03", "88 more bytes kept: --json has them all (base64)")
		var r recorder.Record
		must(t, json.Unmarshal([]byte(run(t, "sessions", "show", "c-held", "--json")), &r))
		if len(r.Response.Data) != 600 || r.Response.Size != 10000 || !r.Response.Truncated || len(r.Decision.Votes) != 1 {
			t.Errorf("show --json: %+v", r)
		}
		_, _, err := gatehouse(append([]string{"sessions", "show", "nope"}, reach...)...)
		if err == nil || !strings.Contains(err.Error(), "no call nope") || !strings.Contains(err.Error(), "sessions replay") {
			t.Errorf("a missing id: %v", err)
		}
	})

	t.Run("sessions replay", func(t *testing.T) {
		out := run(t, "sessions", "replay", "s-1")
		contains(t, out, "session s-1", "2 calls, 1 denied", "+0.000s  c-allow  GET s3.us-east-1.amazonaws.com/data-1/report.json",
			"allow (agents-work) → 200  first byte 120ms  total 340ms", "(gap 660ms)",
			"+1.000s  c-deny  DELETE", "deny (no-prod-deletes) → refused 403 AccessDenied")
		out = run(t, "sessions", "replay", "s-2")
		contains(t, out, "c-held", "first byte 2.1s  total 3.5s", "(gap 500ms)", "c-open", "incomplete  first byte -  total -")
		var tl timeline
		must(t, json.Unmarshal([]byte(run(t, "sessions", "replay", "s-1", "--json")), &tl))
		if len(tl.Steps) != 2 || tl.Steps[0].GapMS != nil || *tl.Steps[1].GapMS != 660 || *tl.Steps[0].FirstByteMS != 120 || tl.Steps[1].OffsetMS != 1000 {
			t.Errorf("replay --json: %+v", tl)
		}
		_, _, err := gatehouse(append([]string{"sessions", "replay", "s-9"}, reach...)...)
		if err == nil || !strings.Contains(err.Error(), "sessions list") {
			t.Errorf("a missing session: %v", err)
		}
	})

	t.Run("audit verify", func(t *testing.T) {
		out := run(t, "audit", "verify")
		contains(t, out, "entries", "problems     0")
		var rep auditReport
		must(t, json.Unmarshal([]byte(run(t, "audit", "verify", "--json")), &rep))
		if !rep.OK || rep.Entries != 7 || !rep.Signed || len(rep.Problems) != 0 {
			t.Errorf("verify --json: %+v", rep)
		}
	})

	t.Run("export", func(t *testing.T) {
		har := filepath.Join(t.TempDir(), "s-1.har")
		run(t, "export", "har", "--session", "s-1", "-o", har)
		var doc struct {
			Log struct {
				Entries []struct {
					Request struct{ Method string } `json:"request"`
				} `json:"entries"`
			} `json:"log"`
		}
		b, err := os.ReadFile(har)
		must(t, err)
		must(t, json.Unmarshal(b, &doc))
		if len(doc.Log.Entries) != 2 || doc.Log.Entries[1].Request.Method != "DELETE" {
			t.Errorf("har: %s", b)
		}
		pcap := filepath.Join(t.TempDir(), "agent.pcapng")
		run(t, "export", "pcapng", "identity=agent", "-o", pcap)
		b, err = os.ReadFile(pcap)
		must(t, err)
		if len(b) < 4 || binary.LittleEndian.Uint32(b) != 0x0A0D0D0A {
			t.Errorf("pcapng starts % x", b[:min(len(b), 8)])
		}
		if _, _, err := gatehouse(append([]string{"export", "har", "-o", har}, reach...)...); err == nil || !strings.Contains(err.Error(), "--session") {
			t.Errorf("export without calls: %v", err)
		}
	})
}

// With no gateway the CLI reads the store itself, read-only.
func TestRecordCommandsReadTheStoreWithoutAGateway(t *testing.T) {
	f := newRecordsFixture(t)
	f.close(t)
	checkRecordCommands(t, f, "--data-dir", f.dir)
}

// While a gateway holds the store, the CLI asks it over the admin socket;
// opening the store itself would fail on Badger's lock.
func TestRecordCommandsThroughTheAdminSocket(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the admin socket is root's: run as root")
	}
	f := newRecordsFixture(t)
	api := newAdminAPI(t, f, nil, nil)
	serveAdmin(t, func(ctx context.Context) error { return api.ServeUnix(ctx, f.cfg.Approvals.Socket) })
	waitFor(t, func() error {
		c, err := net.Dial("unix", f.cfg.Approvals.Socket)
		if err == nil {
			c.Close()
		}
		return err
	})
	checkRecordCommands(t, f, "--data-dir", f.dir)
}

// Over HTTPS with --server, an approver's token reads the records and
// anyone else's is refused with what to do.
func TestRecordCommandsOverHTTPS(t *testing.T) {
	f := newRecordsFixture(t)
	api := newAdminAPI(t, f, tokenAuth{
		"alice-token": {Issuer: "https://idp.test", Subject: "alice", Groups: []string{"admins"}},
		"eve-token":   {Issuer: "https://idp.test", Subject: "eve", Groups: []string{"developers"}},
	}, []string{"admins"})
	cfg, caFile := selfSigned(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	serveAdmin(t, func(ctx context.Context) error { return api.ServeTLS(ctx, ln, cfg) })
	dir := t.TempDir()
	token := func(name string) string {
		p := filepath.Join(dir, name)
		must(t, os.WriteFile(p, []byte(name+"\n"), 0o600))
		return p
	}
	server := "https://" + ln.Addr().String()
	// --data-dir points nowhere: everything comes from --server.
	checkRecordCommands(t, f, "--data-dir", t.TempDir(), "--server", server, "--ca-file", caFile, "--token-file", token("alice-token"))

	_, _, err = gatehouse("sessions", "list", "--server", server, "--ca-file", caFile, "--token-file", token("eve-token"))
	if err == nil || !strings.Contains(err.Error(), "approvals.approver_groups") {
		t.Errorf("a non-approver: %v", err)
	}
	_, _, err = gatehouse("audit", "verify", "--server", server, "--ca-file", caFile)
	if err == nil || !strings.Contains(err.Error(), "--token-file") {
		t.Errorf("no token: %v", err)
	}
}

type tokenAuth map[string]approval.Principal

func (a tokenAuth) Authenticate(_ context.Context, token string) (approval.Principal, error) {
	p, ok := a[token]
	if !ok {
		return approval.Principal{}, errors.New("unknown token")
	}
	return p, nil
}

// newAdminAPI is the admin API as serve builds it, with the records API
// on f's open store.
func newAdminAPI(t *testing.T, f *recordsFixture, auth approval.Authenticator, groups []string) *approval.Server {
	t.Helper()
	held, err := approval.Open(approval.Options{Dir: filepath.Join(f.dir, "approvals")})
	must(t, err)
	t.Cleanup(func() { held.Close() })
	api := approval.NewServer(held, auth, groups)
	mountRecords(api, &storeRecords{store: f.store, now: time.Now}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return api
}

// serveAdmin runs serve until the test ends.
func serveAdmin(t *testing.T, serve func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("admin API: %v", err)
		}
	})
}

func waitFor(t *testing.T, ok func() error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := ok()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// selfSigned is a TLS config for 127.0.0.1 and the PEM file of its
// certificate, made here.
func selfSigned(t *testing.T) (*tls.Config, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "admin API test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	p := filepath.Join(t.TempDir(), "admin-ca.pem")
	must(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, p
}

// An entry changed in Badger behind the store's back fails audit verify,
// which names its seq and its record.
func TestAuditVerifyNamesAChangedRecord(t *testing.T) {
	f := newRecordsFixture(t)
	r, err := f.store.Get("c-deny")
	must(t, err)
	f.close(t)

	db, err := badger.Open(badger.DefaultOptions(f.cfg.Recorder.Dir).WithLogger(nil))
	must(t, err)
	key := binary.BigEndian.AppendUint64([]byte("e/"), r.Seq)
	must(t, db.Update(func(txn *badger.Txn) error {
		it, err := txn.Get(key)
		if err != nil {
			return err
		}
		v, err := it.ValueCopy(nil)
		if err != nil {
			return err
		}
		changed := bytes.Replace(v, []byte(`"status":403`), []byte(`"status":200`), 1)
		if bytes.Equal(changed, v) {
			return errors.New("no status in the entry")
		}
		return txn.Set(key, changed)
	}))
	must(t, db.Close())

	out, _, err := gatehouse("audit", "verify", "--data-dir", f.dir)
	if err == nil || !strings.Contains(err.Error(), "1 problem:") {
		t.Fatalf("verify of a changed store: %v\n%s", err, out)
	}
	if !strings.Contains(out, "problems     1") || !strings.Contains(out, "changed") || !strings.Contains(out, "c-deny") ||
		!strings.Contains(out, "\n"+strconv.FormatUint(r.Seq, 10)+" ") {
		t.Errorf("the problem does not name seq %d and c-deny:\n%s", r.Seq, out)
	}
	out, _, err = gatehouse("audit", "verify", "--json", "--data-dir", f.dir)
	var rep auditReport
	if err == nil || json.Unmarshal([]byte(out), &rep) != nil {
		t.Fatalf("verify --json: %v\n%s", err, out)
	}
	if rep.OK || len(rep.Problems) != 1 || rep.Problems[0].Seq != r.Seq || rep.Problems[0].Kind != recorder.Changed || rep.Problems[0].Record != "c-deny" {
		t.Errorf("verify --json: %+v", rep)
	}
}

// A deleted entry is named by the call whose pointer still leads to it, and
// two swapped entries each by their own call.
func TestAuditVerifyNamesDeletedAndReorderedRecords(t *testing.T) {
	f := newRecordsFixture(t)
	del, err := f.store.Get("c-deny")
	must(t, err)
	a, err := f.store.Get("c-allow")
	must(t, err)
	b, err := f.store.Get("c-held")
	must(t, err)
	f.close(t)

	db, err := badger.Open(badger.DefaultOptions(f.cfg.Recorder.Dir).WithLogger(nil))
	must(t, err)
	key := func(seq uint64) []byte { return binary.BigEndian.AppendUint64([]byte("e/"), seq) }
	must(t, db.Update(func(txn *badger.Txn) error {
		va, err := get(txn, key(a.Seq))
		if err != nil {
			return err
		}
		vb, err := get(txn, key(b.Seq))
		if err != nil {
			return err
		}
		if err := txn.Set(key(a.Seq), vb); err != nil {
			return err
		}
		if err := txn.Set(key(b.Seq), va); err != nil {
			return err
		}
		return txn.Delete(key(del.Seq))
	}))
	must(t, db.Close())

	out, _, err := gatehouse("audit", "verify", "--json", "--data-dir", f.dir)
	var rep auditReport
	if err == nil || json.Unmarshal([]byte(out), &rep) != nil {
		t.Fatalf("verify --json: %v\n%s", err, out)
	}
	named := map[string]string{} // kind/seq -> record
	for _, p := range rep.Problems {
		named[p.Kind+"/"+strconv.FormatUint(p.Seq, 10)] = p.Record
	}
	for want, id := range map[string]string{
		recorder.Missing + "/" + strconv.FormatUint(del.Seq, 10): "c-deny",
		recorder.Reordered + "/" + strconv.FormatUint(a.Seq, 10): "c-held",
		recorder.Reordered + "/" + strconv.FormatUint(b.Seq, 10): "c-allow",
	} {
		if named[want] != id {
			t.Errorf("%s: named %q, want %q; report %+v", want, named[want], id, rep.Problems)
		}
	}
}

func get(txn *badger.Txn, k []byte) ([]byte, error) {
	it, err := txn.Get(k)
	if err != nil {
		return nil, err
	}
	return it.ValueCopy(nil)
}
