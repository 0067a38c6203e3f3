package approval

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client speaks to the admin API, for `gatehouse approvals
// list|show|approve|deny`.
type Client struct {
	// BaseURL is the API's, "https://gateway:9443". A bearer token is
	// sent over https only.
	BaseURL    string
	HTTPClient *http.Client // nil: one with a 30s timeout
	Token      string       // OIDC token of the approver; not sent on the unix socket
	// MaxResponse is the largest response body read; 0 is 64 MiB.
	MaxResponse int64

	unix bool
}

// UnixClient speaks to the API on the gateway's unix socket, as root.
func UnixClient(path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}
	return &Client{BaseURL: "http://gatehouse", HTTPClient: &http.Client{Transport: tr, Timeout: 30 * time.Second}, unix: true}
}

// APIError is the API's refusal: its status and {"error"} message.
type APIError struct {
	StatusCode int
	Message    string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("approvals api: %d %s: %s", e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// List returns the requests with status (StatusNone: all).
func (c *Client) List(ctx context.Context, status Status) ([]Request, error) {
	path := "/v1/approvals"
	if status != StatusNone {
		path += "?status=" + url.QueryEscape(string(status))
	}
	var out listResponse
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out.Approvals, err
}

// Get returns one request.
func (c *Client) Get(ctx context.Context, id string) (Request, error) {
	var out Request
	err := c.do(ctx, http.MethodGet, "/v1/approvals/"+url.PathEscape(id), nil, &out)
	return out, err
}

// Approve votes for request id; grantFor (`--for`) asks for a window.
func (c *Client) Approve(ctx context.Context, id, reason string, grantFor time.Duration) (Request, error) {
	var out Request
	err := c.do(ctx, http.MethodPost, "/v1/approvals/"+url.PathEscape(id)+"/approve",
		decideBody{Reason: reason, For: durationString(grantFor)}, &out)
	return out, err
}

// GetJSON reads path (an endpoint mounted with Server.Handle, query
// included) into out, with the same authentication and errors as the
// approvals calls.
func (c *Client) GetJSON(ctx context.Context, path string, out any) error {
	return c.do(ctx, http.MethodGet, path, nil, out)
}

// Deny denies request id.
func (c *Client) Deny(ctx context.Context, id, reason string) (Request, error) {
	var out Request
	err := c.do(ctx, http.MethodPost, "/v1/approvals/"+url.PathEscape(id)+"/deny", decideBody{Reason: reason}, &out)
	return out, err
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	base, err := url.Parse(c.BaseURL)
	if err != nil || base.Host == "" {
		return fmt.Errorf("approvals api: base url %q not valid", c.BaseURL)
	}
	if c.Token != "" && !c.unix && base.Scheme != "https" {
		return fmt.Errorf("approvals api: refusing to send a bearer token to %s over %s", base.Host, base.Scheme)
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.BaseURL, "/")+path, body)
	if err != nil {
		return fmt.Errorf("approvals api: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" && !c.unix {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("approvals api: %w", err)
	}
	defer resp.Body.Close()
	limit := c.MaxResponse
	if limit <= 0 {
		limit = 64 << 20
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return fmt.Errorf("approvals api: %s %s: %w", method, path, err)
	}
	if int64(len(b)) > limit {
		return fmt.Errorf("approvals api: %s %s: response larger than %d bytes", method, path, limit)
	}
	if resp.StatusCode != http.StatusOK {
		var e errorBody
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return &APIError{StatusCode: resp.StatusCode, Message: e.Error}
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("approvals api: %s %s: response: %w", method, path, err)
	}
	return nil
}

// IsStatus reports whether err is the API's refusal with this status.
func IsStatus(err error, status int) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.StatusCode == status
}
