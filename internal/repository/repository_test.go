package repository_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/project"
	"github.com/berth-registry/berth/internal/repository"
)

// fakeRepo is one repository's manifests; parents[d] are the manifests
// that still need d (an index listing it, a referrer naming it).
type fakeRepo struct {
	manifests []digest.Digest
	parents   map[digest.Digest][]digest.Digest
	broken    bool // deletes fail for another reason than a reference
	deleted   bool
}

var errReferenced = errors.New("manifest is referenced")

func (f *fakeRepo) GetRepositoryInfo(context.Context, string) (meta.RepositoryInfo, error) {
	return meta.RepositoryInfo{Name: "p/app"}, nil
}
func (f *fakeRepo) ListRepositoryHits(context.Context, meta.RepositoryQuery, meta.Page) ([]meta.RepositoryHit, int, error) {
	return nil, 0, nil
}
func (f *fakeRepo) UpdateRepositoryDescription(context.Context, string, string) error { return nil }
func (f *fakeRepo) DeleteRepository(context.Context, string) error {
	f.deleted = true
	return nil
}
func (f *fakeRepo) GetManifest(context.Context, string, digest.Digest) (meta.Manifest, error) {
	return meta.Manifest{}, meta.ErrManifestNotFound
}
func (f *fakeRepo) GetArtifact(context.Context, string, digest.Digest) (meta.Artifact, error) {
	return meta.Artifact{}, meta.ErrManifestNotFound
}
func (f *fakeRepo) GetTag(context.Context, string, string) (digest.Digest, error) {
	return "", meta.ErrTagNotFound
}
func (f *fakeRepo) ListManifestDigests(_ context.Context, _ string, after digest.Digest, limit int) ([]digest.Digest, error) {
	var out []digest.Digest
	for _, d := range f.manifests {
		if d > after && len(out) < limit {
			out = append(out, d)
		}
	}
	return out, nil
}

// DeleteManifest refuses a manifest that a remaining one still needs.
func (f *fakeRepo) DeleteManifest(_ context.Context, _, ref string) error {
	d := digest.Digest(ref)
	if f.broken {
		return errors.New("database on fire")
	}
	for _, p := range f.parents[d] {
		if slices.Contains(f.manifests, p) {
			return errReferenced
		}
	}
	f.manifests = slices.DeleteFunc(f.manifests, func(x digest.Digest) bool { return x == d })
	return nil
}
func (f *fakeRepo) CreateTag(context.Context, string, string, digest.Digest) error { return nil }
func (f *fakeRepo) CheckDeletable(context.Context, string) error                   { return nil }

func (f *fakeRepo) CopyManifest(context.Context, string, string, digest.Digest, []string) error {
	return nil
}

type noBlobs struct{}

func (noBlobs) Stat(context.Context, string, digest.Digest) (meta.Blob, error) {
	return meta.Blob{}, meta.ErrBlobNotFound
}
func (noBlobs) Open(context.Context, meta.Blob, int64) (io.ReadCloser, error) {
	return nil, meta.ErrBlobNotFound
}

type recorder struct{ entries []meta.AuditLog }

func (r *recorder) Record(e meta.AuditLog) { r.entries = append(r.entries, e) }

// TestDeleteRepositoryOrder: manifests that others need go in later
// passes (an index's children, a signature's subject, sorted before
// them); a delete that makes no progress fails without deleting the
// repository.
func TestDeleteRepositoryOrder(t *testing.T) {
	a, b, c := digest.FromString("a"), digest.FromString("b"), digest.FromString("c")
	// Sorted digests decide the first pass's order; make every child sort
	// before its parent so that the first pass is refused for them.
	ds := []digest.Digest{a, b, c}
	slices.Sort(ds)
	child, mid, top := ds[0], ds[1], ds[2]
	actor := project.Actor{Principal: access.Principal{Kind: access.KindUser, Name: "alice"}}
	for _, tc := range []struct {
		name    string
		repo    *fakeRepo
		wantErr bool
	}{
		{"chain", &fakeRepo{manifests: []digest.Digest{child, mid, top},
			parents: map[digest.Digest][]digest.Digest{child: {mid}, mid: {top}}}, false},
		{"no references", &fakeRepo{manifests: []digest.Digest{child, mid}}, false},
		{"empty", &fakeRepo{}, false},
		{"a cycle (cannot happen) fails", &fakeRepo{manifests: []digest.Digest{child, mid},
			parents: map[digest.Digest][]digest.Digest{child: {mid}, mid: {child}}}, true},
		{"a broken store fails", &fakeRepo{manifests: []digest.Digest{child}, broken: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			svc := repository.New(repository.Stores{Repos: tc.repo, Manifests: tc.repo}, tc.repo, noBlobs{}, rec, slog.New(slog.DiscardHandler))
			err := svc.Delete(t.Context(), actor, 1, "p/app")
			if (err != nil) != tc.wantErr {
				t.Fatalf("Delete = %v, want error %v", err, tc.wantErr)
			}
			if tc.repo.deleted == tc.wantErr || (len(rec.entries) == 1) == tc.wantErr {
				t.Errorf("repository deleted %v, audit %v", tc.repo.deleted, rec.entries)
			}
			if !tc.wantErr && len(tc.repo.manifests) != 0 {
				t.Errorf("manifests left: %v", tc.repo.manifests)
			}
		})
	}
}

func TestParseSource(t *testing.T) {
	for _, tc := range []struct {
		from    string
		repo    string
		ref     string
		wantErr bool
	}{
		{"lib/app:v1", "lib/app", "v1", false},
		{"lib/a/b@sha256:" + digest.FromString("x").Encoded(), "lib/a/b", "sha256:" + digest.FromString("x").Encoded(), false},
		{"lib/app", "", "", true},
		{"app:v1", "", "", true},
		{"Lib/app:v1", "", "", true},
		{"lib/app:", "", "", true},
		{"lib/app@sha256:zz", "", "", true},
		{"lib/app:bad tag", "", "", true},
	} {
		src, err := repository.ParseSource(tc.from)
		if (err != nil) != tc.wantErr || src.Repository != tc.repo || src.Reference != tc.ref {
			t.Errorf("ParseSource(%q) = %+v, %v", tc.from, src, err)
		}
	}
	if got := (repository.Source{Repository: "lib/a/b"}).Project(); got != "lib" {
		t.Errorf("Project() = %q", got)
	}
}
