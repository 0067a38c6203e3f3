// Package lab is the lab's contract for Go code (the e2e tests and
// `make bench`).
//
//	if err := lab.Script(root, "up.sh"); err != nil { ... }
//	defer lab.Script(root, "down.sh")
//	ln, err := lab.Listen(lab.NSAWS, lab.AWSIP2+":443")      // an upstream of the test's own
//	client := &http.Client{Transport: &http.Transport{DialContext: lab.AgentDial(lab.HostAddr)}}
//
// # What it owns
//
// Where the lab's files are, its namespaces, addresses and the names that
// resolve to them, running its scripts, opening sockets inside a namespace
// (they stay there for their whole life), the lab's test PKI, and workload
// tokens from its OIDC issuer (tokens.go). The lab itself is built by the
// scripts beside this file (up.sh, down.sh, gw.sh), which humans run too.
//
// # What it never does
//
// It never routes anything outside the machine, and imports no other
// Gatehouse package: it drives the gateway only through its binary.
//
// # Who imports it
//
// e2e and bench.
package lab

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/vishvananda/netns"
)

// Namespaces and addresses, as deploy/lab/lib.sh defines them.
const (
	NSAgent = "gh-agent"
	NSGW    = "gh-gw"
	NSAWS   = "gh-aws"
	// AWSIP2 is the "internet" address where tests and benchmarks run
	// upstreams of their own; impostor.amazonaws.com resolves to it.
	AWSIP2    = "10.77.2.3"
	AWSIP     = "10.77.2.2" // MinIO
	ProxyAddr = "10.77.1.1:3128"
	// ServicesIP is where deploy/lab/services answers DynamoDB (dynalite),
	// Secrets Manager and SSM, on 443, for the names below.
	ServicesIP = "10.77.2.5"
)

// The names the lab's hosts files resolve to ServicesIP (SERVICES_HOSTS in
// lib.sh); its certificate, from the lab's public CA, is valid for them.
const (
	DynamoDBHost       = "dynamodb.us-east-1.amazonaws.com"
	SecretsManagerHost = "secretsmanager.us-east-1.amazonaws.com"
	SSMHost            = "ssm.us-east-1.amazonaws.com"
)

// BenchHost resolves to AWSIP2 in the lab's hosts files (BENCH_HOST in
// lib.sh): make bench's small calls name it, so that a proxy resolving
// it reaches the bench's own upstream there.
const BenchHost = "dynamodb.us-west-2.amazonaws.com"

// Dir is deploy/lab in the checkout at root.
func Dir(root string) string { return filepath.Join(root, "deploy/lab") }

// Out is where the lab writes its state (out/env, logs, PKI, binaries).
func Out(root string) string { return filepath.Join(Dir(root), "out") }

// Script runs one of the lab's scripts (up.sh, down.sh, gw.sh) with its
// output on stderr.
func Script(root, name string, args ...string) error {
	cmd := exec.Command(filepath.Join(Dir(root), name), args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("lab %s %v: %w", name, args, err)
	}
	return nil
}

// InNamespace runs fn on an OS thread switched into the named namespace.
// Sockets fn creates stay in that namespace for their whole life, whichever
// thread uses them later.
func InNamespace(name string, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return fmt.Errorf("get current namespace: %w", err)
	}
	defer orig.Close()
	ns, err := netns.GetFromName(name)
	if err != nil {
		return fmt.Errorf("open namespace %s (is the lab up?): %w", name, err)
	}
	defer ns.Close()
	if err := netns.Set(ns); err != nil {
		return fmt.Errorf("enter namespace %s: %w", name, err)
	}
	defer netns.Set(orig)
	return fn()
}

// Listen opens a TCP listener on addr inside the namespace ns.
func Listen(ns, addr string) (net.Listener, error) {
	var ln net.Listener
	err := InNamespace(ns, func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	})
	return ln, err
}

// PublicLeaf mints a server certificate for names from the lab's test
// "public" CA, the one Gatehouse trusts for upstreams.
func PublicLeaf(root string, names ...string) (*tls.Certificate, error) {
	pki := filepath.Join(Out(root), "pki")
	caCert, err := readCert(filepath.Join(pki, "public-ca.pem"))
	if err != nil {
		return nil, err
	}
	caKey, err := readKey(filepath.Join(pki, "public-ca.key"))
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("mint lab leaf: %w", err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// CertPool reads a PEM bundle (the lab's public CA, Gatehouse's CA).
func CertPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificates", path)
	}
	return p, nil
}

func readCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM", path)
	}
	return x509.ParseCertificate(blk.Bytes)
}

func readKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: not a signing key", path)
	}
	return s, nil
}

// AgentDial dials from gh-agent, as an agent would: the socket is created
// in that namespace, so its traffic takes the agent's route through the
// gateway. addrFor maps the address asked for to the one dialled (the test
// process does not read gh-agent's hosts file); nil dials addr as is.
func AgentDial(addrFor func(addr string) string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return DialFrom(NSAgent, addrFor)
}

// DialFrom dials from the namespace ns; see AgentDial.
func DialFrom(ns string, addrFor func(addr string) string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addrFor != nil {
			addr = addrFor(addr)
		}
		var c net.Conn
		err := InNamespace(ns, func() (err error) {
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}

// HostAddr maps host:port as gh-agent's hosts file does for AWS names:
// DynamoDBHost, SecretsManagerHost and SSMHost to ServicesIP, any other
// name to MinIO's address (AWSAddr).
func HostAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port = addr, "443"
	}
	switch strings.ToLower(strings.TrimSuffix(host, ".")) {
	case DynamoDBHost, SecretsManagerHost, SSMHost:
		return net.JoinHostPort(ServicesIP, port)
	}
	return AWSAddr(addr)
}

// AWSAddr maps any host:port to MinIO's address in gh-aws, as gh-agent's
// hosts file does for the AWS names the lab knows except the services'
// (HostAddr maps those too).
func AWSAddr(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		port = "443"
	}
	return net.JoinHostPort(AWSIP, port)
}
