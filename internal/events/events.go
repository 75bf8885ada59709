package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
)

// Event is one outbox row (meta.Event): Type is one of the Type constants.
type Event = meta.Event

// Type is an event type, named as Harbor names it.
type Type = string

// Harbor's event types.
const (
	PushArtifact      Type = "PUSH_ARTIFACT"
	PullArtifact      Type = "PULL_ARTIFACT"
	DeleteArtifact    Type = "DELETE_ARTIFACT"
	ScanningCompleted Type = "SCANNING_COMPLETED"
	ScanningFailed    Type = "SCANNING_FAILED"
	ScanningStopped   Type = "SCANNING_STOPPED"
	QuotaExceed       Type = "QUOTA_EXCEED"
	QuotaWarning      Type = "QUOTA_WARNING"
	Replication       Type = "REPLICATION"
	TagRetention      Type = "TAG_RETENTION"
)

// Types lists every event type, in Harbor's order.
var Types = []Type{DeleteArtifact, PullArtifact, PushArtifact, QuotaExceed, QuotaWarning, Replication,
	ScanningFailed, ScanningStopped, ScanningCompleted, TagRetention}

// ValidType reports whether t is one of Types.
func ValidType(t string) bool {
	for _, v := range Types {
		if v == t {
			return true
		}
	}
	return false
}

// New returns an event of type t about digest d of repo by operator.
func New(t Type, repo string, d digest.Digest, operator string) Event {
	return Event{Type: t, Repository: repo, Digest: d, Operator: operator}
}

// Store is the outbox as the dispatcher and the batcher use it:
// *meta.Events.
type Store interface {
	AppendBatch(ctx context.Context, es []meta.Event) error
	EventsAfter(ctx context.Context, after int64, limit int) ([]meta.Event, error)
	LastEventID(ctx context.Context) (int64, error)
	LeaseEventCursor(ctx context.Context, subscriber, owner string, ttl time.Duration) (meta.EventCursor, bool, error)
	AdvanceEventCursor(ctx context.Context, subscriber, owner string, lastID int64, ttl time.Duration) error
	ReleaseEventCursor(ctx context.Context, subscriber, owner, failure string, retryAfter time.Time) error
	ListEventCursors(ctx context.Context) ([]meta.EventCursor, error)
	EnsureEventCursor(ctx context.Context, subscriber string) error
	PruneEvents(ctx context.Context, before time.Time, limit int) (int, error)
}

// Handler handles one event; a non-nil error hands it over again later.
type Handler func(ctx context.Context, e Event) error

// Dispatcher settings.
const (
	// DrainWindow is how long one dispatcher run keeps polling the outbox.
	DrainWindow = 20 * time.Second
	// PollInterval is how often an idle run looks for new events.
	PollInterval = 250 * time.Millisecond
	// LeaseTTL is how long a cursor lease lasts without renewal.
	LeaseTTL = 30 * time.Second
	// BatchSize bounds the events read at once for one subscriber.
	BatchSize = 100
	// maxBackoff caps the wait before a failed handler is tried again.
	maxBackoff = time.Minute
	// advanceEvery bounds how long handled events wait for their
	// cursor write within a batch (well below LeaseTTL: it renews it).
	advanceEvery = 5 * time.Second
	// Retention is how long handled events are kept.
	Retention = 7 * 24 * time.Hour
)

// ErrBadName: a subscriber name outside [a-z0-9_.-]{1,64}.
var ErrBadName = errors.New("events: subscriber names are 1 to 64 of a-z 0-9 _ . -")

var nameRE = regexp.MustCompile(`^[a-z0-9_.-]{1,64}$`)

type subscriber struct {
	name string
	fn   Handler
}

// Dispatcher hands outbox events to named subscribers (see the package
// documentation for its guarantees).
type Dispatcher struct {
	store Store
	log   *slog.Logger
	owner string
	now   func() time.Time

	mu   sync.Mutex
	subs []subscriber
	// Window and poll interval of Drain (tests shorten them).
	window, poll time.Duration
	// life, when set (Bind), ends every Drain when it ends.
	life context.Context
}

