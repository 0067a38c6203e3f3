package export

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/gatehouse/gatehouse/recorder"
)

// S3Client is the part of *s3.Client the exporter and VerifyS3 use.
type S3Client interface {
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	ListObjectVersions(context.Context, *s3.ListObjectVersionsInput, ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error)
}

// S3Options configure an S3 export.
type S3Options struct {
	Bucket string
	// Prefix is where the export lives in the bucket ("" for its root). One
	// store exports to one prefix.
	Prefix string
	// ObjectLockDays, when above zero, puts every object (data, manifest,
	// pending marker) with ObjectLockMode and a retain-until date that many
	// days after the put. The bucket must have Object Lock enabled. Zero
	// leaves retention to the bucket's default.
	ObjectLockDays int
	// ObjectLockMode is COMPLIANCE unless set: with ObjectLockDays the
	// operator asked for records nobody can delete, the root account
	// included; GOVERNANCE lets holders of s3:BypassGovernanceRetention
	// delete them.
	ObjectLockMode types.ObjectLockMode
	// BatchEntries and BatchBytes cap a batch (defaults 10000 entries and
	// 64 MiB of JSON): the exporter holds one batch in memory. A batch ends
	// earlier, on the store's last signed checkpoint within it, so most
	// manifests carry a signature over their last entry.
	BatchEntries int
	BatchBytes   int64
	// StatePath, when set, is a local file where the exporter keeps its
	// watermark (the last manifest it wrote) between runs, so a run lists
	// only the manifests after it. The bucket stays the truth: a watermark
	// that does not match it is ignored.
	StatePath string
	// Progress, when set, is called after each batch with the entries
	// exported so far in this pass and the entries the pass set out to
	// export.
	Progress func(done, total uint64)
	Now      func() time.Time
}

// Chain is what the exporter reads: *recorder.Store, or a reader of a
// running gateway's store through its admin API.
type Chain interface {
	Entries(ctx context.Context, from uint64, fn func(recorder.Entry) error) error
	Head() (recorder.Checkpoint, error)
	LastCheckpoint(seq uint64) (recorder.Checkpoint, bool, error)
	CheckpointPublicKey() ed25519.PublicKey
}

// S3 exports a store's chain entries to S3.
type S3 struct {
	store  Chain
	client S3Client
	o      S3Options
	prefix string

	mu   sync.Mutex // one pass at a time
	last *watermark // the last manifest known to be in the bucket
}

// S3Result is what one pass exported.
type S3Result struct {
	First, Last uint64 // seqs exported by this pass; both 0 when nothing was new
	Batches     int
	Objects     int // data objects put
	// Resumed counts objects an interrupted run had already put and this
	// one found in place with the same content.
	Resumed int
}

// watermark is the last manifest written: the export holds every entry up
// to Last.
type watermark struct {
	Bucket   string `json:"bucket"`
	Prefix   string `json:"prefix"`
	First    uint64 `json:"first"`
	Last     uint64 `json:"last"`
	LastHash string `json:"last_hash"`
}

