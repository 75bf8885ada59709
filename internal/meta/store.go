package meta

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"
)

// querier is what *sql.DB and *sql.Tx have in common; every query runs on
// one, so a Store inside InTx runs the very same code on its transaction.
type querier interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

var (
	_ querier = (*sql.DB)(nil)
	_ querier = (*sql.Tx)(nil)
)

// Store is the metadata store over SQLite or PostgreSQL. It is safe for
// concurrent use. Methods that find nothing return the package's sentinel
// errors (never a zero value and nil); failures to reach the database match
// ErrUnavailable.
type Store struct {
	db      *sql.DB // nil inside InTx
	q       querier // db, or the transaction
	dialect dialect
	now     func() time.Time
}

func newStore(db *sql.DB, d dialect) *Store {
	return &Store{db: db, q: db, dialect: d, now: time.Now}
}

// timestamp is the store's clock in UTC, at the microsecond precision both
// engines keep.
func (s *Store) timestamp() time.Time {
	return s.now().UTC().Truncate(time.Microsecond)
}

// InTx runs fn in one transaction and commits only if fn returns nil.
// The *Store given to fn runs every call inside that transaction. Called on
// a Store that is already inside InTx, fn joins the outer transaction.
func (s *Store) InTx(ctx context.Context, fn func(tx *Store) error) error {
	if s.db == nil {
		return fn(s)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrapErr(err, "meta: begin")
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := fn(&Store{q: tx, dialect: s.dialect, now: s.now}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return wrapErr(err, "meta: commit")
	}
	return nil
}

// Close releases the database. Inside InTx it does nothing.
func (s *Store) Close() error {
	if s.db == nil {
		return nil
	}
	return s.db.Close()
}

// Ping checks that the database answers (readiness).
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.q.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return wrapErr(err, "meta: ping %s", s.dialect)
	}
	return nil
}

// --- repositories ---

// EnsureRepository returns the repository named name, creating it if absent.
func (s *Store) EnsureRepository(ctx context.Context, name string) (Repository, error) {
	r := Repository{Name: name}
	err := s.q.QueryRowContext(ctx, `
		INSERT INTO repositories (name, created_at) VALUES ($1, $2)
		ON CONFLICT (name) DO NOTHING
		RETURNING id, created_at`, name, s.timestamp()).Scan(&r.ID, &r.CreatedAt)
	switch {
	case errors.Is(err, sql.ErrNoRows): // it exists
		return s.GetRepository(ctx, name)
	case err != nil:
		return Repository{}, wrapErr(err, "meta: ensure repository %s", name)
	}
	r.CreatedAt = r.CreatedAt.UTC()
	return r, nil
}

// GetRepository returns the repository named name. Missing: ErrRepositoryNotFound.
func (s *Store) GetRepository(ctx context.Context, name string) (Repository, error) {
	r := Repository{Name: name}
	err := s.q.QueryRowContext(ctx, `
		SELECT id, created_at FROM repositories WHERE name = $1`, name).Scan(&r.ID, &r.CreatedAt)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Repository{}, fmt.Errorf("repository %s: %w", name, ErrRepositoryNotFound)
	case err != nil:
		return Repository{}, wrapErr(err, "meta: get repository %s", name)
	}
	r.CreatedAt = r.CreatedAt.UTC()
	return r, nil
}

// ListRepositories returns up to limit repository names greater than after,
// in lexical (byte) order.
func (s *Store) ListRepositories(ctx context.Context, after string, limit int) ([]string, error) {
	if limit <= 0 {
		return []string{}, nil
	}
	names, err := queryStrings(ctx, s.q, `
		SELECT name FROM repositories WHERE name > $1 ORDER BY name LIMIT $2`, after, limit)
	if err != nil {
		return nil, wrapErr(err, "meta: list repositories")
	}
	return names, nil
}

