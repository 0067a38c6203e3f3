// Package ca is Gatehouse's certificate authority: the CA that agents trust,
// and the short-lived leaf certificates intercept presents to them in place
// of AWS's own.
//
//	a, created, err := ca.LoadOrInit(ca.Options{Dir: "/var/lib/gatehouse/ca"})
//	if err != nil {
//		return err
//	}
//	if created {
//		log.Printf("new CA %s: install `gatehouse ca export` in the agents' trust store", a.Fingerprint())
//	}
//	certs := ca.NewCache(a, ca.CacheOptions{})
//	conf := &tls.Config{GetCertificate: certs.GetCertificate}
//
// # What it owns
//
// One directory holding ca.crt (0644: the signing certificate, then the chain
// above it) and ca.key (0600: its key, PKCS#8). Init makes a new ECDSA P-256
// root there, Import installs an enterprise CA or intermediate, Load reads
// it back and refuses a key that others can read. A new root carries
// critical name constraints, DefaultDomains unless told otherwise, so that
// even a stolen key cannot be used against anything but AWS endpoints;
// Cache.Get refuses names outside them rather than mint leaves agents would
// reject.
//
// Cache mints a leaf per server name on first use, shares concurrent misses
// (singleflight), keeps leaves in an LRU and re-mints them before they
// expire. Leaves are ECDSA P-256 with a 128-bit random serial, the name as
// the only SAN, ServerAuth, and a 24h lifetime: nothing is ever revoked.
//
// # What it never does
//
// It never prints, logs or returns the CA key (Authority formats as its
// subject and fingerprint), never writes a leaf or its key to disk, never
// dials, logs or decides which hosts to intercept: intercept asks for a name
// and acts on ErrNameNotPermitted and ErrInvalidName.
//
// # Who imports it
//
// intercept, for GetCertificate in the agent-facing tls.Config, and
// cmd/gatehouse, for LoadOrInit in `gatehouse serve` and for the `gatehouse
// ca init|import|export` subcommands. It imports no other Gatehouse package.
//
// # Trust
//
// Agents trust CertPEM: the self-signed root made by Init, or, after Import,
// the last certificate given, which should be the enterprise root (see
// CertPEM for why). Fingerprint identifies the signing certificate.
package ca
