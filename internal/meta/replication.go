package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Replication errors.
var (
	ErrPolicyNotFound    = errors.New("replication policy not found")
	ErrPolicyExists      = errors.New("replication policy name already in use")
	ErrExecutionNotFound = errors.New("replication execution not found")
	ErrTaskNotFound      = errors.New("replication task not found")
)

// ReplicationPolicy is a replication rule (Harbor's ReplicationPolicy).
// A zero registry id is the local Berth. Filters is JSON, owned by
// internal/replication.
type ReplicationPolicy struct {
	ID                int64
	Name              string
	Description       string
	Creator           string
	SrcRegistryID     int64
	DestRegistryID    int64
	DestNamespace     string
	DestReplaceCount  int
	Filters           string
	TriggerType       string
	TriggerCron       string
	Override          bool
	ReplicateDeletion bool
	Enabled           bool
	SpeedKB           int
	CopyByChunk       bool
	NextRun           time.Time // zero: none
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// Execution statuses (Harbor's).
const (
	ExecRunning = "InProgress"
	ExecSucceed = "Succeed"
	ExecFailed  = "Failed"
	ExecStopped = "Stopped"
)

// Task statuses (Harbor's).
const (
	TaskPending = "Pending"
	TaskRunning = "InProgress"
	TaskSucceed = "Succeed"
	TaskFailed  = "Failed"
	TaskStopped = "Stopped"
)

// ReplicationExecution is one run of a policy, with its task counts.
type ReplicationExecution struct {
	ID            int64
	PolicyID      int64
	Trigger       string
	Status        string
	StatusText    string
	StopRequested bool
	StartTime     time.Time
	EndTime       time.Time // zero: running
	Total         int
	Failed        int
	Succeed       int
	InProgress    int // pending or running
	Stopped       int
	Bytes         int64
}

// ReplicationTask copies (or deletes) one artifact.
type ReplicationTask struct {
	ID           int64
	ExecutionID  int64
	ResourceType string
	Operation    string // "copy" or "deletion"
	SrcResource  string // repository
	DstResource  string // repository
	Reference    string // digest or tag
	Status       string
	Bytes        int64
	Attempts     int
	Log          string
	StartTime    time.Time
	EndTime      time.Time

	// Args are the task's job arguments (JSON, written by the caller), to
	// queue it again when its replica died.
	Args string
	// Resume is what the last attempt left to resume from (JSON, written
	// by the caller through HeartbeatTask).
	Resume string
}

// Replication is the aggregate of policies, executions and tasks.
type Replication struct{ *handle }

const policyColumns = `id, name, description, creator, src_registry_id, dest_registry_id, dest_namespace,
	dest_replace_count, filters, trigger_type, trigger_cron, override, replicate_deletion, enabled, speed_kb,
	copy_by_chunk, next_run_at, created_at, updated_at`

func scanPolicy(row rowScanner) (ReplicationPolicy, error) {
	var (
		p        ReplicationPolicy
		src, dst sql.NullInt64
		next     flexTime
	)
	err := row.Scan(&p.ID, &p.Name, &p.Description, &p.Creator, &src, &dst, &p.DestNamespace, &p.DestReplaceCount,
		&p.Filters, &p.TriggerType, &p.TriggerCron, &p.Override, &p.ReplicateDeletion, &p.Enabled, &p.SpeedKB,
		&p.CopyByChunk, &next, &p.CreatedAt, &p.UpdatedAt)
	p.SrcRegistryID, p.DestRegistryID, p.NextRun = src.Int64, dst.Int64, next.Time
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p, err
}

// CreatePolicy inserts p. Taken name: ErrPolicyExists.
func (s *Replication) CreatePolicy(ctx context.Context, p ReplicationPolicy) (ReplicationPolicy, error) {
	got, err := scanPolicy(s.q.QueryRowContext(ctx, `INSERT INTO replication_policies (name, description, creator,
		src_registry_id, dest_registry_id, dest_namespace, dest_replace_count, filters, trigger_type, trigger_cron,
		override, replicate_deletion, enabled, speed_kb, copy_by_chunk, next_run_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17)
		ON CONFLICT DO NOTHING RETURNING `+policyColumns,
		p.Name, p.Description, p.Creator, nullID(p.SrcRegistryID), nullID(p.DestRegistryID), p.DestNamespace,
		p.DestReplaceCount, p.Filters, p.TriggerType, p.TriggerCron, p.Override, p.ReplicateDeletion, p.Enabled,
		p.SpeedKB, p.CopyByChunk, nullTime(p.NextRun), s.timestamp()))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ReplicationPolicy{}, fmt.Errorf("policy %s: %w", p.Name, ErrPolicyExists)
	case err != nil:
		return ReplicationPolicy{}, wrapErr(err, "meta: create policy %s", p.Name)
	}
	return got, nil
}