// --- blobs ---

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
func (s *Store) PutBlob(ctx context.Context, b Blob) (Blob, bool, error) {
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
func (s *Store) GetBlob(ctx context.Context, d digest.Digest) (Blob, error) {
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
func (s *Store) LinkBlob(ctx context.Context, repo string, d digest.Digest) error {
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
	if _, err := s.GetRepository(ctx, repo); err != nil {
		return err
	}
	if _, err := s.GetBlob(ctx, d); err != nil {
		return err
	}
	return nil
}

// GetLinkedBlob returns blob d if it is linked to repo. Missing blob, link
// or repository: ErrBlobNotFound.
func (s *Store) GetLinkedBlob(ctx context.Context, repo string, d digest.Digest) (Blob, error) {
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
func (s *Store) UnlinkBlob(ctx context.Context, repo string, d digest.Digest) error {
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

// --- manifests ---

// PutManifest stores m in repository repo (created if absent) with its
// references, unless the repository already holds m.Digest (then it is a
// no-op returning nil). m.RepositoryID, m.ID, m.Size and m.CreatedAt are
// ignored.
// It is atomic; inside InTx it uses that transaction. References are
// stored by digest: checking that they exist is the caller's job.
func (s *Store) PutManifest(ctx context.Context, repo string, m Manifest, refs ManifestRefs) error {
	if m.Digest == "" {
		return errors.New("meta: put manifest: empty digest")
	}
	var annotations any // NULL when there are none
	if len(m.Annotations) > 0 {
		b, err := json.Marshal(m.Annotations)
		if err != nil {
			return fmt.Errorf("meta: put manifest %s: annotations: %w", m.Digest, err)
		}
		annotations = string(b)
	}
	var subject any
	if m.Subject != "" {
		subject = string(m.Subject)
	}
	payload := m.Payload
	if payload == nil {
		payload = []byte{}
	}
	return s.InTx(ctx, func(tx *Store) error {
		r, err := tx.EnsureRepository(ctx, repo)
		if err != nil {
			return err
		}
		var id int64
		err = tx.q.QueryRowContext(ctx, `
			INSERT INTO manifests (repository_id, digest, media_type, artifact_type, payload,
				subject_digest, annotations, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (repository_id, digest) DO NOTHING
			RETURNING id`,
			r.ID, m.Digest, m.MediaType, m.ArtifactType, payload, subject, annotations, tx.timestamp(),
		).Scan(&id)
		switch {
		case errors.Is(err, sql.ErrNoRows): // already stored
			return nil
		case err != nil:
			return wrapErr(err, "meta: put manifest %s in %s", m.Digest, repo)
		}
		for _, d := range uniqueDigests(refs.Blobs) {
			if _, err := tx.q.ExecContext(ctx, `
				INSERT INTO manifest_blob_refs (manifest_id, blob_digest) VALUES ($1, $2)`, id, d); err != nil {
				return wrapErr(err, "meta: put manifest %s in %s: blob ref %s", m.Digest, repo, d)
			}
		}
		for _, d := range uniqueDigests(refs.Manifests) {
			if _, err := tx.q.ExecContext(ctx, `
				INSERT INTO manifest_manifest_refs (manifest_id, child_digest) VALUES ($1, $2)`, id, d); err != nil {
				return wrapErr(err, "meta: put manifest %s in %s: manifest ref %s", m.Digest, repo, d)
			}
		}
		return nil
	})
}

func uniqueDigests(ds []digest.Digest) []digest.Digest {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return slices.Compact(ds)
}

// GetManifest returns manifest d of repo. Missing: ErrManifestNotFound.
func (s *Store) GetManifest(ctx context.Context, repo string, d digest.Digest) (Manifest, error) {
	var (
		m           Manifest
		subject     sql.NullString
		annotations sql.NullString
	)
	err := s.q.QueryRowContext(ctx, `
		SELECT m.id, m.repository_id, m.digest, m.media_type, m.artifact_type, m.payload,
			m.subject_digest, m.annotations, m.created_at
		FROM manifests AS m JOIN repositories AS r ON r.id = m.repository_id
		WHERE r.name = $1 AND m.digest = $2`, repo, d).Scan(
		&m.ID, &m.RepositoryID, &m.Digest, &m.MediaType, &m.ArtifactType, &m.Payload,
		&subject, &annotations, &m.CreatedAt)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Manifest{}, fmt.Errorf("manifest %s in %s: %w", d, repo, ErrManifestNotFound)
	case err != nil:
		return Manifest{}, wrapErr(err, "meta: get manifest %s in %s", d, repo)
	}
	if err := fillManifest(&m, subject, annotations); err != nil {
		return Manifest{}, err
	}
	m.Size = int64(len(m.Payload))
	return m, nil
}

func fillManifest(m *Manifest, subject, annotations sql.NullString) error {
	m.CreatedAt = m.CreatedAt.UTC()
	m.Subject = digest.Digest(subject.String)
	if annotations.Valid && annotations.String != "" {
		if err := json.Unmarshal([]byte(annotations.String), &m.Annotations); err != nil {
			return fmt.Errorf("meta: manifest %s: annotations: %w", m.Digest, err)
		}
	}
	return nil
}

// DeleteManifest deletes manifest d of repo, its references and every tag
// pointing at it. Missing: ErrManifestNotFound.
func (s *Store) DeleteManifest(ctx context.Context, repo string, d digest.Digest) error {
	return s.InTx(ctx, func(tx *Store) error {
		var id, repoID int64
		err := tx.q.QueryRowContext(ctx, `
			SELECT m.id, m.repository_id
			FROM manifests AS m JOIN repositories AS r ON r.id = m.repository_id
			WHERE r.name = $1 AND m.digest = $2`, repo, d).Scan(&id, &repoID)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("manifest %s in %s: %w", d, repo, ErrManifestNotFound)
		case err != nil:
			return wrapErr(err, "meta: delete manifest %s in %s", d, repo)
		}
		// The foreign keys cascade too; deleting explicitly does not depend
		// on them being enforced.
		for _, q := range []struct {
			query string
			args  []any
		}{
			{`DELETE FROM tags WHERE repository_id = $1 AND manifest_digest = $2`, []any{repoID, d}},
			{`DELETE FROM manifest_blob_refs WHERE manifest_id = $1`, []any{id}},
			{`DELETE FROM manifest_manifest_refs WHERE manifest_id = $1`, []any{id}},
			{`DELETE FROM manifests WHERE id = $1`, []any{id}},
		} {
			if _, err := tx.q.ExecContext(ctx, q.query, q.args...); err != nil {
				return wrapErr(err, "meta: delete manifest %s in %s", d, repo)
			}
		}
		return nil
	})
}

// ListReferrers returns the manifests of repo whose subject is d,
// optionally only those whose ArtifactType equals artifactType, ordered by
// digest, at most limit of them. Payload is not loaded. A repository that
// does not exist has no referrers (empty list, no error).
func (s *Store) ListReferrers(ctx context.Context, repo string, d digest.Digest, artifactType string, limit int) ([]Manifest, error) {
	if limit <= 0 {
		return []Manifest{}, nil
	}
	rows, err := s.q.QueryContext(ctx, `
		SELECT m.id, m.repository_id, m.digest, m.media_type, m.artifact_type,
			m.subject_digest, m.annotations, m.created_at, length(m.payload)
		FROM manifests AS m JOIN repositories AS r ON r.id = m.repository_id
		WHERE r.name = $1 AND m.subject_digest = $2
		  AND (m.artifact_type = $3 OR $3 = '')
		ORDER BY m.digest
		LIMIT $4`, repo, d, artifactType, limit)
	if err != nil {
		return nil, wrapErr(err, "meta: list referrers of %s in %s", d, repo)
	}
	defer rows.Close()
	ms := []Manifest{}
	for rows.Next() {
		var (
			m                    Manifest
			subject, annotations sql.NullString
		)
		if err := rows.Scan(&m.ID, &m.RepositoryID, &m.Digest, &m.MediaType, &m.ArtifactType,
			&subject, &annotations, &m.CreatedAt, &m.Size); err != nil {
			return nil, wrapErr(err, "meta: list referrers of %s in %s", d, repo)
		}
		if err := fillManifest(&m, subject, annotations); err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapErr(err, "meta: list referrers of %s in %s", d, repo)
	}
	return ms, nil
}

// --- tags ---

// PutTag points tag at manifest d in repo, replacing an earlier target.
// Missing manifest: ErrManifestNotFound.
func (s *Store) PutTag(ctx context.Context, repo, tag string, d digest.Digest) error {
	res, err := s.q.ExecContext(ctx, `
		INSERT INTO tags (repository_id, name, manifest_digest, updated_at)
		SELECT m.repository_id, $2, m.digest, $4
		FROM manifests AS m JOIN repositories AS r ON r.id = m.repository_id
		WHERE r.name = $1 AND m.digest = $3
		ON CONFLICT (repository_id, name)
		DO UPDATE SET manifest_digest = excluded.manifest_digest, updated_at = excluded.updated_at`,
		repo, tag, d, s.timestamp())
	if err != nil {
		return wrapErr(err, "meta: put tag %s:%s", repo, tag)
	}
	return expectOne(res, fmt.Errorf("tag %s:%s -> %s: %w", repo, tag, d, ErrManifestNotFound),
		"meta: put tag %s:%s", repo, tag)
}

// GetTag returns the manifest digest tag points at. Missing: ErrTagNotFound.
func (s *Store) GetTag(ctx context.Context, repo, tag string) (digest.Digest, error) {
	var d digest.Digest
	err := s.q.QueryRowContext(ctx, `
		SELECT t.manifest_digest
		FROM tags AS t JOIN repositories AS r ON r.id = t.repository_id
		WHERE r.name = $1 AND t.name = $2`, repo, tag).Scan(&d)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", fmt.Errorf("tag %s:%s: %w", repo, tag, ErrTagNotFound)
	case err != nil:
		return "", wrapErr(err, "meta: get tag %s:%s", repo, tag)
	}
	return d, nil
}

// ListTags returns up to limit tag names of repo greater than after, in
// lexical (byte) order. Missing repository: ErrRepositoryNotFound.
func (s *Store) ListTags(ctx context.Context, repo, after string, limit int) ([]string, error) {
	r, err := s.GetRepository(ctx, repo)
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		return []string{}, nil
	}
	names, err := queryStrings(ctx, s.q, `
		SELECT name FROM tags WHERE repository_id = $1 AND name > $2
		ORDER BY name LIMIT $3`, r.ID, after, limit)
	if err != nil {
		return nil, wrapErr(err, "meta: list tags of %s", repo)
	}
	return names, nil
}

