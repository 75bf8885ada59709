package registry

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

// listCounting counts the tag list queries that reach the store.
type listCounting struct {
	*meta.Manifests
	lists atomic.Int64
}

func (c *listCounting) ListTags(ctx context.Context, repo, after string, limit int) ([]string, error) {
	c.lists.Add(1)
	return c.Manifests.ListTags(ctx, repo, after, limit)
}

// walk lists every tag of repo n at a time, following the pages as a
// client follows Link (a page with more after it names its last tag as the
// next cursor), and returns the tags and the pages' sizes.
func walk(t *testing.T, s *Service, repo string, n int) ([]string, []int) {
	t.Helper()
	var all []string
	var sizes []int
	last := ""
	for range 1000 {
		page, more, err := s.Tags(t.Context(), repo, last, n)
		if err != nil {
			t.Fatalf("Tags(%q, %d): %v", last, n, err)
		}
		all, sizes = append(all, page...), append(sizes, len(page))
		if !more || len(page) == 0 {
			return all, sizes
		}
		last = page[len(page)-1]
	}
	t.Fatal("the walk does not end")
	return nil, nil
}

// TestTagListCache: once a listing has walked every page of a repository,
// later listings (any page size, any cursor) come from memory with the
// same pages; every tag write of this process to the repository (a new
// tag, a moved tag, a deleted tag, a deleted manifest) is seen by the next
// listing; a write in the middle of a walk keeps it from being kept; a
// list past its TTL, or too large, is not served.
func TestTagListCache(t *testing.T) {
	const repo = "library/app"
	type step struct {
		do        string // put TAG | delete TAG | deletemanifest N | putother | expire | walk N | page LAST N
		want      []string
		wantMore  bool
		wantLists int64 // queries this step makes
	}
	tags := func(names ...string) []string { return names }
	t0 := tags("a", "b", "c", "d", "e", "f", "g")
	cases := []struct {
		name     string
		maxBytes int
		steps    []step
	}{
		{"cold, then warm", 1 << 20, []step{
			{do: "walk 3", want: t0, wantLists: 3},
			{do: "walk 3", want: t0, wantLists: 0},
			{do: "walk 1000", want: t0, wantLists: 0},
			{do: "walk 2", want: t0, wantLists: 0},
			{do: "page c 2", want: tags("d", "e"), wantMore: true},
			{do: "page cc 2", want: tags("d", "e"), wantMore: true},
			{do: "page e 2", want: tags("f", "g")},
			{do: "page g 2", want: tags()},
			{do: "page zzz 2", want: tags()},
			{do: "page c 0", want: tags(), wantMore: true},
		}},
		{"a new tag is listed at once", 1 << 20, []step{
			{do: "walk 1000", want: t0, wantLists: 1},
			{do: "put cc", wantLists: 0},
			{do: "walk 1000", want: tags("a", "b", "c", "cc", "d", "e", "f", "g"), wantLists: 1},
			{do: "walk 1000", want: tags("a", "b", "c", "cc", "d", "e", "f", "g"), wantLists: 0},
		}},
		{"a deleted tag and a deleted manifest go at once", 1 << 20, []step{
			{do: "walk 4", want: t0, wantLists: 2},
			{do: "delete b"},
			{do: "walk 4", want: tags("a", "c", "d", "e", "f", "g"), wantLists: 2},
			{do: "deletemanifest 1"}, // tag "g" points at manifest 1
			{do: "walk 4", want: tags("a", "c", "d", "e", "f"), wantLists: 2},
		}},
		{"a write in the middle of a walk", 1 << 20, []step{
			{do: "page  3", want: tags("a", "b", "c"), wantMore: true, wantLists: 1},
			{do: "put bb"},
			{do: "page c 3", want: tags("d", "e", "f"), wantMore: true, wantLists: 1},
			{do: "page f 3", want: tags("g"), wantLists: 1},
			{do: "walk 1000", want: tags("a", "b", "bb", "c", "d", "e", "f", "g"), wantLists: 1},
			{do: "walk 1000", want: tags("a", "b", "bb", "c", "d", "e", "f", "g"), wantLists: 0},
		}},
		{"a write to another repository keeps a walk from starting only", 1 << 20, []step{
			{do: "walk 3", want: t0, wantLists: 3},
			{do: "putother"},
			{do: "walk 3", want: t0, wantLists: 0},
		}},
		{"a walk that does not start at the first page", 1 << 20, []step{
			{do: "page c 1000", want: tags("d", "e", "f", "g"), wantLists: 1},
			{do: "page c 1000", want: tags("d", "e", "f", "g"), wantLists: 1},
		}},
		{"past the TTL", 1 << 20, []step{
			{do: "walk 1000", want: t0, wantLists: 1},
			{do: "expire"},
			{do: "walk 1000", want: t0, wantLists: 1},
			{do: "walk 1000", want: t0, wantLists: 0},
		}},
		{"too large to keep", 64 + 4*4 + 4, []step{
			{do: "walk 1000", want: t0, wantLists: 1},
			{do: "walk 1000", want: t0, wantLists: 1},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			metatest.ForEachEngine(t, func(t *testing.T, st *meta.Store) {
				ctx := t.Context()
				mf := &listCounting{Manifests: st.Manifests}
				s := New(Stores{Repos: st.Repos, Manifests: mf, Tx: st}, nil, slog.New(slog.DiscardHandler)).WithLocalCache(1<<20, time.Minute)
				now := time.Now()
				s.tagLists.maxBytes = tc.maxBytes
				s.tagLists.now = func() time.Time { return now }
				if _, err := s.PutManifest(ctx, repo, "a", indexType, index("0"), "b", "c", "d", "e", "f"); err != nil {
					t.Fatal(err)
				}
				r1, err := s.PutManifest(ctx, repo, "g", indexType, index("1"))
				if err != nil {
					t.Fatal(err)
				}
				for i, st := range tc.steps {
					before := mf.lists.Load()
					var what string
					var n int
					switch {
					case scan(st.do, "walk %d", &n):
						got, sizes := walk(t, s, repo, n)
						if diff := cmp.Diff(st.want, got); diff != "" {
							t.Errorf("step %d %s (-want +got):\n%s", i, st.do, diff)
						}
						for j, sz := range sizes[:len(sizes)-1] {
							if sz != min(n, MaxTagPage) {
								t.Errorf("step %d %s: page %d holds %d tags, want %d", i, st.do, j, sz, n)
							}
						}
					case scan(st.do, "page %s %d", &what, &n) || scan(st.do, "page  %d", &n):
						got, more, err := s.Tags(ctx, repo, what, n)
						if err != nil {
							t.Fatal(err)
						}
						if !slices.Equal(got, st.want) || more != st.wantMore {
							t.Errorf("step %d %s: %q more %v, want %q more %v", i, st.do, got, more, st.want, st.wantMore)
						}
					case scan(st.do, "put %s", &what):
						if _, err := s.PutManifest(ctx, repo, what, indexType, index("0")); err != nil {
							t.Fatal(err)
						}
					case scan(st.do, "delete %s", &what):
						if err := s.DeleteManifest(ctx, repo, what); err != nil {
							t.Fatal(err)
						}
					case st.do == "deletemanifest 1":
						if err := s.DeleteManifest(ctx, repo, r1.Digest.String()); err != nil {
							t.Fatal(err)
						}
					case st.do == "putother":
						if _, err := s.PutManifest(ctx, "library/other", "v1", indexType, index("0")); err != nil {
							t.Fatal(err)
						}
					case st.do == "expire":
						now = now.Add(2 * time.Minute)
					default:
						t.Fatalf("step %d: unknown %q", i, st.do)
					}
					if got := mf.lists.Load() - before; got != st.wantLists {
						t.Errorf("step %d %s: %d list queries, want %d", i, st.do, got, st.wantLists)
					}
				}
			})
		})
	}
}

