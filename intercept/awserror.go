package intercept

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"
)

// Error is the one error type that crosses the chain. It becomes a response
// in exactly one place, writeError, in the shape the agent's SDK parses.
// Public is what the agent reads; Err is for the log only.
type Error struct {
	Status int    // HTTP status
	Code   string // AWS error code, e.g. AccessDenied
	Public string // message for the agent; never holds secrets
	Err    error  // internal cause, logged
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Public, e.Err)
	}
	return e.Code + ": " + e.Public
}

func (e *Error) Unwrap() error { return e.Err }

func refuse(status int, code, public string, err error) *Error {
	return &Error{Status: status, Code: code, Public: public, Err: err}
}

// writeError answers in the protocol the request used: JSON for the JSON
// protocols (X-Amz-Target), the query protocol's ErrorResponse for form
// posts, and S3's REST-XML <Error> otherwise.
func writeError(w http.ResponseWriter, r *http.Request, e *Error, requestID string) {
	msg := "Gatehouse: " + e.Public + " (request " + requestID + ")"
	h := w.Header()
	h.Set("X-Amz-Request-Id", requestID)
	h.Set("X-Amzn-Requestid", requestID)
	h.Set("Connection", "close")
	var body []byte
	switch {
	case r.Header.Get("X-Amz-Target") != "" || strings.Contains(r.Header.Get("Content-Type"), "json"):
		h.Set("Content-Type", "application/x-amz-json-1.0")
		h.Set("X-Amzn-Errortype", e.Code)
		body, _ = json.Marshal(struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}{e.Code, msg})
	case strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded"):
		h.Set("Content-Type", "text/xml")
		body = xmlBody(struct {
			XMLName xml.Name `xml:"ErrorResponse"`
			Error   struct {
				Type    string
				Code    string
				Message string
			}
			RequestID string `xml:"RequestId"`
		}{Error: struct{ Type, Code, Message string }{"Sender", e.Code, msg}, RequestID: requestID})
	default:
		h.Set("Content-Type", "application/xml")
		body = xmlBody(struct {
			XMLName   xml.Name `xml:"Error"`
			Code      string
			Message   string
			RequestID string `xml:"RequestId"`
		}{Code: e.Code, Message: msg, RequestID: requestID})
	}
	h.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(e.Status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

func xmlBody(v any) []byte {
	b, _ := xml.Marshal(v)
	return append([]byte(xml.Header), b...)
}
