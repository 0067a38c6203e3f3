// Package intercept moves agents' bytes: it accepts connections on the
// transparent listener (nftables TPROXY; the accepted socket's local address
// is the original destination) and on the explicit proxy (CONNECT), peeks
// the ClientHello, refuses or splices what is not intercepted, terminates
// TLS with leaves from ca, and runs every request through the chain
// (chain.go) to the original destination, with upstream TLS verified for
// the SNI against the system roots plus a configured bundle.
//
// It never skips upstream verification, never forwards to an address the
// agent did not dial (transparent) or Gatehouse did not resolve (proxy), and
// never logs a query string, credential or signature. It calls ca, and in
// later issues policy and recorder; only cmd/gatehouse imports it.
//
//	srv, err := intercept.New(intercept.Options{Config: cfg, Certs: cache, Logger: log})
//	if err != nil { ... }
//	err = srv.Run(ctx) // proxy on cfg.Proxy.Listen, transparent on cfg.Transparent.Listen
package intercept
