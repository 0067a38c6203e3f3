package intercept

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync/atomic"
	"time"
)

// Call is one request on its way through the chain.
type Call struct {
	ID      string // Gatehouse's request id, given to the agent in errors
	Conn    *ConnInfo
	Start   time.Time
	Service string // from the endpoint host; [3/6] adds operation and action
	Region  string

	Verdict      string // forwarded, refused, upstream_error
	Status       int
	UpstreamID   string // x-amz-request-id / x-amzn-RequestId, to join CloudTrail
	UpstreamTime time.Duration
	err          *Error
	bytesIn      atomic.Int64
}

type callKey struct{}

func callFrom(ctx context.Context) *Call { c, _ := ctx.Value(callKey{}).(*Call); return c }

// Chain is the per-request path. ServeHTTP reads top to bottom in the order
// the design fixes; a stage that runs out of order is a security bug.
type Chain struct {
	upstreams *upstreams
	log       *slog.Logger
	proxy     *httputil.ReverseProxy
}

func newChain(u *upstreams, logger *slog.Logger) *Chain {
	c := &Chain{upstreams: u, log: logger}
	c.proxy = &httputil.ReverseProxy{
		Rewrite:        rewriteToOriginalDestination,
		Transport:      roundTripper(c.roundTrip),
		ModifyResponse: c.upstreamResponse,
		ErrorHandler:   c.upstreamError,
		// Bodies stream through a 32 KiB buffer either way. Flushing after
		// every write cost two write syscalls per small response (bench
		// profile); ReverseProxy still flushes at once for responses of
		// unknown length (event streams, Bedrock's response streams).
		FlushInterval: 0,
	}
	return c
}

func (c *Chain) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ci := ConnFromContext(r.Context())
	ci.requests.Add(1)
	call := &Call{ID: newID(), Conn: ci, Start: time.Now()}
	r = r.WithContext(context.WithValue(r.Context(), callKey{}, call))
	r.Body = countingBody{r.Body, &call.bytesIn} // on the copy; the inbound request stays as it came
	cw := &countingWriter{ResponseWriter: w}

	// admit: the request is for the host the agent's TLS named.
	if e := admit(r, ci); e != nil {
		c.refuse(cw, r, call, e)
		return
	}
	// describe: what the call is. Service and region from the endpoint
	// now; [3/6] adds operation, IAM action and resources.
	call.Service, call.Region = describeHost(ci.SNI)
	// authenticate: [2/6] verifies the agent's SigV4 and binds an identity.
	// Until then the agent's own credentials pass through unchanged.
	//
	// decide: [3/6] allows, denies or holds. Until then every admitted call
	// is allowed.
	//
	// record: [4/6] commits the intent here, before anything leaves.
	//
	// sign: [2/6] strips the agent's auth and signs with upstream
	// credentials.
	//
	// forward: to the original destination, upstream TLS verified for the
	// SNI; bodies stream both ways.
	c.proxy.ServeHTTP(cw, r)
	// mask: [5/6] rewrites the response in ModifyResponse.
	//
	// complete: the log line; [4/6] appends the record's completion.
	c.complete(cw, r, call)
}

// admit refuses what no AWS SDK sends: a Host that is not the SNI (domain
// fronting), and absolute-form or CONNECT requests inside the tunnel.
func admit(r *http.Request, ci *ConnInfo) *Error {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if !strings.EqualFold(strings.TrimSuffix(host, "."), ci.SNI) {
		return refuse(http.StatusMisdirectedRequest, "AccessDenied",
			"the Host header does not match the TLS server name (domain fronting is refused)", errors.New("host "+r.Host+" != sni "+ci.SNI))
	}
	if r.Method == http.MethodConnect || r.URL.IsAbs() {
		return refuse(http.StatusBadRequest, "InvalidRequest", "proxy requests are not accepted inside an intercepted connection", nil)
	}
	return nil
}

