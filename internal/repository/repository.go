package repository

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/project"
)

// Errors returned by Service, besides meta's not-found errors and oci's
// name, tag and digest errors. Callers compare with errors.Is.
var (
	// ErrInvalid: a value the caller gave breaks a rule (a description too
	// long, a malformed copy source).
	ErrInvalid = errors.New("invalid request")
	// ErrTagNotAttached: the tag exists but points at another artifact.
	ErrTagNotAttached = errors.New("tag is not attached to the artifact")
	// ErrArtifactExists: the copy's destination holds the artifact already.
	ErrArtifactExists = errors.New("artifact already exists")
	// ErrNotImage: the artifact is no image (an index, a chart, another
	// artifact type), so it has no build history.
	ErrNotImage = errors.New("artifact is not an image")
	// ErrTooLarge: the image configuration exceeds MaxConfigSize.
	ErrTooLarge = errors.New("image configuration too large")
)

// MaxDescriptionLength bounds a repository description (bytes).
const MaxDescriptionLength = 16 << 10

// MaxConfigSize bounds the image configuration BuildHistory reads.
const MaxConfigSize = 4 << 20

// Stores are the parts of the metadata store the Service uses; internal/app
// fills them from *meta.Store.
type Stores struct {
	Repos     repoStore     // *meta.Repositories
	Manifests manifestStore // *meta.Manifests
}

// repoStore is meta.Repositories as the Service uses it.
type repoStore interface {
	GetRepositoryInfo(ctx context.Context, name string) (meta.RepositoryInfo, error)
	ListRepositoryHits(ctx context.Context, q meta.RepositoryQuery, pg meta.Page) ([]meta.RepositoryHit, int, error)
	UpdateRepositoryDescription(ctx context.Context, name, description string) error
	DeleteRepository(ctx context.Context, name string) error
}

// manifestStore is meta.Manifests as the Service uses it (reads only:
// manifest and tag writes go through the registry).
type manifestStore interface {
	GetManifest(ctx context.Context, repo string, d digest.Digest) (meta.Manifest, error)
	GetArtifact(ctx context.Context, repo string, d digest.Digest) (meta.Artifact, error)
	GetTag(ctx context.Context, repo, tag string) (digest.Digest, error)
	ListManifestDigests(ctx context.Context, repo string, after digest.Digest, limit int) ([]digest.Digest, error)
}

// registryWriter is registry.Service as the Service uses it: manifest and
// tag writes that also drop the shared cache's entries.
type registryWriter interface {
	// DeleteManifest deletes the manifest (a digest) with its tags, or
	// only the tag (a tag name).
	DeleteManifest(ctx context.Context, repo, ref string) error
	CreateTag(ctx context.Context, repo, tag string, d digest.Digest) error
	CopyManifest(ctx context.Context, src, dst string, d digest.Digest, tags []string) error
	// CheckDeletable refuses (immutable.ErrImmutable) a repository holding
	// a tag an immutable tag rule protects.
	CheckDeletable(ctx context.Context, repo string) error
}

// blobReader is content.Service as the Service uses it.
type blobReader interface {
	Stat(ctx context.Context, repo string, d digest.Digest) (meta.Blob, error)
	Open(ctx context.Context, b meta.Blob, offset int64) (io.ReadCloser, error)
}

// Service applies the repository rules.
type Service struct {
	store    Stores
	registry registryWriter
	blobs    blobReader
	audit    project.Recorder
	log      *slog.Logger
}

// New returns a Service.
func New(store Stores, reg registryWriter, blobs blobReader, audit project.Recorder, log *slog.Logger) *Service {
	return &Service{store: store, registry: reg, blobs: blobs, audit: audit, log: log}
}

// ListQuery narrows List.
type ListQuery struct {
	// Name matches a substring of the full name ("" for all).
	Name string
	// Sort orders the page (default by name).
	Sort []meta.RepositoryOrder
}

// List returns one page of the repositories p may see, across projects
// (those of the projects project.VisibleTo(p) names), and how many there
// are in all. Nothing of a project p may not see shows, not even in the
// total.
func (s *Service) List(ctx context.Context, p access.Principal, q ListQuery, pg meta.Page) ([]meta.RepositoryHit, int, error) {
	vis := meta.Visibility{All: true}
	if v := project.VisibleTo(p); v != nil {
		vis = *v
	}
	hits, total, err := s.store.Repos.ListRepositoryHits(ctx, meta.RepositoryQuery{Name: q.Name, Visible: vis, Sort: q.Sort}, pg)
	if err != nil {
		return nil, 0, fmt.Errorf("list repositories: %w", err)
	}
	return hits, total, nil
}

// SetDescription sets repository name's description (at most
// MaxDescriptionLength bytes). Missing: meta.ErrRepositoryNotFound.
func (s *Service) SetDescription(ctx context.Context, a project.Actor, projectID int64, name, description string) error {
	if len(description) > MaxDescriptionLength {
		return fmt.Errorf("%w: description is longer than %d bytes", ErrInvalid, MaxDescriptionLength)
	}
	if err := s.store.Repos.UpdateRepositoryDescription(ctx, name, description); err != nil {
		return fmt.Errorf("describe repository %s: %w", name, err)
	}
	s.record(a, projectID, "update", "repository", name)
	return nil
}

