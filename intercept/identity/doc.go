// Package identity decides who the agent is. It answers the STS calls an
// unmodified SDK makes with AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN
// (AssumeRoleWithWebIdentity, GetCallerIdentity), and finds the identity
// and secret behind the access key id of every later SigV4-signed request.
//
//	ring, err := identity.LoadOrCreateKeyRing(stateDir)  // session-keys.json, 0600
//	if err != nil { ... }
//	keys, err := identity.OpenKeyStore(stateDir, ring)    // keys.json, 0600
//	if err != nil { ... }
//	verifier, err := identity.NewVerifier(cfg.OIDC.Issuers, nil) // dials nothing yet
//	if err != nil { ... }
//	sessions := identity.NewSessions(ring)
//	sts := &identity.STS{Verifier: verifier, Sessions: sessions}
//	lookup := &identity.Lookup{Sessions: sessions, Keys: keys}
//
//	// STS request (unsigned AssumeRoleWithWebIdentity):
//	form, err := identity.ParseForm(r, body)
//	action, err := identity.Action(form)
//	status, xml := sts.AssumeRoleWithWebIdentity(ctx, form, requestID, time.Now())
//
//	// Any signed request: the secret to verify the signature with.
//	id, secret, err := lookup.Credentials(accessKeyID, r.Header.Get("X-Amz-Security-Token"), time.Now())
//	code, status := identity.ErrorCode(err) // InvalidClientTokenId, ExpiredToken, ...
//
// # What it owns
//
// Who the agent is, from three sources: an OIDC token from a configured
// issuer (verified with go-oidc: discovery, JWKS, algorithms, audience,
// expiry), a static key from `gatehouse keys create`, or, where configured,
// the source address. OIDC agents get session credentials of Gatehouse's
// own. They are stateless: the session token is the identity sealed with
// AES-256-GCM under the key ring, and the access key id and secret are
// HMACs of the token, so nothing is stored and any gateway holding the ring
// opens any token. It owns two files in the state directory, both 0600:
// session-keys.json (the ring: the newest key seals, all open) and
// keys.json (static keys, their secrets sealed under the ring).
//
// # What it never does
//
// It never forwards a request or dials anything but the configured
// issuers; it never verifies a SigV4 signature (intercept/sigv4 does, with
// the secret Lookup returns) and never decides what an identity may do
// (policy does). It never logs, and never puts a web identity token, secret
// access key or session token in an error, a String or a record: KeyRing
// and Credentials format without their secrets, and errors carry reasons.
// It never passes on credentials it did not issue: an access key id
// without a Gatehouse prefix is InvalidClientTokenId.
//
// # Who imports it
//
// intercept's chain, which authenticates every request through Lookup and
// answers STS through STS, and cmd/gatehouse, which builds them from config
// and runs `gatehouse keys create|list|revoke` on KeyStore. It imports no
// other Gatehouse package.
package identity
