package meta_test

import (
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
)

// t0 has sub-microsecond digits to check that stored times are truncated
// to what both engines keep.
var t0 = time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.FixedZone("X", 3600))

// t0us is t0 as the store records it.
var t0us = t0.UTC().Truncate(time.Microsecond)

// clock is a settable time source for Store.now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// withClock gives s a clock starting at t0.
func withClock(s *meta.Store) *clock {
	c := &clock{t: t0}
	meta.SetNow(s, c.Now)
	return c
}

// dg returns a distinct valid digest for name.
func dg(name string) digest.Digest { return digest.FromString(name) }

var equateEmpty = cmpopts.EquateEmpty()

func must[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func diff(t *testing.T, what string, want, got any, opts ...cmp.Option) {
	t.Helper()
	if d := cmp.Diff(want, got, opts...); d != "" {
		t.Errorf("%s (-want +got):\n%s", what, d)
	}
}

// putManifest stores a manifest with the given digest name in repo.
func putManifest(t *testing.T, s *meta.Store, repo, name string) digest.Digest {
	t.Helper()
	d := dg(name)
	m := meta.Manifest{
		Digest:    d,
		MediaType: "application/vnd.oci.image.manifest.v1+json",
		Payload:   []byte(`{"name":"` + name + `"}`),
	}
	check(t, s.Manifests.PutManifest(t.Context(), repo, m, meta.ManifestRefs{}))
	return d
}

func ptr[T any](v T) *T { return &v }