// NewS3 returns an exporter of store to o.Bucket under o.Prefix.
func NewS3(store Chain, client S3Client, o S3Options) (*S3, error) {
	if store == nil || client == nil {
		return nil, errors.New("s3 export: no store or no client")
	}
	if o.Bucket == "" {
		return nil, errors.New("s3 export: no bucket")
	}
	if o.ObjectLockDays < 0 {
		return nil, fmt.Errorf("s3 export: object lock days %d: give a positive number of days, or 0 for the bucket's default retention", o.ObjectLockDays)
	}
	if o.ObjectLockMode == "" {
		o.ObjectLockMode = types.ObjectLockModeCompliance
	}
	if o.ObjectLockMode != types.ObjectLockModeCompliance && o.ObjectLockMode != types.ObjectLockModeGovernance {
		return nil, fmt.Errorf("s3 export: object lock mode %q: use COMPLIANCE or GOVERNANCE", o.ObjectLockMode)
	}
	if o.BatchEntries <= 0 {
		o.BatchEntries = 10000
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = 64 << 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &S3{store: store, client: client, o: o, prefix: normPrefix(o.Prefix)}, nil
}

func (x *S3) where() string { return "s3://" + x.o.Bucket + "/" + x.prefix }

// Export exports every entry committed when it starts and not yet in the
// bucket, batch by batch: for each, a pending marker fixing its range, its
// data objects, then its manifest. Nothing is ever put over an existing
// key, so a run cut short anywhere is finished by the next one with the
// same objects, and no key gets a second version.
func (x *S3) Export(ctx context.Context) (S3Result, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	var res S3Result
	head, err := x.store.Head()
	if err != nil {
		return res, fmt.Errorf("s3 export to %s: %w", x.where(), err)
	}
	wm, err := x.resume(ctx)
	if err != nil {
		return res, fmt.Errorf("s3 export to %s: %w", x.where(), err)
	}
	if wm.Last > head.Seq {
		return res, fmt.Errorf("s3 export to %s: the export holds entries up to %d, this store only up to %d: is this the store that export came from? Export it to another prefix", x.where(), wm.Last, head.Seq)
	}
	total := head.Seq - wm.Last
	if x.o.Progress != nil {
		x.o.Progress(0, total)
	}
	start := wm.Last
	for wm.Last < head.Seq {
		b, err := x.batch(ctx, wm, head)
		if err != nil {
			return res, fmt.Errorf("s3 export to %s: %w", x.where(), err)
		}
		if res.First == 0 {
			res.First = b.manifest.First
		}
		res.Last = b.manifest.Last
		res.Batches++
		res.Objects += b.put
		res.Resumed += b.resumed
		wm = watermark{Bucket: x.o.Bucket, Prefix: x.prefix, First: b.manifest.First, Last: b.manifest.Last, LastHash: b.manifest.LastHash}
		x.last = &wm
		if err := x.saveState(wm); err != nil {
			return res, fmt.Errorf("s3 export to %s: %w", x.where(), err)
		}
		if x.o.Progress != nil {
			x.o.Progress(wm.Last-start, total)
		}
	}
	return res, nil
}

// Run exports every interval until ctx ends, for serve's continuous mode,
// and hands each pass's result and error to report (which may be nil). A
// failed pass is retried at the next tick; it returns when ctx ends.
func (x *S3) Run(ctx context.Context, every time.Duration, report func(S3Result, error)) {
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		res, err := x.Export(ctx)
		if report != nil && ctx.Err() == nil {
			report(res, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// resume finds the last manifest in the bucket, starting from the watermark
// this exporter (or its state file) knows, when the bucket still has it.
func (x *S3) resume(ctx context.Context) (watermark, error) {
	known := x.last
	if known == nil {
		known = x.loadState()
	}
	after := ""
	var wm watermark
	if known != nil {
		m, found, err := x.getManifest(ctx, manifestKey(known.First, known.Last))
		if err != nil {
			return wm, err
		}
		if found && m.LastHash == known.LastHash {
			after = x.prefix + manifestKey(known.First, known.Last)
			wm = *known
		}
	}
	lastKey, first, last := "", uint64(0), wm.Last
	in := &s3.ListObjectsV2Input{Bucket: aws.String(x.o.Bucket), Prefix: aws.String(x.prefix + dirManifests)}
	if after != "" {
		in.StartAfter = aws.String(after)
	}
	p := s3.NewListObjectsV2Paginator(x.client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return wm, fmt.Errorf("list manifests: %w", err)
		}
		for _, o := range page.Contents {
			f, l, ok := parseManifestKey(aws.ToString(o.Key)[len(x.prefix):])
			if ok && l > last {
				lastKey, first, last = aws.ToString(o.Key), f, l
			}
		}
	}
	if lastKey == "" {
		return wm, nil
	}
	m, found, err := x.getManifest(ctx, lastKey[len(x.prefix):])
	if err != nil {
		return wm, err
	}
	if !found {
		return wm, fmt.Errorf("manifest %s listed but not found: retry", lastKey)
	}
	if m.First != first || m.Last != last {
		return wm, fmt.Errorf("manifest %s describes %d..%d, not the range its name gives: run gatehouse export verify and look at who writes to this prefix", lastKey, m.First, m.Last)
	}
	return watermark{Bucket: x.o.Bucket, Prefix: x.prefix, First: first, Last: last, LastHash: m.LastHash}, nil
}

// batchDone is one batch in the bucket.
type batchDone struct {
	manifest     Manifest
	put, resumed int
}

// batch puts the batch after wm: the one a pending marker already fixed, or
// a new one cut from the store.
func (x *S3) batch(ctx context.Context, wm watermark, head recorder.Checkpoint) (batchDone, error) {
	first := wm.Last + 1
	var b batchDone
	pend, found, err := x.getPending(ctx, first)
	if err != nil {
		return b, err
	}
	var entries []recorder.Entry
	if found {
		if pend.Last > head.Seq {
			return b, fmt.Errorf("pending batch %d..%d ends past this store's head %d: is this the store that export came from? Export it to another prefix", pend.First, pend.Last, head.Seq)
		}
		entries, err = x.read(ctx, first, pend.Last, 0)
	} else {
		entries, err = x.read(ctx, first, min(head.Seq, first+uint64(x.o.BatchEntries)-1), x.o.BatchBytes)
	}
	if err != nil {
		return b, err
	}
	if got := entries[0].Record.PrevHash; got != wm.LastHash {
		return b, fmt.Errorf("entry %d does not continue the chain the export holds (prev_hash %.12s…, the export's last hash %.12s…): is this the store that export came from? Export it to another prefix", first, got, wm.LastHash)
	}
	if !found {
		var cp *ManifestCheckpoint
		if entries, cp, err = x.cut(entries, head); err != nil {
			return b, err
		}
		pend = pendingMarker{Version: ManifestVersion, First: first, Last: entries[len(entries)-1].Seq, Checkpoint: cp, Created: x.o.Now().UTC()}
		body, err := json.Marshal(pend)
		if err != nil {
			return b, err
		}
		exists, err := x.put(ctx, pendingKey(first), body, "application/json")
		if err != nil {
			return b, fmt.Errorf("put pending marker: %w", err)
		}
		if exists {
			// Another run got there first, or this put's response was
			// lost: the marker in the bucket fixes the range.
			theirs, ok, err := x.getPending(ctx, first)
			if err != nil {
				return b, err
			}
			if !ok {
				return b, fmt.Errorf("pending marker %s: the put found it existing, the get does not: retry", x.prefix+pendingKey(first))
			}
			if theirs.Last != pend.Last {
				return x.batch(ctx, wm, head) // takes the marker's range
			}
			pend = theirs
		}
	}
	m := Manifest{
		Version: ManifestVersion, First: pend.First, Last: pend.Last, Entries: uint64(len(entries)),
		FirstPrevHash: entries[0].Record.PrevHash, LastHash: entries[len(entries)-1].Record.Hash,
		Checkpoint: pend.Checkpoint,
	}
	for _, part := range partitions(entries) {
		obj, resumed, err := x.putObject(ctx, objectKey(part.dir, m.First, m.Last), part.entries)
		if err != nil {
			return b, err
		}
		m.Objects = append(m.Objects, obj)
		if resumed {
			b.resumed++
		} else {
			b.put++
		}
	}
	m.Created = x.o.Now().UTC()
	body, err := json.Marshal(m) // one line: Athena reads manifests as a table too
	if err != nil {
		return b, err
	}
	key := manifestKey(m.First, m.Last)
	exists, err := x.put(ctx, key, body, "application/json")
	if err != nil {
		return b, fmt.Errorf("put manifest %s: %w", key, err)
	}
	if exists {
		old, found, err := x.getManifest(ctx, key)
		if err != nil {
			return b, err
		}
		if !found || !sameBatch(old, m) {
			return b, fmt.Errorf("manifest %s exists and describes other objects: something else writes to this prefix; stop it, then run gatehouse export verify", x.prefix+key)
		}
		m = old
	}
	b.manifest = m
	return b, nil
}

// cut ends a new batch on the last signature the store holds within it: the
// head's, when the batch reaches the head, else the latest checkpoint.
func (x *S3) cut(entries []recorder.Entry, head recorder.Checkpoint) ([]recorder.Entry, *ManifestCheckpoint, error) {
	first, last := entries[0].Seq, entries[len(entries)-1].Seq
	pub := x.store.CheckpointPublicKey()
	if pub == nil {
		return entries, nil, nil
	}
	if last == head.Seq && len(head.Signature) > 0 {
		return entries, signed(head, pub), nil
	}
	c, ok, err := x.store.LastCheckpoint(last)
	if err != nil || !ok || c.Seq < first {
		return entries, nil, err
	}
	return entries[:c.Seq-first+1], signed(c, pub), nil
}

func signed(c recorder.Checkpoint, pub []byte) *ManifestCheckpoint {
	return &ManifestCheckpoint{Seq: c.Seq, Hash: c.Hash, Signature: c.Signature, PublicKey: pub}
}

// read returns the entries first..last, or fewer once they hold maxBytes of
// JSON (0: no cap); at least one.
func (x *S3) read(ctx context.Context, first, last uint64, maxBytes int64) ([]recorder.Entry, error) {
	var out []recorder.Entry
	var size int64
	stop := errors.New("stop")
	want, capped := first, false
	err := x.store.Entries(ctx, first, func(e recorder.Entry) error {
		if e.Seq != want {
			return stop
		}
		if maxBytes > 0 && len(out) > 0 && size+int64(len(e.JSON)) > maxBytes {
			capped = true
			return stop
		}
		out = append(out, e)
		size += int64(len(e.JSON))
		want++
		if e.Seq == last {
			return stop
		}
		return nil
	})
	if err != nil && err != stop {
		return nil, err
	}
	if !capped && want <= last {
		return nil, fmt.Errorf("entry %d is not in the store (expired by its TTL, or deleted): the export cannot carry the chain past it; run gatehouse verify", want)
	}
	return out, nil
}

type part struct {
	dir     string
	entries []recorder.Entry
}

// partitions groups a batch's entries by their Start hour, each group in
// seq order, the groups in name order.
func partitions(entries []recorder.Entry) []part {
	idx := map[string]int{}
	var parts []part
	for _, e := range entries {
		d := partition(e.Record.Start)
		i, ok := idx[d]
		if !ok {
			i = len(parts)
			idx[d] = i
			parts = append(parts, part{dir: d})
		}
		parts[i].entries = append(parts[i].entries, e)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].dir < parts[j].dir })
	return parts
}

// jsonLines is the uncompressed content of a data object: each entry's
// canonical JSON as stored, one per line.
func jsonLines(entries []recorder.Entry) []byte {
	var b bytes.Buffer
	for _, e := range entries {
		b.Write(e.JSON)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// putObject puts one data object, or, when an interrupted run already put
// it, checks that it holds the same lines and describes it as it is.
func (x *S3) putObject(ctx context.Context, key string, entries []recorder.Entry) (ManifestObject, bool, error) {
	lines := jsonLines(entries)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(lines)
	if err := zw.Close(); err != nil {
		return ManifestObject{}, false, fmt.Errorf("compress %s: %w", key, err)
	}
	body := gz.Bytes()
	exists, err := x.put(ctx, key, body, "application/gzip")
	if err != nil {
		return ManifestObject{}, false, fmt.Errorf("put %s: %w", key, err)
	}
	if exists {
		old, found, err := x.get(ctx, key)
		if err != nil {
			return ManifestObject{}, false, err
		}
		if !found {
			return ManifestObject{}, false, fmt.Errorf("put %s: exists, yet cannot be read: retry", x.prefix+key)
		}
		if !bytes.Equal(old, body) {
			got, err := gunzip(old)
			if err != nil || !bytes.Equal(got, lines) {
				return ManifestObject{}, false, fmt.Errorf("%s exists with other content than the store's entries: something else writes to this prefix; stop it, then run gatehouse export verify", x.prefix+key)
			}
			body = old
		}
	}
	sum := sha256.Sum256(body)
	return ManifestObject{
		Key: key, SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(body)), Entries: len(entries),
		First: entries[0].Seq, Last: entries[len(entries)-1].Seq,
	}, exists, nil
}

// put writes key only if it does not exist (If-None-Match), so a versioned
// bucket never gets a second version; exists reports that it did.
func (x *S3) put(ctx context.Context, key string, body []byte, contentType string) (exists bool, err error) {
	md := md5.Sum(body)
	sum := sha256.Sum256(body)
	in := &s3.PutObjectInput{
		Bucket: aws.String(x.o.Bucket), Key: aws.String(x.prefix + key),
		Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))), ContentType: aws.String(contentType),
		// Object Lock requires Content-MD5 or a checksum; both cost nothing here.
		ContentMD5:        aws.String(base64.StdEncoding.EncodeToString(md[:])),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
		ChecksumSHA256:    aws.String(base64.StdEncoding.EncodeToString(sum[:])),
		IfNoneMatch:       aws.String("*"),
	}
	if x.o.ObjectLockDays > 0 {
		in.ObjectLockMode = x.o.ObjectLockMode
		in.ObjectLockRetainUntilDate = aws.Time(x.o.Now().Add(time.Duration(x.o.ObjectLockDays) * 24 * time.Hour))
	}
	_, err = x.client.PutObject(ctx, in)
	if isStatus(err, http.StatusPreconditionFailed) {
		return true, nil
	}
	return false, err
}

