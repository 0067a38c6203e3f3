package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	badger "github.com/dgraph-io/badger/v4"

	"github.com/gatehouse/gatehouse/deploy/lab"
	"github.com/gatehouse/gatehouse/recorder"
)

// The recorder's tests run after the workloads (files run in name order).

var (
	recordsDir = filepath.Join(outDir, "gw/records")
	streamBin  = filepath.Join(outDir, "bin/gostream")
)

// withStore stops the gateway, opens its store read-only for fn, and
// starts the gateway again (also when fn fails the test).
func withStore(t *testing.T, dir string, fn func(s *recorder.Store)) {
	t.Helper()
	if err := lab.Script(repoRoot, "gw.sh", "stop"); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := lab.Script(repoRoot, "gw.sh", "start"); err != nil {
			t.Error(err)
		}
	}()
	s, err := recorder.Open(recorder.Options{Dir: dir, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fn(s)
}

func search(t *testing.T, s *recorder.Store, q recorder.Query) []*recorder.Record {
	t.Helper()
	if q.Limit == 0 {
		q.Limit = 1 << 20
	}
	rs, err := s.Search(q)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// After the workloads, every call Gatehouse logged is in the store, found
// by its identity, action, resources and decision (denied and held calls
// included), and nothing in the store holds a credential, signature or
// token of the lab.
func TestRecordsFindEveryCall(t *testing.T) {
	type logged struct{ id, subject, action, decision, verdict string }
	var calls []logged
	conns := map[string]string{}
	for _, l := range linesSince(t, 0) {
		switch l.str("msg") {
		case "request":
			c := logged{id: l.str("id"), action: l.str("action"), decision: l.str("decision"), verdict: l.str("verdict")}
			if id := l.str("identity"); id != "" {
				_, c.subject, _ = strings.Cut(id, "#")
			}
			calls = append(calls, c)
		case "connection":
			if v := l.str("verdict"); v != "intercepted" {
				conns[l.str("conn")] = v
			}
		}
	}
	count := func(pred func(logged) bool) (n int) {
		for _, c := range calls {
			if pred(c) {
				n++
			}
		}
		return n
	}
	if count(func(c logged) bool { return c.decision == "deny" }) == 0 || count(func(c logged) bool { return c.decision == "approve" }) == 0 {
		t.Fatal("the log holds no denied or no held call: this test ran before the workloads")
	}
	// The CLI, through the running gateway's admin socket: the issue's
	// query, and show of a denied call, which holds the refusal body and no
	// credential.
	var res struct {
		Records []*recorder.Record `json:"records"`
	}
	out := run(t, gatehouse, "-c", filepath.Join(outDir, "gatehouse.yaml"), "sessions", "search", "--json", "--limit", "-1",
		"identity=agent-1 action=s3:Delete* decision=deny since=1h resource=arn:aws:s3:::prod-*")
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("sessions search --json: %v\n%s", err, out)
	}
	if len(res.Records) == 0 {
		t.Fatal("sessions search found no denied delete of a prod- bucket by agent-1")
	}
	denied := res.Records[0]
	for _, r := range res.Records {
		if r.Identity.Subject != "agent-1" || !strings.HasPrefix(r.Action, "s3:Delete") || r.Decision.Effect != "deny" {
			t.Errorf("search returned %s %s %s", r.Identity.Subject, r.Action, r.Decision.Effect)
		}
	}
	show := run(t, gatehouse, "-c", filepath.Join(outDir, "gatehouse.yaml"), "sessions", "show", denied.ID)
	mustContainAll(t, show, denied.ID, "AccessDenied", "no-prod-bucket-deletes", "s3:DeleteBucket")
	checkNoSecrets(t, "sessions show "+denied.ID, []byte(show))

	withStore(t, recordsDir, func(s *recorder.Store) {
		all := map[string]*recorder.Record{}
		for _, r := range search(t, s, recorder.Query{}) {
			all[r.ID] = r
		}
		for _, c := range calls {
			r := all[c.id]
			if r == nil {
				t.Errorf("call %s (%s %s) is not in the store", c.id, c.action, c.verdict)
				continue
			}
			if !r.Complete || r.Verdict != c.verdict || r.Action != c.action || r.Decision.Effect != c.decision || r.Identity.Subject != c.subject {
				t.Errorf("call %s: logged %+v, recorded complete=%v verdict=%s action=%s decision=%s subject=%s", c.id, c, r.Complete, r.Verdict, r.Action, r.Decision.Effect, r.Identity.Subject)
			}
		}
		for id, verdict := range conns {
			if r := all[id]; r == nil || r.Kind != "connection" || r.Verdict != verdict {
				t.Errorf("connection %s (%s): recorded %+v", id, verdict, r)
			}
		}
		// Each index finds every call it should.
		found := func(q recorder.Query) map[string]bool {
			m := map[string]bool{}
			for _, r := range search(t, s, q) {
				m[r.ID] = true
			}
			return m
		}
		check := func(what string, q recorder.Query, want func(*recorder.Record) bool) {
			got := found(q)
			n := 0
			for id, r := range all {
				if want(r) {
					n++
					if !got[id] {
						t.Errorf("%s: %s (%s %v) not found", what, id, r.Action, r.Resources)
					}
				} else if got[id] {
					t.Errorf("%s: %s (%s %v) found but does not match", what, id, r.Action, r.Resources)
				}
			}
			if n == 0 {
				t.Errorf("%s: no call to find", what)
			}
		}
		for _, subject := range []string{"agent-1", "admin-1"} {
			check("identity="+subject, recorder.Query{Identity: subject}, func(r *recorder.Record) bool { return r.Identity.Subject == subject })
		}
		for _, d := range []string{"allow", "deny", "approve"} {
			check("decision="+d, recorder.Query{Decision: d}, func(r *recorder.Record) bool { return r.Decision.Effect == d })
		}
		for _, a := range []string{"s3:PutObject", "s3:DeleteObject", "s3:DeleteBucket", "s3:ListBucket"} {
			check("action="+a, recorder.Query{Action: a}, func(r *recorder.Record) bool { return r.Action == a })
		}
		check("action=s3:Delete*", recorder.Query{Action: "s3:Delete*"}, func(r *recorder.Record) bool { return strings.HasPrefix(r.Action, "s3:Delete") })
		check("resource=arn:aws:s3:::prod-*", recorder.Query{Resource: "arn:aws:s3:::prod-*"}, func(r *recorder.Record) bool {
			for _, res := range r.Resources {
				if strings.HasPrefix(res, "arn:aws:s3:::prod-") {
					return true
				}
			}
			return false
		})
		t.Logf("%d calls and %d connections logged; %d records", len(calls), len(conns), len(all))
	})
	scanStoreForSecrets(t, recordsDir)
}

// scanStoreForSecrets reads every key and value in the store, every version,
// through Badger, and the raw files besides: no token, secret, signature or
// session token of the lab anywhere.
func scanStoreForSecrets(t *testing.T, dir string) {
	t.Helper()
	scanStore(t, dir, func(where string, b []byte) { checkNoSecrets(t, where, b) })
}

// scanStore stops the gateway, hands check every key and value in the
// store (all versions, through Badger) and every raw file, and starts the
// gateway again.
func scanStore(t *testing.T, dir string, check func(where string, b []byte)) {
	t.Helper()
	if err := lab.Script(repoRoot, "gw.sh", "stop"); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := lab.Script(repoRoot, "gw.sh", "start"); err != nil {
			t.Error(err)
		}
	}()
	db, err := badger.Open(badger.DefaultOptions(dir).WithReadOnly(true).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = db.View(func(txn *badger.Txn) error {
		o := badger.DefaultIteratorOptions
		o.AllVersions = true
		it := txn.NewIterator(o)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			check("store key "+string(it.Item().Key()), append(it.Item().KeyCopy(nil), v...))
			n++
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		check("file "+filepath.Base(f), b)
	}
	t.Logf("scanned %d keys and %d files", n, len(files))
}

// Kill -9 of Gatehouse during a stream of calls: every call whose response
// reached the agent is in the store complete, every call that reached
// MinIO has at least its intent, and the restart reports the incomplete
// ones (here at least the upload still sending its body).
func TestRecordsSurviveKill9(t *testing.T) {
	build := exec.Command("go", "build", "-o", streamBin, "./e2e/clients/gostream")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build gostream: %v\n%s", err, out)
	}
	client := goS3(t)
	ctx := context.Background()
	const bucket = "rec-crash"
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil && !strings.Contains(err.Error(), "BucketAlready") {
		t.Fatal(err)
	}

	cmd := exec.Command("ip", "netns", "exec", lab.NSAgent, streamBin, "-bucket", bucket, "-workers", "4", "-slow", "2m")
	cmd.Env = agentEnv(t)
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var mu sync.Mutex
	answered := map[string]string{} // key -> upstream request id the agent saw
	slowStarted := false
	lines := make(chan struct{}, 1<<16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			mu.Lock()
			switch {
			case len(f) == 3 && f[0] == "ok":
				answered[f[1]] = f[2]
			case sc.Text() == "slow started":
				slowStarted = true
			}
			mu.Unlock()
			lines <- struct{}{}
		}
		close(lines)
	}()
	waitFor(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slowStarted && len(answered) >= 60
	}, "the stream to be under way")

	killedAt := logMark(t)
	if err := lab.Script(repoRoot, "gw.sh", "kill"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("the stream finished although the gateway was killed")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the stream went on for 30s after the gateway was killed")
	}
	for range lines { // drain what the agent printed before it stopped
	}
	mu.Lock()
	t.Logf("agent got %d answers before the kill; it stopped with: %s", len(answered), strings.TrimSpace(stderr.String()))
	mu.Unlock()

	if err := lab.Script(repoRoot, "gw.sh", "start"); err != nil {
		t.Fatal(err)
	}
	var reported []string
	for _, l := range linesSince(t, killedAt) {
		if strings.HasPrefix(l.str("msg"), "records left incomplete") {
			ids, _ := l["ids"].([]any)
			for _, id := range ids {
				reported = append(reported, id.(string))
			}
			if n, _ := l["count"].(float64); int(n) != len(ids) && len(ids) < 20 {
				t.Errorf("count %v but %d ids", n, len(ids))
			}
		}
	}
	if len(reported) == 0 {
		t.Fatal("the restart reported no incomplete record; the slow upload was in flight")
	}
	// What reached MinIO, listed through the restarted gateway.
	var stored []string
	p := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("stream/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			stored = append(stored, *o.Key)
		}
	}

	withStore(t, recordsDir, func(s *recorder.Store) {
		byKey := map[string]*recorder.Record{}
		for _, r := range search(t, s, recorder.Query{Resource: "arn:aws:s3:::" + bucket + "/stream/*", Action: "s3:PutObject"}) {
			byKey[strings.TrimPrefix(r.Resources[0], "arn:aws:s3:::"+bucket+"/")] = r
		}
		if len(byKey) == 0 {
			for _, q := range []recorder.Query{{Limit: 5}, {Action: "s3:PutObject", Limit: 5}, {Resource: "arn:aws:s3:::" + bucket + "/*", Limit: 5}} {
				for _, r := range search(t, s, q) {
					t.Logf("%+v: %s %s %v complete=%v", q, r.ID, r.Action, r.Resources, r.Complete)
				}
			}
		}
		mu.Lock()
		defer mu.Unlock()
		for key, reqID := range answered {
			r := byKey[key]
			switch {
			case r == nil:
				t.Errorf("%s: answered to the agent, no record", key)
			case !r.Complete || r.Verdict != "forwarded" || r.Status != 200 || r.UpstreamRequestID != reqID:
				t.Errorf("%s: answered (request id %s), record complete=%v status=%d request id %q", key, reqID, r.Complete, r.Status, r.UpstreamRequestID)
			}
		}
		for _, key := range stored {
			if byKey[key] == nil {
				t.Errorf("%s: reached MinIO without a record", key)
			}
		}
		// The restart closed what it reported: verdict interrupted.
		slow := byKey["stream/slow"]
		if slow == nil || slow.Verdict != "interrupted" || slow.ErrorCode != "GatewayInterrupted" {
			t.Fatalf("the upload in flight at the kill: %+v", slow)
		}
		if !slices.Contains(reported, slow.ID) {
			t.Errorf("the slow upload %s was not reported incomplete at restart", slow.ID)
		}
		for _, id := range reported {
			if r, err := s.Get(id); err != nil || r.Verdict != "interrupted" {
				t.Errorf("reported incomplete %s: %+v %v", id, r, err)
			}
		}
		if inc := s.Incomplete(); len(inc) != 0 {
			t.Errorf("still incomplete after the restart closed them: %v", inc)
		}
		t.Logf("%d answered, %d in MinIO, %d records, %d reported incomplete at restart", len(answered), len(stored), len(byKey), len(reported))
	})
}

