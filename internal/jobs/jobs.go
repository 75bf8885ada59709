// Package jobs runs Berth's background work on River, a durable job queue
// kept in the metadata database (SQLite or PostgreSQL). Every replica works
// jobs from the queue, each job claimed by exactly one of them; periodic
// jobs are enqueued by the elected leader only, so a schedule fires once per
// cluster, not once per replica.
//
// Domain logic stays a plain function passed in (jobs imports no domain
// package); the River workers here are thin adapters. Jobs must be
// idempotent: a replica that dies mid-job leaves it to be rescued and run
// again.
package jobs

import (
	"context"
	"crypto/rand"
	"database/sql"
	sqldriver "database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/berth-registry/berth/internal/meta"
)

// Defaults for Options left zero.
const (
	DefaultPurgeTimeout = 5 * time.Minute
	DefaultStopTimeout  = 30 * time.Second
	migrateLockTimeout  = 2 * time.Minute
	// migrateLockKey is the PostgreSQL advisory lock serialising River's
	// migrations across replicas starting together ("berth-rv").
	migrateLockKey int64 = 0x62657274682d7276
)

// Options configures the queue.
type Options struct {
	// PurgeUploads discards expired upload sessions (in bounded batches);
	// it runs as the periodic job purge_uploads every PurgeEvery, and once
	// when a leader is elected. Nil or PurgeEvery 0 schedules nothing.
	PurgeUploads func(ctx context.Context) error
	PurgeEvery   time.Duration
	PurgeTimeout time.Duration // per run; 0 means DefaultPurgeTimeout

	// StopTimeout bounds the graceful stop: running jobs get this long to
	// finish before their contexts are cancelled. 0 means DefaultStopTimeout.
	StopTimeout time.Duration

	// For tests: a shorter fetch poll, and more workers to register.
	pollInterval time.Duration
	register     func(*river.Workers)
}

// PurgeUploadsArgs is the purge_uploads job; it has no arguments.
type PurgeUploadsArgs struct{}

// Kind implements river.JobArgs.
func (PurgeUploadsArgs) Kind() string { return "purge_uploads" }

// InsertOpts implements river.JobArgsWithInsertOpts: a failed purge is
// retried a few times (River backs off with jitter), then the next period
// takes over.
func (PurgeUploadsArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 3} }

type purgeUploadsWorker struct {
	river.WorkerDefaults[PurgeUploadsArgs]
	purge   func(ctx context.Context) error
	timeout time.Duration
}

func (w *purgeUploadsWorker) Work(ctx context.Context, _ *river.Job[PurgeUploadsArgs]) error {
	return w.purge(ctx)
}

func (w *purgeUploadsWorker) Timeout(*river.Job[PurgeUploadsArgs]) time.Duration { return w.timeout }

// Queue is a River client on the metadata database.
type Queue struct {
	client      *river.Client[*sql.Tx]
	stopTimeout time.Duration
}

// Open migrates River's tables (see Migrate) and returns a queue with the
// workers and periodic jobs of opts registered. It does not start working.
func Open(ctx context.Context, store *meta.Store, log *slog.Logger, opts Options) (*Queue, error) {
	if err := Migrate(ctx, store, log); err != nil {
		return nil, err
	}
	drv, err := driver(store)
	if err != nil {
		return nil, err
	}
	if opts.PurgeTimeout <= 0 {
		opts.PurgeTimeout = DefaultPurgeTimeout
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = DefaultStopTimeout
	}
	workers := river.NewWorkers()
	var periodic []*river.PeriodicJob
	if opts.PurgeUploads != nil && opts.PurgeEvery > 0 {
		river.AddWorker(workers, &purgeUploadsWorker{purge: opts.PurgeUploads, timeout: opts.PurgeTimeout})
		periodic = append(periodic, river.NewPeriodicJob(
			river.PeriodicInterval(opts.PurgeEvery),
			func() (river.JobArgs, *river.InsertOpts) { return PurgeUploadsArgs{}, nil },
			&river.PeriodicJobOpts{ID: PurgeUploadsArgs{}.Kind(), RunOnStart: true},
		))
	}
	if opts.register != nil {
		opts.register(workers)
	}
	client, err := river.NewClient(drv, &river.Config{
		ID:                clientID(),
		Logger:            log,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 4}},
		Workers:           workers,
		PeriodicJobs:      periodic,
		FetchPollInterval: opts.pollInterval,
		FetchCooldown:     min(opts.pollInterval, 100*time.Millisecond),
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: river client: %w", err)
	}
	return &Queue{client: client, stopTimeout: opts.StopTimeout}, nil
}

// Run works jobs until ctx ends, then stops gracefully: no new jobs are
// fetched and running ones get Options.StopTimeout to finish before they
// are cancelled.
func (q *Queue) Run(ctx context.Context) error {
	// River cancels running jobs when its start context ends; give it one
	// that does not, and stop it explicitly.
	if err := q.client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("jobs: start: %w", err)
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), q.stopTimeout)
	defer cancel()
	if err := q.client.Stop(sctx); err != nil {
		hctx, hcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer hcancel()
		return errors.Join(fmt.Errorf("jobs: graceful stop: %w", err), q.client.StopAndCancel(hctx))
	}
	return nil
}

// Enqueue inserts a one-off job; a registered worker picks it up.
func (q *Queue) Enqueue(ctx context.Context, args river.JobArgs) error {
	_, err := q.client.Insert(ctx, args, nil)
	return err
}

// Migrate brings River's tables in the metadata database up to date. It is
// idempotent; on PostgreSQL an advisory lock serialises replicas that start
// together (River's migrator takes none).
func Migrate(ctx context.Context, store *meta.Store, log *slog.Logger) error {
	drv, err := driver(store)
	if err != nil {
		return err
	}
	m, err := rivermigrate.New(drv, &rivermigrate.Config{Logger: log})
	if err != nil {
		return fmt.Errorf("jobs: river migrator: %w", err)
	}
	if store.Dialect() == "postgres" {
		unlock, err := lockPostgres(ctx, store.DB())
		if err != nil {
			return err
		}
		defer unlock()
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("jobs: river migrate: %w", err)
	}
	return nil
}

func driver(store *meta.Store) (riverdriver.Driver[*sql.Tx], error) {
	switch store.Dialect() {
	case "sqlite":
		return riversqlite.New(store.DB()), nil
	case "postgres":
		return riverdatabasesql.New(store.DB()), nil
	}
	return nil, fmt.Errorf("jobs: no River driver for database %q", store.Dialect())
}

// clientID names this replica to River (leader election, job attempts):
// host, process and a random suffix, so replicas sharing a host differ.
func clientID() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%.60s_%d_%x", host, os.Getpid(), b)
}

// lockPostgres takes the migration advisory lock on a connection of its
// own; unlock releases it and returns the connection.
func lockPostgres(ctx context.Context, db *sql.DB) (unlock func(), err error) {
	lctx, cancel := context.WithTimeout(ctx, migrateLockTimeout)
	defer cancel()
	conn, err := db.Conn(lctx)
	if err != nil {
		return nil, fmt.Errorf("jobs: migration lock: %w", err)
	}
	if _, err := conn.ExecContext(lctx, "SELECT pg_advisory_lock($1)", migrateLockKey); err != nil {
		conn.Close()
		return nil, fmt.Errorf("jobs: migration lock: %w", err)
	}
	return func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(uctx, "SELECT pg_advisory_unlock($1)", migrateLockKey); err != nil {
			// Discarding the session releases the lock.
			_ = conn.Raw(func(any) error { return sqldriver.ErrBadConn })
		}
		conn.Close()
	}, nil
}
