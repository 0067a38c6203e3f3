package approval

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Authenticator turns an approver's bearer token into who they are.
// cmd/gatehouse adapts the OIDC verifier of intercept/identity to it.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (Principal, error)
}

// ErrAuthUnavailable is what an Authenticator wraps when it cannot
// decide (the identity provider is down): the API answers 503, not 401.
var ErrAuthUnavailable = errors.New("authentication unavailable")

// Server is the admin API, an http.Handler:
//
//	GET  /v1/approvals?status=pending    {"approvals": [request, ...]}
//	GET  /v1/approvals/{id}              request
//	POST /v1/approvals/{id}/approve      {"reason": "...", "for": "15m"} → request
//	POST /v1/approvals/{id}/deny         {"reason": "..."} → request
//
// Over HTTPS a caller shows `Authorization: Bearer <token>` (401
// without one or with one the Authenticator refuses) and must be in one
// of the approver groups (403 otherwise). On the unix socket (ServeUnix)
// the peer's uid must be 0; it acts as LocalRoot. Errors are
// {"error": "..."}. Handle mounts other packages' endpoints behind the
// same rules.
type Server struct {
	store  *Store
	auth   Authenticator
	groups []string
	mux    *http.ServeMux
}

// NewServer serves store's requests to approvers: principals auth
// accepts whose groups meet approverGroups. With no approver groups, or
// a nil auth, only root on the unix socket may approve.
func NewServer(store *Store, auth Authenticator, approverGroups []string) *Server {
	s := &Server{store: store, auth: auth, groups: slices.Clone(approverGroups), mux: http.NewServeMux()}
	s.mux.HandleFunc("/v1/approvals", s.list)
	s.mux.HandleFunc("/v1/approvals/{id}", s.get)
	s.mux.HandleFunc("/v1/approvals/{id}/approve", s.decide)
	s.mux.HandleFunc("/v1/approvals/{id}/deny", s.decide)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint")
	})
	return s
}

// Handle mounts h at pattern (an http.ServeMux pattern, "GET
// /v1/records/{id}") behind the same authentication as the approvals
// endpoints: root on the unix socket, or a bearer token of an
// approver-group member over HTTPS. It is for endpoints as privileged as
// deciding held calls, such as reading the records cmd/gatehouse serves;
// h finds its caller with PrincipalFrom. Call it before serving.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// PrincipalFrom is the caller the Server authenticated, inside a handler
// mounted with Handle.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

const maxBody = 64 << 10

type principalKey struct{}

// peerKey carries the unix peer's uid from ServeUnix's ConnContext. It
// is unexported: nothing but ServeUnix can vouch for a peer.
type peerKey struct{}

type peer struct {
	uid uint32
	err error
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	p, status, msg := s.authenticate(r)
	if status != 0 {
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse approvals"`)
		}
		writeError(w, status, msg)
		return
	}
	s.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
}

