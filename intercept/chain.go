package intercept

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/intercept/awsapi"
	"github.com/gatehouse/gatehouse/intercept/identity"
	"github.com/gatehouse/gatehouse/intercept/sigv4"
	"github.com/gatehouse/gatehouse/policy"
	"github.com/gatehouse/gatehouse/policy/mask"
	"github.com/gatehouse/gatehouse/recorder"
)

// Call is one request on its way through the chain.
type Call struct {
	ID        string // Gatehouse's request id, given to the agent in errors
	Conn      *ConnInfo
	Start     time.Time
	Service   string // from the endpoint host; [3/6] adds IAM action and resources
	Region    string
	Operation string // query Action or JSON target, where known
	Identity  *identity.Identity
	// UpstreamRole is the role the call was signed with upstream ("" for
	// the gateway's own credentials).
	UpstreamRole string
	Described    awsapi.Call     // operation, IAM action, resources, parameters
	Decision     policy.Decision // what policy said
	ApprovalID   string          // the approval request a held call waited on

	Verdict      string // forwarded, refused, upstream_error
	Status       int
	UpstreamID   string // x-amz-request-id / x-amzn-RequestId, to join CloudTrail
	UpstreamTime time.Duration
	err          *Error
	bytesIn      atomic.Int64

	form     url.Values // query-protocol body, parsed
	formBody []byte
	jsonBody []byte             // JSON-protocol body, read whole for describe
	xmlBody  []byte             // S3 multi-object delete XML (unframed), for describe
	body     io.ReadCloser      // body to forward when the chain read it (form, spool)
	bodyHash string             // its SHA-256, or UNSIGNED-PAYLOAD for unsigned S3
	auth     *sigv4.Auth        // the agent's signature
	claimed  *identity.Identity // who the credentials name, until verify proves it
	secret   string             // their secret, between identify and verify only
	agentKey []byte             // the agent's SigV4 signing key, for chunk signatures
	signErr  *Error             // set when the outbound request could not be signed

	// The record: the intent committed, the request as forwarded, the
	// approvers' votes, what came back.
	intent      *recorder.Record // committed before the call left; nil until then
	reqCap      *capture
	reqTapped   bool // the chunk resigner writes the payload to reqCap
	reqSecret   bool // the request body carries a secret: not recorded
	reqHeaders  map[string][]string
	votes       []recorder.Vote
	firstByte   time.Time
	upstreamID2 string
	w           *countingWriter // the agent's response
	respCap     *capture        // the forwarded response body, read from upstream
	completed   bool            // its completion is committed

	masker *mask.Masker // masks the response (and the request in the record); nil until decided
	masked mask.Report  // what was masked in the response, by rule and detector
}

type callKey struct{}

func callFrom(ctx context.Context) *Call { c, _ := ctx.Value(callKey{}).(*Call); return c }

// Chain is the per-request path. ServeHTTP reads top to bottom in the order
// the design fixes; a stage that runs out of order is a security bug.
type Chain struct {
	upstreams *upstreams
	authn     *Authn // nil: agents' own signatures pass through unverified
	policy    Decider
	approvals *Approvals // nil: calls policy holds are refused
	recorder  Recorder   // nil: no records
	bodyCap   int
	maskCap   int
	metrics   *metrics
	log       *slog.Logger
	proxy     *httputil.ReverseProxy
}

