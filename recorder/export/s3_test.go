package export

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/gatehouse/gatehouse/recorder"
)

var s3T0 = time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)

// minioBin finds the MinIO that deploy/lab/prereqs.sh installs.
func minioBin(t *testing.T) string {
	t.Helper()
	cands := []string{os.Getenv("MINIO_BIN")}
	if d := os.Getenv("GATEHOUSE_TOOLS"); d != "" {
		cands = append(cands, filepath.Join(d, "bin/minio"))
	}
	if h, err := os.UserHomeDir(); err == nil {
		cands = append(cands, filepath.Join(h, ".cache/gatehouse-tools/bin/minio"))
	}
	for _, c := range cands {
		if c == "" {
			continue
		}
		if fi, err := os.Stat(c); err == nil && fi.Mode()&0o111 != 0 {
			return c
		}
	}
	if os.Getenv("GATEHOUSE_REQUIRE_TOOLS") == "1" {
		t.Fatal("no MinIO binary (looked at $MINIO_BIN, $GATEHOUSE_TOOLS/bin, ~/.cache/gatehouse-tools/bin): run make prereqs")
	}
	t.Skip("no MinIO binary: run make prereqs (GATEHOUSE_REQUIRE_TOOLS=1 makes this a failure)")
	return ""
}

func s3FreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startMinIO runs a single-drive MinIO on a free loopback port with its data
// in a temp dir, and returns a client for it.
func startMinIO(t *testing.T) *s3.Client {
	t.Helper()
	bin := minioBin(t)
	dir := t.TempDir()
	var addr string
	var cmd *exec.Cmd
	var log lockedBuffer
	for attempt := 0; ; attempt++ {
		addr = fmt.Sprintf("127.0.0.1:%d", s3FreePort(t))
		cmd = exec.Command(bin, "server", filepath.Join(dir, "data"), "--address", addr,
			"--console-address", fmt.Sprintf("127.0.0.1:%d", s3FreePort(t)), "--quiet")
		cmd.Env = append(os.Environ(), "MINIO_ROOT_USER=gatehouse-test", "MINIO_ROOT_PASSWORD=gatehouse-test-secret",
			"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CI_CD=1", "HOME="+dir)
		log.Reset()
		cmd.Stdout, cmd.Stderr = &log, &log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		t.Cleanup(func() {
			cmd.Process.Kill()
			<-exited
		})
		if minioReady(addr, exited) {
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("MinIO's log:\n%s", log.String())
				}
			})
			break
		}
		if attempt == 2 {
			t.Fatalf("MinIO at %s did not become ready:\n%s", addr, log.String())
		}
	}
	return s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String("http://" + addr), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("gatehouse-test", "gatehouse-test-secret", ""),
		// A loaded machine makes MinIO answer 503 SlowDown now and then.
		RetryMaxAttempts: 10,
	})
}

// lockedBuffer is MinIO's output, written by exec's copier while a test
// may read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Reset()
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// minioReady waits for MinIO's health endpoint; false when the process exited
// (a port taken between s3FreePort and its bind).
func minioReady(addr string, exited chan error) bool {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err
			return false
		default:
		}
		resp, err := http.Get("http://" + addr + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

func newBucket(t *testing.T, c *s3.Client, name string, lock bool) {
	t.Helper()
	_, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name), ObjectLockEnabledForBucket: aws.Bool(lock)})
	if err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
}

func s3Key() ed25519.PrivateKey {
	s := make([]byte, ed25519.SeedSize)
	s[0] = 7
	return ed25519.NewKeyFromSeed(s)
}

