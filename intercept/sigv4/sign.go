package sigv4

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// authHeaders are the agent's auth in headers; authParams in the query.
var (
	authHeaders = []string{"Authorization", "X-Amz-Security-Token", "X-Amz-Date"}
	authParams  = []string{qAlgorithm, qCredential, qDate, qExpires, qSignedHeaders, qSignature, qSecurityToken}
)

// Strip removes every piece of the agent's auth from an outbound request:
// the Authorization, X-Amz-Security-Token and X-Amz-Date headers and the
// presign query parameters. Every other query parameter is left byte for
// byte as sent (Strip cuts RawQuery, it does not re-encode it), and so is
// the path (URL.RawPath is not touched).
func Strip(out *http.Request) {
	for k := range out.Header {
		for _, h := range authHeaders {
			if strings.EqualFold(k, h) {
				delete(out.Header, k)
			}
		}
	}
	if out.URL == nil || out.URL.RawQuery == "" {
		return
	}
	segs := strings.Split(out.URL.RawQuery, "&")
	kept := segs[:0]
	for _, seg := range segs {
		rawKey, _, _ := strings.Cut(seg, "=")
		key, err := url.QueryUnescape(rawKey)
		if err != nil {
			key = rawKey
		}
		if !isAuthParam(key) {
			kept = append(kept, seg)
		}
	}
	out.URL.RawQuery = strings.Join(kept, "&")
}

// isAuthParam matches decoded and case-insensitively: a parameter AWS
// would read as auth must not reach it, however the agent spelled it.
func isAuthParam(key string) bool {
	for _, p := range authParams {
		if strings.EqualFold(key, p) {
			return true
		}
	}
	return false
}

// Sign signs out, already stripped, with creds for region and service at
// now, using aws-sdk-go-v2's signer with header auth (also for requests the
// agent presigned). payloadHash goes into the canonical request, and into
// x-amz-content-sha256 for S3 or when the request already carries that
// header. S3 signs the path exactly as sent (DisableURIPathEscaping); other
// services get the SDK's second encoding. The query goes out as the agent
// sent it. Hop-by-hop headers and those proxies rewrite in transit (Via,
// Forwarded, X-Forwarded-*) are left out of the signature and put back
// afterwards; the SDK already leaves out User-Agent, Expect,
// Transfer-Encoding and X-Amzn-Trace-Id.
//
// It returns the seed: the hex signature in the new Authorization header,
// from which NewChunkResigner chains the upstream chunk signatures.
func Sign(ctx context.Context, out *http.Request, creds aws.Credentials, payloadHash, region, service string, now time.Time) (seed string, err error) {
	if payloadHash == "" || out.URL == nil {
		return "", errors.New("sigv4: sign: empty payload hash or URL")
	}
	// The SDK signs the query as url.Values, which silently drops a pair
	// with a bad escape or a ';' that would still be sent.
	if _, err := parseQuery(out.URL.RawQuery); err != nil {
		return "", fmt.Errorf("sigv4: sign: %w", err)
	}
	if isS3(service) || len(headerValues(out.Header, "x-amz-content-sha256")) > 0 {
		deleteHeader(out.Header, "X-Amz-Content-Sha256")
		out.Header.Set("X-Amz-Content-Sha256", payloadHash)
	}
	held := holdUnsignable(out.Header)
	rawQuery := out.URL.RawQuery
	err = v4.NewSigner().SignHTTP(ctx, creds, out, payloadHash, service, region, now.UTC(), func(o *v4.SignerOptions) {
		o.DisableURIPathEscaping = isS3(service)
	})
	out.URL.RawQuery = rawQuery
	for k, v := range held {
		if _, set := out.Header[k]; !set { // never over what the signer wrote
			out.Header[k] = v
		}
	}
	if err != nil {
		return "", fmt.Errorf("sigv4: sign: %w", err)
	}
	_, seed, ok := strings.Cut(out.Header.Get("Authorization"), "Signature=")
	if !ok || !isHexSignature(seed) {
		return "", errors.New("sigv4: sign: signer produced no signature")
	}
	return seed, nil
}

// unsignable headers change between Gatehouse and AWS, or are not meant to
// travel past the next hop at all (RFC 9110 section 7.6.1).
var unsignable = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
	"Via", "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto",
}

// holdUnsignable takes the unsignable headers, and those the Connection
// header names, out of h and returns them.
func holdUnsignable(h http.Header) http.Header {
	names := append([]string(nil), unsignable...)
	for _, v := range headerValues(h, "connection") {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				names = append(names, f)
			}
		}
	}
	held := http.Header{}
	for k, v := range h {
		for _, n := range names {
			if strings.EqualFold(k, n) {
				held[k] = v
				delete(h, k)
				break
			}
		}
	}
	return held
}

func deleteHeader(h http.Header, name string) {
	for k := range h {
		if strings.EqualFold(k, name) {
			delete(h, k)
		}
	}
}
