package meta_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

func TestRepositories(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		c := withClock(s)
		first := must[meta.Repository](t)(s.Repos.EnsureRepository(ctx, "a/b"))
		diff(t, "first EnsureRepository", meta.Repository{Name: "a/b", CreatedAt: t0us}, first,
			cmpopts.IgnoreFields(meta.Repository{}, "ID"))
		c.Advance(time.Hour)
		again := must[meta.Repository](t)(s.Repos.EnsureRepository(ctx, "a/b"))
		diff(t, "second EnsureRepository", first, again)
		got := must[meta.Repository](t)(s.Repos.GetRepository(ctx, "a/b"))
		diff(t, "GetRepository", first, got)
		if _, err := s.Repos.GetRepository(ctx, "nope"); !errors.Is(err, meta.ErrRepositoryNotFound) {
			t.Errorf("GetRepository(missing) err = %v, want ErrRepositoryNotFound", err)
		}

		for _, n := range []string{"b-c", "a", "lib/app", "B", "a-b", "a.b"} {
			must[meta.Repository](t)(s.Repos.EnsureRepository(ctx, n))
		}
		tests := []struct {
			name  string
			after string
			limit int
			want  []string
		}{
			// byte order: "B" < "a" < "a-b" < "a.b" < "a/b" < "b-c" < "lib/app"
			{"all", "", 100, []string{"B", "a", "a-b", "a.b", "a/b", "b-c", "lib/app"}},
			{"first page", "", 2, []string{"B", "a"}},
			{"second page", "a", 3, []string{"a-b", "a.b", "a/b"}},
			{"after uppercase", "B", 1, []string{"a"}},
			{"after a name that is absent", "a0", 10, []string{"b-c", "lib/app"}},
			{"last page", "b-c", 10, []string{"lib/app"}},
			{"past the end", "lib/app", 10, []string{}},
			{"zero limit", "", 0, []string{}},
			{"negative limit", "", -1, []string{}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s.Repos.ListRepositories(ctx, tt.after, tt.limit)
				check(t, err)
				diff(t, "ListRepositories", tt.want, got)
			})
		}
	})
}

