package meta

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// dialect names the SQL engine behind a Store. Queries are shared; only
// the connection setup and the DDL migrations differ.
type dialect int

const (
	dialectSQLite dialect = iota + 1
	dialectPostgres
)

func (d dialect) String() string {
	switch d {
	case dialectSQLite:
		return "sqlite"
	case dialectPostgres:
		return "postgres"
	}
	return "unknown"
}

// Pool and timeout settings. PostgreSQL's default max_connections is 100,
// which leaves room for several replicas at postgresMaxOpenConns each.
const (
	postgresMaxOpenConns   = 16
	postgresMaxIdleConns   = 8
	postgresConnMaxLife    = 30 * time.Minute
	postgresConnMaxIdle    = 5 * time.Minute
	postgresConnectTimeout = 5 * time.Second

	sqliteMaxOpenConns = 8
	// sqliteBusyTimeout is how long a writer waits for another writer
	// before failing with SQLITE_BUSY (mapped to ErrUnavailable).
	sqliteBusyTimeout = 10 * time.Second
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// Open connects to the metadata database named by dsn:
//
//	sqlite:///abs/path/berth.db   (sqlite://rel/path.db for a relative path)
//	postgres://user:pass@host:port/db?sslmode=disable   (or postgresql://)
//
// For SQLite the parent directory is created if needed. For PostgreSQL the
// DSN may carry pool_max_conns=N (default 16) and connect_timeout (seconds,
// default 5). Open checks that the database answers: an unreachable server
// fails within the connect timeout with an error matching ErrUnavailable.
// Open does not migrate; call Migrate.
func Open(ctx context.Context, dsn string) (*Store, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite://"):
		return openSQLite(ctx, strings.TrimPrefix(dsn, "sqlite://"))
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return openPostgres(ctx, dsn)
	}
	scheme, _, _ := strings.Cut(dsn, ":")
	return nil, fmt.Errorf("meta: database URL scheme %q: want sqlite:///path/berth.db or postgres://user:pass@host:port/db", scheme)
}

func openSQLite(ctx context.Context, path string) (*Store, error) {
	db, err := openSQLiteDB(path, "FULL")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(sqliteMaxOpenConns)
	db.SetMaxIdleConns(sqliteMaxOpenConns)
	// InTx runs on a connection of its own that commits without waiting
	// for the disk; the transaction is made durable after the write lock
	// is released, by one fsync of the WAL shared with the commits around
	// it (sqlitewrite.go, group commit).
	txdb, err := openSQLiteDB(path, "NORMAL")
	if err != nil {
		db.Close()
		return nil, err
	}
	// Two connections: transactions run one at a time (the write queue),
	// and the other is where a statement is first prepared while a
	// transaction holds the one (stmtcache.go).
	txdb.SetMaxOpenConns(2)
	txdb.SetMaxIdleConns(2)
	s := newStore(db, dialectSQLite)
	s.writers = newWriteQueue()
	s.txdb = txdb
	s.wal = newWALSync(path + "-wal")
	s.stmts = newStmtCache(txdb)
	s.q = queuedExec{DB: db, h: s.handle}
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("meta: open sqlite %s: %w", path, err)
	}
	return s, nil
}

// openSQLiteDB opens a handle on the SQLite file at path, creating its
// directory, with Berth's connection settings and the given synchronous
// level (FULL: every commit waits for the disk; NORMAL: commits do not,
// checkpoints do); it does not connect yet.
func openSQLiteDB(path, synchronous string) (*sql.DB, error) {
	if path == "" {
		return nil, errors.New("meta: sqlite URL has no path: want sqlite:///abs/path/berth.db or sqlite://rel/path.db")
	}
	if strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("meta: sqlite URL %q: parameters are not supported", path)
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("meta: sqlite directory: %w", err)
		}
	}
	// _txlock=immediate: a transaction takes the write lock at BEGIN, so
	// two transactions that read then write never deadlock on the upgrade
	// (which busy_timeout cannot resolve); they queue on busy_timeout.
	// _time_format=sqlite: times are text in one fixed format (UTC here).
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(sqliteBusyTimeout.Milliseconds(), 10)+")")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+synchronous+")")
	q.Set("_txlock", "immediate")
	q.Set("_time_format", "sqlite")
	db, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("meta: open sqlite %s: %w", path, err)
	}
	return db, nil
}

// OpenSQLiteConn opens a second handle on the SQLite database named by dsn
// (sqlite://...), limited to one connection, with the settings Open uses
// (WAL, busy_timeout, immediate transactions). The job queue runs on it:
// River issues many small statements at once, and a single connection
// queues them in Go instead of failing with SQLITE_BUSY, without taking
// connections from the store's pool.
func OpenSQLiteConn(ctx context.Context, dsn string) (*sql.DB, error) {
	path, ok := strings.CutPrefix(dsn, "sqlite://")
	if !ok {
		return nil, errors.New("meta: OpenSQLiteConn: not a sqlite:// URL")
	}
	db, err := openSQLiteDB(path, "FULL")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, wrapErr(err, "meta: open sqlite %s", path)
	}
	return db, nil
}

func openPostgres(ctx context.Context, dsn string) (*Store, error) {
	dsn, maxConns, err := takePoolMaxConns(dsn)
	if err != nil {
		return nil, err
	}
	cfg, err := pgx.ParseConfig(dsn) // its errors redact the password
	if err != nil {
		return nil, fmt.Errorf("meta: postgres URL: %w", err)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = postgresConnectTimeout
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(min(postgresMaxIdleConns, maxConns))
	db.SetConnMaxLifetime(postgresConnMaxLife)
	db.SetConnMaxIdleTime(postgresConnMaxIdle)
	s := newStore(db, dialectPostgres)
	pctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	if err := s.Ping(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("meta: open postgres %s:%d/%s: %w", cfg.Host, cfg.Port, cfg.Database, err)
	}
	return s, nil
}

// takePoolMaxConns removes pool_max_conns (the name pgxpool uses) from a
// postgres URL, since pgx would send it to the server as a setting.
func takePoolMaxConns(dsn string) (string, int, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", 0, errors.New("meta: postgres URL does not parse") // url errors echo the password
	}
	q := u.Query()
	v := q.Get("pool_max_conns")
	if v == "" {
		return dsn, postgresMaxOpenConns, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return "", 0, fmt.Errorf("meta: postgres URL: pool_max_conns=%q: want a positive integer", v)
	}
	q.Del("pool_max_conns")
	u.RawQuery = q.Encode()
	return u.String(), n, nil
}

// Migrate applies the embedded migrations of the store's dialect that are
// not applied yet. On PostgreSQL a session advisory lock serialises
// replicas migrating at the same time. It cannot run inside InTx.
func (s *Store) Migrate(ctx context.Context) error {
	if s.db == nil {
		return errors.New("meta: Migrate inside a transaction")
	}
	sub, err := fs.Sub(migrations, "migrations/"+s.dialect.String())
	if err != nil {
		return fmt.Errorf("meta: migrations: %w", err)
	}
	var (
		d    goose.Dialect
		opts = []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	)
	switch s.dialect {
	case dialectSQLite:
		d = goose.DialectSQLite3
	case dialectPostgres:
		d = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return fmt.Errorf("meta: migration lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	default:
		return fmt.Errorf("meta: migrate: unknown dialect %v", s.dialect)
	}
	p, err := goose.NewProvider(d, s.db, sub, opts...)
	if err != nil {
		return fmt.Errorf("meta: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return wrapErr(err, "meta: migrate %s", s.dialect)
	}
	return nil
}
