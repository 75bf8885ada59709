package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
)

// Blobs is the blob aggregate: content-addressed blob rows and their
// links to repositories.
type Blobs struct{ *handle }

const (
	blobColumns    = `digest, size, media_type, storage_key, created_at`
	blobColumnsOfB = `b.digest, b.size, b.media_type, b.storage_key, b.created_at`
)

func scanBlob(row interface{ Scan(...any) error }) (Blob, error) {
	var b Blob
	err := row.Scan(&b.Digest, &b.Size, &b.MediaType, &b.StorageKey, &b.CreatedAt)
	b.CreatedAt = b.CreatedAt.UTC()
	return b, err
}

// PutBlob inserts b unless a blob with b.Digest exists. It returns the
// stored row and whether this call created it (false: b.StorageKey was not
// used and the caller should delete its copy).
func (s *Blobs) PutBlob(ctx context.Context, b Blob) (Blob, bool, error) {
	got, err := scanBlob(s.q.QueryRowContext(ctx, `
		INSERT INTO blobs (digest, size, media_type, storage_key, created_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (digest) DO NOTHING
		RETURNING `+blobColumns, b.Digest, b.Size, b.MediaType, b.StorageKey, s.timestamp()))
	switch {
	case errors.Is(err, sql.ErrNoRows): // it exists
		got, err := s.GetBlob(ctx, b.Digest)
		return got, false, err
	case err != nil:
		return Blob{}, false, wrapErr(err, "meta: put blob %s", b.Digest)
	}
	return got, true, nil
}

// GetBlob returns the blob with digest d. Missing: ErrBlobNotFound.
func (s *Blobs) GetBlob(ctx context.Context, d digest.Digest) (Blob, error) {
	b, err := scanBlob(s.q.QueryRowContext(ctx, `
		SELECT `+blobColumns+` FROM blobs WHERE digest = $1`, d))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Blob{}, fmt.Errorf("blob %s: %w", d, ErrBlobNotFound)
	case err != nil:
		return Blob{}, wrapErr(err, "meta: get blob %s", d)
	}
	return b, nil
}

// LinkBlob links blob d to repository repo (idempotent).
// Missing blob: ErrBlobNotFound; missing repository: ErrRepositoryNotFound.
func (s *Blobs) LinkBlob(ctx context.Context, repo string, d digest.Digest) error {
	res, err := s.q.ExecContext(ctx, `
		INSERT INTO repository_blobs (repository_id, blob_digest, created_at)
		SELECT r.id, b.digest, $3 FROM repositories AS r, blobs AS b
		WHERE r.name = $1 AND b.digest = $2
		ON CONFLICT (repository_id, blob_digest) DO NOTHING`, repo, d, s.timestamp())
	if err != nil {
		return wrapErr(err, "meta: link blob %s to %s", d, repo)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrapErr(err, "meta: link blob %s to %s", d, repo)
	} else if n == 1 {
		return nil
	}
	// Nothing inserted: already linked, or the repository or blob is missing.
	if _, err := s.repos().GetRepository(ctx, repo); err != nil {
		return err
	}
	if _, err := s.GetBlob(ctx, d); err != nil {
		return err
	}
	return nil
}

// GetLinkedBlob returns blob d if it is linked to repo. Missing blob, link
// or repository: ErrBlobNotFound.
func (s *Blobs) GetLinkedBlob(ctx context.Context, repo string, d digest.Digest) (Blob, error) {
	b, err := scanBlob(s.q.QueryRowContext(ctx, `
		SELECT `+blobColumnsOfB+`
		FROM blobs AS b
		JOIN repository_blobs AS rb ON rb.blob_digest = b.digest
		JOIN repositories AS r ON r.id = rb.repository_id
		WHERE r.name = $1 AND b.digest = $2`, repo, d))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Blob{}, fmt.Errorf("blob %s in %s: %w", d, repo, ErrBlobNotFound)
	case err != nil:
		return Blob{}, wrapErr(err, "meta: get blob %s in %s", d, repo)
	}
	return b, nil
}

// UnlinkBlob removes the link between repo and d. Not linked: ErrBlobNotFound.
// The blob row itself stays (garbage collection removes unreferenced blobs).
func (s *Blobs) UnlinkBlob(ctx context.Context, repo string, d digest.Digest) error {
	res, err := s.q.ExecContext(ctx, `
		DELETE FROM repository_blobs
		WHERE repository_id = (SELECT id FROM repositories WHERE name = $1)
		  AND blob_digest = $2`, repo, d)
	if err != nil {
		return wrapErr(err, "meta: unlink blob %s from %s", d, repo)
	}
	return expectOne(res, fmt.Errorf("blob %s in %s: %w", d, repo, ErrBlobNotFound),
		"meta: unlink blob %s from %s", d, repo)
}

// ListBlobs returns up to limit blobs whose digest sorts after after, in
// digest order (for fsck and garbage collection to page through).
func (s *Blobs) ListBlobs(ctx context.Context, after digest.Digest, limit int) ([]Blob, error) {
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
