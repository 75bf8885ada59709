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

// User errors. Callers compare with errors.Is.
var (
	ErrUserNotFound = errors.New("user not found")
	ErrUserExists   = errors.New("user already exists")
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

// Users holds user accounts and the failed-login counts that throttle
// logins.
type Users struct{ *handle }

// CreateUser inserts u and returns the stored row. u.ID, CreatedAt and
// UpdatedAt are ignored; an empty Source means SourceLocal. Taken username:
// ErrUserExists.
func (s *Users) CreateUser(ctx context.Context, u User) (User, error) {
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
func (s *Users) GetUser(ctx context.Context, id int64) (User, error) {
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
func (s *Users) GetUserByName(ctx context.Context, username string) (User, error) {
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

// ListUsers returns one page of the users matching f, ordered by username,
// and how many match in all.
func (s *Users) ListUsers(ctx context.Context, f UserFilter, p Page) ([]User, int, error) {
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
func (s *Users) UpdateUser(ctx context.Context, u User) (User, error) {
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
func (s *Users) SetPasswordHash(ctx context.Context, id int64, hash string) error {
	res, err := s.q.ExecContext(ctx, `
		UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1`, id, hash, s.timestamp())
	if err != nil {
		return wrapErr(err, "meta: set password of user %d", id)
	}
	return expectOne(res, fmt.Errorf("user %d: %w", id, ErrUserNotFound), "meta: set password of user %d", id)
}

// DeleteUser deletes user id and its project memberships; projects it
// owned keep existing without an owner. Missing: ErrUserNotFound.
func (s *Users) DeleteUser(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(tx *handle) error {
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

// LoginFailures is the failure count of one key (e.g. "user:alice",
// "ip:192.0.2.1") in its current window.
type LoginFailures struct {
	Failures    int
	WindowStart time.Time
}

// RecordLoginFailure counts one failed login for key and returns the new
// state. A window older than window is restarted at the store's clock.
// Every replica sharing the database sees the same count.
func (s *Users) RecordLoginFailure(ctx context.Context, key string, window time.Duration) (LoginFailures, error) {
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
func (s *Users) GetLoginFailures(ctx context.Context, keys []string, window time.Duration) (map[string]LoginFailures, error) {
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
func (s *Users) ClearLoginFailures(ctx context.Context, key string) error {
	if _, err := s.q.ExecContext(ctx, `DELETE FROM login_failures WHERE key = $1`, key); err != nil {
		return wrapErr(err, "meta: clear login failures")
	}
	return nil
}

// PurgeLoginFailures deletes windows that started before before and
// returns how many.
func (s *Users) PurgeLoginFailures(ctx context.Context, before time.Time) (int64, error) {
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
func (s *Users) SessionGeneration(ctx context.Context, id int64) (int64, error) {
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
func (s *Users) BumpSessionGeneration(ctx context.Context, id int64) (int64, error) {
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
