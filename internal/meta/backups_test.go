package meta_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

func TestBackupRuns(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		if _, err := s.Backups.LastSuccess(ctx); !errors.Is(err, meta.ErrBackupRunNotFound) {
			t.Fatalf("LastSuccess on nothing: %v", err)
		}
		q, err := s.Backups.QueueRun(ctx, "s3://bucket/prefix")
		if err != nil || q.Status != meta.BackupPending || q.Kind != meta.BackupManual {
			t.Fatalf("QueueRun: %+v, %v", q, err)
		}
		run, err := s.Backups.StartPending(ctx)
		if err != nil || run.ID != q.ID || run.Status != meta.GCRunning {
			t.Fatalf("StartPending: %+v, %v", run, err)
		}
		if _, err := s.Backups.StartPending(ctx); !errors.Is(err, meta.ErrBackupRunNotFound) {
			t.Errorf("a second StartPending: %v, want ErrBackupRunNotFound", err)
		}
		if busy, err := s.Backups.Running(ctx, time.Now().Add(-time.Hour)); err != nil || !busy {
			t.Errorf("Running = %v, %v", busy, err)
		}
		run.Status, run.SnapshotID, run.Bytes, run.Duration = meta.GCSuccess, "snap", 42, 1500*time.Millisecond
		if err := s.Backups.FinishRun(ctx, run); err != nil {
			t.Fatal(err)
		}
		got, err := s.Backups.LastSuccess(ctx)
		if err != nil || got.ID != run.ID || got.SnapshotID != "snap" || got.Bytes != 42 || got.Duration != 1500*time.Millisecond ||
			got.Location != "s3://bucket/prefix" {
			t.Errorf("LastSuccess: %+v, %v", got, err)
		}
		if _, err := s.Backups.CreateRun(ctx, meta.BackupSchedule, "/dir"); err != nil {
			t.Fatal(err)
		}
		runs, total, err := s.Backups.ListRuns(ctx, meta.Page{Limit: 10})
		if err != nil || total != 2 || len(runs) != 2 || runs[0].Kind != meta.BackupSchedule {
			t.Errorf("ListRuns: %+v, %d, %v", runs, total, err)
		}
		if _, err := s.Backups.GetRun(ctx, 999); !errors.Is(err, meta.ErrBackupRunNotFound) {
			t.Errorf("GetRun(999): %v", err)
		}
		if err := s.Backups.FinishRun(ctx, meta.BackupRun{ID: 999}); !errors.Is(err, meta.ErrBackupRunNotFound) {
			t.Errorf("FinishRun(999): %v", err)
		}
	})
}

// TestBackupSchedule: a new expression only sets the next run; a due run
// is taken by exactly one of several callers.
func TestBackupSchedule(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		past := func(time.Time) time.Time { return time.Now().Add(-time.Second) }
		future := func(time.Time) time.Time { return time.Now().Add(time.Hour) }
		if ok, err := s.Backups.TakeScheduledRun(ctx, "@hourly", past); err != nil || ok {
			t.Fatalf("first TakeScheduledRun: %v, %v (want the schedule set, no run)", ok, err)
		}
		var won atomic.Int32
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := s.Backups.TakeScheduledRun(ctx, "@hourly", future)
				if err != nil {
					t.Error(err)
				}
				if ok {
					won.Add(1)
				}
			}()
		}
		wg.Wait()
		if won.Load() != 1 {
			t.Errorf("%d callers took the due run, want 1", won.Load())
		}
		if ok, err := s.Backups.TakeScheduledRun(ctx, "@daily", past); err != nil || ok {
			t.Errorf("a changed expression: %v, %v (want the schedule reset, no run)", ok, err)
		}
	})
}
