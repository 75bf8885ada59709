package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
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
}

const projectColumns = `id, name, public, owner_id, created_at, updated_at`

func scanProject(row interface{ Scan(...any) error }) (Project, error) {
	var (
		p     Project
		owner sql.NullInt64
	)
	if err := row.Scan(&p.ID, &p.Name, &p.Public, &owner, &p.CreatedAt, &p.UpdatedAt); err != nil {
		return Project{}, err
	}
	p.OwnerID = owner.Int64
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p, nil
}

func nullID(id int64) sql.NullInt64 { return sql.NullInt64{Int64: id, Valid: id != 0} }

// CreateProject inserts p and returns the stored row (ID, CreatedAt and
// UpdatedAt are ignored). Taken name: ErrProjectExists.
func (s *Store) CreateProject(ctx context.Context, p Project) (Project, error) {
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
func (s *Store) GetProject(ctx context.Context, id int64) (Project, error) {
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
func (s *Store) GetProjectByName(ctx context.Context, name string) (Project, error) {
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

// conds builds a WHERE clause with numbered placeholders.
type conds struct {
	where []string
	args  []any
}

// arg adds v to the arguments and returns its placeholder.
func (c *conds) arg(v any) string {
	c.args = append(c.args, v)
	return fmt.Sprintf("$%d", len(c.args))
}

func (c *conds) add(cond string) { c.where = append(c.where, cond) }

func (c *conds) sql() string {
	if len(c.where) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(c.where, " AND ")
}

// isViewer is a condition on the project_members row alias: the row
// names v or one of its groups.
func (c *conds) isViewer(alias string, v Viewer) string {
	or := []string{alias + ".user_id = " + c.arg(v.UserID)}
	if dns := normalizeDNs(v.GroupDNs); len(dns) > 0 {
		ph := make([]string, len(dns))
		for i, d := range dns {
			ph[i] = c.arg(d)
		}
		or = append(or, alias+".group_dn IN ("+strings.Join(ph, ", ")+")")
	}
	return "(" + strings.Join(or, " OR ") + ")"
}

// memberOf is a condition on column projectCol: a project where v or one
// of its groups is a member.
func (c *conds) memberOf(projectCol string, v Viewer) string {
	return projectCol + " IN (SELECT m.project_id FROM project_members AS m WHERE " + c.isViewer("m", v) + ")"
}

// ListProjects returns one page of the projects matching f, ordered by
// name, and how many match in all.
func (s *Store) ListProjects(ctx context.Context, f ProjectFilter, p Page) ([]Project, int, error) {
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
func (s *Store) UpdateProject(ctx context.Context, p Project) (Project, error) {
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
func (s *Store) DeleteProject(ctx context.Context, id int64) error {
	return s.InTx(ctx, func(tx *Store) error {
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

// CountProjectRepositories returns how many repositories belong to the
// project named name (name itself, or names under name/).
func (s *Store) CountProjectRepositories(ctx context.Context, name string) (int, error) {
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

// --- members ---

// Member kinds.
const (
	MemberUser  = "user"
	MemberGroup = "group"
)

// Member gives a user or an LDAP group (by DN) a role in a project. Role
// is Harbor's role id (1 ProjectAdmin, 2 Developer, 3 Guest, 4 Maintainer,
// 5 LimitedGuest); the access package gives it meaning.
type Member struct {
	ID        int64
	ProjectID int64
	Kind      string // MemberUser or MemberGroup
	UserID    int64  // MemberUser
	GroupDN   string // MemberGroup, lower-cased
	// Name is the username or the group DN (read only).
	Name      string
	Role      int
	CreatedAt time.Time
	UpdatedAt time.Time
}

const memberColumns = `m.id, m.project_id, m.member_kind, m.user_id, m.group_dn,
	COALESCE(u.username, m.group_dn, ''), m.role, m.created_at, m.updated_at`

const memberFrom = ` FROM project_members AS m LEFT JOIN users AS u ON u.id = m.user_id`

func scanMember(row interface{ Scan(...any) error }) (Member, error) {
	var (
		m     Member
		user  sql.NullInt64
		group sql.NullString
	)
	if err := row.Scan(&m.ID, &m.ProjectID, &m.Kind, &user, &group, &m.Name, &m.Role, &m.CreatedAt, &m.UpdatedAt); err != nil {
		return Member{}, err
	}
	m.UserID, m.GroupDN = user.Int64, group.String
	m.CreatedAt, m.UpdatedAt = m.CreatedAt.UTC(), m.UpdatedAt.UTC()
	return m, nil
}

// AddMember adds m to its project and returns the stored row. The user or
// group is already a member: ErrMemberExists; a missing project or user:
// ErrProjectNotFound or ErrUserNotFound.
func (s *Store) AddMember(ctx context.Context, m Member) (Member, error) {
	var (
		user  sql.NullInt64
		group sql.NullString
	)
	switch m.Kind {
	case MemberUser:
		user = nullID(m.UserID)
	case MemberGroup:
		dns := normalizeDNs([]string{m.GroupDN})
		if len(dns) == 1 {
			group = sql.NullString{String: dns[0], Valid: true}
		}
	}
	if !user.Valid && !group.Valid {
		return Member{}, fmt.Errorf("meta: add member: kind %q needs a user id or a group DN", m.Kind)
	}
	var got Member
	err := s.InTx(ctx, func(tx *Store) error {
		if _, err := tx.GetProject(ctx, m.ProjectID); err != nil {
			return err
		}
		if user.Valid {
			if _, err := tx.GetUser(ctx, m.UserID); err != nil {
				return err
			}
		}
		now := tx.timestamp()
		var id int64
		err := tx.q.QueryRowContext(ctx, `
			INSERT INTO project_members (project_id, member_kind, user_id, group_dn, role, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $6)
			ON CONFLICT DO NOTHING
			RETURNING id`, m.ProjectID, m.Kind, user, group, m.Role, now).Scan(&id)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("project %d: %w", m.ProjectID, ErrMemberExists)
		case err != nil:
			return wrapErr(err, "meta: add member to project %d", m.ProjectID)
		}
		got, err = tx.GetMember(ctx, m.ProjectID, id)
		return err
	})
	return got, err
}

// GetMember returns member id of project projectID. Missing:
// ErrMemberNotFound.
func (s *Store) GetMember(ctx context.Context, projectID, id int64) (Member, error) {
	m, err := scanMember(s.q.QueryRowContext(ctx, `SELECT `+memberColumns+memberFrom+`
		WHERE m.project_id = $1 AND m.id = $2`, projectID, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Member{}, fmt.Errorf("member %d of project %d: %w", id, projectID, ErrMemberNotFound)
	case err != nil:
		return Member{}, wrapErr(err, "meta: get member %d of project %d", id, projectID)
	}
	return m, nil
}

// ListMembers returns one page of project projectID's members whose name
// (username or group DN) contains name (case-insensitively for ASCII),
// ordered by kind then name, and how many match in all.
func (s *Store) ListMembers(ctx context.Context, projectID int64, name string, p Page) ([]Member, int, error) {
	const where = ` WHERE m.project_id = $1 AND lower(COALESCE(u.username, m.group_dn, '')) LIKE $2 ESCAPE '\'`
	args := []any{projectID, likePattern(name)}
	var total int
	if err := s.q.QueryRowContext(ctx, `SELECT count(*)`+memberFrom+where, args...).Scan(&total); err != nil {
		return nil, 0, wrapErr(err, "meta: list members of project %d", projectID)
	}
	if p.Limit <= 0 {
		return []Member{}, total, nil
	}
	out, err := queryAll(ctx, s.q, scanMember, `SELECT `+memberColumns+memberFrom+where+`
		ORDER BY m.member_kind DESC, COALESCE(u.username, m.group_dn, ''), m.id LIMIT $3 OFFSET $4`,
		append(args, p.Limit, max(p.Offset, 0))...)
	if err != nil {
		return nil, 0, wrapErr(err, "meta: list members of project %d", projectID)
	}
	return out, total, nil
}

// UpdateMemberRole sets the role of member id of project projectID.
// Missing: ErrMemberNotFound.
func (s *Store) UpdateMemberRole(ctx context.Context, projectID, id int64, role int) error {
	res, err := s.q.ExecContext(ctx, `
		UPDATE project_members SET role = $3, updated_at = $4 WHERE project_id = $1 AND id = $2`,
		projectID, id, role, s.timestamp())
	if err != nil {
		return wrapErr(err, "meta: update member %d of project %d", id, projectID)
	}
	return expectOne(res, fmt.Errorf("member %d of project %d: %w", id, projectID, ErrMemberNotFound),
		"meta: update member %d of project %d", id, projectID)
}

// RemoveMember removes member id from project projectID. Missing:
// ErrMemberNotFound.
func (s *Store) RemoveMember(ctx context.Context, projectID, id int64) error {
	res, err := s.q.ExecContext(ctx, `DELETE FROM project_members WHERE project_id = $1 AND id = $2`, projectID, id)
	if err != nil {
		return wrapErr(err, "meta: remove member %d of project %d", id, projectID)
	}
	return expectOne(res, fmt.Errorf("member %d of project %d: %w", id, projectID, ErrMemberNotFound),
		"meta: remove member %d of project %d", id, projectID)
}

// ProjectRole is one role a viewer holds in a project, directly or
// through a group.
type ProjectRole struct {
	ProjectID int64
	Project   string
	Role      int
}

// RolesOf returns every role v holds, directly or through its groups,
// ordered by project name then role (a project may appear more than once).
func (s *Store) RolesOf(ctx context.Context, v Viewer) ([]ProjectRole, error) {
	var c conds
	c.add(c.isViewer("m", v))
	out, err := queryAll(ctx, s.q, func(row rowScanner) (ProjectRole, error) {
		var r ProjectRole
		err := row.Scan(&r.ProjectID, &r.Project, &r.Role)
		return r, err
	}, `
		SELECT DISTINCT p.id, p.name, m.role
		FROM project_members AS m JOIN projects AS p ON p.id = m.project_id`+c.sql()+`
		ORDER BY p.name, m.role`, c.args...)
	if err != nil {
		return nil, wrapErr(err, "meta: roles of user %d", v.UserID)
	}
	return out, nil
}