// DeleteTag removes tag from repo. Missing: ErrTagNotFound.
func (s *Store) DeleteTag(ctx context.Context, repo, tag string) error {
	res, err := s.q.ExecContext(ctx, `
		DELETE FROM tags
		WHERE repository_id = (SELECT id FROM repositories WHERE name = $1) AND name = $2`, repo, tag)
	if err != nil {
		return wrapErr(err, "meta: delete tag %s:%s", repo, tag)
	}
	return expectOne(res, fmt.Errorf("tag %s:%s: %w", repo, tag, ErrTagNotFound),
		"meta: delete tag %s:%s", repo, tag)
}

// --- uploads ---

// CreateUpload records a new session. u.CreatedAt/UpdatedAt are set by the store.
func (s *Store) CreateUpload(ctx context.Context, u Upload) error {
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
func (s *Store) GetUpload(ctx context.Context, id string) (Upload, error) {
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
func (s *Store) AdvanceUpload(ctx context.Context, id string, from, to int64, hashState []byte) error {
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
func (s *Store) DeleteUpload(ctx context.Context, id string) error {
	res, err := s.q.ExecContext(ctx, `DELETE FROM uploads WHERE id = $1`, id)
	if err != nil {
		return wrapErr(err, "meta: delete upload %s", id)
	}
	return expectOne(res, fmt.Errorf("upload %s: %w", id, ErrUploadNotFound), "meta: delete upload %s", id)
}

// ListStaleUploads returns up to limit sessions last updated before t,
// oldest first.
func (s *Store) ListStaleUploads(ctx context.Context, before time.Time, limit int) ([]Upload, error) {
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

// --- helpers ---

func queryStrings(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	return queryAll(ctx, q, func(row rowScanner) (string, error) {
		var v string
		err := row.Scan(&v)
		return v, err
	}, query, args...)
}

// expectOne returns nil if res affected a row, and notFound if none.
func expectOne(res sql.Result, notFound error, format string, args ...any) error {
	n, err := res.RowsAffected()
	if err != nil {
		return wrapErr(err, format, args...)
	}
	if n == 0 {
		return notFound
	}
	return nil
}