func TestBlobs(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		c := withClock(s)
		b := meta.Blob{Digest: dg("layer"), Size: 42, MediaType: "application/octet-stream", StorageKey: "k1"}

		got, created, err := s.Blobs.PutBlob(ctx, b)
		check(t, err)
		want := b
		want.CreatedAt = t0us
		diff(t, "PutBlob(new)", want, got)
		if !created {
			t.Errorf("PutBlob(new) created = false, want true")
		}

		c.Advance(time.Minute)
		dup := b
		dup.StorageKey = "k2"
		got, created, err = s.Blobs.PutBlob(ctx, dup)
		check(t, err)
		diff(t, "PutBlob(existing) keeps the first row", want, got)
		if created {
			t.Errorf("PutBlob(existing) created = true, want false")
		}
		diff(t, "GetBlob", want, must[meta.Blob](t)(s.Blobs.GetBlob(ctx, b.Digest)))

		empty := meta.Blob{Digest: dg(""), Size: 0, StorageKey: "k0"}
		_, created, err = s.Blobs.PutBlob(ctx, empty)
		check(t, err)
		if !created {
			t.Errorf("PutBlob(empty blob) created = false, want true")
		}

		must[meta.Repository](t)(s.Repos.EnsureRepository(ctx, "lib/app"))
		must[meta.Repository](t)(s.Repos.EnsureRepository(ctx, "lib/other"))

		errTests := []struct {
			name    string
			repo    string
			d       digest.Digest
			wantErr error
		}{
			{"link", "lib/app", b.Digest, nil},
			{"link again is idempotent", "lib/app", b.Digest, nil},
			{"missing repository", "nope", b.Digest, meta.ErrRepositoryNotFound},
			{"missing blob", "lib/app", dg("missing"), meta.ErrBlobNotFound},
		}
		for _, tt := range errTests {
			t.Run("LinkBlob "+tt.name, func(t *testing.T) {
				if err := s.Blobs.LinkBlob(ctx, tt.repo, tt.d); !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
					t.Errorf("LinkBlob(%s, %s) err = %v, want %v", tt.repo, tt.d, err, tt.wantErr)
				}
			})
		}

		diff(t, "GetLinkedBlob", want, must[meta.Blob](t)(s.Blobs.GetLinkedBlob(ctx, "lib/app", b.Digest)))
		notFound := []struct{ name, repo string }{
			{"another repository", "lib/other"},
			{"missing repository", "nope"},
		}
		for _, tt := range notFound {
			if _, err := s.Blobs.GetLinkedBlob(ctx, tt.repo, b.Digest); !errors.Is(err, meta.ErrBlobNotFound) {
				t.Errorf("GetLinkedBlob in %s err = %v, want ErrBlobNotFound", tt.name, err)
			}
		}
		if _, err := s.Blobs.GetLinkedBlob(ctx, "lib/app", empty.Digest); !errors.Is(err, meta.ErrBlobNotFound) {
			t.Errorf("GetLinkedBlob(unlinked blob) err = %v, want ErrBlobNotFound", err)
		}
		if _, err := s.Blobs.GetBlob(ctx, dg("missing")); !errors.Is(err, meta.ErrBlobNotFound) {
			t.Errorf("GetBlob(missing) err = %v, want ErrBlobNotFound", err)
		}

		check(t, s.Blobs.UnlinkBlob(ctx, "lib/app", b.Digest))
		if _, err := s.Blobs.GetLinkedBlob(ctx, "lib/app", b.Digest); !errors.Is(err, meta.ErrBlobNotFound) {
			t.Errorf("GetLinkedBlob after unlink err = %v, want ErrBlobNotFound", err)
		}
		diff(t, "GetBlob after unlink (row stays)", want, must[meta.Blob](t)(s.Blobs.GetBlob(ctx, b.Digest)))
		for _, repo := range []string{"lib/app", "nope"} {
			if err := s.Blobs.UnlinkBlob(ctx, repo, b.Digest); !errors.Is(err, meta.ErrBlobNotFound) {
				t.Errorf("UnlinkBlob(%s, not linked) err = %v, want ErrBlobNotFound", repo, err)
			}
		}
	})
}

func TestManifests(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		c := withClock(s)
		child1, child2 := putManifest(t, s, "lib/app", "child1"), putManifest(t, s, "lib/app", "child2")
		m := meta.Manifest{
			Digest:       dg("index"),
			MediaType:    "application/vnd.oci.image.index.v1+json",
			ArtifactType: "application/vnd.example",
			Payload:      []byte(`{"schemaVersion":2}`),
			Subject:      dg("subject"),
			Annotations:  map[string]string{"org.opencontainers.image.created": "2025-01-01T00:00:00Z", "b": "2"},
		}
		refs := meta.ManifestRefs{
			Blobs:     []digest.Digest{dg("layer2"), dg("config"), dg("layer2")}, // duplicates are allowed
			Manifests: []digest.Digest{child2, child1},
		}
		check(t, s.Manifests.PutManifest(ctx, "lib/app", m, refs))

		repo := must[meta.Repository](t)(s.Repos.GetRepository(ctx, "lib/app"))
		got := must[meta.Manifest](t)(s.Manifests.GetManifest(ctx, "lib/app", m.Digest))
		want := m
		want.RepositoryID = repo.ID
		want.Size = int64(len(m.Payload))
		want.CreatedAt = t0us
		diff(t, "GetManifest", want, got, cmpopts.IgnoreFields(meta.Manifest{}, "ID"))

		wantRefs := meta.ManifestRefs{
			Blobs:     uniqueSorted(dg("layer2"), dg("config")),
			Manifests: uniqueSorted(child1, child2),
		}
		diff(t, "refs", wantRefs, must[meta.ManifestRefs](t)(meta.RefsOf(ctx, s, "lib/app", m.Digest)))

		// Putting the same digest again is a no-op: the first row stays.
		c.Advance(time.Hour)
		other := m
		other.MediaType = "application/other"
		check(t, s.Manifests.PutManifest(ctx, "lib/app", other, meta.ManifestRefs{Blobs: []digest.Digest{dg("x")}}))
		diff(t, "GetManifest after second put", got, must[meta.Manifest](t)(s.Manifests.GetManifest(ctx, "lib/app", m.Digest)))
		diff(t, "refs after second put", wantRefs, must[meta.ManifestRefs](t)(meta.RefsOf(ctx, s, "lib/app", m.Digest)))

		// The same digest in another repository is another manifest.
		plain := meta.Manifest{Digest: m.Digest, MediaType: m.MediaType, Payload: m.Payload}
		check(t, s.Manifests.PutManifest(ctx, "lib/other", plain, meta.ManifestRefs{}))
		got2 := must[meta.Manifest](t)(s.Manifests.GetManifest(ctx, "lib/other", m.Digest))
		if got2.ID == got.ID || got2.Subject != "" || got2.Annotations != nil || got2.ArtifactType != "" {
			t.Errorf("manifest in lib/other = %+v, want its own row without subject, annotations, artifactType", got2)
		}

		for _, tt := range []struct{ repo, name string }{{"lib/app", "missing"}, {"nope", "index"}} {
			if _, err := s.Manifests.GetManifest(ctx, tt.repo, dg(tt.name)); !errors.Is(err, meta.ErrManifestNotFound) {
				t.Errorf("GetManifest(%s, %s) err = %v, want ErrManifestNotFound", tt.repo, tt.name, err)
			}
		}
	})
}