// describeHost reads service and region from an AWS endpoint name:
// s3.us-east-1.amazonaws.com, bucket.s3.amazonaws.com, sts.amazonaws.com,
// dynamodb.eu-west-1.amazonaws.com.
func describeHost(host string) (service, region string) {
	labels := strings.Split(strings.TrimSuffix(host, ".amazonaws.com"), ".")
	if len(labels) == 3 && labels[0] == "portal" && labels[1] == "sso" {
		return "portal.sso", labels[2]
	}
	for i, l := range labels {
		if l == "s3" || strings.HasPrefix(l, "s3-") {
			service = "s3"
			if i+1 < len(labels) && labels[i+1] != "dualstack" {
				region = labels[i+1]
			}
			return service, region
		}
	}
	if len(labels) > 0 {
		service = labels[0]
	}
	if len(labels) > 1 {
		region = labels[1]
	}
	return service, region
}

func rewriteToOriginalDestination(pr *httputil.ProxyRequest) {
	call := callFrom(pr.In.Context())
	pr.Out.URL.Scheme = "https"
	pr.Out.URL.Host = call.Conn.Dst.String()
	pr.Out.Host = pr.In.Host
}

func (c *Chain) roundTrip(req *http.Request) (*http.Response, error) {
	call := callFrom(req.Context())
	t0 := time.Now()
	resp, err := c.upstreams.transport(call.Conn.SNI).RoundTrip(req)
	call.UpstreamTime = time.Since(t0)
	return resp, err
}

func (c *Chain) upstreamResponse(resp *http.Response) error {
	call := callFrom(resp.Request.Context())
	call.Verdict = "forwarded"
	call.UpstreamID = resp.Header.Get("X-Amz-Request-Id")
	if call.UpstreamID == "" {
		call.UpstreamID = resp.Header.Get("X-Amzn-Requestid")
	}
	return nil
}

func (c *Chain) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	call := callFrom(r.Context())
	e := refuse(http.StatusBadGateway, "ServiceUnavailable", "the upstream could not be reached or failed verification", err)
	if errors.Is(err, context.Canceled) {
		e = refuse(499, "RequestCanceled", "the agent went away", err)
	}
	call.Verdict = "upstream_error"
	call.err = e
	writeError(w, r, e, call.ID)
}

func (c *Chain) refuse(w *countingWriter, r *http.Request, call *Call, e *Error) {
	call.Verdict = "refused"
	call.err = e
	writeError(w, r, e, call.ID)
	c.complete(w, r, call)
}

// complete writes the request's log line. Never the query string: a
// presigned URL carries credentials and a signature there.
func (c *Chain) complete(w *countingWriter, r *http.Request, call *Call) {
	ci := call.Conn
	attrs := []slog.Attr{
		slog.String("id", call.ID),
		slog.String("conn", ci.ID),
		slog.String("mode", string(ci.Mode)),
		slog.String("client", ci.Client.String()),
		slog.String("sni", ci.SNI),
		slog.String("dst", ci.Dst.String()),
		slog.String("service", call.Service),
		slog.String("region", call.Region),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", w.status),
		slog.Int64("bytes_in", call.bytesIn.Load()),
		slog.Int64("bytes_out", w.bytes),
		slog.Float64("duration_ms", ms(time.Since(call.Start))),
		slog.String("verdict", call.Verdict),
	}
	if call.UpstreamID != "" {
		attrs = append(attrs, slog.String("upstream_request_id", call.UpstreamID), slog.Float64("upstream_ms", ms(call.UpstreamTime)))
	}
	level := slog.LevelInfo
	if call.err != nil {
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("code", call.err.Code), slog.String("reason", call.err.Error()))
	}
	c.log.LogAttrs(r.Context(), level, "request", attrs...)
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// countingWriter keeps the status and body bytes sent to the agent.
type countingWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *countingWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush on the real writer.
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
