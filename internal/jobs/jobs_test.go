package jobs

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-registry/berth/internal/meta/metatest"
)

const testPoll = 100 * time.Millisecond

var discard = slog.New(slog.DiscardHandler)

// forEachEngine runs fn as the subtests "sqlite" and "postgres", each with
// the DSN of a fresh database.
func forEachEngine(t *testing.T, fn func(t *testing.T, dsn string)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, sqliteDSN(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, metatest.PostgresDSN(t)) })
}

func sqliteDSN(t testing.TB) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "berth.db")
}

// run opens a queue on dsn and works it until the test ends.
func run(t *testing.T, dsn string, opts Options) *Queue {
	t.Helper()
	if opts.pollInterval == 0 {
		opts.pollInterval = testPoll
	}
	opts.StopTimeout = 5 * time.Second
	q, err := Open(t.Context(), dsn, discard, opts)
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
		q.Close()
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

// counter records the runs of a job by argument.
type counter struct {
	mu   sync.Mutex
	runs map[int]int
}

type countArgs struct{ N int }

func (c *counter) work(_ context.Context, a countArgs) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.runs == nil {
		c.runs = map[int]int{}
	}
	c.runs[a.N]++
	return nil
}

func (c *counter) snapshot() map[int]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[int]int, len(c.runs))
	for k, v := range c.runs {
		m[k] = v
	}
	return m
}

// TestQueuedJobFromList registers a queued job as one list entry,
// enqueues it with arguments, and checks each is worked exactly once, on
// both engines.
func TestQueuedJobFromList(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dsn string) {
		var c counter
		q := run(t, dsn, Options{Jobs: []Job{
			{Kind: "test_count", Timeout: time.Minute, Run: WithArgs(c.work)},
		}})
		const n = 10
		want := map[int]int{}
		for i := range n {
			if err := q.Enqueue(t.Context(), "test_count", countArgs{N: i}); err != nil {
				t.Fatalf("Enqueue: %v", err)
			}
			want[i] = 1
		}
		waitFor(t, 10*time.Second, "all jobs worked", func() bool { return len(c.snapshot()) == n })
		time.Sleep(5 * testPoll) // a second run would show up by now
		if diff := cmp.Diff(want, c.snapshot()); diff != "" {
			t.Errorf("runs by argument (-want +got):\n%s", diff)
		}
		if err := q.Enqueue(t.Context(), "no_such_job", nil); !errors.Is(err, ErrUnknownKind) {
			t.Errorf("Enqueue(unknown kind) = %v, want ErrUnknownKind", err)
		}
	})
}

// TestPostgresWakesOnInsert: on PostgreSQL a worker learns of a new job
// through LISTEN/NOTIFY, long before its fetch poll would find it.
func TestPostgresWakesOnInsert(t *testing.T) {
	dsn := metatest.PostgresDSN(t)
	var c counter
	const poll = time.Minute
	q := run(t, dsn, Options{pollInterval: poll, Jobs: []Job{
		{Kind: "test_count", Run: WithArgs(c.work)},
	}})
	time.Sleep(time.Second) // let the producer start and run its first (empty) fetch
	start := time.Now()
	if err := q.Enqueue(t.Context(), "test_count", countArgs{N: 1}); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	waitFor(t, 10*time.Second, "job worked without waiting for the poll", func() bool { return len(c.snapshot()) == 1 })
	t.Logf("worked %s after insert (poll interval %s)", time.Since(start).Round(time.Millisecond), poll)
}

// TestPeriodicRunsOnStart: a periodic entry runs when the queue starts,
// long before its first period ends, and only once.
func TestPeriodicRunsOnStart(t *testing.T) {
	forEachEngine(t, func(t *testing.T, dsn string) {
		var runs atomic.Int32
		run(t, dsn, Options{Jobs: []Job{{
			Kind: "test_tick", Every: time.Hour,
			Run: NoArgs(func(context.Context) error { runs.Add(1); return nil }),
		}}})
		waitFor(t, 10*time.Second, "periodic job ran on start", func() bool { return runs.Load() > 0 })
		time.Sleep(5 * testPoll)
		if got := runs.Load(); got != 1 {
			t.Errorf("periodic job ran %d times, want 1", got)
		}
	})
}

// TestPeriodicOncePerCluster runs two replicas (two River clients) on one
// PostgreSQL database: a periodic job fires once per period across both,
// not once per replica.
func TestPeriodicOncePerCluster(t *testing.T) {
	dsn := metatest.PostgresDSN(t)
	const every = time.Second
	var runs atomic.Int32
	var first atomic.Int64
	tick := func(context.Context) error {
		if runs.Add(1) == 1 {
			first.Store(time.Now().UnixNano())
		}
		return nil
	}
	for range 2 {
		run(t, dsn, Options{Jobs: []Job{{Kind: "test_tick", Every: every, Run: NoArgs(tick)}}})
	}
	waitFor(t, 10*time.Second, "first run", func() bool { return runs.Load() > 0 })
	const window = 5 * time.Second
	time.Sleep(window)
	elapsed := time.Since(time.Unix(0, first.Load()))
	// One leader: the run on start plus one per period elapsed since
	// (allow one more for timing). Two leaders would double it.
	maxRuns := int32(elapsed/every) + 2
	got := runs.Load()
	if got > maxRuns || got < int32(window/every)-1 {
		t.Errorf("periodic job ran %d times in %s with period %s, want between %d and %d",
			got, elapsed.Round(time.Millisecond), every, int32(window/every)-1, maxRuns)
	}
	t.Logf("%d runs in %s", got, elapsed.Round(time.Millisecond))
}

// TestJobListChecked: a malformed list is refused at Open, naming every
// problem.
func TestJobListChecked(t *testing.T) {
	nop := NoArgs(func(context.Context) error { return nil })
	tests := []struct {
		name string
		list []Job
	}{
		{"no kind", []Job{{Run: nop}}},
		{"no function", []Job{{Kind: "a"}}},
		{"negative interval", []Job{{Kind: "a", Every: -time.Second, Run: nop}}},
		{"duplicate", []Job{{Kind: "a", Run: nop}, {Kind: "a", Run: nop}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Open(t.Context(), sqliteDSN(t), discard, Options{Jobs: tt.list}); err == nil {
				t.Errorf("Open accepted %+v", tt.list)
			}
		})
	}
}

// TestMigrate runs River's migrations again, one after another on both
// engines, and three at once on PostgreSQL (replicas starting together;
// SQLite has a single replica).
func TestMigrate(t *testing.T) {
	tests := []struct {
		name     string
		dsn      func(testing.TB) string
		parallel int
	}{
		{"sqlite/twice", sqliteDSN, 1},
		{"postgres/twice", metatest.PostgresDSN, 1},
		{"postgres/three at once", metatest.PostgresDSN, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dsn := tt.dsn(t)
			for range 2 {
				errs := make(chan error, tt.parallel)
				for range tt.parallel {
					go func() { errs <- Migrate(t.Context(), dsn, discard) }()
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
