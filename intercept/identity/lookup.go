package identity

import (
	"fmt"
	"strings"
	"time"
)

// Lookup finds the identity and secret behind the access key id of a
// SigV4-signed request, for the signature check. Which store answers is
// decided by the id's prefix alone.
type Lookup struct {
	Sessions *Sessions
	Keys     *KeyStore
}

// Credentials dispatches on the access key id: GHS ids are sessions and
// need their session token; GHK ids are static keys and must come without
// one. Anything else, a real AWS key an agent somehow holds included, is
// ErrInvalidClientTokenID: Gatehouse never passes agents' own credentials
// on.
func (l *Lookup) Credentials(accessKeyID, sessionToken string, now time.Time) (*Identity, string, error) {
	switch {
	case strings.HasPrefix(accessKeyID, SessionKeyPrefix) && l.Sessions != nil:
		return l.Sessions.Open(accessKeyID, sessionToken, now)
	case strings.HasPrefix(accessKeyID, StaticKeyPrefix) && l.Keys != nil:
		if sessionToken != "" {
			return nil, "", fmt.Errorf("look up key: a static key signed with a session token: %w", ErrInvalidClientTokenID)
		}
		return l.Keys.Lookup(accessKeyID)
	}
	return nil, "", fmt.Errorf("look up credentials: not a Gatehouse access key id: %w", ErrInvalidClientTokenID)
}
