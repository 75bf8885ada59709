package meta

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Identity errors. Callers compare with errors.Is.
var (
	ErrUserNotFound  = errors.New("user not found")
	ErrUserExists    = errors.New("user already exists")
	ErrRobotNotFound = errors.New("robot account not found")
	ErrRobotExists   = errors.New("robot account already exists")
)

// User sources.
const (
	SourceLocal = "local"
	SourceLDAP  = "ldap"
)

// User is a person who logs in: a local account (PasswordHash set) or one
// onboarded from LDAP at first login.
type User struct {
	ID       int64
	Username string
	Email    string
	Realname string
	// PasswordHash is an argon2id PHC string; empty for LDAP users.
	PasswordHash string
	Sysadmin     bool
	Disabled     bool
	Source       string // SourceLocal or SourceLDAP
	LDAPDN       string
	// LDAPGroupDNs are the user's LDAP groups at the last LDAP login,
	// lower-cased; they count for project membership.
	LDAPGroupDNs []string
	// LDAPAdmin: the user was in the LDAP admin group at the last login.
	LDAPAdmin bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Page selects a slice of a listing: Limit rows after skipping Offset.
// A Limit <= 0 returns no rows (only the total).
type Page struct {
	Offset int
	Limit  int
}

const userColumns = `id, username, email, realname, password_hash, sysadmin, disabled, source,
	ldap_dn, ldap_group_dns, ldap_admin, created_at, updated_at`

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var (
		u      User
		groups string
	)
	err := row.Scan(&u.ID, &u.Username, &u.Email, &u.Realname, &u.PasswordHash, &u.Sysadmin, &u.Disabled,
		&u.Source, &u.LDAPDN, &groups, &u.LDAPAdmin, &u.CreatedAt, &u.UpdatedAt)
	if err != nil {
		return User{}, err
	}
	if err := json.Unmarshal([]byte(groups), &u.LDAPGroupDNs); err != nil {
		return User{}, fmt.Errorf("meta: user %s: ldap_group_dns: %w", u.Username, err)
	}
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return u, nil
}

