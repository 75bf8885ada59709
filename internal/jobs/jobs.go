// Package jobs runs Berth's background work on River, a durable job queue
// kept in the metadata database (SQLite or PostgreSQL). Every replica works
// jobs from the queue, each job claimed by exactly one of them; periodic
// jobs are enqueued by the elected leader only, so a schedule fires once per
// cluster, not once per replica.
//
// A job is one Job entry in the list given to Open: its kind, an interval
// if it is periodic, a timeout and a plain function. Domain logic stays in
// that function (jobs imports no domain package); the River worker here is
// one thin adapter shared by every entry. Jobs must be idempotent: a
// replica that dies mid-job leaves it to be rescued and run again.
//
// River keeps its own connections to the database named by the same DSN
// as the store: on PostgreSQL a pgx pool, so that a LISTEN connection wakes
// workers when a job is inserted instead of polling; on SQLite a single
// connection, so River's concurrent statements queue instead of failing
// with SQLITE_BUSY.
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Defaults for fields left zero.
const (
	DefaultTimeout     = 5 * time.Minute
	DefaultMaxAttempts = 3
	DefaultStopTimeout = 30 * time.Second
)

// Job registers one kind of job. A job with Every > 0 is periodic: the
// leader enqueues it every Every, and once when it is elected. Any job can
// also be enqueued on demand with Queue.Enqueue.
type Job struct {
	// Kind names the job in the queue table; unique, stable across
	// releases (queued rows outlive a deploy).
	Kind string
	// Every is the period of a periodic job; 0 means queued only.
	Every time.Duration
	// Timeout bounds one run; 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxAttempts bounds retries of a failing run (River backs off with
	// jitter); 0 means DefaultMaxAttempts.
	MaxAttempts int
	// Run does the work. args is the JSON given to Enqueue ("{}" for
	// periodic runs); NoArgs and WithArgs adapt plain functions.
	Run func(ctx context.Context, args json.RawMessage) error
}

// NoArgs adapts a function that takes no arguments to Job.Run.
func NoArgs(fn func(ctx context.Context) error) func(context.Context, json.RawMessage) error {
	return func(ctx context.Context, _ json.RawMessage) error { return fn(ctx) }
}

// WithArgs adapts a function taking typed arguments to Job.Run; the JSON
// given to Enqueue is decoded into T. A payload that does not decode fails
// the run without retry (it never will).
func WithArgs[T any](fn func(ctx context.Context, args T) error) func(context.Context, json.RawMessage) error {
	return func(ctx context.Context, raw json.RawMessage) error {
		var a T
		if err := json.Unmarshal(raw, &a); err != nil {
			return river.JobCancel(fmt.Errorf("decode arguments: %w", err))
		}
		return fn(ctx, a)
	}
}

// Options configures the queue.
type Options struct {
	// Jobs lists every job this replica works and schedules.
	Jobs []Job
	// StopTimeout bounds the graceful stop: running jobs get this long to
	// finish before their contexts are cancelled. 0 means DefaultStopTimeout.
	StopTimeout time.Duration

	// For tests: a shorter fetch poll (River's fallback when no
	// notification arrives; SQLite's only way to see new jobs).
	pollInterval time.Duration
}

// ErrUnknownKind is returned by Enqueue for a kind not in Options.Jobs.
var ErrUnknownKind = errors.New("jobs: unknown job kind")

// args carries any job's arguments through River: the kind beside the
// raw JSON payload.
type args struct {
	kind string
	raw  json.RawMessage
}

func (a args) Kind() string { return a.kind }

func (a args) MarshalJSON() ([]byte, error) {
	if len(a.raw) == 0 {
		return []byte("{}"), nil
	}
	return a.raw, nil
}

func (a *args) UnmarshalJSON(b []byte) error {
	a.raw = append(a.raw[:0], b...)
	return nil
}

// worker is the River adapter for one Job.
type worker struct {
	river.WorkerDefaults[args]
	job Job
}

func (w *worker) Work(ctx context.Context, j *river.Job[args]) error {
	return w.job.Run(ctx, j.Args.raw)
}

func (w *worker) Timeout(*river.Job[args]) time.Duration { return w.job.Timeout }

// client is what Queue uses of a river.Client, whatever its driver's
// transaction type.
type client interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// Queue is a River client on the metadata database.
type Queue struct {
	client      client
	conn        *conn
	jobs        map[string]Job
	stopTimeout time.Duration
}

