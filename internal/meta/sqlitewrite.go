package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// SQLite has one writer at a time. Without a queue in the process,
// concurrent transactions (BEGIN IMMEDIATE) meet on the database lock and
// wait in SQLite's busy handler, which sleeps 1, 2, 5, ... up to 100 ms
// between tries: under four concurrent pushes a transaction waited tens of
// milliseconds for a lock released after one. writeQueue hands the lock
// over in the order writers arrive instead, without sleeping. Statements
// outside a transaction and the job queue's own connection still meet on
// the lock as before (busy_timeout).
type writeQueue chan struct{}

func newWriteQueue() writeQueue { return make(writeQueue, 1) }

// acquire waits for the queue, at most sqliteBusyTimeout (what a writer
// waits for the lock in SQLite itself); release gives it back.
func (q writeQueue) acquire(ctx context.Context) (release func(), err error) {
	select {
	case q <- struct{}{}:
		return q.release, nil
	default:
	}
	t := time.NewTimer(sqliteBusyTimeout)
	defer t.Stop()
	select {
	case q <- struct{}{}:
		return q.release, nil
	case <-ctx.Done():
		return nil, wrapErr(ctx.Err(), "meta: begin")
	case <-t.C:
		return nil, fmt.Errorf("meta: begin: waited %s for the other writers: %w", sqliteBusyTimeout, ErrUnavailable)
	}
}

func (q writeQueue) release() { <-q }

// Group commit. A transaction commits on SQLite's transaction connection
// with synchronous=NORMAL: its frames are in the WAL (visible to every
// reader) but not yet on disk, and the write lock is free for the next
// writer at once. Before InTx returns, walSync makes the commit durable
// with an fsync of the WAL file that started after the commit; one fsync
// serves every transaction that committed while the previous one ran, so
// concurrent pushes share their syncs instead of queueing behind each
// other's. A commit is acknowledged only after that fsync, exactly as
// with synchronous=FULL; a crash before it loses only unacknowledged
// transactions. A checkpoint (which SQLite runs at synchronous=NORMAL
// only after syncing the WAL, and syncs the database after) may move a
// commit's frames into the database file and restart the WAL: the commit
// is then durable already, and the fsync covers whatever the file holds.
// Statements outside InTx run on the other connections, at
// synchronous=FULL, and sync their own commits as before.
type walSync struct {
	path  string
	fsync func(path string) error // syncFile; tests count calls

	mu      sync.Mutex
	cond    *sync.Cond
	commits uint64 // transactions committed so far
	synced  uint64 // transactions known durable
	syncing bool
	syncs   uint64 // fsyncs made (tests)
}

func newWALSync(path string) *walSync {
	w := &walSync{path: path, fsync: syncFile}
	w.cond = sync.NewCond(&w.mu)
	return w
}

// committed counts a commit (call it right after Commit, before the write
// lock goes to the next writer) and returns its sequence number for sync.
func (w *walSync) committed() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.commits++
	return w.commits
}

// sync returns once commit seq is on disk: after an fsync of the WAL that
// started after seq committed, made by this caller or by another one.
func (w *walSync) sync(seq uint64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.synced < seq {
		if w.syncing {
			w.cond.Wait()
			continue
		}
		w.syncing = true
		upto := w.commits
		w.mu.Unlock()
		err := w.fsync(w.path)
		w.mu.Lock()
		w.syncing = false
		w.syncs++
		w.cond.Broadcast()
		if err != nil {
			return fmt.Errorf("meta: commit: sync %s: %w", filepath.Base(w.path), err)
		}
		w.synced = max(w.synced, upto)
	}
	return nil
}

// syncFile fsyncs the file at path. It is opened each time: SQLite may
// delete and recreate the WAL, and an old descriptor would sync the old
// file. A WAL that does not exist has nothing to sync (its frames went
// into the database file at a checkpoint, which synced it).
func syncFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// queuedExec is the SQLite store's query handle outside InTx: reads go to
// the connection pool, and a statement run with ExecContext (every
// single-statement write: event cursors, audit entries, upload offsets)
// runs as a transaction of its own through the write queue and the group
// commit. On the pool, at synchronous=FULL, such a write waited for the
// lock in SQLite's busy handler (sleeping 1 to 100 ms per try) behind the
// queued transactions, and then for an fsync of its own.
type queuedExec struct {
	*sql.DB
	h *handle
}

func (q queuedExec) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	var res sql.Result
	err := q.h.inTx(ctx, func(tx *handle) error {
		var err error
		res, err = tx.q.ExecContext(ctx, query, args...)
		return err
	})
	return res, err
}
