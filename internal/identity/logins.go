package identity

import (
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-registry/berth/internal/access"
)

// loginCache remembers the principal of a successful Basic login, keyed by
// SHA-256(username, password), so that clients sending Basic credentials
// with every request (docker behind some proxies, curl, CI scripts) cost
// no database query after the first. An entry is used only while all of
// these hold, which bounds how stale it can be:
//
//   - it is younger than the TTL (Options.LoginCacheTTL): a change made on
//     another replica (user disabled, password or roles changed) takes
//     effect within the TTL;
//   - no login has failed in this process since it was made (a failure may
//     start a throttle, which every login must then see);
//   - Options.Generation, when set, has not moved: the app moves it on
//     every change made through its API on this replica, so such changes
//     take effect at once.
type loginCache struct {
	ttl   time.Duration
	now   func() time.Time
	ext   func() uint64 // Options.Generation; nil: none
	gen   atomic.Uint64 // bumped by invalidate
	limit int

	mu sync.Mutex
	m  map[[sha256.Size]byte]loginEntry
}

type loginEntry struct {
	p        access.Principal
	until    time.Time
	gen, ext uint64
}

const loginCacheSize = 10000

func newLoginCache(ttl time.Duration, now func() time.Time, ext func() uint64) *loginCache {
	return &loginCache{ttl: ttl, now: now, ext: ext, limit: loginCacheSize, m: map[[sha256.Size]byte]loginEntry{}}
}

func loginKey(username, password string) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(username))
	h.Write([]byte{0})
	h.Write([]byte(password))
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

func (c *loginCache) external() uint64 {
	if c.ext == nil {
		return 0
	}
	return c.ext()
}

func (c *loginCache) get(username, password string) (access.Principal, bool) {
	if c == nil || c.ttl <= 0 {
		return access.Principal{}, false
	}
	k := loginKey(username, password)
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if !ok || e.gen != c.gen.Load() || e.ext != c.external() || !c.now().Before(e.until) {
		return access.Principal{}, false
	}
	return e.p, true
}

// put remembers p; gen and ext are the generations read before the login
// was checked, so that a change made meanwhile is not hidden.
func (c *loginCache) put(username, password string, p access.Principal, gen, ext uint64) {
	if c == nil || c.ttl <= 0 {
		return
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.limit {
		for k, e := range c.m {
			if !now.Before(e.until) || e.gen != c.gen.Load() {
				delete(c.m, k)
			}
		}
		if len(c.m) >= c.limit {
			clear(c.m)
		}
	}
	c.m[loginKey(username, password)] = loginEntry{p: p, until: now.Add(c.ttl), gen: gen, ext: ext}
}

// generations returns the current generations, to pass to put.
func (c *loginCache) generations() (uint64, uint64) {
	if c == nil {
		return 0, 0
	}
	return c.gen.Load(), c.external()
}

// invalidate makes every entry stale.
func (c *loginCache) invalidate() {
	if c != nil {
		c.gen.Add(1)
	}
}
