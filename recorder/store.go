package recorder

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// ErrUnavailable means the store cannot durably write; the caller must refuse
// the call it was about to forward.
var ErrUnavailable = errors.New("recorder unavailable")

// ErrNotFound means no record has the given id.
var ErrNotFound = errors.New("record not found")

// Options configure a Store.
type Options struct {
	Dir string
	// NoSync turns off the fsyncs. The zero value is durable: an intent
	// or an appended record is synced before it returns (with every commit
	// before it); a completion is committed before it returns and synced
	// with the next intent, or within SyncEvery. A bool cannot default to
	// true, so the brief's SyncWrites is inverted.
	NoSync bool
	// SyncEvery bounds how long a completion waits for a sync when no
	// intent brings one; default 100ms.
	SyncEvery time.Duration
	// SyncCompletions syncs each completion before Complete returns, as
	// an intent is: no completion is lost to a power cut either, for one
	// more fsync per call.
	SyncCompletions bool
	// TTL expires entries; zero keeps them forever. Verify counts the
	// entries missing before the oldest one left as expired, not as
	// problems.
	TTL time.Duration
	// CheckpointKey signs a checkpoint (seq and hash) every CheckpointEvery
	// entries and on Close; nil disables checkpoints.
	CheckpointKey   ed25519.PrivateKey
	CheckpointEvery int // default 1000
	// MinFree is the free space Dir must keep before a commit; below it the
	// store refuses writes with ErrUnavailable. Badger writes through mmap,
	// where a full disk is a SIGBUS rather than an error, so the store must
	// stop before the disk is full. Default 2×MemTableSize.
	MinFree int64
	// MemTableSize is Badger's; default 8 MiB. Badger keeps up to two
	// in memory, their write-ahead files are mapped, and flushing one
	// builds a table of its size in memory: it is most of the gateway's
	// fixed heap.
	MemTableSize int64
	// CacheSize is Badger's block cache, for search; default 8 MiB (blocks
	// are neither compressed nor encrypted, so a miss only parses a block
	// read through mmap).
	CacheSize int64
	// ReadOnly opens the store for reading (search, verify, export) while
	// no gateway holds it; writes fail with ErrUnavailable.
	ReadOnly bool
	Now      func() time.Time
}

// Store is the Badger-backed record store.
type Store struct {
	db         *badger.DB
	opts       Options
	incomplete []string

	ops       chan *op
	closeOnce sync.Once
	quit      chan struct{}
	stopped   chan struct{}

	// Chain state, owned by the writer goroutine.
	seq      uint64
	head     string
	lastCkpt uint64

	// Durability, owned by the writer goroutine: nil with NoSync.
	wal   *walFiles
	dirty bool // commits made since the last sync

	commits atomic.Int64 // successful batch commits, for the benchmark
}

// op is one chain entry to commit: an intent, or a completion (rec.Complete
// set) already filled in by the caller's goroutine.
type op struct {
	rec     *Record
	whole   bool // Append: intent and completion in one entry
	durable bool // synced before it returns (an intent, an appended record)
	out     *Record
	err     error
	done    chan struct{}
}

