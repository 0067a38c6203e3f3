package intercept

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/intercept/awscreds"
	"github.com/gatehouse/gatehouse/intercept/identity"
	"github.com/gatehouse/gatehouse/intercept/sigv4"
)

// Authn is how the chain knows agents and signs for them. A Server without
// one forwards agents' own signatures unverified (pass-through), which is
// only for measuring interception alone.
type Authn struct {
	STS       *identity.STS    // answers AssumeRoleWithWebIdentity and GetCallerIdentity
	Lookup    *identity.Lookup // secrets of Gatehouse-issued credentials
	Addresses []identity.AddressRule
	Upstream  *awscreds.Provider
	Account   string // shown in ARNs Gatehouse writes
	SpoolMax  int64  // bodies without a declared hash are hashed up to this size
	SpoolDir  string
	Now       func() time.Time
}

// identify reads who the caller says it is: the SigV4 header or presigned
// query, and the Gatehouse-issued credentials of its access key (or, where
// config allows, its source address). It reads no body, so a caller without
// Gatehouse credentials never makes Gatehouse buffer one; verify then
// checks the signature.
func (a *Authn) identify(r *http.Request, call *Call) *Error {
	auth, err := sigv4.Parse(r)
	if errors.Is(err, sigv4.ErrUnsigned) {
		if id, ok := identity.MatchAddress(a.Addresses, call.Conn.Client.Addr()); ok {
			call.Identity = id
			return nil
		}
		return refuse(http.StatusForbidden, code(call, "MissingAuthenticationToken"),
			"the request is not signed; agents sign with Gatehouse credentials (AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN, or a key from 'gatehouse keys create')", nil)
	}
	if err != nil {
		return sigv4Error(err)
	}
	id, secret, err := a.Lookup.Credentials(auth.AccessKeyID, auth.SessionToken, a.Now())
	if err != nil {
		switch {
		case errors.Is(err, identity.ErrExpiredToken):
			return refuse(http.StatusBadRequest, "ExpiredToken", "the security token included in the request is expired; the SDK refreshes it from AWS_WEB_IDENTITY_TOKEN_FILE", err)
		default:
			return refuse(http.StatusForbidden, code(call, "InvalidClientTokenId"),
				"the access key or security token is not one Gatehouse issued; use Gatehouse credentials, never real AWS keys", err)
		}
	}
	call.auth, call.claimed, call.secret = auth, id, secret
	return nil
}

// verify proves the caller identify named: its SigV4 signature over the
// request and the body's hash. It leaves the identity, the agent's signing
// key and the body to forward in call.
func (a *Authn) verify(r *http.Request, call *Call) *Error {
	if call.auth == nil { // identity by source address
		return a.hashUnsigned(r, call)
	}
	secret := call.secret
	call.secret = ""
	auth := call.auth
	payloadHash := auth.PayloadHash
	if call.body != nil && isHexSHA256(payloadHash) && payloadHash != call.bodyHash {
		// A body the chain read whole (form, JSON) that is not the one the
		// signature declares.
		return refuse(http.StatusBadRequest, "XAmzContentSHA256Mismatch", "the body does not match x-amz-content-sha256", nil)
	}
	if payloadHash == "" {
		// No declared hash: the signature covers the body's SHA-256.
		if call.body == nil {
			hash, replay, err := sigv4.Spool(r.Body, a.SpoolMax, a.SpoolDir)
			if err != nil {
				return sigv4Error(err)
			}
			call.body, call.bodyHash = replay, hash
		}
		payloadHash = call.bodyHash
	}
	if err := sigv4.Verify(r, auth, secret, payloadHash, a.Now()); err != nil {
		return sigv4Error(err)
	}
	call.Identity = call.claimed
	call.agentKey = sigv4.SigningKey(secret, auth.Scope)
	return nil
}

// hashUnsigned gives an unsigned request (source-address identity) the
// payload hash its upstream signature needs.
func (a *Authn) hashUnsigned(r *http.Request, call *Call) *Error {
	if call.body != nil {
		return nil
	}
	if call.Service == "s3" {
		call.bodyHash = sigv4.UnsignedPayload
		return nil
	}
	hash, replay, err := sigv4.Spool(r.Body, a.SpoolMax, a.SpoolDir)
	if err != nil {
		return sigv4Error(err)
	}
	call.body, call.bodyHash = replay, hash
	return nil
}

