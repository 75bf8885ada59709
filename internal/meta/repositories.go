package meta

import (
	"github.com/opencontainers/go-digest"

	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Repositories is the repository aggregate: repository rows, their
// listings and read models (artifact counts, search), and whole-repository
// deletion.
type Repositories struct{ *handle }

// EnsureRepository returns the repository named name, creating it if absent.
func (s *Repositories) EnsureRepository(ctx context.Context, name string) (Repository, error) {
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
func (s *Repositories) GetRepository(ctx context.Context, name string) (Repository, error) {
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
func (s *Repositories) ListRepositories(ctx context.Context, after string, limit int) ([]string, error) {
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

// CountProjectRepositories returns how many repositories belong to the
// project named name (name itself, or names under name/).
func (s *Repositories) CountProjectRepositories(ctx context.Context, name string) (int, error) {
	prefix := name + "/"
	var n int
	err := s.q.QueryRowContext(ctx, `
		SELECT count(*) FROM repositories WHERE name = $1 OR substr(name, 1, $3) = $2`,
		name, prefix, len(prefix)).Scan(&n)
	if err != nil {
		return 0, wrapErr(err, "meta: count repositories of project %s", name)
	}
	return n, nil
}

// RepositoryInfo is a repository with its artifact count and the time of
// its last change (a manifest pushed or a tag moved).
type RepositoryInfo struct {
	ID            int64
	Name          string
	Description   string
	ArtifactCount int
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// topLevel is the condition "manifest alias m is an artifact of its own":
// not a child of an index in its repository nor a referrer (it has no
// subject), unless a tag names it. Harbor lists those; the others show
// under their parent.
//
// The index test starts from the references to m's digest (an index
// lookup) and only then checks their parent's repository: joining the
// parents first made SQLite scan every manifest of the repository for each
// row (quadratic; seconds at 10,000 artifacts).
const topLevel = `((m.subject_digest IS NULL AND NOT EXISTS (
		SELECT 1 FROM manifest_manifest_refs AS mr WHERE mr.child_digest = m.digest AND EXISTS (
			SELECT 1 FROM manifests AS pm WHERE pm.id = mr.manifest_id AND pm.repository_id = m.repository_id)))
	OR EXISTS (SELECT 1 FROM tags AS tt WHERE tt.repository_id = m.repository_id AND tt.manifest_digest = m.digest))`

const repositoryInfoColumns = `r.id, r.name, r.description, r.created_at,
	(SELECT count(*) FROM manifests AS m WHERE m.repository_id = r.id AND ` + topLevel + `),
	(SELECT max(m.created_at) FROM manifests AS m WHERE m.repository_id = r.id),
	(SELECT max(t.updated_at) FROM tags AS t WHERE t.repository_id = r.id)`

func scanRepositoryInfo(row interface{ Scan(...any) error }) (RepositoryInfo, error) {
	var (
		ri             RepositoryInfo
		pushed, tagged flexTime
	)
	if err := row.Scan(&ri.ID, &ri.Name, &ri.Description, &ri.CreatedAt, &ri.ArtifactCount, &pushed, &tagged); err != nil {
		return RepositoryInfo{}, err
	}
	ri.CreatedAt = ri.CreatedAt.UTC()
	ri.UpdatedAt = ri.CreatedAt
	for _, t := range []flexTime{pushed, tagged} {
		if t.Valid && t.Time.After(ri.UpdatedAt) {
			ri.UpdatedAt = t.Time
		}
	}
	return ri, nil
}

// ListProjectRepositories returns one page of the repositories of project
// project whose name contains name (case-insensitively for ASCII; "" for
// all), ordered by name, and how many match in all.
func (s *Repositories) ListProjectRepositories(ctx context.Context, project, name string, pg Page) ([]RepositoryInfo, int, error) {
	prefix := project + "/"
	const where = ` FROM repositories AS r WHERE (r.name = $1 OR substr(r.name, 1, $2) = $3)
		AND lower(r.name) LIKE $4 ESCAPE '\'`
	args := []any{project, len(prefix), prefix, likePattern(name)}
	var total int
	if err := s.q.QueryRowContext(ctx, `SELECT count(*)`+where, args...).Scan(&total); err != nil {
		return nil, 0, wrapErr(err, "meta: list repositories of %s", project)
	}
	if pg.Limit <= 0 {
		return []RepositoryInfo{}, total, nil
	}
	out, err := queryAll(ctx, s.q, scanRepositoryInfo, `SELECT `+repositoryInfoColumns+where+`
		ORDER BY r.name LIMIT $5 OFFSET $6`, append(args, pg.Limit, max(pg.Offset, 0))...)
	if err != nil {
		return nil, 0, wrapErr(err, "meta: list repositories of %s", project)
	}
	return out, total, nil
}

// GetRepositoryInfo returns repository name with its counts. Missing:
// ErrRepositoryNotFound.
func (s *Repositories) GetRepositoryInfo(ctx context.Context, name string) (RepositoryInfo, error) {
	ri, err := scanRepositoryInfo(s.q.QueryRowContext(ctx, `SELECT `+repositoryInfoColumns+`
		FROM repositories AS r WHERE r.name = $1`, name))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return RepositoryInfo{}, fmt.Errorf("repository %s: %w", name, ErrRepositoryNotFound)
	case err != nil:
		return RepositoryInfo{}, wrapErr(err, "meta: get repository %s", name)
	}
	return ri, nil
}

// DeleteRepository deletes repository name with its manifests, tags,
// references and blob links, in one transaction. Blob rows stay: each is
// queued for a garbage collection review. Missing: ErrRepositoryNotFound.
func (s *Repositories) DeleteRepository(ctx context.Context, name string) error {
	return s.inTx(ctx, func(tx *handle) error {
		r, err := tx.repos().GetRepository(ctx, name)
		if err != nil {
			return err
		}
		// Everything the repository links or references is reviewed by
		// garbage collection and released from the project's quota.
		blobs, err := tx.manifestBlobs(ctx, `manifest_id IN (SELECT id FROM manifests WHERE repository_id = $1)
			UNION SELECT blob_digest FROM repository_blobs WHERE repository_id = $1`, r.ID)
		if err != nil {
			return err
		}
		manifests, err := queryStrings(ctx, tx.q, `SELECT digest FROM manifests WHERE repository_id = $1`, r.ID)
		if err != nil {
			return wrapErr(err, "meta: delete repository %s", name)
		}
		if err := tx.lockBlobs(ctx, blobs); err != nil {
			return err
		}
		for _, b := range blobs {
			if err := tx.enqueueReview(ctx, b, "repository_deleted"); err != nil {
				return err
			}
		}
		// Children first; explicit, so as not to depend on foreign keys
		// being enforced.
		for _, q := range []string{
			`DELETE FROM tags WHERE repository_id = $1`,
			`DELETE FROM manifest_blob_refs WHERE manifest_id IN (SELECT id FROM manifests WHERE repository_id = $1)`,
			`DELETE FROM manifest_manifest_refs WHERE manifest_id IN (SELECT id FROM manifests WHERE repository_id = $1)`,
			`DELETE FROM manifests WHERE repository_id = $1`,
			`DELETE FROM repository_blobs WHERE repository_id = $1`,
			`DELETE FROM repositories WHERE id = $1`,
		} {
			if _, err := tx.q.ExecContext(ctx, q, r.ID); err != nil {
				return wrapErr(err, "meta: delete repository %s", name)
			}
		}
		for _, m := range manifests {
			blobs = append(blobs, digest.Digest(m))
		}
		return tx.releaseRepoDigests(ctx, name, blobs)
	})
}

// RepositoryHit is a repository found by SearchRepositories or
// ListRepositoryHits, with its project.
type RepositoryHit struct {
	RepositoryInfo
	ProjectID     int64
	ProjectName   string
	ProjectPublic bool
}

func scanRepositoryHit(row rowScanner) (RepositoryHit, error) {
	var (
		h              RepositoryHit
		pushed, tagged flexTime
	)
	if err := row.Scan(&h.ID, &h.Name, &h.Description, &h.CreatedAt, &h.ArtifactCount, &pushed, &tagged,
		&h.ProjectID, &h.ProjectName, &h.ProjectPublic); err != nil {
		return RepositoryHit{}, err
	}
	h.CreatedAt = h.CreatedAt.UTC()
	h.UpdatedAt = h.CreatedAt
	for _, t := range []flexTime{pushed, tagged} {
		if t.Valid && t.Time.After(h.UpdatedAt) {
			h.UpdatedAt = t.Time
		}
	}
	return h, nil
}

// repositoryHitFrom joins every repository to its project (the project
// named by its first path component).
const repositoryHitFrom = `
	FROM repositories AS r JOIN projects AS p
		ON r.name = p.name OR substr(r.name, 1, length(p.name) + 1) = p.name || '/'`

// SearchRepositories returns up to limit repositories whose name contains
// q (case-insensitively for ASCII) in projects visible under v, ordered
// by name.
func (s *Repositories) SearchRepositories(ctx context.Context, q string, v Visibility, limit int) ([]RepositoryHit, error) {
	hits, _, err := s.ListRepositoryHits(ctx, RepositoryQuery{Name: q, Visible: v}, Page{Limit: limit})
	if err != nil {
		return nil, fmt.Errorf("meta: search repositories: %w", err)
	}
	return hits, nil
}

// RepositorySort is a column ListRepositoryHits can order by.
type RepositorySort string

// Sort columns.
const (
	SortRepositoryName    RepositorySort = "name"
	SortRepositoryCreated RepositorySort = "creation_time"
	SortRepositoryID      RepositorySort = "id"
)

var repositorySortColumns = map[RepositorySort]string{
	SortRepositoryName:    "r.name",
	SortRepositoryCreated: "r.created_at",
	SortRepositoryID:      "r.id",
}

// RepositoryOrder is one sort key.
type RepositoryOrder struct {
	By   RepositorySort
	Desc bool
}

// RepositoryQuery narrows ListRepositoryHits.
type RepositoryQuery struct {
	// Name matches a substring of the full name, case-insensitively for
	// ASCII; "" matches every repository.
	Name string
	// Visible keeps the repositories of the projects visible under it.
	Visible Visibility
	// Sort orders the page (default: by name); unknown columns are an
	// error.
	Sort []RepositoryOrder
}

// ListRepositoryHits returns one page of the repositories matching q,
// across projects, and how many match in all. Ties are broken by name.
func (s *Repositories) ListRepositoryHits(ctx context.Context, q RepositoryQuery, pg Page) ([]RepositoryHit, int, error) {
	var c conds
	if q.Name != "" {
		c.add(`lower(r.name) LIKE ` + c.arg(likePattern(q.Name)) + ` ESCAPE '\'`)
	}
	c.add(c.visible("p.id", "p.name", "p.public", q.Visible))
	order := make([]string, 0, len(q.Sort)+1)
	for _, o := range q.Sort {
		col, ok := repositorySortColumns[o.By]
		if !ok {
			return nil, 0, fmt.Errorf("meta: list repositories: cannot sort by %q", o.By)
		}
		if o.Desc {
			col += " DESC"
		}
		order = append(order, col)
	}
	order = append(order, "r.name")
	var total int
	if err := s.q.QueryRowContext(ctx, `SELECT count(*)`+repositoryHitFrom+c.sql(), c.args...).Scan(&total); err != nil {
		return nil, 0, wrapErr(err, "meta: list repositories")
	}
	if pg.Limit <= 0 {
		return []RepositoryHit{}, total, nil
	}
	out, err := queryAll(ctx, s.q, scanRepositoryHit, `SELECT `+repositoryInfoColumns+`, p.id, p.name, p.public`+
		repositoryHitFrom+c.sql()+` ORDER BY `+strings.Join(order, ", ")+
		` LIMIT `+c.arg(pg.Limit)+` OFFSET `+c.arg(max(pg.Offset, 0)), c.args...)
	if err != nil {
		return nil, 0, wrapErr(err, "meta: list repositories")
	}
	return out, total, nil
}

// UpdateRepositoryDescription sets the description of repository name.
// Missing: ErrRepositoryNotFound.
func (s *Repositories) UpdateRepositoryDescription(ctx context.Context, name, description string) error {
	res, err := s.q.ExecContext(ctx, `UPDATE repositories SET description = $2 WHERE name = $1`, name, description)
	if err != nil {
		return wrapErr(err, "meta: update repository %s", name)
	}
	return expectOne(res, fmt.Errorf("repository %s: %w", name, ErrRepositoryNotFound), "meta: update repository %s", name)
}
