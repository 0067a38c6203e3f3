package identity_test

import (
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/gatehouse/gatehouse/intercept/identity"
)

// A session issued for a verified identity opens on any gateway holding the
// same key ring, with nothing stored in between.
func ExampleSessions() {
	dir, _ := os.MkdirTemp("", "gatehouse")
	defer os.RemoveAll(dir)
	ring, err := identity.LoadOrCreateKeyRing(dir)
	if err != nil {
		panic(err)
	}
	sessions := identity.NewSessions(ring)
	now := time.Now()
	creds, err := sessions.Issue(identity.Identity{
		Source: "oidc", Issuer: "https://token.actions.githubusercontent.com", Subject: "repo:acme/app:ref:refs/heads/main",
		Role: "arn:aws:iam::123456789012:role/deployer", SessionName: "run-7",
	}, time.Hour, now)
	if err != nil {
		panic(err)
	}
	// Later, for a request signed with creds:
	id, secret, err := sessions.Open(creds.AccessKeyID, creds.SessionToken, now.Add(time.Minute))
	fmt.Println(id, secret == creds.SecretAccessKey, err)
	// Output: oidc:https://token.actions.githubusercontent.com#repo:acme/app:ref:refs/heads/main true <nil>
}

func ExampleMatchAddress() {
	rules := []identity.AddressRule{
		{CIDR: netip.MustParsePrefix("10.77.1.0/24"), Identity: "lab-agents", Groups: []string{"lab"}},
		{CIDR: netip.MustParsePrefix("10.77.1.9/32"), Identity: "lab-builder"},
	}
	id, ok := identity.MatchAddress(rules, netip.MustParseAddr("10.77.1.9"))
	fmt.Println(id, ok)
	_, ok = identity.MatchAddress(rules, netip.MustParseAddr("10.77.2.1"))
	fmt.Println(ok)
	// Output:
	// address:lab-builder true
	// false
}

func ExampleKeyStore() {
	dir, _ := os.MkdirTemp("", "gatehouse")
	defer os.RemoveAll(dir)
	ring, _ := identity.LoadOrCreateKeyRing(dir)
	keys, _ := identity.OpenKeyStore(dir, ring)

	// gatehouse keys create ci-runner --group ci
	info, secret, _ := keys.Create("ci-runner", []string{"ci"}, time.Now())
	fmt.Println(len(info.AccessKeyID), len(secret))

	// The gateway, for a request signed with the key:
	id, _, err := (&identity.Lookup{Keys: keys}).Credentials(info.AccessKeyID, "", time.Now())
	fmt.Println(id, err)

	// gatehouse keys revoke GHK...
	_ = keys.Revoke(info.AccessKeyID, time.Now())
	_, _, err = (&identity.Lookup{Keys: keys}).Credentials(info.AccessKeyID, "", time.Now())
	fmt.Println(identity.ErrorCode(err))
	// Output:
	// 20 40
	// key:ci-runner <nil>
	// InvalidClientTokenId 403
}
