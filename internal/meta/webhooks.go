package meta

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Webhooks is the webhook aggregate: policies per project, the deliveries
// (Harbor's webhook jobs) and the leases that keep one worker per project.
type Webhooks struct{ *handle }

// Errors of the webhook aggregate.
var (
	ErrWebhookPolicyNotFound = errors.New("webhook policy not found")
	ErrWebhookPolicyExists   = errors.New("a webhook policy with that name already exists in the project")
)

// WebhookTarget is where a policy delivers. AuthHeader is a secret: it is
// stored, sent as the Authorization header, and never shown.
type WebhookTarget struct {
	Type           string `json:"type"`
	Address        string `json:"address"`
	AuthHeader     string `json:"auth_header,omitempty"`
	SkipCertVerify bool   `json:"skip_cert_verify"`
	PayloadFormat  string `json:"payload_format,omitempty"`
}

// WebhookPolicy is one project's webhook policy.
type WebhookPolicy struct {
	ID          int64
	ProjectID   int64
	Name        string
	Description string
	Enabled     bool
	EventTypes  []string
	Targets     []WebhookTarget
	Creator     string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

const webhookPolicySelect = `SELECT id, project_id, name, description, enabled, event_types, targets, creator, created_at, updated_at
	FROM webhook_policies`

func scanWebhookPolicy(row rowScanner) (WebhookPolicy, error) {
	var (
		p              WebhookPolicy
		types, targets string
	)
	if err := row.Scan(&p.ID, &p.ProjectID, &p.Name, &p.Description, &p.Enabled, &types, &targets, &p.Creator,
		&p.CreatedAt, &p.UpdatedAt); err != nil {
		return WebhookPolicy{}, err
	}
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	if err := json.Unmarshal([]byte(types), &p.EventTypes); err != nil {
		return WebhookPolicy{}, fmt.Errorf("webhook policy %d: event types: %w", p.ID, err)
	}
	if err := json.Unmarshal([]byte(targets), &p.Targets); err != nil {
		return WebhookPolicy{}, fmt.Errorf("webhook policy %d: targets: %w", p.ID, err)
	}
	return p, nil
}

func encodePolicy(p WebhookPolicy) (types, targets string, err error) {
	if p.EventTypes == nil {
		p.EventTypes = []string{}
	}
	if p.Targets == nil {
		p.Targets = []WebhookTarget{}
	}
	a, err := json.Marshal(p.EventTypes)
	if err != nil {
		return "", "", err
	}
	b, err := json.Marshal(p.Targets)
	return string(a), string(b), err
}

// CreateWebhookPolicy stores p (ID and times are set here). A name taken
// in the project: ErrWebhookPolicyExists.
func (s *Webhooks) CreateWebhookPolicy(ctx context.Context, p WebhookPolicy) (WebhookPolicy, error) {
	types, targets, err := encodePolicy(p)
	if err != nil {
		return WebhookPolicy{}, fmt.Errorf("meta: create webhook policy: %w", err)
	}
	now := s.timestamp()
	err = s.q.QueryRowContext(ctx, `
		INSERT INTO webhook_policies (project_id, name, description, enabled, event_types, targets, creator, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
		ON CONFLICT (project_id, name) DO NOTHING
		RETURNING id`, p.ProjectID, p.Name, p.Description, p.Enabled, types, targets, p.Creator, now).Scan(&p.ID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return WebhookPolicy{}, fmt.Errorf("webhook policy %q: %w", p.Name, ErrWebhookPolicyExists)
	case err != nil:
		return WebhookPolicy{}, wrapErr(err, "meta: create webhook policy %q", p.Name)
	}
	p.CreatedAt, p.UpdatedAt = now, now
	return p, nil
}

// GetWebhookPolicy returns policy id of project projectID. Missing (or in
// another project): ErrWebhookPolicyNotFound.
func (s *Webhooks) GetWebhookPolicy(ctx context.Context, projectID, id int64) (WebhookPolicy, error) {
	p, err := scanWebhookPolicy(s.q.QueryRowContext(ctx, webhookPolicySelect+` WHERE id = $1 AND project_id = $2`, id, projectID))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return WebhookPolicy{}, fmt.Errorf("webhook policy %d: %w", id, ErrWebhookPolicyNotFound)
	case err != nil:
		return WebhookPolicy{}, wrapErr(err, "meta: get webhook policy %d", id)
	}
	return p, nil
}