// The store's filesystem full: calls are refused with an AWS error and none
// reaches MinIO; when space returns, calls go through again.
func TestStoreFullRefusesCalls(t *testing.T) {
	mnt := filepath.Join(outDir, "rec-tmpfs")
	if err := os.MkdirAll(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := lab.Script(repoRoot, "gw.sh", "stop"); err != nil {
		t.Fatal(err)
	}
	run(t, "mount", "-t", "tmpfs", "-o", "size=512m", "gatehouse-e2e", mnt)
	cfg, err := os.ReadFile(filepath.Join(outDir, "gatehouse.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(outDir, "gatehouse-tmpfs.yaml")
	cfg = append(cfg, []byte("recorder:\n  dir: "+mnt+"/records\n  min_free: 67108864\nmetrics:\n  listen: 127.0.0.1:9464\n")...)
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GATEHOUSE_CONFIG", cfgPath)
	t.Cleanup(func() {
		os.Unsetenv("GATEHOUSE_CONFIG")
		_ = lab.Script(repoRoot, "gw.sh", "stop")
		_ = exec.Command("umount", mnt).Run()
		if err := lab.Script(repoRoot, "gw.sh", "start"); err != nil {
			t.Error(err)
		}
	})
	if err := lab.Script(repoRoot, "gw.sh", "start"); err != nil {
		t.Fatal(err)
	}

	client := goS3(t)
	ctx := context.Background()
	const bucket = "rec-full"
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil && !strings.Contains(err.Error(), "BucketAlready") {
		t.Fatal(err)
	}
	put := func(key string) error {
		_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(key)},
			func(o *s3.Options) { o.RetryMaxAttempts = 1 })
		return err
	}
	if err := put("before"); err != nil {
		t.Fatal(err)
	}

	// Fill the filesystem to below the recorder's reserve.
	var st syscall.Statfs_t
	if err := syscall.Statfs(mnt, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	filler := filepath.Join(mnt, "filler")
	run(t, "fallocate", "-l", strconv.FormatInt(free-16<<20, 10), filler)

	counter := newMinioCounter(t)
	err = put("during")
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ServiceUnavailable" || !strings.Contains(ae.ErrorMessage(), "could not be recorded") {
		t.Fatalf("put with the store full: %v", err)
	}
	if n := counter.packets(); n != 0 {
		t.Fatalf("%d data segments reached MinIO with the store full", n)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := put("after"); err != nil {
		t.Fatalf("put after space returned: %v", err)
	}
	if _, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("during")}); err == nil {
		t.Fatal("the call refused with the store full reached MinIO")
	}
	metrics := run(t, "ip", "netns", "exec", lab.NSGW, "curl", "-sS", "http://127.0.0.1:9464/metrics")
	mustContainAll(t, metrics, `gatehouse_record_failures_total{stage="intent"} 1`)
}

