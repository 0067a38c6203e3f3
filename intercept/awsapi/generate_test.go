package awsapi

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedTablesAreCurrent runs the generator into a temporary file
// and requires it to reproduce zz_generated_ops.go byte for byte: the
// tables are what the pinned SDK modules say, and nobody edited them by
// hand. It needs the modules in the module cache or the module proxy.
func TestGeneratedTablesAreCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: not running the generator")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	out := filepath.Join(t.TempDir(), "zz_generated_ops.go")
	cmd := exec.Command("go", "run", "./internal/gen", "-out", out)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := stderr.String()
		for _, offline := range []string{"dial tcp", "no such host", "connection refused", "i/o timeout", "GOPROXY=off", "module lookup disabled", "network is unreachable", "TLS handshake timeout"} {
			if strings.Contains(msg, offline) {
				t.Skipf("the SDK modules are not in the module cache and the module proxy cannot be reached:\n%s", msg)
			}
		}
		t.Fatalf("generator: %v\n%s", err, msg)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("zz_generated_ops.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("zz_generated_ops.go is not what the generator writes: run go generate ./intercept/awsapi/...")
	}
}
