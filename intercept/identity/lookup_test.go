package identity

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"
)

func TestLookupDispatchesOnPrefix(t *testing.T) {
	ks, ring, _ := newTestKeyStore(t)
	sessions := NewSessions(ring)
	now := time.Now()
	sess, err := sessions.Issue(testIdentity, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	key, keySecret, err := ks.Create("batch", []string{"jobs"}, now)
	if err != nil {
		t.Fatal(err)
	}
	full := &Lookup{Sessions: sessions, Keys: ks}
	tests := []struct {
		name        string
		lookup      *Lookup
		akid, token string
		wantSubject string // "" means ErrInvalidClientTokenID
		wantSecret  string
	}{
		{"session with its token", full, sess.AccessKeyID, sess.SessionToken, testIdentity.Subject, sess.SecretAccessKey},
		{"session without its token", full, sess.AccessKeyID, "", "", ""},
		{"static key", full, key.AccessKeyID, "", "batch", keySecret},
		{"static key with a session token", full, key.AccessKeyID, sess.SessionToken, "", ""},
		{"a real AWS key", full, "AKIAIOSFODNN7EXAMPLE", "", "", ""},
		{"a real AWS session", full, "ASIAIOSFODNN7EXAMPLE", sess.SessionToken, "", ""},
		{"no access key id", full, "", "", "", ""},
		{"session when sessions are off", &Lookup{Keys: ks}, sess.AccessKeyID, sess.SessionToken, "", ""},
		{"static key when keys are off", &Lookup{Sessions: sessions}, key.AccessKeyID, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, secret, err := tt.lookup.Credentials(tt.akid, tt.token, now)
			if tt.wantSubject == "" {
				if !errors.Is(err, ErrInvalidClientTokenID) || id != nil || secret != "" {
					t.Fatalf("Credentials = %v, %q, %v; want ErrInvalidClientTokenID", id, secret, err)
				}
				if code, status := ErrorCode(err); code != "InvalidClientTokenId" || status != 403 {
					t.Errorf("ErrorCode = %s %d", code, status)
				}
				return
			}
			if err != nil || id.Subject != tt.wantSubject || secret != tt.wantSecret {
				t.Fatalf("Credentials = %+v, %v; want %s with its secret", id, err, tt.wantSubject)
			}
		})
	}
	if _, _, err := full.Credentials(sess.AccessKeyID, sess.SessionToken, sess.Expiration); !errors.Is(err, ErrExpiredToken) {
		t.Errorf("expired session: %v", err)
	} else if code, _ := ErrorCode(err); code != "ExpiredToken" {
		t.Errorf("expired session code %s, want ExpiredToken (SDKs refresh on it)", code)
	}
}

func TestMatchAddress(t *testing.T) {
	rules := []AddressRule{
		{CIDR: netip.MustParsePrefix("10.77.0.0/16"), Identity: "subnet", Groups: []string{"agents"}},
		{CIDR: netip.MustParsePrefix("10.77.1.0/24"), Identity: "builders"},
		{CIDR: netip.MustParsePrefix("10.77.1.0/24"), Identity: "builders-shadowed"},
		{CIDR: netip.MustParsePrefix("10.77.1.9/32"), Identity: "one-host"},
		{CIDR: netip.MustParsePrefix("fd00:77::/64"), Identity: "v6-agents"},
		{},
	}
	tests := []struct {
		name, addr, want string // want "" means no match
	}{
		{"most specific rule wins", "10.77.1.9", "one-host"},
		{"first rule wins a tie", "10.77.1.20", "builders"},
		{"wider rule", "10.77.200.1", "subnet"},
		{"IPv4 seen on a dual-stack socket", "::ffff:10.77.1.9", "one-host"},
		{"IPv6", "fd00:77::5", "v6-agents"},
		{"IPv6 with a zone", "fd00:77::5%eth0", "v6-agents"},
		{"outside every rule", "192.0.2.1", ""},
		{"IPv6 outside", "fd00:78::5", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, ok := MatchAddress(rules, netip.MustParseAddr(tt.addr))
			if tt.want == "" {
				if ok {
					t.Fatalf("matched %+v, want no match", id)
				}
				return
			}
			if !ok || id.Subject != tt.want || id.Source != SourceAddress {
				t.Fatalf("MatchAddress = %+v, %v; want %s", id, ok, tt.want)
			}
		})
	}
	if id, _ := MatchAddress(rules, netip.MustParseAddr("10.77.3.3")); !slices.Equal(id.Groups, []string{"agents"}) {
		t.Errorf("groups = %q", id.Groups)
	}
	if _, ok := MatchAddress(rules, netip.Addr{}); ok {
		t.Error("the zero address matched")
	}
	if _, ok := MatchAddress(nil, netip.MustParseAddr("10.0.0.1")); ok {
		t.Error("no rules matched")
	}
}

func TestIdentityString(t *testing.T) {
	for _, tt := range []struct {
		id   Identity
		want string
	}{
		{Identity{Source: SourceOIDC, Issuer: "https://token.actions.githubusercontent.com", Subject: "repo:acme/app:ref:refs/heads/main"}, "oidc:https://token.actions.githubusercontent.com#repo:acme/app:ref:refs/heads/main"},
		{Identity{Source: SourceKey, Subject: "ci-runner"}, "key:ci-runner"},
		{Identity{Source: SourceAddress, Subject: "lab-agents"}, "address:lab-agents"},
		{Identity{Source: SourceOIDC, Issuer: "https://i", Subject: "evil\nforged log line"}, `oidc:"https://i#evil\nforged log line"`},
	} {
		if got := tt.id.String(); got != tt.want {
			t.Errorf("String = %q, want %q", got, tt.want)
		}
	}
}