func s3Store(t *testing.T, every int) *recorder.Store {
	t.Helper()
	st, err := recorder.Open(recorder.Options{Dir: t.TempDir(), NoSync: true, CheckpointKey: s3Key(), CheckpointEvery: every, MemTableSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// calls appends n calls numbered from *next, Start spread over hours so a
// batch spans several partitions: an intent, its completion two calls
// later (so intents and completions interleave in the chain), and every
// seventh a whole record (Append).
func s3Calls(t *testing.T, st *recorder.Store, next *int, n int, spacing time.Duration) {
	t.Helper()
	ctx := context.Background()
	var open []string
	for range n {
		i := *next
		*next++
		r := &recorder.Record{
			ID: fmt.Sprintf("call-%d", i), Session: fmt.Sprintf("conn-%d", i%5), Kind: "call",
			Start:    s3T0.Add(time.Duration(i) * spacing),
			Identity: recorder.Identity{Issuer: "https://idp", Subject: fmt.Sprintf("agent-%d", i%3)},
			Service:  "s3", Region: "eu-west-1", Method: "PUT", Host: "b.s3.amazonaws.com", Path: fmt.Sprintf("/k/%d", i),
			Action: "s3:PutObject", Resources: []string{fmt.Sprintf("arn:aws:s3:::b/k/%d", i)},
			Decision: recorder.Decision{Effect: "allow", Rule: "r1"},
			Request:  recorder.Body{Headers: map[string][]string{"Content-Type": {"text/plain"}}, Data: []byte(fmt.Sprintf("body <%d> & more", i)), Size: 20},
		}
		if i%7 == 0 {
			r.Verdict, r.Status = "refused", 403
			if err := st.Append(ctx, r); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := st.Intent(ctx, r); err != nil {
			t.Fatal(err)
		}
		open = append(open, r.ID)
		if len(open) > 2 {
			s3Complete(t, st, open[0])
			open = open[1:]
		}
	}
	for _, id := range open {
		s3Complete(t, st, id)
	}
}

func s3Complete(t *testing.T, st *recorder.Store, id string) {
	t.Helper()
	err := st.Complete(context.Background(), id, func(r *recorder.Record) {
		r.Status, r.Verdict, r.UpstreamRequestID, r.End = 200, "forwarded", "REQ-"+id, r.Start.Add(time.Second)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// cutClient fails the failAt-th PutObject: before it reaches S3, or after
// S3 stored the object (a lost response), as a crash or a network cut would.
type cutClient struct {
	S3Client
	failAt int64
	after  bool
	puts   atomic.Int64
}

var errCut = errors.New("injected cut")

func (c *cutClient) PutObject(ctx context.Context, in *s3.PutObjectInput, o ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	n := c.puts.Add(1)
	if n != c.failAt {
		return c.S3Client.PutObject(ctx, in, o...)
	}
	if c.after {
		if _, err := c.S3Client.PutObject(ctx, in, o...); err != nil {
			return nil, err
		}
	}
	return nil, errCut
}

func s3Export(t *testing.T, st *recorder.Store, c S3Client, o S3Options) (S3Result, error) {
	t.Helper()
	x, err := NewS3(st, c, o)
	if err != nil {
		t.Fatal(err)
	}
	return x.Export(context.Background())
}

// checkExactlyOnce reads the bucket the way an auditor would and requires
// every chain entry 1..head in exactly one manifest-listed object, every key
// with exactly one version, no data object outside the manifests, and
// VerifyS3 to pass.
func checkExactlyOnce(t *testing.T, c *s3.Client, bucket, prefix string, head uint64) S3Report {
	t.Helper()
	ctx := context.Background()
	prefix = normPrefix(prefix)
	versions := map[string]int{}
	p := s3.NewListObjectVersionsPaginator(c, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range page.Versions {
			versions[aws.ToString(v.Key)]++
		}
		if len(page.DeleteMarkers) > 0 {
			t.Errorf("delete markers: %v", page.DeleteMarkers)
		}
	}
	for k, n := range versions {
		if n != 1 {
			t.Errorf("%s has %d versions", k, n)
		}
	}
	seen := map[uint64]int{}
	listed := map[string]bool{}
	for k := range versions {
		rel := strings.TrimPrefix(k, prefix)
		if !strings.HasPrefix(rel, dirManifests) {
			continue
		}
		body, _, err := getObject(ctx, c, bucket, k)
		if err != nil {
			t.Fatal(err)
		}
		var m Manifest
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		for _, o := range m.Objects {
			listed[o.Key] = true
			gz, _, err := getObject(ctx, c, bucket, prefix+o.Key)
			if err != nil {
				t.Fatal(err)
			}
			lines, err := gunzip(gz)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range bytes.Split(bytes.TrimSuffix(lines, []byte("\n")), []byte("\n")) {
				var r recorder.Record
				if err := json.Unmarshal(l, &r); err != nil {
					t.Fatal(err)
				}
				seen[r.Seq]++
			}
		}
	}
	for seq := uint64(1); seq <= head; seq++ {
		if seen[seq] != 1 {
			t.Errorf("entry %d appears %d times in the manifests' objects", seq, seen[seq])
		}
	}
	if uint64(len(seen)) != head {
		t.Errorf("%d distinct entries exported, head is %d", len(seen), head)
	}
	for k := range versions {
		if rel := strings.TrimPrefix(k, prefix); strings.HasPrefix(rel, dirRecords) && !listed[rel] {
			t.Errorf("%s is in no manifest", k)
		}
	}
	rep, err := VerifyS3(ctx, c, bucket, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Entries != head || rep.Last != head || len(rep.Pending) != 0 || !rep.VersionsChecked {
		t.Fatalf("VerifyS3: %+v", rep)
	}
	return rep
}

func s3Head(t *testing.T, st *recorder.Store) uint64 {
	t.Helper()
	h, err := st.Head()
	if err != nil {
		t.Fatal(err)
	}
	return h.Seq
}

// A run cut between any two puts (before a put reaches S3, or after S3
// stored it and the answer was lost), then more records, then a rerun:
// every entry exactly once, no key with a second version, VerifyS3 clean.
func TestS3ExportCutBetweenAnyTwoPutsResumesExactlyOnce(t *testing.T) {
	c := startMinIO(t)
	newBucket(t, c, "cuts", true)
	// Each run gets its own store with the same chain, so the k-th put is
	// the same put in every run.
	store := func(t *testing.T) (*recorder.Store, *int) {
		st := s3Store(t, 10)
		next := 0
		s3Calls(t, st, &next, 30, 3*time.Minute)
		return st, &next
	}
	opts := func(prefix string) S3Options {
		return S3Options{Bucket: "cuts", Prefix: prefix, BatchEntries: 16, ObjectLockDays: 1}
	}
	st, _ := store(t)
	probe := &cutClient{S3Client: c}
	if _, err := s3Export(t, st, probe, opts("probe")); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, c, "cuts", "probe", s3Head(t, st))
	puts := probe.puts.Load()
	if puts < 8 {
		t.Fatalf("only %d puts: the test needs several batches of several objects", puts)
	}
	for k := int64(1); k <= puts; k++ {
		for _, after := range []bool{false, true} {
			name := fmt.Sprintf("put%02d-before", k)
			if after {
				name = fmt.Sprintf("put%02d-after", k)
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				st, next := store(t)
				o := opts("cut/" + name)
				if after {
					o.StatePath = filepath.Join(t.TempDir(), "state.json")
				}
				if _, err := s3Export(t, st, &cutClient{S3Client: c, failAt: k, after: after}, o); !errors.Is(err, errCut) {
					t.Fatalf("cut run: %v", err)
				}
				s3Calls(t, st, next, 2, 3*time.Minute)
				if _, err := s3Export(t, st, c, o); err != nil {
					t.Fatalf("rerun: %v", err)
				}
				checkExactlyOnce(t, c, "cuts", o.Prefix, s3Head(t, st))
			})
		}
	}
}

// A few thousand records to an Object Lock bucket, cut mid-way, more
// records, rerun with the watermark file: exactly once, every object in
// COMPLIANCE retention, the manifests' signatures verify with the store's
// key, and a pass with nothing new puts nothing.
func TestS3ExportThousandsToObjectLockBucket(t *testing.T) {
	c := startMinIO(t)
	newBucket(t, c, "audit", true)
	st := s3Store(t, 500)
	next := 0
	s3Calls(t, st, &next, 1500, 40*time.Second)
	state := filepath.Join(t.TempDir(), "export.json")
	var progress [][2]uint64
	o := S3Options{Bucket: "audit", Prefix: "/gw-1/", BatchEntries: 700, ObjectLockDays: 3, StatePath: state,
		Progress: func(done, total uint64) { progress = append(progress, [2]uint64{done, total}) }}
	cut := &cutClient{S3Client: c, failAt: 9, after: true}
	if _, err := s3Export(t, st, cut, o); !errors.Is(err, errCut) {
		t.Fatalf("cut run: %v", err)
	}
	rep, err := VerifyS3(context.Background(), c, "audit", "gw-1")
	if err != nil || len(rep.Pending) == 0 || !rep.OK() {
		t.Fatalf("after the cut, VerifyS3 should show the pending batch's objects and no problem: %+v %v", rep, err)
	}
	s3Calls(t, st, &next, 200, 40*time.Second)
	head := s3Head(t, st)
	progress = nil
	res, err := s3Export(t, st, c, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed == 0 || res.Last != head {
		t.Fatalf("rerun: %+v (head %d)", res, head)
	}
	if len(progress) < 2 || progress[len(progress)-1][0] != progress[len(progress)-1][1] || progress[0] != [2]uint64{0, head - (res.First - 1)} {
		t.Fatalf("progress: %v", progress)
	}
	rep = checkExactlyOnce(t, c, "audit", "gw-1", head)
	if rep.Checkpoints != rep.Manifests || rep.SignedUpTo != head {
		t.Fatalf("every batch ends on a signature: %+v", rep)
	}
	pub := base64Key(st.CheckpointPublicKey())
	if len(rep.PublicKeys) != 1 || rep.PublicKeys[0] != pub {
		t.Fatalf("public keys %v, want [%s]", rep.PublicKeys, pub)
	}
	ho, err := c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("audit"), Key: aws.String("gw-1/" + manifestKey(1, 500))})
	if err != nil {
		t.Fatalf("the first batch ends on the first checkpoint: %v", err)
	}
	if ho.ObjectLockMode != types.ObjectLockModeCompliance || ho.ObjectLockRetainUntilDate == nil ||
		ho.ObjectLockRetainUntilDate.Before(time.Now().Add(71*time.Hour)) {
		t.Fatalf("retention: %s until %v", ho.ObjectLockMode, ho.ObjectLockRetainUntilDate)
	}
	// Nothing new: nothing put, not even after a restart.
	quiet := &cutClient{S3Client: c}
	if res, err := s3Export(t, st, quiet, o); err != nil || res.Batches != 0 || quiet.puts.Load() != 0 {
		t.Fatalf("idle pass: %+v %v, %d puts", res, err, quiet.puts.Load())
	}
}

func base64Key(k ed25519.PublicKey) string { return base64.StdEncoding.EncodeToString(k) }

// Each way of changing an export after the fact is named: the key, and
// the seq where there is one.
func TestVerifyS3NamesTampering(t *testing.T) {
	c := startMinIO(t)
	ctx := context.Background()
	newBucket(t, c, "plain", false)
	newBucket(t, c, "versioned", true)
	st := s3Store(t, 50)
	next := 0
	s3Calls(t, st, &next, 60, 10*time.Minute)
	head := s3Head(t, st)

	get := func(t *testing.T, bucket, key string) []byte {
		b, found, err := getObject(ctx, c, bucket, key)
		if err != nil || !found {
			t.Fatalf("get %s: %v %v", key, found, err)
		}
		return b
	}
	put := func(t *testing.T, bucket, key string, body []byte) {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	gz := func(b []byte) []byte {
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		zw.Write(b)
		zw.Close()
		return zb.Bytes()
	}
	manifest := func(t *testing.T, bucket, prefix string) Manifest {
		var m Manifest
		if err := json.Unmarshal(get(t, bucket, prefix+manifestKey(1, 50)), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	// edit rewrites the first batch's last object with f applied to its
	// lines, and returns its key.
	edit := func(t *testing.T, bucket, prefix string, f func([]byte) []byte) string {
		m := manifest(t, bucket, prefix)
		victim := m.Objects[len(m.Objects)-1].Key
		lines, err := gunzip(get(t, bucket, prefix+victim))
		if err != nil {
			t.Fatal(err)
		}
		forged := f(lines)
		if bytes.Equal(forged, lines) {
			t.Fatal("nothing to tamper with")
		}
		put(t, bucket, prefix+victim, gz(forged))
		return victim
	}
	type want struct {
		key  string
		seq  uint64
		kind string
	}
	for _, tt := range []struct {
		name, bucket string
		tamper       func(t *testing.T, bucket, prefix string) []want
	}{
		{"a line edited", "plain", func(t *testing.T, bucket, prefix string) []want {
			k := edit(t, bucket, prefix, func(b []byte) []byte {
				return bytes.Replace(b, []byte(`"effect":"allow"`), []byte(`"effect":"deny"`), 1)
			})
			return []want{{k, 0, BadObject}, {k, 0, recorder.Changed}}
		}},
		{"a line edited in a versioned bucket", "versioned", func(t *testing.T, bucket, prefix string) []want {
			k := edit(t, bucket, prefix, func(b []byte) []byte {
				return bytes.Replace(b, []byte(`"subject":"agent-1"`), []byte(`"subject":"agent-2"`), 1)
			})
			return []want{{k, 0, Overwritten}, {k, 0, BadObject}, {k, 0, recorder.Changed}}
		}},
		{"a line dropped, manifest made to agree", "plain", func(t *testing.T, bucket, prefix string) []want {
			var dropped recorder.Record
			k := edit(t, bucket, prefix, func(b []byte) []byte {
				ls := bytes.SplitAfter(b, []byte("\n"))
				json.Unmarshal(ls[0], &dropped)
				return bytes.Join(ls[1:], nil)
			})
			m := manifest(t, bucket, prefix)
			for i, o := range m.Objects {
				if o.Key == k {
					body := get(t, bucket, prefix+k)
					sum := sha256.Sum256(body)
					m.Objects[i].SHA256, m.Objects[i].Entries, m.Objects[i].Bytes = hex.EncodeToString(sum[:]), o.Entries-1, int64(len(body))
				}
			}
			b, _ := json.Marshal(m)
			put(t, bucket, prefix+manifestKey(1, 50), b)
			return []want{{manifestKey(1, 50), dropped.Seq, recorder.Missing}}
		}},
		{"a manifest deleted", "plain", func(t *testing.T, bucket, prefix string) []want {
			m := manifest(t, bucket, prefix)
			if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(prefix + manifestKey(1, 50))}); err != nil {
				t.Fatal(err)
			}
			ws := []want{{"", 1, recorder.Missing}}
			for _, o := range m.Objects {
				ws = append(ws, want{o.Key, 0, Unreferenced})
			}
			return ws
		}},
		{"a stray object", "plain", func(t *testing.T, bucket, prefix string) []want {
			k := "records/dt=2026-11-26/hour=06/" + seqRange(1, 50) + "-extra.jsonl.gz"
			put(t, bucket, prefix+k, gz([]byte("{}\n")))
			return []want{{k, 0, Unreferenced}}
		}},
		{"a checkpoint forged", "plain", func(t *testing.T, bucket, prefix string) []want {
			m := manifest(t, bucket, prefix)
			m.Checkpoint.Hash = strings.Repeat("0", 64)
			b, _ := json.Marshal(m)
			put(t, bucket, prefix+manifestKey(1, 50), b)
			return []want{{manifestKey(1, 50), 50, recorder.BadCheckpoint}}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			prefix := strings.ReplaceAll(tt.name, " ", "-") + "/"
			if _, err := s3Export(t, st, c, S3Options{Bucket: tt.bucket, Prefix: prefix, BatchEntries: 60}); err != nil {
				t.Fatal(err)
			}
			checkExactlyOnce(t, c, tt.bucket, prefix, head)
			wants := tt.tamper(t, tt.bucket, prefix)
			rep, err := VerifyS3(ctx, c, tt.bucket, prefix)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range wants {
				found := false
				for _, p := range rep.Problems {
					if p.Kind == w.kind && (w.key == "" || p.Key == w.key) && (w.seq == 0 || p.Seq == w.seq) {
						found = true
					}
				}
				if !found {
					t.Errorf("no %s problem naming %q seq %d in %+v", w.kind, w.key, w.seq, rep.Problems)
				}
			}
		})
	}
}

// A store that is not the one an export came from is refused, and the
// export left as it was.
func TestS3ExportRefusesAnotherStoresChain(t *testing.T) {
	c := startMinIO(t)
	newBucket(t, c, "shared", false)
	a, b := s3Store(t, 10), s3Store(t, 10)
	na, nb := 0, 100
	s3Calls(t, a, &na, 10, time.Minute)
	s3Calls(t, b, &nb, 20, time.Minute)
	if _, err := s3Export(t, a, c, S3Options{Bucket: "shared"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3Export(t, b, c, S3Options{Bucket: "shared"}); err == nil || !strings.Contains(err.Error(), "another prefix") {
		t.Fatalf("export of another store over it: %v", err)
	}
	checkExactlyOnce(t, c, "shared", "", s3Head(t, a))
}

// serve's continuous mode: passes as records arrive, batches cut by size,
// every entry exactly once.
func TestS3RunExportsAsRecordsArrive(t *testing.T) {
	c := startMinIO(t)
	newBucket(t, c, "live", true)
	st := s3Store(t, 1000)
	next := 0
	x, err := NewS3(st, c, S3Options{Bucket: "live", Prefix: "gw", BatchBytes: 8 << 10})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	passes := make(chan S3Result)
	done := make(chan struct{})
	go func() {
		defer close(done)
		x.Run(ctx, 20*time.Millisecond, func(r S3Result, err error) {
			if err != nil {
				t.Errorf("pass: %v", err)
			}
			select {
			case passes <- r:
			case <-ctx.Done():
			}
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	var batches int
	for range 3 {
		s3Calls(t, st, &next, 20, time.Minute)
		head := s3Head(t, st)
		// Passes may run while records arrive; one starts after the last.
		for caught := false; !caught; {
			select {
			case r := <-passes:
				batches += r.Batches
				caught = r.Last == head
			case <-time.After(20 * time.Second):
				t.Fatalf("no pass exported up to %d", head)
			}
		}
	}
	cancel()
	<-done
	if batches < 6 {
		t.Errorf("%d batches: 8 KiB should cut about a dozen entries each", batches)
	}
	checkExactlyOnce(t, c, "live", "gw", s3Head(t, st))
}

func TestLayoutNames(t *testing.T) {
	if got := partition(time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", -5*3600))); got != "records/dt=2026-01-02/hour=08/" {
		t.Errorf("partition = %q", got)
	}
	k := objectKey("records/dt=2026-01-02/hour=08/", 1, 12345)
	if k != "records/dt=2026-01-02/hour=08/00000000000000000001-00000000000000012345.jsonl.gz" {
		t.Errorf("objectKey = %q", k)
	}
	if f, l, ok := parseManifestKey(manifestKey(7, 9)); !ok || f != 7 || l != 9 {
		t.Errorf("parseManifestKey(manifestKey(7, 9)) = %d %d %v", f, l, ok)
	}
	for _, bad := range []string{"manifests/x.json", "manifests/00000000000000000009-00000000000000000007.json", "manifests/+0000000000000000001-00000000000000000007.json"} {
		if _, _, ok := parseManifestKey(bad); ok {
			t.Errorf("parseManifestKey(%q) accepted", bad)
		}
	}
	for in, want := range map[string]string{"": "", "/": "", "a": "a/", "/a/b/": "a/b/"} {
		if got := normPrefix(in); got != want {
			t.Errorf("normPrefix(%q) = %q, want %q", in, got, want)
		}
	}
}