func uniqueSorted(ds ...digest.Digest) []digest.Digest {
	out := []digest.Digest{}
	seen := map[digest.Digest]bool{}
	for _, d := range ds {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestDeleteManifest(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		d := dg("m1")
		check(t, s.Manifests.PutManifest(ctx, "lib/app", meta.Manifest{Digest: d, MediaType: "x", Payload: []byte("{}")},
			meta.ManifestRefs{Blobs: []digest.Digest{dg("l1"), dg("l2")}, Manifests: []digest.Digest{dg("c1")}}))
		keep := putManifest(t, s, "lib/app", "m2")
		for _, tag := range []string{"latest", "v1"} {
			check(t, s.Manifests.PutTag(ctx, "lib/app", tag, d))
		}
		check(t, s.Manifests.PutTag(ctx, "lib/app", "stable", keep))

		check(t, s.Manifests.DeleteManifest(ctx, "lib/app", d))

		if _, err := s.Manifests.GetManifest(ctx, "lib/app", d); !errors.Is(err, meta.ErrManifestNotFound) {
			t.Errorf("GetManifest after delete err = %v, want ErrManifestNotFound", err)
		}
		for _, tag := range []string{"latest", "v1"} {
			if _, err := s.Manifests.GetTag(ctx, "lib/app", tag); !errors.Is(err, meta.ErrTagNotFound) {
				t.Errorf("GetTag(%s) after delete err = %v, want ErrTagNotFound", tag, err)
			}
		}
		diff(t, "ListTags after delete", []string{"stable"}, must[[]string](t)(s.Manifests.ListTags(ctx, "lib/app", "", 10)))
		for _, table := range []string{"manifest_blob_refs", "manifest_manifest_refs"} {
			if n := must[int](t)(meta.CountRows(ctx, s, table)); n != 0 {
				t.Errorf("%s has %d rows after delete, want 0", table, n)
			}
		}
		for _, tt := range []struct{ repo, name string }{{"lib/app", "m1"}, {"nope", "m2"}} {
			if err := s.Manifests.DeleteManifest(ctx, tt.repo, dg(tt.name)); !errors.Is(err, meta.ErrManifestNotFound) {
				t.Errorf("DeleteManifest(%s, %s) err = %v, want ErrManifestNotFound", tt.repo, tt.name, err)
			}
		}
	})
}