// checkNoSecrets fails the test when b holds a secret of the lab or
// something shaped like a credential.
func checkNoSecrets(t *testing.T, where string, b []byte) {
	t.Helper()
	for what, s := range labSecrets(t) {
		if bytes.Contains(b, []byte(s)) {
			t.Errorf("%s holds %s", where, what)
		}
	}
	for what, re := range secretPatterns {
		if loc := re.FindIndex(b); loc != nil {
			t.Errorf("%s holds %s: %q", where, what, b[max(0, loc[0]-80):min(len(b), loc[1]+40)])
		}
	}
}

// A real session of the lab exported as HAR passes a HAR 1.2 validator,
// and as pcapng opens in tshark with every request listed.
func TestSessionExportsOpenInTools(t *testing.T) {
	cfg := filepath.Join(outDir, "gatehouse.yaml")
	var sessions []struct {
		ID    string `json:"id"`
		Calls int    `json:"calls"`
	}
	out := run(t, gatehouse, "-c", cfg, "sessions", "list", "--json", "--since", "0", "--limit", "1000")
	if err := json.Unmarshal([]byte(out), &sessions); err != nil {
		t.Fatalf("sessions list --json: %v\n%s", err, out)
	}
	// The busiest sessions: whole workloads' connections.
	sort.Slice(sessions, func(i, j int) bool { return sessions[i].Calls > sessions[j].Calls })
	if len(sessions) == 0 || sessions[0].Calls < 5 {
		t.Fatalf("no session with calls: %s", out)
	}
	for _, sess := range sessions[:min(len(sessions), 6)] {
		dir := t.TempDir()
		har, pcap := filepath.Join(dir, "s.har"), filepath.Join(dir, "s.pcapng")
		run(t, gatehouse, "-c", cfg, "export", "har", "--session", sess.ID, "-o", har)
		run(t, gatehouse, "-c", cfg, "export", "pcapng", "--session", sess.ID, "-o", pcap)
		if out, err := exec.Command("node", filepath.Join(repoRoot, "e2e/clients/js/har-validate.mjs"), har).CombinedOutput(); err != nil {
			t.Fatalf("har-validate: %v\n%s", err, out)
		}
		var h struct {
			Log struct {
				Entries []json.RawMessage `json:"entries"`
			} `json:"log"`
		}
		b, err := os.ReadFile(har)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &h); err != nil || len(h.Log.Entries) != sess.Calls {
			t.Fatalf("HAR has %d entries for %d calls (%v)", len(h.Log.Entries), sess.Calls, err)
		}
		checkNoSecrets(t, "the HAR export", b)
		listed, err := exec.Command("tshark", "-r", pcap, "-Y", "http.request", "-T", "fields", "-e", "frame.number", "-e", "http.request.method", "-e", "http.request.uri").Output()
		if err != nil {
			t.Fatalf("tshark -r: %v", err)
		}
		if reqs := strings.Split(strings.TrimSpace(string(listed)), "\n"); len(reqs) != sess.Calls {
			urls, _ := exec.Command("sh", "-c", "grep -o '\"url\": *\"[^\"]*' "+har).Output()
			t.Errorf("session %s: tshark lists %d requests for %d calls:\n%s\nHAR:\n%s", sess.ID, len(reqs), sess.Calls, listed, urls)
			continue
		}
		t.Logf("session %s: %d calls in HAR and pcapng", sess.ID, sess.Calls)
	}
}

