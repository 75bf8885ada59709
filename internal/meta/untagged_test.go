package meta_test

import (
	"errors"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

func TestUntaggedManifests(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		c := withClock(s)
		p := must[meta.Project](t)(s.Projects.CreateProject(ctx, meta.Project{Name: "p"}))
		must[meta.Project](t)(s.Projects.CreateProject(ctx, meta.Project{Name: "q"}))
		untagged := putManifest(t, s, "p/app", "untagged")
		tagged := putManifest(t, s, "p/app", "tagged")
		check(t, s.Manifests.PutTag(ctx, "p/app", "v1", tagged))
		child := putManifest(t, s, "p/app", "child")
		index := dg("index")
		check(t, s.Manifests.PutManifest(ctx, "p/app", meta.Manifest{Digest: index, MediaType: "application/vnd.oci.image.index.v1+json",
			Payload: []byte(`{"i":1}`)}, meta.ManifestRefs{Manifests: []digest.Digest{child}}))
		check(t, s.Manifests.PutTag(ctx, "p/app", "multi", index))
		signed := putManifest(t, s, "p/app", "signed")
		check(t, s.Manifests.PutManifest(ctx, "p/app", meta.Manifest{Digest: dg("sig"), MediaType: "application/vnd.oci.image.manifest.v1+json",
			Subject: signed, Payload: []byte(`{"s":1}`)}, meta.ManifestRefs{}))
		putManifest(t, s, "q/app", "elsewhere")
		c.Advance(time.Hour)
		fresh := putManifest(t, s, "p/app", "fresh") // pushed an hour later

		list := func(cut time.Time) []digest.Digest {
			t.Helper()
			us := must[[]meta.UntaggedManifest](t)(s.Untagged.UntaggedManifests(ctx, cut, 10))
			out := []digest.Digest{}
			for _, u := range us {
				if u.Repository != "p/app" {
					t.Errorf("listed %s@%s", u.Repository, u.Digest)
				}
				out = append(out, u.Digest)
			}
			return out
		}
		if got := must[[]meta.UntaggedManifest](t)(s.Untagged.UntaggedManifests(ctx, t0.Add(2*time.Hour), 10)); len(got) != 0 {
			t.Errorf("without the project asking: %+v", got)
		}
		check(t, s.Untagged.SetCollectUntagged(ctx, p.ID, true))
		check(t, s.Untagged.SetCollectUntagged(ctx, p.ID, true)) // idempotent
		if on := must[bool](t)(s.Untagged.CollectsUntagged(ctx, p.ID)); !on {
			t.Error("CollectsUntagged = false after setting it")
		}
		// An untagged manifest's age counts from when it was first seen
		// untagged (now, t0+1h), not from its push (t0).
		diff(t, "first sight", []digest.Digest{}, list(t0.Add(30*time.Minute)))
		c.Advance(time.Hour)
		// Only the untagged manifests: not the tagged one, the index's
		// child, the signed one nor its signature.
		diff(t, "UntaggedManifests", []digest.Digest{untagged, fresh}, list(t0.Add(90*time.Minute)))
		// Tagged again, then untagged again: its age starts over.
		check(t, s.Manifests.PutTag(ctx, "p/app", "again", untagged))
		diff(t, "tagged again", []digest.Digest{fresh}, list(t0.Add(90*time.Minute)))
		check(t, s.Manifests.DeleteTag(ctx, "p/app", "again"))
		diff(t, "untagged again", []digest.Digest{fresh}, list(t0.Add(90*time.Minute)))
		c.Advance(time.Hour)
		diff(t, "an hour after", []digest.Digest{untagged, fresh}, list(t0.Add(150*time.Minute)))
		check(t, s.Untagged.SetCollectUntagged(ctx, p.ID, false))
		diff(t, "after switching off", []digest.Digest{}, list(t0.Add(150*time.Minute)))
		if err := s.Untagged.SetCollectUntagged(ctx, 9999, true); !errors.Is(err, meta.ErrProjectNotFound) {
			t.Errorf("missing project: %v", err)
		}
	})
}