func TestListReferrers(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		withClock(s)
		subject := dg("subject") // referrers may arrive before their subject
		type referrer struct {
			name, artifactType string
			subject            digest.Digest
			repo               string
		}
		all := []referrer{
			{"sig1", "application/vnd.sig", subject, "lib/app"},
			{"sbom1", "application/vnd.sbom", subject, "lib/app"},
			{"sig2", "application/vnd.sig", subject, "lib/app"},
			{"sbom2", "application/vnd.sbom", subject, "lib/app"},
			{"other-subject", "application/vnd.sig", dg("other"), "lib/app"},
			{"other-repo", "application/vnd.sig", subject, "lib/other"},
		}
		want := map[string]meta.Manifest{}
		for _, r := range all {
			m := meta.Manifest{
				Digest:       dg(r.name),
				MediaType:    "application/vnd.oci.image.manifest.v1+json",
				ArtifactType: r.artifactType,
				Payload:      []byte(r.name),
				Subject:      r.subject,
				Annotations:  map[string]string{"name": r.name},
			}
			check(t, s.Manifests.PutManifest(ctx, r.repo, m, meta.ManifestRefs{}))
			m.Size = int64(len(m.Payload))
			m.Payload = nil // not loaded, but its size is
			m.CreatedAt = t0us
			want[r.name] = m
		}
		byDigest := func(names ...string) []meta.Manifest {
			out := []meta.Manifest{}
			for _, n := range names {
				out = append(out, want[n])
			}
			for i := range out {
				for j := i + 1; j < len(out); j++ {
					if out[j].Digest < out[i].Digest {
						out[i], out[j] = out[j], out[i]
					}
				}
			}
			return out
		}
		tests := []struct {
			name         string
			repo         string
			subject      digest.Digest
			artifactType string
			limit        int
			want         []meta.Manifest
		}{
			{"all", "lib/app", subject, "", 10, byDigest("sig1", "sbom1", "sig2", "sbom2")},
			{"filtered", "lib/app", subject, "application/vnd.sig", 10, byDigest("sig1", "sig2")},
			{"limited", "lib/app", subject, "", 2, byDigest("sig1", "sbom1", "sig2", "sbom2")[:2]},
			{"unknown type", "lib/app", subject, "application/none", 10, []meta.Manifest{}},
			{"other repository", "lib/other", subject, "", 10, byDigest("other-repo")},
			{"no referrers", "lib/app", dg("lonely"), "", 10, []meta.Manifest{}},
			{"missing repository", "nope", subject, "", 10, []meta.Manifest{}},
			{"zero limit", "lib/app", subject, "", 0, []meta.Manifest{}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s.Manifests.ListReferrers(ctx, tt.repo, tt.subject, tt.artifactType, tt.limit)
				check(t, err)
				diff(t, "ListReferrers", tt.want, got, cmpopts.IgnoreFields(meta.Manifest{}, "ID", "RepositoryID"))
			})
		}
	})
}