// Open opens or creates the store in opts.Dir and notes the records a crash
// left incomplete.
func Open(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("open recorder: no Dir")
	}
	if opts.CheckpointEvery <= 0 {
		opts.CheckpointEvery = 1000
	}
	if opts.MemTableSize <= 0 {
		opts.MemTableSize = 8 << 20
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = 8 << 20
	}
	if opts.MinFree <= 0 {
		opts.MinFree = 2 * opts.MemTableSize
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SyncEvery <= 0 {
		opts.SyncEvery = 100 * time.Millisecond
	}
	bo := badger.DefaultOptions(opts.Dir).
		// The store syncs Badger's write-ahead files itself, when an
		// entry must be durable (walFiles), not on every commit.
		WithSyncWrites(false).
		WithLogger(nil).
		WithMemTableSize(opts.MemTableSize).
		WithBlockCacheSize(opts.CacheSize).
		// Entries stay under the value threshold (commitSome refuses
		// one that would not), so the value log holds none, and the
		// store need not sync it.
		WithValueLogFileSize(1 << 20).
		WithValueThreshold(valueThreshold(opts.MemTableSize)).
		WithNumMemtables(2).
		// Level 0 takes five tables before compacting into level 1 (Badger's
		// default), not two: every level-0 table spans the whole key space
		// (ids and index keys are spread), so each compaction rewrites all
		// of level 1, and doing it less often is the cheapest cut in the
		// recorder's cost (BenchmarkCallsConcurrent: about 350 → 284 µs
		// of CPU per call, intent and completion; with eight, ~255).
		WithNumLevelZeroTables(5).
		WithNumLevelZeroTablesStall(10).
		// Compaction's table builders are most of Badger's heap: with
		// Snappy, four compactors and 2 MiB tables a gateway recording
		// 40k calls held 1 GiB; without compression, with two compactors
		// and 1 MiB tables, under 150 MiB (and ~100 MiB resident with
		// serve's Go memory limit). Records compress well on disk
		// anyway in the S3 export.
		WithCompression(options.None).
		WithNumCompactors(2).
		WithBaseTableSize(1 << 20).
		WithReadOnly(opts.ReadOnly)
	db, err := badger.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("open recorder %s: %w: %w", opts.Dir, ErrUnavailable, err)
	}
	s := &Store{db: db, opts: opts, ops: make(chan *op, 1024), quit: make(chan struct{}), stopped: make(chan struct{})}
	if err := s.load(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open recorder %s: %w", opts.Dir, err)
	}
	if opts.ReadOnly {
		close(s.quit)
		close(s.stopped)
		return s, nil
	}
	if !opts.NoSync {
		if s.wal, err = openWALFiles(opts.Dir); err != nil {
			db.Close()
			return nil, fmt.Errorf("open recorder %s: %w: %w", opts.Dir, ErrUnavailable, err)
		}
	}
	go s.write()
	return s, nil
}

// GC runs Badger's value-log garbage collection every interval until ctx
// ends, reclaiming the space of entries past their TTL; errors other than
// "nothing to collect" go to onErr.
func (s *Store) GC(ctx context.Context, every time.Duration, onErr func(error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for ctx.Err() == nil {
			err := s.db.RunValueLogGC(0.5)
			if err == nil {
				continue // rewrote a file; there may be more
			}
			if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) && onErr != nil {
				onErr(err)
			}
			break
		}
	}
}

func (s *Store) load() error {
	return s.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get([]byte(keyHead))
		if err == nil {
			v, err := it.ValueCopy(nil)
			if err != nil {
				return err
			}
			var ok bool
			if s.seq, s.head, _, ok = parseHead(v); !ok {
				return errors.New("head: short value")
			}
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		io := badger.DefaultIteratorOptions
		io.PrefetchValues = false
		iter := txn.NewIterator(io)
		defer iter.Close()
		for iter.Seek([]byte(prefPending)); iter.ValidForPrefix([]byte(prefPending)); iter.Next() {
			s.incomplete = append(s.incomplete, string(iter.Item().Key()[len(prefPending):]))
		}
		io.Reverse = true
		rev := txn.NewIterator(io)
		defer rev.Close()
		rev.Seek(append([]byte(prefCkpt), 0xff))
		if rev.ValidForPrefix([]byte(prefCkpt)) {
			s.lastCkpt = binary.BigEndian.Uint64(rev.Item().Key()[len(prefCkpt):])
		}
		return nil
	})
}

// Incomplete lists the records whose intent was committed but whose
// completion was not when the store was last opened: calls a crash cut off.
func (s *Store) Incomplete() []string { return append([]string(nil), s.incomplete...) }

// Intent commits r durably before the caller forwards the call, and sets its
// Seq, PrevHash and Hash. Concurrent intents share one commit (and fsync).
// Any error means the caller must refuse the call.
func (s *Store) Intent(ctx context.Context, r *Record) error {
	if r == nil || r.ID == "" {
		return errors.New("record intent: no id")
	}
	c := *r
	c.Complete = false
	o, err := s.submit(ctx, &op{rec: &c, durable: true})
	if err != nil {
		return fmt.Errorf("record intent %s: %w", r.ID, err)
	}
	r.Seq, r.PrevHash, r.Hash, r.Complete = o.Seq, o.PrevHash, o.Hash, false
	return nil
}

