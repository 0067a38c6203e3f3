package approval

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Webhook is one receiver of notifications.
type Webhook struct {
	// URL receives a POST per event. It is never printed whole: Slack's
	// webhook URLs are secrets.
	URL string `yaml:"url" json:"url"`
	// Format is "json" (default: the event and the request) or "slack"
	// (an incoming-webhook message with text and blocks).
	Format string `yaml:"format" json:"format,omitempty"`
	// Headers are added to each POST (an Authorization for the receiver,
	// say).
	Headers map[string]string `yaml:"headers" json:"headers,omitempty"`
	// OmitParams leaves the call's (masked) parameters out of the JSON
	// payload. Slack messages never carry them.
	OmitParams bool `yaml:"omit_params" json:"omit_params,omitempty"`
}

// NotifierOptions tune delivery; zero values take the defaults.
type NotifierOptions struct {
	// Client posts the webhooks (a client that follows no redirects);
	// its redirect policy is replaced so that headers never follow one.
	Client *http.Client
	// Timeout bounds each attempt (10s).
	Timeout time.Duration
	// Attempts per event and webhook (5); the delay between attempts
	// starts at Backoff (1s) and doubles, at most a minute, or is the
	// receiver's Retry-After if shorter than that.
	Attempts int
	Backoff  time.Duration
	// Command is how messages spell the CLI ("gatehouse").
	Command string
	// OnError hears deliveries that failed for good, and each failed
	// attempt. Nil: failures are dropped.
	OnError func(error)
}

// maxInFlight bounds deliveries under way; past it events are dropped
// (and reported) rather than queued without end or blocking a call.
const maxInFlight = 256

// Notifier posts events to webhooks in the background. Notify never
// blocks and never fails the held call: delivery is retried with backoff
// and failures go to OnError.
type Notifier struct {
	hooks []Webhook
	opts  NotifierOptions
	ctx   context.Context
	stop  context.CancelFunc
	slots chan struct{}

	mu     sync.Mutex // orders wg.Add against Close's wg.Wait
	closed bool
	wg     sync.WaitGroup
}

// NewNotifier checks the webhooks. It starts nothing until Notify.
func NewNotifier(hooks []Webhook, opts NotifierOptions) (*Notifier, error) {
	for i := range hooks {
		h := &hooks[i]
		u, err := url.Parse(h.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("webhook %d: url: want http(s)://host/path", i+1)
		}
		switch h.Format {
		case "":
			h.Format = "json"
		case "json", "slack":
		default:
			return nil, fmt.Errorf("webhook %d (%s): format %q: want json or slack", i+1, redact(h.URL), h.Format)
		}
		for k := range h.Headers {
			if k == "" || strings.ContainsAny(k, " :\r\n") {
				return nil, fmt.Errorf("webhook %d (%s): header name %q not valid", i+1, redact(h.URL), k)
			}
		}
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 5
	}
	if opts.Backoff <= 0 {
		opts.Backoff = time.Second
	}
	if opts.Command == "" {
		opts.Command = "gatehouse"
	}
	c := &http.Client{}
	if opts.Client != nil {
		*c = *opts.Client
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	opts.Client = c
	ctx, stop := context.WithCancel(context.Background())
	return &Notifier{hooks: hooks, opts: opts, ctx: ctx, stop: stop, slots: make(chan struct{}, maxInFlight)}, nil
}

// Notify queues ev for every webhook. It has Options.Notify's type.
func (n *Notifier) Notify(ev Event) {
	for _, h := range n.hooks {
		body, err := payload(h, ev, n.opts.Command)
		if err != nil {
			n.report(fmt.Errorf("approval webhook %s: %s %s: %w", redact(h.URL), ev.Kind, ev.Request.ID, err))
			continue
		}
		n.mu.Lock()
		if n.closed {
			n.mu.Unlock()
			return
		}
		select {
		case n.slots <- struct{}{}:
		default:
			n.mu.Unlock()
			n.report(fmt.Errorf("approval webhook %s: %s %s: dropped: %d deliveries under way", redact(h.URL), ev.Kind, ev.Request.ID, maxInFlight))
			continue
		}
		n.wg.Add(1)
		n.mu.Unlock()
		go func() {
			defer func() { <-n.slots; n.wg.Done() }()
			n.deliver(h, body, string(ev.Kind)+" "+ev.Request.ID)
		}()
	}
}

// Close abandons retries and waits for deliveries under way to return.
func (n *Notifier) Close() error {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	n.stop()
	n.wg.Wait()
	return nil
}

func (n *Notifier) deliver(h Webhook, body []byte, what string) {
	delay := n.opts.Backoff
	for attempt := 1; ; attempt++ {
		retryAfter, err := n.post(h, body)
		if err == nil {
			return
		}
		err = fmt.Errorf("approval webhook %s: %s: attempt %d of %d: %w", redact(h.URL), what, attempt, n.opts.Attempts, err)
		var perm permanentError
		if attempt == n.opts.Attempts || errors.As(err, &perm) {
			n.report(fmt.Errorf("%w; giving up", err))
			return
		}
		n.report(err)
		wait := delay
		if retryAfter > 0 && retryAfter < time.Minute {
			wait = retryAfter
		}
		t := time.NewTimer(wait)
		select {
		case <-n.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(2*delay, time.Minute)
	}
}

type permanentError struct{ error }

func (n *Notifier) post(h Webhook, body []byte) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(n.ctx, n.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return 0, permanentError{errors.New("url not valid")}
	}
	for k, v := range h.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "gatehouse-approvals")
	resp, err := n.opts.Client.Do(req)
	if err != nil {
		// *url.Error prints the URL; keep its cause only.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return 0, nil
	case code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500:
		secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return time.Duration(secs) * time.Second, fmt.Errorf("status %s", resp.Status)
	default:
		return 0, permanentError{fmt.Errorf("status %s", resp.Status)}
	}
}

