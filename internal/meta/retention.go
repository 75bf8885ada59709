package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Retention holds tag retention: one policy per project (Harbor's
// RetentionPolicy as JSON, which internal/retention owns), its executions
// and their per-repository tasks.
type Retention struct{ *handle }

// Retention errors.
var (
	ErrRetentionNotFound          = errors.New("retention policy not found")
	ErrRetentionExists            = errors.New("project already has a retention policy")
	ErrRetentionExecutionNotFound = errors.New("retention execution not found")
	ErrRetentionTaskNotFound      = errors.New("retention task not found")
)

// Retention execution and task statuses (Harbor's).
const (
	RetentionRunning = "Running"
	RetentionSuccess = "Success"
	RetentionError   = "Error"
	RetentionStopped = "Stopped"
)

// RetentionPolicy is a stored policy.
type RetentionPolicy struct {
	ID        int64
	ProjectID int64
	Policy    []byte // JSON
	Cron      string // "" for none
	NextRun   time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
}

// RetentionExecution is one run of a policy.
type RetentionExecution struct {
	ID        int64
	PolicyID  int64
	Status    string
	Trigger   string // "MANUAL" or "SCHEDULE"
	DryRun    bool
	StartedAt time.Time
	EndedAt   time.Time // zero while running
}

// RetentionTask is one repository of an execution.
type RetentionTask struct {
	ID          int64
	ExecutionID int64
	Repository  string
	Status      string
	Total       int
	Retained    int
	Log         string
	StartedAt   time.Time
	EndedAt     time.Time
}

const retentionPolicyColumns = `id, project_id, policy, cron, next_run_at, created_at, updated_at`

func scanRetentionPolicy(row rowScanner) (RetentionPolicy, error) {
	var (
		p    RetentionPolicy
		body string
		next flexTime
	)
	err := row.Scan(&p.ID, &p.ProjectID, &body, &p.Cron, &next, &p.CreatedAt, &p.UpdatedAt)
	p.Policy, p.NextRun = []byte(body), next.Time
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p, err
}

// CreatePolicy stores project projectID's policy. Taken:
// ErrRetentionExists.
func (s *Retention) CreatePolicy(ctx context.Context, projectID int64, policy []byte, cron string, next time.Time) (RetentionPolicy, error) {
	p, err := scanRetentionPolicy(s.q.QueryRowContext(ctx, `INSERT INTO retention_policies
		(project_id, policy, cron, next_run_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)
		ON CONFLICT (project_id) DO NOTHING RETURNING `+retentionPolicyColumns,
		projectID, string(policy), cron, nullTime(next), s.timestamp()))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return RetentionPolicy{}, fmt.Errorf("project %d: %w", projectID, ErrRetentionExists)
	case err != nil:
		return RetentionPolicy{}, wrapErr(err, "meta: create retention policy of project %d", projectID)
	}
	return p, nil
}

// GetPolicy returns policy id. Missing: ErrRetentionNotFound.
func (s *Retention) GetPolicy(ctx context.Context, id int64) (RetentionPolicy, error) {
	return s.getPolicy(ctx, "id", id)
}

// GetProjectPolicy returns project projectID's policy. None:
// ErrRetentionNotFound.
func (s *Retention) GetProjectPolicy(ctx context.Context, projectID int64) (RetentionPolicy, error) {
	return s.getPolicy(ctx, "project_id", projectID)
}

func (s *Retention) getPolicy(ctx context.Context, col string, v int64) (RetentionPolicy, error) {
	p, err := scanRetentionPolicy(s.q.QueryRowContext(ctx, `SELECT `+retentionPolicyColumns+
		` FROM retention_policies WHERE `+col+` = $1`, v))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return RetentionPolicy{}, fmt.Errorf("retention policy (%s %d): %w", col, v, ErrRetentionNotFound)
	case err != nil:
		return RetentionPolicy{}, wrapErr(err, "meta: get retention policy")
	}
	return p, nil
}

// UpdatePolicy replaces policy id's body and schedule. Missing:
// ErrRetentionNotFound.
func (s *Retention) UpdatePolicy(ctx context.Context, id int64, policy []byte, cron string, next time.Time) error {
	res, err := s.q.ExecContext(ctx, `UPDATE retention_policies SET policy = $2, cron = $3, next_run_at = $4, updated_at = $5
		WHERE id = $1`, id, string(policy), cron, nullTime(next), s.timestamp())
	if err != nil {
		return wrapErr(err, "meta: update retention policy %d", id)
	}
	return expectOne(res, fmt.Errorf("retention policy %d: %w", id, ErrRetentionNotFound), "meta: update retention policy %d", id)
}