func newChain(u *upstreams, o Options, decider Decider, logger *slog.Logger) *Chain {
	c := &Chain{upstreams: u, authn: o.Authn, policy: decider, approvals: o.Approvals, recorder: o.Recorder,
		bodyCap: o.BodyCap, maskCap: o.Config.MaskCap, metrics: newMetrics(o.Metrics), log: logger}
	if c.bodyCap <= 0 {
		c.bodyCap = DefaultBodyCap
	}
	if c.maskCap <= 0 {
		c.maskCap = DefaultMaskCap
	}
	authn := o.Authn
	if authn != nil && authn.STS != nil && authn.STS.Report == nil {
		// The web-identity exchange's outcome goes on the call's log line:
		// who asked, and why a refusal was a refusal.
		authn.STS.Report = func(ctx context.Context, o identity.Outcome) {
			if call := callFrom(ctx); call != nil {
				call.Identity = o.Identity
				if o.Code != "" {
					call.err = refuse(0, o.Code, "web identity refused", o.Err)
				}
			}
		}
	}
	c.proxy = &httputil.ReverseProxy{
		Rewrite:        c.rewrite,
		Transport:      roundTripper(c.roundTrip),
		ModifyResponse: c.upstreamResponse,
		ErrorHandler:   c.upstreamError,
		// Bodies stream through a 32 KiB buffer either way. Flushing after
		// every write cost two write syscalls per small response (bench
		// profile); ReverseProxy still flushes at once for responses of
		// unknown length (event streams, Bedrock's response streams).
		FlushInterval: 0,
		// Its 32 KiB copy buffer was the chain's largest allocation per
		// small call.
		BufferPool: &copyBuffers,
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
	call.w = cw
	if c.recorder != nil {
		call.reqCap, cw.capture = newCapture(c.bodyCap), newCapture(c.bodyCap)
	}

	// admit: the request is for the host the agent's TLS named.
	if e := admit(r, ci); e != nil {
		c.refuse(cw, r, call, e)
		return
	}
	// Query-protocol forms are read first (capped): they name the
	// operation, and STS's web-identity exchange is one.
	call.Service, call.Region = describeHost(ci.SNI)
	if e := readForm(r, call); e != nil {
		c.refuse(cw, r, call, e)
		return
	}
	call.Operation = operation(r, call.Service, call.form)
	// authenticate: STS's web-identity exchange is answered here (it is
	// unsigned by design); everything else must carry a SigV4 signature
	// that verifies with Gatehouse-issued credentials, or come from an
	// address config names. The credentials are looked up before any
	// other body is read; the signature is checked over the body after.
	// GetCallerIdentity is answered too.
	if c.authn != nil {
		if c.answerSTS(cw, r, call, false) {
			return
		}
		if e := c.authn.identify(r, call); e != nil {
			c.refuse(cw, r, call, e)
			return
		}
	}
	// Bodies that name the call's resources (JSON-protocol documents, S3
	// multi-object deletes) are read whole, capped.
	if e := readJSON(r, call); e != nil {
		c.refuse(cw, r, call, e)
		return
	}
	if e := readS3Delete(r, call); e != nil {
		c.refuse(cw, r, call, e)
		return
	}
	if c.authn != nil {
		if e := c.authn.verify(r, call); e != nil {
			c.refuse(cw, r, call, e)
			return
		}
		if c.answerSTS(cw, r, call, true) {
			return
		}
	}
	// describe: operation, IAM action, resources and parameters, from
	// tables generated from AWS's service models.
	c.describe(r, call)
	// decide: calls that vend real AWS credentials never reach AWS,
	// whatever the policy says; then the policy allows, denies or holds.
	if vendsCredentials[call.Service+":"+call.Operation] || vendsCredentials[call.Described.Action] {
		c.refuse(cw, r, call, refuse(http.StatusForbidden, code(call, "AccessDenied"),
			call.Described.Action+" returns AWS credentials, which agents never hold", nil))
		return
	}
	if call.Described.Operation == "DeleteObjects" && !namesObjects(call.Described) {
		// Decided on the bucket alone, a rule on its objects would not
		// apply: fail closed.
		c.refuse(cw, r, call, refuse(http.StatusBadRequest, "MalformedXML", "the keys of this multi-object delete could not be read", nil))
		return
	}
	call.Decision = c.decide(call)
	// mask: the profile decided masks the response; the record keeps
	// request bodies masked the same way and never keeps secrets the
	// profile leaves in the clear.
	call.masker = call.responseMasker()
	withholdSecrets(call, cw)
	switch call.Decision.Effect {
	case policy.Allow:
	case policy.Deny:
		c.refuse(cw, r, call, denied(call, call.Decision))
		return
	default: // approve: held until an approver decides
		if e := c.hold(r.Context(), call); e != nil {
			c.refuse(cw, r, call, e)
			return
		}
	}
	// sign: the outbound request, built in rewrite, carries none of the
	// agent's auth and is signed with upstream credentials for the agent.
	//
	// record: the intent, with the request as it goes upstream, is
	// committed durably in roundTrip before any byte leaves; a call that
	// cannot be recorded is refused.
	//
	// forward: to the original destination, upstream TLS verified for the
	// SNI; bodies stream both ways.
	if call.body != nil {
		r.Body = call.body
	}
	if c.forward(cw, r) {
		// The response broke off (upstream, or its outcome could not be
		// recorded): record and log it, then let net/http drop the
		// connection so the agent sees no complete answer.
		c.complete(cw, r, call)
		panic(http.ErrAbortHandler)
	}
	// mask: upstreamResponse masks the response before it streams.
	//
	// complete: the record's completion (status, bodies, upstream request
	// ids) and the log line.
	c.complete(cw, r, call)
}

// forward runs the reverse proxy and reports whether it aborted the
// response (it panics with http.ErrAbortHandler when a body copy fails).
func (c *Chain) forward(w http.ResponseWriter, r *http.Request) (aborted bool) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				panic(v)
			}
			aborted = true
		}
	}()
	c.proxy.ServeHTTP(w, r)
	return false
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
	if len(labels) == 3 && labels[1] == "ddb" {
		// DynamoDB's account-based endpoints, ACCOUNT.ddb.REGION, which
		// the SDKs use once their credentials name an account.
		return "dynamodb", labels[2]
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

// rewrite builds the outbound request: to the original destination, and,
// with Authn, stripped of the agent's auth and signed for upstream.
func (c *Chain) rewrite(pr *httputil.ProxyRequest) {
	call := callFrom(pr.In.Context())
	pr.Out.URL.Scheme = "https"
	pr.Out.URL.Host = call.Conn.Dst.String()
	pr.Out.Host = pr.In.Host
	if c.authn != nil {
		call.signErr = c.authn.sign(pr.Out.Context(), pr.Out, call)
	}
}

func (c *Chain) roundTrip(req *http.Request) (*http.Response, error) {
	call := callFrom(req.Context())
	if call.signErr != nil {
		return nil, call.signErr
	}
	if e := c.recordIntent(req, call); e != nil {
		return nil, e
	}
	t0 := time.Now()
	resp, err := c.upstreams.transport(call.Conn.SNI).RoundTrip(req)
	call.firstByte = time.Now()
	call.UpstreamTime = call.firstByte.Sub(t0)
	c.metrics.upstreamTime.WithLabelValues(call.Service).Observe(call.UpstreamTime.Seconds())
	return resp, err
}

func (c *Chain) upstreamResponse(resp *http.Response) error {
	call := callFrom(resp.Request.Context())
	call.Verdict = "forwarded"
	call.UpstreamID = resp.Header.Get("X-Amz-Request-Id")
	if call.UpstreamID == "" {
		call.UpstreamID = resp.Header.Get("X-Amzn-Requestid")
	}
	call.upstreamID2 = resp.Header.Get("X-Amz-Id-2")
	if e := c.maskResponse(resp, call); e != nil {
		return e
	}
	c.completeBeforeEnd(resp, call)
	return nil
}

func (c *Chain) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	call := callFrom(r.Context())
	e := refuse(http.StatusBadGateway, "ServiceUnavailable", "the upstream could not be reached or failed verification", err)
	var ce *Error
	var se *sigv4.Error
	switch {
	case errors.As(err, &ce):
		e = ce // refused while signing or recording: nothing left
		call.Verdict = "refused"
	case errors.As(err, &se):
		e = sigv4Error(se) // a body that failed verification while streaming
	case errors.Is(err, context.Canceled):
		e = refuse(499, "RequestCanceled", "the agent went away", err)
	}
	if call.Verdict == "" {
		call.Verdict = "upstream_error"
	}
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
	c.record(w, r, call)
	c.metrics.requests.WithLabelValues(call.Verdict, string(call.Decision.Effect)).Inc()
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
	if call.Operation != "" {
		attrs = append(attrs, slog.String("operation", call.Operation))
	}
	if a := call.Described.Action; a != "" {
		attrs = append(attrs, slog.String("action", a))
		if len(call.Described.Resources) > 0 {
			attrs = append(attrs, slog.String("resources", resourcesForLog(call.Described.Resources)))
		}
	}
	if call.ApprovalID != "" {
		attrs = append(attrs, slog.String("approval", call.ApprovalID))
	}
	if d := call.Decision; d.Effect != "" {
		attrs = append(attrs, slog.String("decision", string(d.Effect)), slog.String("rule", d.Rule))
		if d.Shadow {
			attrs = append(attrs, slog.Bool("shadow", true), slog.String("would_be", string(d.WouldBe)))
		}
	}
	if call.Identity != nil {
		attrs = append(attrs, slog.String("identity", call.Identity.String()))
	}
	if call.UpstreamRole != "" {
		attrs = append(attrs, slog.String("upstream_role", call.UpstreamRole))
	}
	if call.UpstreamID != "" {
		attrs = append(attrs, slog.String("upstream_request_id", call.UpstreamID), slog.Float64("upstream_ms", ms(call.UpstreamTime)))
	}
	if n := call.masked.Total(); n > 0 {
		attrs = append(attrs, slog.Int("masked", n), slog.String("masked_by", strings.Join(call.masked.Names(), ",")))
	}
	level := slog.LevelInfo
	if call.err != nil {
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("code", call.err.Code), slog.String("reason", call.err.Error()))
	}
	c.log.LogAttrs(r.Context(), level, "request", attrs...)
}

// copyBuffers are the reverse proxy's body copy buffers, reused.
var copyBuffers bufferPool

type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }

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
	status  int
	bytes   int64
	capture *capture // the body as returned to the agent, for the record; nil none
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
	if w.capture != nil && n > 0 {
		w.capture.Write(p[:n])
	}
	return n, err
}

// Unwrap lets http.ResponseController reach Flush on the real writer.
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
