package export

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/gatehouse/gatehouse/recorder"
)

// Problem kinds VerifyS3 reports besides recorder's (recorder.Changed,
// recorder.Missing, recorder.Reordered, recorder.BrokenLink,
// recorder.BadCheckpoint).
const (
	BadManifest  = "bad_manifest" // undecodable, or its counts or hashes disagree with its objects
	BadObject    = "bad_object"   // missing, SHA-256 or entry count not the manifest's, undecodable, a line out of place
	Overlap      = "overlap"      // an entry in more than one manifest or object
	Unreferenced = "unreferenced" // a data object no manifest lists and no pending batch explains
	Overwritten  = "overwritten"  // a key with more than one version, or deleted
)

// S3Problem is one defect in an export.
type S3Problem struct {
	Key    string `json:"key,omitempty"` // relative to the export prefix
	Seq    uint64 `json:"seq,omitempty"`
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
}

// S3Report is what VerifyS3 found.
type S3Report struct {
	Manifests int    `json:"manifests"`
	Objects   int    `json:"objects"`
	Entries   uint64 `json:"entries"` // entries read back
	// First and Last are the seqs the manifests cover. Whole batches cut
	// from the end of an export leave no trace in S3: compare Last with the
	// gateway's head (gatehouse verify).
	First uint64 `json:"first"`
	Last  uint64 `json:"last"`
	// Checkpoints counts the manifests' signatures that verified and match
	// the exported chain; SignedUpTo is the highest seq one of them pins
	// (every entry up to it, through the chain). Entries after it are
	// pinned by no signature yet; the next batch's usually covers them.
	Checkpoints int    `json:"checkpoints"`
	SignedUpTo  uint64 `json:"signed_up_to"`
	// PublicKeys are the keys (base64) the checkpoints verified with.
	// Compare them with the gateway's: a signature proves nothing about a
	// key you do not trust.
	PublicKeys []string `json:"public_keys"`
	// Pending are data objects of a batch an interrupted export began and
	// the next run finishes (its pending marker is there, its manifest not
	// yet). They are in the Athena table already; they are not problems.
	Pending []string `json:"pending"`
	// VersionsChecked is false when the bucket's versions could not be
	// listed (no s3:ListBucketVersions): overwrites then show only as
	// content that disagrees with a manifest.
	VersionsChecked bool        `json:"versions_checked"`
	Problems        []S3Problem `json:"problems"`
}

// OK reports whether the export is whole and intact.
func (r S3Report) OK() bool { return len(r.Problems) == 0 }

// VerifyS3 reads an export back from S3 alone, as an auditor would: every
// manifest and every object it lists. It checks each object's SHA-256 and
// entry count against its manifest, that the manifests cover one contiguous
// range of seqs from 1 with no gap or overlap, the chain (each entry's hash
// recomputed with recorder.EntryHash, each PrevHash the hash of the entry
// before), each manifest's checkpoint signature and that it names an
// exported entry's hash, that no data object is outside every manifest, and,
// where the bucket lets it list versions, that no key was ever overwritten
// or deleted. The error is for S3 failing to answer; defects are Problems.
func VerifyS3(ctx context.Context, client S3Client, bucket, prefix string) (S3Report, error) {
	v := &verifier{ctx: ctx, c: client, bucket: bucket, prefix: normPrefix(prefix)}
	if err := v.run(); err != nil {
		return v.rep, fmt.Errorf("verify s3://%s/%s: %w", bucket, v.prefix, err)
	}
	return v.rep, nil
}

type verifier struct {
	ctx    context.Context
	c      S3Client
	bucket string
	prefix string
	rep    S3Report
	keys   []string // every current key, relative to prefix

	pendingLast map[uint64]uint64 // pending markers read: first → last
}

func (v *verifier) problem(key string, seq uint64, kind, format string, args ...any) {
	v.rep.Problems = append(v.rep.Problems, S3Problem{Key: key, Seq: seq, Kind: kind, Detail: fmt.Sprintf(format, args...)})
}

