package registry

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

// countingManifests counts the tag and manifest reads that reach the store.
type countingManifests struct {
	*meta.Manifests
	reads atomic.Int64
}

func (c *countingManifests) GetTag(ctx context.Context, repo, tag string) (digest.Digest, error) {
	c.reads.Add(1)
	return c.Manifests.GetTag(ctx, repo, tag)
}

func (c *countingManifests) GetManifest(ctx context.Context, repo string, d digest.Digest) (meta.Manifest, error) {
	c.reads.Add(1)
	return c.Manifests.GetManifest(ctx, repo, d)
}

const indexType = "application/vnd.oci.image.index.v1+json"

// index returns an empty image index (no references to check) made
// distinct by an annotation.
func index(n string) []byte {
	return []byte(`{"schemaVersion":2,"mediaType":"` + indexType + `","manifests":[],"annotations":{"n":"` + n + `"}}`)
}

// With the local cache, a pull by tag costs no query once warm, and every
// write of this process (tag moved, tag deleted, manifest deleted) is seen
// at once.
func TestLocalCache(t *testing.T) {
	ctx := t.Context()
	st := metatest.OpenSQLite(t)
	mf := &countingManifests{Manifests: st.Manifests}
	s := New(Stores{Repos: st.Repos, Manifests: mf, Tx: st}, nil, slog.New(slog.DiscardHandler)).WithLocalCache(1<<20, time.Minute)
	const repo = "library/app"

	resolve := func(what string, want digest.Digest, wantReads int64) {
		t.Helper()
		before := mf.reads.Load()
		m, err := s.Resolve(ctx, repo, "v1")
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if m.Digest != want {
			t.Errorf("%s: digest %s, want %s", what, m.Digest, want)
		}
		if n := mf.reads.Load() - before; n != wantReads {
			t.Errorf("%s: %d queries, want %d", what, n, wantReads)
		}
	}
	r1, err := s.PutManifest(ctx, repo, "v1", indexType, index("1"))
	if err != nil {
		t.Fatal(err)
	}
	resolve("first pull", r1.Digest, 2)
	resolve("warm pull", r1.Digest, 0)

	r2, err := s.PutManifest(ctx, repo, "v1", indexType, index("2"))
	if err != nil {
		t.Fatal(err)
	}
	resolve("after the tag moved", r2.Digest, 2)

	if err := s.DeleteManifest(ctx, repo, "v1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve(ctx, repo, "v1"); !errors.Is(err, meta.ErrTagNotFound) {
		t.Errorf("deleted tag: err = %v, want ErrTagNotFound", err)
	}
	if err := s.DeleteManifest(ctx, repo, r1.Digest.String()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve(ctx, repo, r1.Digest.String()); !errors.Is(err, meta.ErrManifestNotFound) {
		t.Errorf("deleted manifest: err = %v, want ErrManifestNotFound", err)
	}
}

func TestLocalCacheBounded(t *testing.T) {
	c := newLocalCache(4096, time.Minute)
	for i := range 100 {
		c.put(string(rune('a'+i%26))+string(rune('a'+i/26)), i, 100, c.version())
	}
	if c.bytes > 4096 {
		t.Errorf("cache holds %d bytes, bound 4096", c.bytes)
	}
	if _, _, ok := c.get("aa"); ok {
		t.Error("the oldest entry was not evicted")
	}
	// A value read before a write is not stored after it.
	ver := c.version()
	c.delete("zz")
	c.put("k", 1, 10, ver)
	if _, _, ok := c.get("k"); ok {
		t.Error("a value read before a write was cached")
	}
}

// With ttl 0 the cache never answers while the database does.
func TestLocalCacheFallbackOnly(t *testing.T) {
	ctx := t.Context()
	st := metatest.OpenSQLite(t)
	mf := &countingManifests{Manifests: st.Manifests}
	s := New(Stores{Repos: st.Repos, Manifests: mf, Tx: st}, nil, slog.New(slog.DiscardHandler)).WithLocalCache(1<<20, 0)
	if _, err := s.PutManifest(ctx, "library/app", "v1", indexType, index("1")); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		before := mf.reads.Load()
		if _, err := s.Resolve(ctx, "library/app", "v1"); err != nil {
			t.Fatal(err)
		}
		if n := mf.reads.Load() - before; n != 2 {
			t.Errorf("%d queries, want 2 (fallback-only cache)", n)
		}
	}
}

// Putting a manifest the repository holds again under another tag only
// writes the tag.
func TestRetag(t *testing.T) {
	ctx := t.Context()
	st := metatest.OpenSQLite(t)
	s := New(Stores{Repos: st.Repos, Manifests: st.Manifests, Tx: st}, nil, slog.New(slog.DiscardHandler)).WithLocalCache(1<<20, time.Minute)
	r1, err := s.PutManifest(ctx, "library/app", "v1", indexType, index("1"))
	if err != nil {
		t.Fatal(err)
	}
	r2, err := s.PutManifest(ctx, "library/app", "v2", indexType, index("1"), "v3")
	if err != nil {
		t.Fatal(err)
	}
	if r2.Digest != r1.Digest || len(r2.Tags) != 2 {
		t.Errorf("retag result = %+v", r2)
	}
	for _, tag := range []string{"v1", "v2", "v3"} {
		m, err := s.Resolve(ctx, "library/app", tag)
		if err != nil || m.Digest != r1.Digest {
			t.Errorf("%s: %v %v", tag, m.Digest, err)
		}
	}
}
