package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"
)

const (
	// minKeyRefresh spaces refetches of an issuer's JWKS triggered by
	// tokens that do not verify. AssumeRoleWithWebIdentity is unauthenticated
	// by design, and go-oidc's RemoteKeySet refetches on every such token,
	// so anyone could make Gatehouse fetch the IdP's keys once per forged
	// token. Key rotation still works: IdPs publish a new key before they
	// sign with it, and the first token under it after this interval
	// triggers the fetch.
	minKeyRefresh = 15 * time.Second
	// maxKeyAge refreshes keys held this long on the next token, so a key
	// the IdP withdrew (compromised) stops verifying within it.
	maxKeyAge = time.Hour
	// maxJWKSBytes bounds what an IdP's answer can make Gatehouse read.
	maxJWKSBytes = 1 << 20
)

// remoteKeys is an issuer's JWKS fetched over HTTPS, refreshed on a
// signature that does not verify with the keys held, at most once per
// minKeyRefresh.
type remoteKeys struct {
	uri    string
	client *http.Client
	now    func() time.Time

	set     atomic.Pointer[oidc.StaticKeySet]
	mu      sync.Mutex
	fetched time.Time // last fetch attempt
	fetch   singleflight.Group
	fetches atomic.Int64 // for tests
}

func (k *remoteKeys) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	set := k.set.Load()
	if set != nil && !k.stale() {
		if payload, err := set.VerifySignature(ctx, jwt); err == nil {
			return payload, nil
		}
	}
	if set != nil && !k.mayRefresh() {
		// The same text go-oidc uses: the token's signature is not valid
		// under any key the issuer published recently.
		return nil, errors.New("failed to verify id token signature")
	}
	set, err := k.refresh(ctx)
	if err != nil {
		return nil, fmt.Errorf("fetching keys %w", err)
	}
	return set.VerifySignature(ctx, jwt)
}

func (k *remoteKeys) stale() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.now().Sub(k.fetched) >= maxKeyAge
}

// mayRefresh reports whether a refetch is allowed now, and if so claims it.
func (k *remoteKeys) mayRefresh() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.now().Sub(k.fetched) < minKeyRefresh {
		return false
	}
	k.fetched = k.now()
	return true
}

// refresh fetches the JWKS; concurrent callers share one fetch, which runs
// on its own deadline so one agent giving up does not fail it for others.
func (k *remoteKeys) refresh(ctx context.Context) (*oidc.StaticKeySet, error) {
	ch := k.fetch.DoChan("", func() (any, error) {
		k.mu.Lock()
		k.fetched = k.now()
		k.mu.Unlock()
		k.fetches.Add(1)
		fctx, cancel := context.WithTimeout(context.Background(), discoveryTimeout)
		defer cancel()
		set, err := fetchJWKS(fctx, k.client, k.uri)
		if err != nil {
			return nil, err
		}
		k.set.Store(set)
		return set, nil
	})
	return await[*oidc.StaticKeySet](ctx, ch)
}

// await waits for a shared (singleflight) result, or for ctx: one caller
// giving up does not cancel the work the others wait on.
func await[T any](ctx context.Context, ch <-chan singleflight.Result) (T, error) {
	var zero T
	select {
	case <-ctx.Done():
		return zero, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return zero, r.Err
		}
		return r.Val.(T), nil
	}
}

func fetchJWKS(ctx context.Context, client *http.Client, uri string) (*oidc.StaticKeySet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", uri, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("%s: key set over %d bytes", uri, maxJWKSBytes)
	}
	var jwks jose.JSONWebKeySet
	if err := json.Unmarshal(body, &jwks); err != nil {
		return nil, fmt.Errorf("%s: %w", uri, err)
	}
	set := &oidc.StaticKeySet{}
	for _, key := range jwks.Keys {
		if key.Use != "" && key.Use != "sig" {
			continue
		}
		if !key.IsPublic() || !key.Valid() {
			continue // private or symmetric keys never verify tokens
		}
		set.PublicKeys = append(set.PublicKeys, key.Key)
	}
	if len(set.PublicKeys) == 0 {
		return nil, fmt.Errorf("%s: no public signing keys", uri)
	}
	return set, nil
}
