// Command goproxybare is make bench's goproxy-bare peer: the least an
// intercepting proxy built on github.com/elazarl/goproxy does. It MITMs
// every CONNECT with leaves from its own CA, kept in a certificate cache
// so that each host's leaf is minted once (without one, goproxy signs a
// leaf per connection), and forwards each request upstream over TLS
// verified against -upstream-ca, the client's Accept-Encoding kept (as
// SigV4 needs). Nothing else: no identity, no policy, no signing, no
// record, no masking, no log.
//
//	ip netns exec gh-gw goproxybare -listen 10.77.1.1:3143 \
//	    -ca-cert ca.pem -ca-key ca.key -upstream-ca public-ca.pem
//
// It exits on SIGTERM or SIGINT. -version prints the goproxy module
// version it was built with.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/elazarl/goproxy"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:3143", "proxy address")
	caCert := flag.String("ca-cert", "", "PEM certificate of the CA that signs the leaves")
	caKey := flag.String("ca-key", "", "PEM private key of that CA")
	upstreamCA := flag.String("upstream-ca", "", "PEM bundle upstream certificates are verified against")
	version := flag.Bool("version", false, "print the goproxy version and exit")
	flag.Parse()
	if *version {
		fmt.Println(goproxyVersion())
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *listen, *caCert, *caKey, *upstreamCA); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, listen, caCert, caKey, upstreamCA string) error {
	ca, err := tls.LoadX509KeyPair(caCert, caKey)
	if err != nil {
		return fmt.Errorf("load CA: %w", err)
	}
	pem, err := os.ReadFile(upstreamCA)
	if err != nil {
		return fmt.Errorf("read upstream CA: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return fmt.Errorf("%s: no PEM certificates", upstreamCA)
	}
	p := goproxy.NewProxyHttpServer()
	p.Logger = log.New(io.Discard, "", 0)
	p.CertStore = &certCache{leaves: map[string]*tls.Certificate{}}
	// goproxy drops the client's Accept-Encoding by default, which breaks
	// every SigV4 signature that covers it (the S3 SDK signs its
	// Accept-Encoding: identity): MinIO answers SignatureDoesNotMatch.
	p.KeepAcceptEncoding = true
	// goproxy's default transport skips verification and reads proxy
	// variables; this one verifies, and keeps as many upstream connections
	// idle as the bench has clients.
	p.Tr = &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: roots},
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	}
	mitm := &goproxy.ConnectAction{Action: goproxy.ConnectMitm, TLSConfig: goproxy.TLSConfigFromCA(&ca)}
	p.OnRequest().HandleConnectFunc(func(host string, _ *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
		return mitm, host
	})
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// certCache is goproxy's CertStorage: one leaf per host name, minted on
// first use.
type certCache struct {
	mu     sync.Mutex
	leaves map[string]*tls.Certificate
}

func (c *certCache) Fetch(host string, gen func() (*tls.Certificate, error)) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if leaf, ok := c.leaves[host]; ok {
		return leaf, nil
	}
	leaf, err := gen()
	if err != nil {
		return nil, err
	}
	c.leaves[host] = leaf
	return leaf, nil
}

func goproxyVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == "github.com/elazarl/goproxy" {
				return m.Path + " " + m.Version
			}
		}
	}
	return "github.com/elazarl/goproxy (version unknown)"
}
