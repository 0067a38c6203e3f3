// Package intercept moves agents' bytes and runs every request through the
// chain (chain.go), the one place the order of the stages is written down.
//
//	srv, err := intercept.New(intercept.Options{Config: cfg, Certs: cache, Logger: log, Authn: authn})
//	if err != nil { ... }
//	err = srv.Run(ctx) // proxy on cfg.Proxy.Listen, transparent on cfg.Transparent.Listen
//
// # What it owns
//
// The listeners: the transparent one nftables TPROXY feeds (the accepted
// socket's local address is the original destination) and the explicit
// proxy (goproxy parses CONNECT; the tunnel joins the same path). Per
// connection: the ClientHello peek, intercept / splice / refuse, TLS with
// the agent from ca's leaves. Per request: admit (Host is the SNI),
// describe, authenticate (Authn: STS web identity answered here, SigV4
// verified), the built-in refusal of credential-vending calls, the policy
// decision (and a held call's wait for approval), strip and re-sign, the
// record's intent committed before anything leaves (record.go), forward to
// the original destination with upstream TLS verified for the SNI, the
// response masked with the decided profile (mask.go: documents whole with
// their length and CRC32 fixed, S3 text objects streaming), the record's
// completion committed before the response's last byte, and one log line. Connections refused or spliced get a record too. One error type
// (Error) crosses the chain and becomes an AWS-shaped response in
// writeError.
//
// # What it never does
//
// It never skips upstream verification, never forwards to an address the
// agent did not dial (transparent) or Gatehouse did not resolve (proxy),
// never forwards a call it could not authenticate, sign, decide or record,
// never passes on a response it must mask and cannot, and never logs or
// records a query string credential, Authorization header, token,
// signature or a value its mask profile masks.
//
// # Who imports it
//
// cmd/gatehouse, which wires it from config. It reaches ca's leaves through
// the Certificates interface and the record store through Recorder
// (*recorder.Store), and imports policy, policy/mask, policy/approval and its own
// sub-packages (identity, sigv4, awscreds, awsapi).
package intercept
