package recorder

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	badger "github.com/dgraph-io/badger/v4"
)

// DefaultLimit is how many records Search returns when Query.Limit is 0.
const DefaultLimit = 100

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
	// Limit caps the records returned: 0 means DefaultLimit, a negative
	// Limit returns every match.
	Limit int
	// Newest returns the latest Start first, so that Limit keeps the most
	// recent records; by default the oldest come first.
	Newest bool
}

// Search returns the records matching q in Start order (then commit
// order), oldest first unless q.Newest, each once, as its latest entry:
// the completion once the call is complete, else the intent.
//
// It never scans every record unless q asks for every record. Each index
// value keeps its entries in time order (keys.go), so Search reads the
// indexes q names side by side in the order it returns records, each one
// skipping ahead to where the others are (a leapfrog join led by the most
// selective), within Since and Until, and stops at the limit. A glob seeks
// the range of its literal prefix (s3:Delete for s3:Delete*): a few values
// are read side by side; many values with few entries are gathered and
// sorted; otherwise the glob is checked on each record the other indexes
// (or the time index) lead to, until most of those records fail it and its
// range is gathered after all. Records are read only where every index
// agrees, and only from their latest entry.
func (s *Store) Search(q Query) ([]*Record, error) {
	out, _, err := s.search(q)
	return out, err
}

// searchStats tell tests how a search went.
type searchStats struct {
	reads    int // entries read and decoded
	gathered int // globs whose entries were gathered, up front or later
	deferred int // globs checked on records
}

func (s *Store) search(q Query) ([]*Record, searchStats, error) {
	limit := q.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	w := q.window()
	var out []*Record
	var st searchStats
	err := s.db.View(func(txn *badger.Txn) error {
		if !w.lo.less(w.hi) {
			return nil
		}
		pl := plan(txn, q, w, limit)
		defer pl.close()
		var err error
		out, err = pl.run(txn, q, w, limit)
		st = pl.stats
		return err
	})
	if errors.Is(err, badger.ErrDBClosed) {
		err = fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if err != nil {
		return nil, st, fmt.Errorf("search records: %w", err)
	}
	return out, st, nil
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

// pos is an index entry's place in time order: its Start (timeOrder), then
// its seq; every index key ends with it.
type pos struct{ t, seq uint64 }

func posAt(k []byte) pos {
	n := len(k)
	return pos{binary.BigEndian.Uint64(k[n-16:]), binary.BigEndian.Uint64(k[n-8:])}
}

func (p pos) append(b []byte) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(b, p.t), p.seq)
}

func (p pos) less(o pos) bool { return p.t < o.t || p.t == o.t && p.seq < o.seq }

// window is the positions a search covers, lo included, hi not, and the
// direction it reads them in.
type window struct {
	lo, hi pos
	fwd    bool
}

func (q Query) window() window {
	w := window{hi: pos{math.MaxUint64, math.MaxUint64}, fwd: !q.Newest}
	if !q.Since.IsZero() {
		w.lo = pos{t: timeOrder(q.Since)}
	}
	if !q.Until.IsZero() && !q.Until.After(maxNanoTime) {
		w.hi = pos{t: timeOrder(q.Until)}
	}
	return w
}

func (w window) in(p pos) bool { return !p.less(w.lo) && p.less(w.hi) }

// before reports whether a comes before b in the direction of reading.
func (w window) before(a, b pos) bool {
	if w.fwd {
		return a.less(b)
	}
	return b.less(a)
}

// A stream reads index entries in the window's direction.
type stream interface {
	ok() bool
	at() pos
	next() bool
	// seek moves to the first entry at or after p in the direction of
	// reading; a stream never moves back.
	seek(p pos) bool
	id() (string, error) // the record id the entry points to
	close()
}

// keyStream reads the keys under one prefix that end with a position: a
// value of an index, or the time index.
type keyStream struct {
	it     *badger.Iterator
	prefix []byte
	w      window
	cur    pos
	valid  bool
	buf    []byte
}

func newKeyStream(txn *badger.Txn, prefix []byte, w window) *keyStream {
	o := badger.DefaultIteratorOptions
	o.PrefetchValues = false
	o.Prefix = prefix
	o.Reverse = !w.fwd
	s := &keyStream{it: txn.NewIterator(o), prefix: prefix, w: w}
	s.rewind()
	return s
}

