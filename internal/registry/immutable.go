package registry

import (
	"context"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/immutable"
	"github.com/berth-registry/berth/internal/meta"
)

// Tag immutability (internal/immutable): every change that would move or
// remove a tag a rule of its project protects is refused here, whoever
// asks (system administrators and retention included), with
// *immutable.Error (immutable.ErrImmutable):
//
//   - PutManifest and CopyManifest pointing an existing protected tag at
//     another manifest (pointing it at the manifest it names is a no-op);
//   - CreateTag of a protected tag that exists;
//   - DeleteManifest of a protected tag, or of a manifest a protected tag
//     names;
//   - CheckDeletable, asked before a repository is deleted.
//
// The rules are read before the transaction; the tags inside it.

// immutableRules returns the rules of repo's project (none without a
// checker).
func (s *Service) immutableRules(ctx context.Context, repo string) (immutable.Matcher, error) {
	m, err := s.store.Immutable.For(ctx, repo)
	if err != nil {
		return immutable.Matcher{}, fmt.Errorf("immutable tag rules of %s: %w", repo, err)
	}
	return m, nil
}

// guardRetag refuses to point any protected tag of tags that exists in
// repo at a manifest other than d. tx is the transaction that will write
// the tags.
func guardRetag(ctx context.Context, tx *meta.Store, m immutable.Matcher, repo string, d digest.Digest, tags []string) error {
	if m.Empty() {
		return nil
	}
	for _, t := range tags {
		if _, protected := m.Immutable(t); !protected {
			continue
		}
		cur, err := tx.Manifests.GetTag(ctx, repo, t)
		switch {
		case errors.Is(err, meta.ErrTagNotFound):
			continue // a new tag: it may be created
		case err != nil:
			return err
		case cur != d:
			return m.Check(t)
		}
	}
	return nil
}

// guardManifest refuses to delete manifest d of repo while a protected
// tag names it.
func guardManifest(ctx context.Context, tx *meta.Store, m immutable.Matcher, repo string, d digest.Digest) error {
	if m.Empty() {
		return nil
	}
	a, err := tx.Manifests.GetArtifact(ctx, repo, d)
	if err != nil {
		return err
	}
	for _, t := range a.Tags {
		if err := m.Check(t.Name); err != nil {
			return err
		}
	}
	return nil
}

// CheckDeletable refuses (*immutable.Error) when a tag of repo is
// protected, so that a repository delete is refused before anything goes.
func (s *Service) CheckDeletable(ctx context.Context, repo string) error {
	m, err := s.immutableRules(ctx, repo)
	if err != nil || m.Empty() {
		return err
	}
	after := ""
	for {
		tags, err := s.store.Manifests.ListTags(ctx, repo, after, MaxListLimit)
		if err != nil {
			return err
		}
		for _, t := range tags {
			if err := m.Check(t); err != nil {
				return err
			}
		}
		if len(tags) < MaxListLimit {
			return nil
		}
		after = tags[len(tags)-1]
	}
}