// DeletePolicy deletes policy id with its executions and tasks. Missing:
// ErrRetentionNotFound.
func (s *Retention) DeletePolicy(ctx context.Context, id int64) error {
	res, err := s.q.ExecContext(ctx, `DELETE FROM retention_policies WHERE id = $1`, id)
	if err != nil {
		return wrapErr(err, "meta: delete retention policy %d", id)
	}
	return expectOne(res, fmt.Errorf("retention policy %d: %w", id, ErrRetentionNotFound), "meta: delete retention policy %d", id)
}

// TakeDuePolicies claims up to limit policies whose scheduled run is due
// at or before now, moving each to next(cron, now) (exactly one caller
// claims each run), and returns them.
func (s *Retention) TakeDuePolicies(ctx context.Context, limit int, next func(cron string, after time.Time) time.Time) ([]RetentionPolicy, error) {
	now := s.timestamp()
	due, err := queryAll(ctx, s.q, scanRetentionPolicy, `SELECT `+retentionPolicyColumns+` FROM retention_policies
		WHERE next_run_at IS NOT NULL AND next_run_at <= $1 ORDER BY next_run_at, id LIMIT $2`, now, limit)
	if err != nil {
		return nil, wrapErr(err, "meta: due retention policies")
	}
	var out []RetentionPolicy
	for _, p := range due {
		res, err := s.q.ExecContext(ctx, `UPDATE retention_policies SET next_run_at = $3 WHERE id = $1 AND next_run_at = $2`,
			p.ID, micro(p.NextRun), nullTime(next(p.Cron, now)))
		if err != nil {
			return out, wrapErr(err, "meta: take retention policy %d", p.ID)
		}
		if n, err := res.RowsAffected(); err == nil && n == 1 {
			out = append(out, p)
		}
	}
	return out, nil
}

const retentionExecutionColumns = `id, policy_id, status, trigger_kind, dry_run, started_at, ended_at`

func scanRetentionExecution(row rowScanner) (RetentionExecution, error) {
	var (
		e     RetentionExecution
		ended flexTime
	)
	err := row.Scan(&e.ID, &e.PolicyID, &e.Status, &e.Trigger, &e.DryRun, &e.StartedAt, &ended)
	e.StartedAt, e.EndedAt = e.StartedAt.UTC(), ended.Time
	return e, err
}

// CreateExecution records a run of policy policyID that starts now
// (status Running).
func (s *Retention) CreateExecution(ctx context.Context, policyID int64, trigger string, dryRun bool) (RetentionExecution, error) {
	e, err := scanRetentionExecution(s.q.QueryRowContext(ctx, `INSERT INTO retention_executions
		(policy_id, status, trigger_kind, dry_run, started_at) VALUES ($1, $2, $3, $4, $5) RETURNING `+retentionExecutionColumns,
		policyID, RetentionRunning, trigger, dryRun, s.timestamp()))
	if err != nil {
		return RetentionExecution{}, wrapErr(err, "meta: create retention execution of policy %d", policyID)
	}
	return e, nil
}

