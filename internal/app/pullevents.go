package app

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/meta"
)

// pullWatchEvery is how often pullWatch re-reads the webhook policies: a
// policy another replica enables for PULL_ARTIFACT sees this replica's
// pulls within it.
const pullWatchEvery = 5 * time.Second

// pullWatchMax bounds the policies one refresh reads.
const pullWatchMax = 100_000

// webhookPolicyPager is the part of the webhook store pullWatch reads.
type webhookPolicyPager interface {
	AllWebhookPolicies(ctx context.Context, afterID int64, limit int) ([]meta.WebhookPolicy, error)
}

// pullWatch tells whether any enabled webhook policy wants PULL_ARTIFACT
// events. Only webhooks read them, so without such a policy a pull writes
// no outbox row: a busy registry would otherwise write one row per pull
// (batched, off the request path) and the dispatcher would fan each out
// to nobody, taking SQLite's one writer from the pushes meanwhile.
type pullWatch struct {
	store   webhookPolicyPager
	changes func() uint64 // this replica's change counter; nil: none
	log     *slog.Logger

	wanted atomic.Bool
	seen   atomic.Uint64 // the change counter the last refresh read
	kick   chan struct{}
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
	// started is set by start, before its goroutine (Close waits for it
	// only then).
	started bool
}

func newPullWatch(store webhookPolicyPager, log *slog.Logger) *pullWatch {
	w := &pullWatch{store: store, log: log, kick: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	w.wanted.Store(true) // until the first refresh says otherwise
	return w
}

// start refreshes on its own goroutine until ctx ends or Close; changes
// is this replica's change counter (nil: none).
func (w *pullWatch) start(ctx context.Context, changes func() uint64) {
	w.changes = changes
	w.started = true
	go func() {
		defer close(w.done)
		t := time.NewTicker(pullWatchEvery)
		defer t.Stop()
		for {
			w.refresh(ctx)
			select {
			case <-ctx.Done():
				return
			case <-w.stop:
				return
			case <-t.C:
			case <-w.kick:
			}
		}
	}()
}

// want reports whether a pull's event must be written. After a change made
// through this replica (a policy may have been enabled) it answers yes
// until the next refresh, which it asks for, so a pull right after its
// policy is created is not missed.
func (w *pullWatch) want() bool {
	if w.changes != nil && w.changes() != w.seen.Load() {
		select {
		case w.kick <- struct{}{}:
		default:
		}
		return true
	}
	return w.wanted.Load()
}

func (w *pullWatch) refresh(ctx context.Context) {
	var gen uint64
	if w.changes != nil {
		gen = w.changes()
	}
	wanted, err := w.read(ctx)
	if err != nil {
		// Keep writing events while the policies cannot be read.
		w.wanted.Store(true)
		if ctx.Err() == nil {
			w.log.WarnContext(ctx, "could not read the webhook policies; pull events are written meanwhile", "err", err)
		}
		return
	}
	w.wanted.Store(wanted)
	w.seen.Store(gen)
}

func (w *pullWatch) read(ctx context.Context) (bool, error) {
	const page = 500
	var after int64
	for n := 0; n < pullWatchMax; n += page {
		ps, err := w.store.AllWebhookPolicies(ctx, after, page)
		if err != nil {
			return true, err
		}
		for _, p := range ps {
			if p.Enabled && slices.Contains(p.EventTypes, string(events.PullArtifact)) {
				return true, nil
			}
			after = p.ID
		}
		if len(ps) < page {
			return false, nil
		}
	}
	return true, nil // more policies than a refresh reads: write them all
}

// Close stops the refreshes.
func (w *pullWatch) Close() {
	w.once.Do(func() { close(w.stop) })
	if w.started {
		<-w.done
	}
}