// authenticate returns the caller, or the status and message refusing
// it.
func (s *Server) authenticate(r *http.Request) (Principal, int, string) {
	if pc, ok := r.Context().Value(peerKey{}).(peer); ok {
		if pc.err != nil || pc.uid != 0 {
			return Principal{}, http.StatusForbidden, "only root may use the approvals socket"
		}
		return LocalRoot, 0, ""
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return Principal{}, http.StatusUnauthorized, "a bearer token is required"
	}
	if s.auth == nil {
		return Principal{}, http.StatusUnauthorized, "bearer tokens are not accepted here"
	}
	p, err := s.auth.Authenticate(r.Context(), token)
	switch {
	case errors.Is(err, ErrAuthUnavailable):
		return Principal{}, http.StatusServiceUnavailable, "cannot verify the token now; try again"
	case err != nil || p.Subject == "":
		// The reason stays here: it may quote the token's claims.
		return Principal{}, http.StatusUnauthorized, "the bearer token was not accepted"
	}
	for _, g := range p.Groups {
		if slices.Contains(s.groups, g) {
			return p, 0, ""
		}
	}
	return Principal{}, http.StatusForbidden, "not in an approver group"
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	if !method(w, r, http.MethodGet) {
		return
	}
	st, err := ParseStatus(r.URL.Query().Get("status"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	reqs := s.store.List(Filter{Status: st})
	if reqs == nil {
		reqs = []Request{}
	}
	writeJSON(w, http.StatusOK, listResponse{Approvals: reqs})
}

type listResponse struct {
	Approvals []Request `json:"approvals"`
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	if !method(w, r, http.MethodGet) {
		return
	}
	req, err := s.store.Get(r.PathValue("id"))
	if err != nil {
		writeStoreError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, req)
}

// decideBody is the body of approve and deny; deny takes no "for".
type decideBody struct {
	Reason string `json:"reason"`
	For    string `json:"for,omitempty"`
}

func (s *Server) decide(w http.ResponseWriter, r *http.Request) {
	if !method(w, r, http.MethodPost) {
		return
	}
	var body decideBody
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	p, _ := r.Context().Value(principalKey{}).(Principal)
	id := r.PathValue("id")
	var req Request
	var err error
	if strings.HasSuffix(r.URL.Path, "/approve") {
		var d time.Duration
		if d, err = parseDuration(body.For); err != nil {
			writeError(w, http.StatusBadRequest, "for: "+err.Error())
			return
		}
		req, err = s.store.Approve(id, p, body.Reason, d)
	} else {
		if body.For != "" {
			writeError(w, http.StatusBadRequest, `for: a denial has no window`)
			return
		}
		req, err = s.store.Deny(id, p, body.Reason)
	}
	if err != nil {
		writeStoreError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, req)
}

func method(w http.ResponseWriter, r *http.Request, m string) bool {
	if r.Method == m || (m == http.MethodGet && r.Method == http.MethodHead) {
		return true
	}
	w.Header().Set("Allow", m)
	writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed; use "+m)
	return false
}

// writeStoreError answers a Store error. Its text is safe to show: it
// names the request and the rule broken, nothing internal, except for a
// failed write, which is a 500 with a generic message.
func writeStoreError(w http.ResponseWriter, err error) {
	var status int
	switch {
	case errors.Is(err, ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, ErrSelfApproval):
		status = http.StatusForbidden
	case errors.Is(err, ErrAlreadyVoted), errors.Is(err, ErrDecided):
		status = http.StatusConflict
	case errors.Is(err, ErrInvalid):
		status = http.StatusBadRequest
	default:
		writeError(w, http.StatusInternalServerError, "the decision could not be stored; it was not taken")
		return
	}
	writeError(w, status, err.Error())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encoding the response failed")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(errorBody{Error: msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

type errorBody struct {
	Error string `json:"error"`
}

func (s *Server) httpServer() *http.Server {
	return &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}

// serve runs srv on ln until ctx ends, then shuts it down gracefully.
func serve(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) {
		err = errors.Join(err, e)
	}
	return err
}

// ListenHTTPS serves the API with TLS on addr until ctx ends. There is
// no plain-HTTP mode: bearer tokens cross this listener.
func (s *Server) ListenHTTPS(ctx context.Context, addr string, cfg *tls.Config) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("approvals api: %w", err)
	}
	return s.ServeTLS(ctx, ln, cfg)
}

// ServeTLS is ListenHTTPS on a listener of the caller's (one on port 0,
// say); it closes ln.
func (s *Server) ServeTLS(ctx context.Context, ln net.Listener, cfg *tls.Config) error {
	if cfg == nil || (len(cfg.Certificates) == 0 && cfg.GetCertificate == nil && cfg.GetConfigForClient == nil) {
		ln.Close()
		return errors.New("approvals api: TLS needs a certificate")
	}
	cfg = cfg.Clone()
	if cfg.MinVersion < tls.VersionTLS12 {
		cfg.MinVersion = tls.VersionTLS12
	}
	if len(cfg.NextProtos) == 0 {
		cfg.NextProtos = []string{"h2", "http/1.1"}
	}
	srv := s.httpServer()
	srv.TLSConfig = cfg
	return serve(ctx, srv, tls.NewListener(ln, cfg))
}

// ServeUnix serves the API on a unix socket at path until ctx ends,
// then removes it. The socket is 0600 and each connection's peer is
// checked (SO_PEERCRED): uid 0 acts as LocalRoot, anyone else gets 403,
// whatever the file's mode. A stale socket at path is replaced; one a
// live server answers on is not.
func (s *Server) ServeUnix(ctx context.Context, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), dirPerm); err != nil {
		return fmt.Errorf("approvals socket: %w", err)
	}
	if err := removeStaleSocket(path); err != nil {
		return fmt.Errorf("approvals socket: %w", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "unix", path)
	if err != nil {
		return fmt.Errorf("approvals socket: %w", err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(true)
	if err := os.Chmod(path, filePerm); err != nil {
		ln.Close()
		return fmt.Errorf("approvals socket: %w", err)
	}
	srv := s.httpServer()
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		uid, err := peerUID(c)
		return context.WithValue(ctx, peerKey{}, peer{uid: uid, err: err})
	}
	return serve(ctx, srv, ln)
}

func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Type() != os.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket", path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("%s: another server is listening", path)
	}
	return os.Remove(path)
}
