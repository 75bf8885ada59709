package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/gc"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/restapi"
	"github.com/berth-registry/berth/internal/settings"
)

// gcTrigger is restapi.GCService: runs and the schedule from meta.GC, a
// manual run queued as a gc_run job (queue is set once the queue is open,
// before the server serves).
type gcTrigger struct {
	store *meta.GC
	queue *jobs.Queue
}

var _ restapi.GCService = (*gcTrigger)(nil)

func (t *gcTrigger) ListRuns(ctx context.Context, pg meta.Page) ([]meta.GCRun, int, error) {
	return t.store.ListRuns(ctx, pg)
}

func (t *gcTrigger) GetRun(ctx context.Context, id int64) (meta.GCRun, error) {
	return t.store.GetRun(ctx, id)
}

func (t *gcTrigger) GetSchedule(ctx context.Context) (meta.GCSchedule, error) {
	return t.store.GetSchedule(ctx)
}

func (t *gcTrigger) SetSchedule(ctx context.Context, typ, cron string) error {
	typ, cron, err := gc.Normalize(typ, cron)
	if err != nil {
		return err
	}
	return t.store.PutSchedule(ctx, typ, cron, gc.Next(typ, cron, time.Now()))
}

func (t *gcTrigger) Trigger(ctx context.Context, dryRun bool) (meta.GCRun, error) {
	if t.queue == nil {
		return meta.GCRun{}, errors.New("gc: job queue not ready")
	}
	run, err := t.store.CreateRun(ctx, gc.KindManual, dryRun)
	if err != nil {
		return meta.GCRun{}, err
	}
	if err := t.queue.Enqueue(ctx, gcRunJob, gcRunArgs{RunID: run.ID, DryRun: dryRun}); err != nil {
		_ = t.store.FinishRun(context.WithoutCancel(ctx), run.ID, meta.GCError, 0, 0, "could not queue: "+err.Error()+"\n")
		return meta.GCRun{}, err
	}
	return run, nil
}

// GCOptions are `berth gc`'s flags.
type GCOptions struct {
	DryRun bool
	// Grace replaces gc.grace when >= 0.
	Grace time.Duration
}

// GC runs garbage collection once, beside any serving replicas on the same
// database and storage (they may collect at the same time: each review is
// taken by one worker), records the run and prints its report.
func GC(ctx context.Context, cfg config.Config, log *slog.Logger, opts GCOptions, out io.Writer) error {
	store, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	drv, err := openStorage(ctx, cfg.Storage)
	if err != nil {
		return err
	}
	ro := settings.New(store.Settings, log, settings.Options{})
	c := gc.New(store.GC, drv, ro, nil, log)
	_, r, err := c.RunNow(ctx, store.GC, gc.KindManual, gc.Options{DryRun: opts.DryRun, Grace: opts.Grace, Workers: gcWorkers(store.Dialect())})
	fmt.Fprint(out, r.String())
	return err
}

// quotaCollector reports every project's quota usage and limit, and the
// physical (deduplicated) bytes stored, at each scrape.
type quotaCollector struct {
	quotas                   *meta.Quotas
	used, limit, ratio, phys *prometheus.Desc
	threshold                *prometheus.Desc
}

func newQuotaCollector(q *meta.Quotas) *quotaCollector {
	labels := []string{"project"}
	return &quotaCollector{quotas: q,
		used:  prometheus.NewDesc("berth_project_quota_used_bytes", "Bytes a project holds (each digest once).", labels, nil),
		limit: prometheus.NewDesc("berth_project_quota_limit_bytes", "A project's storage limit (-1: none).", labels, nil),
		ratio: prometheus.NewDesc("berth_project_quota_used_ratio",
			"Used over limit (alert at 0.85 and 1); absent without a limit.", labels, nil),
		phys: prometheus.NewDesc("berth_storage_physical_bytes", "Bytes of every stored blob, each once.", nil, nil),
		threshold: prometheus.NewDesc("berth_project_quota_threshold_percent",
			"The quota threshold a project's usage last crossed upwards (0, 85 or 100): "+
				"each crossing writes one QUOTA_WARNING or QUOTA_EXCEED event, and so does the first push refused at a level.", labels, nil),
	}
}

func (c *quotaCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.used
	ch <- c.limit
	ch <- c.ratio
	ch <- c.phys
	ch <- c.threshold
}

func (c *quotaCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	qs, _, err := c.quotas.ListQuotas(ctx, meta.Page{Limit: 10_000})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.used, err)
		return
	}
	for _, q := range qs {
		ch <- prometheus.MustNewConstMetric(c.used, prometheus.GaugeValue, float64(q.Used), q.ProjectName)
		ch <- prometheus.MustNewConstMetric(c.limit, prometheus.GaugeValue, float64(q.Limit), q.ProjectName)
		if q.Limit > 0 {
			ch <- prometheus.MustNewConstMetric(c.ratio, prometheus.GaugeValue, float64(q.Used)/float64(q.Limit), q.ProjectName)
		}
		ch <- prometheus.MustNewConstMetric(c.threshold, prometheus.GaugeValue, float64(q.Threshold), q.ProjectName)
	}
	if b, _, err := c.quotas.PhysicalBytes(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(c.phys, prometheus.GaugeValue, float64(b))
	}
}
