package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/content"
	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/gc"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/scan"
	"github.com/berth-registry/berth/internal/webhook"
)

// jobList is every background job Berth runs: one entry per job (kind,
// interval if periodic, timeout, function). River works them; periodic
// ones fire once per cluster.
func jobList(cfg config.Config, blobs *content.Service, collector *gc.Collector, gcStore *meta.GC, gcWorkers int, log *slog.Logger) []jobs.Job {
	return []jobs.Job{
		{Kind: "purge_uploads", Every: cfg.Uploads.PurgeInterval, Timeout: 5 * time.Minute,
			Run: jobs.NoArgs(purgeUploads(blobs, cfg.Uploads, log))},
		// The review queue, worked continuously; any replica (and `berth
		// gc`) may work it at the same time.
		{Kind: "gc_sweep", Every: cfg.GC.Interval, Timeout: 10 * time.Minute,
			Run: jobs.NoArgs(func(ctx context.Context) error {
				_, err := collector.Sweep(ctx, gc.Options{Grace: -1, MaxReviews: 100_000, Workers: gcWorkers})
				return err
			})},
		// The Harbor-style schedule (/system/gc/schedule): a recorded run
		// when it is due.
		{Kind: "gc_schedule", Every: time.Minute, Timeout: 30 * time.Minute,
			Run: jobs.NoArgs(func(ctx context.Context) error {
				s, err := gcStore.GetSchedule(ctx)
				if err != nil {
					return err
				}
				ok, err := gcStore.TakeScheduledRun(ctx, func(after time.Time) time.Time { return gc.Next(s.Type, s.Cron, after) })
				if err != nil || !ok {
					return err
				}
				_, _, err = collector.RunNow(ctx, gcStore, gc.KindSchedule, gc.Options{Grace: -1, Workers: gcWorkers})
				return err
			})},
		// A run asked for through the API (the row exists already).
		{Kind: gcRunJob, Timeout: 30 * time.Minute, MaxAttempts: 1,
			Run: jobs.WithArgs(func(ctx context.Context, a gcRunArgs) error {
				_, err := collector.Record(ctx, gcStore, a.RunID, gc.Options{Grace: -1, DryRun: a.DryRun, Workers: gcWorkers})
				return err
			})},
	}
}

const gcRunJob = "gc_run"

// gcWorkers is how many reviews a sweep works at once: several on
// PostgreSQL (SKIP LOCKED spreads them), one on SQLite (one writer).
func gcWorkers(dialect string) int {
	if dialect == "postgres" {
		return 4
	}
	return 1
}

type gcRunArgs struct {
	RunID  int64 `json:"run_id"`
	DryRun bool  `json:"dry_run"`
}

// purgeUploads discards expired upload sessions in bounded batches.
func purgeUploads(blobs *content.Service, c config.Uploads, log *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		for range 10 { // at most 10 batches of 100 per run
			n, err := blobs.ExpireUploads(ctx, c.TTL, 100)
			if err != nil {
				return err
			}
			if n > 0 {
				log.InfoContext(ctx, "purged expired uploads", "count", n)
			}
			if n < 100 {
				return nil
			}
		}
		return nil
	}
}

// eventJobs are the event outbox's jobs (internal/events) and those of
// its subscribers (internal/webhook).
func eventJobs(d *events.Dispatcher, store *meta.Events, hooks *webhook.Service, scans *scan.Service) []jobs.Job {
	return []jobs.Job{
		// One artifact scanned by the default scanner (internal/scan).
		{Kind: scan.JobScan, Timeout: scan.Timeout + time.Minute, MaxAttempts: 1, Run: jobs.WithArgs(scans.Run)},
		// Per project, in order; retries inside (webhook.MaxAttempts).
		{Kind: webhook.JobDeliver, Timeout: 10 * time.Minute, MaxAttempts: 1,
			Run: jobs.WithArgs(hooks.Deliver)},
		// Projects whose worker died (or was never enqueued).
		{Kind: webhook.JobSweep, Every: 30 * time.Second, Timeout: time.Minute, MaxAttempts: 1,
			Run: jobs.NoArgs(hooks.Sweep)},
		// Hands outbox events to subscribers; each run polls for
		// events.DrainWindow and a new one starts a little before it ends,
		// so one is always polling (cursor leases keep two runs from
		// handing a subscriber events at once).
		{Kind: "events_dispatch", Every: events.DrainWindow - 2*time.Second, Timeout: events.DrainWindow + time.Minute,
			MaxAttempts: 1, Run: jobs.NoArgs(d.Drain)},
		{Kind: "events_prune", Every: time.Hour, Timeout: 5 * time.Minute,
			Run: jobs.NoArgs(func(ctx context.Context) error { return events.Prune(ctx, store, time.Now()) })},
	}
}
