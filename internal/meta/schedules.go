package meta

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Schedules is the aggregate of named system job schedules (the scan-all
// schedule; more may follow): what runs when, and the latest run.
type Schedules struct{ *handle }

// Schedule is one named schedule (Harbor's ScheduleObj plus the latest
// run).
type Schedule struct {
	Name        string
	Type        string // None, Hourly, Daily, Weekly, Custom, Interval
	Cron        string
	NextRun     time.Time // zero: never
	LastRun     time.Time // zero: never ran
	LastTrigger string    // Manual or Schedule
	UpdatedAt   time.Time // zero: the default, never stored
}

// GetSchedule returns schedule name; one never stored is def.
func (s *Schedules) GetSchedule(ctx context.Context, name string, def Schedule) (Schedule, error) {
	var (
		out        Schedule
		next, last flexTime
	)
	err := s.q.QueryRowContext(ctx, `SELECT name, type, cron, next_run_at, last_run_at, last_trigger, updated_at
		FROM job_schedules WHERE name = $1`, name).Scan(&out.Name, &out.Type, &out.Cron, &next, &last, &out.LastTrigger, &out.UpdatedAt)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		def.Name = name
		return def, nil
	case err != nil:
		return Schedule{}, wrapErr(err, "meta: schedule %s", name)
	}
	out.NextRun, out.LastRun, out.UpdatedAt = next.Time, last.Time, out.UpdatedAt.UTC()
	return out, nil
}

// PutSchedule stores sc (its type, cron and next run; the latest run is
// kept).
func (s *Schedules) PutSchedule(ctx context.Context, sc Schedule) error {
	_, err := s.q.ExecContext(ctx, `INSERT INTO job_schedules (name, type, cron, next_run_at, updated_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (name) DO UPDATE SET type = excluded.type, cron = excluded.cron, next_run_at = excluded.next_run_at,
		updated_at = excluded.updated_at`, sc.Name, sc.Type, sc.Cron, nullTime(sc.NextRun), s.timestamp())
	return wrapIf(err, "meta: put schedule %s", sc.Name)
}

// RecordRun notes that schedule name's job started at at, by trigger.
func (s *Schedules) RecordRun(ctx context.Context, name, trigger string, at time.Time, def Schedule) error {
	_, err := s.q.ExecContext(ctx, `INSERT INTO job_schedules (name, type, cron, next_run_at, last_run_at, last_trigger, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (name) DO UPDATE SET last_run_at = excluded.last_run_at, last_trigger = excluded.last_trigger`,
		name, def.Type, def.Cron, nullTime(def.NextRun), micro(at), trigger, s.timestamp())
	return wrapIf(err, "meta: record run of schedule %s", name)
}

// TakeRun claims schedule name's run if it is due (exactly one caller
// wins), moving it to next(schedule, now) and recording the run as
// "Schedule". A schedule never stored is def, stored on the way. next runs
// inside the transaction: it must not query the store.
func (s *Schedules) TakeRun(ctx context.Context, name string, def Schedule, next func(sc Schedule, after time.Time) time.Time) (bool, error) {
	ok := false
	err := s.inTx(ctx, func(tx *handle) error {
		st := &Schedules{tx}
		sc, err := st.GetSchedule(ctx, name, def)
		if err != nil {
			return err
		}
		if sc.UpdatedAt.IsZero() {
			if err := st.PutSchedule(ctx, sc); err != nil {
				return err
			}
		}
		now := tx.timestamp()
		if sc.NextRun.IsZero() || sc.NextRun.After(now) {
			return nil
		}
		res, err := tx.q.ExecContext(ctx, `UPDATE job_schedules SET next_run_at = $2, last_run_at = $3, last_trigger = $4
			WHERE name = $1 AND next_run_at = $5`, name, nullTime(next(sc, now)), now, "Schedule", micro(sc.NextRun))
		if err != nil {
			return wrapErr(err, "meta: take schedule %s", name)
		}
		n, err := res.RowsAffected()
		ok = err == nil && n == 1
		return wrapIf(err, "meta: take schedule %s", name)
	})
	return ok, err
}
