package app

import (
	"context"
	"errors"
	"time"

	"github.com/berth-registry/berth/internal/gc"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/restapi"
	"github.com/berth-registry/berth/internal/scan"
)

// scanAllName names the scan-all schedule in meta.Schedules.
const scanAllName = "scan_all"

// jobScanAllManual is a scan-all run triggered through the API.
const jobScanAllManual = "scan_all_manual"

// scanAll is restapi.ScanAllService: Harbor's scan-all schedule (stored in
// meta.Schedules; Daily until set) and its metrics (the scan reports
// started since the latest run).
type scanAll struct {
	schedules *meta.Schedules
	scans     *meta.Scans
	svc       *scan.Service
	catalog   scan.Catalog
	queue     *jobs.Queue // set before the server serves
}

var _ restapi.ScanAllService = (*scanAll)(nil)

// defaultScanAll is the schedule until one is set: daily, as Berth has
// always scanned.
func defaultScanAll(now time.Time) meta.Schedule {
	typ, expr, _ := gc.Normalize(gc.ScheduleDaily, "")
	return meta.Schedule{Type: typ, Cron: expr, NextRun: gc.Next(typ, expr, now)}
}

func (s *scanAll) GetScanAllSchedule(ctx context.Context) (meta.Schedule, error) {
	return s.schedules.GetSchedule(ctx, scanAllName, defaultScanAll(time.Now()))
}

func (s *scanAll) SetScanAllSchedule(ctx context.Context, typ, expr string) error {
	typ, expr, err := gc.Normalize(typ, expr)
	if err != nil {
		return err
	}
	return s.schedules.PutSchedule(ctx, meta.Schedule{Name: scanAllName, Type: typ, Cron: expr, NextRun: gc.Next(typ, expr, time.Now())})
}

func (s *scanAll) TriggerScanAll(ctx context.Context) error {
	if s.queue == nil {
		return errors.New("scan all: job queue not ready")
	}
	if err := s.schedules.RecordRun(ctx, scanAllName, "Manual", time.Now(), defaultScanAll(time.Now())); err != nil {
		return err
	}
	return s.queue.Enqueue(ctx, jobScanAllManual, nil)
}

func (s *scanAll) ScanAllMetrics(ctx context.Context) (meta.Schedule, map[string]int, error) {
	sc, err := s.GetScanAllSchedule(ctx)
	if err != nil || sc.LastRun.IsZero() {
		return sc, map[string]int{}, err
	}
	counts, err := s.scans.ScanStatusCounts(ctx, sc.LastRun)
	return sc, counts, err
}

// jobs are the scan-all jobs: the schedule, checked every minute by the
// leader (the run due is taken by one replica), and a manual run.
func (s *scanAll) jobs() []jobs.Job {
	return []jobs.Job{
		{Kind: scan.JobScanAll, Every: time.Minute, Timeout: 10 * time.Minute, MaxAttempts: 1,
			Run: jobs.NoArgs(func(ctx context.Context) error {
				next := func(sc meta.Schedule, after time.Time) time.Time { return gc.Next(sc.Type, sc.Cron, after) }
				ok, err := s.schedules.TakeRun(ctx, scanAllName, defaultScanAll(time.Now()), next)
				if err != nil || !ok {
					return err
				}
				return s.svc.ScanAll(ctx, s.catalog, false)
			})},
		{Kind: jobScanAllManual, Timeout: 10 * time.Minute, MaxAttempts: 1,
			Run: jobs.NoArgs(func(ctx context.Context) error { return s.svc.ScanAll(ctx, s.catalog, true) })},
	}
}
