package meta

import (
	"context"
	"fmt"
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
