package meta_test

import (
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

// TestSchedules: a schedule never stored is the default; a due run is
// taken once (moving the schedule on and recording the run); one not due
// is not; a manual run is recorded without touching the next run.
func TestSchedules(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		def := meta.Schedule{Type: "Daily", Cron: "0 0 0 * * *", NextRun: time.Now().Add(-time.Minute)}
		got, err := s.Schedules.GetSchedule(ctx, "x", def)
		if err != nil || got.Type != "Daily" || !got.UpdatedAt.IsZero() || got.Name != "x" {
			t.Fatalf("default: %+v, %v", got, err)
		}
		next := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
		step := func(meta.Schedule, time.Time) time.Time { return next }
		for i, want := range []bool{true, false} {
			ok, err := s.Schedules.TakeRun(ctx, "x", def, step)
			if err != nil || ok != want {
				t.Fatalf("take %d: %v, %v; want %v", i, ok, err, want)
			}
		}
		got, err = s.Schedules.GetSchedule(ctx, "x", def)
		if err != nil || !got.NextRun.Equal(next) || got.LastTrigger != "Schedule" || got.LastRun.IsZero() {
			t.Fatalf("after the run: %+v, %v", got, err)
		}
		if err := s.Schedules.PutSchedule(ctx, meta.Schedule{Name: "x", Type: "None"}); err != nil {
			t.Fatal(err)
		}
		at := time.Now().UTC().Truncate(time.Second)
		if err := s.Schedules.RecordRun(ctx, "x", "Manual", at, def); err != nil {
			t.Fatal(err)
		}
		got, err = s.Schedules.GetSchedule(ctx, "x", def)
		if err != nil || got.Type != "None" || !got.NextRun.IsZero() || got.LastTrigger != "Manual" || !got.LastRun.Equal(at) {
			t.Fatalf("after a manual run: %+v, %v", got, err)
		}
		if ok, err := s.Schedules.TakeRun(ctx, "x", def, step); err != nil || ok {
			t.Fatalf("a None schedule ran: %v, %v", ok, err)
		}
	})
}
