package app

import (
	"log/slog"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/internal/scan"
)

// TestScanAllScheduledRun: the periodic scan-all job takes a due run
// (recorded as Schedule, the next run moved to the schedule's next time)
// and leaves a schedule that is not due alone; on both engines, the
// SQLite one holding a single connection.
func TestScanAllScheduledRun(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		sa := &scanAll{schedules: s.Schedules, scans: s.Scans, catalog: scanCatalog{s},
			svc: scan.New(s.Scans, s.Policies, s.Events, nil, "", slog.New(slog.DiscardHandler))}
		if err := s.Schedules.PutSchedule(ctx, meta.Schedule{Name: scanAllName, Type: "Interval", Cron: "1h0m0s",
			NextRun: time.Now().Add(-time.Second)}); err != nil {
			t.Fatal(err)
		}
		run := sa.jobs()[0].Run
		for range 2 { // the second finds nothing due
			if err := run(ctx, nil); err != nil {
				t.Fatal(err)
			}
		}
		sc, err := sa.GetScanAllSchedule(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if sc.LastTrigger != "Schedule" || sc.LastRun.IsZero() || time.Until(sc.NextRun) < 59*time.Minute {
			t.Fatalf("after the scheduled run: %+v", sc)
		}
	})
}
