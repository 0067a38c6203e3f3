package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"time"
)

// maxSkew is how far the signing time of a header-signed request may be
// from now, either way, as AWS allows.
const maxSkew = 15 * time.Minute

// Verify checks a.Signature over r's canonical request with the agent's
// secret at now. payloadHash is the last line of the canonical request:
// a.PayloadHash when the request declared one, else the hex SHA-256 of the
// body, which the caller computed (Spool).
//
// It refuses, in this order: a credential date other than X-Amz-Date's day
// and a signature that does not cover host (AuthorizationHeaderMalformed,
// or AuthorizationQueryParametersError when presigned); a header-signed
// request more than 15 minutes from now (RequestTimeTooSkewed); a presigned
// one used more than 15 minutes before X-Amz-Date or after X-Amz-Date +
// X-Amz-Expires (AccessDenied); a wrong signature (SignatureDoesNotMatch).
// The comparison is constant-time. Region and service are not checked
// against the endpoint here: the caller knows the endpoint.
func Verify(r *http.Request, a *Auth, secret, payloadHash string, now time.Time) error {
	if a == nil || r.URL == nil {
		return errors.New("sigv4: verify: nil Auth or URL")
	}
	if payloadHash == "" {
		return errors.New("sigv4: verify: empty payload hash")
	}
	bad := malformedHeader
	if a.Presigned {
		bad = malformedQuery
	}
	date := a.Date.UTC()
	if a.Scope.Date != date.Format(scopeDateForm) {
		return bad("Invalid credential date. Date is not the same as X-Amz-Date.")
	}
	if !slices.Contains(a.SignedHeaders, "host") {
		return bad("the host header must be signed.")
	}
	if a.Presigned {
		if now.Before(date.Add(-maxSkew)) {
			return accessDenied("Request is not valid yet")
		}
		if now.After(date.Add(a.Expires)) {
			return accessDenied("Request has expired")
		}
	} else if d := now.Sub(date); d > maxSkew || d < -maxSkew {
		return timeSkewed()
	}

	got, err := hex.DecodeString(a.Signature)
	if err != nil || len(got) != sha256.Size {
		return signatureMismatch()
	}
	key := SigningKey(secret, a.Scope)
	amzDate := date.Format(amzDateFormat)

	// Each SDK family canonicalizes a few corners differently (see
	// dialect); where a request has such a corner, any form a real client
	// produces is accepted. Each is a function of the request as received.
	for _, d := range dialects(r, a) {
		canonical, err := canonicalRequest(r, a, payloadHash, d)
		if err != nil {
			return invalidRequest("The query string is malformed.")
		}
		if hmac.Equal(got, hmacSHA256(key, stringToSign(amzDate, a.Scope, canonical))) {
			return nil
		}
	}
	return signatureMismatch()
}

// SigningKey derives the SigV4 signing key for a scope:
// HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request").
func SigningKey(secret string, s Scope) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), s.Date)
	k = hmacSHA256(k, s.Region)
	k = hmacSHA256(k, s.Service)
	return hmacSHA256(k, terminator)
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}