// Bind makes every Drain return as soon as life ends: a replica shutting
// down stops polling at once instead of at the end of the drain window
// (the job queue does not cancel a running job on a graceful stop).
func (d *Dispatcher) Bind(life context.Context) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.life = life
}

// NewDispatcher returns a dispatcher over store with no subscribers.
func NewDispatcher(store Store, log *slog.Logger) *Dispatcher {
	host, _ := os.Hostname()
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &Dispatcher{store: store, log: log, owner: fmt.Sprintf("%.40s_%d_%s", host, os.Getpid(), hex.EncodeToString(b[:])),
		now: time.Now, window: DrainWindow, poll: PollInterval}
}

// Subscribe registers fn under name: each event appended from now on is
// handed to fn at least once, in order (see the package documentation).
// Register before the job queue starts; a name may be registered once.
func (d *Dispatcher) Subscribe(name string, fn Handler) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%w: %q", ErrBadName, name)
	}
	if fn == nil {
		return fmt.Errorf("events: subscriber %s: nil handler", name)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range d.subs {
		if s.name == name {
			return fmt.Errorf("events: subscriber %s registered twice", name)
		}
	}
	d.subs = append(d.subs, subscriber{name: name, fn: fn})
	return nil
}

// Start creates the cursor of every subscriber that has none yet, at the
// newest event: call it once the subscribers are registered, before the
// server takes requests, so that no event written after the start is
// missed by a new subscriber.
func (d *Dispatcher) Start(ctx context.Context) error {
	subs, _, _ := d.snapshot()
	for _, s := range subs {
		if err := d.store.EnsureEventCursor(ctx, s.name); err != nil {
			return err
		}
	}
	return nil
}

// SetWindow changes how long Drain polls and how often (tests).
func (d *Dispatcher) SetWindow(window, poll time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.window, d.poll = window, poll
}

func (d *Dispatcher) snapshot() ([]subscriber, time.Duration, time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]subscriber(nil), d.subs...), d.window, d.poll
}

