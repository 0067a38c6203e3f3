package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxBody caps a request body of the in-process services: AWS's own limits
// for these operations are far below it (64 KiB secrets, 8 KiB parameters).
const maxBody = 1 << 20

// apiError is an AWS JSON 1.1 error: the status and the body's __type.
// Message is left out of the body when empty, as SSM's ParameterNotFound
// is.
type apiError struct {
	Status  int    `json:"-"`
	Type    string `json:"__type"`
	Message string `json:"message,omitempty"`
}

func (e *apiError) Error() string { return e.Type + ": " + e.Message }

func clientError(typ, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: typ, Message: fmt.Sprintf(format, args...)}
}

// operation decodes its input from a request body and returns the output
// document or an *apiError.
type operation func(body []byte) (any, error)

// jsonService answers the AWS JSON 1.1 protocol: POST / with
// X-Amz-Target "<prefix>.<Operation>" and a JSON document each way.
type jsonService struct {
	prefix string // secretsmanager, AmazonSSM
	ops    map[string]operation
}

func (s *jsonService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), s.prefix+".")
	op := s.ops[name]
	if r.Method != http.MethodPost || !ok || op == nil {
		writeError(w, clientError("UnknownOperationException", "unknown operation %q", r.Header.Get("X-Amz-Target")))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, clientError("SerializationException", "reading the request body: %v", err))
		return
	}
	out, err := op(body)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// decode reads an operation's input. Unknown members are ignored, as AWS
// ignores them; a body that is not a JSON object is a SerializationException.
func decode(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return clientError("SerializationException", "%v", err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"__type":"InternalFailure"}`)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Header().Set("X-Amzn-Requestid", requestID())
	w.WriteHeader(status)
	w.Write(b)
}

func writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = &apiError{Status: http.StatusInternalServerError, Type: "InternalServiceError", Message: err.Error()}
	}
	writeJSON(w, ae.Status, ae)
}

// requestID is shaped like AWS's x-amzn-RequestId (a UUID).
func requestID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// epoch is a timestamp as AWS JSON protocols write it: seconds since the
// epoch, a number with a fraction.
type epoch time.Time

func (e epoch) MarshalJSON() ([]byte, error) {
	t := time.Time(e)
	return strconv.AppendFloat(nil, float64(t.UnixMilli())/1000, 'f', -1, 64), nil
}

// page cuts n items at the offset a NextToken names (empty: the start) and
// returns the next token, empty on the last page.
func page(n int, token string, max int, badToken string) (from, to int, next string, err error) {
	if token != "" {
		if from, err = strconv.Atoi(token); err != nil || from < 0 || from > n {
			return 0, 0, "", clientError(badToken, "The NextToken value is invalid.")
		}
	}
	to = min(n, from+max)
	if to < n {
		next = strconv.Itoa(to)
	}
	return from, to, next, nil
}
