package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/deploy/lab"
)

var (
	repoRoot, _ = filepath.Abs("..")
	outDir      = lab.Out(repoRoot)
	gatehouse   = filepath.Join(outDir, "bin/gatehouse")
	goClient    = filepath.Join(outDir, "bin/gos3")
)

func TestMain(m *testing.M) {
	if os.Getenv("GATEHOUSE_E2E") != "1" {
		fmt.Println("e2e: skipped; run as root with GATEHOUSE_E2E=1 (make e2e)")
		os.Exit(0)
	}
	if os.Geteuid() != 0 {
		fmt.Println("e2e: GATEHOUSE_E2E=1 needs root (network namespaces, nftables)")
		os.Exit(1)
	}
	os.Exit(runLab(m))
}

func runLab(m *testing.M) int {
	build := exec.Command("go", "build", "-o", goClient, "./e2e/clients/gos3")
	build.Dir, build.Stdout, build.Stderr = repoRoot, os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Println("e2e: build the Go client:", err)
		return 1
	}
	// Tear down on every exit path, an interrupt included (up.sh cleans up
	// after itself when it fails, and must not take down a lab it refused
	// to replace).
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	if err := lab.Script(repoRoot, "up.sh"); err != nil {
		fmt.Println("e2e:", err)
		return 1
	}
	go func() {
		<-sig
		labDown()
		os.Exit(1)
	}()
	defer labDown()
	return m.Run()
}

func labDown() { _ = lab.Script(repoRoot, "down.sh") }

// agentEnv is out/env applied to an empty environment: no CA, proxy or AWS
// variable of this machine leaks into an agent.
func agentEnv(t *testing.T, extra ...string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(outDir, "env"))
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=/usr/local/go/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME=" + t.TempDir()}
	for _, line := range strings.Split(string(data), "\n") {
		if kv, ok := strings.CutPrefix(line, "export "); ok {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// inAgent runs a command inside gh-agent, as an agent would.
func inAgent(t *testing.T, env []string, timeout time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", lab.NSAgent, name}, args...)...)
	cmd.Env = env
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// logMark returns the current end of Gatehouse's log; linesSince reads the
// JSON lines written after it.
func logMark(t *testing.T) int64 {
	st, err := os.Stat(filepath.Join(outDir, "gatehouse.log"))
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

type logLine map[string]any

func (l logLine) str(k string) string { s, _ := l[k].(string); return s }

func linesSince(t *testing.T, mark int64) []logLine {
	t.Helper()
	f, err := os.Open(filepath.Join(outDir, "gatehouse.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(mark, 0); err != nil {
		t.Fatal(err)
	}
	var lines []logLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l logLine
		if json.Unmarshal(sc.Bytes(), &l) == nil {
			lines = append(lines, l)
		}
	}
	return lines
}

// countingUpstream listens on addr inside gh-aws and counts what reaches
// it: TCP connections accepted and HTTP requests read after a TLS handshake
// with cert (nil: count connections only).
type countingUpstream struct {
	ln       net.Listener
	conns    chan struct{}
	requests chan string
}

func startUpstream(t *testing.T, addr string, cert *tls.Certificate) *countingUpstream {
	t.Helper()
	u := &countingUpstream{conns: make(chan struct{}, 100), requests: make(chan string, 100)}
	var err error
	if u.ln, err = lab.Listen(lab.NSAWS, addr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.ln.Close() })
	go func() {
		for {
			c, err := u.ln.Accept()
			if err != nil {
				return
			}
			u.conns <- struct{}{}
			go func() {
				defer c.Close()
				if cert == nil {
					return
				}
				tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{*cert}})
				tc.SetDeadline(time.Now().Add(5 * time.Second))
				line, err := bufio.NewReader(tc).ReadString('\n')
				if err == nil || line != "" {
					u.requests <- line
				}
			}()
		}
	}()
	return u
}

func (u *countingUpstream) requestsSeen() int { return len(u.requests) }

func mustContainAll(t *testing.T, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Errorf("missing %q in:\n%s", w, s)
		}
	}
}
