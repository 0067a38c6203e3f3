package main

// The records workload: the recorder alone, in a temporary directory on
// this machine's disk, without the lab. Durable records (fsync on) written
// by 1, 16 and 64 concurrent callers as the gateway writes them, an intent
// then its completion; then indexed searches over a store of 1M synthetic
// records.

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	store "github.com/gatehouse/gatehouse/recorder"
)

// recordsConfig is what -records-* set.
type recordsConfig struct {
	dur     time.Duration // durable: measurement time per writer count
	writers []int         // durable: concurrent callers per run
	n       int           // search: records in the store
	runs    int           // search: runs of each query
}

// recordsSection is the title BENCHMARKS.md keeps the workload under.
const recordsSection = "## Recorder: durable records and indexed search"

func runRecords(ctx context.Context, cfg recordsConfig) (string, error) {
	dir, err := os.MkdirTemp("", "gatehouse-bench-records-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	var durable []durableRow
	for _, w := range cfg.writers {
		d := filepath.Join(dir, fmt.Sprintf("durable-%d", w))
		row, err := measureDurable(ctx, d, w, cfg.dur, key)
		os.RemoveAll(d)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(os.Stderr, "bench: records: %d writer(s): %.0f records/s, %.0f commits/s, %.0f fsyncs/s\n", w, row.rate(), row.commitRate(), row.syncRate())
		durable = append(durable, row)
	}
	g := newSynth(cfg.n)
	t0 := time.Now()
	searchDir := filepath.Join(dir, "search")
	built, err := g.build(ctx, searchDir, key)
	if err != nil {
		return "", err
	}
	built.took = time.Since(t0)
	built.bytes = dirBytes(searchDir)
	fmt.Fprintf(os.Stderr, "bench: records: %d records (%d entries) built in %s, %.1f GiB\n", cfg.n, built.entries, built.took.Round(time.Second), float64(built.bytes)/(1<<30))
	searches, err := g.measureSearch(ctx, searchDir, key, cfg.runs)
	if err != nil {
		return "", err
	}
	return renderRecords(cfg, fsName(dir), durable, built, searches), nil
}

// durableRow is one run of the durable phase.
type durableRow struct {
	writers          int
	records          int
	elapsed          time.Duration
	commits          int64
	syncs            int64
	intent, complete []time.Duration // sorted
	completion       int             // JSON bytes of one completion entry
}

func (r durableRow) rate() float64       { return float64(r.records) / r.elapsed.Seconds() }
func (r durableRow) commitRate() float64 { return float64(r.commits) / r.elapsed.Seconds() }
func (r durableRow) syncRate() float64   { return float64(r.syncs) / r.elapsed.Seconds() }

func pct(lat []time.Duration, p float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	return lat[min(len(lat)-1, int(float64(len(lat))*p))]
}

// durableBody is a 2 KiB body, the same in every record: bodies are
// stored as they come, so their content does not matter to the store.
var durableBody = func() []byte {
	b := make([]byte, 2048)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return b
}()

// measureDurable writes records for dur from writers concurrent callers,
// each an Intent, then its Complete, on a store with fsync on, signing
// its head at each commit as the gateway's store does.
func measureDurable(ctx context.Context, dir string, writers int, dur time.Duration, key ed25519.PrivateKey) (durableRow, error) {
	s, err := store.Open(store.Options{Dir: dir, CheckpointKey: key})
	if err != nil {
		return durableRow{}, err
	}
	defer s.Close()
	row := durableRow{writers: writers}
	sum := sha256.Sum256(durableBody)
	bodySum := hex.EncodeToString(sum[:])
	var mu sync.Mutex
	var firstErr error
	c0, s0 := s.Commits(), s.Syncs()
	start := time.Now()
	deadline := start.Add(dur)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			var in, done []time.Duration
			for i := 0; time.Now().Before(deadline); i++ {
				id := fmt.Sprintf("d%d-%d", w, i)
				r := &store.Record{
					ID: id, Kind: "call", Session: fmt.Sprintf("conn-%d", w), Start: time.Now(),
					Identity: store.Identity{Issuer: "https://idp.example", Subject: fmt.Sprintf("agent-%02d", w%50), Source: "oidc", Groups: []string{"agents"}, SourceAddr: "10.77.0.2:40000"},
					Mode:     "transparent", SNI: "bucket.s3.eu-west-1.amazonaws.com", Dst: "52.218.0.1:443",
					Service: "s3", Region: "eu-west-1", Method: "PUT", Host: "bucket.s3.eu-west-1.amazonaws.com",
					Path: fmt.Sprintf("/data/%d/%d.json", w, i), Operation: "PutObject", Action: "s3:PutObject",
					Resources: []string{fmt.Sprintf("arn:aws:s3:::bucket/data/%d/%d.json", w, i)},
					Decision:  store.Decision{Effect: "allow", Rule: "agents-write-data", Reason: "rule agents-write-data allows s3:PutObject"},
					Request: store.Body{
						Headers: map[string][]string{"Content-Type": {"application/json"}, "Content-Length": {"2048"}, "User-Agent": {"aws-sdk-go-v2/1.36.0"}},
						Data:    durableBody, Size: int64(len(durableBody)), SHA256: bodySum,
					},
				}
				t0 := time.Now()
				if err := s.Intent(ctx, r); err != nil {
					mu.Lock()
					firstErr = cmp(firstErr, err)
					mu.Unlock()
					return
				}
				t1 := time.Now()
				err := s.Complete(ctx, id, func(r *store.Record) {
					r.End, r.UpstreamFirstByte = time.Now(), time.Now()
					r.UpstreamRequestID, r.UpstreamID2 = "REQ"+id, "id2/"+id
					r.Verdict, r.Status, r.BytesIn, r.BytesOut = "forwarded", 200, 2048, 2048
					r.Response = store.Body{Headers: map[string][]string{"Etag": {`"` + bodySum[:32] + `"`}}, Data: durableBody, Size: int64(len(durableBody)), SHA256: bodySum}
				})
				if err != nil {
					mu.Lock()
					firstErr = cmp(firstErr, err)
					mu.Unlock()
					return
				}
				in, done = append(in, t1.Sub(t0)), append(done, time.Since(t1))
			}
			mu.Lock()
			row.intent, row.complete = append(row.intent, in...), append(row.complete, done...)
			mu.Unlock()
		})
	}
	wg.Wait()
	row.elapsed = time.Since(start)
	row.commits = s.Commits() - c0
	row.syncs = s.Syncs() - s0
	if firstErr != nil {
		return row, fmt.Errorf("records, %d writers: %w", writers, firstErr)
	}
	row.records = len(row.complete)
	slices.Sort(row.intent)
	slices.Sort(row.complete)
	if r, err := s.Get("d0-0"); err == nil {
		b, _ := json.Marshal(r)
		row.completion = len(b)
	}
	return row, nil
}

