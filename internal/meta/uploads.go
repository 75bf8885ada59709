package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Uploads holds resumable upload sessions.
type Uploads struct{ *handle }

// CreateUpload records a new session. u.CreatedAt/UpdatedAt are set by the store.
func (s *Uploads) CreateUpload(ctx context.Context, u Upload) error {
	if u.ID == "" {
		return errors.New("meta: create upload: empty id")
	}
	hs := u.HashState
	if hs == nil {
		hs = []byte{}
	}
	now := s.timestamp()
	if _, err := s.q.ExecContext(ctx, `
		INSERT INTO uploads (id, repository, storage_key, upload_offset, algorithm, hash_state,
			created_at, updated_at, account)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)`,
		u.ID, u.Repository, u.StorageKey, u.Offset, u.Algorithm, hs, now, u.Account); err != nil {
		return wrapErr(err, "meta: create upload %s", u.ID)
	}
	return nil
}

const uploadColumns = `id, repository, storage_key, upload_offset, algorithm, hash_state, created_at, updated_at`

func scanUpload(row interface{ Scan(...any) error }) (Upload, error) {
	var u Upload
	err := row.Scan(&u.ID, &u.Repository, &u.StorageKey, &u.Offset, &u.Algorithm, &u.HashState,
		&u.CreatedAt, &u.UpdatedAt)
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return u, err
}

// GetUpload returns session id. Missing: ErrUploadNotFound.
func (s *Uploads) GetUpload(ctx context.Context, id string) (Upload, error) {
	u, err := scanUpload(s.q.QueryRowContext(ctx, `
		SELECT `+uploadColumns+` FROM uploads WHERE id = $1`, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Upload{}, fmt.Errorf("upload %s: %w", id, ErrUploadNotFound)
	case err != nil:
		return Upload{}, wrapErr(err, "meta: get upload %s", id)
	}
	return u, nil
}

// AdvanceUpload moves session id from offset from to offset to with the
// new hash state, only if its offset is still from (compare-and-set).
// Otherwise ErrUploadConflict; missing: ErrUploadNotFound.
func (s *Uploads) AdvanceUpload(ctx context.Context, id string, from, to int64, hashState []byte) error {
	if hashState == nil {
		hashState = []byte{}
	}
	res, err := s.q.ExecContext(ctx, `
		UPDATE uploads SET upload_offset = $3, hash_state = $4, updated_at = $5
		WHERE id = $1 AND upload_offset = $2`, id, from, to, hashState, s.timestamp())
	if err != nil {
		return wrapErr(err, "meta: advance upload %s", id)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wrapErr(err, "meta: advance upload %s", id)
	}
	if n == 1 {
		return nil
	}
	if _, err := s.GetUpload(ctx, id); err != nil {
		return err
	}
	return fmt.Errorf("upload %s: offset is no longer %d: %w", id, from, ErrUploadConflict)
}

// DeleteUpload removes session id. Missing: ErrUploadNotFound.
func (s *Uploads) DeleteUpload(ctx context.Context, id string) error {
	res, err := s.q.ExecContext(ctx, `DELETE FROM uploads WHERE id = $1`, id)
	if err != nil {
		return wrapErr(err, "meta: delete upload %s", id)
	}
	return expectOne(res, fmt.Errorf("upload %s: %w", id, ErrUploadNotFound), "meta: delete upload %s", id)
}

// ListStaleUploads returns up to limit sessions last updated before t,
// oldest first.
func (s *Uploads) ListStaleUploads(ctx context.Context, before time.Time, limit int) ([]Upload, error) {
	if limit <= 0 {
		return []Upload{}, nil
	}
	us, err := queryAll(ctx, s.q, scanUpload, `
		SELECT `+uploadColumns+` FROM uploads WHERE updated_at < $1
		ORDER BY updated_at, id LIMIT $2`, before.UTC(), limit)
	if err != nil {
		return nil, wrapErr(err, "meta: list stale uploads")
	}
	return us, nil
}

// CountOpenUploads returns how many upload sessions are open in repository
// repo and how many account opened (in any repository).
func (s *Uploads) CountOpenUploads(ctx context.Context, repo, account string) (inRepo, byAccount int, err error) {
	err = s.q.QueryRowContext(ctx, `
		SELECT (SELECT COUNT(*) FROM uploads WHERE repository = $1),
		       (SELECT COUNT(*) FROM uploads WHERE account = $2)`, repo, account).Scan(&inRepo, &byAccount)
	if err != nil {
		return 0, 0, wrapErr(err, "meta: count uploads of %s and %s", repo, account)
	}
	return inRepo, byAccount, nil
}
