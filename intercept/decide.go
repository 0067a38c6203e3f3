package intercept

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/intercept/awsapi"
	"github.com/gatehouse/gatehouse/policy"
)

// Decider is the policy in force: a *policy.Engine (a file, reloaded as it
// changes) or a *policy.Policy (policy.Default() when none is configured).
type Decider interface {
	Decide(*policy.Call) policy.Decision
}

// maxJSONBody caps JSON-protocol bodies, read whole so that the call's
// resources are known before it is decided (DynamoDB's largest requests,
// BatchWriteItem, are 16 MB).
const maxJSONBody = 16 << 20

// readJSON reads a JSON-protocol body (DynamoDB, KMS, Secrets Manager...):
// its members name the resources policy decides on, so a body too large to
// read is refused rather than decided without them.
func readJSON(r *http.Request, call *Call) *Error {
	if call.body != nil || r.Header.Get("X-Amz-Target") == "" {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxJSONBody+1))
	if err != nil {
		return refuse(http.StatusBadRequest, "IncompleteBody", "the request body could not be read", err)
	}
	if len(b) > maxJSONBody {
		return refuse(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "a JSON request body over 16 MiB is not accepted", nil)
	}
	sum := sha256.Sum256(b)
	call.jsonBody = b
	call.bodyHash, call.body = hex.EncodeToString(sum[:]), io.NopCloser(bytes.NewReader(b))
	return nil
}

// maxDeleteBody caps an S3 multi-object delete's body: 1000 keys of up to
// 1 KiB each, in XML.
const maxDeleteBody = 4 << 20

// readS3Delete reads a multi-object delete (POST /bucket?delete) whole: the
// keys it names are the resources policy decides on, so that a rule on
// arn:aws:s3:::prod-*/* covers DeleteObjects as it covers DeleteObject. The
// agent's bytes are forwarded as sent; an aws-chunked body is unframed only
// to read the XML.
func readS3Delete(r *http.Request, call *Call) *Error {
	if call.body != nil || call.Service != "s3" || r.Method != http.MethodPost || !r.URL.Query().Has("delete") {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxDeleteBody+1))
	if err != nil {
		return refuse(http.StatusBadRequest, "IncompleteBody", "the request body could not be read", err)
	}
	if len(b) > maxDeleteBody {
		return refuse(http.StatusBadRequest, "MalformedXML", "a multi-object delete body over 4 MiB is not accepted", nil)
	}
	sum := sha256.Sum256(b)
	call.bodyHash, call.body = hex.EncodeToString(sum[:]), io.NopCloser(bytes.NewReader(b))
	call.xmlBody = b
	if strings.Contains(r.Header.Get("Content-Encoding"), "aws-chunked") {
		if call.xmlBody, err = unchunk(b); err != nil {
			return refuse(http.StatusBadRequest, "IncompleteBody", "the aws-chunked body could not be read", err)
		}
	}
	return nil
}

// unchunk returns the payload of an aws-chunked body: each chunk is
// "hex-size[;extensions]\r\n" data "\r\n", up to a zero-size chunk and
// its trailers, which are dropped.
func unchunk(b []byte) ([]byte, error) {
	var out []byte
	for {
		line, rest, ok := bytes.Cut(b, []byte("\r\n"))
		if !ok {
			return nil, errors.New("aws-chunked: no chunk header")
		}
		sizeHex, _, _ := bytes.Cut(line, []byte(";"))
		size, err := strconv.ParseUint(string(bytes.TrimSpace(sizeHex)), 16, 31)
		if err != nil {
			return nil, fmt.Errorf("aws-chunked: chunk size %q: %w", sizeHex, err)
		}
		if size == 0 {
			return out, nil
		}
		if uint64(len(rest)) < size+2 || string(rest[size:size+2]) != "\r\n" {
			return nil, errors.New("aws-chunked: chunk shorter than its size")
		}
		out = append(out, rest[:size]...)
		b = rest[size+2:]
	}
}

// describe names the call for policy: operation, IAM action, resources and
// parameters, from the request as the agent sent it.
func (c *Chain) describe(r *http.Request, call *Call) {
	region := call.Region
	if call.auth != nil && call.auth.Scope.Region != "" {
		region = call.auth.Scope.Region
	}
	body := call.formBody
	if body == nil {
		body = call.jsonBody
	}
	if body == nil {
		body = call.xmlBody
	}
	account := ""
	if c.authn != nil {
		account = c.authn.Account
	}
	call.Described = awsapi.Describe(r, body, call.Service, region, awsapi.Options{Account: account})
	if call.Described.Operation != "" {
		call.Operation = call.Described.Operation
	}
}

// decide asks the policy about the call and about every further access it
// needs (a copy reads its source): the strongest effect of them all
// applies, as IAM requires each of them to be allowed.
func (c *Chain) decide(call *Call) policy.Decision {
	d := call.Described
	pc := &policy.Call{
		Service: d.Service, Region: d.Region, Operation: d.Operation,
		Action: d.Action, Resources: d.Resources, Params: celParams(d.Params),
		SourceIP: call.Conn.Client.Addr(), Time: call.Start,
	}
	if id := call.Identity; id != nil {
		pc.Identity = policy.Identity{Issuer: id.Issuer, Subject: id.Subject, Source: id.Source, Groups: id.Groups}
	}
	dec := c.policy.Decide(pc)
	for _, also := range d.AlsoActions {
		also := also
		more := *pc
		more.Action, more.Resources = also.Action, also.Resources
		if md := c.policy.Decide(&more); rank(md.Effect) > rank(dec.Effect) {
			dec = md
		}
	}
	return dec
}

func rank(e policy.Effect) int {
	switch e {
	case policy.Deny:
		return 3
	case policy.Approve:
		return 2
	case policy.Allow:
		return 1
	}
	return 0
}

// denied is the agent's error for a denied call: AccessDenied in the
// protocol's shape, naming the rule and the request id (writeError adds it).
func denied(call *Call, d policy.Decision) *Error {
	msg := d.Reason
	if msg == "" {
		msg = "denied by rule " + d.Rule
	}
	return refuse(http.StatusForbidden, code(call, "AccessDenied"), msg+" ("+call.Described.Action+")", nil)
}

func resourcesForLog(rs []string) string {
	const max = 5
	if len(rs) > max {
		return strings.Join(rs[:max], ",") + ",..."
	}
	return strings.Join(rs, ",")
}

// celParams gives policy conditions numbers as numbers: awsapi keeps JSON
// numbers as json.Number (exact), which CEL would see as strings, so a
// condition like `call.params.Limit > 100` could never hold.
func celParams(params map[string]any) map[string]any {
	if !hasNumber(params) {
		return params
	}
	out := make(map[string]any, len(params))
	for k, v := range params {
		out[k] = celValue(v)
	}
	return out
}

func celValue(v any) any {
	switch v := v.(type) {
	case json.Number:
		if f, err := v.Float64(); err == nil {
			return f
		}
		return v.String()
	case map[string]any:
		return celParams(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = celValue(e)
		}
		return out
	}
	return v
}

func hasNumber(v any) bool {
	switch v := v.(type) {
	case json.Number:
		return true
	case map[string]any:
		for _, e := range v {
			if hasNumber(e) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if hasNumber(e) {
				return true
			}
		}
	}
	return false
}

// namesObjects reports whether a described S3 call names at least one
// object (an ARN with a key), not just its bucket.
func namesObjects(d awsapi.Call) bool {
	for _, r := range d.Resources {
		if strings.HasPrefix(r, "arn:") && strings.Contains(r[strings.LastIndex(r, ":")+1:], "/") {
			return true
		}
	}
	return false
}