// GetPolicy returns policy id. Missing: ErrPolicyNotFound.
func (s *Replication) GetPolicy(ctx context.Context, id int64) (ReplicationPolicy, error) {
	p, err := scanPolicy(s.q.QueryRowContext(ctx, `SELECT `+policyColumns+` FROM replication_policies WHERE id = $1`, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ReplicationPolicy{}, fmt.Errorf("policy %d: %w", id, ErrPolicyNotFound)
	case err != nil:
		return ReplicationPolicy{}, wrapErr(err, "meta: get policy %d", id)
	}
	return p, nil
}

// ListPolicies returns one page of policies by id whose name contains
// nameLike, and their total.
func (s *Replication) ListPolicies(ctx context.Context, nameLike string, pg Page) ([]ReplicationPolicy, int, error) {
	var c conds
	if nameLike != "" {
		c.add(`LOWER(name) LIKE ` + c.arg(likePattern(nameLike)) + ` ESCAPE '\'`)
	}
	var total int
	if err := s.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM replication_policies`+c.sql(), c.args...).Scan(&total); err != nil {
		return nil, 0, wrapErr(err, "meta: count policies")
	}
	if pg.Limit <= 0 {
		return []ReplicationPolicy{}, total, nil
	}
	out, err := queryAll(ctx, s.q, scanPolicy, `SELECT `+policyColumns+` FROM replication_policies`+c.sql()+
		` ORDER BY id LIMIT `+c.arg(pg.Limit)+` OFFSET `+c.arg(max(pg.Offset, 0)), c.args...)
	if err != nil {
		return nil, 0, wrapErr(err, "meta: list policies")
	}
	return out, total, nil
}

// UpdatePolicy replaces policy p.ID (all but creator and times).
func (s *Replication) UpdatePolicy(ctx context.Context, p ReplicationPolicy) error {
	var other int64
	err := s.q.QueryRowContext(ctx, `SELECT id FROM replication_policies WHERE name = $1 AND id <> $2`, p.Name, p.ID).Scan(&other)
	switch {
	case err == nil:
		return fmt.Errorf("policy %s: %w", p.Name, ErrPolicyExists)
	case !errors.Is(err, sql.ErrNoRows):
		return wrapErr(err, "meta: update policy %d", p.ID)
	}
	res, err := s.q.ExecContext(ctx, `UPDATE replication_policies SET name = $2, description = $3, src_registry_id = $4,
		dest_registry_id = $5, dest_namespace = $6, dest_replace_count = $7, filters = $8, trigger_type = $9,
		trigger_cron = $10, override = $11, replicate_deletion = $12, enabled = $13, speed_kb = $14, copy_by_chunk = $15,
		next_run_at = $16, updated_at = $17 WHERE id = $1`,
		p.ID, p.Name, p.Description, nullID(p.SrcRegistryID), nullID(p.DestRegistryID), p.DestNamespace, p.DestReplaceCount,
		p.Filters, p.TriggerType, p.TriggerCron, p.Override, p.ReplicateDeletion, p.Enabled, p.SpeedKB, p.CopyByChunk,
		nullTime(p.NextRun), s.timestamp())
	if err != nil {
		return wrapErr(err, "meta: update policy %d", p.ID)
	}
	return expectOne(res, fmt.Errorf("policy %d: %w", p.ID, ErrPolicyNotFound), "meta: update policy %d", p.ID)
}

// DeletePolicy removes policy id and its executions.
func (s *Replication) DeletePolicy(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(tx *handle) error {
		if _, err := tx.q.ExecContext(ctx, `DELETE FROM replication_tasks WHERE execution_id IN
			(SELECT id FROM replication_executions WHERE policy_id = $1)`, id); err != nil {
			return wrapErr(err, "meta: delete policy %d", id)
		}
		if _, err := tx.q.ExecContext(ctx, `DELETE FROM replication_executions WHERE policy_id = $1`, id); err != nil {
			return wrapErr(err, "meta: delete policy %d", id)
		}
		res, err := tx.q.ExecContext(ctx, `DELETE FROM replication_policies WHERE id = $1`, id)
		if err != nil {
			return wrapErr(err, "meta: delete policy %d", id)
		}
		return expectOne(res, fmt.Errorf("policy %d: %w", id, ErrPolicyNotFound), "meta: delete policy %d", id)
	})
}

// TakeDuePolicy claims one enabled scheduled policy whose next run is due:
// its next run moves to next(now) in the same statement, so of several
// replicas exactly one takes it. None due: ok false.
func (s *Replication) TakeDuePolicy(ctx context.Context, next func(p ReplicationPolicy, after time.Time) time.Time) (ReplicationPolicy, bool, error) {
	now := s.timestamp()
	ps, err := queryAll(ctx, s.q, scanPolicy, `SELECT `+policyColumns+` FROM replication_policies
		WHERE enabled = $1 AND trigger_type = 'scheduled' AND next_run_at IS NOT NULL AND next_run_at <= $2
		ORDER BY next_run_at LIMIT 1`, true, now)
	if err != nil || len(ps) == 0 {
		return ReplicationPolicy{}, false, wrapErr2(err, "meta: due policies")
	}
	p := ps[0]
	res, err := s.q.ExecContext(ctx, `UPDATE replication_policies SET next_run_at = $3 WHERE id = $1 AND next_run_at = $2`,
		p.ID, micro(p.NextRun), nullTime(next(p, now)))
	if err != nil {
		return ReplicationPolicy{}, false, wrapErr(err, "meta: take policy %d", p.ID)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ReplicationPolicy{}, false, nil // another replica took it
	}
	return p, true, nil
}

const executionColumns = `e.id, e.policy_id, e.trigger_kind, e.status, e.status_text, e.stop_requested, e.start_time,
	e.end_time, COUNT(t.id),
	COALESCE(SUM(CASE WHEN t.status = 'Failed' THEN 1 ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN t.status = 'Succeed' THEN 1 ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN t.status IN ('Pending', 'InProgress') THEN 1 ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN t.status = 'Stopped' THEN 1 ELSE 0 END), 0),
	COALESCE(SUM(t.bytes), 0)`

const executionFrom = ` FROM replication_executions e LEFT JOIN replication_tasks t ON t.execution_id = e.id`

const executionGroup = ` GROUP BY e.id, e.policy_id, e.trigger_kind, e.status, e.status_text, e.stop_requested,
	e.start_time, e.end_time`

func scanExecution(row rowScanner) (ReplicationExecution, error) {
	var (
		e   ReplicationExecution
		end flexTime
	)
	err := row.Scan(&e.ID, &e.PolicyID, &e.Trigger, &e.Status, &e.StatusText, &e.StopRequested, &e.StartTime, &end,
		&e.Total, &e.Failed, &e.Succeed, &e.InProgress, &e.Stopped, &e.Bytes)
	e.StartTime, e.EndTime = e.StartTime.UTC(), end.Time
	return e, err
}

// CreateExecution records a running execution of policy policyID.
func (s *Replication) CreateExecution(ctx context.Context, policyID int64, trigger string) (ReplicationExecution, error) {
	var id int64
	err := s.q.QueryRowContext(ctx, `INSERT INTO replication_executions (policy_id, trigger_kind, status, start_time)
		VALUES ($1, $2, $3, $4) RETURNING id`, policyID, trigger, ExecRunning, s.timestamp()).Scan(&id)
	if err != nil {
		return ReplicationExecution{}, wrapErr(err, "meta: create execution of policy %d", policyID)
	}
	return s.GetExecution(ctx, id)
}

// GetExecution returns execution id with its task counts.
func (s *Replication) GetExecution(ctx context.Context, id int64) (ReplicationExecution, error) {
	e, err := scanExecution(s.q.QueryRowContext(ctx, `SELECT `+executionColumns+executionFrom+` WHERE e.id = $1`+
		executionGroup, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ReplicationExecution{}, fmt.Errorf("execution %d: %w", id, ErrExecutionNotFound)
	case err != nil:
		return ReplicationExecution{}, wrapErr(err, "meta: get execution %d", id)
	}
	return e, nil
}

// ListExecutions returns one page of executions, newest first, of policy
// policyID (all when 0) with status (any when empty), and their total.
func (s *Replication) ListExecutions(ctx context.Context, policyID int64, status string, pg Page) ([]ReplicationExecution, int, error) {
	var c conds
	if policyID != 0 {
		c.add(`e.policy_id = ` + c.arg(policyID))
	}
	if status != "" {
		c.add(`e.status = ` + c.arg(status))
	}
	var total int
	if err := s.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM replication_executions e`+c.sql(), c.args...).Scan(&total); err != nil {
		return nil, 0, wrapErr(err, "meta: count executions")
	}
	if pg.Limit <= 0 {
		return []ReplicationExecution{}, total, nil
	}
	out, err := queryAll(ctx, s.q, scanExecution, `SELECT `+executionColumns+executionFrom+c.sql()+executionGroup+
		` ORDER BY e.id DESC LIMIT `+c.arg(pg.Limit)+` OFFSET `+c.arg(max(pg.Offset, 0)), c.args...)
	if err != nil {
		return nil, 0, wrapErr(err, "meta: list executions")
	}
	return out, total, nil
}