func TestTags(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		d1, d2 := putManifest(t, s, "lib/app", "m1"), putManifest(t, s, "lib/app", "m2")
		putManifest(t, s, "lib/other", "m3")
		must[meta.Repository](t)(s.Repos.EnsureRepository(ctx, "lib/empty"))

		names := []string{"v1", "B", "a", "latest", "a-1", "a.1", "a_1", "1.0", "Z"}
		for _, n := range names {
			check(t, s.Manifests.PutTag(ctx, "lib/app", n, d1))
		}
		// Upsert moves the tag.
		check(t, s.Manifests.PutTag(ctx, "lib/app", "latest", d2))
		diff(t, "GetTag(latest) after move", d2, must[digest.Digest](t)(s.Manifests.GetTag(ctx, "lib/app", "latest")))
		diff(t, "GetTag(v1)", d1, must[digest.Digest](t)(s.Manifests.GetTag(ctx, "lib/app", "v1")))

		putErrs := []struct {
			name, repo, tag string
			d               digest.Digest
		}{
			{"missing manifest", "lib/app", "x", dg("missing")},
			{"manifest of another repository", "lib/app", "x", dg("m3")},
			{"missing repository", "nope", "x", d1},
		}
		for _, tt := range putErrs {
			if err := s.Manifests.PutTag(ctx, tt.repo, tt.tag, tt.d); !errors.Is(err, meta.ErrManifestNotFound) {
				t.Errorf("PutTag %s: err = %v, want ErrManifestNotFound", tt.name, err)
			}
		}

		tests := []struct {
			name, repo, after string
			limit             int
			want              []string
			wantErr           error
		}{
			// byte order: digits < upper case < "-" < "." < "_" < lower case
			{"all", "lib/app", "", 100, []string{"1.0", "B", "Z", "a", "a-1", "a.1", "a_1", "latest", "v1"}, nil},
			{"first page", "lib/app", "", 3, []string{"1.0", "B", "Z"}, nil},
			{"next page", "lib/app", "Z", 3, []string{"a", "a-1", "a.1"}, nil},
			{"after absent name", "lib/app", "b", 10, []string{"latest", "v1"}, nil},
			{"past the end", "lib/app", "v1", 10, []string{}, nil},
			{"zero limit", "lib/app", "", 0, []string{}, nil},
			{"repository without tags", "lib/empty", "", 10, []string{}, nil},
			{"other repository", "lib/other", "", 10, []string{}, nil},
			{"missing repository", "nope", "", 10, nil, meta.ErrRepositoryNotFound},
			{"missing repository, zero limit", "nope", "", 0, nil, meta.ErrRepositoryNotFound},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s.Manifests.ListTags(ctx, tt.repo, tt.after, tt.limit)
				if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
					t.Fatalf("ListTags err = %v, want %v", err, tt.wantErr)
				}
				diff(t, "ListTags", tt.want, got)
			})
		}

		check(t, s.Manifests.DeleteTag(ctx, "lib/app", "v1"))
		missing := []struct{ repo, tag string }{{"lib/app", "v1"}, {"lib/app", "never"}, {"nope", "a"}}
		for _, tt := range missing {
			if _, err := s.Manifests.GetTag(ctx, tt.repo, tt.tag); !errors.Is(err, meta.ErrTagNotFound) {
				t.Errorf("GetTag(%s:%s) err = %v, want ErrTagNotFound", tt.repo, tt.tag, err)
			}
			if err := s.Manifests.DeleteTag(ctx, tt.repo, tt.tag); !errors.Is(err, meta.ErrTagNotFound) {
				t.Errorf("DeleteTag(%s:%s) err = %v, want ErrTagNotFound", tt.repo, tt.tag, err)
			}
		}
		// The manifest stays when its tag goes.
		must[meta.Manifest](t)(s.Manifests.GetManifest(ctx, "lib/app", d1))
	})
}