// ListWebhookPolicies returns one page of project projectID's policies by
// id, and their total.
func (s *Webhooks) ListWebhookPolicies(ctx context.Context, projectID int64, pg Page) ([]WebhookPolicy, int, error) {
	var total int
	if err := s.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_policies WHERE project_id = $1`, projectID).Scan(&total); err != nil {
		return nil, 0, wrapErr(err, "meta: count webhook policies")
	}
	if pg.Limit <= 0 {
		return []WebhookPolicy{}, total, nil
	}
	ps, err := queryAll(ctx, s.q, scanWebhookPolicy, webhookPolicySelect+` WHERE project_id = $1 ORDER BY id LIMIT $2 OFFSET $3`,
		projectID, pg.Limit, pg.Offset)
	if err != nil {
		return nil, 0, wrapErr(err, "meta: list webhook policies")
	}
	return ps, total, nil
}

// UpdateWebhookPolicy replaces the name, description, enabled flag, event
// types and targets of policy p.ID in p.ProjectID. Missing:
// ErrWebhookPolicyNotFound; name taken: ErrWebhookPolicyExists.
func (s *Webhooks) UpdateWebhookPolicy(ctx context.Context, p WebhookPolicy) error {
	types, targets, err := encodePolicy(p)
	if err != nil {
		return fmt.Errorf("meta: update webhook policy: %w", err)
	}
	var taken int
	err = s.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_policies WHERE project_id = $1 AND name = $2 AND id <> $3`,
		p.ProjectID, p.Name, p.ID).Scan(&taken)
	if err != nil {
		return wrapErr(err, "meta: update webhook policy %d", p.ID)
	}
	if taken > 0 {
		return fmt.Errorf("webhook policy %q: %w", p.Name, ErrWebhookPolicyExists)
	}
	res, err := s.q.ExecContext(ctx, `
		UPDATE webhook_policies SET name = $3, description = $4, enabled = $5, event_types = $6, targets = $7, updated_at = $8
		WHERE id = $1 AND project_id = $2`, p.ID, p.ProjectID, p.Name, p.Description, p.Enabled, types, targets, s.timestamp())
	if err != nil {
		return wrapErr(err, "meta: update webhook policy %d", p.ID)
	}
	return expectOne(res, fmt.Errorf("webhook policy %d: %w", p.ID, ErrWebhookPolicyNotFound), "meta: update webhook policy %d", p.ID)
}

// DeleteWebhookPolicy deletes policy id of projectID with its deliveries.
// Missing: ErrWebhookPolicyNotFound.
func (s *Webhooks) DeleteWebhookPolicy(ctx context.Context, projectID, id int64) error {
	return s.inTx(ctx, func(tx *handle) error {
		if _, err := tx.q.ExecContext(ctx, `DELETE FROM webhook_jobs WHERE policy_id = $1 AND project_id = $2`, id, projectID); err != nil {
			return wrapErr(err, "meta: delete webhook policy %d", id)
		}
		res, err := tx.q.ExecContext(ctx, `DELETE FROM webhook_policies WHERE id = $1 AND project_id = $2`, id, projectID)
		if err != nil {
			return wrapErr(err, "meta: delete webhook policy %d", id)
		}
		return expectOne(res, fmt.Errorf("webhook policy %d: %w", id, ErrWebhookPolicyNotFound), "meta: delete webhook policy %d", id)
	})
}

// EnabledWebhookPolicies returns the enabled policies of projectID, by id
// (at most 100: what one event fans out to).
func (s *Webhooks) EnabledWebhookPolicies(ctx context.Context, projectID int64) ([]WebhookPolicy, error) {
	ps, err := queryAll(ctx, s.q, scanWebhookPolicy, webhookPolicySelect+` WHERE project_id = $1 AND enabled = $2 ORDER BY id LIMIT 100`,
		projectID, true)
	if err != nil {
		return nil, wrapErr(err, "meta: enabled webhook policies of project %d", projectID)
	}
	return ps, nil
}

