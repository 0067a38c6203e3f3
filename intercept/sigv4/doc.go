// Package sigv4 parses, verifies and re-signs AWS Signature Version 4: the
// agent's signature is checked with the agent's secret, the agent's auth is
// stripped, and the call is signed again with credentials the agent never
// sees.
//
//	a, err := sigv4.Parse(r) // sigv4.ErrUnsigned: anonymous
//	if err != nil {
//		return err // *sigv4.Error: AWS code, status, safe message
//	}
//	secret := identities.SecretFor(a.AccessKeyID, a.SessionToken) // the caller's
//	hash, body := a.PayloadHash, io.Reader(r.Body)
//	switch {
//	case hash == "":
//		h, replay, err := sigv4.Spool(r.Body, maxBody, tmpDir)
//		if err != nil {
//			return err
//		}
//		defer replay.Close()
//		hash, body = h, replay
//	case len(hash) == 64:
//		body = sigv4.VerifyPayload(r.Body, hash)
//	}
//	if err := sigv4.Verify(r, a, secret, hash, time.Now()); err != nil {
//		return err
//	}
//	out := r.Clone(ctx) // the inbound request stays as it came
//	sigv4.Strip(out)
//	now := time.Now()
//	seed, err := sigv4.Sign(ctx, out, upstreamCreds, hash, region, service, now)
//	if hash == sigv4.StreamingSigned || hash == sigv4.StreamingSignedTrailer {
//		up := sigv4.Scope{Date: now.UTC().Format("20060102"), Region: region, Service: service}
//		body = sigv4.NewChunkResigner(body,
//			sigv4.ChunkKeys{Key: sigv4.SigningKey(secret, a.Scope), Scope: a.Scope, Date: a.Date, Seed: a.Signature},
//			sigv4.ChunkKeys{Key: sigv4.SigningKey(upstreamCreds.SecretAccessKey, up), Scope: up, Date: now, Seed: seed})
//	}
//	out.Body = io.NopCloser(body)
//
// # What it owns
//
// AWS's canonicalization, matched to what real clients sign: the path as
// sent for S3, encoded a second time for every other service; the query
// decoded, encoded again the RFC 3986 way and sorted after encoding; header
// values trimmed, inner runs of spaces collapsed, repeated headers joined
// by ","; host from r.Host. Where botocore and the JS SDK canonicalize
// differently from aws-sdk-go-v2 (non-S3 paths with dot or empty segments,
// header values with tabs), Verify accepts either form. The checks on a
// signature: scope date, host signed, clock skew or presign validity,
// constant-time comparison. The aws-chunked signature chain, re-signed
// chunk by chunk with bounded memory. Literal payload hashes checked while
// streaming, and spooling of bodies that declared none. Errors as the AWS
// codes the agent's SDK expects.
//
// # What it never does
//
// It never looks up credentials (the caller passes the agent's secret and
// Gatehouse's credentials), never dials, never logs, and never puts a
// secret, a signing key or the signature it expected into an error. It
// never emits a byte of a body chunk before that chunk's signature has
// been checked, nor the end of a body before all of it has. It never
// re-encodes what it forwards: Strip cuts the auth out of RawQuery and
// leaves the path's raw form alone.
//
// # Who imports it
//
// intercept's chain, in its authenticate and re-sign stages. It imports no
// other Gatehouse package; aws-sdk-go-v2's signer does the re-signing.
package sigv4