// The lab's records exported to MinIO (a bucket with Object Lock) by the
// CLI while the gateway runs, killed mid-way and rerun: every entry once,
// manifests and signatures verify against the gateway's key, and the
// export reaches the store's head.
func TestExportToObjectLockBucketResumes(t *testing.T) {
	client := goS3(t)
	ctx := context.Background()
	const bucket = "rec-audit"
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket), ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil && !strings.Contains(err.Error(), "BucketAlready") {
		t.Fatal(err)
	}
	cfg := filepath.Join(outDir, "gatehouse.yaml")
	pub := filepath.Join(t.TempDir(), "recorder.pub")
	if err := os.WriteFile(pub, []byte(run(t, gatehouse, "-c", cfg, "audit", "public-key")), 0o644); err != nil {
		t.Fatal(err)
	}
	// As an operator on the gateway host would: its socket for the
	// records, this host's AWS credentials (MinIO's here) for the bucket.
	exportCmd := func(args ...string) *exec.Cmd {
		cmd := exec.Command("ip", append([]string{"netns", "exec", lab.NSGW, gatehouse, "-c", cfg, "export"}, args...)...)
		cmd.Env = operatorEnv(t)
		return cmd
	}
	target := []string{"--bucket", bucket, "--prefix", "gw-1", "--endpoint-url", "https://s3.us-east-1.amazonaws.com", "--path-style"}
	verify := func() (rep struct {
		Manifests, Objects int
		Entries, Last      uint64
		Pending            []string
		Problems           []any
		UntrustedKeyUsed   bool `json:"untrusted_key_used"`
	}, err error) {
		out, err := exportCmd(append([]string{"verify", "--json", "--public-key", pub}, target...)...).Output()
		if jerr := json.Unmarshal(out, &rep); jerr != nil {
			t.Fatalf("export verify --json: %v\n%s", jerr, out)
		}
		return rep, err
	}

	// About 50 batches, killed once two manifests are in the bucket.
	var audit struct{ Head uint64 }
	if err := json.Unmarshal([]byte(run(t, gatehouse, "-c", cfg, "audit", "verify", "--json")), &audit); err != nil {
		t.Fatal(err)
	}
	batch := strconv.FormatUint(max(5, audit.Head/50), 10)
	first := exportCmd(append([]string{"s3", "--object-lock-days", "1", "--batch-entries", batch}, target...)...)
	var stderr strings.Builder
	first.Stderr = &stderr
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		out, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("gw-1/manifests/")})
		return err == nil && len(out.Contents) >= 2
	}, "the export's second manifest")
	first.Process.Kill()
	first.Wait()
	cut, _ := verify()
	if err := json.Unmarshal([]byte(run(t, gatehouse, "-c", cfg, "audit", "verify", "--json")), &audit); err != nil {
		t.Fatal(err)
	}
	if cut.Last == 0 || cut.Last >= audit.Head {
		t.Fatalf("the first run was not cut mid-way (exported up to %d of %d); %s", cut.Last, audit.Head, stderr.String())
	}
	t.Logf("killed after %d of %d entries (%d manifests, %d pending objects)", cut.Last, audit.Head, cut.Manifests, len(cut.Pending))

	if out, err := exportCmd(append([]string{"s3", "--object-lock-days", "1", "--batch-entries", batch}, target...)...).CombinedOutput(); err != nil {
		t.Fatalf("rerun: %v\n%s", err, out)
	}
	rep, err := verify()
	if err != nil || len(rep.Problems) != 0 || rep.UntrustedKeyUsed || len(rep.Pending) != 0 {
		t.Fatalf("export verify after the rerun: %+v (%v)", rep, err)
	}
	if err := json.Unmarshal([]byte(run(t, gatehouse, "-c", cfg, "audit", "verify", "--json")), &audit); err != nil {
		t.Fatal(err)
	}
	if rep.Last != audit.Head || rep.Entries != audit.Head {
		t.Fatalf("export holds %d entries up to %d; the store's head is %d", rep.Entries, rep.Last, audit.Head)
	}
	t.Logf("%d entries in %d manifests, %d objects", rep.Entries, rep.Manifests, rep.Objects)
}

