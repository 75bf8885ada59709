package registry

import (
	"context"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
)

// MaxCopyManifests bounds how many manifests one copy stores (an index,
// its children, theirs ...).
const MaxCopyManifests = 1000

// ErrCopyTooLarge: the artifact to copy lists more than MaxCopyManifests
// manifests.
var ErrCopyTooLarge = errors.New("artifact has too many manifests to copy")

// CopyManifest makes manifest d of repository src, with every manifest it
// lists (an index's children, recursively), part of repository dst, and
// points tags at it there. No byte is copied in storage: the blobs the
// manifests reference are linked to dst and the payloads are stored again
// in the database, with the references checked as a push checks them. It
// is one transaction. A missing source: meta.ErrManifestNotFound.
func (s *Service) CopyManifest(ctx context.Context, src, dst string, d digest.Digest, tags []string) error {
	for _, t := range tags {
		if err := oci.ValidateTag(t); err != nil {
			return err
		}
	}
	rules, err := s.immutableRules(ctx, dst)
	if err != nil {
		return err
	}
	err = s.store.Tx.InTx(ctx, func(tx *meta.Store) error {
		if err := guardRetag(ctx, tx, rules, dst, d, tags); err != nil {
			return err
		}
		order, err := manifestsToCopy(ctx, tx, src, d)
		if err != nil {
			return err
		}
		if _, err := tx.Repos.EnsureRepository(ctx, dst); err != nil {
			return err
		}
		// Children come first in order, so each manifest's references are
		// in dst by the time it is checked.
		for _, c := range order {
			for _, b := range c.parsed.Blobs {
				if _, err := tx.Blobs.GetLinkedBlob(ctx, src, b); err != nil {
					return err
				}
				if err := tx.Blobs.LinkBlob(ctx, dst, b); err != nil {
					return err
				}
			}
			if err := checkReferences(ctx, tx, dst, c.parsed); err != nil {
				return err
			}
			m := c.manifest
			if err := tx.Manifests.PutManifest(ctx, dst, m, meta.ManifestRefs{Blobs: c.parsed.Blobs, Manifests: c.parsed.Manifests}); err != nil {
				return err
			}
		}
		for _, t := range tags {
			if err := tx.Manifests.PutTag(ctx, dst, t, d); err != nil {
				return err
			}
		}
		top := order[len(order)-1].manifest
		return appendEvent(ctx, tx, eventPush, dst, d, top.MediaType, int64(len(top.Payload)), tags)
	})
	if err != nil {
		return fmt.Errorf("copy %s@%s to %s: %w", src, d, dst, err)
	}
	s.forget(ctx, dst, tagKeys(dst, tags)...)
	return nil
}

type manifestCopy struct {
	manifest meta.Manifest
	parsed   oci.ParsedManifest
}

// manifestsToCopy returns d and every manifest it lists in src, children
// before their parents, each once.
func manifestsToCopy(ctx context.Context, tx *meta.Store, src string, d digest.Digest) ([]manifestCopy, error) {
	var (
		order []manifestCopy
		seen  = map[digest.Digest]bool{}
		visit func(d digest.Digest) error
	)
	visit = func(d digest.Digest) error {
		if seen[d] {
			return nil
		}
		seen[d] = true
		if len(seen) > MaxCopyManifests {
			return fmt.Errorf("%w (limit %d)", ErrCopyTooLarge, MaxCopyManifests)
		}
		m, err := tx.Manifests.GetManifest(ctx, src, d)
		if err != nil {
			return err
		}
		p, err := oci.ParseManifest(m.MediaType, m.Payload)
		if err != nil {
			return fmt.Errorf("stored manifest %s@%s: %w", src, d, err)
		}
		for _, c := range p.Manifests {
			if err := visit(c); err != nil {
				return err
			}
		}
		order = append(order, manifestCopy{manifest: m, parsed: p})
		return nil
	}
	if err := visit(d); err != nil {
		return nil, err
	}
	return order, nil
}
