package meta

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Robot errors. Callers compare with errors.Is.
var (
	ErrRobotNotFound = errors.New("robot account not found")
	ErrRobotExists   = errors.New("robot account already exists")
)

// Robot levels.
const (
	RobotSystem  = "system"
	RobotProject = "project"
)

// RobotPermission grants a robot actions on resources of one project, or
// of every project when Namespace is "*" (system robots only). The JSON
// shape is Harbor's robot v2 permission.
type RobotPermission struct {
	Kind      string        `json:"kind"`      // "project"
	Namespace string        `json:"namespace"` // project name, or "*"
	Access    []RobotAccess `json:"access"`
}

// RobotAccess is one resource/action pair, e.g. repository/pull.
type RobotAccess struct {
	Resource string `json:"resource"`
	Action   string `json:"action"`
}

// Robot is a machine account. Its full Name is robot$<name> (system) or
// robot$<project>+<name> (project); its secret is stored hashed only.
type Robot struct {
	ID          int64
	Name        string
	Description string
	SecretHash  string
	Level       string // RobotSystem or RobotProject
	ProjectID   int64  // project robots only; 0 otherwise
	Permissions []RobotPermission
	// ExpiresAt is when the robot stops working; zero: never.
	ExpiresAt time.Time
	Disabled  bool
	// CreatorType is who created the robot, in Harbor's terms: "local" (a
	// user) or "robot"; "" for robots created before Berth recorded it.
	CreatorType string
	// CreatorRef is the creating user's or robot's id (0: unknown).
	CreatorRef int64
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Robot creator types (Robot.CreatorType), Harbor's security context names.
const (
	RobotCreatorUser  = "local"
	RobotCreatorRobot = "robot"
)

const robotColumns = `id, name, description, secret_hash, level, project_id, permissions, expires_at,
	disabled, creator_type, creator_ref, created_at, updated_at`

func scanRobot(row interface{ Scan(...any) error }) (Robot, error) {
	var (
		r       Robot
		project sql.NullInt64
		perms   string
		expires sql.NullTime
	)
	err := row.Scan(&r.ID, &r.Name, &r.Description, &r.SecretHash, &r.Level, &project, &perms, &expires,
		&r.Disabled, &r.CreatorType, &r.CreatorRef, &r.CreatedAt, &r.UpdatedAt)
	if err != nil {
		return Robot{}, err
	}
	if err := json.Unmarshal([]byte(perms), &r.Permissions); err != nil {
		return Robot{}, fmt.Errorf("meta: robot %s: permissions: %w", r.Name, err)
	}
	r.ProjectID = project.Int64
	if expires.Valid {
		r.ExpiresAt = expires.Time.UTC()
	}
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return r, nil
}

func robotArgs(r Robot) (project sql.NullInt64, perms string, expires sql.NullTime, err error) {
	if r.ProjectID != 0 {
		project = sql.NullInt64{Int64: r.ProjectID, Valid: true}
	}
	if r.Permissions == nil {
		r.Permissions = []RobotPermission{}
	}
	perms, err = jsonText(r.Permissions)
	if !r.ExpiresAt.IsZero() {
		expires = sql.NullTime{Time: micro(r.ExpiresAt), Valid: true}
	}
	return project, perms, expires, err
}

// Robots holds robot (machine) accounts.
type Robots struct{ *handle }

// CreateRobot inserts r (its creator included) and returns the stored row
// (ID, CreatedAt and UpdatedAt are ignored). Taken name: ErrRobotExists; a project robot
// whose project is missing: ErrProjectNotFound.
func (s *Robots) CreateRobot(ctx context.Context, r Robot) (Robot, error) {
	project, perms, expires, err := robotArgs(r)
	if err != nil {
		return Robot{}, err
	}
	var got Robot
	err = s.inTx(ctx, func(tx *handle) error {
		if r.ProjectID != 0 {
			if _, err := tx.projects().GetProject(ctx, r.ProjectID); err != nil {
				return err
			}
		}
		now := tx.timestamp()
		got, err = scanRobot(tx.q.QueryRowContext(ctx, `
			INSERT INTO robots (name, description, secret_hash, level, project_id, permissions, expires_at,
				disabled, creator_type, creator_ref, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)
			ON CONFLICT DO NOTHING
			RETURNING `+robotColumns,
			r.Name, r.Description, r.SecretHash, r.Level, project, perms, expires, r.Disabled, r.CreatorType, r.CreatorRef, now))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("robot %s: %w", r.Name, ErrRobotExists)
		case err != nil:
			return wrapErr(err, "meta: create robot %s", r.Name)
		}
		return nil
	})
	return got, err
}