func (v *verifier) run() error {
	if err := v.list(); err != nil {
		return err
	}
	var manifests []Manifest
	var mkeys []string
	for _, k := range v.keys {
		switch {
		case strings.HasPrefix(k, dirManifests):
			f, l, ok := parseManifestKey(k)
			if !ok {
				v.problem(k, 0, BadManifest, "not a manifest name this exporter writes")
				continue
			}
			body, found, err := getObject(v.ctx, v.c, v.bucket, v.prefix+k)
			if err != nil {
				return err
			}
			var m Manifest
			if !found {
				v.problem(k, 0, BadManifest, "listed but not found")
				continue
			}
			if err := json.Unmarshal(body, &m); err != nil {
				v.problem(k, 0, BadManifest, "undecodable: %v", err)
				continue
			}
			if m.First != f || m.Last != l {
				v.problem(k, 0, BadManifest, "describes %d..%d, not the range its name gives", m.First, m.Last)
				continue
			}
			manifests = append(manifests, m)
			mkeys = append(mkeys, k)
		}
	}
	order := make([]int, len(manifests))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(i, j int) bool { return manifests[order[i]].First < manifests[order[j]].First })

	referenced := map[string]bool{}
	var next uint64 = 1          // the seq the next manifest should start at
	prevHash, linked := "", true // hash of entry next-1, when known
	for _, i := range order {
		m, mk := manifests[i], mkeys[i]
		v.rep.Manifests++
		for _, o := range m.Objects {
			referenced[o.Key] = true
		}
		switch {
		case m.First > next:
			v.problem(mk, next, recorder.Missing, "entries %d..%d are in no manifest", next, m.First-1)
			linked = false
		case m.First < next:
			v.problem(mk, m.First, Overlap, "entries %d..%d are also in an earlier manifest", m.First, min(m.Last, next-1))
			linked = false
		}
		hashes, err := v.batch(mk, m, prevHash, linked)
		if err != nil {
			return err
		}
		if v.rep.First == 0 {
			v.rep.First = m.First
		}
		v.rep.Last = max(v.rep.Last, m.Last)
		if m.Last >= next {
			next = m.Last + 1
			prevHash, linked = hashes[m.Last], hashes[m.Last] != ""
		}
		if c := m.Checkpoint; c != nil {
			v.checkpoint(mk, m, c, hashes[c.Seq])
		}
	}
	// Data objects outside every manifest: the batch after the last
	// manifest, which an interrupted export began (pending, not a
	// problem: the exporter starts a batch only once the one before has
	// its manifest), or something else.
	for _, k := range v.keys {
		if !strings.HasPrefix(k, dirRecords) || referenced[k] {
			continue
		}
		pending := false
		if f, l, ok := parseRange(path.Base(k)); ok && f == v.rep.Last+1 {
			p, err := v.pending(f)
			if err != nil {
				return err
			}
			pending = p == l
		}
		if pending {
			v.rep.Pending = append(v.rep.Pending, k)
			continue
		}
		v.problem(k, 0, Unreferenced, "a data object no manifest lists and no pending batch explains: Athena reads it, nothing vouches for it")
	}
	sort.SliceStable(v.rep.Problems, func(i, j int) bool { return v.rep.Problems[i].Seq < v.rep.Problems[j].Seq })
	return nil
}

// pending returns the last seq of the batch pending/<first>.json fixed, 0
// when there is no such marker.
func (v *verifier) pending(first uint64) (uint64, error) {
	if last, ok := v.pendingLast[first]; ok {
		return last, nil
	}
	body, found, err := getObject(v.ctx, v.c, v.bucket, v.prefix+pendingKey(first))
	if err != nil {
		return 0, err
	}
	var p pendingMarker
	if !found || json.Unmarshal(body, &p) != nil || p.First != first || p.Last < first {
		p.Last = 0
	}
	if v.pendingLast == nil {
		v.pendingLast = map[uint64]uint64{}
	}
	v.pendingLast[first] = p.Last
	return p.Last, nil
}