func (n *Notifier) report(err error) {
	if n.opts.OnError != nil {
		n.opts.OnError(err)
	}
}

// redact is a webhook URL fit to print: scheme and host.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(url not valid)"
	}
	return u.Scheme + "://" + u.Host + "/…"
}

// JSONPayload is what a "json" webhook receives.
type JSONPayload struct {
	Event    EventKind `json:"event"`
	Request  Request   `json:"request"`
	Commands Commands  `json:"commands,omitzero"`
}

// Commands are the CLI lines that decide a pending request.
type Commands struct {
	Approve    string `json:"approve"`
	ApproveFor string `json:"approve_for"`
	Deny       string `json:"deny"`
}

// CommandsFor spells the approve and deny commands for request id.
func CommandsFor(cli, id string) Commands {
	base := cli + " approvals "
	return Commands{
		Approve:    base + "approve " + id + ` --reason "..."`,
		ApproveFor: base + "approve " + id + ` --for 15m --reason "..."`,
		Deny:       base + "deny " + id + ` --reason "..."`,
	}
}

func payload(h Webhook, ev Event, cli string) ([]byte, error) {
	req := ev.Request
	var cmds Commands
	if req.Status == StatusPending {
		cmds = CommandsFor(cli, req.ID)
	}
	if h.Format == "slack" {
		return json.Marshal(slackMessage(ev, cmds))
	}
	if h.OmitParams {
		req.Params = nil
	}
	return json.Marshal(JSONPayload{Event: ev.Kind, Request: req, Commands: cmds})
}

// SlackMessage is what a "slack" webhook receives: an incoming-webhook
// message, text for notifications and blocks for the channel.
type SlackMessage struct {
	Text   string  `json:"text"`
	Blocks []Block `json:"blocks"`
}

// Block is a Slack layout block (the subset used here).
type Block struct {
	Type     string  `json:"type"`
	Text     *Text   `json:"text,omitempty"`
	Fields   []*Text `json:"fields,omitempty"`
	Elements []*Text `json:"elements,omitempty"`
}

// Text is a Slack text object.
type Text struct {
	Type string `json:"type"` // mrkdwn or plain_text
	Text string `json:"text"`
}

// Slack's bounds: a section's text 3000 characters, a field's 2000, ten
// fields, a header's 150.
const (
	slackSection   = 3000
	slackField     = 2000
	slackHeader    = 150
	slackResources = 10
)

