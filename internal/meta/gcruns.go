package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// GCRun is one garbage-collection run, as Harbor's /system/gc lists them.
type GCRun struct {
	ID           int64
	Kind         string // "MANUAL" or "SCHEDULE"
	DryRun       bool
	Status       string // "Running", "Success", "Error"
	BlobsDeleted int64
	BytesFreed   int64
	Log          string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// GC run statuses (Harbor's job_status values).
const (
	GCRunning = "Running"
	GCSuccess = "Success"
	GCError   = "Error"
)

const gcRunColumns = `id, kind, dry_run, status, blobs_deleted, bytes_freed, log, created_at, updated_at`

func scanGCRun(row rowScanner) (GCRun, error) {
	var r GCRun
	err := row.Scan(&r.ID, &r.Kind, &r.DryRun, &r.Status, &r.BlobsDeleted, &r.BytesFreed, &r.Log, &r.CreatedAt, &r.UpdatedAt)
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return r, err
}

// CreateRun records a run that starts now (status Running).
func (g *GC) CreateRun(ctx context.Context, kind string, dryRun bool) (GCRun, error) {
	now := g.timestamp()
	r, err := scanGCRun(g.q.QueryRowContext(ctx, `INSERT INTO gc_runs (kind, dry_run, status, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $4) RETURNING `+gcRunColumns, kind, dryRun, GCRunning, now))
	if err != nil {
		return GCRun{}, wrapErr(err, "meta: create gc run")
	}
	return r, nil
}

// FinishRun records run id's outcome. Missing: ErrGCRunNotFound.
func (g *GC) FinishRun(ctx context.Context, id int64, status string, blobs, bytes int64, log string) error {
	res, err := g.q.ExecContext(ctx, `UPDATE gc_runs SET status = $2, blobs_deleted = $3, bytes_freed = $4, log = $5,
		updated_at = $6 WHERE id = $1`, id, status, blobs, bytes, truncate(log, 1<<20), g.timestamp())
	if err != nil {
		return wrapErr(err, "meta: finish gc run %d", id)
	}
	return expectOne(res, fmt.Errorf("gc run %d: %w", id, ErrGCRunNotFound), "meta: finish gc run %d", id)
}

// GetRun returns run id. Missing: ErrGCRunNotFound.
func (g *GC) GetRun(ctx context.Context, id int64) (GCRun, error) {
	r, err := scanGCRun(g.q.QueryRowContext(ctx, `SELECT `+gcRunColumns+` FROM gc_runs WHERE id = $1`, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return GCRun{}, fmt.Errorf("gc run %d: %w", id, ErrGCRunNotFound)
	case err != nil:
		return GCRun{}, wrapErr(err, "meta: get gc run %d", id)
	}
	return r, nil
}

// ListRuns returns one page of runs, newest first, and their total.
func (g *GC) ListRuns(ctx context.Context, pg Page) ([]GCRun, int, error) {
	var total int
	if err := g.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM gc_runs`).Scan(&total); err != nil {
		return nil, 0, wrapErr(err, "meta: list gc runs")
	}
	if pg.Limit <= 0 {
		return []GCRun{}, total, nil
	}
	out, err := queryAll(ctx, g.q, scanGCRun, `SELECT `+gcRunColumns+` FROM gc_runs ORDER BY id DESC LIMIT $1 OFFSET $2`,
		pg.Limit, max(pg.Offset, 0))
	if err != nil {
		return nil, 0, wrapErr(err, "meta: list gc runs")
	}
	return out, total, nil
}

// GCSchedule is the garbage-collection schedule (Harbor's ScheduleObj):
// Type "None", "Hourly", "Daily", "Weekly", "Custom" (Cron) or
// "Interval" (a Berth addition: Cron holds a Go duration such as "30m").
type GCSchedule struct {
	Type      string
	Cron      string
	NextRun   time.Time // zero: never
	UpdatedAt time.Time
}

// GetSchedule returns the schedule; none set: Type "None".
func (g *GC) GetSchedule(ctx context.Context) (GCSchedule, error) {
	var (
		s    GCSchedule
		next flexTime
	)
	err := g.q.QueryRowContext(ctx, `SELECT type, cron, next_run_at, updated_at FROM gc_schedule WHERE id = 1`).
		Scan(&s.Type, &s.Cron, &next, &s.UpdatedAt)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return GCSchedule{Type: "None"}, nil
	case err != nil:
		return GCSchedule{}, wrapErr(err, "meta: gc schedule")
	}
	s.NextRun, s.UpdatedAt = next.Time, s.UpdatedAt.UTC()
	return s, nil
}

// PutSchedule replaces the schedule; next is its first run (zero: none).
func (g *GC) PutSchedule(ctx context.Context, typ, cron string, next time.Time) error {
	var n any
	if !next.IsZero() {
		n = micro(next)
	}
	if _, err := g.q.ExecContext(ctx, `INSERT INTO gc_schedule (id, type, cron, next_run_at, updated_at) VALUES (1, $1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET type = excluded.type, cron = excluded.cron, next_run_at = excluded.next_run_at,
		updated_at = excluded.updated_at`, typ, cron, n, g.timestamp()); err != nil {
		return wrapErr(err, "meta: put gc schedule")
	}
	return nil
}

// TakeScheduledRun claims the scheduled run due at or before now, moving
// the schedule to next (exactly one caller wins). ok is false when none is
// due.
func (g *GC) TakeScheduledRun(ctx context.Context, next func(after time.Time) time.Time) (ok bool, err error) {
	err = g.inTx(ctx, func(tx *handle) error {
		s, err := tx.gc().GetSchedule(ctx)
		if err != nil || s.NextRun.IsZero() || s.NextRun.After(tx.timestamp()) {
			return err
		}
		n := next(tx.timestamp())
		var nv any
		if !n.IsZero() {
			nv = micro(n)
		}
		res, err := tx.q.ExecContext(ctx, `UPDATE gc_schedule SET next_run_at = $1 WHERE id = 1 AND next_run_at = $2`,
			nv, micro(s.NextRun))
		if err != nil {
			return wrapErr(err, "meta: take gc schedule")
		}
		n2, err := res.RowsAffected()
		ok = err == nil && n2 == 1
		return wrapNil(err, "meta: take gc schedule")
	})
	return ok, err
}
