package meta

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// ClaimSchedule claims the run of schedule name that is due at now: it
// succeeds (true) for exactly one caller across every replica sharing the
// database, and moves the schedule's next run to next. A schedule not yet
// known is created and claimed.
func (s *Store) ClaimSchedule(ctx context.Context, name, owner string, now, next time.Time) (bool, error) {
	var got string
	err := s.q.QueryRowContext(ctx, `
		INSERT INTO schedules (name, next_run_at, owner, claimed_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (name) DO UPDATE
			SET next_run_at = excluded.next_run_at, owner = excluded.owner, claimed_at = excluded.claimed_at
			WHERE schedules.next_run_at <= excluded.claimed_at
		RETURNING name`, name, next.UTC(), owner, now.UTC()).Scan(&got)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, wrapErr(err, "meta: claim schedule %s", name)
	}
	return true, nil
}
