// Command services is the lab's upstream for AWS services MinIO does not
// speak: DynamoDB, Secrets Manager and SSM Parameter Store. up.sh runs it
// in gh-aws on 10.77.2.5:443 with a certificate from the lab's public CA,
// beside dynalite (a DynamoDB emulator) listening on 127.0.0.1 only.
//
//	services --addr 10.77.2.5:443 --cert tls.crt --key tls.key \
//	    --dynamodb http://127.0.0.1:4567 [--seed seed.json]
//
// It routes by Host: dynamodb.* goes to dynalite through a reverse proxy
// that passes headers and bodies as they are (X-Amz-Crc32, Content-Length;
// no compression added or removed); secretsmanager.* and ssm.* are answered
// in process, in memory, with the AWS JSON 1.1 protocol and the documented
// response shapes (see secrets.go and params.go for the operations).
//
// It never verifies SigV4 signatures (MinIO proves Gatehouse's signing),
// but it refuses a Secrets Manager or SSM call that carries no signature,
// or one scoped to another service or region, so a test knows the gateway
// signed what reached it. dynalite does the same for DynamoDB: a call with
// no Authorization header is its MissingAuthenticationTokenException.
// It logs one line per request (method, host, target, status), never a
// body.
//
// The seed file, optional, holds what to create at start:
//
//	{"secrets": [{"Name": "db", "SecretString": "pw"}],
//	 "parameters": [{"Name": "/app/pw", "Type": "SecureString", "Value": "pw"}]}
//
// Its entries are CreateSecret and PutParameter inputs.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	log.SetFlags(log.LstdFlags | log.LUTC)
	log.SetPrefix("services: ")
	var cfg config
	flag.StringVar(&cfg.addr, "addr", "", "listen address, IP:PORT")
	flag.StringVar(&cfg.cert, "cert", "", "TLS certificate (PEM)")
	flag.StringVar(&cfg.key, "key", "", "TLS key (PEM)")
	flag.StringVar(&cfg.dynamodb, "dynamodb", "", "URL of dynalite, e.g. http://127.0.0.1:4567")
	flag.StringVar(&cfg.seed, "seed", "", "JSON file of secrets and parameters to create at start (optional)")
	flag.StringVar(&cfg.region, "region", "us-east-1", "region in ARNs and the credential scope expected")
	flag.StringVar(&cfg.account, "account", "000000000000", "account in ARNs")
	flag.Parse()
	if cfg.addr == "" || cfg.cert == "" || cfg.key == "" || cfg.dynamodb == "" {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		log.Fatal(err)
	}
}

type config struct {
	addr, cert, key, dynamodb, seed, region, account string
}

func run(ctx context.Context, cfg config) error {
	h, err := newHandler(cfg, time.Now)
	if err != nil {
		return err
	}
	if cfg.seed != "" {
		if err := h.seed(cfg.seed); err != nil {
			return err
		}
	}
	cert, err := tls.LoadX509KeyPair(cfg.cert, cfg.key)
	if err != nil {
		return fmt.Errorf("load certificate: %w", err)
	}
	srv := &http.Server{
		Addr:              cfg.addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          log.Default(),
		// HTTP/1.1 only, as these AWS endpoints answer.
		TLSConfig:    &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}},
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	log.Printf("listening on https://%s; DynamoDB at %s", cfg.addr, cfg.dynamodb)
	if err := srv.ServeTLS(ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// handler routes a request by the service its Host names.
type handler struct {
	secrets  *secrets
	params   *params
	services map[string]http.Handler // by the Host's first label
}

func newHandler(cfg config, now func() time.Time) (*handler, error) {
	target, err := url.Parse(cfg.dynamodb)
	if err != nil || target.Host == "" {
		return nil, fmt.Errorf("--dynamodb %q: not a URL", cfg.dynamodb)
	}
	// Headers as the client sent them (the Host too); no X-Forwarded-*
	// added. No Accept-Encoding added either, so nothing is decompressed on
	// the way: the body and its CRC32 reach the client as dynalite wrote
	// them.
	dynamodb := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host
		},
		Transport: &http.Transport{
			DisableCompression:    true,
			MaxIdleConnsPerHost:   64,
			ResponseHeaderTimeout: 30 * time.Second,
		},
		ErrorLog: log.Default(),
	}
	h := &handler{
		secrets: newSecrets(cfg.region, cfg.account, now),
		params:  newParams(cfg.region, cfg.account, now),
	}
	h.services = map[string]http.Handler{
		"secretsmanager": signed("secretsmanager", cfg.region, h.secrets.service()),
		"ssm":            signed("ssm", cfg.region, h.params.service()),
		"dynamodb":       dynamodb,
	}
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	host := strings.ToLower(r.Host)
	if hh, _, err := net.SplitHostPort(host); err == nil {
		host = hh
	}
	first, _, _ := strings.Cut(host, ".")
	if svc := h.services[first]; svc != nil && strings.HasSuffix(host, ".amazonaws.com") {
		svc.ServeHTTP(rec, r)
	} else {
		writeJSON(rec, http.StatusNotFound, &apiError{Type: "UnknownEndpoint", Message: "lab: no service answers " + r.Host})
	}
	log.Printf("%s %s %s target=%q status=%d %s", r.RemoteAddr, r.Method, r.Host, r.Header.Get("X-Amz-Target"),
		rec.status(), time.Since(start).Round(time.Millisecond))
}

// signed refuses a call that carries no SigV4 signature, or one whose
// credential scope names another service or region. The signature itself
// is not checked.
func signed(service, region string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		if auth == "" && r.URL.Query().Get("X-Amz-Signature") == "" {
			writeJSON(w, http.StatusForbidden, &apiError{Type: "MissingAuthenticationTokenException", Message: "Missing Authentication Token"})
			return
		}
		if cred, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 Credential="); ok {
			cred, _, _ = strings.Cut(cred, ",")
			// AKID/date/region/service/aws4_request
			parts := strings.Split(cred, "/")
			switch {
			case len(parts) != 5 || parts[4] != "aws4_request":
				writeJSON(w, http.StatusBadRequest, &apiError{Type: "IncompleteSignatureException", Message: "Authorization header requires a valid Credential."})
				return
			case parts[3] != service:
				writeJSON(w, http.StatusBadRequest, &apiError{Type: "InvalidSignatureException",
					Message: fmt.Sprintf("Credential should be scoped to correct service: '%s'.", service)})
				return
			case parts[2] != region:
				writeJSON(w, http.StatusBadRequest, &apiError{Type: "InvalidSignatureException",
					Message: fmt.Sprintf("Credential should be scoped to a valid region. (want %s)", region)})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// seed creates the secrets and parameters of a seed file, each with its
// CreateSecret or PutParameter input.
func (h *handler) seed(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var s struct {
		Secrets    []json.RawMessage `json:"secrets"`
		Parameters []json.RawMessage `json:"parameters"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return fmt.Errorf("seed %s: %w", path, err)
	}
	for i, in := range s.Secrets {
		if _, err := h.secrets.create(in); err != nil {
			return fmt.Errorf("seed %s: secrets[%d]: %w", path, i, err)
		}
	}
	for i, in := range s.Parameters {
		if _, err := h.params.put(in); err != nil {
			return fmt.Errorf("seed %s: parameters[%d]: %w", path, i, err)
		}
	}
	log.Printf("seeded %d secrets and %d parameters from %s", len(s.Secrets), len(s.Parameters), path)
	return nil
}

// statusRecorder keeps the status written, for the request log.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController (the reverse proxy's flushes) reach
// the connection's writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *statusRecorder) status() int { return r.code }