// sign strips the agent's auth from the outbound request and signs it with
// the upstream credentials for the agent, in the payload mode the agent
// used: literal hashes are verified as the body streams, aws-chunked
// signatures are verified and re-chained chunk by chunk, trailers pass
// intact.
func (a *Authn) sign(ctx context.Context, out *http.Request, call *Call) *Error {
	id := call.Identity
	creds, role, err := a.Upstream.For(ctx, awscreds.Agent{Issuer: id.Issuer, Subject: id.Subject, Groups: id.Groups})
	if err != nil {
		return refuse(http.StatusForbidden, code(call, "AccessDenied"), "Gatehouse could not obtain upstream credentials for this agent", err)
	}
	call.UpstreamRole = role
	sigv4.Strip(out)
	if call.body != nil {
		out.Body = call.body
	}
	region, service := call.Region, call.Service
	if region == "" {
		region = "us-east-1" // global endpoints (s3, sts, iam) sign for us-east-1
	}
	mode := call.bodyHash
	if call.auth != nil {
		region, service = call.auth.Scope.Region, call.auth.Scope.Service
		if call.auth.PayloadHash != "" {
			mode = call.auth.PayloadHash
		}
	}
	now := a.Now()
	switch mode {
	case sigv4.StreamingSigned, sigv4.StreamingSignedTrailer:
		seed, err := sigv4.Sign(ctx, out, creds, mode, region, service, now)
		if err != nil {
			return signError(err)
		}
		scope := sigv4.Scope{Date: now.UTC().Format("20060102"), Region: region, Service: service}
		out.Body = io.NopCloser(sigv4.NewChunkResignerTap(out.Body,
			sigv4.ChunkKeys{Key: call.agentKey, Scope: call.auth.Scope, Date: call.auth.Date, Seed: call.auth.Signature},
			sigv4.ChunkKeys{Key: sigv4.SigningKey(creds.SecretAccessKey, scope), Scope: scope, Date: now, Seed: seed},
			call.payloadTap()))
		return nil
	case sigv4.UnsignedPayload, sigv4.StreamingUnsignedTrailer:
	default:
		if call.body == nil && out.Body != nil && out.Body != http.NoBody {
			// A literal hash the agent declared: verified as it streams,
			// the last bytes held back until it matches.
			out.Body = io.NopCloser(sigv4.VerifyPayload(out.Body, mode))
		}
	}
	if _, err := sigv4.Sign(ctx, out, creds, mode, region, service, now); err != nil {
		return signError(err)
	}
	return nil
}

func signError(err error) *Error {
	return refuse(http.StatusInternalServerError, "InternalFailure", "Gatehouse could not sign the request upstream", err)
}

// sigv4Error turns sigv4's refusals into the chain's error.
func sigv4Error(err error) *Error {
	var se *sigv4.Error
	if errors.As(err, &se) {
		return refuse(se.Status, se.Code, se.Message, err)
	}
	return refuse(http.StatusBadRequest, "InvalidRequest", "the request could not be authenticated", err)
}

// code maps an error code to the one the service's SDK expects: S3 has
// its own names for some.
func code(call *Call, c string) string {
	if call.Service != "s3" {
		return c
	}
	switch c {
	case "InvalidClientTokenId":
		return "InvalidAccessKeyId"
	case "MissingAuthenticationToken":
		return "AccessDenied"
	}
	return c
}

// answerSTS answers the STS calls Gatehouse owns: the unsigned web-identity
// exchange (before authentication) and GetCallerIdentity (after). It
// reports whether it answered.
func (c *Chain) answerSTS(w *countingWriter, r *http.Request, call *Call, authenticated bool) bool {
	if call.Service != "sts" {
		return false
	}
	var status int
	var body []byte
	switch {
	case !authenticated && call.Operation == "AssumeRoleWithWebIdentity":
		form, err := identity.ParseForm(r, call.formBody)
		if err != nil {
			status, body = identity.ErrorResponse("InvalidParameterValue", err.Error(), call.ID, http.StatusBadRequest)
			break
		}
		status, body = c.authn.STS.AssumeRoleWithWebIdentity(r.Context(), form, call.ID, c.authn.Now())
	case authenticated && call.Operation == "GetCallerIdentity":
		status, body = c.authn.STS.GetCallerIdentity(call.Identity, c.authn.Account, call.ID)
	default:
		return false
	}
	if call.Operation == "AssumeRoleWithWebIdentity" && status < 400 && w.capture != nil {
		// The answer is the session credentials Gatehouse issues: the
		// record keeps its size only.
		w.capture.withhold("the response holds session credentials Gatehouse issued")
	}
	h := w.Header()
	h.Set("Content-Type", "text/xml")
	h.Set("X-Amzn-Requestid", call.ID)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
	call.Verdict = "answered"
	if status >= 400 {
		call.Verdict = "refused"
	}
	c.complete(w, r, call)
	return true
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