// GetRobot returns the robot with id. Missing: ErrRobotNotFound.
func (s *Robots) GetRobot(ctx context.Context, id int64) (Robot, error) {
	r, err := scanRobot(s.q.QueryRowContext(ctx, `SELECT `+robotColumns+` FROM robots WHERE id = $1`, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Robot{}, fmt.Errorf("robot %d: %w", id, ErrRobotNotFound)
	case err != nil:
		return Robot{}, wrapErr(err, "meta: get robot %d", id)
	}
	return r, nil
}

// GetRobotByName returns the robot with the full name (robot$...).
// Missing: ErrRobotNotFound.
func (s *Robots) GetRobotByName(ctx context.Context, name string) (Robot, error) {
	r, err := scanRobot(s.q.QueryRowContext(ctx, `SELECT `+robotColumns+` FROM robots WHERE name = $1`, name))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Robot{}, fmt.Errorf("robot %s: %w", name, ErrRobotNotFound)
	case err != nil:
		return Robot{}, wrapErr(err, "meta: get robot %s", name)
	}
	return r, nil
}

// RobotFilter narrows ListRobots: Level "" matches both levels, ProjectID
// 0 every project, Name is a case-insensitive substring.
type RobotFilter struct {
	Level     string
	ProjectID int64
	Name      string
}

// ListRobots returns one page of the robots matching f, ordered by name,
// and how many match in all.
func (s *Robots) ListRobots(ctx context.Context, f RobotFilter, p Page) ([]Robot, int, error) {
	const where = `WHERE ($1 = '' OR level = $1) AND (CAST($2 AS BIGINT) = 0 OR project_id = $2)
		AND lower(name) LIKE $3 ESCAPE '\'`
	args := []any{f.Level, f.ProjectID, likePattern(f.Name)}
	var total int
	if err := s.q.QueryRowContext(ctx, `SELECT count(*) FROM robots `+where, args...).Scan(&total); err != nil {
		return nil, 0, wrapErr(err, "meta: list robots")
	}
	if p.Limit <= 0 {
		return []Robot{}, total, nil
	}
	out, err := queryAll(ctx, s.q, scanRobot, `SELECT `+robotColumns+` FROM robots `+where+`
		ORDER BY name LIMIT $4 OFFSET $5`, append(args, p.Limit, max(p.Offset, 0))...)
	if err != nil {
		return nil, 0, wrapErr(err, "meta: list robots")
	}
	return out, total, nil
}

// UpdateRobot writes r's Description, Permissions, ExpiresAt and Disabled
// to the robot with r.ID and returns the stored row. Missing:
// ErrRobotNotFound.
func (s *Robots) UpdateRobot(ctx context.Context, r Robot) (Robot, error) {
	_, perms, expires, err := robotArgs(r)
	if err != nil {
		return Robot{}, err
	}
	got, err := scanRobot(s.q.QueryRowContext(ctx, `
		UPDATE robots SET description = $2, permissions = $3, expires_at = $4, disabled = $5, updated_at = $6
		WHERE id = $1
		RETURNING `+robotColumns, r.ID, r.Description, perms, expires, r.Disabled, s.timestamp()))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Robot{}, fmt.Errorf("robot %d: %w", r.ID, ErrRobotNotFound)
	case err != nil:
		return Robot{}, wrapErr(err, "meta: update robot %d", r.ID)
	}
	return got, nil
}

// SetRobotSecretHash replaces the secret hash of robot id. Missing:
// ErrRobotNotFound.
func (s *Robots) SetRobotSecretHash(ctx context.Context, id int64, hash string) error {
	res, err := s.q.ExecContext(ctx, `
		UPDATE robots SET secret_hash = $2, updated_at = $3 WHERE id = $1`, id, hash, s.timestamp())
	if err != nil {
		return wrapErr(err, "meta: set secret of robot %d", id)
	}
	return expectOne(res, fmt.Errorf("robot %d: %w", id, ErrRobotNotFound), "meta: set secret of robot %d", id)
}

// DeleteRobot deletes robot id. Missing: ErrRobotNotFound.
func (s *Robots) DeleteRobot(ctx context.Context, id int64) error {
	res, err := s.q.ExecContext(ctx, `DELETE FROM robots WHERE id = $1`, id)
	if err != nil {
		return wrapErr(err, "meta: delete robot %d", id)
	}
	return expectOne(res, fmt.Errorf("robot %d: %w", id, ErrRobotNotFound), "meta: delete robot %d", id)
}
