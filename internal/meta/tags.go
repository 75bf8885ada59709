package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
)

// ErrTagExists: CreateTag found the tag already there.
var ErrTagExists = errors.New("tag already exists")

// PutTag points tag at manifest d in repo, replacing an earlier target.
// Missing manifest: ErrManifestNotFound.
func (s *Manifests) PutTag(ctx context.Context, repo, tag string, d digest.Digest) error {
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
func (s *Manifests) GetTag(ctx context.Context, repo, tag string) (digest.Digest, error) {
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
func (s *Manifests) ListTags(ctx context.Context, repo, after string, limit int) ([]string, error) {
	r, err := s.repos().GetRepository(ctx, repo)
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
func (s *Manifests) DeleteTag(ctx context.Context, repo, tag string) error {
	res, err := s.q.ExecContext(ctx, `
		DELETE FROM tags
		WHERE repository_id = (SELECT id FROM repositories WHERE name = $1) AND name = $2`, repo, tag)
	if err != nil {
		return wrapErr(err, "meta: delete tag %s:%s", repo, tag)
	}
	return expectOne(res, fmt.Errorf("tag %s:%s: %w", repo, tag, ErrTagNotFound),
		"meta: delete tag %s:%s", repo, tag)
}

// CreateTag adds tag to repo, pointing at manifest d. The tag exists
// already (whatever it points at): ErrTagExists; the manifest is missing:
// ErrManifestNotFound.
func (s *Manifests) CreateTag(ctx context.Context, repo, tag string, d digest.Digest) error {
	res, err := s.q.ExecContext(ctx, `
		INSERT INTO tags (repository_id, name, manifest_digest, updated_at)
		SELECT m.repository_id, $2, m.digest, $4
		FROM manifests AS m JOIN repositories AS r ON r.id = m.repository_id
		WHERE r.name = $1 AND m.digest = $3
		ON CONFLICT (repository_id, name) DO NOTHING`, repo, tag, d, s.timestamp())
	if err != nil {
		return wrapErr(err, "meta: create tag %s:%s", repo, tag)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wrapErr(err, "meta: create tag %s:%s", repo, tag)
	}
	if n == 1 {
		return nil
	}
	if _, err := s.GetManifest(ctx, repo, d); err != nil {
		return err
	}
	return fmt.Errorf("tag %s:%s: %w", repo, tag, ErrTagExists)
}

// TagsOf returns up to limit names of the tags of repo pointing at d, in
// byte order (none: an empty list).
func (s *Manifests) TagsOf(ctx context.Context, repo string, d digest.Digest, limit int) ([]string, error) {
	names, err := queryStrings(ctx, s.q, `
		SELECT t.name FROM tags AS t JOIN repositories AS r ON r.id = t.repository_id
		WHERE r.name = $1 AND t.manifest_digest = $2 ORDER BY t.name LIMIT $3`, repo, d, limit)
	if err != nil {
		return nil, wrapErr(err, "meta: tags of %s in %s", d, repo)
	}
	return names, nil
}
