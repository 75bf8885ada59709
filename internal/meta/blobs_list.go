package meta

import (
	"context"

	"github.com/opencontainers/go-digest"
)

// ListBlobs returns up to limit blobs whose digest sorts after after, in
// digest order (for fsck and garbage collection to page through).
func (s *Store) ListBlobs(ctx context.Context, after digest.Digest, limit int) ([]Blob, error) {
	if limit <= 0 {
		return []Blob{}, nil
	}
	out, err := queryAll(ctx, s.q, scanBlob, `
		SELECT `+blobColumns+` FROM blobs WHERE digest > $1 ORDER BY digest LIMIT $2`, after, limit)
	if err != nil {
		return nil, wrapErr(err, "meta: list blobs")
	}
	return out, nil
}
