// Package audit writes the audit log for every edge. Recorder is what the
// edges (/v2/, the token service, the REST API, the coming portal) call;
// Writer is the one production Recorder: it queues entries and writes them
// on one goroutine, so requests never wait for the database. Direct writes
// synchronously (tests, tools). Entries about something inside a project
// carry the project's id (meta.AuditLog.ProjectID), never just its name.
//
// It must not import an edge package (distapi, restapi, tokenauth, webui)
// nor net/http.
package audit

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-registry/berth/internal/meta"
)

// Recorder records audit entries. It never fails the caller: an entry
// that cannot be written is logged (and counted) and dropped.
type Recorder interface {
	// Record records e. A zero OpTime means now.
	Record(e meta.AuditLog)
	// RecordInProject records e as being about project (a name), whose id
	// the recorder looks up when e.ProjectID is 0: for edges that know a
	// repository's name but not its project's id (/v2/).
	RecordInProject(e meta.AuditLog, project string)
}

// Stores are what the recorders need from the metadata store; internal/app
// fills them from *meta.Store.
type Stores struct {
	Log      logStore      // *meta.Audit
	Projects projectFinder // *meta.Projects
}

type logStore interface {
	AddAuditLog(ctx context.Context, a meta.AuditLog) error
}

// batchStore is a logStore that also writes many entries in one
// transaction (*meta.Audit); Writer uses it when the store has it.
type batchStore interface {
	AddAuditLogs(ctx context.Context, as []meta.AuditLog) error
}

type projectFinder interface {
	GetProjectByName(ctx context.Context, name string) (meta.Project, error)
}

// QueueSize bounds the entries waiting to be written.
const QueueSize = 4096

// drainTimeout bounds the writing of queued entries at Close.
const drainTimeout = 5 * time.Second

type entry struct {
	log     meta.AuditLog
	project string
}

// Writer records entries without making requests wait for the database:
// Record queues the entry (never blocking) and one goroutine writes the
// queue, up to batchMax entries per transaction. When the database is slower than the
// traffic for long, the queue fills and entries are dropped, counted and
// reported in a warning: Berth keeps serving. Entries still queued at
// Close are written for up to drainTimeout.
type Writer struct {
	store   Stores
	log     *slog.Logger
	queue   chan entry
	dropped atomic.Int64
	done    chan struct{}

	mu     sync.RWMutex
	closed bool
}

var (
	_ Recorder = (*Writer)(nil)
	_ Recorder = (*Direct)(nil)
)

// NewWriter starts a Writer over store; Close stops it.
func NewWriter(store Stores, log *slog.Logger) *Writer {
	w := &Writer{store: store, log: log, queue: make(chan entry, QueueSize), done: make(chan struct{})}
	go w.run()
	return w
}

// Record queues e; when the queue is full or the writer closed, e is
// dropped.
func (w *Writer) Record(e meta.AuditLog) { w.enqueue(entry{log: e}) }

// RecordInProject queues e; its project id is looked up when it is
// written. A project deleted by then leaves the entry without one.
func (w *Writer) RecordInProject(e meta.AuditLog, project string) {
	w.enqueue(entry{log: e, project: project})
}

func (w *Writer) enqueue(e entry) {
	if e.log.OpTime.IsZero() {
		e.log.OpTime = time.Now()
	}
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return
	}
	select {
	case w.queue <- e:
	default:
		if w.dropped.Add(1) == 1 {
			w.log.Warn("audit queue full: dropping audit entries until the database catches up")
		}
	}
}

// batchMax bounds the entries one transaction writes.
const batchMax = 256

func (w *Writer) run() {
	defer close(w.done)
	batch := make([]entry, 0, batchMax)
	for e := range w.queue {
		batch = append(batch[:0], e)
	fill:
		for len(batch) < batchMax {
			select {
			case e, ok := <-w.queue:
				if !ok {
					break fill
				}
				batch = append(batch, e)
			default:
				break fill
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		writeBatch(ctx, w.store, w.log, batch)
		cancel()
		if n := w.dropped.Swap(0); n > 0 {
			w.log.Warn("audit entries dropped while the queue was full", "count", n)
		}
	}
}

// writeBatch writes es in one transaction, looking each project up once;
// when the transaction fails, each entry is tried on its own, so one bad
// entry costs only itself.
func writeBatch(ctx context.Context, s Stores, log *slog.Logger, es []entry) {
	bs, ok := s.Log.(batchStore)
	if !ok || len(es) == 1 {
		for _, e := range es {
			write(ctx, s, log, e)
		}
		return
	}
	ids := map[string]int64{}
	logs := make([]meta.AuditLog, len(es))
	for i, e := range es {
		if e.log.ProjectID == 0 && e.project != "" {
			id, ok := ids[e.project]
			if !ok {
				id = projectID(ctx, s, log, e)
				ids[e.project] = id
			}
			e.log.ProjectID = id
		}
		logs[i] = e.log
	}
	if err := bs.AddAuditLogs(ctx, logs); err != nil {
		log.Warn("audit log batch; writing its entries one by one", "err", err, "entries", len(logs))
		for _, l := range logs {
			write(ctx, s, log, entry{log: l})
		}
	}
}

// Close stops taking entries and writes those queued, for up to
// drainTimeout.
func (w *Writer) Close() {
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

// Direct writes each entry before returning (tests and tools; the server
// uses Writer).
type Direct struct {
	store Stores
	log   *slog.Logger
}

// NewDirect returns a synchronous Recorder over store.
func NewDirect(store Stores, log *slog.Logger) *Direct { return &Direct{store: store, log: log} }

// Record writes e now.
func (d *Direct) Record(e meta.AuditLog) { write(context.Background(), d.store, d.log, entry{log: e}) }

// RecordInProject writes e now, with project's id.
func (d *Direct) RecordInProject(e meta.AuditLog, project string) {
	write(context.Background(), d.store, d.log, entry{log: e, project: project})
}

func write(ctx context.Context, s Stores, log *slog.Logger, e entry) {
	if e.log.ProjectID == 0 && e.project != "" {
		e.log.ProjectID = projectID(ctx, s, log, e)
	}
	if err := s.Log.AddAuditLog(ctx, e.log); err != nil {
		log.Warn("audit log", "err", err, "operation", e.log.Operation, "resource", e.log.Resource)
	}
}

// projectID is the id of e's project, 0 when it is gone or cannot be
// read (logged).
func projectID(ctx context.Context, s Stores, log *slog.Logger, e entry) int64 {
	p, err := s.Projects.GetProjectByName(ctx, e.project)
	switch {
	case errors.Is(err, meta.ErrProjectNotFound):
	case err != nil:
		log.Warn("audit log: project lookup", "err", err, "operation", e.log.Operation, "resource", e.log.Resource)
	default:
		return p.ID
	}
	return 0
}
