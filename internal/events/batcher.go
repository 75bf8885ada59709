package events

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Batcher settings.
const (
	// BatcherQueue bounds the events waiting to be written.
	BatcherQueue = 8192
	// batchMax is how many events one write takes at most.
	batchMax = 500
	// FlushInterval is how long an event waits at most before it is written.
	FlushInterval = time.Second
)

// Batcher writes events that must not cost a request a database write
// (PULL_ARTIFACT) in batches on its own goroutine: Add never blocks, and
// when the database is slower than the traffic for long the queue fills
// and events are dropped and counted. Events still queued at Close are
// written for up to 5 seconds.
type Batcher struct {
	store   Store
	log     *slog.Logger
	queue   chan Event
	dropped atomic.Int64
	done    chan struct{}

	mu     sync.RWMutex
	closed bool
}

// NewBatcher starts a batcher writing to store; call Close to stop it.
func NewBatcher(store Store, log *slog.Logger) *Batcher {
	b := &Batcher{store: store, log: log, queue: make(chan Event, BatcherQueue), done: make(chan struct{})}
	go b.run()
	return b
}

// Add queues e; it never blocks. After Close it drops e.
func (b *Batcher) Add(e Event) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		b.dropped.Add(1)
		return
	}
	select {
	case b.queue <- e:
	default:
		if b.dropped.Add(1)%1000 == 1 {
			b.log.Warn("event queue full, events dropped", "dropped", b.dropped.Load())
		}
	}
}

// Dropped returns how many events were dropped so far.
func (b *Batcher) Dropped() int64 { return b.dropped.Load() }

// Close writes what is queued (for up to 5 seconds) and stops.
func (b *Batcher) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		<-b.done
		return
	}
	b.closed = true
	close(b.queue)
	b.mu.Unlock()
	<-b.done
}

func (b *Batcher) run() {
	defer close(b.done)
	tick := time.NewTicker(FlushInterval)
	defer tick.Stop()
	var batch []Event
	flush := func(timeout time.Duration) {
		if len(batch) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := b.store.AppendBatch(ctx, batch); err != nil {
			b.dropped.Add(int64(len(batch)))
			b.log.Warn("could not write events", "count", len(batch), "err", err)
		}
		batch = batch[:0]
	}
	for {
		select {
		case e, ok := <-b.queue:
			if !ok {
				flush(5 * time.Second)
				return
			}
			batch = append(batch, e)
			if len(batch) >= batchMax {
				flush(10 * time.Second)
			}
		case <-tick.C:
			flush(10 * time.Second)
		}
	}
}
