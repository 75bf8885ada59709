package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"github.com/berth-registry/berth/internal/backup"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/restapi"
	"github.com/berth-registry/berth/internal/storage"
)

// backupRunner is the scheduled-backup job: it starts runs requested
// through the API, fires the cron schedule once per cluster, and applies
// retention after each run.
type backupRunner struct {
	cfg   config.Config
	store *meta.Store
	drv   storage.Driver
	log   *slog.Logger
	sched cron.Schedule // nil: no schedule
}

// runningFor is how long a run marked Running keeps a scheduled run from
// starting beside it (a replica that died leaves its row Running).
const runningFor = 6 * time.Hour

var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// backupJobs is the backup job for jobList's queue.
func backupJobs(cfg config.Config, store *meta.Store, drv storage.Driver, log *slog.Logger) ([]jobs.Job, error) {
	r := &backupRunner{cfg: cfg, store: store, drv: drv, log: log}
	if cfg.Backup.Schedule != "" {
		s, err := cronParser.Parse(cfg.Backup.Schedule)
		if err != nil {
			return nil, fmt.Errorf("backup.schedule %q: %w", cfg.Backup.Schedule, err)
		}
		r.sched = s
	}
	return []jobs.Job{{Kind: "backup", Every: cfg.Backup.PollInterval, Timeout: 24 * time.Hour, MaxAttempts: 1,
		Run: jobs.NoArgs(r.tick)}}, nil
}

func (r *backupRunner) tick(ctx context.Context) error {
	for range 10 { // requested runs first, a bounded number per tick
		run, err := r.store.Backups.StartPending(ctx)
		if errors.Is(err, meta.ErrBackupRunNotFound) {
			break
		}
		if err != nil {
			return err
		}
		r.run(ctx, run)
	}
	if r.sched == nil {
		return nil
	}
	ok, err := r.store.Backups.TakeScheduledRun(ctx, r.cfg.Backup.Schedule, r.sched.Next)
	if err != nil || !ok {
		return err
	}
	if busy, err := r.store.Backups.Running(ctx, time.Now().Add(-runningFor)); err != nil || busy {
		if busy {
			r.log.WarnContext(ctx, "scheduled backup skipped: another backup is running")
		}
		return err
	}
	run, err := r.store.Backups.CreateRun(ctx, meta.BackupSchedule, redactLocation(r.cfg.Backup.Location))
	if err != nil {
		return err
	}
	r.run(ctx, run)
	return nil
}

// run makes one backup, applies retention and records the outcome.
func (r *backupRunner) run(ctx context.Context, run meta.BackupRun) {
	start := time.Now()
	sum, pruned, err := r.backup(ctx)
	run.Status, run.Duration = meta.GCSuccess, time.Since(start)
	run.SnapshotID, run.Manifests, run.Tags = sum.SnapshotID, sum.Manifests, sum.Tags
	run.Blobs, run.BlobsCopied, run.Bytes, run.BytesCopied, run.Pruned = sum.Blobs, sum.BlobsCopied, sum.Bytes, sum.BytesCopied, int64(pruned)
	if err != nil {
		run.Status, run.Error = meta.GCError, err.Error()
		r.log.ErrorContext(ctx, "backup failed", "run", run.ID, "err", err)
	} else {
		r.log.InfoContext(ctx, "backup done", "run", run.ID, "snapshot", sum.SnapshotID, "blobs_copied", sum.BlobsCopied,
			"bytes_copied", sum.BytesCopied, "seconds", run.Duration.Seconds(), "snapshots_pruned", pruned)
	}
	if err := r.store.Backups.FinishRun(context.WithoutCancel(ctx), run); err != nil {
		r.log.ErrorContext(ctx, "recording a backup run failed", "run", run.ID, "err", err)
	}
}

