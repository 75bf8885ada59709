package meta_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

func TestACMECache(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		if _, err := s.ACME.Get(ctx, "registry.test"); !errors.Is(err, meta.ErrCacheMiss) {
			t.Fatalf("Get(missing) err = %v, want ErrCacheMiss", err)
		}
		for _, v := range [][]byte{[]byte("first\x00pem"), []byte("second")} {
			if err := s.ACME.Put(ctx, "registry.test", v); err != nil {
				t.Fatal(err)
			}
			got, err := s.ACME.Get(ctx, "registry.test")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(v, got); diff != "" {
				t.Errorf("Get after Put (-want +got):\n%s", diff)
			}
		}
		for range 2 { // deleting twice is fine
			if err := s.ACME.Delete(ctx, "registry.test"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.ACME.Get(ctx, "registry.test"); !errors.Is(err, meta.ErrCacheMiss) {
			t.Fatalf("Get after Delete err = %v, want ErrCacheMiss", err)
		}
	})
}
