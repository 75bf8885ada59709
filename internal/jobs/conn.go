package jobs

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/berth-registry/berth/internal/meta"
)

const (
	// poolConns bounds River's own PostgreSQL pool: one LISTEN connection
	// held for good, plus fetches, completions, the elector and the
	// maintenance services (it does not share meta's pool).
	poolConns = 6
	// connectTimeout applies when the DSN names none, as in meta.
	connectTimeout     = 5 * time.Second
	migrateLockTimeout = 2 * time.Minute
	// migrateLockKey is the PostgreSQL advisory lock serialising River's
	// migrations across replicas starting together ("berth-rv").
	migrateLockKey int64 = 0x62657274682d7276
)

// conn is River's connection to the metadata database: exactly one of
// pool (PostgreSQL) and db (SQLite) is set.
type conn struct {
	pool *pgxpool.Pool
	db   *sql.DB
}

func openConn(ctx context.Context, dsn string) (*conn, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite://"):
		db, err := meta.OpenSQLiteConn(ctx, dsn)
		if err != nil {
			return nil, fmt.Errorf("jobs: %w", err)
		}
		return &conn{db: db}, nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		cfg, err := pgxpool.ParseConfig(dsn) // its errors redact the password
		if err != nil {
			return nil, fmt.Errorf("jobs: postgres URL: %w", err)
		}
		cfg.MaxConns = poolConns
		if cfg.ConnConfig.ConnectTimeout == 0 {
			cfg.ConnConfig.ConnectTimeout = connectTimeout
		}
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("jobs: postgres pool: %w", err)
		}
		pctx, cancel := context.WithTimeout(ctx, cfg.ConnConfig.ConnectTimeout)
		defer cancel()
		if err := pool.Ping(pctx); err != nil {
			pool.Close()
			return nil, fmt.Errorf("jobs: connect %s:%d/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
		}
		return &conn{pool: pool}, nil
	}
	scheme, _, _ := strings.Cut(dsn, ":")
	return nil, fmt.Errorf("jobs: no River driver for database URL scheme %q", scheme)
}

func (c *conn) close() {
	if c.pool != nil {
		c.pool.Close()
	}
	if c.db != nil {
		_ = c.db.Close()
	}
}

// client builds a River client on the connection's driver.
func (c *conn) client(cfg *river.Config) (client, error) {
	if c.pool != nil {
		return river.NewClient(riverpgxv5.New(c.pool), cfg)
	}
	return river.NewClient(riversqlite.New(c.db), cfg)
}

// migrate brings River's tables up to date. It is idempotent; on
// PostgreSQL an advisory lock serialises replicas that start together
// (River's migrator takes none).
func (c *conn) migrate(ctx context.Context, log *slog.Logger) error {
	if c.pool == nil {
		return runMigrations(ctx, riversqlite.New(c.db), log)
	}
	lctx, cancel := context.WithTimeout(ctx, migrateLockTimeout)
	defer cancel()
	lock, err := c.pool.Acquire(lctx)
	if err != nil {
		return fmt.Errorf("jobs: migration lock: %w", err)
	}
	if _, err := lock.Exec(lctx, "SELECT pg_advisory_lock($1)", migrateLockKey); err != nil {
		lock.Release()
		return fmt.Errorf("jobs: migration lock: %w", err)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := lock.Exec(uctx, "SELECT pg_advisory_unlock($1)", migrateLockKey); err != nil {
			// Closing the session releases the lock.
			_ = lock.Hijack().Close(uctx)
			return
		}
		lock.Release()
	}()
	return runMigrations(ctx, riverpgxv5.New(c.pool), log)
}

func runMigrations[TTx any](ctx context.Context, drv riverdriver.Driver[TTx], log *slog.Logger) error {
	m, err := rivermigrate.New(drv, &rivermigrate.Config{Logger: log})
	if err != nil {
		return fmt.Errorf("jobs: river migrator: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("jobs: river migrate: %w", err)
	}
	return nil
}

// Migrate brings River's tables in the database named by dsn up to date,
// for `berth migrate`; Open does the same.
func Migrate(ctx context.Context, dsn string, log *slog.Logger) error {
	c, err := openConn(ctx, dsn)
	if err != nil {
		return err
	}
	defer c.close()
	return c.migrate(ctx, log)
}
