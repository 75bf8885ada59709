package jobs

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta/metatest"
)

// TestOncePerCluster runs three schedulers (three replicas) on one database
// for a few poll rounds: each due run of the task happens exactly once.
func TestOncePerCluster(t *testing.T) {
	store := metatest.OpenSQLite(t)
	var runs atomic.Int32
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	task := Task{Name: "t", Every: time.Minute, Run: func(context.Context) error { runs.Add(1); return nil }}

	var reps []*Scheduler
	for range 3 {
		s := NewScheduler(store, slog.New(slog.DiscardHandler))
		s.now = now
		reps = append(reps, s)
	}
	ctx := t.Context()
	for round := range 5 {
		var wg sync.WaitGroup
		for _, s := range reps {
			wg.Add(1)
			go func() { defer wg.Done(); s.tick(ctx, task) }()
		}
		wg.Wait()
		if got, want := runs.Load(), int32(round+1); got != want {
			t.Fatalf("round %d: %d runs, want %d", round, got, want)
		}
		mu.Lock()
		clock = clock.Add(time.Minute)
		mu.Unlock()
	}
}
