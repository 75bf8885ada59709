package registry

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// localCache is the in-process cache of tags (tag -> digest) and
// manifests (by digest), in front of the shared Cache and the database:
// a pull by tag then costs no query. It is bounded in bytes (least
// recently used entries go first) and each entry is fresh for a TTL.
//
// Staleness: every tag and manifest write of this process drops the
// entries it changes (forget), so a single replica is exact. Writes made
// elsewhere (another replica; a job deleting rows directly) are seen when
// the entry's TTL ends; internal/app turns this cache on only where no
// other replica can write (SQLite). An entry past its TTL is kept until
// evicted and served only when the database is unavailable, so pulls
// already seen keep working through a database outage.
type localCache struct {
	maxBytes int64
	ttl      time.Duration
	now      func() time.Time

	mu sync.Mutex
	// writes counts forgets: a value read from the database before a
	// write must not be put after it (put's ver).
	writes uint64
	bytes  int64
	ll     *list.List // front: most recently used
	items  map[string]*list.Element
}

type localEntry struct {
	key   string
	val   any
	size  int64
	until time.Time
}

func newLocalCache(maxBytes int64, ttl time.Duration) *localCache {
	return &localCache{maxBytes: maxBytes, ttl: ttl, now: time.Now, ll: list.New(), items: map[string]*list.Element{}}
}

// get returns the entry under key and whether it is still fresh.
func (c *localCache) get(key string) (val any, fresh, ok bool) {
	if c == nil {
		return nil, false, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil, false, false
	}
	c.ll.MoveToFront(el)
	e := el.Value.(*localEntry)
	return e.val, c.now().Before(e.until), true
}

// version is the write count to pass to put with a value read after it.
func (c *localCache) version() uint64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes
}

// put stores val unless a write happened since ver (from version, taken
// before val was read).
func (c *localCache) put(key string, val any, size int64, ver uint64) {
	if c == nil || size > c.maxBytes/8 {
		return
	}
	size += int64(len(key)) + 64 // the entry's own overhead, roughly
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.writes != ver {
		return
	}
	if el, ok := c.items[key]; ok {
		c.removeLocked(el)
	}
	e := &localEntry{key: key, val: val, size: size, until: c.now().Add(c.ttl)}
	c.items[key] = c.ll.PushFront(e)
	c.bytes += size
	for c.bytes > c.maxBytes {
		c.removeLocked(c.ll.Back())
	}
}

func (c *localCache) delete(keys ...string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	for _, k := range keys {
		if el, ok := c.items[k]; ok {
			c.removeLocked(el)
		}
	}
}

func (c *localCache) removeLocked(el *list.Element) {
	e := el.Value.(*localEntry)
	c.ll.Remove(el)
	delete(c.items, e.key)
	c.bytes -= e.size
}

// Bounds of the tag lists (tagLists): 100,000 tags of 8 characters take
// 1.2 MiB.
const (
	tagListBytes = 8 << 20
	tagListRepos = 16
)

// WithLocalCache turns on the in-process cache of tags and manifests
// (maxBytes in all, entries fresh for ttl; see localCache for the
// staleness this allows) and, with a TTL, that of whole tag lists
// (tagLists, tagListBytes in all) and returns s. With ttl 0 nothing is ever served
// fresh from it: it only keeps pulls already seen working while the
// database is unavailable (for deployments where other replicas write).
func (s *Service) WithLocalCache(maxBytes int64, ttl time.Duration) *Service {
	if maxBytes > 0 && ttl >= 0 {
		s.local = newLocalCache(maxBytes, ttl)
	}
	if maxBytes > 0 && ttl > 0 {
		s.tagLists = newTagLists(tagListBytes, tagListRepos, ttl)
	}
	return s
}

// forget drops keys from both caches and repo's tag list (after a write
// to repo).
func (s *Service) forget(ctx context.Context, repo string, keys ...string) {
	s.local.delete(keys...)
	s.tagLists.drop(repo)
	s.cache.Delete(ctx, keys...)
}
