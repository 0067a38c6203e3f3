package policy

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Engine holds the current policy and replaces it when the file changes:
// build, validate, then swap atomically. A file that does not load never
// replaces a good policy; the engine keeps deciding with the last good one
// and reports the failure (Stats, the onReload callback).
type Engine struct {
	path     string
	opts     Options
	onReload func(error)
	cur      atomic.Pointer[Policy]
	debounce time.Duration

	reloadMu sync.Mutex // one reload at a time
	lastSum  [sha256.Size]byte

	statsMu sync.Mutex
	stats   EngineStats

	onWatch func() // tests: called once Run's watch is in place
}

// EngineStats is how reloads went.
type EngineStats struct {
	Reloads      uint64    // successful reloads since NewEngine
	ReloadErrors uint64    // failed reloads (the previous policy stayed)
	LastError    string    // the most recent reload's error; "" once a reload succeeds
	LoadedAt     time.Time // when the current policy was loaded
}

// NewEngine loads the policy at path, which must load. onReload, if not
// nil, is called after every later reload attempt with its error (nil on
// success), one call at a time; it should return quickly (log, count).
func NewEngine(path string, onReload func(err error)) (*Engine, error) {
	return NewEngineWith(path, Options{}, onReload)
}

// NewEngineWith is NewEngine with options, used for every reload too.
func NewEngineWith(path string, opts Options, onReload func(err error)) (*Engine, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load policy: %w", err)
	}
	p, err := ParseWith(path, data, opts)
	if err != nil {
		return nil, err
	}
	e := &Engine{path: path, opts: opts, onReload: onReload, debounce: 100 * time.Millisecond}
	e.lastSum = sha256.Sum256(data)
	e.cur.Store(p)
	e.stats.LoadedAt = time.Now()
	return e, nil
}

// Decide decides with the current policy; it never waits for a reload.
func (e *Engine) Decide(c *Call) Decision { return e.cur.Load().Decide(c) }

// Current is the policy in force.
func (e *Engine) Current() *Policy { return e.cur.Load() }

// Stats reports reloads so far.
func (e *Engine) Stats() EngineStats {
	e.statsMu.Lock()
	defer e.statsMu.Unlock()
	return e.stats
}

// Reload reads the file again and swaps the policy in if it loads (cmd
// calls it on SIGHUP). On error the current policy stays.
func (e *Engine) Reload() error { return e.reload(false) }

// reload loads the file; onlyIfChanged skips a file whose bytes are those
// of the last attempt (a watch event that changed nothing: a touch, a
// neighbour's edit).
func (e *Engine) reload(onlyIfChanged bool) error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	data, err := os.ReadFile(e.path)
	var p *Policy
	if err != nil {
		err = fmt.Errorf("reload policy: %w", err)
		e.lastSum = [sha256.Size]byte{} // the file coming back is a change
	} else {
		sum := sha256.Sum256(data)
		if onlyIfChanged && sum == e.lastSum {
			return nil
		}
		e.lastSum = sum
		p, err = ParseWith(e.path, data, e.opts)
	}
	e.statsMu.Lock()
	if err != nil {
		e.stats.ReloadErrors++
		e.stats.LastError = err.Error()
	} else {
		e.cur.Store(p)
		e.stats.Reloads++
		e.stats.LastError = ""
		e.stats.LoadedAt = time.Now()
	}
	e.statsMu.Unlock()
	if e.onReload != nil {
		e.onReload(err)
	}
	return err
}

// Run watches the policy file until ctx is done, reloading when it
// changes, and returns nil then. It watches the file's directory, not the
// file: editors and config management replace files by renaming a new one
// over them, which a watch on the old file never sees; and a Kubernetes
// ConfigMap swaps a symlink next to the file. Events are coalesced for a
// moment and the file reloaded only if its bytes changed. If the path is a
// symlink into another directory, that directory is watched as well.
func (e *Engine) Run(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch policy: %w", err)
	}
	defer w.Close()
	dirs := []string{filepath.Dir(e.path)}
	if real, err := filepath.EvalSymlinks(e.path); err == nil && filepath.Dir(real) != dirs[0] {
		dirs = append(dirs, filepath.Dir(real))
	}
	for _, d := range dirs {
		if err := w.Add(d); err != nil {
			return fmt.Errorf("watch policy directory %s: %w", d, err)
		}
	}
	if e.onWatch != nil {
		e.onWatch()
	}
	// Whatever changed between NewEngine and the watch starting.
	e.reload(true)

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-w.Events:
			if !ok {
				return errors.New("watch policy: watcher closed")
			}
			timer.Reset(e.debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("watch policy: watcher closed")
			}
			// Most likely an event queue overflow: events were lost, so
			// look at the file.
			_ = err
			timer.Reset(e.debounce)
		case <-timer.C:
			e.reload(true)
		}
	}
}
