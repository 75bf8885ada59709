package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// Read models and writes the REST API needs beyond the registry's own:
// projects with their owner and repository count, repositories with
// artifact counts, artifacts with sizes and tags, search, and whole
// repository deletion.

// ErrTagExists: CreateTag found the tag already there.
var ErrTagExists = errors.New("tag already exists")

// Visibility says which projects a caller may see: the public ones, those
// where Viewer (a user, through itself or its groups) is a member, and
// those named in Projects (a robot's scopes). All: every project.
type Visibility struct {
	Viewer   Viewer
	Projects []string
	All      bool
}

// visible adds the condition "project column projectCol/nameCol is
// visible under v" and returns it.
func (c *conds) visible(idCol, nameCol, publicCol string, v Visibility) string {
	if v.All {
		return "1 = 1"
	}
	or := []string{publicCol + " = " + c.arg(true)}
	if v.Viewer.UserID != 0 || len(v.Viewer.GroupDNs) > 0 {
		or = append(or, c.memberOf(idCol, v.Viewer))
	}
	if len(v.Projects) > 0 {
		ph := make([]string, len(v.Projects))
		for i, p := range v.Projects {
			ph[i] = c.arg(p)
		}
		or = append(or, nameCol+" IN ("+strings.Join(ph, ", ")+")")
	}
	return "(" + strings.Join(or, " OR ") + ")"
}

// ProjectQuery narrows ListProjectInfos. Zero fields match everything.
type ProjectQuery struct {
	// Name matches a substring, case-insensitively for ASCII.
	Name string
	// Public, when set, keeps only public (true) or private (false) projects.
	Public *bool
	// Owner keeps the projects owned by the user with that exact name.
	Owner string
	// Visible, when set, keeps only the projects visible under it.
	Visible *Visibility
}

// ProjectInfo is a project with its owner's name and repository count.
type ProjectInfo struct {
	Project
	OwnerName string // "" without owner
	RepoCount int
}

// projectRepoCount counts the repositories of project alias p: the name
// itself, or names under name/.
const projectRepoCount = `(SELECT count(*) FROM repositories AS r
	WHERE r.name = p.name OR substr(r.name, 1, length(p.name) + 1) = p.name || '/')`

// ListProjectInfos returns one page of the projects matching q, ordered by
// name, and how many match in all.
func (s *Store) ListProjectInfos(ctx context.Context, q ProjectQuery, pg Page) ([]ProjectInfo, int, error) {
	var c conds
	if q.Name != "" {
		c.add(`lower(p.name) LIKE ` + c.arg(likePattern(q.Name)) + ` ESCAPE '\'`)
	}
	if q.Public != nil {
		c.add("p.public = " + c.arg(*q.Public))
	}
	if q.Owner != "" {
		c.add("u.username = " + c.arg(q.Owner))
	}
	if q.Visible != nil {
		c.add(c.visible("p.id", "p.name", "p.public", *q.Visible))
	}
	const from = ` FROM projects AS p LEFT JOIN users AS u ON u.id = p.owner_id`
	var total int
	if err := s.q.QueryRowContext(ctx, `SELECT count(*)`+from+c.sql(), c.args...).Scan(&total); err != nil {
		return nil, 0, wrapErr(err, "meta: list projects")
	}
	if pg.Limit <= 0 {
		return []ProjectInfo{}, total, nil
	}
	out, err := queryAll(ctx, s.q, func(row rowScanner) (ProjectInfo, error) {
		var (
			pi    ProjectInfo
			owner sql.NullInt64
		)
		if err := row.Scan(&pi.ID, &pi.Name, &pi.Public, &owner, &pi.CreatedAt, &pi.UpdatedAt,
			&pi.OwnerName, &pi.RepoCount); err != nil {
			return ProjectInfo{}, err
		}
		pi.OwnerID = owner.Int64
		pi.CreatedAt, pi.UpdatedAt = pi.CreatedAt.UTC(), pi.UpdatedAt.UTC()
		return pi, nil
	}, `
		SELECT p.id, p.name, p.public, p.owner_id, p.created_at, p.updated_at,
			COALESCE(u.username, ''), `+projectRepoCount+from+c.sql()+`
		ORDER BY p.name LIMIT `+c.arg(pg.Limit)+` OFFSET `+c.arg(max(pg.Offset, 0)), c.args...)
	if err != nil {
		return nil, 0, wrapErr(err, "meta: list projects")
	}
	return out, total, nil
}