// RequestStop marks execution id to stop: its pending tasks become
// Stopped at once; running ones notice at their next check.
func (s *Replication) RequestStop(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(tx *handle) error {
		res, err := tx.q.ExecContext(ctx, `UPDATE replication_executions SET stop_requested = $2 WHERE id = $1`, id, true)
		if err != nil {
			return wrapErr(err, "meta: stop execution %d", id)
		}
		if err := expectOne(res, fmt.Errorf("execution %d: %w", id, ErrExecutionNotFound), "meta: stop execution %d", id); err != nil {
			return err
		}
		_, err = tx.q.ExecContext(ctx, `UPDATE replication_tasks SET status = $2, end_time = $3
			WHERE execution_id = $1 AND status = $4`, id, TaskStopped, tx.timestamp(), TaskPending)
		return wrapErr2(err, "meta: stop execution %d", id)
	})
}

// FinishExecution sets the final status of execution id, unless it is
// already finished.
func (s *Replication) FinishExecution(ctx context.Context, id int64, status, text string) error {
	_, err := s.q.ExecContext(ctx, `UPDATE replication_executions SET status = $2, status_text = $3, end_time = $4
		WHERE id = $1 AND end_time IS NULL`, id, status, truncate(text, 4096), s.timestamp())
	return wrapErr2(err, "meta: finish execution %d", id)
}

