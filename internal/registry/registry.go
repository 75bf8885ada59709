// Package registry owns the push and pull rules for manifests, tags and
// referrers: a manifest is parsed and every blob and child manifest it
// references is checked before it is stored; tags and referrers are read
// from the metadata database.
//
// It must not import net/http or any edge package.
package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/internal/immutable"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
)

// Errors returned by Service methods, besides those of meta and oci.
var (
	// ErrManifestBlobUnknown: a manifest references a blob the repository lacks.
	ErrManifestBlobUnknown = errors.New("manifest references a blob the repository does not hold")
	// ErrManifestChildUnknown: an index references a manifest the repository lacks.
	ErrManifestChildUnknown = errors.New("index references a manifest the repository does not hold")
	// ErrDigestMismatch: a manifest pushed by digest does not hash to it.
	ErrDigestMismatch = errors.New("manifest digest does not match its content")
	// ErrManifestTooLarge: the payload exceeds oci.MaxManifestSize.
	ErrManifestTooLarge = errors.New("manifest too large")
	// ErrDescriptorSize: a descriptor's size differs from the size of the
	// blob or manifest the repository holds under its digest. It comes
	// wrapped together with oci.ErrManifestInvalid.
	ErrDescriptorSize = errors.New("descriptor size differs from the stored content")
	// ErrManifestReferenced: the manifest cannot be deleted while an index
	// lists it or a referrer names it as subject (*ReferencedError).
	ErrManifestReferenced = errors.New("manifest is referenced")
)

// ReferencedError says which manifest still needs the one being deleted.
// It matches ErrManifestReferenced.
type ReferencedError struct {
	Digest digest.Digest // the manifest being deleted
	By     meta.ManifestDependent
}

func (e *ReferencedError) Error() string {
	what := "index"
	if e.By.Kind == meta.DependentReferrer {
		what = "referrer (its subject)"
	}
	return fmt.Sprintf("manifest %s is referenced by %s %s; delete that first", e.Digest, what, e.By.Digest)
}

func (e *ReferencedError) Unwrap() error { return ErrManifestReferenced }

// MaxListLimit bounds one page of repositories or referrers.
const MaxListLimit = 1000

// MaxTagPage bounds one page of tags/list, and is the page a request
// without n gets. Distribution answers every tag in one response; pages of
// 10,000 keep a listing of 100,000 tags to 11 requests (not 101), each at
// most about 1.3 MB (a tag is at most 128 bytes).
const MaxTagPage = 10000

// Stores are the parts of the metadata store the Service uses; internal/app
// fills them from *meta.Store.
type Stores struct {
	Repos     repoStore     // *meta.Repositories
	Manifests manifestStore // *meta.Manifests
	// Tx runs a manifest PUT (reference checks, manifest, tags) in one
	// transaction: *meta.Store.
	Tx transactor
	// Immutable reads the tag immutability rules (immutable.go); nil:
	// no tag is protected.
	Immutable *immutable.Checker
}

// repoStore is meta.Repositories as the Service uses it.
type repoStore interface {
	ListRepositories(ctx context.Context, after string, limit int) ([]string, error)
}

// manifestStore is meta.Manifests as the Service uses it outside a
// transaction.
type manifestStore interface {
	GetManifest(ctx context.Context, repo string, d digest.Digest) (meta.Manifest, error)
	DeleteManifest(ctx context.Context, repo string, d digest.Digest) error
	ListReferrers(ctx context.Context, repo string, d digest.Digest, artifactType string, limit int) ([]meta.Manifest, error)
	GetTag(ctx context.Context, repo, tag string) (digest.Digest, error)
	ListTags(ctx context.Context, repo, after string, limit int) ([]string, error)
	DeleteTag(ctx context.Context, repo, tag string) error
	CreateTag(ctx context.Context, repo, tag string, d digest.Digest) error // tags.go
}

// transactor runs fn in one metadata transaction (*meta.Store.InTx).
type transactor interface {
	InTx(ctx context.Context, fn func(tx *meta.Store) error) error
}

// Service applies the registry's rules on top of the metadata store.
type Service struct {
	store Stores
	cache Cache
	local *localCache // nil: off (WithLocalCache)
	// tagLists: nil: off (WithLocalCache with a TTL)
	tagLists *tagLists
	log      *slog.Logger
}

