package meta_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

func TestListManifestDependents(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		child, idx, ref := digest.FromString("child"), digest.FromString("index"), digest.FromString("referrer")
		put := func(repo string, m meta.Manifest, refs meta.ManifestRefs) {
			t.Helper()
			m.MediaType, m.Payload = "application/vnd.oci.image.manifest.v1+json", []byte(m.Digest)
			if _, err := s.Repos.EnsureRepository(ctx, repo); err != nil {
				t.Fatal(err)
			}
			if err := s.Manifests.PutManifest(ctx, repo, m, refs); err != nil {
				t.Fatal(err)
			}
		}
		put("a/b", meta.Manifest{Digest: child}, meta.ManifestRefs{})
		put("a/b", meta.Manifest{Digest: idx}, meta.ManifestRefs{Manifests: []digest.Digest{child}})
		put("a/b", meta.Manifest{Digest: ref, Subject: child}, meta.ManifestRefs{})
		put("other", meta.Manifest{Digest: idx}, meta.ManifestRefs{Manifests: []digest.Digest{child}})
		got, err := s.Manifests.ListManifestDependents(ctx, "a/b", child, 10)
		if err != nil {
			t.Fatal(err)
		}
		want := []meta.ManifestDependent{{Digest: idx, Kind: meta.DependentIndex}, {Digest: ref, Kind: meta.DependentReferrer}}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("dependents (-want +got):\n%s", d)
		}
		for _, d := range []digest.Digest{idx, ref} {
			got, err := s.Manifests.ListManifestDependents(ctx, "a/b", d, 10)
			if err != nil || len(got) != 0 {
				t.Errorf("dependents of %s = %v, %v; want none", d, got, err)
			}
		}
	})
}