// Delete deletes repository name: every manifest (through the registry,
// so that the shared cache forgets them), then the repository with its
// tags and blob links. Blobs stay until garbage collection. Missing:
// meta.ErrRepositoryNotFound.
//
// A manifest the registry refuses to delete while an index or a referrer
// still needs it goes in a later pass, once they are gone (references
// form no cycle). An interrupted delete leaves a smaller repository that a
// retry finishes.
func (s *Service) Delete(ctx context.Context, a project.Actor, projectID int64, name string) error {
	if _, err := s.store.Repos.GetRepositoryInfo(ctx, name); err != nil {
		return fmt.Errorf("delete repository %s: %w", name, err)
	}
	if err := s.registry.CheckDeletable(ctx, name); err != nil {
		return fmt.Errorf("delete repository %s: %w", name, err)
	}
	for {
		deleted, refused, err := s.deletePass(ctx, name)
		if err != nil {
			return err
		}
		if refused == nil {
			break
		}
		if deleted == 0 { // no progress: the refusal stands
			return fmt.Errorf("delete repository %s: %w", name, refused)
		}
	}
	if err := s.store.Repos.DeleteRepository(ctx, name); err != nil {
		return fmt.Errorf("delete repository %s: %w", name, err)
	}
	s.record(a, projectID, "delete", "repository", name)
	return nil
}

// deletePass tries to delete every manifest of name once. It returns how
// many went, the last refusal (the next pass may succeed) and an error
// only when listing fails.
func (s *Service) deletePass(ctx context.Context, name string) (deleted int, refused, err error) {
	var after digest.Digest
	for {
		ds, err := s.store.Manifests.ListManifestDigests(ctx, name, after, 100)
		if err != nil {
			return deleted, refused, fmt.Errorf("delete repository %s: %w", name, err)
		}
		if len(ds) == 0 {
			return deleted, refused, nil
		}
		for _, d := range ds {
			err := s.registry.DeleteManifest(ctx, name, d.String())
			switch {
			case err == nil:
				deleted++
			case errors.Is(err, meta.ErrManifestNotFound): // a concurrent delete got there first
			default:
				refused = err
			}
		}
		after = ds[len(ds)-1]
	}
}

// DeleteArtifact deletes manifest d of repo with every tag pointing at it.
// Missing: meta.ErrManifestNotFound.
func (s *Service) DeleteArtifact(ctx context.Context, a project.Actor, projectID int64, repo string, d digest.Digest) error {
	if err := s.registry.DeleteManifest(ctx, repo, d.String()); err != nil {
		return err
	}
	s.record(a, projectID, "delete", "artifact", repo+"@"+d.String())
	return nil
}

// CreateTag adds tag to repo, pointing at manifest d. Taken (on any
// artifact): meta.ErrTagExists.
func (s *Service) CreateTag(ctx context.Context, a project.Actor, projectID int64, repo, tag string, d digest.Digest) error {
	if err := s.registry.CreateTag(ctx, repo, tag, d); err != nil {
		return err
	}
	s.record(a, projectID, "create", "tag", repo+":"+tag)
	return nil
}

// DeleteTag removes tag from repo; it must point at manifest d
// (ErrTagNotAttached). Missing: meta.ErrTagNotFound.
func (s *Service) DeleteTag(ctx context.Context, a project.Actor, projectID int64, repo, tag string, d digest.Digest) error {
	if err := oci.ValidateTag(tag); err != nil {
		return err
	}
	got, err := s.store.Manifests.GetTag(ctx, repo, tag)
	if err != nil {
		return err
	}
	if got != d {
		return fmt.Errorf("%w: tag %s is not attached to %s", ErrTagNotAttached, tag, d)
	}
	if err := s.registry.DeleteManifest(ctx, repo, tag); err != nil {
		return err
	}
	s.record(a, projectID, "delete", "tag", repo+":"+tag)
	return nil
}

// Resolve returns the digest ref (a tag or a digest) names in repo. A tag
// that does not exist: meta.ErrTagNotFound; a digest is returned as is.
func (s *Service) Resolve(ctx context.Context, repo, ref string) (digest.Digest, error) {
	if oci.IsDigest(ref) {
		return oci.ParseDigest(ref)
	}
	if err := oci.ValidateTag(ref); err != nil {
		return "", err
	}
	return s.store.Manifests.GetTag(ctx, repo, ref)
}

// record writes the audit entry of a change inside project projectID.
func (s *Service) record(a project.Actor, projectID int64, operation, resourceType, resource string) {
	s.audit.Record(meta.AuditLog{ProjectID: projectID, Username: truncate(a.Username(), 255), Operation: operation, ResourceType: resourceType,
		Resource: truncate(resource, 1024), ClientIP: a.ClientIP, Result: meta.AuditSuccess})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
