package e2e

import (
	"strings"
	"testing"
	"time"
)

// Bad input from the agent, captured by TPROXY like any other connection:
// each is refused with a log line that says why, and Gatehouse keeps
// serving. (The same cases run against real sockets in intercept's unit
// tests; here they cross the real capture path.)
func TestBadInputRefusedInTheLab(t *testing.T) {
	tests := []struct {
		name   string
		cmd    []string
		reason string // in the refusal's log line
	}{
		{"plain HTTP on 443", []string{"curl", "-sS", "--max-time", "5", "http://s3.amazonaws.com:443/"}, "not a TLS ClientHello"},
		{"no SNI", []string{"bash", "-c", "openssl s_client -connect 10.77.2.2:443 -noservername </dev/null"}, "no server name"},
		{"truncated ClientHello", []string{"bash", "-c", `exec 3<>/dev/tcp/10.77.2.2/443; printf '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03' >&3; exec 3>&-`}, "ClientHello truncated"},
		{"client sends nothing", []string{"bash", "-c", "exec 3<>/dev/tcp/10.77.2.2/443; sleep 6"}, "no ClientHello before the deadline"},
		{"SNI/Host mismatch", []string{"curl", "-sS", "-H", "Host: evil.example.com", "https://s3.amazonaws.com/"}, "domain fronting"},
		{"oversized headers", []string{"bash", "-c", `curl -sS -H "X-Big: $(head -c 100000 /dev/zero | tr '\0' a)" https://s3.amazonaws.com/`}, "431 Request Header Fields Too Large"},
		{"host not intercepted", []string{"bash", "-c", "openssl s_client -connect 10.77.2.2:443 -servername example.com </dev/null"}, "not in intercept.hosts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mark := logMark(t)
			out, _ := inAgent(t, agentEnv(t), 30*time.Second, tt.cmd[0], tt.cmd[1:]...)
			var found bool
			for deadline := time.Now().Add(3 * time.Second); !found && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				for _, l := range linesSince(t, mark) {
					if l.str("verdict") == "refused" && strings.Contains(l.str("reason"), tt.reason) {
						found = true
						t.Logf("refused: stage=%s reason=%s", l.str("stage"), l.str("reason"))
					}
				}
			}
			if !found {
				t.Fatalf("no refusal line with %q; agent saw:\n%s\nlog:\n%v", tt.reason, out, linesSince(t, mark))
			}
		})
	}
	// Still serving.
	servesAgain(t)
}