// New returns a Service over the stores; cache may be nil.
func New(store Stores, cache Cache, log *slog.Logger) *Service {
	if cache == nil {
		cache = noCache{}
	}
	return &Service{store: store, cache: cache, log: log}
}

// Resolve returns the manifest that ref (a tag or a digest) names in repo.
// Missing: meta.ErrManifestNotFound or meta.ErrTagNotFound.
func (s *Service) Resolve(ctx context.Context, repo, ref string) (meta.Manifest, error) {
	d, err := s.digestOf(ctx, repo, ref)
	if err != nil {
		return meta.Manifest{}, err
	}
	m, err := s.cachedManifest(ctx, repo, d)
	if err != nil {
		return meta.Manifest{}, fmt.Errorf("manifest %s@%s: %w", repo, d, err)
	}
	return m, nil
}

func (s *Service) digestOf(ctx context.Context, repo, ref string) (digest.Digest, error) {
	if oci.IsDigest(ref) {
		return oci.ParseDigest(ref)
	}
	if err := oci.ValidateTag(ref); err != nil {
		return "", err
	}
	d, err := s.cachedTag(ctx, repo, ref)
	if err != nil {
		return "", fmt.Errorf("tag %s:%s: %w", repo, ref, err)
	}
	return d, nil
}

// PutResult tells the edge what was stored.
type PutResult struct {
	Digest  digest.Digest
	Subject digest.Digest // "" when the manifest has no subject
	Tags    []string      // tags now pointing at the manifest
}

// PutManifest verifies and stores payload under ref (a tag or a digest) in
// repo, and points ref (if a tag) and every tag in extraTags at it, all in
// one transaction. contentType is the request's Content-Type.
func (s *Service) PutManifest(ctx context.Context, repo, ref, contentType string, payload []byte, extraTags ...string) (PutResult, error) {
	if len(payload) > oci.MaxManifestSize {
		return PutResult{}, fmt.Errorf("%w: %d bytes, limit %d", ErrManifestTooLarge, len(payload), oci.MaxManifestSize)
	}
	for _, t := range extraTags {
		if err := oci.ValidateTag(t); err != nil {
			return PutResult{}, err
		}
	}
	tags := extraTags
	d := digest.SHA256.FromBytes(payload)
	if oci.IsDigest(ref) {
		want, err := oci.ParseDigest(ref)
		if err != nil {
			return PutResult{}, err
		}
		if got := want.Algorithm().FromBytes(payload); got != want {
			return PutResult{}, fmt.Errorf("%w: pushed as %s, content is %s", ErrDigestMismatch, want, got)
		}
		d = want
	} else {
		if err := oci.ValidateTag(ref); err != nil {
			return PutResult{}, err
		}
		tags = append([]string{ref}, extraTags...)
	}
	p, err := oci.ParseManifest(contentType, payload)
	if err != nil {
		return PutResult{}, err
	}
	m := meta.Manifest{
		Digest:       d,
		MediaType:    p.MediaType,
		ArtifactType: p.ArtifactType,
		Payload:      payload,
		Annotations:  p.Annotations,
	}
	if p.Subject != nil {
		m.Subject = p.Subject.Digest
	}
	rules, err := s.immutableRules(ctx, repo)
	if err != nil {
		return PutResult{}, err
	}
	if ok, err := s.retag(ctx, repo, d, m.MediaType, int64(len(payload)), tags, rules); ok || err != nil {
		if err != nil {
			return PutResult{}, fmt.Errorf("put manifest %s:%s: %w", repo, ref, err)
		}
		s.forget(ctx, repo, tagKeys(repo, tags)...)
		return PutResult{Digest: d, Subject: m.Subject, Tags: tags}, nil
	}
	err = s.store.Tx.InTx(ctx, func(tx *meta.Store) error {
		if err := guardRetag(ctx, tx, rules, repo, d, tags); err != nil {
			return err
		}
		if err := checkReferences(ctx, tx, repo, p); err != nil {
			return err
		}
		if err := tx.Manifests.PutManifest(ctx, repo, m, meta.ManifestRefs{Blobs: p.Blobs, Manifests: p.Manifests}); err != nil {
			return err
		}
		for _, t := range tags {
			if err := tx.Manifests.PutTag(ctx, repo, t, d); err != nil {
				return err
			}
		}
		return appendEvent(ctx, tx, eventPush, repo, d, m.MediaType, int64(len(payload)), tags, m)
	})
	if err != nil {
		s.quotaEvent(ctx, repo, d, err)
		return PutResult{}, fmt.Errorf("put manifest %s:%s: %w", repo, ref, err)
	}
	s.forget(ctx, repo, tagKeys(repo, tags)...)
	return PutResult{Digest: d, Subject: m.Subject, Tags: tags}, nil
}