// Append commits r as one complete entry: a call that never left the
// gateway (refused, answered by Gatehouse itself) or a connection, where
// there is nothing to write ahead of. It sets r's Seq, PrevHash and Hash.
func (s *Store) Append(ctx context.Context, r *Record) error {
	if r == nil || r.ID == "" {
		return errors.New("record: no id")
	}
	c := *r
	c.Complete = true
	o, err := s.submit(ctx, &op{rec: &c, whole: true, durable: true})
	if err != nil {
		return fmt.Errorf("record %s: %w", r.ID, err)
	}
	r.Seq, r.PrevHash, r.Hash, r.Complete = o.Seq, o.PrevHash, o.Hash, true
	return nil
}

// Complete appends the completion of id as a second chained entry: the intent
// is never rewritten. It is committed when Complete returns (it survives the
// process being killed) and synced with the next intent, or within
// SyncEvery. fill sets the fields known once the call returns; the
// id, chain fields and Complete are the store's.
func (s *Store) Complete(ctx context.Context, id string, fill func(*Record)) error {
	r, err := s.Get(id)
	if err != nil {
		return fmt.Errorf("record completion %s: %w", id, err)
	}
	if r.Complete {
		return fmt.Errorf("record completion %s: already complete", id)
	}
	return s.CompleteIntent(ctx, r, fill)
}

// CompleteIntent is Complete for a caller that still holds the intent it
// committed: the completion starts from it instead of reading it back.
// The store still refuses a completion without a committed intent, and a
// second one.
func (s *Store) CompleteIntent(ctx context.Context, intent *Record, fill func(*Record)) error {
	r := *intent
	if fill != nil {
		fill(&r)
	}
	r.ID, r.Complete = intent.ID, true
	if _, err := s.submit(ctx, &op{rec: &r, durable: s.opts.SyncCompletions}); err != nil {
		return fmt.Errorf("record completion %s: %w", intent.ID, err)
	}
	return nil
}

func (s *Store) submit(ctx context.Context, o *op) (*Record, error) {
	o.done = make(chan struct{})
	select {
	case <-s.quit:
		return nil, fmt.Errorf("%w: store closed", ErrUnavailable)
	default:
	}
	select {
	case s.ops <- o:
	case <-s.quit:
		return nil, fmt.Errorf("%w: store closed", ErrUnavailable)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case <-o.done:
		return o.out, o.err
	case <-s.stopped:
		// Close raced the send: the writer may have left o in the queue.
		select {
		case <-o.done:
			return o.out, o.err
		default:
			return nil, fmt.Errorf("%w: store closed", ErrUnavailable)
		}
	case <-ctx.Done():
		// The entry may still commit; it then shows as incomplete.
		return nil, ctx.Err()
	}
}

const maxBatch = 256

// write is the only writer: it takes whatever operations are waiting, chains
// them in order and commits them in one transaction, so concurrent callers
// share one fsync. It syncs completions no intent has synced every
// SyncEvery.
func (s *Store) write() {
	defer close(s.stopped)
	batch := make([]*op, 0, maxBatch)
	tick := time.NewTicker(s.opts.SyncEvery)
	defer tick.Stop()
	for {
		var first *op
		select {
		case first = <-s.ops:
		case <-tick.C:
			if s.dirty {
				s.sync() // an error shows again at the next intent's sync
			}
			continue
		case <-s.quit:
			s.drain()
			if s.dirty {
				s.sync()
			}
			if s.wal != nil {
				s.wal.close()
			}
			return
		}
		batch = append(batch[:0], first)
	more:
		for len(batch) < maxBatch {
			select {
			case o := <-s.ops:
				batch = append(batch, o)
			default:
				break more
			}
		}
		s.commit(batch)
		for _, o := range batch {
			close(o.done)
		}
	}
}

// drain fails what was queued when Close began.
func (s *Store) drain() {
	for {
		select {
		case o := <-s.ops:
			o.err = fmt.Errorf("%w: store closed", ErrUnavailable)
			close(o.done)
		default:
			return
		}
	}
}

// commit writes batch in as few transactions as Badger's batch limits allow.
func (s *Store) commit(batch []*op) {
	for len(batch) > 0 {
		batch = batch[s.commitSome(batch):]
	}
}

// write is one chain entry's keys, prepared before any touches the
// transaction, so an entry is either wholly in a commit or not at all.
type write struct {
	sets    [][2][]byte
	deletes [][]byte
	size    int64
}