func (s *keyStream) rewind() {
	if s.w.fwd {
		s.seekKey(s.w.lo)
	} else {
		s.seekKey(s.w.hi) // a reverse Seek lands at or before its key
	}
}

func (s *keyStream) seekKey(p pos) {
	s.buf = p.append(append(s.buf[:0], s.prefix...))
	s.it.Seek(s.buf)
	s.settle()
}

// settle stops at the iterator's entry if it is in the window, else at
// the next one that is.
func (s *keyStream) settle() {
	for ; s.it.ValidForPrefix(s.prefix); s.it.Next() {
		k := s.it.Item().Key()
		if len(k) != len(s.prefix)+16 {
			continue // not this prefix's layout: Verify's to report
		}
		p := posAt(k)
		if s.w.in(p) {
			s.cur, s.valid = p, true
			return
		}
		if s.w.fwd && !p.less(s.w.hi) || !s.w.fwd && p.less(s.w.lo) {
			break
		}
	}
	s.valid = false
}

func (s *keyStream) ok() bool { return s.valid }
func (s *keyStream) at() pos  { return s.cur }

func (s *keyStream) next() bool {
	if s.valid {
		s.it.Next()
		s.settle()
	}
	return s.valid
}

// seekSteps is how many entries seek steps over before it seeks: when the
// other indexes are dense, stepping is much cheaper than Badger's Seek.
const seekSteps = 4

func (s *keyStream) seek(p pos) bool {
	for range seekSteps {
		if !s.valid || !s.w.before(s.cur, p) {
			return s.valid
		}
		s.next()
	}
	if s.valid && s.w.before(s.cur, p) {
		s.seekKey(p)
	}
	return s.valid
}

func (s *keyStream) id() (string, error) {
	var id string
	err := s.it.Item().Value(func(v []byte) error { id = string(v); return nil })
	return id, err
}

func (s *keyStream) close() { s.it.Close() }

// count counts the stream's entries up to max, then rewinds it.
func (s *keyStream) count(max int) int {
	n := 0
	for ; s.valid && n < max; s.next() {
		n++
	}
	s.rewind()
	return n
}

// mergeStream reads the values of a glob side by side.
type mergeStream struct {
	subs []*keyStream
	cur  int
	w    window
}

func (m *mergeStream) pick() bool {
	m.cur = -1
	for i, s := range m.subs {
		if s.valid && (m.cur < 0 || m.w.before(s.cur, m.subs[m.cur].cur)) {
			m.cur = i
		}
	}
	return m.cur >= 0
}

func (m *mergeStream) ok() bool { return m.cur >= 0 }
func (m *mergeStream) at() pos  { return m.subs[m.cur].cur }

func (m *mergeStream) next() bool {
	if m.cur >= 0 {
		m.subs[m.cur].next()
	}
	return m.pick()
}

func (m *mergeStream) seek(p pos) bool {
	for _, s := range m.subs {
		s.seek(p)
	}
	return m.pick()
}

func (m *mergeStream) id() (string, error) { return m.subs[m.cur].id() }

func (m *mergeStream) close() {
	for _, s := range m.subs {
		s.close()
	}
}

// memStream reads entries gathered from a glob's range, sorted.
type memStream struct {
	es []memEntry
	i  int
	w  window
}

type memEntry struct {
	p  pos
	id string
}

func (m *memStream) ok() bool { return m.i < len(m.es) }
func (m *memStream) at() pos  { return m.es[m.i].p }

func (m *memStream) next() bool {
	m.i++
	return m.ok()
}

func (m *memStream) seek(p pos) bool {
	rest := m.es[m.i:]
	m.i += sort.Search(len(rest), func(j int) bool { return !m.w.before(rest[j].p, p) })
	return m.ok()
}

func (m *memStream) id() (string, error) { return m.es[m.i].id, nil }
func (m *memStream) close()              {}

// Planning bounds: how far Search looks before it commits to a way of
// reading an index.
const (
	// countCap is how many entries of an index are counted to rank it.
	countCap = 1024
	// distinctCap is how many values of a glob's range are listed before
	// it counts as many-valued; mergeCap is how many matching values are
	// read side by side.
	distinctCap = 512
	mergeCap    = 64
	// gatherCap is how many keys of a many-valued glob's range are read
	// up front to gather its entries.
	gatherCap = 4096
	// A glob left to the records has its range gathered after all once
	// deferReads records have been read and fewer than one in deferRatio
	// matched: gathering reads keys only, but all of the range, so it pays
	// only when records are read in vain.
	deferReads = 256
	deferRatio = 32
)