// normalizeDNs lower-cases, sorts and de-duplicates LDAP DNs (DNs compare
// case-insensitively) and never returns nil.
func normalizeDNs(dns []string) []string {
	out := make([]string, 0, len(dns))
	for _, d := range dns {
		if d = strings.ToLower(strings.TrimSpace(d)); d != "" {
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func jsonText(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// CreateUser inserts u and returns the stored row. u.ID, CreatedAt and
// UpdatedAt are ignored; an empty Source means SourceLocal. Taken username:
// ErrUserExists.
func (s *Store) CreateUser(ctx context.Context, u User) (User, error) {
	if u.Source == "" {
		u.Source = SourceLocal
	}
	groups, err := jsonText(normalizeDNs(u.LDAPGroupDNs))
	if err != nil {
		return User{}, err
	}
	now := s.timestamp()
	got, err := scanUser(s.q.QueryRowContext(ctx, `
		INSERT INTO users (username, email, realname, password_hash, sysadmin, disabled, source,
			ldap_dn, ldap_group_dns, ldap_admin, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)
		ON CONFLICT DO NOTHING
		RETURNING `+userColumns,
		u.Username, u.Email, u.Realname, u.PasswordHash, u.Sysadmin, u.Disabled, u.Source,
		u.LDAPDN, groups, u.LDAPAdmin, now))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return User{}, fmt.Errorf("user %s: %w", u.Username, ErrUserExists)
	case err != nil:
		return User{}, wrapErr(err, "meta: create user %s", u.Username)
	}
	return got, nil
}

// GetUser returns the user with id. Missing: ErrUserNotFound.
func (s *Store) GetUser(ctx context.Context, id int64) (User, error) {
	u, err := scanUser(s.q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return User{}, fmt.Errorf("user %d: %w", id, ErrUserNotFound)
	case err != nil:
		return User{}, wrapErr(err, "meta: get user %d", id)
	}
	return u, nil
}

// GetUserByName returns the user named username (exact match). Missing:
// ErrUserNotFound.
func (s *Store) GetUserByName(ctx context.Context, username string) (User, error) {
	u, err := scanUser(s.q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE username = $1`, username))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return User{}, fmt.Errorf("user %s: %w", username, ErrUserNotFound)
	case err != nil:
		return User{}, wrapErr(err, "meta: get user %s", username)
	}
	return u, nil
}

// UserFilter narrows ListUsers. Empty fields match everything; Username
// and Email match substrings, case-insensitively for ASCII.
type UserFilter struct {
	Username string
	Email    string
}

// likePattern makes a LIKE pattern matching s anywhere, with s's own
// wildcards escaped (ESCAPE '\').
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + strings.ToLower(r.Replace(s)) + "%"
}

// ListUsers returns one page of the users matching f, ordered by username,
// and how many match in all.
func (s *Store) ListUsers(ctx context.Context, f UserFilter, p Page) ([]User, int, error) {
	const where = `WHERE lower(username) LIKE $1 ESCAPE '\' AND lower(email) LIKE $2 ESCAPE '\'`
	args := []any{likePattern(f.Username), likePattern(f.Email)}
	var total int
	if err := s.q.QueryRowContext(ctx, `SELECT count(*) FROM users `+where, args...).Scan(&total); err != nil {
		return nil, 0, wrapErr(err, "meta: list users")
	}
	if p.Limit <= 0 {
		return []User{}, total, nil
	}
	out, err := queryAll(ctx, s.q, scanUser, `SELECT `+userColumns+` FROM users `+where+`
		ORDER BY username LIMIT $3 OFFSET $4`, append(args, p.Limit, max(p.Offset, 0))...)
	if err != nil {
		return nil, 0, wrapErr(err, "meta: list users")
	}
	return out, total, nil
}

// UpdateUser writes u's profile and flags (Email, Realname, Sysadmin,
// Disabled, LDAPDN, LDAPGroupDNs, LDAPAdmin) to the user with u.ID and
// returns the stored row. The username, password and source do not change
// here. Missing: ErrUserNotFound.
func (s *Store) UpdateUser(ctx context.Context, u User) (User, error) {
	groups, err := jsonText(normalizeDNs(u.LDAPGroupDNs))
	if err != nil {
		return User{}, err
	}
	got, err := scanUser(s.q.QueryRowContext(ctx, `
		UPDATE users SET email = $2, realname = $3, sysadmin = $4, disabled = $5, ldap_dn = $6,
			ldap_group_dns = $7, ldap_admin = $8, updated_at = $9
		WHERE id = $1
		RETURNING `+userColumns,
		u.ID, u.Email, u.Realname, u.Sysadmin, u.Disabled, u.LDAPDN, groups, u.LDAPAdmin, s.timestamp()))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return User{}, fmt.Errorf("user %d: %w", u.ID, ErrUserNotFound)
	case err != nil:
		return User{}, wrapErr(err, "meta: update user %d", u.ID)
	}
	return got, nil
}

// SetPasswordHash replaces the password hash of user id. Missing:
// ErrUserNotFound.
func (s *Store) SetPasswordHash(ctx context.Context, id int64, hash string) error {
	res, err := s.q.ExecContext(ctx, `
		UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1`, id, hash, s.timestamp())
	if err != nil {
		return wrapErr(err, "meta: set password of user %d", id)
	}
	return expectOne(res, fmt.Errorf("user %d: %w", id, ErrUserNotFound), "meta: set password of user %d", id)
}

// DeleteUser deletes user id and its project memberships; projects it
// owned keep existing without an owner. Missing: ErrUserNotFound.
func (s *Store) DeleteUser(ctx context.Context, id int64) error {
	return s.InTx(ctx, func(tx *Store) error {
		// Explicit, so as not to depend on foreign keys being enforced.
		if _, err := tx.q.ExecContext(ctx, `DELETE FROM project_members WHERE user_id = $1`, id); err != nil {
			return wrapErr(err, "meta: delete user %d", id)
		}
		if _, err := tx.q.ExecContext(ctx, `UPDATE projects SET owner_id = NULL WHERE owner_id = $1`, id); err != nil {
			return wrapErr(err, "meta: delete user %d", id)
		}
		res, err := tx.q.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, id)
		if err != nil {
			return wrapErr(err, "meta: delete user %d", id)
		}
		return expectOne(res, fmt.Errorf("user %d: %w", id, ErrUserNotFound), "meta: delete user %d", id)
	})
}

// --- robot accounts ---

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
	CreatedAt time.Time
	UpdatedAt time.Time
}

const robotColumns = `id, name, description, secret_hash, level, project_id, permissions, expires_at,
	disabled, created_at, updated_at`

func scanRobot(row interface{ Scan(...any) error }) (Robot, error) {
	var (
		r       Robot
		project sql.NullInt64
		perms   string
		expires sql.NullTime
	)
	err := row.Scan(&r.ID, &r.Name, &r.Description, &r.SecretHash, &r.Level, &project, &perms, &expires,
		&r.Disabled, &r.CreatedAt, &r.UpdatedAt)
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

// CreateRobot inserts r and returns the stored row (ID, CreatedAt and
// UpdatedAt are ignored). Taken name: ErrRobotExists; a project robot
// whose project is missing: ErrProjectNotFound.
func (s *Store) CreateRobot(ctx context.Context, r Robot) (Robot, error) {
	project, perms, expires, err := robotArgs(r)
	if err != nil {
		return Robot{}, err
	}
	var got Robot
	err = s.InTx(ctx, func(tx *Store) error {
		if r.ProjectID != 0 {
			if _, err := tx.GetProject(ctx, r.ProjectID); err != nil {
				return err
			}
		}
		now := tx.timestamp()
		got, err = scanRobot(tx.q.QueryRowContext(ctx, `
			INSERT INTO robots (name, description, secret_hash, level, project_id, permissions, expires_at,
				disabled, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
			ON CONFLICT DO NOTHING
			RETURNING `+robotColumns,
			r.Name, r.Description, r.SecretHash, r.Level, project, perms, expires, r.Disabled, now))
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
func (s *Store) GetRobot(ctx context.Context, id int64) (Robot, error) {
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
func (s *Store) GetRobotByName(ctx context.Context, name string) (Robot, error) {
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
func (s *Store) ListRobots(ctx context.Context, f RobotFilter, p Page) ([]Robot, int, error) {
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
func (s *Store) UpdateRobot(ctx context.Context, r Robot) (Robot, error) {
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
func (s *Store) SetRobotSecretHash(ctx context.Context, id int64, hash string) error {
	res, err := s.q.ExecContext(ctx, `
		UPDATE robots SET secret_hash = $2, updated_at = $3 WHERE id = $1`, id, hash, s.timestamp())
	if err != nil {
		return wrapErr(err, "meta: set secret of robot %d", id)
	}
	return expectOne(res, fmt.Errorf("robot %d: %w", id, ErrRobotNotFound), "meta: set secret of robot %d", id)
}

// DeleteRobot deletes robot id. Missing: ErrRobotNotFound.
func (s *Store) DeleteRobot(ctx context.Context, id int64) error {
	res, err := s.q.ExecContext(ctx, `DELETE FROM robots WHERE id = $1`, id)
	if err != nil {
		return wrapErr(err, "meta: delete robot %d", id)
	}
	return expectOne(res, fmt.Errorf("robot %d: %w", id, ErrRobotNotFound), "meta: delete robot %d", id)
}

// --- failed logins ---

// LoginFailures is the failure count of one key (e.g. "user:alice",
// "ip:192.0.2.1") in its current window.
type LoginFailures struct {
	Failures    int
	WindowStart time.Time
}

// RecordLoginFailure counts one failed login for key and returns the new
// state. A window older than window is restarted at the store's clock.
// Every replica sharing the database sees the same count.
func (s *Store) RecordLoginFailure(ctx context.Context, key string, window time.Duration) (LoginFailures, error) {
	now := s.timestamp()
	var lf LoginFailures
	err := s.q.QueryRowContext(ctx, `
		INSERT INTO login_failures (key, failures, window_start) VALUES ($1, 1, $2)
		ON CONFLICT (key) DO UPDATE SET
			failures = CASE WHEN login_failures.window_start <= $3 THEN 1 ELSE login_failures.failures + 1 END,
			window_start = CASE WHEN login_failures.window_start <= $3 THEN excluded.window_start ELSE login_failures.window_start END
		RETURNING failures, window_start`, key, now, now.Add(-window)).Scan(&lf.Failures, &lf.WindowStart)
	if err != nil {
		return LoginFailures{}, wrapErr(err, "meta: record login failure")
	}
	lf.WindowStart = lf.WindowStart.UTC()
	return lf, nil
}

// GetLoginFailures returns the failures of each key whose window started
// after now-window (keys without such a window are left out).
func (s *Store) GetLoginFailures(ctx context.Context, keys []string, window time.Duration) (map[string]LoginFailures, error) {
	out := map[string]LoginFailures{}
	if len(keys) == 0 {
		return out, nil
	}
	args := []any{s.timestamp().Add(-window)}
	ph := make([]string, len(keys))
	for i, k := range keys {
		args = append(args, k)
		ph[i] = fmt.Sprintf("$%d", i+2)
	}
	rows, err := s.q.QueryContext(ctx, `
		SELECT key, failures, window_start FROM login_failures
		WHERE window_start > $1 AND key IN (`+strings.Join(ph, ", ")+`)`, args...)
	if err != nil {
		return nil, wrapErr(err, "meta: get login failures")
	}
	defer rows.Close()
	for rows.Next() {
		var (
			k  string
			lf LoginFailures
		)
		if err := rows.Scan(&k, &lf.Failures, &lf.WindowStart); err != nil {
			return nil, wrapErr(err, "meta: get login failures")
		}
		lf.WindowStart = lf.WindowStart.UTC()
		out[k] = lf
	}
	if err := rows.Err(); err != nil {
		return nil, wrapErr(err, "meta: get login failures")
	}
	return out, nil
}

// ClearLoginFailures forgets the failures of key (after a successful login).
func (s *Store) ClearLoginFailures(ctx context.Context, key string) error {
	if _, err := s.q.ExecContext(ctx, `DELETE FROM login_failures WHERE key = $1`, key); err != nil {
		return wrapErr(err, "meta: clear login failures")
	}
	return nil
}

// PurgeLoginFailures deletes windows that started before before and
// returns how many.
func (s *Store) PurgeLoginFailures(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.q.ExecContext(ctx, `DELETE FROM login_failures WHERE window_start < $1`, micro(before))
	if err != nil {
		return 0, wrapErr(err, "meta: purge login failures")
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, wrapErr(err, "meta: purge login failures")
	}
	return n, nil
}

// SessionGeneration returns user id's session generation: portal sessions
// issued under another generation are no longer valid. Missing:
// ErrUserNotFound.
func (s *Store) SessionGeneration(ctx context.Context, id int64) (int64, error) {
	var gen int64
	err := s.q.QueryRowContext(ctx, `SELECT session_gen FROM users WHERE id = $1`, id).Scan(&gen)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, fmt.Errorf("user %d: %w", id, ErrUserNotFound)
	case err != nil:
		return 0, wrapErr(err, "meta: session generation of user %d", id)
	}
	return gen, nil
}

// BumpSessionGeneration increments user id's session generation, ending
// every portal session issued before, and returns the new one. Missing:
// ErrUserNotFound.
func (s *Store) BumpSessionGeneration(ctx context.Context, id int64) (int64, error) {
	var gen int64
	err := s.q.QueryRowContext(ctx, `UPDATE users SET session_gen = session_gen + 1 WHERE id = $1 RETURNING session_gen`, id).Scan(&gen)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, fmt.Errorf("user %d: %w", id, ErrUserNotFound)
	case err != nil:
		return 0, wrapErr(err, "meta: end sessions of user %d", id)
	}
	return gen, nil
}