// Drain hands pending events to every subscriber, polling for new ones
// until the drain window has passed or ctx ends; the dispatcher job runs
// it. Subscriber failures are recorded on their cursors, not returned.
func (d *Dispatcher) Drain(ctx context.Context) error {
	subs, window, poll := d.snapshot()
	if len(subs) == 0 {
		return nil
	}
	d.mu.Lock()
	life := d.life
	d.mu.Unlock()
	if life != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		stop := context.AfterFunc(life, cancel)
		defer stop()
	}
	deadline := d.now().Add(window)
	for {
		_, err := d.drainOnce(ctx, subs)
		if err != nil && ctx.Err() == nil {
			return err
		}
		if ctx.Err() != nil || !d.now().Before(deadline) {
			return nil
		}
		// A pass hands each subscriber everything there is, so the next
		// one waits even after work: events arriving one by one (a CI
		// job tagging) are then handed over a poll's worth at a time,
		// with one cursor write per subscriber, instead of a lease, an
		// advance and a release per event.
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// DrainOnce makes one pass over every subscriber and reports whether any
// event was handed over.
func (d *Dispatcher) DrainOnce(ctx context.Context) (bool, error) {
	subs, _, _ := d.snapshot()
	return d.drainOnce(ctx, subs)
}

func (d *Dispatcher) drainOnce(ctx context.Context, subs []subscriber) (bool, error) {
	last, err := d.store.LastEventID(ctx)
	if err != nil {
		return false, err
	}
	cursors, err := d.store.ListEventCursors(ctx)
	if err != nil {
		return false, err
	}
	at := make(map[string]meta.EventCursor, len(cursors))
	for _, c := range cursors {
		at[c.Subscriber] = c
	}
	now := d.now()
	worked := false
	var errs []error
	for _, s := range subs {
		c, known := at[s.name]
		// Nothing new, held by someone else, or backing off: skip
		// without writing.
		if known && (c.LastID >= last || c.RetryAfter.After(now) ||
			(c.LeaseOwner != "" && c.LeaseOwner != d.owner && c.LeaseUntil.After(now))) {
			continue
		}
		n, err := d.drainSubscriber(ctx, s)
		if n > 0 {
			worked = true
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return worked, errors.Join(errs...)
}

// drainSubscriber leases s's cursor and hands it events until none are
// left, its handler fails or ctx ends. The cursor moves once per batch
// read (and at least every advanceEvery, which renews the lease), not
// per event: a replica dying mid-batch hands the batch's handled events
// over again, which at least once allows.
func (d *Dispatcher) drainSubscriber(ctx context.Context, s subscriber) (int, error) {
	c, ok, err := d.store.LeaseEventCursor(ctx, s.name, d.owner, LeaseTTL)
	if err != nil || !ok {
		return 0, err
	}
	handled := 0
	moved := c.LastID   // where the stored cursor is
	lastMove := d.now() // when it was last advanced (or leased)
	// Both run even when ctx has ended.
	finish := func(failure string, retryAfter time.Time) error {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if c.LastID > moved {
			if err := d.store.AdvanceEventCursor(rctx, s.name, d.owner, c.LastID, LeaseTTL); err != nil {
				if errors.Is(err, meta.ErrLeaseLost) {
					return nil
				}
				return errors.Join(err, d.store.ReleaseEventCursor(rctx, s.name, d.owner, "", time.Time{}))
			}
		}
		return d.store.ReleaseEventCursor(rctx, s.name, d.owner, failure, retryAfter)
	}
	advance := func() (lost bool, err error) {
		if c.LastID <= moved {
			return false, nil
		}
		if err := d.store.AdvanceEventCursor(ctx, s.name, d.owner, c.LastID, LeaseTTL); err != nil {
			return errors.Is(err, meta.ErrLeaseLost), err
		}
		moved, lastMove = c.LastID, d.now()
		return false, nil
	}
	for ctx.Err() == nil {
		es, err := d.store.EventsAfter(ctx, c.LastID, BatchSize)
		if err != nil {
			return handled, errors.Join(err, finish("", time.Time{}))
		}
		for _, e := range es {
			if err := s.fn(ctx, e); err != nil {
				if ctx.Err() != nil { // stopping: not the handler's fault
					return handled, finish("", time.Time{})
				}
				wait := backoff(c.Attempts)
				d.log.WarnContext(ctx, "event subscriber failed", "subscriber", s.name, "event_id", e.ID,
					"event_type", e.Type, "attempt", c.Attempts+1, "retry_in", wait, "err", err)
				return handled, finish(err.Error(), d.now().Add(wait))
			}
			handled++
			c.LastID, c.Attempts = e.ID, 0
			if d.now().Sub(lastMove) >= advanceEvery {
				if lost, err := advance(); lost {
					return handled, nil
				} else if err != nil {
					return handled, errors.Join(err, finish("", time.Time{}))
				}
			}
		}
		if lost, err := advance(); lost {
			return handled, nil
		} else if err != nil {
			return handled, errors.Join(err, finish("", time.Time{}))
		}
		if len(es) < BatchSize {
			break // caught up
		}
	}
	return handled, finish("", time.Time{})
}

// backoff is the wait after the attempts+1-th failure: 1 s doubling, at
// most maxBackoff.
func backoff(attempts int) time.Duration {
	d := time.Second
	for range min(attempts, 10) {
		d *= 2
	}
	return min(d, maxBackoff)
}

// Prune deletes handled events older than Retention, in bounded batches.
func Prune(ctx context.Context, store Store, now time.Time) error {
	for range 20 {
		n, err := store.PruneEvents(ctx, now.Add(-Retention), 1000)
		if err != nil || n < 1000 {
			return err
		}
	}
	return nil
}
