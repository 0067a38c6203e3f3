package recorder

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	badger "github.com/dgraph-io/badger/v4"
)

// Query selects records. Empty fields match everything; Action and Resource
// are globs where * matches any run of characters (slashes included) and ?
// one character. Since and Until bound Start (Until exclusive).
type Query struct {
	Identity  string // Identity.Subject
	Action    string // glob, e.g. s3:Delete*
	Resource  string // glob over Resources
	Decision  string // Decision.Effect
	Session   string
	RequestID string // UpstreamRequestID
	ErrorCode string
	Since     time.Time
	Until     time.Time
	Limit     int
}

// Search returns the records matching q, oldest Start first. It reads the
// candidates from one index (the most selective the query names) and checks
// the rest of q on each, so it never scans every record.
func (s *Store) Search(q Query) ([]*Record, error) {
	var out []*Record
	err := s.db.View(func(txn *badger.Txn) error {
		seqs, err := candidates(txn, q)
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, seq := range seqs {
			e, err := getEntry(txn, seq)
			if err != nil {
				continue // a missing entry is Verify's to report
			}
			if seen[e.ID] {
				continue
			}
			seen[e.ID] = true
			r, err := getRecord(txn, doneKey(e.ID))
			if err != nil {
				if r, err = getRecord(txn, idKey(e.ID)); err != nil {
					continue
				}
			}
			if q.matches(r) {
				out = append(out, r)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("search records: %w", err)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Start.Equal(out[j].Start) {
			return out[i].Start.Before(out[j].Start)
		}
		return out[i].Seq < out[j].Seq
	})
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

// candidates lists the seqs of the entries one index holds for q.
func candidates(txn *badger.Txn, q Query) ([]uint64, error) {
	switch {
	case q.RequestID != "":
		return exact(txn, ixRequestID, q.RequestID), nil
	case q.Session != "":
		return exact(txn, ixSession, q.Session), nil
	case q.ErrorCode != "":
		return exact(txn, ixErrorCode, q.ErrorCode), nil
	case q.Identity != "":
		return exact(txn, ixIdentity, q.Identity), nil
	case q.Action != "":
		return glob(txn, ixAction, q.Action), nil
	case q.Resource != "":
		return glob(txn, ixResource, q.Resource), nil
	case q.Decision != "":
		return exact(txn, ixDecision, q.Decision), nil
	default:
		return timeRange(txn, q.Since, q.Until), nil
	}
}

func keysOnly(txn *badger.Txn) *badger.Iterator {
	o := badger.DefaultIteratorOptions
	o.PrefetchValues = false
	return txn.NewIterator(o)
}

func exact(txn *badger.Txn, name, value string) []uint64 {
	p := append(indexPrefix(name, value), 0)
	it := keysOnly(txn)
	defer it.Close()
	var seqs []uint64
	for it.Seek(p); it.ValidForPrefix(p); it.Next() {
		k := it.Item().Key()
		seqs = append(seqs, binary.BigEndian.Uint64(k[len(k)-8:]))
	}
	return seqs
}

// glob scans the index from the pattern's literal prefix and matches the
// rest.
func glob(txn *badger.Txn, name, pattern string) []uint64 {
	lit := pattern
	if i := strings.IndexAny(pattern, "*?"); i >= 0 {
		lit = pattern[:i]
	}
	base := len(indexPrefix(name, ""))
	p := indexPrefix(name, lit)
	it := keysOnly(txn)
	defer it.Close()
	var seqs []uint64
	for it.Seek(p); it.ValidForPrefix(p); it.Next() {
		k := it.Item().Key()
		if len(k) < base+9 {
			continue
		}
		if Match(pattern, string(k[base:len(k)-9])) {
			seqs = append(seqs, binary.BigEndian.Uint64(k[len(k)-8:]))
		}
	}
	return seqs
}

func timeRange(txn *badger.Txn, since, until time.Time) []uint64 {
	start := []byte(prefTime)
	if !since.IsZero() {
		start = append(start, timeBytes(since)...)
	}
	var end []byte
	if !until.IsZero() {
		end = append([]byte(prefTime), timeBytes(until)...)
	}
	it := keysOnly(txn)
	defer it.Close()
	var seqs []uint64
	for it.Seek(start); it.ValidForPrefix([]byte(prefTime)); it.Next() {
		k := it.Item().Key()
		if end != nil && bytes.Compare(k, end) >= 0 {
			break
		}
		seqs = append(seqs, binary.BigEndian.Uint64(k[len(k)-8:]))
	}
	return seqs
}

func (q Query) matches(r *Record) bool {
	switch {
	case q.Identity != "" && r.Identity.Subject != q.Identity,
		q.Action != "" && !Match(q.Action, r.Action),
		q.Decision != "" && r.Decision.Effect != q.Decision,
		q.Session != "" && r.Session != q.Session,
		q.RequestID != "" && r.UpstreamRequestID != q.RequestID,
		q.ErrorCode != "" && r.ErrorCode != q.ErrorCode,
		!q.Since.IsZero() && r.Start.Before(q.Since),
		!q.Until.IsZero() && !r.Start.Before(q.Until):
		return false
	}
	if q.Resource != "" {
		for _, res := range r.Resources {
			if Match(q.Resource, res) {
				return true
			}
		}
		return false
	}
	return true
}

// Match reports whether s matches pattern, where * matches any run of
// characters and ? exactly one (one byte when either is not valid UTF-8, so
// distinct invalid bytes never compare equal).
func Match(pattern, s string) bool {
	if !utf8.ValidString(pattern) || !utf8.ValidString(s) {
		return match([]byte(pattern), []byte(s))
	}
	return match([]rune(pattern), []rune(s))
}

func match[T byte | rune](p, n []T) bool {
	pi, ni, star, mark := 0, 0, -1, 0
	for ni < len(n) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == n[ni]):
			pi++
			ni++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ni
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			ni = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
