package intercept

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// The bodies the chain reads whole, capped, before it decides: those that
// name the operation or its resources. Everything else streams.

// maxFormBody caps query-protocol bodies, which are read whole to learn
// the operation (SQS and SNS messages, the largest, are 256 KiB).
const maxFormBody = 1 << 20

// readForm reads a query-protocol body (a form POST) so that the operation
// is known before anything else runs; the body is replayed from memory.
func readForm(r *http.Request, call *Call) *Error {
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return nil
	}
	b, e := readWhole(r, call, maxFormBody, refuse(http.StatusRequestEntityTooLarge, "EntityTooLarge", "a form body over 1 MiB is not accepted", nil))
	if e != nil {
		return e
	}
	form, err := url.ParseQuery(string(b))
	if err != nil {
		return refuse(http.StatusBadRequest, "MalformedQueryString", "the form body is not valid", err)
	}
	call.form, call.formBody = form, b
	return nil
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
	b, e := readWhole(r, call, maxJSONBody, refuse(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "a JSON request body over 16 MiB is not accepted", nil))
	call.jsonBody = b
	return e
}

// readWhole reads a body the chain must see before deciding, up to max
// bytes (more: tooLarge), and sets it up to be forwarded as read, with its
// SHA-256 for the signature check.
func readWhole(r *http.Request, call *Call, max int64, tooLarge *Error) ([]byte, *Error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		return nil, refuse(http.StatusBadRequest, "IncompleteBody", "the request body could not be read", err)
	}
	if int64(len(b)) > max {
		return nil, tooLarge
	}
	sum := sha256.Sum256(b)
	call.bodyHash, call.body = hex.EncodeToString(sum[:]), io.NopCloser(bytes.NewReader(b))
	return b, nil
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
	b, e := readWhole(r, call, maxDeleteBody, refuse(http.StatusBadRequest, "MalformedXML", "a multi-object delete body over 4 MiB is not accepted", nil))
	if e != nil {
		return e
	}
	call.xmlBody = b
	if strings.Contains(r.Header.Get("Content-Encoding"), "aws-chunked") {
		var err error
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