// retag handles the PUT of a manifest repo already holds (a CI pipeline
// tagging one image many times): its references were checked when it was
// stored and cannot go while it stays, so only the tags are written, in
// one transaction. It reports false when the manifest is not there (or
// went meanwhile): the caller stores it in full.
func (s *Service) retag(ctx context.Context, repo string, d digest.Digest, mediaType string, size int64, tags []string, rules immutable.Matcher) (bool, error) {
	if _, err := s.cachedManifest(ctx, repo, d); err != nil {
		return false, nil // missing, or unreadable: the full path decides
	}
	err := s.store.Tx.InTx(ctx, func(tx *meta.Store) error {
		if err := guardRetag(ctx, tx, rules, repo, d, tags); err != nil {
			return err
		}
		for _, t := range tags {
			if err := tx.Manifests.PutTag(ctx, repo, t, d); err != nil {
				return err
			}
		}
		// Harbor reports a push of a manifest it holds (a new tag) too.
		return appendEvent(ctx, tx, eventPush, repo, d, mediaType, size, tags)
	})
	if errors.Is(err, meta.ErrManifestNotFound) {
		return false, nil
	}
	return err == nil, err
}

func tagKeys(repo string, tags []string) []string {
	keys := make([]string, len(tags))
	for i, t := range tags {
		keys[i] = tagKey(repo, t)
	}
	return keys
}

func checkReferences(ctx context.Context, tx *meta.Store, repo string, p oci.ParsedManifest) error {
	// Lock the blob rows first (in digest order): garbage collection then
	// either finished with a blob before this check (it is unknown) or
	// waits for this transaction and sees the new references.
	if err := tx.Blobs.LockBlobs(ctx, p.Blobs); err != nil {
		return err
	}
	for i, b := range p.Blobs {
		blob, err := tx.Blobs.GetLinkedBlob(ctx, repo, b)
		if err != nil {
			if errors.Is(err, meta.ErrBlobNotFound) {
				return fmt.Errorf("%w: %s", ErrManifestBlobUnknown, b)
			}
			return err
		}
		if i < len(p.BlobSizes) && p.BlobSizes[i] != blob.Size {
			return fmt.Errorf("%w: %w: blob %s has %d bytes, the descriptor says %d", oci.ErrManifestInvalid, ErrDescriptorSize, b, blob.Size, p.BlobSizes[i])
		}
	}
	for i, c := range p.Manifests {
		m, err := tx.Manifests.GetManifest(ctx, repo, c)
		if err != nil {
			if errors.Is(err, meta.ErrManifestNotFound) {
				return fmt.Errorf("%w: %s", ErrManifestChildUnknown, c)
			}
			return err
		}
		if i < len(p.ManifestSizes) && p.ManifestSizes[i] != m.Size {
			return fmt.Errorf("%w: %w: manifest %s has %d bytes, the descriptor says %d", oci.ErrManifestInvalid, ErrDescriptorSize, c, m.Size, p.ManifestSizes[i])
		}
	}
	return nil
}

