package export

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The layout under the export prefix. Every name derives from a sequence
// range, so a rerun computes the same names and never writes a second
// copy, and zero-padded seqs list in chain order.
//
//	records/dt=YYYY-MM-DD/hour=HH/<first>-<last>.jsonl.gz   entries of batch first..last whose Start falls in that hour
//	manifests/<first>-<last>.json                           the batch, written after all its objects
//	pending/<first>.json                                    the batch's range, written before any of its objects
const (
	dirRecords   = "records/"
	dirManifests = "manifests/"
	dirPending   = "pending/"
)

// ManifestVersion is the format of the manifests this package writes.
const ManifestVersion = 1

// Manifest describes one batch: a contiguous range of chain entries, the
// objects holding them, and the signature that pins them.
type Manifest struct {
	Version int    `json:"version"`
	First   uint64 `json:"first"` // seq of the batch's first entry
	Last    uint64 `json:"last"`  // seq of its last entry
	Entries uint64 `json:"entries"`
	// FirstPrevHash is the PrevHash of entry First: the LastHash of the
	// batch before ("" when First is 1).
	FirstPrevHash string           `json:"first_prev_hash"`
	LastHash      string           `json:"last_hash"` // Hash of entry Last
	Objects       []ManifestObject `json:"objects"`
	// Checkpoint is the signed (seq, hash) the store held within First..Last
	// when the batch was cut: a checkpoint, or the signed head. Batches end
	// on one where the store has it, so usually Checkpoint.Seq == Last. Nil
	// when the store signs nothing or had no signature in the range.
	Checkpoint *ManifestCheckpoint `json:"checkpoint,omitempty"`
	Created    time.Time           `json:"created"`
}

// ManifestObject is one data object of a batch.
type ManifestObject struct {
	Key     string `json:"key"`    // relative to the export prefix
	SHA256  string `json:"sha256"` // hex, of the object's bytes as stored (gzip)
	Bytes   int64  `json:"bytes"`
	Entries int    `json:"entries"`
	First   uint64 `json:"first"` // seq of its first line
	Last    uint64 `json:"last"`  // seq of its last line
}

// ManifestCheckpoint is a signed statement that entry Seq had hash Hash,
// with the ed25519 public key it verifies with (recorder.Checkpoint.Valid).
// Compare PublicKey with the key you trust: anyone can sign with a key of
// their own.
type ManifestCheckpoint struct {
	Seq       uint64 `json:"seq"`
	Hash      string `json:"hash"`
	Signature []byte `json:"signature"`  // base64
	PublicKey []byte `json:"public_key"` // base64
}

// pendingMarker fixes a batch's range (and signature) before any of its
// objects is written, so a run cut short is finished with the same objects.
type pendingMarker struct {
	Version    int                 `json:"version"`
	First      uint64              `json:"first"`
	Last       uint64              `json:"last"`
	Checkpoint *ManifestCheckpoint `json:"checkpoint,omitempty"`
	Created    time.Time           `json:"created"`
}

func seqRange(first, last uint64) string { return fmt.Sprintf("%020d-%020d", first, last) }

func manifestKey(first, last uint64) string {
	return dirManifests + seqRange(first, last) + ".json"
}

func pendingKey(first uint64) string { return fmt.Sprintf("%s%020d.json", dirPending, first) }

// partition is the Hive-style directory of an entry: its record's Start
// hour in UTC.
func partition(start time.Time) string {
	t := start.UTC()
	return fmt.Sprintf("%sdt=%s/hour=%02d/", dirRecords, t.Format("2006-01-02"), t.Hour())
}

func objectKey(part string, first, last uint64) string {
	return part + seqRange(first, last) + ".jsonl.gz"
}

// parseRange reads "<first>-<last>" at the start of a file name.
func parseRange(name string) (first, last uint64, ok bool) {
	if len(name) < 41 || name[20] != '-' {
		return 0, 0, false
	}
	first, err1 := strconv.ParseUint(name[:20], 10, 64)
	last, err2 := strconv.ParseUint(name[21:41], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return first, last, first >= 1 && first <= last
}

// parseManifestKey reads the range of a key under manifests/.
func parseManifestKey(rel string) (first, last uint64, ok bool) {
	name, found := strings.CutPrefix(rel, dirManifests)
	if !found || !strings.HasSuffix(name, ".json") || len(name) != 41+len(".json") {
		return 0, 0, false
	}
	return parseRange(name)
}

// normPrefix makes "a/b", "/a/b/" and "a/b/" the same "a/b/", and "" or
// "/" the bucket's root.
func normPrefix(p string) string {
	p = strings.Trim(p, "/")
	if p == "" {
		return ""
	}
	return p + "/"
}