type searchPlan struct {
	streams []stream // joined; the first leads
	est     []int
	// deferred globs are checked on each record read; the first may be
	// gathered into a stream later.
	deferred []globCond
	empty    bool // an index has no entry for q: nothing matches
	stats    searchStats
}

type globCond struct{ name, pattern string }

func (pl *searchPlan) close() {
	for _, s := range pl.streams {
		s.close()
	}
}

func (pl *searchPlan) add(s stream, est int) {
	if !s.ok() {
		pl.empty = true
	}
	pl.streams = append(pl.streams, s)
	pl.est = append(pl.est, est)
}

// plan opens a stream for each index q names, most selective first, or the
// time index when q names none it can read in order.
func plan(txn *badger.Txn, q Query, w window, limit int) *searchPlan {
	pl := &searchPlan{}
	for _, c := range []struct{ name, value string }{
		{ixRequestID, q.RequestID}, {ixSession, q.Session}, {ixErrorCode, q.ErrorCode},
		{ixIdentity, q.Identity}, {ixDecision, q.Decision},
	} {
		if c.value != "" && !pl.empty {
			s := newKeyStream(txn, exactPrefix(c.name, c.value), w)
			pl.add(s, s.count(countCap))
		}
	}
	for _, g := range []globCond{{ixAction, q.Action}, {ixResource, q.Resource}} {
		if g.pattern != "" && !pl.empty {
			pl.glob(txn, g, w, limit < 0)
		}
	}
	if pl.empty {
		return pl
	}
	if len(pl.streams) == 0 {
		pl.add(newKeyStream(txn, []byte(prefTime), w), 0)
	}
	idx := make([]int, len(pl.streams))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return pl.est[idx[a]] < pl.est[idx[b]] })
	streams, est := make([]stream, len(idx)), make([]int, len(idx))
	for i, j := range idx {
		streams[i], est[i] = pl.streams[j], pl.est[j]
	}
	pl.streams, pl.est = streams, est
	return pl
}

func exactPrefix(name, value string) []byte { return append(indexPrefix(name, value), 0) }

// literal is the part of a glob before its first wildcard, and whether
// there is a wildcard at all.
func literal(pattern string) (string, bool) {
	if i := strings.IndexAny(pattern, "*?"); i >= 0 {
		return pattern[:i], true
	}
	return pattern, false
}

// glob adds the stream for a glob condition, or defers it to the records.
func (pl *searchPlan) glob(txn *badger.Txn, g globCond, w window, gatherAll bool) {
	lit, wild := literal(g.pattern)
	if !wild {
		s := newKeyStream(txn, exactPrefix(g.name, g.pattern), w)
		pl.add(s, s.count(countCap))
		return
	}
	base, rng := indexPrefix(g.name, ""), indexPrefix(g.name, lit)
	if values, all := distinctValues(txn, base, rng, g.pattern); all && len(values) <= mergeCap {
		m := &mergeStream{w: w}
		budget := countCap
		est := 0
		for _, v := range values {
			s := newKeyStream(txn, exactPrefix(g.name, v), w)
			if !s.valid {
				s.close()
				continue
			}
			n := s.count(max(budget, 1))
			budget -= n
			est += n
			m.subs = append(m.subs, s)
		}
		m.pick()
		pl.add(m, est)
		return
	}
	cap := gatherCap
	if gatherAll {
		cap = 0
	}
	if es, all := gather(txn, base, rng, g.pattern, w, cap); all {
		pl.add(&memStream{es: es, w: w}, len(es))
		pl.stats.gathered++
		return
	}
	pl.deferred = append(pl.deferred, g)
	pl.stats.deferred++
}

// distinctValues lists the values in the range that match pattern, seeking
// from each value to the next; all is false when the range holds more than
// distinctCap values.
func distinctValues(txn *badger.Txn, base, rng []byte, pattern string) (values []string, all bool) {
	o := badger.DefaultIteratorOptions
	o.PrefetchValues = false
	o.Prefix = rng
	it := txn.NewIterator(o)
	defer it.Close()
	seen := 0
	var next []byte
	for it.Seek(rng); it.ValidForPrefix(rng); {
		k := it.Item().Key()
		end := len(k) - 17 // the 0x00 ending the value
		if end < len(base) || k[end] != 0 {
			it.Next()
			continue
		}
		if seen++; seen > distinctCap {
			return values, false
		}
		if v := unescape(k[len(base):end]); Match(pattern, v) {
			values = append(values, v)
		}
		// Escaped values hold no 0x00, so value+0x01 is past all of
		// this value's keys and before any longer value's.
		next = append(append(next[:0], k[:end]...), 1)
		it.Seek(next)
	}
	return values, true
}