// commitSome chains and commits a prefix of batch in one transaction and
// returns its length. On success the chain state advances; on failure every
// operation in the prefix gets ErrUnavailable and nothing of it is visible.
func (s *Store) commitSome(batch []*op) int {
	fail := func(err error) int {
		for _, o := range batch {
			if o.err == nil {
				o.err = fmt.Errorf("%w: %w", ErrUnavailable, err)
			}
			o.out = nil
		}
		return len(batch)
	}
	if err := s.roomLeft(); err != nil {
		return fail(err)
	}
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	// Badger refuses a transaction past these; stay well inside them.
	maxSize, maxCount := s.db.MaxBatchSize()/2, s.db.MaxBatchCount()/2
	threshold := valueThreshold(s.opts.MemTableSize)
	var size, count int64
	seq, head, ckpt := s.seq, s.head, s.lastCkpt
	ok := 0
	for i, o := range batch {
		r, err := s.entry(txn, o)
		if err != nil {
			o.err = err // the caller's mistake, not the store's
			continue
		}
		r.Seq, r.PrevHash = seq+1, head
		if r.Hash, err = chainHash(r); err != nil {
			o.err = fmt.Errorf("hash: %w", err)
			continue
		}
		w, err := prepare(r, o.whole)
		if err != nil {
			o.err = fmt.Errorf("encode: %w", err)
			continue
		}
		cnt := int64(len(w.sets) + len(w.deletes))
		if int64(len(w.sets[0][1])) >= threshold {
			// It would go to the value log, which the store does
			// not sync.
			o.err = fmt.Errorf("record of %d bytes exceeds an entry (%d)", len(w.sets[0][1]), threshold)
			continue
		}
		if size+w.size > maxSize || count+cnt > maxCount {
			if ok == 0 {
				o.err = fmt.Errorf("record of %d bytes exceeds a commit", w.size)
				continue
			}
			batch = batch[:i] // the rest goes in the next transaction
			break
		}
		for _, kv := range w.sets {
			if err := s.set(txn, kv[0], kv[1]); err != nil {
				return fail(err)
			}
		}
		for _, k := range w.deletes {
			if err := txn.Delete(k); err != nil {
				return fail(err)
			}
		}
		size, count = size+w.size, count+cnt
		seq, head = r.Seq, r.Hash
		o.out = r
		ok++
		if s.opts.CheckpointKey != nil && seq%uint64(s.opts.CheckpointEvery) == 0 {
			if err := s.putCheckpoint(txn, seq, head); err != nil {
				return fail(err)
			}
			ckpt = seq
		}
	}
	if ok == 0 {
		return len(batch)
	}
	var sig []byte
	if s.opts.CheckpointKey != nil {
		sig = ed25519.Sign(s.opts.CheckpointKey, checkpointMessage(seq, head))
	}
	// The head never expires: with retention, a store whose entries have
	// all expired still continues its chain instead of starting over.
	if err := txn.Set([]byte(keyHead), headValue(seq, head, sig)); err != nil {
		return fail(err)
	}
	if err := txn.Commit(); err != nil {
		return fail(err)
	}
	s.seq, s.head, s.lastCkpt = seq, head, ckpt
	s.commits.Add(1)
	s.dirty = true
	for _, o := range batch {
		if o.durable && o.err == nil {
			if err := s.sync(); err != nil {
				// Committed, but not known to be on disk: the
				// calls must not leave, nor the responses end.
				return fail(err)
			}
			break
		}
	}
	return len(batch)
}

// sync makes every commit so far durable (a no-op with NoSync).
func (s *Store) sync() error {
	if s.wal == nil {
		return nil
	}
	if err := s.wal.sync(); err != nil {
		return err
	}
	s.dirty = false
	return nil
}

// valueThreshold is the Badger value threshold for memtables of size mt;
// commitSome keeps every value under it.
func valueThreshold(mt int64) int64 { return min(1<<20, mt/10) }

// entry builds the chain entry for o, reading what txn already holds.
func (s *Store) entry(txn *badger.Txn, o *op) (*Record, error) {
	r := *o.rec
	r.Hash = ""
	_, err := txn.Get(idKey(r.ID))
	switch {
	case err != nil && !errors.Is(err, badger.ErrKeyNotFound):
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	case (!r.Complete || o.whole) && err == nil:
		return nil, fmt.Errorf("duplicate id %q", r.ID)
	case o.whole:
		return &r, nil
	case r.Complete && err != nil:
		return nil, ErrNotFound
	}
	if r.Complete {
		if _, err := txn.Get(doneKey(r.ID)); err == nil {
			return nil, errors.New("already complete")
		}
	}
	return &r, nil
}