func isStatus(err error, code int) bool {
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == code
}

// get reads key; found is false when it does not exist.
func (x *S3) get(ctx context.Context, key string) (body []byte, found bool, err error) {
	return getObject(ctx, x.client, x.o.Bucket, x.prefix+key)
}

func (x *S3) getPending(ctx context.Context, first uint64) (pendingMarker, bool, error) {
	var p pendingMarker
	body, found, err := x.get(ctx, pendingKey(first))
	if err != nil || !found {
		return p, false, err
	}
	if err := json.Unmarshal(body, &p); err != nil || p.First != first || p.Last < first {
		return p, false, fmt.Errorf("pending marker %s is not one this exporter wrote (%v): look at who writes to this prefix", x.prefix+pendingKey(first), err)
	}
	return p, true, nil
}

func (x *S3) getManifest(ctx context.Context, key string) (Manifest, bool, error) {
	var m Manifest
	body, found, err := x.get(ctx, key)
	if err != nil || !found {
		return m, false, err
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return m, false, fmt.Errorf("manifest %s undecodable: %w; run gatehouse export verify", x.prefix+key, err)
	}
	return m, true, nil
}

func sameBatch(a, b Manifest) bool {
	if a.First != b.First || a.Last != b.Last || a.LastHash != b.LastHash || len(a.Objects) != len(b.Objects) {
		return false
	}
	for i := range a.Objects {
		if a.Objects[i] != b.Objects[i] {
			return false
		}
	}
	return true
}

func getObject(ctx context.Context, c S3Client, bucket, key string) ([]byte, bool, error) {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) || isStatus(err, http.StatusNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, false, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	return b, true, nil
}

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

func (x *S3) loadState() *watermark {
	if x.o.StatePath == "" {
		return nil
	}
	b, err := os.ReadFile(x.o.StatePath)
	if err != nil {
		return nil // no watermark: list from the start
	}
	var wm watermark
	if json.Unmarshal(b, &wm) != nil || wm.Bucket != x.o.Bucket || wm.Prefix != x.prefix || wm.Last == 0 {
		return nil
	}
	return &wm
}

// saveState writes the watermark atomically (a file renamed over the old).
func (x *S3) saveState(wm watermark) error {
	if x.o.StatePath == "" {
		return nil
	}
	b, err := json.Marshal(wm)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(x.o.StatePath), ".export-state-*")
	if err != nil {
		return fmt.Errorf("save export watermark: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("save export watermark %s: %w", x.o.StatePath, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save export watermark %s: %w", x.o.StatePath, err)
	}
	if err := os.Rename(tmp.Name(), x.o.StatePath); err != nil {
		return fmt.Errorf("save export watermark %s: %w", x.o.StatePath, err)
	}
	return nil
}