// serve with recorder.export copies the chain to S3 as it grows: calls made
// after the start are in the bucket within a pass, and the export verifies.
func TestServeExportsContinuously(t *testing.T) {
	client := goS3(t)
	ctx := context.Background()
	const bucket = "rec-continuous"
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil && !strings.Contains(err.Error(), "BucketAlready") {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(filepath.Join(outDir, "gatehouse.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(outDir, "gatehouse-export.yaml")
	cfg = append(cfg, []byte("recorder:\n  export:\n    bucket: "+bucket+"\n    prefix: gw-1\n    endpoint_url: https://s3.us-east-1.amazonaws.com\n    path_style: true\n    every: 10s\n")...)
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	restart := func() {
		t.Helper()
		if err := lab.Script(repoRoot, "gw.sh", "stop"); err != nil {
			t.Fatal(err)
		}
		if err := lab.Script(repoRoot, "gw.sh", "start"); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("GATEHOUSE_CONFIG", cfgPath)
	restart()
	t.Cleanup(func() {
		os.Unsetenv("GATEHOUSE_CONFIG")
		if err := lab.Script(repoRoot, "gw.sh", "stop"); err != nil {
			t.Error(err)
		}
		if err := lab.Script(repoRoot, "gw.sh", "start"); err != nil {
			t.Error(err)
		}
	})
	// A call after the start, so the second pass has something new.
	client = goS3(t)
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("after-start"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	var audit struct{ Head uint64 }
	if err := json.Unmarshal([]byte(run(t, gatehouse, "-c", cfgPath, "audit", "verify", "--json")), &audit); err != nil {
		t.Fatal(err)
	}
	env := operatorEnv(t)
	var rep struct {
		Last     uint64
		Problems []any
	}
	deadline := time.Now().Add(40 * time.Second)
	for {
		cmd := exec.Command("ip", "netns", "exec", lab.NSGW, gatehouse, "-c", cfgPath, "export", "verify", "--json",
			"--bucket", bucket, "--prefix", "gw-1", "--endpoint-url", "https://s3.us-east-1.amazonaws.com", "--path-style")
		cmd.Env = env
		out, _ := cmd.Output()
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatalf("export verify: %v\n%s", err, out)
		}
		if len(rep.Problems) != 0 {
			t.Fatalf("export verify: %s", out)
		}
		if rep.Last >= audit.Head || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	if rep.Last < audit.Head {
		t.Fatalf("after 40s the export reaches %d; the head was %d", rep.Last, audit.Head)
	}
	found := false
	for _, l := range linesSince(t, 0) {
		if l.str("msg") == "exported records to S3" && l.str("bucket") == bucket {
			found = true
		}
	}
	if !found {
		t.Fatal("the gateway logged no export pass")
	}
}

// operatorEnv is an operator's shell on the gateway host: this host's AWS
// credentials (MinIO's here) and trust in the lab's public CA, nothing else.
func operatorEnv(t *testing.T) []string {
	return []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), "AWS_ACCESS_KEY_ID=gatehouse-lab", "AWS_SECRET_ACCESS_KEY=gatehouse-lab-secret-1",
		"AWS_REGION=us-east-1", "AWS_CA_BUNDLE=" + filepath.Join(outDir, "pki/public-ca.pem")}
}