// CreateProjectWithAdmin creates p (as CreateProject) and, when
// adminUserID is not 0, makes that user a ProjectAdmin member of it, in
// one transaction. Taken name: ErrProjectExists; missing user:
// ErrUserNotFound.
func (s *Store) CreateProjectWithAdmin(ctx context.Context, p Project, adminUserID int64) (Project, error) {
	var got Project
	err := s.InTx(ctx, func(tx *Store) error {
		var err error
		if got, err = tx.CreateProject(ctx, p); err != nil {
			return err
		}
		if adminUserID != 0 {
			const projectAdmin = 1 // Harbor's role id
			_, err = tx.AddMember(ctx, Member{ProjectID: got.ID, Kind: MemberUser, UserID: adminUserID, Role: projectAdmin})
		}
		return err
	})
	if err != nil {
		return Project{}, err
	}
	return got, nil
}

// CountMembersByRole returns how many members (users and groups) project
// projectID has in each role (Harbor's role ids).
func (s *Store) CountMembersByRole(ctx context.Context, projectID int64) (map[int]int, error) {
	rows, err := s.q.QueryContext(ctx, `
		SELECT role, count(*) FROM project_members WHERE project_id = $1 GROUP BY role`, projectID)
	if err != nil {
		return nil, wrapErr(err, "meta: count members of project %d", projectID)
	}
	defer rows.Close()
	out := map[int]int{}
	for rows.Next() {
		var role, n int
		if err := rows.Scan(&role, &n); err != nil {
			return nil, wrapErr(err, "meta: count members of project %d", projectID)
		}
		out[role] = n
	}
	if err := rows.Err(); err != nil {
		return nil, wrapErr(err, "meta: count members of project %d", projectID)
	}
	return out, nil
}

// --- repositories ---