func (s *Store) set(txn *badger.Txn, k, v []byte) error {
	e := badger.NewEntry(k, v)
	if s.opts.TTL > 0 {
		e = e.WithTTL(s.opts.TTL)
	}
	return txn.SetEntry(e)
}

// prepare lays out one chain entry's keys: an intent (id and pending
// pointers), a completion (done pointer, pending cleared), or a whole
// record (id and done pointers to the one entry).
func prepare(r *Record, whole bool) (write, error) {
	var w write
	v, err := canonical(r)
	if err != nil {
		return w, err
	}
	sk := seqBytes(r.Seq)
	w.sets = append(w.sets, [2][]byte{entryKey(r.Seq), v})
	switch {
	case whole:
		w.sets = append(w.sets, [2][]byte{idKey(r.ID), sk}, [2][]byte{doneKey(r.ID), sk})
	case !r.Complete:
		w.sets = append(w.sets, [2][]byte{idKey(r.ID), sk}, [2][]byte{pendingKey(r.ID), nil})
	default:
		w.sets = append(w.sets, [2][]byte{doneKey(r.ID), sk})
		w.deletes = append(w.deletes, pendingKey(r.ID))
	}
	for _, k := range indexKeys(r) {
		w.sets = append(w.sets, [2][]byte{k, []byte(r.ID)})
	}
	for _, kv := range w.sets {
		w.size += int64(len(kv[0])+len(kv[1])) + 24
	}
	for _, k := range w.deletes {
		w.size += int64(len(k)) + 24
	}
	return w, nil
}

// roomLeft refuses a commit when Dir has less than MinFree free.
func (s *Store) roomLeft() error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.opts.Dir, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", s.opts.Dir, err)
	}
	if free := int64(st.Bavail) * int64(st.Bsize); free < s.opts.MinFree {
		return fmt.Errorf("%s: %d bytes free, below the %d reserve: %w", s.opts.Dir, free, s.opts.MinFree, syscall.ENOSPC)
	}
	return nil
}

// Get returns the record id: its completion if there is one (which carries
// the intent's fields), else its intent.
func (s *Store) Get(id string) (*Record, error) {
	var r *Record
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		r, err = getRecord(txn, doneKey(id))
		if errors.Is(err, ErrNotFound) {
			r, err = getRecord(txn, idKey(id))
		}
		return err
	})
	if errors.Is(err, badger.ErrDBClosed) {
		err = fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if err != nil {
		return nil, fmt.Errorf("get record %s: %w", id, err)
	}
	return r, nil
}

// getRecord follows a pointer key (id or done) to its chain entry.
func getRecord(txn *badger.Txn, ptr []byte) (*Record, error) {
	it, err := txn.Get(ptr)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, err
	}
	sk, err := it.ValueCopy(nil)
	if err != nil {
		return nil, err
	}
	if len(sk) != 8 {
		return nil, errors.New("bad pointer")
	}
	return getEntry(txn, binary.BigEndian.Uint64(sk))
}

func getEntry(txn *badger.Txn, seq uint64) (*Record, error) {
	it, err := txn.Get(entryKey(seq))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("entry %d: %w", seq, ErrNotFound)
	} else if err != nil {
		return nil, err
	}
	var r Record
	if err := it.Value(func(v []byte) error { return json.Unmarshal(v, &r) }); err != nil {
		return nil, fmt.Errorf("entry %d: %w", seq, err)
	}
	return &r, nil
}

// Close writes a final checkpoint and closes Badger. Intents after Close
// fail with ErrUnavailable.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		if s.opts.ReadOnly {
			err = s.db.Close()
			return
		}
		close(s.quit)
		<-s.stopped
		if s.opts.CheckpointKey != nil && s.seq > 0 && s.lastCkpt != s.seq {
			err = s.db.Update(func(txn *badger.Txn) error { return s.putCheckpoint(txn, s.seq, s.head) })
		}
		if cerr := s.db.Close(); err == nil {
			err = cerr
		}
	})
	return err
}
