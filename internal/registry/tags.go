package registry

import (
	"context"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/oci"
)

// CreateTag adds tag to repo pointing at manifest d, and drops the tag's
// cache entry. The tag exists already (on any manifest): meta.ErrTagExists;
// the manifest is missing: meta.ErrManifestNotFound.
func (s *Service) CreateTag(ctx context.Context, repo, tag string, d digest.Digest) error {
	if err := oci.ValidateTag(tag); err != nil {
		return err
	}
	rules, err := s.immutableRules(ctx, repo)
	if err != nil {
		return err
	}
	if _, protected := rules.Immutable(tag); protected {
		if _, err := s.store.Manifests.GetTag(ctx, repo, tag); err == nil {
			return rules.Check(tag) // an existing protected tag: no retagging onto it
		}
	}
	if err := s.store.Manifests.CreateTag(ctx, repo, tag, d); err != nil {
		return fmt.Errorf("create tag %s:%s: %w", repo, tag, err)
	}
	s.forget(ctx, repo, tagKey(repo, tag))
	return nil
}
