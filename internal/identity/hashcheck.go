package identity

import (
	"crypto/sha256"
	"sync"
	"time"
)

// passwordChecker verifies argon2id hashes with two bounds: at most
// maxConcurrentHashes run at once (each takes the hash's memory cost, 19 MiB
// by default, so a burst of Basic-auth requests cannot exhaust memory), and
// a credential that verified recently is accepted from a short-lived cache
// keyed by SHA-256(stored hash, password): clients that send Basic auth on
// every request (curl, scripts, chunked uploads) pay for argon2id once a
// minute, not per request. A password change makes a new hash, so old
// entries no longer match.
type passwordChecker struct {
	sem chan struct{}
	// compare is argon2id's verification (tests count its calls).
	compare func(password, hash string) (bool, error)

	mu sync.Mutex
	ok map[[sha256.Size]byte]time.Time // expiry
	// flight holds the checks under way: a burst of requests with the same
	// credentials (a client opening many connections at once) waits for
	// one check instead of each spending the hash's memory.
	flight map[[sha256.Size]byte]*flightCheck
	now    func() time.Time
	ttl    time.Duration
	limit  int
}

// maxConcurrentHashes bounds the memory of password checks: each costs
// the hash's memory (19 MiB by default) while it runs.
const maxConcurrentHashes = 2

type flightCheck struct {
	done chan struct{}
	ok   bool
}

func newPasswordChecker(now func() time.Time) *passwordChecker {
	return &passwordChecker{
		sem:     make(chan struct{}, maxConcurrentHashes),
		compare: compareHash,
		ok:      map[[sha256.Size]byte]time.Time{},
		flight:  map[[sha256.Size]byte]*flightCheck{},
		now:     now,
		ttl:     time.Minute,
		limit:   10000,
	}
}

func cacheKey(password, hash string) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(hash))
	h.Write([]byte{0})
	h.Write([]byte(password))
	var k [sha256.Size]byte
	copy(k[:], h.Sum(nil))
	return k
}

// check verifies password against hash (dummy when hash is empty or
// broken, so every failure costs the same as a real check).
func (c *passwordChecker) check(password, hash, dummy string) bool {
	if hash != "" {
		k := cacheKey(password, hash)
		c.mu.Lock()
		exp, hit := c.ok[k]
		if hit && c.now().Before(exp) {
			c.mu.Unlock()
			return true
		}
		if f, ok := c.flight[k]; ok { // the same check is under way
			c.mu.Unlock()
			<-f.done
			return f.ok
		}
		f := &flightCheck{done: make(chan struct{})}
		c.flight[k] = f
		c.mu.Unlock()
		defer func() {
			c.mu.Lock()
			delete(c.flight, k)
			c.mu.Unlock()
			close(f.done)
		}()
		f.ok = c.verify(password, hash, dummy)
		return f.ok
	}
	return c.verify(password, hash, dummy)
}

// verify runs the argon2id check, at most maxConcurrentHashes at once.
func (c *passwordChecker) verify(password, hash, dummy string) bool {
	c.sem <- struct{}{}
	defer func() { <-c.sem }()
	if hash == "" {
		_, _ = c.compare(password, dummy)
		return false
	}
	ok, err := c.compare(password, hash)
	if err != nil {
		_, _ = c.compare(password, dummy)
		return false
	}
	if ok {
		c.remember(cacheKey(password, hash))
	}
	return ok
}

// burn spends one dummy verification (unknown users cost as much as known ones).
func (c *passwordChecker) burn(password, dummy string) {
	c.sem <- struct{}{}
	defer func() { <-c.sem }()
	_, _ = c.compare(password, dummy)
}

func (c *passwordChecker) remember(k [sha256.Size]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if len(c.ok) >= c.limit {
		for key, exp := range c.ok {
			if !now.Before(exp) {
				delete(c.ok, key)
			}
		}
		if len(c.ok) >= c.limit {
			clear(c.ok) // still full: start over rather than grow
		}
	}
	c.ok[k] = now.Add(c.ttl)
}
