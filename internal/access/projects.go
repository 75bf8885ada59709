package access

import (
	"sync"
	"time"
)

// projectCache remembers projects by name for the Checker, so that a pull
// does not query the project (its id and visibility) on every request.
// An entry is used while it is younger than the TTL and the generation
// (the caller's change counter) has not moved since it was read: a change
// made through this replica's API takes effect at once, one made on
// another replica within the TTL. Missing projects are not cached (a
// project created meanwhile is found at once).
type projectCache struct {
	ttl   time.Duration
	gen   func() uint64
	now   func() time.Time
	limit int

	mu sync.Mutex
	m  map[string]projectEntry
}

type projectEntry struct {
	p     Project
	until time.Time
	gen   uint64
}

const projectCacheSize = 10000

func (c *projectCache) generation() uint64 {
	if c.gen == nil {
		return 0
	}
	return c.gen()
}

func (c *projectCache) get(name string) (Project, bool) {
	if c == nil {
		return Project{}, false
	}
	c.mu.Lock()
	e, ok := c.m[name]
	c.mu.Unlock()
	if !ok || e.gen != c.generation() || !c.now().Before(e.until) {
		return Project{}, false
	}
	return e.p, true
}

// stale returns the entry under name however old: only for when the
// database cannot answer (pulls keep working through an outage).
func (c *projectCache) stale(name string) (Project, bool) {
	if c == nil {
		return Project{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[name]
	return e.p, ok
}

func (c *projectCache) put(name string, p Project, gen uint64) {
	if c == nil {
		return
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.limit {
		clear(c.m)
	}
	c.m[name] = projectEntry{p: p, until: now.Add(c.ttl), gen: gen}
}

// WithCache makes c remember projects for ttl, or until gen (a counter the
// caller moves on every change to projects, members or accounts; nil:
// none) moves, whichever comes first. It returns c.
func (c *Checker) WithCache(ttl time.Duration, gen func() uint64) *Checker {
	if ttl > 0 {
		c.cache = &projectCache{ttl: ttl, gen: gen, now: time.Now, limit: projectCacheSize, m: map[string]projectEntry{}}
	}
	return c
}