// Webhook delivery states (Harbor's job statuses).
const (
	WebhookPending = "pending"
	WebhookRunning = "running"
	WebhookSuccess = "success"
	WebhookError   = "error"
)

// WebhookJob is one delivery of one event to one target of a policy.
type WebhookJob struct {
	ID          int64
	PolicyID    int64
	ProjectID   int64
	EventID     int64
	TargetIndex int
	EventType   string
	NotifyType  string
	Status      string
	Attempts    int
	LastError   string
	NextAttempt time.Time // no attempt before this
	JobDetail   string    // the payload
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

const webhookJobSelect = `SELECT id, policy_id, project_id, event_id, target_index, event_type, notify_type, status, attempts,
	last_error, next_attempt_at, job_detail, created_at, updated_at FROM webhook_jobs`

func scanWebhookJob(row rowScanner) (WebhookJob, error) {
	var j WebhookJob
	err := row.Scan(&j.ID, &j.PolicyID, &j.ProjectID, &j.EventID, &j.TargetIndex, &j.EventType, &j.NotifyType, &j.Status,
		&j.Attempts, &j.LastError, &j.NextAttempt, &j.JobDetail, &j.CreatedAt, &j.UpdatedAt)
	j.CreatedAt, j.UpdatedAt, j.NextAttempt = j.CreatedAt.UTC(), j.UpdatedAt.UTC(), j.NextAttempt.UTC()
	return j, err
}

// AddWebhookJobs queues deliveries (status pending); one already queued
// for the same policy, event and target is left as it is, so handing the
// same event over twice queues it once.
func (s *Webhooks) AddWebhookJobs(ctx context.Context, js []WebhookJob) error {
	if len(js) == 0 {
		return nil
	}
	now := s.timestamp()
	return s.inTx(ctx, func(tx *handle) error {
		for _, j := range js {
			if _, err := tx.q.ExecContext(ctx, `
				INSERT INTO webhook_jobs (policy_id, project_id, event_id, target_index, event_type, notify_type, status,
					job_detail, created_at, updated_at, next_attempt_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $9)
				ON CONFLICT (policy_id, event_id, target_index) DO NOTHING`,
				j.PolicyID, j.ProjectID, j.EventID, j.TargetIndex, j.EventType, j.NotifyType, WebhookPending, j.JobDetail, now); err != nil {
				return wrapErr(err, "meta: queue webhook job")
			}
		}
		return nil
	})
}

// NextWebhookJob returns projectID's oldest delivery not yet finished
// (pending or running), and false when there is none.
func (s *Webhooks) NextWebhookJob(ctx context.Context, projectID int64) (WebhookJob, bool, error) {
	j, err := scanWebhookJob(s.q.QueryRowContext(ctx, webhookJobSelect+` WHERE project_id = $1 AND status IN ($2, $3)
		ORDER BY id LIMIT 1`, projectID, WebhookPending, WebhookRunning))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return WebhookJob{}, false, nil
	case err != nil:
		return WebhookJob{}, false, wrapErr(err, "meta: next webhook job of project %d", projectID)
	}
	return j, true, nil
}

// UpdateWebhookJob records the status, attempts, last error and the time
// of the next attempt (zero: now) of delivery id.
func (s *Webhooks) UpdateWebhookJob(ctx context.Context, id int64, status string, attempts int, lastError string, next time.Time) error {
	if len(lastError) > 1024 {
		lastError = lastError[:1024]
	}
	now := s.timestamp()
	if next.IsZero() {
		next = now
	}
	if _, err := s.q.ExecContext(ctx, `UPDATE webhook_jobs SET status = $2, attempts = $3, last_error = $4, updated_at = $5,
		next_attempt_at = $6 WHERE id = $1`, id, status, attempts, lastError, now, micro(next)); err != nil {
		return wrapErr(err, "meta: update webhook job %d", id)
	}
	return nil
}

