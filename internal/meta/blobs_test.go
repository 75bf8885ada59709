package meta_test

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

func TestListBlobs(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		var want []digest.Digest
		for _, c := range []string{"a", "b", "c", "d", "e"} {
			d := digest.FromString(c)
			if _, _, err := s.Blobs.PutBlob(ctx, meta.Blob{Digest: d, Size: 1, StorageKey: "k/" + c}); err != nil {
				t.Fatal(err)
			}
			want = append(want, d)
		}
		// Digest order, paged by two.
		var got []digest.Digest
		var after digest.Digest
		for range 10 {
			page, err := s.Blobs.ListBlobs(ctx, after, 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for _, b := range page {
				got = append(got, b.Digest)
			}
			after = page[len(page)-1].Digest
		}
		slices.Sort(want)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("ListBlobs pages (-want +got):\n%s", diff)
		}
	})
}