func TestUploads(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		c := withClock(s)
		u := meta.Upload{
			ID: "6f1c0b0e-0000-4000-8000-000000000001", Repository: "lib/app",
			StorageKey: "_uploads/1", Algorithm: "sha256", HashState: []byte("state0"),
		}
		check(t, s.Uploads.CreateUpload(ctx, u))
		want := u
		want.CreatedAt, want.UpdatedAt = t0us, t0us
		diff(t, "GetUpload", want, must[meta.Upload](t)(s.Uploads.GetUpload(ctx, u.ID)))
		if err := s.Uploads.CreateUpload(ctx, u); err == nil {
			t.Errorf("CreateUpload(duplicate id) err = nil, want an error")
		}

		c.Advance(time.Second)
		check(t, s.Uploads.AdvanceUpload(ctx, u.ID, 0, 100, []byte("state100")))
		want.Offset, want.HashState, want.UpdatedAt = 100, []byte("state100"), t0us.Add(time.Second)
		diff(t, "GetUpload after advance", want, must[meta.Upload](t)(s.Uploads.GetUpload(ctx, u.ID)))

		advErrs := []struct {
			name     string
			id       string
			from, to int64
			wantErr  error
		}{
			{"stale offset", u.ID, 0, 50, meta.ErrUploadConflict},
			{"offset ahead", u.ID, 150, 200, meta.ErrUploadConflict},
			{"missing", "missing", 0, 10, meta.ErrUploadNotFound},
		}
		for _, tt := range advErrs {
			if err := s.Uploads.AdvanceUpload(ctx, tt.id, tt.from, tt.to, nil); !errors.Is(err, tt.wantErr) {
				t.Errorf("AdvanceUpload %s: err = %v, want %v", tt.name, err, tt.wantErr)
			}
		}
		diff(t, "GetUpload after failed advances", want, must[meta.Upload](t)(s.Uploads.GetUpload(ctx, u.ID)))

		check(t, s.Uploads.DeleteUpload(ctx, u.ID))
		if _, err := s.Uploads.GetUpload(ctx, u.ID); !errors.Is(err, meta.ErrUploadNotFound) {
			t.Errorf("GetUpload after delete err = %v, want ErrUploadNotFound", err)
		}
		if err := s.Uploads.DeleteUpload(ctx, u.ID); !errors.Is(err, meta.ErrUploadNotFound) {
			t.Errorf("DeleteUpload(missing) err = %v, want ErrUploadNotFound", err)
		}
	})
}

func TestListStaleUploads(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		c := withClock(s)
		// u1 at t0, u2 at t0+1m, u3 and u4 at t0+2m; u1 advanced at t0+3m.
		for i, step := range []time.Duration{0, time.Minute, time.Minute, 0} {
			c.Advance(step)
			check(t, s.Uploads.CreateUpload(ctx, meta.Upload{ID: "u" + strconv.Itoa(i+1), Repository: "r", Algorithm: "sha256"}))
		}
		c.Advance(time.Minute)
		check(t, s.Uploads.AdvanceUpload(ctx, "u1", 0, 1, []byte("s")))

		ids := func(us []meta.Upload) []string {
			out := []string{}
			for _, u := range us {
				out = append(out, u.ID)
			}
			return out
		}
		tests := []struct {
			name   string
			before time.Time
			limit  int
			want   []string
		}{
			{"none", t0, 10, []string{}},
			{"strictly before", t0us.Add(time.Minute), 10, []string{}},
			{"one", t0us.Add(time.Minute + time.Microsecond), 10, []string{"u2"}},
			{"oldest first, ties by id", t0us.Add(3 * time.Minute), 10, []string{"u2", "u3", "u4"}},
			{"all", t0.Add(time.Hour), 10, []string{"u2", "u3", "u4", "u1"}},
			{"limited", t0.Add(time.Hour), 2, []string{"u2", "u3"}},
			{"other time zone", t0.Add(time.Hour).In(time.FixedZone("Y", -5*3600)), 10, []string{"u2", "u3", "u4", "u1"}},
			{"zero limit", t0.Add(time.Hour), 0, []string{}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s.Uploads.ListStaleUploads(ctx, tt.before, tt.limit)
				check(t, err)
				diff(t, "ListStaleUploads", tt.want, ids(got))
			})
		}
		got := must[[]meta.Upload](t)(s.Uploads.ListStaleUploads(ctx, t0.Add(time.Hour), 1))
		want := []meta.Upload{{ID: "u2", Repository: "r", Algorithm: "sha256",
			CreatedAt: t0us.Add(time.Minute), UpdatedAt: t0us.Add(time.Minute)}}
		diff(t, "ListStaleUploads rows", want, got, equateEmpty)
	})
}

