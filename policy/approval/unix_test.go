//go:build linux

package approval

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func serveUnix(t *testing.T, s *Store) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the approvals socket is root's: run as root")
	}
	path := filepath.Join(t.TempDir(), "run", "approvals.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewServer(s, nil, nil).ServeUnix(ctx, path) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeUnix: %v", err)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("socket left behind: %v", err)
		}
	})
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return path
		}
		if time.Now().After(deadline) {
			t.Fatal("the socket never answered")
		}
	}
}

func TestUnixSocketActsAsRoot(t *testing.T) {
	s := openStore(t, t.TempDir(), newClock())
	path := serveUnix(t, s)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("socket mode %v, want 0600", fi.Mode())
	}
	req := mustCreate(t, s, call("body"))

	c := UnixClient(path)
	c.Token = "ignored on the socket"
	ctx := context.Background()
	list, err := c.List(ctx, StatusPending)
	if err != nil || len(list) != 1 {
		t.Fatalf("list: %v %v", list, err)
	}
	got, err := c.Approve(ctx, req.ID, "from the console", 0)
	if err != nil || got.Status != StatusApproved {
		t.Fatalf("approve: %+v %v", got, err)
	}
	if v := got.Approvals[0]; v.Approver.Issuer != "local" || v.Approver.Subject != "root" || v.Reason != "from the console" {
		t.Fatalf("recorded as %+v", v)
	}

	// A second server on the same path is refused while this one runs.
	if err := NewServer(s, nil, nil).ServeUnix(ctx, path); err == nil {
		t.Fatal("a second server took the live socket")
	}
}

// Only uid 0 may use the socket, whatever its mode: a peer whose
// effective uid is another is refused by its credentials.
func TestUnixSocketRefusesOtherUIDs(t *testing.T) {
	s := openStore(t, t.TempDir(), newClock())
	path := serveUnix(t, s)
	// Let nobody reach the socket, so that only the peer check stands.
	for p := path; p != "/" && p != os.TempDir(); p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o777); err != nil {
			t.Fatal(err)
		}
	}

	conn := make(chan net.Conn, 1)
	errc := make(chan error, 1)
	go func() {
		// setresuid on this thread only (the raw syscall, not the Go
		// wrapper, which changes every thread); the thread is never
		// unlocked, so it ends with this goroutine.
		runtime.LockOSThread()
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, ^uintptr(0), 65534, ^uintptr(0)); e != 0 {
			errc <- e
			return
		}
		c, err := net.Dial("unix", path)
		if err != nil {
			errc <- err
			return
		}
		conn <- c
	}()
	var c net.Conn
	select {
	case c = <-conn:
	case err := <-errc:
		t.Fatal(err)
	}
	used := false
	hc := &http.Client{Transport: &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) {
		if used {
			t.Error("a second connection was dialled, as root")
		}
		used = true
		return c, nil
	}}}
	resp, err := hc.Get("http://gatehouse/v1/approvals")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("uid 65534 got %d, want 403", resp.StatusCode)
	}
}