func (r *backupRunner) backup(ctx context.Context) (backup.Summary, int, error) {
	if r.cfg.Backup.Location == "" {
		return backup.Summary{}, 0, errors.New("backup.location is not configured")
	}
	repo, err := openRepo(ctx, r.cfg, r.cfg.Backup.Location)
	if err != nil {
		return backup.Summary{}, 0, err
	}
	reg := backup.Registry{DB: r.store.DB(), Dialect: r.store.Dialect(), Storage: r.drv, Leases: r.store.GC}
	sum, err := backup.Backup(ctx, reg, repo, backup.Options{Workers: r.cfg.Backup.Workers, Log: r.log,
		Progress: backup.Lines(ctx, r.log, "backup", 30*time.Second), Holder: "berth backup job"})
	if err != nil {
		return sum, 0, err
	}
	ret := backup.Retention{Last: r.cfg.Backup.KeepLast, Daily: r.cfg.Backup.KeepDaily, Weekly: r.cfg.Backup.KeepWeekly}
	pr, err := backup.Prune(ctx, repo, ret, time.Now())
	if err != nil {
		return sum, pr.Snapshots, fmt.Errorf("retention: %w", err)
	}
	if pr.Snapshots > 0 || pr.Blobs > 0 {
		r.log.InfoContext(ctx, "backup retention", "snapshots_removed", pr.Snapshots, "blobs_removed", pr.Blobs, "bytes_freed", pr.BlobBytes)
	}
	return sum, pr.Snapshots, nil
}

// redactLocation drops anything that could be a credential from a
// location before it is stored or shown.
func redactLocation(loc string) string {
	if u, err := url.Parse(loc); err == nil && u.User != nil {
		u.User = nil
		return u.String()
	}
	return loc
}

// backupService is restapi.BackupService: the history, and manual runs
// queued for the backup job.
type backupService struct {
	store    *meta.Backups
	location string
}

var _ restapi.BackupService = backupService{}

func (s backupService) ListRuns(ctx context.Context, pg meta.Page) ([]meta.BackupRun, int, error) {
	return s.store.ListRuns(ctx, pg)
}

func (s backupService) GetRun(ctx context.Context, id int64) (meta.BackupRun, error) {
	return s.store.GetRun(ctx, id)
}

func (s backupService) Trigger(ctx context.Context) (meta.BackupRun, error) {
	if s.location == "" {
		return meta.BackupRun{}, restapi.ErrBackupNotConfigured
	}
	return s.store.QueueRun(ctx, redactLocation(s.location))
}

// backupCollector reports the last successful backup, read from the
// database at each scrape (every replica reports the cluster's).
type backupCollector struct {
	store                   *meta.Backups
	last, dur, bytes, delta *prometheus.Desc
}

func newBackupCollector(store *meta.Backups) *backupCollector {
	return &backupCollector{store: store,
		last:  prometheus.NewDesc("berth_backup_last_success_timestamp_seconds", "When the last successful backup finished (0: never).", nil, nil),
		dur:   prometheus.NewDesc("berth_backup_last_duration_seconds", "How long the last successful backup took.", nil, nil),
		bytes: prometheus.NewDesc("berth_backup_last_bytes", "Blob bytes the last successful backup's snapshot holds.", nil, nil),
		delta: prometheus.NewDesc("berth_backup_last_bytes_copied", "Blob bytes the last successful backup copied (the rest was there).", nil, nil),
	}
}

func (c *backupCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.last
	ch <- c.dur
	ch <- c.bytes
	ch <- c.delta
}

func (c *backupCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := c.store.LastSuccess(ctx)
	switch {
	case errors.Is(err, meta.ErrBackupRunNotFound):
	case err != nil:
		ch <- prometheus.NewInvalidMetric(c.last, err)
		return
	}
	last := 0.0
	if !r.UpdatedAt.IsZero() {
		last = float64(r.UpdatedAt.UnixMilli()) / 1000
	}
	ch <- prometheus.MustNewConstMetric(c.last, prometheus.GaugeValue, last)
	ch <- prometheus.MustNewConstMetric(c.dur, prometheus.GaugeValue, r.Duration.Seconds())
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(r.Bytes))
	ch <- prometheus.MustNewConstMetric(c.delta, prometheus.GaugeValue, float64(r.BytesCopied))
}

// hasUserinfo reports whether an s3:// location carries credentials
// (refused: they belong in storage.s3).
func hasUserinfo(loc string) bool {
	rest, ok := strings.CutPrefix(loc, "s3://")
	bucket, _, _ := strings.Cut(rest, "/")
	return ok && strings.Contains(bucket, "@")
}