func TestInTx(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		errBoom := errors.New("boom")
		b := meta.Blob{Digest: dg("layer"), Size: 1, StorageKey: "k"}
		work := func(tx *meta.Store) error {
			if _, err := tx.Repos.EnsureRepository(ctx, "lib/app"); err != nil {
				return err
			}
			if _, _, err := tx.Blobs.PutBlob(ctx, b); err != nil {
				return err
			}
			if err := tx.Blobs.LinkBlob(ctx, "lib/app", b.Digest); err != nil {
				return err
			}
			d := putManifest(t, tx, "lib/app", "m") // PutManifest joins tx
			if err := tx.Manifests.PutTag(ctx, "lib/app", "v1", d); err != nil {
				return err
			}
			return tx.Uploads.CreateUpload(ctx, meta.Upload{ID: "u1", Repository: "lib/app", Algorithm: "sha256"})
		}

		err := s.InTx(ctx, func(tx *meta.Store) error {
			if err := work(tx); err != nil {
				return err
			}
			// A nested InTx joins the outer transaction.
			return tx.InTx(ctx, func(tx *meta.Store) error { return errBoom })
		})
		if !errors.Is(err, errBoom) {
			t.Fatalf("InTx err = %v, want errBoom", err)
		}
		diff(t, "repositories after rollback", []string{}, must[[]string](t)(s.Repos.ListRepositories(ctx, "", 10)))
		for _, table := range []string{"repositories", "blobs", "repository_blobs", "manifests", "tags", "uploads"} {
			if n := must[int](t)(meta.CountRows(ctx, s, table)); n != 0 {
				t.Errorf("%s has %d rows after rollback, want 0", table, n)
			}
		}
		if _, err := s.Blobs.GetBlob(ctx, b.Digest); !errors.Is(err, meta.ErrBlobNotFound) {
			t.Errorf("GetBlob after rollback err = %v, want ErrBlobNotFound", err)
		}

		check(t, s.InTx(ctx, work))
		diff(t, "GetTag after commit", dg("m"), must[digest.Digest](t)(s.Manifests.GetTag(ctx, "lib/app", "v1")))
		must[meta.Upload](t)(s.Uploads.GetUpload(ctx, "u1"))
	})
}

// TestConcurrentAdvanceUpload: two requests race to append to the same
// session; exactly one wins, the other sees ErrUploadConflict.
func TestConcurrentAdvanceUpload(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		for round := range 20 {
			id := "race-" + strconv.Itoa(round)
			check(t, s.Uploads.CreateUpload(ctx, meta.Upload{ID: id, Repository: "r", Algorithm: "sha256"}))
			var (
				wg    sync.WaitGroup
				start = make(chan struct{})
				errs  [2]error
			)
			for i := range 2 {
				wg.Go(func() {
					<-start
					errs[i] = s.Uploads.AdvanceUpload(ctx, id, 0, int64(10*(i+1)), []byte{byte(i)})
				})
			}
			close(start)
			wg.Wait()
			winner := -1
			for i, err := range errs {
				switch {
				case err == nil:
					if winner != -1 {
						t.Fatalf("round %d: both AdvanceUpload calls succeeded", round)
					}
					winner = i
				case !errors.Is(err, meta.ErrUploadConflict):
					t.Fatalf("round %d: AdvanceUpload err = %v, want nil or ErrUploadConflict", round, err)
				}
			}
			if winner == -1 {
				t.Fatalf("round %d: no AdvanceUpload call succeeded: %v", round, errs)
			}
			u := must[meta.Upload](t)(s.Uploads.GetUpload(ctx, id))
			if u.Offset != int64(10*(winner+1)) || string(u.HashState) != string([]byte{byte(winner)}) {
				t.Fatalf("round %d: upload = offset %d state %v, want the winner's", round, u.Offset, u.HashState)
			}
		}
	})
}

// TestConcurrentTransactions: transactions that read then write, run at
// the same time, all commit (no deadlock, no SQLITE_BUSY).
func TestConcurrentTransactions(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		const n = 16
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				m := meta.Manifest{Digest: dg("m" + strconv.Itoa(i%4)), MediaType: "x", Payload: []byte("{}")}
				err := s.Manifests.PutManifest(ctx, "lib/app", m, meta.ManifestRefs{Blobs: []digest.Digest{dg("l")}})
				if err == nil {
					err = s.Manifests.PutTag(ctx, "lib/app", "t"+strconv.Itoa(i), m.Digest)
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			check(t, err)
		}
		if n := must[int](t)(meta.CountRows(ctx, s, "manifests")); n != 4 {
			t.Errorf("manifests = %d, want 4", n)
		}
		tags := must[[]string](t)(s.Manifests.ListTags(ctx, "lib/app", "", 100))
		if len(tags) != n {
			t.Errorf("ListTags = %d tags, want %d", len(tags), n)
		}
	})
}

