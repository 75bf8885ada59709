package meta_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

func TestClaimSchedule(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		steps := []struct {
			name  string
			owner string
			now   time.Time
			want  bool
		}{
			{"first claim creates", "a", t0, true},
			{"not due yet", "b", t0.Add(30 * time.Second), false},
			{"due again", "b", t0.Add(time.Minute), true},
			{"claimed by b, not due for a", "a", t0.Add(time.Minute + time.Second), false},
		}
		for _, st := range steps {
			got, err := s.ClaimSchedule(ctx, "purge", st.owner, st.now, st.now.Add(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if got != st.want {
				t.Fatalf("%s: claimed = %v, want %v", st.name, got, st.want)
			}
		}
		// Many replicas racing for the same due run: exactly one wins.
		var wins atomic.Int32
		var wg sync.WaitGroup
		now := t0.Add(time.Hour)
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := s.ClaimSchedule(ctx, "race", string(rune('a'+i)), now, now.Add(time.Minute))
				if err != nil {
					t.Error(err)
				}
				if ok {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d replicas claimed the same run, want 1", wins.Load())
		}
	})
}
