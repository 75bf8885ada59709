package meta

import (
	"context"
	"database/sql"
	"time"
)

// querier is what *sql.DB and *sql.Tx have in common; every query runs on
// one, so a Store inside InTx runs the very same code on its transaction.
type querier interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

var (
	_ querier = (*sql.DB)(nil)
	_ querier = (*sql.Tx)(nil)
)

// handle is the query handle every aggregate of one Store shares: the
// connection pool or the transaction, the dialect and the clock.
type handle struct {
	db      *sql.DB // nil inside InTx
	q       querier // db, or the transaction
	dialect dialect
	now     func() time.Time
	// grace is how long unreferenced content is kept (GC.SetGrace);
	// 0 means DefaultGCGrace.
	grace time.Duration
	// deferred are outbox events a statement inside the transaction asked
	// for (deferEvent); inTx appends them just before it commits.
	deferred []Event
	// writers queues SQLite's transactions (sqlitewrite.go); nil on
	// PostgreSQL and inside InTx.
	writers writeQueue
	// txdb is SQLite's connection for transactions (synchronous=NORMAL)
	// and wal makes their commits durable (group commit, sqlitewrite.go);
	// nil on PostgreSQL and inside InTx, where transactions run on db.
	txdb *sql.DB
	wal  *walSync
	// stmts are txdb's prepared statements (stmtcache.go); nil elsewhere.
	stmts *stmtCache
}

// timestamp is the store's clock in UTC, at the microsecond precision both
// engines keep.
func (h *handle) timestamp() time.Time {
	return h.now().UTC().Truncate(time.Microsecond)
}

// inTx runs fn in one transaction and commits only if fn returns nil.
// Called on a handle that is already a transaction, fn joins it.
func (h *handle) inTx(ctx context.Context, fn func(tx *handle) error) error {
	if h.db == nil {
		return fn(h)
	}
	db := h.db
	if h.txdb != nil {
		db = h.txdb
	}
	var release func()
	if h.writers != nil {
		var err error
		if release, err = h.writers.acquire(ctx); err != nil {
			return err
		}
		defer func() {
			if release != nil {
				release()
			}
		}()
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return wrapErr(err, "meta: begin")
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	th := &handle{q: tx, dialect: h.dialect, now: h.now, grace: h.grace}
	if h.stmts != nil {
		th.q = cachedTx{Tx: tx, c: h.stmts}
	}
	if err := fn(th); err != nil {
		return err
	}
	if err := th.flushDeferred(ctx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return wrapErr(err, "meta: commit")
	}
	if h.wal == nil {
		return nil
	}
	// Committed but not yet on disk: let the next writer in, then wait
	// for an fsync of the WAL that started after this commit.
	seq := h.wal.committed()
	if release != nil {
		release()
		release = nil
	}
	return h.wal.sync(seq)
}

// Aggregates on the same handle, for methods that read or write another
// aggregate's rows in their own statement or transaction.
func (h *handle) repos() *Repositories { return &Repositories{h} }
func (h *handle) projects() *Projects  { return &Projects{h} }
func (h *handle) users() *Users        { return &Users{h} }

// Store is the metadata store over SQLite or PostgreSQL. It is safe for
// concurrent use. It owns the connection (Open, Close, Ping, Migrate, InTx)
// and exposes the data as one small store type per aggregate, all on the
// same query handle: inside InTx, every field runs on the transaction.
//
// Methods that find nothing return the package's sentinel errors (never a
// zero value and nil); failures to reach the database match ErrUnavailable.
type Store struct {
	*handle

	Repos     *Repositories // repositories and their read models
	Manifests *Manifests    // manifests, references, referrers, tags, artifacts
	Blobs     *Blobs        // blobs and their repository links
	Uploads   *Uploads      // upload sessions
	Users     *Users        // user accounts and the login throttle
	Robots    *Robots       // robot accounts
	Projects  *Projects     // projects, members and roles
	Audit     *Audit        // the audit log
	Settings  *Settings     // system settings
	ACME      *ACMECache    // the shared ACME certificate cache
	GC        *GC           // garbage collection reviews, runs, schedule, leases
	Quotas    *Quotas       // per-project storage quotas
	Labels    *Labels       // labels and their attachment to artifacts
	Pulls     *Pulls        // artifact pull counts, added in batches
	Immutable *Immutable    // tag immutability rules
	Untagged  *Untagged     // projects collecting untagged manifests
	Retention *Retention    // tag retention policies, executions and tasks
	Events    *Events       // the event outbox and its subscriber cursors
	// Registries are replication and proxy-cache endpoints.
	Registries *Registries
	// Replication holds replication policies, executions and tasks.
	Replication *Replication
	Backups     *Backups  // backup runs and their schedule
	Webhooks    *Webhooks // webhook policies, deliveries, per-project leases
	Policies    *Policies // signature and vulnerability policies, CVE allowlists, signature keys
	Scans       *Scans    // scanner registrations and scan reports
	// Schedules are named system job schedules (scan all).
	Schedules *Schedules
}

func newStore(db *sql.DB, d dialect) *Store {
	return storeOn(&handle{db: db, q: db, dialect: d, now: time.Now})
}

// storeOn returns a Store whose aggregates all use h.
func storeOn(h *handle) *Store {
	return &Store{
		handle:    h,
		Repos:     &Repositories{h},
		Manifests: &Manifests{h},
		Blobs:     &Blobs{h},
		Uploads:   &Uploads{h},
		Users:     &Users{h},
		Robots:    &Robots{h},
		Projects:  &Projects{h},
		Audit:     &Audit{h},
		Settings:  &Settings{h},
		ACME:      &ACMECache{h},
		GC:        &GC{h},
		Quotas:    &Quotas{h},
		Labels:    &Labels{h},
		Pulls:     &Pulls{h},
		Immutable: &Immutable{h},
		Untagged:  &Untagged{h},
		Retention: &Retention{h},
		Events:    &Events{h},

		Registries:  &Registries{h},
		Replication: &Replication{h},
		Backups:     &Backups{h},
		Webhooks:    &Webhooks{h},
		Policies:    &Policies{h},
		Scans:       &Scans{h},
		Schedules:   &Schedules{h},
	}
}

// InTx runs fn in one transaction and commits only if fn returns nil.
// Every aggregate of the *Store given to fn runs inside that transaction.
// Called on a Store that is already inside InTx, fn joins the outer
// transaction.
func (s *Store) InTx(ctx context.Context, fn func(tx *Store) error) error {
	return s.inTx(ctx, func(tx *handle) error {
		if tx == s.handle {
			return fn(s)
		}
		return fn(storeOn(tx))
	})
}

// Close releases the database. Inside InTx it does nothing.
func (s *Store) Close() error {
	if s.db == nil {
		return nil
	}
	if s.txdb != nil {
		s.txdb.Close()
	}
	return s.db.Close()
}

// Ping checks that the database answers (readiness).
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.q.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return wrapErr(err, "meta: ping %s", s.dialect)
	}
	return nil
}