// TestDeadlineIsUnavailable: a call that cannot get the database in time
// (here, waiting on a row another transaction holds) fails with
// ErrUnavailable instead of hanging.
func TestDeadlineIsUnavailable(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		expired, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
		defer cancel()
		if err := s.Ping(expired); !errors.Is(err, meta.ErrUnavailable) {
			t.Errorf("Ping(expired context) err = %v, want ErrUnavailable", err)
		}

		check(t, s.Uploads.CreateUpload(ctx, meta.Upload{ID: "u", Repository: "r", Algorithm: "sha256"}))
		held := make(chan struct{})
		release := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- s.InTx(ctx, func(tx *meta.Store) error {
				if err := tx.Uploads.AdvanceUpload(ctx, "u", 0, 1, nil); err != nil {
					return err
				}
				close(held)
				<-release
				return nil
			})
		}()
		select {
		case <-held:
		case err := <-done:
			t.Fatalf("holding transaction: %v", err)
		}
		short, cancel2 := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel2()
		began := time.Now()
		err := s.Uploads.AdvanceUpload(short, "u", 0, 2, nil) // waits on the held row
		took := time.Since(began)
		close(release)
		check(t, <-done)
		if !errors.Is(err, meta.ErrUnavailable) {
			t.Errorf("AdvanceUpload while locked err = %v, want ErrUnavailable", err)
		}
		if took > 5*time.Second {
			t.Errorf("AdvanceUpload while locked took %v, want about the 300ms deadline", took)
		}
	})
}

func TestOpenUnreachablePostgres(t *testing.T) {
	// A port nothing listens on: take a free one and close it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(t, err)
	addr := l.Addr().String()
	check(t, l.Close())

	tests := []struct{ name, dsn string }{
		{"postgres", "postgres://berth:secret@" + addr + "/berth?sslmode=disable"},
		{"postgresql", "postgresql://berth:secret@" + addr + "/berth?sslmode=disable&pool_max_conns=4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			began := time.Now()
			s, err := meta.Open(t.Context(), tt.dsn)
			if err == nil {
				s.Close()
				t.Fatal("Open(unreachable) err = nil")
			}
			if !errors.Is(err, meta.ErrUnavailable) {
				t.Errorf("Open(unreachable) err = %v, want ErrUnavailable", err)
			}
			if took := time.Since(began); took > 10*time.Second {
				t.Errorf("Open(unreachable) took %v", took)
			}
		})
	}
}

func TestOpenBadDSN(t *testing.T) {
	tests := []struct{ name, dsn string }{
		{"empty", ""},
		{"unknown scheme", "mysql://root@localhost/berth"},
		{"sqlite without path", "sqlite://"},
		{"sqlite with parameters", "sqlite:///tmp/x.db?_pragma=foo"},
		{"bad pool_max_conns", "postgres://u@127.0.0.1:1/db?pool_max_conns=zero"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := meta.Open(t.Context(), tt.dsn)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) err = nil, want an error", tt.dsn)
			}
			if errors.Is(err, meta.ErrUnavailable) {
				t.Errorf("Open(%q) err = %v, want a configuration error, not ErrUnavailable", tt.dsn, err)
			}
		})
	}
}

func TestOpenSQLiteRelativePath(t *testing.T) {
	t.Chdir(t.TempDir())
	s, err := meta.Open(t.Context(), "sqlite://data/sub/berth.db")
	check(t, err)
	defer s.Close()
	check(t, s.Migrate(t.Context()))
	check(t, s.Migrate(t.Context())) // idempotent
	must[meta.Repository](t)(s.Repos.EnsureRepository(t.Context(), "a"))
}
