package registry

import (
	"sort"
	"strings"
	"sync"
	"time"
)

// tagLists caches, per repository, the complete sorted tag list, so that
// listing a repository of 100,000 tags (10 pages of MaxTagPage) costs
// no query per page once it has been listed. It is filled by the listing
// itself, a page at a time: a walk that starts at the first page and
// follows the pages in order, with no tag write of this process to the
// repository in between, leaves the whole list behind when it reaches the
// last page. Filling costs nothing beyond the pages the client asked for
// (a request never reads more of the database than its page).
//
// Staleness follows localCache: every tag write of this process drops the
// repository's list (Service.forget), writes made elsewhere are seen when
// the list's TTL ends, and Service.WithLocalCache turns it on only where
// no other replica writes (SQLite). Unlike localCache, nothing stale is
// ever served: a list past its TTL is dropped.
type tagLists struct {
	maxBytes int // in all lists together (each name costs its length + 4 bytes)
	maxRepos int
	ttl      time.Duration
	now      func() time.Time

	mu sync.Mutex
	// gen counts drops: a walk starts a list only if no drop happened
	// since before its first page was read (a write committed before that
	// read but dropped after it).
	gen   uint64
	bytes int
	lists map[string]*tagList
}

// tagList is one repository's sorted tags, as one string of names with
// their start offsets (no allocation per name, and none to cut a page).
type tagList struct {
	names    string
	off      []uint32 // off[i]: where name i starts in names; names end where the next starts
	complete bool
	until    time.Time // dropped after this (TTL)
	used     time.Time // least recently used goes first
}

func (l *tagList) len() int { return len(l.off) }

func (l *tagList) name(i int) string {
	end := len(l.names)
	if i+1 < len(l.off) {
		end = int(l.off[i+1])
	}
	return l.names[l.off[i]:end]
}

func (l *tagList) size() int { return len(l.names) + 4*len(l.off) + 64 }

func newTagLists(maxBytes, maxRepos int, ttl time.Duration) *tagLists {
	return &tagLists{maxBytes: maxBytes, maxRepos: maxRepos, ttl: ttl, now: time.Now, lists: map[string]*tagList{}}
}

// generation is the drop count to pass to add with a page read after it.
func (c *tagLists) generation() uint64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// page returns up to limit tags of repo after last from a complete list,
// whether more follow, and whether the list was there.
func (c *tagLists) page(repo, last string, limit int) (tags []string, more, ok bool) {
	if c == nil {
		return nil, false, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.lists[repo]
	if l == nil || !l.complete {
		return nil, false, false
	}
	now := c.now()
	if !now.Before(l.until) {
		c.removeLocked(repo)
		return nil, false, false
	}
	l.used = now
	i := sort.Search(l.len(), func(i int) bool { return l.name(i) > last })
	j := min(i+limit, l.len())
	tags = make([]string, 0, j-i)
	for k := i; k < j; k++ {
		tags = append(tags, l.name(k))
	}
	return tags, j < l.len(), true
}

// add records page, the tags of repo after last read from the database
// (more: others follow), if it continues a walk that started at the first
// page (with no drop since gen, from generation before that page's read)
// and has seen no drop of repo since.
func (c *tagLists) add(repo string, gen uint64, last string, page []string, more bool) {
	if c == nil || len(page) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	l := c.lists[repo]
	switch {
	case last == "":
		if gen != c.gen {
			return
		}
		c.removeLocked(repo)
		l = &tagList{until: now.Add(c.ttl)}
		c.lists[repo] = l
		c.bytes += l.size()
	case l == nil || l.complete || l.len() == 0 || l.name(l.len()-1) != last || !now.Before(l.until):
		return
	}
	grow := 0
	for _, t := range page {
		grow += len(t) + 4
	}
	if l.size()+grow > c.maxBytes || len(l.names)+grow > 1<<32-1 {
		c.removeLocked(repo) // too large to keep
		return
	}
	var b strings.Builder
	b.Grow(len(l.names) + grow)
	b.WriteString(l.names)
	for _, t := range page {
		l.off = append(l.off, uint32(b.Len()))
		b.WriteString(t)
	}
	c.bytes -= l.size()
	l.names = b.String()
	l.used = now
	c.bytes += l.size()
	if !more {
		l.complete = true
	}
	c.evictLocked(repo)
}

// evictLocked drops the least recently used lists other than keep while
// over a bound.
func (c *tagLists) evictLocked(keep string) {
	for c.bytes > c.maxBytes || len(c.lists) > c.maxRepos {
		victim := ""
		var oldest time.Time
		for r, l := range c.lists {
			if r != keep && (victim == "" || l.used.Before(oldest)) {
				victim, oldest = r, l.used
			}
		}
		if victim == "" {
			return
		}
		c.removeLocked(victim)
	}
}

// drop forgets repo's list (a tag of repo was written).
func (c *tagLists) drop(repo string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.removeLocked(repo)
}

func (c *tagLists) removeLocked(repo string) {
	if l, ok := c.lists[repo]; ok {
		c.bytes -= l.size()
		delete(c.lists, repo)
	}
}