const taskColumns = `id, execution_id, resource_type, operation, src_resource, dst_resource, reference, status, bytes,
	attempts, log, start_time, end_time, job_args, resume`

func scanTask(row rowScanner) (ReplicationTask, error) {
	var (
		t   ReplicationTask
		end flexTime
	)
	err := row.Scan(&t.ID, &t.ExecutionID, &t.ResourceType, &t.Operation, &t.SrcResource, &t.DstResource, &t.Reference,
		&t.Status, &t.Bytes, &t.Attempts, &t.Log, &t.StartTime, &end, &t.Args, &t.Resume)
	t.StartTime, t.EndTime = t.StartTime.UTC(), end.Time
	return t, err
}

// CreateTask records a pending task.
func (s *Replication) CreateTask(ctx context.Context, t ReplicationTask) (ReplicationTask, error) {
	got, err := scanTask(s.q.QueryRowContext(ctx, `INSERT INTO replication_tasks (execution_id, resource_type, operation,
		src_resource, dst_resource, reference, status, start_time, job_args) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		RETURNING `+taskColumns, t.ExecutionID, t.ResourceType, t.Operation, t.SrcResource, t.DstResource, t.Reference,
		TaskPending, s.timestamp(), t.Args))
	if err != nil {
		return ReplicationTask{}, wrapErr(err, "meta: create task of execution %d", t.ExecutionID)
	}
	return got, nil
}