// RepositoryInfo is a repository with its artifact count and the time of
// its last change (a manifest pushed or a tag moved).
type RepositoryInfo struct {
	ID            int64
	Name          string
	ArtifactCount int
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// topLevel is the condition "manifest alias m is an artifact of its own":
// not a child of an index in its repository nor a referrer (it has no
// subject), unless a tag names it. Harbor lists those; the others show
// under their parent.
const topLevel = `((m.subject_digest IS NULL AND NOT EXISTS (
		SELECT 1 FROM manifest_manifest_refs AS mr JOIN manifests AS pm ON pm.id = mr.manifest_id
		WHERE pm.repository_id = m.repository_id AND mr.child_digest = m.digest))
	OR EXISTS (SELECT 1 FROM tags AS tt WHERE tt.repository_id = m.repository_id AND tt.manifest_digest = m.digest))`

const repositoryInfoColumns = `r.id, r.name, r.created_at,
	(SELECT count(*) FROM manifests AS m WHERE m.repository_id = r.id AND ` + topLevel + `),
	(SELECT max(m.created_at) FROM manifests AS m WHERE m.repository_id = r.id),
	(SELECT max(t.updated_at) FROM tags AS t WHERE t.repository_id = r.id)`

func scanRepositoryInfo(row interface{ Scan(...any) error }) (RepositoryInfo, error) {
	var (
		ri             RepositoryInfo
		pushed, tagged flexTime
	)
	if err := row.Scan(&ri.ID, &ri.Name, &ri.CreatedAt, &ri.ArtifactCount, &pushed, &tagged); err != nil {
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
func (s *Store) ListProjectRepositories(ctx context.Context, project, name string, pg Page) ([]RepositoryInfo, int, error) {
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
func (s *Store) GetRepositoryInfo(ctx context.Context, name string) (RepositoryInfo, error) {
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

// ListManifestDigests returns the digests of every manifest of repo, in
// byte order, at most limit of them after after. Missing repository: an
// empty list.
func (s *Store) ListManifestDigests(ctx context.Context, repo string, after digest.Digest, limit int) ([]digest.Digest, error) {
	if limit <= 0 {
		return []digest.Digest{}, nil
	}
	vs, err := queryStrings(ctx, s.q, `
		SELECT m.digest FROM manifests AS m JOIN repositories AS r ON r.id = m.repository_id
		WHERE r.name = $1 AND m.digest > $2 ORDER BY m.digest LIMIT $3`, repo, after, limit)
	if err != nil {
		return nil, wrapErr(err, "meta: list manifests of %s", repo)
	}
	out := make([]digest.Digest, len(vs))
	for i, v := range vs {
		out[i] = digest.Digest(v)
	}
	return out, nil
}

// DeleteRepository deletes repository name with its manifests, tags,
// references and blob links, in one transaction. Blob rows stay (garbage
// collection removes unreferenced blobs). Missing: ErrRepositoryNotFound.
func (s *Store) DeleteRepository(ctx context.Context, name string) error {
	return s.InTx(ctx, func(tx *Store) error {
		r, err := tx.GetRepository(ctx, name)
		if err != nil {
			return err
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
		return nil
	})
}

// --- artifacts ---

// Artifact is a manifest as the REST API shows it: with its total size
// (the manifest plus every distinct blob it references), its tags and the
// manifests it references (an index's children).
type Artifact struct {
	ID           int64
	RepositoryID int64
	Digest       digest.Digest
	MediaType    string
	ArtifactType string
	ManifestSize int64
	// Size is ManifestSize plus the sizes of the blobs the manifest
	// references (config and layers); an index counts only itself.
	Size        int64
	Subject     digest.Digest
	Annotations map[string]string
	PushedAt    time.Time
	Tags        []TagInfo
	Children    []digest.Digest
}

// TagInfo is a tag with the time it was last pointed at its manifest.
type TagInfo struct {
	Name     string
	Digest   digest.Digest
	PushedAt time.Time
}

const artifactColumns = `m.id, m.repository_id, m.digest, m.media_type, m.artifact_type,
	m.subject_digest, m.annotations, m.created_at, length(m.payload),
	CAST(COALESCE((SELECT sum(b.size) FROM manifest_blob_refs AS br JOIN blobs AS b ON b.digest = br.blob_digest
		WHERE br.manifest_id = m.id), 0) AS BIGINT)`

func scanArtifact(row interface{ Scan(...any) error }) (Artifact, error) {
	var (
		a                    Artifact
		subject, annotations sql.NullString
		blobs                int64
	)
	if err := row.Scan(&a.ID, &a.RepositoryID, &a.Digest, &a.MediaType, &a.ArtifactType,
		&subject, &annotations, &a.PushedAt, &a.ManifestSize, &blobs); err != nil {
		return Artifact{}, err
	}
	m := Manifest{Digest: a.Digest}
	if err := fillManifest(&m, subject, annotations); err != nil {
		return Artifact{}, err
	}
	a.Subject, a.Annotations = m.Subject, m.Annotations
	a.PushedAt = a.PushedAt.UTC()
	a.Size = a.ManifestSize + blobs
	return a, nil
}

// ListArtifacts returns one page of repo's top-level artifacts (not
// children of an index or referrers, unless tagged), newest first, with
// their tags and children, and how many there are in all. Missing
// repository: ErrRepositoryNotFound.
func (s *Store) ListArtifacts(ctx context.Context, repo string, pg Page) ([]Artifact, int, error) {
	r, err := s.GetRepository(ctx, repo)
	if err != nil {
		return nil, 0, err
	}
	const where = ` FROM manifests AS m WHERE m.repository_id = $1 AND ` + topLevel
	var total int
	if err := s.q.QueryRowContext(ctx, `SELECT count(*)`+where, r.ID).Scan(&total); err != nil {
		return nil, 0, wrapErr(err, "meta: list artifacts of %s", repo)
	}
	if pg.Limit <= 0 {
		return []Artifact{}, total, nil
	}
	out, err := queryAll(ctx, s.q, scanArtifact, `SELECT `+artifactColumns+where+`
		ORDER BY m.created_at DESC, m.digest LIMIT $2 OFFSET $3`, r.ID, pg.Limit, max(pg.Offset, 0))
	if err != nil {
		return nil, 0, wrapErr(err, "meta: list artifacts of %s", repo)
	}
	if err := s.fillArtifacts(ctx, r.ID, out); err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// GetArtifact returns manifest d of repo as an artifact, with its tags and
// children. Missing: ErrManifestNotFound.
func (s *Store) GetArtifact(ctx context.Context, repo string, d digest.Digest) (Artifact, error) {
	a, err := scanArtifact(s.q.QueryRowContext(ctx, `SELECT `+artifactColumns+`
		FROM manifests AS m JOIN repositories AS r ON r.id = m.repository_id
		WHERE r.name = $1 AND m.digest = $2`, repo, d))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Artifact{}, fmt.Errorf("manifest %s in %s: %w", d, repo, ErrManifestNotFound)
	case err != nil:
		return Artifact{}, wrapErr(err, "meta: get artifact %s in %s", d, repo)
	}
	arts := []Artifact{a}
	if err := s.fillArtifacts(ctx, a.RepositoryID, arts); err != nil {
		return Artifact{}, err
	}
	return arts[0], nil
}

// fillArtifacts loads the tags and children of arts (all of repository
// repoID) in two queries.
func (s *Store) fillArtifacts(ctx context.Context, repoID int64, arts []Artifact) error {
	if len(arts) == 0 {
		return nil
	}
	byDigest := map[digest.Digest]*Artifact{}
	ids := map[int64]*Artifact{}
	var c conds
	c.arg(repoID)
	dph := make([]string, len(arts))
	iph := make([]string, len(arts))
	for i := range arts {
		a := &arts[i]
		a.Tags, a.Children = []TagInfo{}, []digest.Digest{}
		byDigest[a.Digest], ids[a.ID] = a, a
		dph[i] = c.arg(string(a.Digest))
	}
	rows, err := s.q.QueryContext(ctx, `
		SELECT name, manifest_digest, updated_at FROM tags
		WHERE repository_id = $1 AND manifest_digest IN (`+strings.Join(dph, ", ")+`)
		ORDER BY name`, c.args...)
	if err != nil {
		return wrapErr(err, "meta: tags of artifacts")
	}
	defer rows.Close()
	for rows.Next() {
		var t TagInfo
		if err := rows.Scan(&t.Name, &t.Digest, &t.PushedAt); err != nil {
			return wrapErr(err, "meta: tags of artifacts")
		}
		t.PushedAt = t.PushedAt.UTC()
		if a := byDigest[t.Digest]; a != nil {
			a.Tags = append(a.Tags, t)
		}
	}
	if err := rows.Err(); err != nil {
		return wrapErr(err, "meta: tags of artifacts")
	}
	var ic conds
	for i := range arts {
		iph[i] = ic.arg(arts[i].ID)
	}
	crows, err := s.q.QueryContext(ctx, `
		SELECT manifest_id, child_digest FROM manifest_manifest_refs
		WHERE manifest_id IN (`+strings.Join(iph, ", ")+`) ORDER BY manifest_id, child_digest`, ic.args...)
	if err != nil {
		return wrapErr(err, "meta: children of artifacts")
	}
	defer crows.Close()
	for crows.Next() {
		var (
			id    int64
			child digest.Digest
		)
		if err := crows.Scan(&id, &child); err != nil {
			return wrapErr(err, "meta: children of artifacts")
		}
		if a := ids[id]; a != nil {
			a.Children = append(a.Children, child)
		}
	}
	if err := crows.Err(); err != nil {
		return wrapErr(err, "meta: children of artifacts")
	}
	return nil
}

// CreateTag adds tag to repo, pointing at manifest d. The tag exists
// already (whatever it points at): ErrTagExists; the manifest is missing:
// ErrManifestNotFound.
func (s *Store) CreateTag(ctx context.Context, repo, tag string, d digest.Digest) error {
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

// --- search ---

// RepositoryHit is a repository found by SearchRepositories, with its
// project.
type RepositoryHit struct {
	RepositoryInfo
	ProjectID     int64
	ProjectName   string
	ProjectPublic bool
}

// SearchRepositories returns up to limit repositories whose name contains
// q (case-insensitively for ASCII) in projects visible under v, ordered
// by name.
func (s *Store) SearchRepositories(ctx context.Context, q string, v Visibility, limit int) ([]RepositoryHit, error) {
	if limit <= 0 {
		return []RepositoryHit{}, nil
	}
	var c conds
	c.add(`lower(r.name) LIKE ` + c.arg(likePattern(q)) + ` ESCAPE '\'`)
	c.add(c.visible("p.id", "p.name", "p.public", v))
	out, err := queryAll(ctx, s.q, func(row rowScanner) (RepositoryHit, error) {
		var (
			h              RepositoryHit
			pushed, tagged flexTime
		)
		if err := row.Scan(&h.ID, &h.Name, &h.CreatedAt, &h.ArtifactCount, &pushed, &tagged,
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
	}, `
		SELECT `+repositoryInfoColumns+`, p.id, p.name, p.public
		FROM repositories AS r JOIN projects AS p
			ON r.name = p.name OR substr(r.name, 1, length(p.name) + 1) = p.name || '/'`+c.sql()+`
		ORDER BY r.name LIMIT `+c.arg(limit), c.args...)
	if err != nil {
		return nil, wrapErr(err, "meta: search repositories")
	}
	return out, nil
}

// flexTime scans a nullable time that SQLite returns as text when it comes
// from an expression (an aggregate or subquery has no declared type), and
// PostgreSQL as a time.
type flexTime struct {
	Time  time.Time
	Valid bool
}

// Scan implements sql.Scanner.
func (f *flexTime) Scan(v any) error {
	f.Time, f.Valid = time.Time{}, false
	var s string
	switch x := v.(type) {
	case nil:
		return nil
	case time.Time:
		f.Time, f.Valid = x.UTC(), true
		return nil
	case string:
		s = x
	case []byte:
		s = string(x)
	default:
		return fmt.Errorf("meta: cannot scan %T as a time", v)
	}
	for _, layout := range []string{
		"2006-01-02 15:04:05.999999999-07:00",
		"2006-01-02 15:04:05.999999999Z07:00",
		"2006-01-02T15:04:05.999999999Z07:00",
		"2006-01-02 15:04:05.999999999",
		"2006-01-02 15:04:05",
	} {
		if t, err := time.Parse(layout, s); err == nil {
			f.Time, f.Valid = t.UTC(), true
			return nil
		}
	}
	return fmt.Errorf("meta: cannot parse time %q", s)
}
