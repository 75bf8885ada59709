package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Project errors. Callers compare with errors.Is.
var (
	ErrProjectNotFound = errors.New("project not found")
	ErrProjectExists   = errors.New("project already exists")
	ErrMemberNotFound  = errors.New("project member not found")
	ErrMemberExists    = errors.New("already a member of the project")
)

// Project is the unit of ownership: the first path segment of every
// repository name. Public projects can be pulled anonymously.
type Project struct {
	ID        int64
	Name      string
	Public    bool
	OwnerID   int64 // 0: no owner (the default project, or its owner was deleted)
	CreatedAt time.Time
	UpdatedAt time.Time

	// RegistryID is the upstream of a proxy-cache project (0: none).
	RegistryID int64
}

const projectColumns = `id, name, public, owner_id, created_at, updated_at, registry_id`

func scanProject(row interface{ Scan(...any) error }) (Project, error) {
	var (
		p     Project
		owner sql.NullInt64
	)
	var registry sql.NullInt64
	if err := row.Scan(&p.ID, &p.Name, &p.Public, &owner, &p.CreatedAt, &p.UpdatedAt, &registry); err != nil {
		return Project{}, err
	}
	p.OwnerID, p.RegistryID = owner.Int64, registry.Int64
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p, nil
}

func nullID(id int64) sql.NullInt64 { return sql.NullInt64{Int64: id, Valid: id != 0} }

// Projects is the project aggregate: projects, their members and roles,
// and the project read model the REST API lists.
type Projects struct{ *handle }

// CreateProject inserts p and returns the stored row (ID, CreatedAt and
// UpdatedAt are ignored). Taken name: ErrProjectExists.
func (s *Projects) CreateProject(ctx context.Context, p Project) (Project, error) {
	got, err := scanProject(s.q.QueryRowContext(ctx, `
		INSERT INTO projects (name, public, owner_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
		ON CONFLICT DO NOTHING
		RETURNING `+projectColumns, p.Name, p.Public, nullID(p.OwnerID), s.timestamp()))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Project{}, fmt.Errorf("project %s: %w", p.Name, ErrProjectExists)
	case err != nil:
		return Project{}, wrapErr(err, "meta: create project %s", p.Name)
	}
	return got, nil
}

// GetProject returns project id. Missing: ErrProjectNotFound.
func (s *Projects) GetProject(ctx context.Context, id int64) (Project, error) {
	p, err := scanProject(s.q.QueryRowContext(ctx, `SELECT `+projectColumns+` FROM projects WHERE id = $1`, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Project{}, fmt.Errorf("project %d: %w", id, ErrProjectNotFound)
	case err != nil:
		return Project{}, wrapErr(err, "meta: get project %d", id)
	}
	return p, nil
}

// GetProjectByName returns the project named name. Missing:
// ErrProjectNotFound.
func (s *Projects) GetProjectByName(ctx context.Context, name string) (Project, error) {
	p, err := scanProject(s.q.QueryRowContext(ctx, `SELECT `+projectColumns+` FROM projects WHERE name = $1`, name))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Project{}, fmt.Errorf("project %s: %w", name, ErrProjectNotFound)
	case err != nil:
		return Project{}, wrapErr(err, "meta: get project %s", name)
	}
	return p, nil
}

// Viewer is a user together with its LDAP groups, for visibility filters.
type Viewer struct {
	UserID   int64
	GroupDNs []string
}

// ProjectFilter narrows ListProjects. Zero fields match everything.
type ProjectFilter struct {
	// Name matches a substring, case-insensitively for ASCII.
	Name string
	// Public, when set, keeps only public (true) or private (false) projects.
	Public *bool
	// VisibleTo, when set, keeps public projects and those where the
	// viewer or one of its groups is a member.
	VisibleTo *Viewer
}