// GetTask returns task id.
func (s *Replication) GetTask(ctx context.Context, id int64) (ReplicationTask, error) {
	t, err := scanTask(s.q.QueryRowContext(ctx, `SELECT `+taskColumns+` FROM replication_tasks WHERE id = $1`, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ReplicationTask{}, fmt.Errorf("task %d: %w", id, ErrTaskNotFound)
	case err != nil:
		return ReplicationTask{}, wrapErr(err, "meta: get task %d", id)
	}
	return t, nil
}

// ListTasks returns one page of execution executionID's tasks by id, with
// status (any when empty), and their total.
func (s *Replication) ListTasks(ctx context.Context, executionID int64, status string, pg Page) ([]ReplicationTask, int, error) {
	var c conds
	c.add(`execution_id = ` + c.arg(executionID))
	if status != "" {
		c.add(`status = ` + c.arg(status))
	}
	var total int
	if err := s.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM replication_tasks`+c.sql(), c.args...).Scan(&total); err != nil {
		return nil, 0, wrapErr(err, "meta: count tasks")
	}
	if pg.Limit <= 0 {
		return []ReplicationTask{}, total, nil
	}
	out, err := queryAll(ctx, s.q, scanTask, `SELECT `+taskColumns+` FROM replication_tasks`+c.sql()+
		` ORDER BY id LIMIT `+c.arg(pg.Limit)+` OFFSET `+c.arg(max(pg.Offset, 0)), c.args...)
	if err != nil {
		return nil, 0, wrapErr(err, "meta: list tasks")
	}
	return out, total, nil
}

// StartTask moves task id to InProgress for one more attempt by runner
// (a name unique to this attempt), its heartbeat set to now, unless it is
// finished, running elsewhere with a heartbeat at or after staleBefore, or
// its execution was asked to stop: then ok is false.
func (s *Replication) StartTask(ctx context.Context, id int64, runner string, staleBefore time.Time) (ok bool, err error) {
	res, err := s.q.ExecContext(ctx, `UPDATE replication_tasks SET status = $2, attempts = attempts + 1, runner = $5,
		heartbeat_at = $6
		WHERE id = $1 AND (status = $3 OR (status = $2 AND (heartbeat_at IS NULL OR heartbeat_at < $7)))
		AND NOT EXISTS (SELECT 1 FROM replication_executions e
		WHERE e.id = replication_tasks.execution_id AND e.stop_requested = $4)`,
		id, TaskRunning, TaskPending, true, runner, s.timestamp(), micro(staleBefore))
	if err != nil {
		return false, wrapErr(err, "meta: start task %d", id)
	}
	n, err := res.RowsAffected()
	return n == 1, wrapErr2(err, "meta: start task %d", id)
}

// ErrTaskLost: the task is no longer held by the runner that tried to
// change it (its lease was taken back after a stale heartbeat).
var ErrTaskLost = errors.New("replication task no longer held by this runner")

// HeartbeatTask renews runner's lease on running task id and records
// resume, what a later attempt may resume from. Lost lease: ErrTaskLost.
func (s *Replication) HeartbeatTask(ctx context.Context, id int64, runner, resume string) error {
	res, err := s.q.ExecContext(ctx, `UPDATE replication_tasks SET heartbeat_at = $3, resume = $5
		WHERE id = $1 AND runner = $2 AND status = $4`, id, runner, s.timestamp(), TaskRunning, truncate(resume, 64<<10))
	if err != nil {
		return wrapErr(err, "meta: heartbeat task %d", id)
	}
	return expectOne(res, fmt.Errorf("task %d: %w", id, ErrTaskLost), "meta: heartbeat task %d", id)
}

// FinishTask records the outcome of runner's attempt at task id: status,
// bytes copied and log lines appended. A final status sets the end time.
// A pending task never started has runner "". Held by another runner (or
// none): ErrTaskLost, and nothing changes.
func (s *Replication) FinishTask(ctx context.Context, id int64, runner, status string, bytes int64, log string) error {
	var end any
	if status != TaskPending && status != TaskRunning {
		end = s.timestamp()
	}
	res, err := s.q.ExecContext(ctx, `UPDATE replication_tasks SET status = $2, bytes = $3, log = log || $4,
		end_time = $5, runner = '' WHERE id = $1 AND runner = $6`, id, status, bytes, truncate(log, 64<<10), end, runner)
	if err != nil {
		return wrapErr(err, "meta: finish task %d", id)
	}
	return expectOne(res, fmt.Errorf("task %d: %w", id, ErrTaskLost), "meta: finish task %d", id)
}

// ReclaimStaleTasks takes back at most limit running tasks whose
// heartbeat is older than staleBefore (their replica died, or lost the
// database for that long): they are Pending again, held by no runner, and
// returned so that the caller queues them again.
func (s *Replication) ReclaimStaleTasks(ctx context.Context, staleBefore time.Time, limit int) ([]ReplicationTask, error) {
	stale, err := queryAll(ctx, s.q, scanTask, `SELECT `+taskColumns+` FROM replication_tasks
		WHERE status = $1 AND heartbeat_at < $2 ORDER BY id LIMIT $3`, TaskRunning, micro(staleBefore), limit)
	if err != nil {
		return nil, wrapErr(err, "meta: stale tasks")
	}
	var out []ReplicationTask
	for _, t := range stale {
		res, err := s.q.ExecContext(ctx, `UPDATE replication_tasks SET status = $2, runner = '', log = log || $4
			WHERE id = $1 AND status = $3 AND heartbeat_at < $5`, t.ID, TaskPending, TaskRunning,
			s.timestamp().Format(time.RFC3339)+" no heartbeat from the replica running it: queued again\n", micro(staleBefore))
		if err != nil {
			return out, wrapErr(err, "meta: reclaim task %d", t.ID)
		}
		if n, _ := res.RowsAffected(); n == 1 { // else its runner finished or renewed meanwhile
			t.Status = TaskPending
			out = append(out, t)
		}
	}
	return out, nil
}

// StopRequested reports whether execution id was asked to stop.
func (s *Replication) StopRequested(ctx context.Context, id int64) (bool, error) {
	var stop bool
	err := s.q.QueryRowContext(ctx, `SELECT stop_requested FROM replication_executions WHERE id = $1`, id).Scan(&stop)
	if errors.Is(err, sql.ErrNoRows) {
		return true, nil // gone: stop
	}
	return stop, wrapErr2(err, "meta: execution %d", id)
}