// Open migrates River's tables (see Migrate) on the database named by dsn
// (the store's DSN) and returns a queue with opts.Jobs registered. It does
// not start working; call Run, then Close.
func Open(ctx context.Context, dsn string, log *slog.Logger, opts Options) (*Queue, error) {
	byKind, err := index(opts.Jobs)
	if err != nil {
		return nil, err
	}
	c, err := openConn(ctx, dsn)
	if err != nil {
		return nil, err
	}
	q, err := newQueue(ctx, c, log, opts, byKind)
	if err != nil {
		c.close()
		return nil, err
	}
	return q, nil
}

func newQueue(ctx context.Context, c *conn, log *slog.Logger, opts Options, byKind map[string]Job) (*Queue, error) {
	if err := c.migrate(ctx, log); err != nil {
		return nil, err
	}
	workers := river.NewWorkers()
	var periodic []*river.PeriodicJob
	for _, j := range opts.Jobs {
		j := byKind[j.Kind] // with defaults
		river.AddWorkerArgs(workers, args{kind: j.Kind}, &worker{job: j})
		if j.Every > 0 {
			periodic = append(periodic, river.NewPeriodicJob(
				river.PeriodicInterval(j.Every),
				func() (river.JobArgs, *river.InsertOpts) {
					return args{kind: j.Kind}, &river.InsertOpts{MaxAttempts: j.MaxAttempts}
				},
				&river.PeriodicJobOpts{ID: j.Kind, RunOnStart: true},
			))
		}
	}
	cfg := &river.Config{
		ID:                clientID(),
		Logger:            log,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 4}},
		Workers:           workers,
		PeriodicJobs:      periodic,
		FetchPollInterval: opts.pollInterval,
		FetchCooldown:     min(opts.pollInterval, 100*time.Millisecond),
	}
	cl, err := c.client(cfg)
	if err != nil {
		return nil, fmt.Errorf("jobs: river client: %w", err)
	}
	return &Queue{client: cl, conn: c, jobs: byKind, stopTimeout: orDefault(opts.StopTimeout, DefaultStopTimeout)}, nil
}

// index checks the job list and fills in defaults.
func index(list []Job) (map[string]Job, error) {
	byKind := make(map[string]Job, len(list))
	var errs []error
	for _, j := range list {
		switch {
		case strings.TrimSpace(j.Kind) == "":
			errs = append(errs, errors.New("jobs: a job has no kind"))
			continue
		case j.Run == nil:
			errs = append(errs, fmt.Errorf("jobs: job %q has no function", j.Kind))
		case j.Every < 0:
			errs = append(errs, fmt.Errorf("jobs: job %q: negative interval", j.Kind))
		}
		if _, dup := byKind[j.Kind]; dup {
			errs = append(errs, fmt.Errorf("jobs: job %q registered twice", j.Kind))
		}
		j.Timeout = orDefault(j.Timeout, DefaultTimeout)
		if j.MaxAttempts <= 0 {
			j.MaxAttempts = DefaultMaxAttempts
		}
		byKind[j.Kind] = j
	}
	return byKind, errors.Join(errs...)
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
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

// Close releases the queue's database connections; call it after Run
// has returned.
func (q *Queue) Close() { q.conn.close() }

// Enqueue inserts a one-off job of a registered kind with args encoded as
// JSON (nil for none); a replica picks it up.
func (q *Queue) Enqueue(ctx context.Context, kind string, a any) error {
	return q.EnqueueAt(ctx, kind, a, time.Time{})
}

// EnqueueAt is Enqueue for a job that must not run before at (zero: now).
func (q *Queue) EnqueueAt(ctx context.Context, kind string, a any, at time.Time) error {
	j, ok := q.jobs[kind]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownKind, kind)
	}
	var raw json.RawMessage
	if a != nil {
		b, err := json.Marshal(a)
		if err != nil {
			return fmt.Errorf("jobs: enqueue %s: %w", kind, err)
		}
		raw = b
	}
	if _, err := q.client.Insert(ctx, args{kind: kind, raw: raw}, &river.InsertOpts{MaxAttempts: j.MaxAttempts, ScheduledAt: at}); err != nil {
		return fmt.Errorf("jobs: enqueue %s: %w", kind, err)
	}
	return nil
}

// clientID names this replica to River (leader election, job attempts):
// host, process and a random suffix, so replicas sharing a host differ.
func clientID() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%.60s_%d_%x", host, os.Getpid(), b)
}