func cmp(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// synth makes the search store's records: spread evenly over the 7 days
// before now, 50 identities, 200 actions over ten services (70% of calls
// S3), S3 objects in 1000 buckets (prod-, staging-, dev-), 5% denied.
type synth struct {
	n        int
	now      time.Time
	span     time.Duration
	s3       []string
	other    []serviceActions
	buckets  []string
	mu       sync.Mutex
	requests []string // request ids kept for the exact-id query
}

type serviceActions struct {
	service, kind string
	actions       []string
}

func newSynth(n int) *synth {
	g := &synth{n: n, now: time.Now().UTC().Truncate(time.Second), span: 7 * 24 * time.Hour}
	for _, noun := range []string{"Object", "Bucket", "ObjectAcl", "ObjectTagging", "ObjectVersion", "ObjectRetention",
		"ObjectLegalHold", "BucketPolicy", "BucketAcl", "BucketTagging", "BucketVersioning", "BucketCORS", "BucketWebsite",
		"BucketLogging", "BucketNotification", "LifecycleConfiguration", "ReplicationConfiguration", "EncryptionConfiguration",
		"BucketOwnershipControls", "BucketPublicAccessBlock", "AccelerateConfiguration", "AnalyticsConfiguration",
		"InventoryConfiguration", "MetricsConfiguration", "IntelligentTieringConfiguration"} {
		for _, verb := range []string{"Get", "Put", "List", "Delete"} {
			g.s3 = append(g.s3, "s3:"+verb+noun)
		}
	}
	for _, sv := range []struct {
		service, kind string
		actions       string
	}{
		{"dynamodb", "table", "GetItem PutItem Query Scan UpdateItem DeleteItem BatchGetItem BatchWriteItem DescribeTable ListTables"},
		{"sqs", "queue", "SendMessage ReceiveMessage DeleteMessage GetQueueAttributes GetQueueUrl ListQueues ChangeMessageVisibility PurgeQueue CreateQueue DeleteQueue"},
		{"sns", "topic", "Publish Subscribe Unsubscribe ListTopics ListSubscriptions GetTopicAttributes SetTopicAttributes CreateTopic DeleteTopic TagResource"},
		{"lambda", "function", "InvokeFunction GetFunction ListFunctions UpdateFunctionCode UpdateFunctionConfiguration CreateFunction DeleteFunction PublishVersion ListVersionsByFunction GetPolicy"},
		{"sts", "role", "AssumeRole GetCallerIdentity GetSessionToken AssumeRoleWithWebIdentity DecodeAuthorizationMessage GetAccessKeyInfo GetFederationToken TagSession SetSourceIdentity AssumeRoot"},
		{"kms", "key", "Decrypt Encrypt GenerateDataKey DescribeKey ListKeys ReEncrypt Sign Verify CreateGrant ScheduleKeyDeletion"},
		{"logs", "log-group", "PutLogEvents CreateLogStream DescribeLogStreams GetLogEvents FilterLogEvents CreateLogGroup DeleteLogGroup DescribeLogGroups PutRetentionPolicy StartQuery"},
		{"ec2", "instance", "DescribeInstances RunInstances TerminateInstances StartInstances StopInstances DescribeVolumes CreateTags DescribeSecurityGroups AuthorizeSecurityGroupIngress DescribeSubnets"},
		{"iam", "role", "GetRole ListRoles PassRole CreateRole DeleteRole AttachRolePolicy DetachRolePolicy ListAttachedRolePolicies GetPolicy ListPolicies"},
		{"secretsmanager", "secret", "GetSecretValue DescribeSecret ListSecrets PutSecretValue CreateSecret DeleteSecret RotateSecret UpdateSecret TagResource GetResourcePolicy"},
	} {
		sa := serviceActions{service: sv.service, kind: sv.kind}
		for _, a := range strings.Fields(sv.actions) {
			sa.actions = append(sa.actions, sv.service+":"+a)
		}
		g.other = append(g.other, sa)
	}
	envs := []string{"prod", "prod", "prod", "staging", "staging", "staging", "dev", "dev", "dev", "dev"}
	for b := range 1000 {
		g.buckets = append(g.buckets, fmt.Sprintf("%s-team%02d-%03d", envs[b%10], b%37, b))
	}
	return g
}

// skewed picks one of n, the first ones far more often, as real call mixes
// are (a few reads dominate).
func skewed(r *rand.Rand, n int) int {
	u := r.Float64()
	return min(n-1, int(float64(n)*u*u*u))
}

// record i of the store: its Start, and whether it is a denied call
// (appended whole) or a forwarded one (intent, then completion).
func (g *synth) record(i int) (rec *store.Record, denied bool, requestID, errorCode string) {
	r := rand.New(rand.NewPCG(uint64(i), 0x7265636f726473))
	start := g.now.Add(-g.span + time.Duration(int64(g.span)/int64(g.n)*int64(i)))
	ident := fmt.Sprintf("agent-%02d", r.IntN(50))
	rec = &store.Record{
		ID: fmt.Sprintf("s%08d", i), Kind: "call", Session: fmt.Sprintf("conn-%s-%d", ident, i/20), Start: start,
		Identity: store.Identity{Issuer: "https://idp.example", Subject: ident, Source: "oidc"},
		Mode:     "transparent", Region: "eu-west-1", Method: "POST",
		Request: store.Body{Headers: map[string][]string{"Content-Type": {"application/json"}}, Size: 256},
	}
	if r.Float64() < 0.7 {
		rec.Service, rec.Action = "s3", g.s3[skewed(r, len(g.s3))]
		rec.Resources = []string{fmt.Sprintf("arn:aws:s3:::%s/data/%d/%08x.json", g.buckets[skewed(r, len(g.buckets))], i%97, r.Uint32())}
	} else {
		sv := g.other[r.IntN(len(g.other))]
		rec.Service, rec.Action = sv.service, sv.actions[skewed(r, len(sv.actions))]
		rec.Resources = []string{fmt.Sprintf("arn:aws:%s:eu-west-1:123456789012:%s/r%03d", sv.service, sv.kind, r.IntN(200))}
	}
	rec.Operation = rec.Action[strings.IndexByte(rec.Action, ':')+1:]
	rec.Host = rec.Service + ".eu-west-1.amazonaws.com"
	if r.Float64() < 0.05 {
		rec.Decision = store.Decision{Effect: "deny", Rule: "no-prod-deletes", Reason: "denied by rule"}
		rec.Verdict, rec.Status, rec.ErrorCode = "refused", 403, "AccessDenied"
		return rec, true, "", ""
	}
	rec.Decision = store.Decision{Effect: "allow", Rule: "agents"}
	requestID = fmt.Sprintf("%016X", r.Uint64())
	if r.Float64() < 0.02 {
		errorCode = "NoSuchKey"
	}
	return rec, false, requestID, errorCode
}

type buildResult struct {
	entries int64
	took    time.Duration
	bytes   int64
}

// build writes the n records through the store's API from 32 callers,
// with fsync off (NoSync) so that 1M records take minutes, not hours.
func (g *synth) build(ctx context.Context, dir string, key ed25519.PrivateKey) (buildResult, error) {
	s, err := store.Open(store.Options{Dir: dir, NoSync: true, CheckpointKey: key})
	if err != nil {
		return buildResult{}, err
	}
	defer s.Close()
	var next, entries atomic.Int64
	keepEvery := max(1, g.n/1000)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= g.n || ctx.Err() != nil {
					return
				}
				if i > 0 && i%100000 == 0 {
					fmt.Fprintf(os.Stderr, "bench: records: %d written\n", i)
				}
				rec, denied, reqID, code := g.record(i)
				if denied {
					if err := s.Append(ctx, rec); err != nil {
						errs <- err
						return
					}
					entries.Add(1)
					continue
				}
				if err := s.Intent(ctx, rec); err != nil {
					errs <- err
					return
				}
				if err := s.Complete(ctx, rec.ID, func(r *store.Record) {
					r.End, r.UpstreamRequestID, r.Verdict, r.Status, r.ErrorCode = r.Start.Add(20*time.Millisecond), reqID, "forwarded", 200, code
					if code != "" {
						r.Status = 404
					}
				}); err != nil {
					errs <- err
					return
				}
				entries.Add(2)
				if i%keepEvery == 0 {
					g.mu.Lock()
					g.requests = append(g.requests, reqID)
					g.mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return buildResult{}, fmt.Errorf("build search store: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return buildResult{}, err
	}
	return buildResult{entries: entries.Load()}, s.Close()
}

// searchWarmup is how many runs of each query go unmeasured: the store is
// reopened before the searches, and the first runs of a query read blocks
// nothing has read since.
const searchWarmup = 5

type searchRow struct {
	query   string
	lat     []time.Duration // sorted
	results int             // total over the runs
	runs    int
}

// measureSearch reopens the store (its memtables flushed, caches cold)
// and runs each query runs times, newest first as the CLI asks, with
// since= counted back from the end of the records' week.
func (g *synth) measureSearch(ctx context.Context, dir string, key ed25519.PrivateKey, runs int) ([]searchRow, error) {
	s, err := store.Open(store.Options{Dir: dir, NoSync: true, CheckpointKey: key})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	r := rand.New(rand.NewPCG(3, 4))
	ident := func() string { return fmt.Sprintf("agent-%02d", r.IntN(50)) }
	queries := []struct {
		shown string
		make  func() string
	}{
		{"identity=agent-NN", func() string { return "identity=" + ident() }},
		{"action=s3:Delete*", func() string { return "action=s3:Delete*" }},
		{"identity=agent-NN decision=deny since=1h", func() string { return "identity=" + ident() + " decision=deny since=1h" }},
		{"resource=arn:aws:s3:::prod-*", func() string { return "resource=arn:aws:s3:::prod-*" }},
		{"request_id=<a recorded id>", func() string { return "request_id=" + g.requests[r.IntN(len(g.requests))] }},
		{"identity=agent-NN action=s3:Delete* resource=arn:aws:s3:::prod-*", func() string {
			return "identity=" + ident() + " action=s3:Delete* resource=arn:aws:s3:::prod-*"
		}},
		{"decision=deny since=24h limit=1000", func() string { return "decision=deny since=24h limit=1000" }},
		{"error=NoSuchKey since=6h limit=all", func() string { return "error=NoSuchKey since=6h limit=all" }},
	}
	var rows []searchRow
	for _, qq := range queries {
		row := searchRow{query: qq.shown, runs: runs}
		for i := range searchWarmup + runs {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			q, err := store.ParseQuery(qq.make(), g.now)
			if err != nil {
				return nil, err
			}
			q.Newest = true
			t0 := time.Now()
			recs, err := s.Search(q)
			if err != nil {
				return nil, err
			}
			if i >= searchWarmup {
				row.lat = append(row.lat, time.Since(t0))
				row.results += len(recs)
			}
		}
		slices.Sort(row.lat)
		fmt.Fprintf(os.Stderr, "bench: records: %s: p50 %s p99 %s\n", row.query, us(pct(row.lat, 0.5)), us(pct(row.lat, 0.99)))
		rows = append(rows, row)
	}
	return rows, nil
}

func dirBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// fsName names the filesystem dir is on, for the report.
func fsName(dir string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return "unknown filesystem"
	}
	switch st.Type {
	case 0xEF53:
		return "ext4"
	case 0x58465342:
		return "xfs"
	case 0x9123683E:
		return "btrfs"
	case 0x01021994:
		return "tmpfs (fsync costs nothing: not a disk)"
	case 0x794c7630:
		return "overlayfs"
	}
	return fmt.Sprintf("filesystem type %#x", st.Type)
}

func renderRecords(cfg recordsConfig, fsys string, durable []durableRow, built buildResult, searches []searchRow) string {
	var b strings.Builder
	fmt.Fprintf(&b, `%s

Run on %s: %d cores, %s, %s.
The recorder alone (no lab, no network): a Badger store in a temporary
directory on %s, written and read through recorder's API by the bench
process. Nothing else of Gatehouse runs.

Durable records: each caller writes records back to back as the gateway
does for a forwarded call, an Intent (committed and fsynced before it
returns) then its Complete, with fsync on (NoSync false) and the head
signed at every commit (CheckpointKey set, a checkpoint every 1000
entries). A record carries a 2 KiB request body in its intent and a
2 KiB response body in its completion, with headers, identity, decision
and the rest as intercept fills them (the completion entry is %d bytes
of JSON). Each run measures %s on a fresh store. Records/s counts
completed records; a commit is one Badger transaction, shared by every
entry waiting when it began (group commit). A commit that holds an
intent is fsynced before it returns (fdatasync of Badger's write-ahead
file, and of an older one still holding unsynced commits); a commit of
completions only is not, and reaches the disk with the next intent's
fsync or within 100 ms. Latencies are per call, as the caller waits.

| writers | records/s | commits/s | fsyncs/s | entries per commit | Intent p50 | Intent p99 | Complete p50 | Complete p99 |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|
`, recordsSection, time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), cpuModel(), runtime.Version(), fsys, durable[0].completion, cfg.dur)
	for _, r := range durable {
		fmt.Fprintf(&b, "| %d | %.0f | %.0f | %.0f | %.1f | %s | %s | %s | %s |\n", r.writers, r.rate(), r.commitRate(), r.syncRate(),
			float64(2*r.records)/float64(max(r.commits, 1)), us(pct(r.intent, 0.5)), us(pct(r.intent, 0.99)), us(pct(r.complete, 0.5)), us(pct(r.complete, 0.99)))
	}
	fmt.Fprintf(&b, `
Indexed search: a store of %d synthetic records (%d chain entries)
spread evenly over the 7 days before the run: 50 identities (uniform),
200 actions over ten services (70%% of calls S3, a few actions far more
common than the rest), S3 objects in 1000 buckets (30%% prod-, 30%%
staging-, 40%% dev-), 5%% of calls denied (appended whole, as refused
calls are), the rest an intent and a completion with a request id (2%%
NoSuchKey). These records carry no body data (headers and sizes only):
search reads indexes and the entries that match, so bodies only change
how much is decoded per record, and leaving them out cuts the build by
a third. The store is built through the API from 32 callers with fsync
off (NoSync true), otherwise as the gateway opens it, in %s, %.1f GiB
on disk, then closed and reopened (memtables flushed; compaction may
still run during the first queries). Each query runs %d times after %d
unmeasured runs, parsed by recorder.ParseQuery with since= counted back
from the end of the week; agent-NN and the request id change on every
run. Results come newest first, as the CLI asks, up to the default
limit of %d unless the query sets one.

| query | records returned (mean) | p50 | p99 |
|---|---:|---:|---:|
`, cfg.n, built.entries, built.took.Round(time.Second), float64(built.bytes)/(1<<30), cfg.runs, searchWarmup, store.DefaultLimit)
	for _, r := range searches {
		fmt.Fprintf(&b, "| `%s` | %.1f | %s | %s |\n", r.query, float64(r.results)/float64(r.runs), us(pct(r.lat, 0.5)), us(pct(r.lat, 0.99)))
	}
	return b.String()
}