func scan(s, format string, args ...any) bool {
	n, err := fmt.Sscanf(s, format, args...)
	return err == nil && n == len(args)
}

// TestTagListsBounded: lists beyond the repository bound or the byte
// bound push the least recently used out; a page read before a drop does
// not start a list after it.
func TestTagListsBounded(t *testing.T) {
	c := newTagLists(1<<20, 2, time.Minute)
	clock := time.Now()
	c.now = func() time.Time { clock = clock.Add(time.Millisecond); return clock }
	for _, r := range []string{"p/a", "p/b", "p/c"} {
		c.add(r, c.generation(), "", []string{"v1", "v2"}, false)
	}
	if _, _, ok := c.page("p/a", "", 10); ok {
		t.Error("the least recently used list was kept beyond 2 repositories")
	}
	for _, r := range []string{"p/b", "p/c"} {
		if got, _, ok := c.page(r, "", 10); !ok || !slices.Equal(got, []string{"v1", "v2"}) {
			t.Errorf("%s: %q, %v", r, got, ok)
		}
	}
	gen := c.generation()
	c.drop("p/x")
	c.add("p/d", gen, "", []string{"v1"}, false)
	if _, _, ok := c.page("p/d", "", 10); ok {
		t.Error("a page read before a drop started a list")
	}
	big := make([]string, 0, 1000)
	for i := range 1000 {
		big = append(big, fmt.Sprintf("tag-%06d", i))
	}
	c = newTagLists(8<<10, 16, time.Minute)
	c.add("p/big", c.generation(), "", big, false)
	if _, _, ok := c.page("p/big", "", 10); ok || c.bytes != 0 {
		t.Errorf("a list over the byte bound was kept (%d bytes held)", c.bytes)
	}
}