// list collects the current keys under the prefix and, where the bucket
// lets it list versions, reports keys overwritten or deleted.
func (v *verifier) list() error {
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(v.bucket), Prefix: aws.String(v.prefix)}
	versions := map[string]int{}
	deleted := map[string]bool{}
	var err error
	for {
		var out *s3.ListObjectVersionsOutput
		out, err = v.c.ListObjectVersions(v.ctx, in)
		if err != nil {
			break
		}
		for _, o := range out.Versions {
			k := strings.TrimPrefix(aws.ToString(o.Key), v.prefix)
			versions[k]++
			if aws.ToBool(o.IsLatest) {
				v.keys = append(v.keys, k)
			}
		}
		for _, d := range out.DeleteMarkers {
			k := strings.TrimPrefix(aws.ToString(d.Key), v.prefix)
			deleted[k] = true
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		in.KeyMarker, in.VersionIdMarker = out.NextKeyMarker, out.NextVersionIdMarker
	}
	if err == nil {
		v.rep.VersionsChecked = true
		for k, n := range versions {
			if n > 1 {
				v.problem(k, 0, Overwritten, "%d versions: the exporter never writes a key twice, so something overwrote it; compare the versions", n)
			}
		}
		for k := range deleted {
			v.problem(k, 0, Overwritten, "deleted (a delete marker hides it)")
		}
		slices.Sort(v.keys)
		return nil
	}
	if v.ctx.Err() != nil {
		return err
	}
	// No versions to list (permission, or a store without them): keys only.
	v.keys = nil
	p := s3.NewListObjectsV2Paginator(v.c, &s3.ListObjectsV2Input{Bucket: aws.String(v.bucket), Prefix: aws.String(v.prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(v.ctx)
		if err != nil {
			return fmt.Errorf("list objects: %w", err)
		}
		for _, o := range page.Contents {
			v.keys = append(v.keys, strings.TrimPrefix(aws.ToString(o.Key), v.prefix))
		}
	}
	return nil
}

// batch checks one manifest's objects and the chain through them, and
// returns the hashes of its entries by seq. prevHash is the hash of entry
// m.First-1 when linked.
func (v *verifier) batch(mk string, m Manifest, prevHash string, linked bool) (map[uint64]string, error) {
	type link struct{ prev, hash string }
	entries := map[uint64]link{}
	if m.Last-m.First+1 != m.Entries {
		v.problem(mk, m.First, BadManifest, "claims %d entries for %d..%d", m.Entries, m.First, m.Last)
	}
	for _, o := range m.Objects {
		v.rep.Objects++
		body, found, err := getObject(v.ctx, v.c, v.bucket, v.prefix+o.Key)
		if err != nil {
			return nil, err
		}
		if !found {
			v.problem(o.Key, o.First, BadObject, "listed in %s, not in the bucket", mk)
			continue
		}
		if sum := sha256.Sum256(body); hex.EncodeToString(sum[:]) != o.SHA256 {
			v.problem(o.Key, o.First, BadObject, "SHA-256 %x, manifest %s says %s: the object was changed", sum, mk, o.SHA256)
		}
		lines, err := gunzip(body)
		if err != nil {
			v.problem(o.Key, o.First, BadObject, "not gzip: %v", err)
			continue
		}
		dir := path.Dir(o.Key) + "/"
		count := 0
		sc := bufio.NewScanner(bytes.NewReader(lines))
		sc.Buffer(nil, len(lines)+1)
		for sc.Scan() {
			count++
			var r recorder.Record
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				v.problem(o.Key, 0, BadObject, "line %d undecodable: %v", count, err)
				continue
			}
			v.rep.Entries++
			switch {
			case r.Seq < m.First || r.Seq > m.Last:
				v.problem(o.Key, r.Seq, recorder.Reordered, "entry outside its manifest's range %d..%d", m.First, m.Last)
				continue
			case entries[r.Seq] != (link{}):
				v.problem(o.Key, r.Seq, Overlap, "entry %d appears twice", r.Seq)
				continue
			}
			if partition(r.Start) != dir {
				v.problem(o.Key, r.Seq, BadObject, "entry started %s, outside the object's partition", r.Start.UTC().Format("2006-01-02T15"))
			}
			h, err := recorder.EntryHash(&r)
			if err != nil || h != r.Hash {
				v.problem(o.Key, r.Seq, recorder.Changed, "hash does not match content")
			}
			entries[r.Seq] = link{r.PrevHash, r.Hash}
		}
		if count != o.Entries {
			v.problem(o.Key, o.First, BadObject, "%d entries, manifest %s says %d", count, mk, o.Entries)
		}
	}
	// Walk the entries found, in seq order: the manifest's range may claim
	// more than its objects hold, and need not be walked seq by seq.
	seqs := make([]uint64, 0, len(entries))
	for seq := range entries {
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	hashes := make(map[uint64]string, len(entries))
	want := m.First
	for _, seq := range seqs {
		e := entries[seq]
		if seq > want {
			v.problem(mk, want, recorder.Missing, "entries %d..%d are in the manifest's range, in none of its objects", want, seq-1)
			linked = false
		}
		if seq == 1 {
			prevHash, linked = "", true
		}
		if seq == m.First && e.prev != m.FirstPrevHash {
			v.problem(mk, seq, BadManifest, "first_prev_hash is not the first entry's prev_hash")
		}
		if linked && e.prev != prevHash {
			v.problem(mk, seq, recorder.BrokenLink, "prev_hash is not the previous entry's hash")
		}
		hashes[seq] = e.hash
		prevHash, linked, want = e.hash, true, seq+1
	}
	if want <= m.Last {
		v.problem(mk, want, recorder.Missing, "entries %d..%d are in the manifest's range, in none of its objects", want, m.Last)
	}
	if h := hashes[m.Last]; h != "" && h != m.LastHash {
		v.problem(mk, m.Last, BadManifest, "last_hash is not the last entry's hash")
	}
	return hashes, nil
}

// checkpoint checks a manifest's signature and that it names the exported
// entry's hash.
func (v *verifier) checkpoint(mk string, m Manifest, c *ManifestCheckpoint, exported string) {
	cp := recorder.Checkpoint{Seq: c.Seq, Hash: c.Hash, Signature: c.Signature}
	switch {
	case c.Seq < m.First || c.Seq > m.Last:
		v.problem(mk, c.Seq, recorder.BadCheckpoint, "checkpoint outside the manifest's range %d..%d", m.First, m.Last)
	case !cp.Valid(ed25519.PublicKey(c.PublicKey)):
		v.problem(mk, c.Seq, recorder.BadCheckpoint, "signature invalid")
	case exported != c.Hash:
		v.problem(mk, c.Seq, recorder.BadCheckpoint, "the exported entry's hash differs from the signed one")
	default:
		v.rep.Checkpoints++
		v.rep.SignedUpTo = max(v.rep.SignedUpTo, c.Seq)
		k := base64.StdEncoding.EncodeToString(c.PublicKey)
		if !slices.Contains(v.rep.PublicKeys, k) {
			if len(v.rep.PublicKeys) > 0 {
				v.problem(mk, c.Seq, recorder.BadCheckpoint, "signed with another key (%s) than earlier checkpoints (%s)", k, v.rep.PublicKeys[0])
			}
			v.rep.PublicKeys = append(v.rep.PublicKeys, k)
		}
	}
}
