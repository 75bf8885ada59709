package events_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

type recorder struct {
	mu   sync.Mutex
	seen []int64
	fail map[int64]int // event id -> failures left
}

func (r *recorder) handle(_ context.Context, e events.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail[e.ID] > 0 {
		r.fail[e.ID]--
		return fmt.Errorf("planted failure at %d", e.ID)
	}
	r.seen = append(r.seen, e.ID)
	return nil
}

func (r *recorder) ids() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int64(nil), r.seen...)
}

func appendN(t *testing.T, s *meta.Store, n int, typ string) []int64 {
	t.Helper()
	var ids []int64
	for i := range n {
		id, err := s.Events.Append(t.Context(), meta.Event{Type: typ, Repository: fmt.Sprintf("p%d/r", i%2), Tags: []string{"v1"}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// TestOutboxTransaction: an event exists exactly when the transaction
// that wrote it commits; ids grow; tags, project and detail survive.
func TestOutboxTransaction(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		planted := errors.New("roll back")
		err := s.InTx(ctx, func(tx *meta.Store) error {
			if _, err := tx.Events.Append(ctx, events.New(events.PushArtifact, "lib/a", "sha256:aa", "alice")); err != nil {
				return err
			}
			return planted
		})
		if !errors.Is(err, planted) {
			t.Fatalf("InTx = %v", err)
		}
		if last, err := s.Events.LastEventID(ctx); err != nil || last != 0 {
			t.Fatalf("after rollback: last id %d, %v; want 0", last, err)
		}
		var id int64
		if err := s.InTx(ctx, func(tx *meta.Store) error {
			e := events.New(events.PushArtifact, "lib/a", "sha256:aa", "alice")
			e.Tags, e.Detail = []string{"v1", "latest"}, []byte(`{"k":1}`)
			id, err = tx.Events.Append(ctx, e)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Events.EventsAfter(ctx, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].ID != id || got[0].Operator != "alice" || string(got[0].Detail) != `{"k":1}` ||
			!cmp.Equal(got[0].Tags, []string{"v1", "latest"}) || got[0].Type != events.PushArtifact {
			t.Fatalf("events = %+v", got)
		}
	})
}

// TestDispatcher: two subscribers each see every event once, in order;
// a failing handler is retried (after its backoff) and holds back the
// later events of its subscriber only; a second dispatcher running at the
// same time hands nothing twice; a new subscriber starts at the newest
// event.
func TestDispatcher(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		log := slog.New(slog.DiscardHandler)
		appendN(t, s, 2, events.PushArtifact) // before anyone subscribed: not seen
		good, flaky := &recorder{}, &recorder{}
		d1, d2 := events.NewDispatcher(s.Events, log), events.NewDispatcher(s.Events, log)
		for _, d := range []*events.Dispatcher{d1, d2} {
			if err := d.Subscribe("good", good.handle); err != nil {
				t.Fatal(err)
			}
			if err := d.Subscribe("flaky", flaky.handle); err != nil {
				t.Fatal(err)
			}
			d.SetWindow(6*time.Second, 20*time.Millisecond)
		}
		if err := d1.Subscribe("good", good.handle); err == nil {
			t.Error("second Subscribe of the same name succeeded")
		}
		if err := d1.Subscribe("Bad Name", good.handle); !errors.Is(err, events.ErrBadName) {
			t.Errorf("Subscribe(bad name) = %v", err)
		}
		if err := d1.Start(ctx); err != nil {
			t.Fatal(err)
		}
		want := appendN(t, s, 30, events.PushArtifact)
		flaky.fail = map[int64]int{want[10]: 1}

		var wg sync.WaitGroup
		for _, d := range []*events.Dispatcher{d1, d2} {
			wg.Go(func() {
				if err := d.Drain(ctx); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if diff := cmp.Diff(want, good.ids()); diff != "" {
			t.Errorf("good subscriber (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want, flaky.ids()); diff != "" {
			t.Errorf("flaky subscriber (-want +got):\n%s", diff)
		}
		cs, err := s.Events.ListEventCursors(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if c.LastID != want[len(want)-1] || c.LeaseOwner != "" {
				t.Errorf("cursor %+v, want at %d and released", c, want[len(want)-1])
			}
		}
		// Nothing is pruned that is newer than the retention.
		if n, err := s.Events.PruneEvents(ctx, time.Now().Add(-time.Hour), 100); err != nil || n != 0 {
			t.Errorf("PruneEvents(recent) = %d, %v", n, err)
		}
		if n, err := s.Events.PruneEvents(ctx, time.Now().Add(time.Hour), 100); err != nil || n != 32 {
			t.Errorf("PruneEvents(all handled) = %d, %v; want 32", n, err)
		}
	})
}

// TestBatcher: queued events reach the outbox in one go, in order.
func TestBatcher(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		b := events.NewBatcher(s.Events, slog.New(slog.DiscardHandler))
		for i := range 5 {
			b.Add(events.New(events.PullArtifact, fmt.Sprintf("lib/r%d", i), "sha256:bb", ""))
		}
		b.Close()
		got, err := s.Events.EventsAfter(t.Context(), 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		var repos []string
		for _, e := range got {
			repos = append(repos, e.Repository)
		}
		if diff := cmp.Diff([]string{"lib/r0", "lib/r1", "lib/r2", "lib/r3", "lib/r4"}, repos); diff != "" {
			t.Errorf("pull events (-want +got):\n%s", diff)
		}
		if b.Dropped() != 0 {
			t.Errorf("dropped %d", b.Dropped())
		}
	})
}

// TestDrainStopsWithBind: a drain returns when the context it is bound to
// ends, well before its window.
func TestDrainStopsWithBind(t *testing.T) {
	s := metatest.OpenSQLite(t)
	d := events.NewDispatcher(s.Events, slog.New(slog.DiscardHandler))
	if err := d.Subscribe("x", (&recorder{}).handle); err != nil {
		t.Fatal(err)
	}
	d.SetWindow(time.Minute, 20*time.Millisecond)
	life, stop := context.WithCancel(context.Background())
	d.Bind(life)
	time.AfterFunc(200*time.Millisecond, stop)
	start := time.Now()
	if err := d.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Drain took %s after its binding ended", took)
	}
}

// countingStore counts the cursor writes of a real store.
type countingStore struct {
	events.Store
	mu                      sync.Mutex
	leases, advances, frees int
}

func (c *countingStore) LeaseEventCursor(ctx context.Context, sub, owner string, ttl time.Duration) (meta.EventCursor, bool, error) {
	c.mu.Lock()
	c.leases++
	c.mu.Unlock()
	return c.Store.LeaseEventCursor(ctx, sub, owner, ttl)
}

func (c *countingStore) AdvanceEventCursor(ctx context.Context, sub, owner string, lastID int64, ttl time.Duration) error {
	c.mu.Lock()
	c.advances++
	c.mu.Unlock()
	return c.Store.AdvanceEventCursor(ctx, sub, owner, lastID, ttl)
}

func (c *countingStore) ReleaseEventCursor(ctx context.Context, sub, owner, failure string, retryAfter time.Time) error {
	c.mu.Lock()
	c.frees++
	c.mu.Unlock()
	return c.Store.ReleaseEventCursor(ctx, sub, owner, failure, retryAfter)
}

// TestDrainWritesCursorPerBatch: a pass moves a subscriber's cursor once
// per batch of events read, not once per event (a tag PUT's event cost
// three cursor commits, one per subscriber); a failure mid-batch still
// leaves the cursor right after the last handled event, so nothing is
// handed over twice.
func TestDrainWritesCursorPerBatch(t *testing.T) {
	cases := []struct {
		name         string
		events       int
		failAt       int // index of the event whose handler fails once; -1: none
		wantAdvances int
		wantCursorAt int // index of the event the cursor stays on after the pass
	}{
		{"one event", 1, -1, 1, 0},
		{"one batch", events.BatchSize, -1, 1, events.BatchSize - 1},
		{"two and a half batches", 2*events.BatchSize + events.BatchSize/2, -1, 3, 2*events.BatchSize + events.BatchSize/2 - 1},
		{"failure mid-batch", 2 * events.BatchSize, events.BatchSize + 7, 2, events.BatchSize + 6},
		{"failure at the first event", 5, 0, 0, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
				ctx := t.Context()
				cs := &countingStore{Store: s.Events}
				d := events.NewDispatcher(cs, slog.New(slog.DiscardHandler))
				rec := &recorder{}
				if err := d.Subscribe("x", rec.handle); err != nil {
					t.Fatal(err)
				}
				if err := d.Start(ctx); err != nil {
					t.Fatal(err)
				}
				ids := appendN(t, s, tc.events, events.PushArtifact)
				if tc.failAt >= 0 {
					rec.fail = map[int64]int{ids[tc.failAt]: 1}
				}
				if _, err := d.DrainOnce(ctx); err != nil {
					t.Fatal(err)
				}
				want := ids[:tc.wantCursorAt+1]
				if diff := cmp.Diff(want, rec.ids(), cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("handled (-want +got):\n%s", diff)
				}
				if cs.leases != 1 || cs.advances != tc.wantAdvances || cs.frees != 1 {
					t.Errorf("cursor writes: %d leases, %d advances, %d releases; want 1, %d, 1", cs.leases, cs.advances, cs.frees, tc.wantAdvances)
				}
				cur, err := s.Events.ListEventCursors(ctx)
				if err != nil || len(cur) != 1 {
					t.Fatalf("cursors %+v, %v", cur, err)
				}
				wantLast := int64(0)
				if tc.wantCursorAt >= 0 {
					wantLast = ids[tc.wantCursorAt]
				}
				if cur[0].LastID != wantLast || cur[0].LeaseOwner != "" {
					t.Errorf("cursor %+v, want at %d and released", cur[0], wantLast)
				}
				if wantFailures := tc.failAt >= 0; (cur[0].Attempts == 1) != wantFailures {
					t.Errorf("cursor attempts %d, want a failure recorded: %v", cur[0].Attempts, wantFailures)
				}
			})
		})
	}
}