// DeleteManifest deletes what ref names in repo: with a digest, the
// manifest and every tag pointing at it; with a tag, only the tag. A
// manifest that an index of repo lists, or that a referrer of repo names
// as subject, is not deleted: *ReferencedError (ErrManifestReferenced).
func (s *Service) DeleteManifest(ctx context.Context, repo, ref string) error {
	rules, err := s.immutableRules(ctx, repo)
	if err != nil {
		return err
	}
	if !oci.IsDigest(ref) {
		if err := oci.ValidateTag(ref); err != nil {
			return err
		}
		if _, protected := rules.Immutable(ref); protected {
			if _, err := s.store.Manifests.GetTag(ctx, repo, ref); err != nil {
				return fmt.Errorf("delete tag %s:%s: %w", repo, ref, err)
			}
			return rules.Check(ref)
		}
		if err := s.store.Manifests.DeleteTag(ctx, repo, ref); err != nil {
			return fmt.Errorf("delete tag %s:%s: %w", repo, ref, err)
		}
		s.forget(ctx, repo, tagKey(repo, ref))
		return nil
	}
	d, err := oci.ParseDigest(ref)
	if err != nil {
		return err
	}
	err = s.store.Tx.InTx(ctx, func(tx *meta.Store) error {
		deps, err := tx.Manifests.ListManifestDependents(ctx, repo, d, 1)
		if err != nil {
			return err
		}
		if len(deps) > 0 {
			return &ReferencedError{Digest: d, By: deps[0]}
		}
		if err := guardManifest(ctx, tx, rules, repo, d); err != nil {
			return err
		}
		m, err := tx.Manifests.GetManifest(ctx, repo, d)
		if err != nil {
			return err
		}
		tags, err := tx.Manifests.TagsOf(ctx, repo, d, meta.MaxEventTags)
		if err != nil {
			return err
		}
		if err := tx.Manifests.DeleteManifest(ctx, repo, d); err != nil {
			return err
		}
		return appendEvent(ctx, tx, eventDelete, repo, d, m.MediaType, m.Size, tags)
	})
	if err != nil {
		return fmt.Errorf("delete manifest %s@%s: %w", repo, d, err)
	}
	// Tags that pointed at it are gone from the database; their cache
	// entries expire within tagTTL and resolve to MANIFEST_UNKNOWN meanwhile.
	s.forget(ctx, repo, manifestKey(repo, d))
	return nil
}

// Tags returns up to limit tags of repo after last, and whether more follow.
// Pages come from the in-process tag list once a listing has walked them
// all (tagLists, SQLite only).
func (s *Service) Tags(ctx context.Context, repo, last string, limit int) ([]string, bool, error) {
	limit = clampLimit(limit, MaxTagPage)
	if tags, more, ok := s.tagLists.page(repo, last, limit); ok {
		return tags, more, nil
	}
	gen := s.tagLists.generation()
	tags, err := s.store.Manifests.ListTags(ctx, repo, last, limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("list tags of %s: %w", repo, err)
	}
	page, more, err := trimPage(tags, limit)
	if err == nil {
		s.tagLists.add(repo, gen, last, page, more)
	}
	return page, more, err
}

// Catalog returns up to limit repository names after last, and whether more follow.
func (s *Service) Catalog(ctx context.Context, last string, limit int) ([]string, bool, error) {
	limit = clampLimit(limit, MaxListLimit)
	names, err := s.store.Repos.ListRepositories(ctx, last, limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("list repositories: %w", err)
	}
	return trimPage(names, limit)
}

// clampLimit returns n within 0..max; a negative n means max.
func clampLimit(n, max int) int {
	if n < 0 || n > max {
		return max
	}
	return n
}

func trimPage(items []string, limit int) ([]string, bool, error) {
	if items == nil {
		items = []string{}
	}
	if len(items) > limit {
		return items[:limit], true, nil
	}
	return items, false, nil
}

// Referrers returns the OCI image index listing the manifests of repo whose
// subject is d, filtered by artifactType when it is not empty.
func (s *Service) Referrers(ctx context.Context, repo string, d digest.Digest, artifactType string) ([]byte, error) {
	ms, err := s.store.Manifests.ListReferrers(ctx, repo, d, artifactType, MaxListLimit)
	if err != nil {
		return nil, fmt.Errorf("referrers of %s@%s: %w", repo, d, err)
	}
	idx := v1.Index{MediaType: oci.MediaTypeImageIndex, Manifests: make([]v1.Descriptor, 0, len(ms))}
	idx.SchemaVersion = 2
	for _, m := range ms {
		idx.Manifests = append(idx.Manifests, v1.Descriptor{
			MediaType:    m.MediaType,
			Digest:       m.Digest,
			Size:         m.Size,
			ArtifactType: m.ArtifactType,
			Annotations:  m.Annotations,
		})
	}
	b, err := json.Marshal(idx)
	if err != nil {
		return nil, fmt.Errorf("encode referrers: %w", err)
	}
	return b, nil
}
