// Command oidc is the lab's OIDC issuer: the identity provider agents get
// workload tokens from. up.sh runs it in gh-aws on 10.77.2.4:443.
//
//	oidc serve --addr IP:PORT --issuer URL --dir DIR --cert FILE --key FILE
//	oidc mint --dir DIR --issuer URL --sub S --groups a,b --aud A [--ttl 6h] [--alg RS256|ES256]
//
// serve answers /.well-known/openid-configuration and /jwks over TLS, with
// an RSA-2048 and an EC P-256 key created in DIR on first start and reused.
// mint prints a token signed with those keys.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse/gatehouse/deploy/lab"
)

func main() {
	log.SetFlags(log.LstdFlags | log.LUTC)
	log.SetPrefix("oidc: ")
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "mint":
		err = mint(os.Args[2:], os.Stdout)
	default:
		usage()
	}
	if err != nil {
		log.Fatal(err)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: oidc serve --addr IP:PORT --issuer URL --dir DIR --cert FILE --key FILE\n"+
		"       oidc mint --dir DIR --issuer URL --sub S --groups a,b --aud A [--ttl 6h] [--alg RS256|ES256]")
	os.Exit(2)
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	addr := fs.String("addr", "", "listen address, IP:PORT")
	issuer := fs.String("issuer", lab.OIDCIssuer, "issuer URL")
	dir := fs.String("dir", "", "directory of the signing keys (created on first start)")
	cert := fs.String("cert", "", "TLS certificate (PEM)")
	key := fs.String("key", "", "TLS key (PEM)")
	fs.Parse(args)
	if *addr == "" || *dir == "" || *cert == "" || *key == "" {
		usage()
	}
	keys, err := lab.LoadIssuerKeys(*dir, true)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Addr:              *addr,
		Handler:           handler(*issuer, keys),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.Default(),
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	log.Printf("issuer %s on https://%s, keys in %s", *issuer, *addr, *dir)
	if err := srv.ListenAndServeTLS(*cert, *key); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// handler serves the discovery document and the key set of issuer.
func handler(issuer string, keys *lab.IssuerKeys) http.Handler {
	issuer = strings.TrimSuffix(issuer, "/")
	discovery := map[string]any{
		"issuer":                                issuer,
		"jwks_uri":                              issuer + "/jwks",
		"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
		"claims_supported":                      []string{"iss", "sub", "aud", "exp", "iat", "nbf", "groups"},
	}
	jwks := keys.JWKS()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, discovery)
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, jwks)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.Printf("%s %s %s", r.RemoteAddr, r.Method, r.URL.Path)
		mux.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(b, '\n'))
}

func mint(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("mint", flag.ExitOnError)
	dir := fs.String("dir", "", "directory of the issuer's signing keys")
	issuer := fs.String("issuer", lab.OIDCIssuer, "iss claim")
	sub := fs.String("sub", "", "sub claim")
	groups := fs.String("groups", "", "groups claim, comma-separated")
	aud := fs.String("aud", lab.OIDCAudience, "aud claim")
	ttl := fs.Duration("ttl", 6*time.Hour, "lifetime (negative: already expired)")
	alg := fs.String("alg", "RS256", "RS256 or ES256")
	fs.Parse(args)
	if *dir == "" || *sub == "" {
		usage()
	}
	if *alg != "RS256" && *alg != "ES256" {
		return fmt.Errorf("mint: --alg %q: RS256 or ES256", *alg)
	}
	if *ttl == 0 {
		return fmt.Errorf("mint: --ttl 0")
	}
	keys, err := lab.LoadIssuerKeys(*dir, false)
	if err != nil {
		return err
	}
	c := lab.TokenClaims{Subject: *sub, Audience: *aud, Issuer: *issuer, TTL: *ttl}
	if *groups != "" {
		c.Groups = strings.Split(*groups, ",")
	}
	tok, err := keys.Mint(c, lab.MintOptions{Alg: *alg})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, tok)
	return err
}
