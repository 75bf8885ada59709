// Package pulls counts artifact pulls without writing on the request path:
// Record adds a pull to an in-memory batch (bounded), and Run flushes the
// batch every few seconds, and once more when it stops, in one
// transaction (meta.Pulls.AddPulls). Each replica runs its own Recorder;
// their batches add up in the database.
//
// A batch that fails to flush is kept (within the bound) and retried at
// the next flush. Pulls of new artifacts that arrive while the batch is
// full are dropped and counted (Dropped), never blocking a pull.
//
// It must not import net/http.
package pulls

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
)

// Store is where batches go (*meta.Pulls).
type Store interface {
	AddPulls(ctx context.Context, batch []meta.PullCount) (int, error)
}

// Defaults.
const (
	DefaultEvery      = 3 * time.Second
	DefaultMaxPending = 50_000
	// finalFlushTimeout bounds the flush when Run stops.
	finalFlushTimeout = 10 * time.Second
)

// Options tune a Recorder; zero values take the defaults.
type Options struct {
	// Every is how often the batch is flushed.
	Every time.Duration
	// MaxPending bounds the distinct artifacts a batch holds; at half of
	// it a flush starts early.
	MaxPending int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

type key struct {
	repo   string
	digest digest.Digest
}

type entry struct {
	count int64
	at    time.Time
}

// Recorder gathers pulls and flushes them in batches. Safe for
// concurrent use.
type Recorder struct {
	store   Store
	log     *slog.Logger
	opts    Options
	kick    chan struct{}
	flushMu sync.Mutex // one flush at a time

	mu      sync.Mutex
	pending map[key]*entry
	dropped atomic.Int64
}

// New returns a Recorder writing to store.
func New(store Store, log *slog.Logger, opts Options) *Recorder {
	if opts.Every <= 0 {
		opts.Every = DefaultEvery
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = DefaultMaxPending
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Recorder{store: store, log: log, opts: opts, kick: make(chan struct{}, 1), pending: map[key]*entry{}}
}

// Record counts one pull of manifest d in repository repo, now. It never
// blocks on the database.
func (r *Recorder) Record(repo string, d digest.Digest) {
	now := r.opts.Now()
	k := key{repo, d}
	r.mu.Lock()
	e := r.pending[k]
	if e == nil {
		if len(r.pending) >= r.opts.MaxPending {
			r.mu.Unlock()
			r.dropped.Add(1)
			r.wake()
			return
		}
		e = &entry{}
		r.pending[k] = e
	}
	e.count++
	if now.After(e.at) {
		e.at = now
	}
	n := len(r.pending)
	r.mu.Unlock()
	if n >= r.opts.MaxPending/2 {
		r.wake()
	}
}

func (r *Recorder) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Pending returns how many distinct artifacts wait for the next flush.
func (r *Recorder) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}

// Dropped returns how many pulls were not counted because the batch was
// full.
func (r *Recorder) Dropped() int64 { return r.dropped.Load() }

// Flush writes the pending batch in one transaction. On failure the batch
// is merged back (within MaxPending) for the next flush.
func (r *Recorder) Flush(ctx context.Context) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	r.mu.Lock()
	batch := r.pending
	r.pending = map[key]*entry{}
	r.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	out := make([]meta.PullCount, 0, len(batch))
	for k, e := range batch {
		out = append(out, meta.PullCount{Repository: k.repo, Digest: k.digest, Count: e.count, At: e.at})
	}
	if _, err := r.store.AddPulls(ctx, out); err != nil {
		r.restore(batch)
		return err
	}
	return nil
}

// restore merges a batch that failed to flush back into pending.
func (r *Recorder) restore(batch map[key]*entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, e := range batch {
		cur := r.pending[k]
		if cur == nil {
			if len(r.pending) >= r.opts.MaxPending {
				r.dropped.Add(e.count)
				continue
			}
			r.pending[k] = e
			continue
		}
		cur.count += e.count
		if e.at.After(cur.at) {
			cur.at = e.at
		}
	}
}

// Run flushes every Options.Every (sooner when the batch fills) until ctx
// ends, then flushes once more with a fresh deadline.
func (r *Recorder) Run(ctx context.Context) {
	t := time.NewTicker(r.opts.Every)
	defer t.Stop()
	var lastDropped int64
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalFlushTimeout)
			defer cancel()
			if err := r.Flush(fctx); err != nil {
				r.log.Warn("pull counts lost at shutdown", "artifacts", r.Pending(), "err", err)
			}
			return
		case <-t.C:
		case <-r.kick:
		}
		if err := r.Flush(ctx); err != nil && ctx.Err() == nil {
			r.log.WarnContext(ctx, "pull counts not written, retrying", "artifacts", r.Pending(), "err", err)
		}
		if d := r.Dropped(); d != lastDropped {
			r.log.WarnContext(ctx, "pull counts dropped: batch full", "dropped_total", d)
			lastDropped = d
		}
	}
}