// gather reads the entries in the range whose value matches pattern and
// whose position is in the window, sorted for reading; all is false when
// the range holds more than max keys (max 0: no bound).
func gather(txn *badger.Txn, base, rng []byte, pattern string, w window, max int) (es []memEntry, all bool) {
	o := badger.DefaultIteratorOptions
	o.PrefetchValues = false
	o.Prefix = rng
	it := txn.NewIterator(o)
	defer it.Close()
	n := 0
	var last []byte
	lastOK := false
	for it.Seek(rng); it.ValidForPrefix(rng); it.Next() {
		if n++; max > 0 && n > max {
			return nil, false
		}
		k := it.Item().Key()
		end := len(k) - 17
		if end < len(base) || k[end] != 0 {
			continue
		}
		p := posAt(k)
		if !w.in(p) {
			continue
		}
		if v := k[len(base):end]; last == nil || !bytes.Equal(v, last) {
			last = append(last[:0:0], v...)
			lastOK = Match(pattern, unescape(v))
		}
		if !lastOK {
			continue
		}
		var id string
		if err := it.Item().Value(func(v []byte) error { id = string(v); return nil }); err != nil {
			continue
		}
		es = append(es, memEntry{p, id})
	}
	slices.SortFunc(es, func(a, b memEntry) int {
		switch {
		case w.before(a.p, b.p):
			return -1
		case w.before(b.p, a.p):
			return 1
		}
		return 0
	})
	// A record with two matching resources was gathered twice.
	es = slices.CompactFunc(es, func(a, b memEntry) bool { return a.p == b.p })
	return es, true
}

// run joins the plan's streams and reads the records they agree on, up to
// limit.
func (pl *searchPlan) run(txn *badger.Txn, q Query, w window, limit int) ([]*Record, error) {
	if pl.empty {
		return nil, nil
	}
	var out []*Record
	var last pos
	seen := false
	for pl.streams[0].ok() {
		lead := pl.streams[0]
		p := lead.at()
		agreed := true
		for _, s := range pl.streams[1:] {
			if !s.seek(p) {
				return out, nil
			}
			if s.at() != p {
				lead.seek(s.at())
				agreed = false
				break
			}
		}
		if !agreed {
			continue
		}
		if !seen || p != last { // a record with two matching resources
			last, seen = p, true
			r, err := latestAt(txn, lead, p)
			if err != nil {
				return nil, err
			}
			if r != nil {
				pl.stats.reads++
				if q.matches(r) {
					out = append(out, r)
					if limit > 0 && len(out) >= limit {
						return out, nil
					}
				}
			}
		}
		lead.next()
		if len(pl.deferred) > 0 && pl.stats.reads >= deferReads && len(out)*deferRatio < pl.stats.reads {
			// The deferred glob rejects too much: read its range after all.
			g := pl.deferred[0]
			pl.deferred = pl.deferred[1:]
			lit, _ := literal(g.pattern)
			es, _ := gather(txn, indexPrefix(g.name, ""), indexPrefix(g.name, lit), g.pattern, w, 0)
			pl.streams = append(pl.streams, &memStream{es: es, w: w})
			pl.stats.gathered++
		}
	}
	return out, nil
}

// latestAt reads the record whose entry is at p if that entry is the
// record's latest: its completion, or the intent of a call not complete.
// Any other entry gives nil, as does one Verify would report (missing,
// undecodable, pointing elsewhere).
func latestAt(txn *badger.Txn, s stream, p pos) (*Record, error) {
	id, err := s.id()
	if err != nil {
		return nil, err
	}
	item, err := txn.Get(doneKey(id))
	switch {
	case err == nil:
		latest := false
		if err := item.Value(func(v []byte) error {
			latest = len(v) == 8 && binary.BigEndian.Uint64(v) == p.seq
			return nil
		}); err != nil {
			return nil, err
		}
		if !latest {
			return nil, nil
		}
	case !errors.Is(err, badger.ErrKeyNotFound):
		return nil, err
	}
	r, err := getEntry(txn, p.seq)
	if err != nil || r.ID != id {
		return nil, nil
	}
	return r, nil
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
