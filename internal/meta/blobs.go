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
// stored row and whether this call's b.StorageKey is now the blob's
// (false: b.StorageKey was not used and the caller should delete its
// copy). A blob that garbage collection is deleting is given b's storage
// key and lives again; if b.StorageKey is the very key being deleted:
// ErrBlobDeleting (the bytes there are going away).
func (s *Blobs) PutBlob(ctx context.Context, b Blob) (Blob, bool, error) {
	got, err := scanBlob(s.q.QueryRowContext(ctx, `
		INSERT INTO blobs (digest, size, media_type, storage_key, created_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (digest) DO NOTHING
		RETURNING `+blobColumns, b.Digest, b.Size, b.MediaType, b.StorageKey, s.timestamp()))
	switch {
	case errors.Is(err, sql.ErrNoRows): // it exists
		return s.reuseBlob(ctx, b)
	case err != nil:
		return Blob{}, false, wrapErr(err, "meta: put blob %s", b.Digest)
	}
	return got, true, nil
}

// reuseBlob returns the existing row of b.Digest, or revives it with b's
// key when garbage collection is deleting it.
func (s *Blobs) reuseBlob(ctx context.Context, b Blob) (Blob, bool, error) {
	var (
		old      Blob
		deleting bool
	)
	err := s.q.QueryRowContext(ctx, `SELECT `+blobColumns+`, deleting FROM blobs WHERE digest = $1`+s.forUpdate(),
		b.Digest).Scan(&old.Digest, &old.Size, &old.MediaType, &old.StorageKey, &old.CreatedAt, &deleting)
	switch {
	case errors.Is(err, sql.ErrNoRows): // deleted since the insert: try again
		return s.PutBlob(ctx, b)
	case err != nil:
		return Blob{}, false, wrapErr(err, "meta: put blob %s", b.Digest)
	}
	old.CreatedAt = old.CreatedAt.UTC()
	if !deleting {
		return old, old.StorageKey == b.StorageKey, nil
	}
	if old.StorageKey == b.StorageKey {
		return Blob{}, false, fmt.Errorf("put blob %s: %w", b.Digest, ErrBlobDeleting)
	}
	got, err := scanBlob(s.q.QueryRowContext(ctx, `
		UPDATE blobs SET size = $2, storage_key = $3, deleting = FALSE, created_at = $4
		WHERE digest = $1 RETURNING `+blobColumns, b.Digest, b.Size, b.StorageKey, s.timestamp()))
	if err != nil {
		return Blob{}, false, wrapErr(err, "meta: revive blob %s", b.Digest)
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

// LinkBlob links blob d to repository repo, or refreshes the link's time
// (idempotent), counts d in the repository's project and (re)queues a
// garbage-collection review after the grace period, so the blob stays at
// least that long for the manifest that will reference it.
// Missing blob, or one being deleted: ErrBlobNotFound; missing repository:
// ErrRepositoryNotFound; the project's quota would be exceeded:
// *QuotaExceededError.
func (s *Blobs) LinkBlob(ctx context.Context, repo string, d digest.Digest) error {
	return s.inTx(ctx, func(tx *handle) error {
		var (
			size     int64
			deleting bool
		)
		err := tx.q.QueryRowContext(ctx, `SELECT size, deleting FROM blobs WHERE digest = $1`+tx.forUpdate(), d).
			Scan(&size, &deleting)
		switch {
		case errors.Is(err, sql.ErrNoRows) || (err == nil && deleting):
			return fmt.Errorf("blob %s: %w", d, ErrBlobNotFound)
		case err != nil:
			return wrapErr(err, "meta: link blob %s to %s", d, repo)
		}
		r, err := tx.repos().GetRepository(ctx, repo)
		if err != nil {
			return err
		}
		now := tx.timestamp()
		if _, err := tx.q.ExecContext(ctx, `
			INSERT INTO repository_blobs (repository_id, blob_digest, created_at, linked_at)
			VALUES ($1, $2, $3, $3)
			ON CONFLICT (repository_id, blob_digest) DO UPDATE SET linked_at = excluded.linked_at`,
			r.ID, d, now); err != nil {
			return wrapErr(err, "meta: link blob %s to %s", d, repo)
		}
		if err := tx.enqueueReview(ctx, d, "linked"); err != nil {
			return err
		}
		return tx.holdInProject(ctx, repo, d, size)
	})
}

// LockBlobs locks the rows of the blobs ds until the transaction ends (a
// manifest PUT does this before checking them, so garbage collection
// either sees its references or has already made the blobs unknown).
// Outside a transaction it has no lasting effect.
func (s *Blobs) LockBlobs(ctx context.Context, ds []digest.Digest) error {
	return s.lockBlobs(ctx, ds)
}

// GetLinkedBlob returns blob d if it is linked to repo. Missing blob, link
// or repository: ErrBlobNotFound.
func (s *Blobs) GetLinkedBlob(ctx context.Context, repo string, d digest.Digest) (Blob, error) {
	b, err := scanBlob(s.q.QueryRowContext(ctx, `
		SELECT `+blobColumnsOfB+`
		FROM blobs AS b
		JOIN repository_blobs AS rb ON rb.blob_digest = b.digest
		JOIN repositories AS r ON r.id = rb.repository_id
		WHERE r.name = $1 AND b.digest = $2 AND NOT b.deleting`, repo, d))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Blob{}, fmt.Errorf("blob %s in %s: %w", d, repo, ErrBlobNotFound)
	case err != nil:
		return Blob{}, wrapErr(err, "meta: get blob %s in %s", d, repo)
	}
	return b, nil
}

// UnlinkBlob removes the link between repo and d, stops counting d in the
// project when nothing else there holds it, and queues a review of the
// blob. Not linked: ErrBlobNotFound.
func (s *Blobs) UnlinkBlob(ctx context.Context, repo string, d digest.Digest) error {
	return s.inTx(ctx, func(tx *handle) error {
		if err := tx.lockBlobs(ctx, []digest.Digest{d}); err != nil {
			return err
		}
		res, err := tx.q.ExecContext(ctx, `
			DELETE FROM repository_blobs
			WHERE repository_id = (SELECT id FROM repositories WHERE name = $1)
			  AND blob_digest = $2`, repo, d)
		if err != nil {
			return wrapErr(err, "meta: unlink blob %s from %s", d, repo)
		}
		if err := expectOne(res, fmt.Errorf("blob %s in %s: %w", d, repo, ErrBlobNotFound),
			"meta: unlink blob %s from %s", d, repo); err != nil {
			return err
		}
		if err := tx.enqueueReview(ctx, d, "unlinked"); err != nil {
			return err
		}
		return tx.releaseRepoDigests(ctx, repo, []digest.Digest{d})
	})
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
