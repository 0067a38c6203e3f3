package recorder

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// walFiles makes Badger's write-ahead files durable when the store says so,
// instead of Badger syncing every commit (its SyncWrites). An intent must be
// on disk before its call leaves; a completion need only be committed
// before the agent has the response (committed entries are in the page
// cache and survive the gateway's process being killed), and it reaches the
// disk with the next intent's sync or the writer's periodic one. That halves
// the syncs of a call that is not concurrent with others.
//
// The sync covers every memtable file that may hold a commit not yet synced,
// not only the current one: Badger starts a new memtable file when the
// current one is full and flushes the old one to a table later, so
// completions committed just before the switch sit in the old file. Leaving
// them there while the next intent is synced would leave a hole in the hash
// chain after a power loss; syncing them too keeps what survives a prefix of
// the chain. Badger names its memtable files by a counter (%05d.mem) and
// creates them in order, so the files the store has not seen yet are found by
// trying the next number.
//
// The value log holds nothing: entries are kept under Badger's value
// threshold (commitSome refuses a larger one), so their values live in the
// memtable, and the value log file, which Badger would sync on every commit,
// is never written.
type walFiles struct {
	dir   string
	files map[int]*os.File // memtable files that may hold unsynced commits, by number
	next  int              // the lowest number not opened yet
	syncs atomic.Int64     // fdatasync calls made
}

const memExt = ".mem"

func openWALFiles(dir string) (*walFiles, error) {
	w := &walFiles{dir: dir, files: map[int]*os.File{}}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		fid, ok := memFid(e.Name())
		if !ok {
			continue
		}
		if _, err := w.open(fid); err != nil {
			w.close()
			return nil, err
		}
		w.next = max(w.next, fid+1)
	}
	return w, nil
}

func memFid(name string) (int, bool) {
	num, ok := strings.CutSuffix(name, memExt)
	if !ok {
		return 0, false
	}
	fid, err := strconv.Atoi(num)
	return fid, err == nil && fid >= 0
}

func (w *walFiles) path(fid int) string {
	return filepath.Join(w.dir, fmt.Sprintf("%05d%s", fid, memExt))
}

// open adds memtable file fid and reports whether it exists; one Badger
// has already flushed and removed is not an error (its commits are in a
// synced table).
func (w *walFiles) open(fid int) (bool, error) {
	f, err := os.Open(w.path(fid))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("open write-ahead file: %w", err)
	}
	w.files[fid] = f
	return true, nil
}

// rescan opens every memtable file numbered from w.next on.
func (w *walFiles) rescan() error {
	ents, err := os.ReadDir(w.dir)
	if err != nil {
		return fmt.Errorf("list write-ahead files: %w", err)
	}
	for _, e := range ents {
		fid, ok := memFid(e.Name())
		if !ok || fid < w.next {
			continue
		}
		if _, err := w.open(fid); err != nil {
			return err
		}
		w.next = max(w.next, fid+1)
	}
	return nil
}

// sync makes every commit made so far durable: it finds the memtable files
// Badger created since the last sync, syncs each file that may hold a
// commit made since then, and lets go of the files no commit can reach any
// more (all but the newest, once synced after a newer one exists).
func (w *walFiles) sync() error {
	for {
		ok, err := w.open(w.next)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		w.next++
	}
	// Badger never removes its current memtable file and flushes the
	// others in the order it made them. So if the newest file this knows
	// is gone, newer ones were made (and maybe flushed) since, possibly
	// past a number already gone: list them.
	if newest, ok := w.newest(); !ok || removed(newest) {
		if err := w.rescan(); err != nil {
			return err
		}
	}
	fids := slices.Sorted(maps.Keys(w.files))
	for i, fid := range fids {
		f := w.files[fid]
		w.syncs.Add(1)
		if err := fdatasync(f); err != nil {
			return fmt.Errorf("sync write-ahead file %s: %w", f.Name(), err)
		}
		if i < len(fids)-1 {
			// A newer memtable exists, so Badger writes no more to
			// this one: synced now, it is final.
			f.Close()
			delete(w.files, fid)
		}
	}
	return nil
}

// fdatasync is unix.Fdatasync on f; tests replace it to make a sync fail.
var fdatasync = func(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }

func (w *walFiles) newest() (*os.File, bool) {
	fid := -1
	for n := range w.files {
		fid = max(fid, n)
	}
	f, ok := w.files[fid]
	return f, ok
}

// removed reports whether f's file no longer has a name.
func removed(f *os.File) bool {
	var st unix.Stat_t
	return unix.Fstat(int(f.Fd()), &st) == nil && st.Nlink == 0
}

func (w *walFiles) close() {
	for fid, f := range w.files {
		f.Close()
		delete(w.files, fid)
	}
}