// ListWebhookJobs returns one page of policy policyID's deliveries in
// projectID, newest first, optionally only those whose status is in
// statuses, and their total.
func (s *Webhooks) ListWebhookJobs(ctx context.Context, projectID, policyID int64, statuses []string, pg Page) ([]WebhookJob, int, error) {
	cond := ` WHERE project_id = $1 AND policy_id = $2`
	args := []any{projectID, policyID}
	if len(statuses) > 0 {
		cond += ` AND status IN (`
		for i, st := range statuses[:min(len(statuses), 10)] {
			if i > 0 {
				cond += `, `
			}
			args = append(args, st)
			cond += fmt.Sprintf("$%d", len(args))
		}
		cond += `)`
	}
	var total int
	if err := s.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_jobs`+cond, args...).Scan(&total); err != nil {
		return nil, 0, wrapErr(err, "meta: count webhook jobs")
	}
	if pg.Limit <= 0 {
		return []WebhookJob{}, total, nil
	}
	args = append(args, pg.Limit, pg.Offset)
	js, err := queryAll(ctx, s.q, scanWebhookJob, webhookJobSelect+cond+fmt.Sprintf(` ORDER BY id DESC LIMIT $%d OFFSET $%d`, len(args)-1, len(args)), args...)
	if err != nil {
		return nil, 0, wrapErr(err, "meta: list webhook jobs")
	}
	return js, total, nil
}

// ProjectsWithWebhookJobs returns up to limit projects that have an
// unfinished delivery due for more than overdue and no live lease (a
// worker died, or its job was never enqueued).
func (s *Webhooks) ProjectsWithWebhookJobs(ctx context.Context, overdue time.Duration, limit int) ([]int64, error) {
	ids, err := queryAll(ctx, s.q, func(row rowScanner) (int64, error) {
		var id int64
		return id, row.Scan(&id)
	}, `SELECT DISTINCT j.project_id FROM webhook_jobs AS j
		WHERE j.status IN ($1, $2) AND j.next_attempt_at < $5 AND NOT EXISTS (SELECT 1 FROM webhook_leases AS l
			WHERE l.project_id = j.project_id AND l.lease_until > $3)
		ORDER BY j.project_id LIMIT $4`, WebhookPending, WebhookRunning, s.timestamp(), limit, s.timestamp().Add(-overdue))
	if err != nil {
		return nil, wrapErr(err, "meta: projects with webhook jobs")
	}
	return ids, nil
}

// LeaseWebhookProject makes owner the one worker delivering projectID's
// webhooks for ttl (renewing owner's own lease); false when another owner
// holds a live lease.
func (s *Webhooks) LeaseWebhookProject(ctx context.Context, projectID int64, owner string, ttl time.Duration) (bool, error) {
	now := s.timestamp()
	res, err := s.q.ExecContext(ctx, `
		INSERT INTO webhook_leases (project_id, owner, lease_until) VALUES ($1, $2, $3)
		ON CONFLICT (project_id) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until
		WHERE webhook_leases.owner = excluded.owner OR webhook_leases.lease_until <= $4`,
		projectID, owner, now.Add(ttl), now)
	if err != nil {
		return false, wrapErr(err, "meta: lease webhook project %d", projectID)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, wrapErr(err, "meta: lease webhook project %d", projectID)
	}
	return n > 0, nil
}

// ReleaseWebhookProject ends owner's lease of projectID.
func (s *Webhooks) ReleaseWebhookProject(ctx context.Context, projectID int64, owner string) error {
	if _, err := s.q.ExecContext(ctx, `DELETE FROM webhook_leases WHERE project_id = $1 AND owner = $2`, projectID, owner); err != nil {
		return wrapErr(err, "meta: release webhook project %d", projectID)
	}
	return nil
}

// AllWebhookPolicies returns up to limit policies of every project with
// ids above afterID, by id (the start-up re-sealing of their secrets walks
// them).
func (s *Webhooks) AllWebhookPolicies(ctx context.Context, afterID int64, limit int) ([]WebhookPolicy, error) {
	ps, err := queryAll(ctx, s.q, scanWebhookPolicy, webhookPolicySelect+` WHERE id > $1 ORDER BY id LIMIT $2`, afterID, limit)
	return ps, wrapIf(err, "meta: all webhook policies")
}

// SwapWebhookTargets replaces policy id's targets with next if they still
// are old (compare and set: a concurrent update wins), and reports whether
// it did.
func (s *Webhooks) SwapWebhookTargets(ctx context.Context, id int64, old, next []WebhookTarget) (bool, error) {
	_, a, err := encodePolicy(WebhookPolicy{Targets: old})
	if err != nil {
		return false, fmt.Errorf("meta: swap webhook targets: %w", err)
	}
	_, b, err := encodePolicy(WebhookPolicy{Targets: next})
	if err != nil {
		return false, fmt.Errorf("meta: swap webhook targets: %w", err)
	}
	res, err := s.q.ExecContext(ctx, `UPDATE webhook_policies SET targets = $3 WHERE id = $1 AND targets = $2`, id, a, b)
	if err != nil {
		return false, wrapErr(err, "meta: swap webhook targets of policy %d", id)
	}
	n, err := res.RowsAffected()
	return n == 1, wrapIf(err, "meta: swap webhook targets of policy %d", id)
}

// WebhookExecution is Harbor's view of one event's deliveries under one
// policy (an execution; its tasks are the deliveries, one per target).
// ID is the event's id.
type WebhookExecution struct {
	ID        int64
	PolicyID  int64
	EventType string
	Tasks     map[string]int // deliveries by status
	StartTime time.Time
	UpdatedAt time.Time
}

// ListWebhookExecutions returns one page of policy policyID's executions,
// newest first, and their total.
func (s *Webhooks) ListWebhookExecutions(ctx context.Context, projectID, policyID int64, pg Page) ([]WebhookExecution, int, error) {
	var total int
	if err := s.q.QueryRowContext(ctx, `SELECT COUNT(DISTINCT event_id) FROM webhook_jobs WHERE project_id = $1 AND policy_id = $2`,
		projectID, policyID).Scan(&total); err != nil {
		return nil, 0, wrapErr(err, "meta: count webhook executions")
	}
	if pg.Limit <= 0 {
		return []WebhookExecution{}, total, nil
	}
	rows, err := s.q.QueryContext(ctx, `SELECT event_id, MIN(event_type), MIN(created_at), MAX(updated_at),
			SUM(CASE WHEN status = $3 THEN 1 ELSE 0 END), SUM(CASE WHEN status = $4 THEN 1 ELSE 0 END),
			SUM(CASE WHEN status = $5 THEN 1 ELSE 0 END), SUM(CASE WHEN status = $6 THEN 1 ELSE 0 END)
		FROM webhook_jobs WHERE project_id = $1 AND policy_id = $2
		GROUP BY event_id ORDER BY event_id DESC LIMIT $7 OFFSET $8`,
		projectID, policyID, WebhookPending, WebhookRunning, WebhookSuccess, WebhookError, pg.Limit, pg.Offset)
	if err != nil {
		return nil, 0, wrapErr(err, "meta: list webhook executions")
	}
	defer rows.Close()
	out := []WebhookExecution{}
	for rows.Next() {
		var (
			e                  WebhookExecution
			start, upd         flexTime
			pend, run, ok, bad int
		)
		if err := rows.Scan(&e.ID, &e.EventType, &start, &upd, &pend, &run, &ok, &bad); err != nil {
			return nil, 0, wrapErr(err, "meta: list webhook executions")
		}
		e.PolicyID, e.StartTime, e.UpdatedAt = policyID, start.Time, upd.Time
		e.Tasks = map[string]int{WebhookPending: pend, WebhookRunning: run, WebhookSuccess: ok, WebhookError: bad}
		out = append(out, e)
	}
	return out, total, wrapIf(rows.Err(), "meta: list webhook executions")
}

// WebhookExecutionTasks returns the deliveries of execution (event)
// eventID of policy policyID, by id: one per target, so at most a
// policy's targets.
func (s *Webhooks) WebhookExecutionTasks(ctx context.Context, projectID, policyID, eventID int64) ([]WebhookJob, error) {
	js, err := queryAll(ctx, s.q, scanWebhookJob, webhookJobSelect+` WHERE project_id = $1 AND policy_id = $2 AND event_id = $3
		ORDER BY id LIMIT 100`, projectID, policyID, eventID)
	return js, wrapIf(err, "meta: webhook execution %d tasks", eventID)
}