// GetExecution returns execution id. Missing:
// ErrRetentionExecutionNotFound.
func (s *Retention) GetExecution(ctx context.Context, id int64) (RetentionExecution, error) {
	e, err := scanRetentionExecution(s.q.QueryRowContext(ctx, `SELECT `+retentionExecutionColumns+
		` FROM retention_executions WHERE id = $1`, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return RetentionExecution{}, fmt.Errorf("retention execution %d: %w", id, ErrRetentionExecutionNotFound)
	case err != nil:
		return RetentionExecution{}, wrapErr(err, "meta: get retention execution %d", id)
	}
	return e, nil
}

// ListExecutions returns one page of policy policyID's executions, newest
// first, and their total.
func (s *Retention) ListExecutions(ctx context.Context, policyID int64, pg Page) ([]RetentionExecution, int, error) {
	var total int
	if err := s.q.QueryRowContext(ctx, `SELECT count(*) FROM retention_executions WHERE policy_id = $1`, policyID).Scan(&total); err != nil {
		return nil, 0, wrapErr(err, "meta: list retention executions")
	}
	if pg.Limit <= 0 {
		return []RetentionExecution{}, total, nil
	}
	out, err := queryAll(ctx, s.q, scanRetentionExecution, `SELECT `+retentionExecutionColumns+` FROM retention_executions
		WHERE policy_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3`, policyID, pg.Limit, max(pg.Offset, 0))
	if err != nil {
		return nil, 0, wrapErr(err, "meta: list retention executions")
	}
	return out, total, nil
}

// FinishExecution moves execution id from Running to status (a stopped
// execution stays Stopped). ok is false when it was not running.
func (s *Retention) FinishExecution(ctx context.Context, id int64, status string) (ok bool, err error) {
	res, err := s.q.ExecContext(ctx, `UPDATE retention_executions SET status = $2, ended_at = $3
		WHERE id = $1 AND status = $4`, id, status, s.timestamp(), RetentionRunning)
	if err != nil {
		return false, wrapErr(err, "meta: finish retention execution %d", id)
	}
	n, err := res.RowsAffected()
	return n == 1, wrapNil(err, "meta: finish retention execution")
}

// PruneExecutions deletes policy policyID's executions (with their tasks)
// beyond the keep newest, and returns how many went.
func (s *Retention) PruneExecutions(ctx context.Context, policyID int64, keep int) (int, error) {
	res, err := s.q.ExecContext(ctx, `DELETE FROM retention_executions WHERE policy_id = $1 AND id < (
		SELECT COALESCE(min(id), 0) FROM (SELECT id FROM retention_executions WHERE policy_id = $1 ORDER BY id DESC LIMIT $2) AS newest)`,
		policyID, keep)
	if err != nil {
		return 0, wrapErr(err, "meta: prune retention executions of policy %d", policyID)
	}
	n, err := res.RowsAffected()
	return int(n), wrapNil(err, "meta: prune retention executions")
}

// FailStaleExecutions ends as Error every execution still Running that
// started before before (its worker died: the job is not retried), and
// returns how many.
func (s *Retention) FailStaleExecutions(ctx context.Context, before time.Time) (int, error) {
	res, err := s.q.ExecContext(ctx, `UPDATE retention_executions SET status = $1, ended_at = $2
		WHERE status = $3 AND started_at < $4`, RetentionError, s.timestamp(), RetentionRunning, micro(before))
	if err != nil {
		return 0, wrapErr(err, "meta: fail stale retention executions")
	}
	n, err := res.RowsAffected()
	return int(n), wrapNil(err, "meta: fail stale retention executions")
}

const retentionTaskColumns = `id, execution_id, repository, status, total, retained, log, started_at, ended_at`

func scanRetentionTask(row rowScanner) (RetentionTask, error) {
	var (
		t     RetentionTask
		ended flexTime
	)
	err := row.Scan(&t.ID, &t.ExecutionID, &t.Repository, &t.Status, &t.Total, &t.Retained, &t.Log, &t.StartedAt, &ended)
	t.StartedAt, t.EndedAt = t.StartedAt.UTC(), ended.Time
	return t, err
}

// CreateTask records the task of repository repo in execution execID,
// starting now (status Running).
func (s *Retention) CreateTask(ctx context.Context, execID int64, repo string) (RetentionTask, error) {
	t, err := scanRetentionTask(s.q.QueryRowContext(ctx, `INSERT INTO retention_tasks
		(execution_id, repository, status, started_at) VALUES ($1, $2, $3, $4) RETURNING `+retentionTaskColumns,
		execID, repo, RetentionRunning, s.timestamp()))
	if err != nil {
		return RetentionTask{}, wrapErr(err, "meta: create retention task")
	}
	return t, nil
}

// FinishTask records task id's outcome (the log is kept up to 1 MiB).
// Missing: ErrRetentionTaskNotFound.
func (s *Retention) FinishTask(ctx context.Context, id int64, status string, total, retained int, log string) error {
	res, err := s.q.ExecContext(ctx, `UPDATE retention_tasks SET status = $2, total = $3, retained = $4, log = $5, ended_at = $6
		WHERE id = $1`, id, status, total, retained, truncate(log, 1<<20), s.timestamp())
	if err != nil {
		return wrapErr(err, "meta: finish retention task %d", id)
	}
	return expectOne(res, fmt.Errorf("retention task %d: %w", id, ErrRetentionTaskNotFound), "meta: finish retention task %d", id)
}

// ListTasks returns one page of execution execID's tasks, in creation
// order, and their total.
func (s *Retention) ListTasks(ctx context.Context, execID int64, pg Page) ([]RetentionTask, int, error) {
	var total int
	if err := s.q.QueryRowContext(ctx, `SELECT count(*) FROM retention_tasks WHERE execution_id = $1`, execID).Scan(&total); err != nil {
		return nil, 0, wrapErr(err, "meta: list retention tasks")
	}
	if pg.Limit <= 0 {
		return []RetentionTask{}, total, nil
	}
	out, err := queryAll(ctx, s.q, scanRetentionTask, `SELECT `+retentionTaskColumns+` FROM retention_tasks
		WHERE execution_id = $1 ORDER BY id LIMIT $2 OFFSET $3`, execID, pg.Limit, max(pg.Offset, 0))
	if err != nil {
		return nil, 0, wrapErr(err, "meta: list retention tasks")
	}
	return out, total, nil
}

// GetTask returns task id. Missing: ErrRetentionTaskNotFound.
func (s *Retention) GetTask(ctx context.Context, id int64) (RetentionTask, error) {
	t, err := scanRetentionTask(s.q.QueryRowContext(ctx, `SELECT `+retentionTaskColumns+` FROM retention_tasks WHERE id = $1`, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return RetentionTask{}, fmt.Errorf("retention task %d: %w", id, ErrRetentionTaskNotFound)
	case err != nil:
		return RetentionTask{}, wrapErr(err, "meta: get retention task %d", id)
	}
	return t, nil
}
