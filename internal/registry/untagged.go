package registry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/berth-registry/berth/internal/meta"
)

// UntaggedLister lists untagged manifests to collect
// (meta.Untagged.UntaggedManifests).
type UntaggedLister interface {
	UntaggedManifests(ctx context.Context, before time.Time, limit int) ([]meta.UntaggedManifest, error)
}

// untaggedBatch is how many manifests one query returns.
const untaggedBatch = 100

// CollectUntagged deletes, through DeleteManifest (references and
// immutability checked, blobs queued for garbage collection), up to max
// untagged manifests pushed before before in the projects that ask for
// it. It returns how many went. Manifests refused meanwhile (a new
// reference, a tag) are left; a run stops at the first batch that makes
// no progress.
func (s *Service) CollectUntagged(ctx context.Context, list UntaggedLister, before time.Time, max int) (int, error) {
	deleted := 0
	for deleted < max {
		batch, err := list.UntaggedManifests(ctx, before, min(untaggedBatch, max-deleted))
		if err != nil {
			return deleted, err
		}
		progress := 0
		for _, u := range batch {
			err := s.DeleteManifest(ctx, u.Repository, u.Digest.String())
			switch {
			case err == nil:
				progress++
			case errors.Is(err, meta.ErrManifestNotFound), errors.Is(err, ErrManifestReferenced):
				// gone or needed meanwhile: leave it
			default:
				return deleted + progress, fmt.Errorf("collect untagged %s@%s: %w", u.Repository, u.Digest, err)
			}
		}
		deleted += progress
		if len(batch) < untaggedBatch || progress == 0 {
			break
		}
	}
	return deleted, nil
}