// ListProjects returns one page of the projects matching f, ordered by
// name, and how many match in all.
func (s *Projects) ListProjects(ctx context.Context, f ProjectFilter, p Page) ([]Project, int, error) {
	var c conds
	if f.Name != "" {
		c.add(`lower(name) LIKE ` + c.arg(likePattern(f.Name)) + ` ESCAPE '\'`)
	}
	if f.Public != nil {
		c.add("public = " + c.arg(*f.Public))
	}
	if f.VisibleTo != nil {
		c.add("(public = " + c.arg(true) + " OR " + c.memberOf("id", *f.VisibleTo) + ")")
	}
	var total int
	if err := s.q.QueryRowContext(ctx, `SELECT count(*) FROM projects`+c.sql(), c.args...).Scan(&total); err != nil {
		return nil, 0, wrapErr(err, "meta: list projects")
	}
	if p.Limit <= 0 {
		return []Project{}, total, nil
	}
	q := `SELECT ` + projectColumns + ` FROM projects` + c.sql()
	q += ` ORDER BY name LIMIT ` + c.arg(p.Limit) + ` OFFSET ` + c.arg(max(p.Offset, 0))
	out, err := queryAll(ctx, s.q, scanProject, q, c.args...)
	if err != nil {
		return nil, 0, wrapErr(err, "meta: list projects")
	}
	return out, total, nil
}

// UpdateProject writes p's Public flag and OwnerID to project p.ID and
// returns the stored row. Missing: ErrProjectNotFound.
func (s *Projects) UpdateProject(ctx context.Context, p Project) (Project, error) {
	got, err := scanProject(s.q.QueryRowContext(ctx, `
		UPDATE projects SET public = $2, owner_id = $3, updated_at = $4 WHERE id = $1
		RETURNING `+projectColumns, p.ID, p.Public, nullID(p.OwnerID), s.timestamp()))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Project{}, fmt.Errorf("project %d: %w", p.ID, ErrProjectNotFound)
	case err != nil:
		return Project{}, wrapErr(err, "meta: update project %d", p.ID)
	}
	return got, nil
}

// DeleteProject deletes project id with its members and robots. It does
// not look at repositories: callers refuse to delete a project that still
// has some (CountProjectRepositories). Missing: ErrProjectNotFound.
func (s *Projects) DeleteProject(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(tx *handle) error {
		for _, q := range []string{
			`DELETE FROM project_members WHERE project_id = $1`,
			`DELETE FROM robots WHERE project_id = $1`,
		} {
			if _, err := tx.q.ExecContext(ctx, q, id); err != nil {
				return wrapErr(err, "meta: delete project %d", id)
			}
		}
		res, err := tx.q.ExecContext(ctx, `DELETE FROM projects WHERE id = $1`, id)
		if err != nil {
			return wrapErr(err, "meta: delete project %d", id)
		}
		return expectOne(res, fmt.Errorf("project %d: %w", id, ErrProjectNotFound), "meta: delete project %d", id)
	})
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
func (s *Projects) ListProjectInfos(ctx context.Context, q ProjectQuery, pg Page) ([]ProjectInfo, int, error) {
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
		var registry sql.NullInt64
		if err := row.Scan(&pi.ID, &pi.Name, &pi.Public, &owner, &pi.CreatedAt, &pi.UpdatedAt, &registry,
			&pi.OwnerName, &pi.RepoCount); err != nil {
			return ProjectInfo{}, err
		}
		pi.OwnerID, pi.RegistryID = owner.Int64, registry.Int64
		pi.CreatedAt, pi.UpdatedAt = pi.CreatedAt.UTC(), pi.UpdatedAt.UTC()
		return pi, nil
	}, `
		SELECT p.id, p.name, p.public, p.owner_id, p.created_at, p.updated_at, p.registry_id,
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
func (s *Projects) CreateProjectWithAdmin(ctx context.Context, p Project, adminUserID int64) (Project, error) {
	var got Project
	err := s.inTx(ctx, func(tx *handle) error {
		var err error
		if got, err = tx.projects().CreateProject(ctx, p); err != nil {
			return err
		}
		if adminUserID != 0 {
			const projectAdmin = 1 // Harbor's role id
			_, err = tx.projects().AddMember(ctx, Member{ProjectID: got.ID, Kind: MemberUser, UserID: adminUserID, Role: projectAdmin})
		}
		return err
	})
	if err != nil {
		return Project{}, err
	}
	return got, nil
}
