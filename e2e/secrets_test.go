package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// labSecrets are the lab's secrets: MinIO's root secret, the workload
// tokens and their signatures.
func labSecrets(t *testing.T) map[string]string {
	t.Helper()
	secrets := map[string]string{"MinIO's root secret": "gatehouse-lab-secret-1"}
	for _, who := range []string{"agent", "admin"} {
		tok, err := os.ReadFile(filepath.Join(outDir, "tokens", who))
		if err != nil {
			t.Fatal(err)
		}
		secrets[who+"'s web identity token"] = strings.TrimSpace(string(tok))
		// A JWT's signature part alone must not appear either.
		parts := strings.Split(strings.TrimSpace(string(tok)), ".")
		secrets[who+"'s token signature"] = parts[len(parts)-1]
	}
	return secrets
}

// secretPatterns are what credentials look like in HTTP.
var secretPatterns = map[string]*regexp.Regexp{
	"a SigV4 signature":       regexp.MustCompile(`(?i)signature=[0-9a-f]{64}|x-amz-signature`),
	"a session token":         regexp.MustCompile(`(?i)x-amz-security-token|<SessionToken>`),
	"a secret access key":     regexp.MustCompile(`(?i)secretaccesskey|aws_secret_access_key`),
	"an Authorization header": regexp.MustCompile(`AWS4-HMAC-SHA256 Credential`),
}

// Runs after the workloads (files run in name order): nothing Gatehouse
// logged holds a token, a secret, a signature or a session token.
func TestNoSecretsInGatehouseLog(t *testing.T) {
	log, err := os.ReadFile(filepath.Join(outDir, "gatehouse.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), `"verdict":"forwarded"`) {
		t.Fatal("the log holds no forwarded call: this test ran before the workloads")
	}
	for what, s := range labSecrets(t) {
		if strings.Contains(string(log), s) {
			t.Errorf("Gatehouse's log contains %s", what)
		}
	}
	for what, re := range secretPatterns {
		if loc := re.FindIndex(log); loc != nil {
			t.Errorf("Gatehouse's log contains %s: %q", what, log[max(0, loc[0]-80):min(len(log), loc[1]+40)])
		}
	}
}
