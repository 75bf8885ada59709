package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

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
func (s *Projects) AddMember(ctx context.Context, m Member) (Member, error) {
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
	err := s.inTx(ctx, func(tx *handle) error {
		if _, err := tx.projects().GetProject(ctx, m.ProjectID); err != nil {
			return err
		}
		if user.Valid {
			if _, err := tx.users().GetUser(ctx, m.UserID); err != nil {
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
		got, err = tx.projects().GetMember(ctx, m.ProjectID, id)
		return err
	})
	return got, err
}

// GetMember returns member id of project projectID. Missing:
// ErrMemberNotFound.
func (s *Projects) GetMember(ctx context.Context, projectID, id int64) (Member, error) {
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
func (s *Projects) ListMembers(ctx context.Context, projectID int64, name string, p Page) ([]Member, int, error) {
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
func (s *Projects) UpdateMemberRole(ctx context.Context, projectID, id int64, role int) error {
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
func (s *Projects) RemoveMember(ctx context.Context, projectID, id int64) error {
	res, err := s.q.ExecContext(ctx, `DELETE FROM project_members WHERE project_id = $1 AND id = $2`, projectID, id)
	if err != nil {
		return wrapErr(err, "meta: remove member %d of project %d", id, projectID)
	}
	return expectOne(res, fmt.Errorf("member %d of project %d: %w", id, projectID, ErrMemberNotFound),
		"meta: remove member %d of project %d", id, projectID)
}

// CountMembersByRole returns how many members (users and groups) project
// projectID has in each role (Harbor's role ids).
func (s *Projects) CountMembersByRole(ctx context.Context, projectID int64) (map[int]int, error) {
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

// ProjectRole is one role a viewer holds in a project, directly or
// through a group.
type ProjectRole struct {
	ProjectID int64
	Project   string
	Role      int
}

// RolesOf returns every role v holds, directly or through its groups,
// ordered by project name then role (a project may appear more than once).
func (s *Projects) RolesOf(ctx context.Context, v Viewer) ([]ProjectRole, error) {
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