func slackMessage(ev Event, cmds Commands) SlackMessage {
	r := ev.Request
	who := r.Identity.Subject
	var title string
	switch ev.Kind {
	case EventCreated:
		title = "Approval needed"
	case EventApproved:
		title = "Approved"
	case EventDenied:
		title = "Denied"
	case EventExpired:
		title = "Expired undecided"
	default:
		title = string(ev.Kind)
	}
	text := fmt.Sprintf("Gatehouse: %s: %s by %s (request %s)", strings.ToLower(title), r.Action, who, r.ID)
	fields := []*Text{
		mrkdwn(slackField, "*Identity*\n%s\n%s", esc(r.Identity.Subject), esc(r.Identity.Issuer)),
		mrkdwn(slackField, "*Action*\n%s", code(r.Action)),
	}
	if r.Region != "" {
		fields = append(fields, mrkdwn(slackField, "*Region*\n%s", esc(r.Region)))
	}
	if r.Rule != "" {
		fields = append(fields, mrkdwn(slackField, "*Rule*\n%s", esc(r.Rule)))
	}
	fields = append(fields, mrkdwn(slackField, "*Approvals*\n%d of %d", len(r.Approvals), r.minApprovals()))
	if ev.Kind == EventCreated {
		fields = append(fields, mrkdwn(slackField, "*Expires*\n%s", r.ExpiresAt.UTC().Format(time.RFC3339)))
	}
	var res strings.Builder
	res.WriteString("*Resources*")
	for i, x := range r.Resources {
		if i == slackResources {
			fmt.Fprintf(&res, "\n…and %d more", len(r.Resources)-i)
			break
		}
		res.WriteString("\n• " + code(x))
	}
	if len(r.Resources) == 0 {
		res.WriteString("\n(none)")
	}
	blocks := []Block{
		{Type: "header", Text: &Text{Type: "plain_text", Text: clipText(title+": "+r.Action, slackHeader)}},
		{Type: "section", Fields: fields},
		{Type: "section", Text: &Text{Type: "mrkdwn", Text: clipText(res.String(), slackSection)}},
	}
	switch {
	case cmds != Commands{}:
		blocks = append(blocks, Block{Type: "section", Text: mrkdwn(slackSection,
			"*Approve*\n```%s```\n*Approve for a window*\n```%s```\n*Deny*\n```%s```",
			cmds.Approve, cmds.ApproveFor, cmds.Deny)})
	case ev.Kind == EventApproved || ev.Kind == EventDenied:
		var votes []Vote
		if r.Denial != nil {
			votes = []Vote{*r.Denial}
		} else {
			votes = r.Approvals
		}
		var b strings.Builder
		for _, v := range votes {
			fmt.Fprintf(&b, "%s by %s (%s) at %s", title, esc(v.Approver.Subject), esc(v.Approver.Issuer), v.At.UTC().Format(time.RFC3339))
			if v.Reason != "" {
				fmt.Fprintf(&b, ": %s", esc(v.Reason))
			}
			b.WriteString("\n")
		}
		if r.GrantFor > 0 {
			fmt.Fprintf(&b, "Granted for %v: the same action on these resources passes until %s.", r.GrantFor, r.DecidedAt.Add(r.GrantFor).UTC().Format(time.RFC3339))
		}
		blocks = append(blocks, Block{Type: "section", Text: &Text{Type: "mrkdwn", Text: clipText(b.String(), slackSection)}})
	}
	blocks = append(blocks, Block{Type: "context", Elements: []*Text{mrkdwn(slackField, "Request %s · created %s", r.ID, r.CreatedAt.UTC().Format(time.RFC3339))}})
	return SlackMessage{Text: text, Blocks: blocks}
}

func mrkdwn(limit int, format string, args ...any) *Text {
	return &Text{Type: "mrkdwn", Text: clipText(fmt.Sprintf(format, args...), limit)}
}

// esc keeps what an agent chose (its subject, a resource name) from
// becoming a Slack link or mention.
func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// code is s as inline code; Slack has no escape for a backtick inside.
func code(s string) string { return "`" + strings.ReplaceAll(esc(s), "`", "'") + "`" }

func clipText(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
