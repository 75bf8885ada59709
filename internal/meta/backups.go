package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Backups is the history of backup runs (/api/v2.0/system/backups) and
// the schedule that fires them once per cluster.
type Backups struct{ *handle }

// ErrBackupRunNotFound: no backup run with that id.
var ErrBackupRunNotFound = errors.New("backup run not found")

// BackupRun is one backup run. Location names the backup repository (a
// directory or s3://bucket/prefix; never credentials).
type BackupRun struct {
	ID          int64
	Kind        string // "MANUAL" or "SCHEDULE"
	Status      string // "Running", "Success", "Error" (as GC runs)
	Location    string
	SnapshotID  string
	Manifests   int64
	Tags        int64
	Blobs       int64
	BlobsCopied int64
	Bytes       int64
	BytesCopied int64
	Pruned      int64 // snapshots removed by retention
	Duration    time.Duration
	Error       string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

const backupRunColumns = `id, kind, status, location, snapshot_id, manifests, tags, blobs, blobs_copied, bytes, bytes_copied,
	pruned, duration_ms, error, created_at, updated_at`

func scanBackupRun(row rowScanner) (BackupRun, error) {
	var (
		r  BackupRun
		ms int64
	)
	err := row.Scan(&r.ID, &r.Kind, &r.Status, &r.Location, &r.SnapshotID, &r.Manifests, &r.Tags, &r.Blobs, &r.BlobsCopied,
		&r.Bytes, &r.BytesCopied, &r.Pruned, &ms, &r.Error, &r.CreatedAt, &r.UpdatedAt)
	r.Duration = time.Duration(ms) * time.Millisecond
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return r, err
}

// CreateRun records a run that starts now (status Running).
func (b *Backups) CreateRun(ctx context.Context, kind, location string) (BackupRun, error) {
	now := b.timestamp()
	r, err := scanBackupRun(b.q.QueryRowContext(ctx, `INSERT INTO backup_runs (kind, status, location, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $4) RETURNING `+backupRunColumns, kind, GCRunning, location, now))
	if err != nil {
		return BackupRun{}, wrapErr(err, "meta: create backup run")
	}
	return r, nil
}

// FinishRun records run r.ID's outcome (status, figures, error).
// Missing: ErrBackupRunNotFound.
func (b *Backups) FinishRun(ctx context.Context, r BackupRun) error {
	res, err := b.q.ExecContext(ctx, `UPDATE backup_runs SET status = $2, snapshot_id = $3, manifests = $4, tags = $5,
		blobs = $6, blobs_copied = $7, bytes = $8, bytes_copied = $9, pruned = $10, duration_ms = $11, error = $12,
		updated_at = $13 WHERE id = $1`, r.ID, r.Status, r.SnapshotID, r.Manifests, r.Tags, r.Blobs, r.BlobsCopied,
		r.Bytes, r.BytesCopied, r.Pruned, r.Duration.Milliseconds(), truncate(r.Error, 4000), b.timestamp())
	if err != nil {
		return wrapErr(err, "meta: finish backup run %d", r.ID)
	}
	return expectOne(res, fmt.Errorf("backup run %d: %w", r.ID, ErrBackupRunNotFound), "meta: finish backup run %d", r.ID)
}

// GetRun returns run id. Missing: ErrBackupRunNotFound.
func (b *Backups) GetRun(ctx context.Context, id int64) (BackupRun, error) {
	r, err := scanBackupRun(b.q.QueryRowContext(ctx, `SELECT `+backupRunColumns+` FROM backup_runs WHERE id = $1`, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return BackupRun{}, fmt.Errorf("backup run %d: %w", id, ErrBackupRunNotFound)
	case err != nil:
		return BackupRun{}, wrapErr(err, "meta: get backup run %d", id)
	}
	return r, nil
}

// ListRuns returns one page of runs, newest first, and their total.
func (b *Backups) ListRuns(ctx context.Context, pg Page) ([]BackupRun, int, error) {
	var total int
	if err := b.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM backup_runs`).Scan(&total); err != nil {
		return nil, 0, wrapErr(err, "meta: list backup runs")
	}
	if pg.Limit <= 0 {
		return []BackupRun{}, total, nil
	}
	out, err := queryAll(ctx, b.q, scanBackupRun, `SELECT `+backupRunColumns+` FROM backup_runs ORDER BY id DESC LIMIT $1 OFFSET $2`,
		pg.Limit, max(pg.Offset, 0))
	if err != nil {
		return nil, 0, wrapErr(err, "meta: list backup runs")
	}
	return out, total, nil
}

// LastSuccess returns the newest successful run (ErrBackupRunNotFound:
// none yet).
func (b *Backups) LastSuccess(ctx context.Context) (BackupRun, error) {
	r, err := scanBackupRun(b.q.QueryRowContext(ctx, `SELECT `+backupRunColumns+` FROM backup_runs
		WHERE status = $1 ORDER BY updated_at DESC, id DESC LIMIT 1`, GCSuccess))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return BackupRun{}, fmt.Errorf("no successful backup: %w", ErrBackupRunNotFound)
	case err != nil:
		return BackupRun{}, wrapErr(err, "meta: last backup")
	}
	return r, nil
}

// TakeScheduledRun claims the scheduled run of cron expression expr due at
// or before now, moving the schedule to next(now); exactly one caller
// wins. A new or changed expression only sets the next run (ok false).
func (b *Backups) TakeScheduledRun(ctx context.Context, expr string, next func(after time.Time) time.Time) (ok bool, err error) {
	err = b.inTx(ctx, func(tx *handle) error {
		now := tx.timestamp()
		var (
			cur string
			at  flexTime
		)
		err := tx.q.QueryRowContext(ctx, `SELECT cron, next_run_at FROM backup_schedule WHERE id = 1`+tx.forUpdate()).Scan(&cur, &at)
		switch {
		case errors.Is(err, sql.ErrNoRows) || (err == nil && cur != expr):
			_, err = tx.q.ExecContext(ctx, `INSERT INTO backup_schedule (id, cron, next_run_at) VALUES (1, $1, $2)
				ON CONFLICT (id) DO UPDATE SET cron = excluded.cron, next_run_at = excluded.next_run_at`, expr, micro(next(now)))
			return wrapNil(err, "meta: set backup schedule")
		case err != nil:
			return wrapErr(err, "meta: backup schedule")
		}
		if at.Time.After(now) {
			return nil
		}
		_, err = tx.q.ExecContext(ctx, `UPDATE backup_schedule SET next_run_at = $1 WHERE id = 1`, micro(next(now)))
		ok = err == nil
		return wrapNil(err, "meta: take backup schedule")
	})
	return ok, err
}

// Backup run kinds and the status of a run asked for but not started.
const (
	BackupManual   = "MANUAL"
	BackupSchedule = "SCHEDULE"
	BackupPending  = "Pending"
)

// QueueRun records a manual run for the backup job to start (status
// Pending).
func (b *Backups) QueueRun(ctx context.Context, location string) (BackupRun, error) {
	now := b.timestamp()
	r, err := scanBackupRun(b.q.QueryRowContext(ctx, `INSERT INTO backup_runs (kind, status, location, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $4) RETURNING `+backupRunColumns, BackupManual, BackupPending, location, now))
	if err != nil {
		return BackupRun{}, wrapErr(err, "meta: queue backup run")
	}
	return r, nil
}

// StartPending takes the oldest pending run and marks it Running (exactly
// one caller gets each). None: ErrBackupRunNotFound.
func (b *Backups) StartPending(ctx context.Context) (BackupRun, error) {
	var out BackupRun
	err := b.inTx(ctx, func(tx *handle) error {
		var id int64
		err := tx.q.QueryRowContext(ctx, `SELECT id FROM backup_runs WHERE status = $1 ORDER BY id LIMIT 1`+tx.skipLocked(),
			BackupPending).Scan(&id)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("no pending backup run: %w", ErrBackupRunNotFound)
		case err != nil:
			return wrapErr(err, "meta: pending backup run")
		}
		out, err = scanBackupRun(tx.q.QueryRowContext(ctx, `UPDATE backup_runs SET status = $2, updated_at = $3 WHERE id = $1
			RETURNING `+backupRunColumns, id, GCRunning, tx.timestamp()))
		return wrapNil(err, "meta: start backup run")
	})
	return out, err
}

// Running reports whether a run started after since is still running.
func (b *Backups) Running(ctx context.Context, since time.Time) (bool, error) {
	var n int
	if err := b.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM backup_runs WHERE status = $1 AND updated_at > $2`,
		GCRunning, micro(since)).Scan(&n); err != nil {
		return false, wrapErr(err, "meta: running backups")
	}
	return n > 0, nil
}
