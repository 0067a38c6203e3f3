package policy

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	allowAll = "version: 1\ndefault: allow\n"
	denyAll  = "version: 1\ndefault: deny\n"
	broken   = "version: 1\ndefault: allow\nrules:\n  - id: x\n    effect: maybe\n    actions: [\"*\"]\n"
)

// reloads collects onReload calls.
type reloads struct {
	mu   sync.Mutex
	errs []error
	ch   chan error
}

func newReloads() *reloads { return &reloads{ch: make(chan error, 100)} }

func (r *reloads) fn(err error) {
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
	r.ch <- err
}

func (r *reloads) next(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("no reload within 10s")
		return nil
	}
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// renameOver writes data next to path and renames it over path, as vim,
// emacs, Ansible and most config management do.
func renameOver(t *testing.T, path, data string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".swp")
	write(t, tmp, data)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func startEngine(t *testing.T, initial string) (*Engine, *reloads, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	write(t, path, initial)
	r := newReloads()
	e, err := NewEngine(path, r.fn)
	if err != nil {
		t.Fatal(err)
	}
	run(t, e)
	return e, r, path
}

// run runs e until the test ends, returning once the watch is in place.
func run(t *testing.T, e *Engine) {
	t.Helper()
	e.debounce = 20 * time.Millisecond
	watching := make(chan struct{})
	e.onWatch = func() { close(watching) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-watching:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
}

func TestEngineReloadsOnWrite(t *testing.T) {
	e, r, path := startEngine(t, allowAll)
	if d := e.Decide(agent("s3:GetObject")); d.Effect != Allow {
		t.Fatalf("initial policy: %+v", d)
	}
	write(t, path, denyAll)
	if err := r.next(t); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if d := e.Decide(agent("s3:GetObject")); d.Effect != Deny {
		t.Errorf("after the write: %+v", d)
	}
	if s := e.Stats(); s.Reloads != 1 || s.ReloadErrors != 0 || s.LastError != "" {
		t.Errorf("stats %+v", s)
	}
}

func TestEngineReloadsOnRenameReplace(t *testing.T) {
	e, r, path := startEngine(t, allowAll)
	old := e.Current()
	renameOver(t, path, denyAll)
	if err := r.next(t); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if e.Current() == old || e.Decide(agent("s3:GetObject")).Effect != Deny {
		t.Error("policy not replaced after rename-replace")
	}
	// And again: the watch survives the file it started with being replaced.
	renameOver(t, path, allowAll)
	if err := r.next(t); err != nil {
		t.Fatalf("second reload: %v", err)
	}
	if e.Decide(agent("s3:GetObject")).Effect != Allow {
		t.Error("second rename-replace not picked up")
	}
}

func TestEngineFollowsAConfigMapSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	mk := func(name, data string) {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dir, name, "policy.yaml"), data)
	}
	mk("..v1", allowAll)
	if err := os.Symlink("..v1", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "policy.yaml")
	if err := os.Symlink("..data/policy.yaml", path); err != nil {
		t.Fatal(err)
	}
	r := newReloads()
	e, err := NewEngine(path, r.fn)
	if err != nil {
		t.Fatal(err)
	}
	run(t, e)

	mk("..v2", denyAll)
	if err := os.Symlink("..v2", filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := r.next(t); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if e.Decide(agent("s3:GetObject")).Effect != Deny {
		t.Error("symlink swap not picked up")
	}
}

func TestEngineKeepsTheLastGoodPolicy(t *testing.T) {
	e, r, path := startEngine(t, allowAll)
	good := e.Current()
	write(t, path, broken)
	err := r.next(t)
	if err == nil || !strings.Contains(err.Error(), "policy.yaml:5:13:") {
		t.Fatalf("onReload got %v, want the file's error with its position", err)
	}
	if e.Current() != good || e.Decide(agent("s3:GetObject")).Effect != Allow {
		t.Error("a broken file replaced the policy")
	}
	s := e.Stats()
	if s.ReloadErrors != 1 || s.Reloads != 0 || !strings.Contains(s.LastError, "not an effect") {
		t.Errorf("stats after a broken file: %+v", s)
	}

	// Deleted: still the last good policy, and the error says why.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := r.next(t); err == nil {
		t.Fatal("a deleted file reloaded without error")
	}
	if e.Current() != good {
		t.Error("a deleted file replaced the policy")
	}

	write(t, path, denyAll)
	if err := r.next(t); err != nil {
		t.Fatalf("reload of the fixed file: %v", err)
	}
	s = e.Stats()
	if e.Decide(agent("s3:GetObject")).Effect != Deny || s.Reloads != 1 || s.ReloadErrors != 2 || s.LastError != "" {
		t.Errorf("after the fix: stats %+v", s)
	}
}

func TestEngineReloadOnDemand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	write(t, path, allowAll)
	var calls []error
	e, err := NewEngine(path, func(err error) { calls = append(calls, err) })
	if err != nil {
		t.Fatal(err)
	}
	write(t, path, denyAll)
	if err := e.Reload(); err != nil {
		t.Fatal(err)
	}
	if e.Decide(agent("s3:GetObject")).Effect != Deny {
		t.Error("Reload did not swap the policy")
	}
	write(t, path, broken)
	if err := e.Reload(); err == nil {
		t.Error("Reload of a broken file succeeded")
	}
	if e.Decide(agent("s3:GetObject")).Effect != Deny {
		t.Error("broken file replaced the policy")
	}
	// SIGHUP with an unchanged file still reloads (and still fails).
	if err := e.Reload(); err == nil {
		t.Error("second Reload of the broken file succeeded")
	}
	if len(calls) != 3 || calls[0] != nil || calls[1] == nil || calls[2] == nil {
		t.Errorf("onReload calls: %v", calls)
	}
	if s := e.Stats(); s.Reloads != 1 || s.ReloadErrors != 2 {
		t.Errorf("stats %+v", s)
	}
}

func TestNewEngineNeedsAGoodFirstLoad(t *testing.T) {
	dir := t.TempDir()
	if _, err := NewEngine(filepath.Join(dir, "missing.yaml"), nil); err == nil {
		t.Error("NewEngine with a missing file succeeded")
	}
	path := filepath.Join(dir, "policy.yaml")
	write(t, path, broken)
	if _, err := NewEngine(path, nil); err == nil || !strings.Contains(err.Error(), "policy.yaml:5:13:") {
		t.Errorf("NewEngine with a broken file: %v", err)
	}
}

// TestEngineDecideDuringReloads is for -race: deciders never block on or
// race with reloads, and always see a whole policy.
func TestEngineDecideDuringReloads(t *testing.T) {
	e, _, path := startEngine(t, allowAll)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := agent("s3:GetObject", "arn:aws:s3:::b/k")
			for {
				select {
				case <-stop:
					return
				default:
				}
				if d := e.Decide(c); d.Effect != Allow && d.Effect != Deny {
					t.Errorf("decision %+v", d)
					return
				}
				_ = e.Stats()
			}
		}()
	}
	for i := range 50 {
		src := allowAll
		if i%2 == 1 {
			src = denyAll + "rules:\n  - {id: r, effect: deny, actions: [\"s3:*\"], condition: 'call.params.size() == 0'}\n"
		}
		if i%7 == 0 {
			src = broken
		}
		if i%3 == 0 {
			renameOver(t, path, src)
		} else {
			write(t, path, src)
		}
		e.Reload()
	}
	close(stop)
	wg.Wait()
}

func TestEngineRunStopsWithTheContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	write(t, path, allowAll)
	e, err := NewEngine(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
