package meta

import (
	"context"
	"database/sql"
	"sync"
)

// SQLite parses every statement each time database/sql runs it unless it
// was prepared: with modernc's driver, parsing was 14% of the CPU of a
// push of small images. stmtCache keeps the statements transactions run
// on SQLite's transaction connections prepared, keyed by their text: a
// statement is prepared on the pool of those connections the first time
// (on the connection no transaction holds), then once on each connection
// that runs it, and reused from then on (database/sql keeps a prepared
// statement per connection). At most maxCachedStmts texts are kept; past
// that, statements run unprepared as before (a query built with a
// variable number of placeholders cannot fill the cache for good).
type stmtCache struct {
	db *sql.DB

	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// maxCachedStmts bounds the cache: Berth has a few hundred statements;
// each prepared one costs a few KiB per connection.
const maxCachedStmts = 512

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: map[string]*sql.Stmt{}}
}

// get returns query prepared, or nil when it cannot be (the cache is full
// or preparing failed: the caller runs it unprepared, and any error
// shows there).
func (c *stmtCache) get(ctx context.Context, query string) *sql.Stmt {
	c.mu.Lock()
	st, full := c.m[query], len(c.m) >= maxCachedStmts
	c.mu.Unlock()
	if st != nil || full {
		return st
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[query]; old != nil {
		st.Close()
		return old
	}
	c.m[query] = st
	return st
}

// cachedTx is a transaction on SQLite's transaction connection that runs
// statements prepared through its stmtCache.
type cachedTx struct {
	*sql.Tx
	c *stmtCache
}

func (t cachedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := t.c.get(ctx, query); st != nil {
		return t.Tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, query, args...)
}

func (t cachedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.c.get(ctx, query); st != nil {
		return t.Tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, query, args...)
}

func (t cachedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := t.c.get(ctx, query); st != nil {
		return t.Tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, query, args...)
}
