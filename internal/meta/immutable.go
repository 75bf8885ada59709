package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Immutable is the tag immutability aggregate: Harbor's immutable tag
// rules, per project. The rule's selectors are stored as JSON the
// internal/immutable package reads; the store keeps them opaque.
type Immutable struct{ *handle }

// Errors of the immutable rule aggregate.
var (
	ErrImmutableRuleNotFound = errors.New("immutable tag rule not found")
	// ErrTooManyImmutableRules: the project has MaxImmutableRules rules.
	ErrTooManyImmutableRules = errors.New("too many immutable tag rules in the project")
)

// MaxImmutableRules bounds the rules of one project (Harbor allows 15).
const MaxImmutableRules = 15

// ImmutableRule is one project's immutable tag rule.
type ImmutableRule struct {
	ID        int64
	ProjectID int64
	Disabled  bool
	Priority  int
	// Rule is the rule's JSON (tag_selectors, scope_selectors ...).
	Rule      []byte
	CreatedAt time.Time
	UpdatedAt time.Time
}

const immutableColumns = `id, project_id, disabled, priority, rule, created_at, updated_at`

func scanImmutableRule(row rowScanner) (ImmutableRule, error) {
	var (
		r    ImmutableRule
		rule string
	)
	err := row.Scan(&r.ID, &r.ProjectID, &r.Disabled, &r.Priority, &rule, &r.CreatedAt, &r.UpdatedAt)
	r.Rule = []byte(rule)
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return r, err
}

// ListImmutableRules returns one page of project pid's rules ordered by
// id, and how many it has.
func (s *Immutable) ListImmutableRules(ctx context.Context, pid int64, pg Page) ([]ImmutableRule, int, error) {
	var total int
	if err := s.q.QueryRowContext(ctx, `SELECT count(*) FROM immutable_rules WHERE project_id = $1`, pid).Scan(&total); err != nil {
		return nil, 0, wrapErr(err, "meta: list immutable rules of project %d", pid)
	}
	if pg.Limit <= 0 {
		return []ImmutableRule{}, total, nil
	}
	out, err := queryAll(ctx, s.q, scanImmutableRule, `SELECT `+immutableColumns+` FROM immutable_rules
		WHERE project_id = $1 ORDER BY id LIMIT $2 OFFSET $3`, pid, pg.Limit, max(pg.Offset, 0))
	if err != nil {
		return nil, 0, wrapErr(err, "meta: list immutable rules of project %d", pid)
	}
	return out, total, nil
}

// EnabledImmutableRules returns the enabled rules of the project named
// project (none when it has none or does not exist), ordered by id.
func (s *Immutable) EnabledImmutableRules(ctx context.Context, project string) ([]ImmutableRule, error) {
	out, err := queryAll(ctx, s.q, scanImmutableRule, `SELECT `+immutableColumns+` FROM immutable_rules
		WHERE project_id = (SELECT id FROM projects WHERE name = $1) AND disabled = $2 ORDER BY id`, project, false)
	if err != nil {
		return nil, wrapErr(err, "meta: immutable rules of project %s", project)
	}
	return out, nil
}

// GetImmutableRule returns rule id of project pid. Missing (or another
// project's): ErrImmutableRuleNotFound.
func (s *Immutable) GetImmutableRule(ctx context.Context, pid, id int64) (ImmutableRule, error) {
	r, err := scanImmutableRule(s.q.QueryRowContext(ctx, `SELECT `+immutableColumns+` FROM immutable_rules
		WHERE id = $1 AND project_id = $2`, id, pid))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ImmutableRule{}, fmt.Errorf("immutable rule %d: %w", id, ErrImmutableRuleNotFound)
	case err != nil:
		return ImmutableRule{}, wrapErr(err, "meta: get immutable rule %d", id)
	}
	return r, nil
}

// CreateImmutableRule stores r (ID and times are ignored) in project
// r.ProjectID and returns it. Missing project: ErrProjectNotFound; the
// project at MaxImmutableRules: ErrTooManyImmutableRules.
func (s *Immutable) CreateImmutableRule(ctx context.Context, r ImmutableRule) (ImmutableRule, error) {
	var got ImmutableRule
	err := s.inTx(ctx, func(tx *handle) error {
		if err := tx.lockProject(ctx, r.ProjectID); err != nil {
			return err
		}
		var n int
		if err := tx.q.QueryRowContext(ctx, `SELECT count(*) FROM immutable_rules WHERE project_id = $1`, r.ProjectID).Scan(&n); err != nil {
			return wrapErr(err, "meta: create immutable rule")
		}
		if n >= MaxImmutableRules {
			return fmt.Errorf("%w: at most %d", ErrTooManyImmutableRules, MaxImmutableRules)
		}
		var err error
		got, err = scanImmutableRule(tx.q.QueryRowContext(ctx, `INSERT INTO immutable_rules
			(project_id, disabled, priority, rule, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)
			RETURNING `+immutableColumns, r.ProjectID, r.Disabled, r.Priority, string(r.Rule), tx.timestamp()))
		if err != nil {
			return wrapErr(err, "meta: create immutable rule")
		}
		return nil
	})
	return got, err
}

// lockProject checks that project pid exists and, on PostgreSQL, locks its
// row until the transaction ends (per-project counts stay bounded under
// concurrent creates; SQLite has one writer).
func (h *handle) lockProject(ctx context.Context, pid int64) error {
	q := `SELECT id FROM projects WHERE id = $1`
	if h.dialect == dialectPostgres {
		q += ` FOR UPDATE`
	}
	var id int64
	err := h.q.QueryRowContext(ctx, q, pid).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("project %d: %w", pid, ErrProjectNotFound)
	case err != nil:
		return wrapErr(err, "meta: project %d", pid)
	}
	return nil
}

// UpdateImmutableRule replaces rule r.ID of project r.ProjectID (its
// disabled flag, priority and selectors). Missing:
// ErrImmutableRuleNotFound.
func (s *Immutable) UpdateImmutableRule(ctx context.Context, r ImmutableRule) error {
	res, err := s.q.ExecContext(ctx, `UPDATE immutable_rules SET disabled = $3, priority = $4, rule = $5, updated_at = $6
		WHERE id = $1 AND project_id = $2`, r.ID, r.ProjectID, r.Disabled, r.Priority, string(r.Rule), s.timestamp())
	if err != nil {
		return wrapErr(err, "meta: update immutable rule %d", r.ID)
	}
	return expectOne(res, fmt.Errorf("immutable rule %d: %w", r.ID, ErrImmutableRuleNotFound), "meta: update immutable rule %d", r.ID)
}

// DeleteImmutableRule deletes rule id of project pid. Missing:
// ErrImmutableRuleNotFound.
func (s *Immutable) DeleteImmutableRule(ctx context.Context, pid, id int64) error {
	res, err := s.q.ExecContext(ctx, `DELETE FROM immutable_rules WHERE id = $1 AND project_id = $2`, id, pid)
	if err != nil {
		return wrapErr(err, "meta: delete immutable rule %d", id)
	}
	return expectOne(res, fmt.Errorf("immutable rule %d: %w", id, ErrImmutableRuleNotFound), "meta: delete immutable rule %d", id)
}
