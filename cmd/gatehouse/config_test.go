package main

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigCheck(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string // "" = ok; else a substring of the error
	}{
		{"empty file runs on defaults", "", ""},
		{"full example", `
data_dir: /tmp/gh
log: {level: debug, format: text}
intercept:
  hosts: [amazonaws.com]
  passthrough: allow
  transparent: {enabled: true, listen: ":15001"}
  proxy: {listen: "10.0.0.1:3128", ports: [443]}
  timeouts: {client_hello: 2s, idle: 1m}
`, ""},
		{"unknown key names its line", "data_dir: /x\nintercept:\n  passthru: allow\n", `[3:3] unknown field "passthru"`},
		{"wrong type names its line", "intercept:\n  max_header_bytes: lots\n", "[2:21]"},
		{"bad duration", "intercept:\n  timeouts:\n    idle: forever\n", "[3:11]"},
		{"invalid passthrough", "intercept:\n  passthrough: maybe\n", `"maybe" is neither allow nor deny`},
		{"wildcard host", "intercept:\n  hosts: ['*.amazonaws.com']\n", "not a domain"},
		{"bad listen address", "intercept:\n  proxy: {listen: 'gateway:3128'}\n", "proxy.listen"},
		{"bad log format", "log: {format: xml}\n", "log.format"},
		{"duplicate key", "data_dir: /a\ndata_dir: /b\n", "duplicate"},
		{"issuer without audience", "identity:\n  issuers:\n    - url: https://idp.example\n", "identity.issuers"},
		{"issuer over plain http", "identity:\n  issuers:\n    - url: http://idp.example\n      audiences: [sts.amazonaws.com]\n", "identity.issuers"},
		{"role that is not a role", "upstream_credentials:\n  roles:\n    - arn: arn:aws:iam::1:user/x\n      groups: [a]\n", "not a role ARN"},
		{"address rule without identity", "identity:\n  addresses:\n    - cidr: 10.0.0.0/24\n", "identity.addresses[0]"},
		{"recorder disabled", "recorder: {disabled: true}\n", ""},
		{"recorder disabled with an export", "recorder:\n  disabled: true\n  export: {bucket: audit}\n", "nothing to export"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := newRootCmd()
			var out bytes.Buffer
			root.SetOut(&out)
			root.SetArgs([]string{"config", "check", writeFile(t, tt.body)})
			err := root.Execute()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if !strings.Contains(out.String(), ": ok") {
					t.Fatalf("output %q", out.String())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestCAInitExportShow(t *testing.T) {
	dir := t.TempDir()
	exec := func(args ...string) (string, error) {
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetArgs(append(args, "--data-dir", dir))
		err := root.Execute()
		return out.String(), err
	}
	if out, err := exec("ca", "init"); err != nil || !strings.Contains(out, "fingerprint") {
		t.Fatalf("init: %v %s", err, out)
	}
	if _, err := exec("ca", "init"); err == nil {
		t.Fatal("second init succeeded")
	}
	out, err := exec("ca", "export")
	if err != nil || !strings.HasPrefix(out, "-----BEGIN CERTIFICATE-----") || strings.Contains(out, "PRIVATE") {
		t.Fatalf("export: %v %s", err, out)
	}
	out, err = exec("ca", "show", "--json")
	if err != nil || !strings.Contains(out, `"amazonaws.com"`) {
		t.Fatalf("show: %v %s", err, out)
	}
	st, err := os.Stat(filepath.Join(dir, "ca", "ca.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key mode: %v %v", st.Mode(), err)
	}
}

func TestServeRefusesHostsTheCACannotIssueFor(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, "data_dir: "+dir+"\nintercept:\n  hosts: [amazonaws.com, example.com]\n  proxy: {listen: '127.0.0.1:0'}\n")
	root := newRootCmd()
	root.SetArgs([]string{"serve", "-c", cfg})
	err := root.Execute()
	if err == nil || !strings.Contains(err.Error(), `intercept.hosts "example.com"`) || !strings.Contains(err.Error(), "ca init --domains") {
		t.Fatalf("err = %v", err)
	}
}

// The README's configuration example is a valid config.
func TestREADMEConfigExampleChecks(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```yaml\ndata_dir:")
	if !ok {
		t.Fatal("README has no yaml config example")
	}
	example, _, _ := strings.Cut("data_dir:"+rest, "```")
	root := newRootCmd()
	root.SetOut(&bytes.Buffer{})
	root.SetArgs([]string{"config", "check", writeFile(t, example)})
	if err := root.Execute(); err != nil {
		t.Fatalf("README example: %v", err)
	}
}

// The README's policy examples load: the rules one, and the masking one
// with a version line in front.
func TestREADMEPolicyExamplesCheck(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, start := range []string{"```yaml\nversion: 1", "```yaml\nrules:"} {
		_, rest, ok := strings.Cut(string(readme), start)
		if !ok {
			t.Fatalf("README has no example starting %q", start)
		}
		example, _, _ := strings.Cut(strings.TrimPrefix(start, "```yaml\n")+rest, "```")
		if !strings.HasPrefix(example, "version:") {
			example = "version: 1\n" + example
		}
		root := newRootCmd()
		root.SetOut(&bytes.Buffer{})
		root.SetArgs([]string{"policy", "check", writeFile(t, example)})
		if err := root.Execute(); err != nil {
			t.Fatalf("README example %q: %v", start, err)
		}
	}
}

func TestMaskKeyCreatedPrivateAndKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "mask.key")
	k1, err := loadOrCreateMaskKey(path)
	if err != nil || len(k1) != 32 {
		t.Fatalf("%d bytes, %v", len(k1), err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode().Perm())
	}
	if k2, err := loadOrCreateMaskKey(path); err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("second load: %v", err)
	}
	os.Chmod(path, 0o640)
	if _, err := loadOrCreateMaskKey(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a key others can read: %v", err)
	}
}

// recorder.disabled: serve runs and forwards with no record store (make
// bench's gatehouse-passthrough), and says so in its log.
func TestServeWithRecorderDisabledOpensNoStore(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, "data_dir: "+dir+"\nintercept:\n  proxy: {listen: '127.0.0.1:0'}\n"+
		"identity: {pass_through_credentials: true}\nrecorder: {disabled: true}\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		root := newRootCmd()
		root.SetArgs([]string{"serve", "-c", cfg})
		done <- root.ExecuteContext(ctx)
	}()
	// The admin socket comes after the recorder would have been opened.
	sock := filepath.Join(dir, "admin.sock")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("serve returned before it served: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("serve did not open its admin socket")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	for _, f := range []string{"records", "recorder.key"} {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: %v; want no record store with recorder.disabled", f, err)
		}
	}
}
