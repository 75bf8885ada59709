package meta_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

// seedImage stores blobs and an image manifest referencing them in repo.
func seedImage(t *testing.T, s *meta.Store, repo, name string, sizes ...int64) digest.Digest {
	t.Helper()
	ctx := t.Context()
	var refs meta.ManifestRefs
	for i, n := range sizes {
		d := dg(name + "-blob-" + string(rune('a'+i)))
		if _, _, err := s.Blobs.PutBlob(ctx, meta.Blob{Digest: d, Size: n, StorageKey: "k/" + d.Encoded()}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Repos.EnsureRepository(ctx, repo); err != nil {
			t.Fatal(err)
		}
		check(t, s.Blobs.LinkBlob(ctx, repo, d))
		refs.Blobs = append(refs.Blobs, d)
	}
	d := dg(name)
	check(t, s.Manifests.PutManifest(ctx, repo, meta.Manifest{Digest: d, MediaType: "application/vnd.oci.image.manifest.v1+json",
		Payload: []byte("0123456789")}, refs))
	return d
}

func TestRepositoriesAndArtifacts(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		c := withClock(s)
		must[meta.Project](t)(s.Projects.CreateProject(ctx, meta.Project{Name: "p"}))
		img1 := seedImage(t, s, "p/app", "img1", 100, 20)
		c.Advance(time.Minute)
		img2 := seedImage(t, s, "p/app", "img2", 100, 7)
		c.Advance(time.Minute)
		// An index over img1 and img2: its children stop being top-level
		// unless tagged.
		idx := dg("idx")
		check(t, s.Manifests.PutManifest(ctx, "p/app", meta.Manifest{Digest: idx, MediaType: "application/vnd.oci.image.index.v1+json",
			Payload: []byte("01234")}, meta.ManifestRefs{Manifests: []digest.Digest{img1, img2}}))
		check(t, s.Manifests.PutTag(ctx, "p/app", "multi", idx))
		check(t, s.Manifests.PutTag(ctx, "p/app", "one", img1))
		c.Advance(time.Minute)
		// A referrer of img1 is not top-level either.
		sig := dg("sig")
		check(t, s.Manifests.PutManifest(ctx, "p/app", meta.Manifest{Digest: sig, MediaType: "application/vnd.oci.image.manifest.v1+json",
			Payload: []byte("0"), Subject: img1}, meta.ManifestRefs{}))
		seedImage(t, s, "p/other", "o1", 5)

		repos, total := must2(t)(s.Repos.ListProjectRepositories(ctx, "p", "", meta.Page{Limit: 10}))
		want := []meta.RepositoryInfo{
			{Name: "p/app", ArtifactCount: 2, CreatedAt: t0us, UpdatedAt: t0us.Add(3 * time.Minute)},
			{Name: "p/other", ArtifactCount: 1, CreatedAt: t0us.Add(3 * time.Minute), UpdatedAt: t0us.Add(3 * time.Minute)},
		}
		diff(t, "ListProjectRepositories", want, repos, ignoreIDs)
		if total != 2 {
			t.Errorf("total = %d, want 2", total)
		}
		repos, total = must2(t)(s.Repos.ListProjectRepositories(ctx, "p", "OTH", meta.Page{Limit: 10}))
		diff(t, "ListProjectRepositories(q)", want[1:], repos, ignoreIDs)
		if total != 1 {
			t.Errorf("total = %d, want 1", total)
		}
		diff(t, "GetRepositoryInfo", want[0], must[meta.RepositoryInfo](t)(s.Repos.GetRepositoryInfo(ctx, "p/app")), ignoreIDs)
		if _, err := s.Repos.GetRepositoryInfo(ctx, "p/none"); !errors.Is(err, meta.ErrRepositoryNotFound) {
			t.Errorf("GetRepositoryInfo(missing) err = %v", err)
		}

		arts, total, err := s.Manifests.ListArtifacts(ctx, "p/app", meta.Page{Limit: 10})
		check(t, err)
		type art struct {
			Digest   digest.Digest
			Size     int64
			Tags     []string
			Children []digest.Digest
		}
		var got []art
		for _, a := range arts {
			var tags []string
			for _, tg := range a.Tags {
				tags = append(tags, tg.Name)
			}
			got = append(got, art{a.Digest, a.Size, tags, a.Children})
		}
		diff(t, "ListArtifacts", []art{
			{idx, 5, []string{"multi"}, []digest.Digest{min(img1, img2), max(img1, img2)}},
			{img1, 130, []string{"one"}, nil},
		}, got, equateEmpty)
		if total != 2 {
			t.Errorf("total = %d, want 2", total)
		}
		a := must[meta.Artifact](t)(s.Manifests.GetArtifact(ctx, "p/app", img2))
		if a.Size != 117 || a.ManifestSize != 10 || len(a.Tags) != 0 || !a.PushedAt.Equal(t0us.Add(time.Minute)) {
			t.Errorf("GetArtifact(img2) = %+v", a)
		}
		if _, err := s.Manifests.GetArtifact(ctx, "p/app", dg("none")); !errors.Is(err, meta.ErrManifestNotFound) {
			t.Errorf("GetArtifact(missing) err = %v", err)
		}

		// Tags: created once, then a conflict; a missing manifest says so.
		check(t, s.Manifests.CreateTag(ctx, "p/app", "two", img2))
		if err := s.Manifests.CreateTag(ctx, "p/app", "two", img1); !errors.Is(err, meta.ErrTagExists) {
			t.Errorf("CreateTag(taken) err = %v, want ErrTagExists", err)
		}
		if err := s.Manifests.CreateTag(ctx, "p/app", "three", dg("none")); !errors.Is(err, meta.ErrManifestNotFound) {
			t.Errorf("CreateTag(missing manifest) err = %v, want ErrManifestNotFound", err)
		}

		// Search sees only visible projects.
		must[meta.Project](t)(s.Projects.CreateProject(ctx, meta.Project{Name: "pub", Public: true}))
		seedImage(t, s, "pub/app", "pub1")
		hits, err := s.Repos.SearchRepositories(ctx, "app", meta.Visibility{}, 10)
		check(t, err)
		if len(hits) != 1 || hits[0].Name != "pub/app" || hits[0].ProjectName != "pub" || !hits[0].ProjectPublic || hits[0].ArtifactCount != 1 {
			t.Errorf("SearchRepositories(anonymous) = %+v", hits)
		}
		hits, err = s.Repos.SearchRepositories(ctx, "app", meta.Visibility{Projects: []string{"p"}}, 10)
		check(t, err)
		if len(hits) != 2 || hits[0].Name != "p/app" || hits[1].Name != "pub/app" {
			t.Errorf("SearchRepositories(p) = %+v", hits)
		}

		// Deleting a repository takes everything of it, and only that.
		ds, err := s.Manifests.ListManifestDigests(ctx, "p/app", "", 100)
		check(t, err)
		if len(ds) != 4 {
			t.Errorf("ListManifestDigests = %v, want 4", ds)
		}
		check(t, s.Repos.DeleteRepository(ctx, "p/app"))
		if _, err := s.Repos.GetRepository(ctx, "p/app"); !errors.Is(err, meta.ErrRepositoryNotFound) {
			t.Errorf("after DeleteRepository: %v", err)
		}
		if err := s.Repos.DeleteRepository(ctx, "p/app"); !errors.Is(err, meta.ErrRepositoryNotFound) {
			t.Errorf("DeleteRepository(missing) err = %v", err)
		}
		for table, want := range map[string]int{"tags": 0, "manifests": 2, "repository_blobs": 1, "manifest_manifest_refs": 0} {
			n, err := meta.CountRows(ctx, s, table)
			check(t, err)
			if n != want {
				t.Errorf("%s rows = %d, want %d", table, n, want)
			}
		}
	})
}

var ignoreIDs = cmpopts.IgnoreFields(meta.RepositoryInfo{}, "ID")

func must2(t *testing.T) func(v []meta.RepositoryInfo, n int, err error) ([]meta.RepositoryInfo, int) {
	return func(v []meta.RepositoryInfo, n int, err error) ([]meta.RepositoryInfo, int) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v, n
	}
}
