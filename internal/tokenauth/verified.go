package tokenauth

import (
	"crypto/sha256"
	"sync"
	"time"
)

// verifiedCache remembers tokens whose signature and claims verified, by
// the SHA-256 of the raw token, until they expire: a client sends the
// same token with every request of a pull, and checking an ECDSA or RSA
// signature each time costs more than serving the manifest. Tokens are
// immutable and carry their own expiry, so an entry can never be wrong
// while it is valid; it is bounded in size (cleared when full).
type verifiedCache struct {
	mu    sync.Mutex
	m     map[[sha256.Size]byte]verified
	limit int
}

type verified struct {
	claims Claims
	until  time.Time // expiry plus the verification leeway
}

const verifiedCacheSize = 10000

func (c *verifiedCache) get(raw string, now time.Time) (Claims, bool) {
	k := sha256.Sum256([]byte(raw))
	c.mu.Lock()
	v, ok := c.m[k]
	c.mu.Unlock()
	if !ok || !now.Before(v.until) {
		return Claims{}, false
	}
	return v.claims, true
}

func (c *verifiedCache) put(raw string, cl Claims, now time.Time) {
	if cl.ExpiresAt == nil {
		return
	}
	until := cl.ExpiresAt.Add(verifyLeeway)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[[sha256.Size]byte]verified{}
	}
	if len(c.m) >= c.limit {
		for k, v := range c.m {
			if !now.Before(v.until) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= c.limit {
			clear(c.m)
		}
	}
	c.m[sha256.Sum256([]byte(raw))] = verified{claims: cl, until: until}
}
