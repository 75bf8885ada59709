package app

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/distapi"
	"github.com/berth-registry/berth/internal/meta"
)

// auditQueueSize bounds the registry events waiting to be written.
const auditQueueSize = 4096

// auditWriter records registry events (push, pull, delete on /v2/) in the
// audit log without making requests wait for the database: Record queues
// the entry (never blocking) and one goroutine writes the queue, one
// INSERT per entry. When the database is slower than the traffic for
// long, the queue fills and entries are dropped, counted and reported in
// a warning: the registry keeps serving. Entries still queued at shutdown
// are written for up to drainTimeout.
type auditWriter struct {
	store interface {
		AddAuditLog(ctx context.Context, a meta.AuditLog) error
	}
	log     *slog.Logger
	queue   chan meta.AuditLog
	dropped atomic.Int64
	done    chan struct{}

	mu     sync.RWMutex
	closed bool
}

const drainTimeout = 5 * time.Second

func newAuditWriter(store interface {
	AddAuditLog(ctx context.Context, a meta.AuditLog) error
}, log *slog.Logger) *auditWriter {
	w := &auditWriter{store: store, log: log, queue: make(chan meta.AuditLog, auditQueueSize), done: make(chan struct{})}
	go w.run()
	return w
}

// Record queues e; when the queue is full or the writer closed, e is
// dropped.
func (w *auditWriter) Record(e meta.AuditLog) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return
	}
	select {
	case w.queue <- e:
	default:
		if w.dropped.Add(1) == 1 {
			w.log.Warn("audit queue full: dropping registry audit entries until the database catches up")
		}
	}
}

// OnEvent is distapi's event hook: it turns a registry operation into an
// audit entry naming the caller.
func (w *auditWriter) OnEvent(ctx context.Context, e distapi.Event) {
	p := access.FromContext(ctx)
	user := p.Name
	if !p.Authenticated() {
		user = "anonymous"
	}
	resource := e.Repository + ":" + e.Reference
	if e.Kind == distapi.EventBlob || (e.Reference != "" && e.Reference == e.Digest) {
		resource = e.Repository + "@" + e.Reference
	}
	w.Record(meta.AuditLog{Username: user, Operation: e.Operation, ResourceType: e.Kind, Resource: resource,
		ClientIP: e.ClientIP, Result: meta.AuditSuccess, OpTime: time.Now()})
}

func (w *auditWriter) run() {
	defer close(w.done)
	for e := range w.queue {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := w.store.AddAuditLog(ctx, e); err != nil {
			w.log.Warn("audit log", "err", err, "operation", e.Operation, "resource", e.Resource)
		}
		cancel()
		if n := w.dropped.Swap(0); n > 0 {
			w.log.Warn("audit entries dropped while the queue was full", "count", n)
		}
	}
}

// Close stops taking entries and writes those queued, for up to
// drainTimeout.
func (w *auditWriter) Close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
	w.mu.Unlock()
	select {
	case <-w.done:
	case <-time.After(drainTimeout):
		w.log.Warn("audit entries left unwritten at shutdown", "count", len(w.queue))
	}
}
