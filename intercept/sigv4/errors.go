package sigv4

import (
	"errors"
	"net/http"
)

// ErrUnsigned means the request carries neither an Authorization header nor
// presign query parameters: an anonymous call, which the chain decides on.
var ErrUnsigned = errors.New("sigv4: request is not signed")

// Error is what a refusal carries: the AWS error code the agent's SDK
// expects, the HTTP status, and a message safe to show the agent. Message
// never holds a secret, a signing key or the signature Gatehouse expected.
type Error struct {
	Code    string // AWS error code, e.g. SignatureDoesNotMatch
	Status  int    // HTTP status
	Message string // for the agent
}

func (e *Error) Error() string { return "sigv4: " + e.Code + ": " + e.Message }

func malformedHeader(msg string) *Error {
	return &Error{Code: "AuthorizationHeaderMalformed", Status: http.StatusBadRequest,
		Message: "The authorization header is malformed; " + msg}
}

func incompleteSignature(msg string) *Error {
	return &Error{Code: "IncompleteSignature", Status: http.StatusBadRequest, Message: msg}
}

func malformedQuery(msg string) *Error {
	return &Error{Code: "AuthorizationQueryParametersError", Status: http.StatusBadRequest, Message: msg}
}

func invalidRequest(msg string) *Error {
	return &Error{Code: "InvalidRequest", Status: http.StatusBadRequest, Message: msg}
}

func accessDenied(msg string) *Error {
	return &Error{Code: "AccessDenied", Status: http.StatusForbidden, Message: msg}
}

// Fresh values each time: an *Error is handed to callers, who may annotate it.

func signatureMismatch() *Error {
	return &Error{Code: "SignatureDoesNotMatch", Status: http.StatusForbidden,
		Message: "The request signature we calculated does not match the signature you provided. Check your key and signing method."}
}

func timeSkewed() *Error {
	return &Error{Code: "RequestTimeTooSkewed", Status: http.StatusForbidden,
		Message: "The difference between the request time and the current time is too large."}
}

func chunkSignatureMismatch() *Error {
	return &Error{Code: "SignatureDoesNotMatch", Status: http.StatusForbidden,
		Message: "The chunk signature we calculated does not match the signature you provided."}
}

func payloadMismatch() *Error {
	return &Error{Code: "XAmzContentSHA256Mismatch", Status: http.StatusBadRequest,
		Message: "The provided 'x-amz-content-sha256' header does not match what was computed."}
}

func incompleteBody(msg string) *Error {
	return &Error{Code: "IncompleteBody", Status: http.StatusBadRequest, Message: msg}
}

func entityTooLarge(msg string) *Error {
	return &Error{Code: "EntityTooLarge", Status: http.StatusBadRequest, Message: msg}
}
