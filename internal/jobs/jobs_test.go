package jobs

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

const testPoll = 100 * time.Millisecond

var discard = slog.New(slog.DiscardHandler)

// run opens a queue on store and works it until the test ends.
func run(t *testing.T, store *meta.Store, opts Options) *Queue {
	t.Helper()
	opts.pollInterval = testPoll
	opts.StopTimeout = 5 * time.Second
	q, err := Open(t.Context(), store, discard, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return q
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type onceArgs struct{ N int }

func (onceArgs) Kind() string { return "test_once" }

type onceWorker struct {
	river.WorkerDefaults[onceArgs]
	mu   sync.Mutex
	runs map[int]int
}

func (w *onceWorker) Work(_ context.Context, j *river.Job[onceArgs]) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.runs[j.Args.N]++
	return nil
}

func (w *onceWorker) snapshot() map[int]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := make(map[int]int, len(w.runs))
	for k, v := range w.runs {
		m[k] = v
	}
	return m
}

// TestEnqueueWorkedOnce enqueues jobs and checks each is worked exactly once.
func TestEnqueueWorkedOnce(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, store *meta.Store) {
		w := &onceWorker{runs: map[int]int{}}
		q := run(t, store, Options{register: func(ws *river.Workers) { river.AddWorker(ws, w) }})
		const n = 10
		for i := range n {
			if err := q.Enqueue(t.Context(), onceArgs{N: i}); err != nil {
				t.Fatalf("Enqueue: %v", err)
			}
		}
		waitFor(t, 10*time.Second, "all jobs worked", func() bool { return len(w.snapshot()) == n })
		time.Sleep(5 * testPoll) // a second run would show up by now
		for i, c := range w.snapshot() {
			if c != 1 {
				t.Errorf("job %d worked %d times, want 1", i, c)
			}
		}
	})
}

// TestPurgeRunsOnStart: the periodic purge runs when the queue starts, long
// before its first period ends, and only once.
func TestPurgeRunsOnStart(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, store *meta.Store) {
		var runs atomic.Int32
		run(t, store, Options{
			PurgeUploads: func(context.Context) error { runs.Add(1); return nil },
			PurgeEvery:   time.Hour,
		})
		waitFor(t, 10*time.Second, "purge ran on start", func() bool { return runs.Load() > 0 })
		time.Sleep(5 * testPoll)
		if got := runs.Load(); got != 1 {
			t.Errorf("purge ran %d times, want 1", got)
		}
	})
}

// TestPeriodicOncePerCluster runs two replicas (two stores, two River
// clients) on one PostgreSQL database: the periodic purge fires once per
// period across both, not once per replica.
func TestPeriodicOncePerCluster(t *testing.T) {
	dsn := metatest.PostgresDSN(t)
	const every = time.Second
	var runs atomic.Int32
	var first atomic.Int64
	purge := func(context.Context) error {
		if runs.Add(1) == 1 {
			first.Store(time.Now().UnixNano())
		}
		return nil
	}
	for range 2 {
		store, err := meta.Open(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		if err := store.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		run(t, store, Options{PurgeUploads: purge, PurgeEvery: every})
	}
	waitFor(t, 10*time.Second, "first purge", func() bool { return runs.Load() > 0 })
	const window = 5 * time.Second
	time.Sleep(window)
	elapsed := time.Since(time.Unix(0, first.Load()))
	// One leader: the run on start plus one per period elapsed since
	// (allow one more for timing). Two leaders would double it.
	maxRuns := int32(elapsed/every) + 2
	got := runs.Load()
	if got > maxRuns || got < int32(window/every)-1 {
		t.Errorf("purge ran %d times in %s with period %s, want between %d and %d",
			got, elapsed.Round(time.Millisecond), every, int32(window/every)-1, maxRuns)
	}
	t.Logf("%d runs in %s", got, elapsed.Round(time.Millisecond))
}

// TestMigrate runs River's migrations again, one after another on both
// engines, and three at once on PostgreSQL (replicas starting together;
// SQLite has a single replica).
func TestMigrate(t *testing.T) {
	tests := []struct {
		name     string
		open     func(testing.TB) *meta.Store
		parallel int
	}{
		{"sqlite/twice", metatest.OpenSQLite, 1},
		{"postgres/twice", metatest.OpenPostgres, 1},
		{"postgres/three at once", metatest.OpenPostgres, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := tt.open(t)
			for range 2 {
				errs := make(chan error, tt.parallel)
				for range tt.parallel {
					go func() { errs <- Migrate(t.Context(), store, discard) }()
				}
				for range tt.parallel {
					if err := <-errs; err != nil {
						t.Fatalf("Migrate: %v", err)
					}
				}
			}
		})
	}
}
