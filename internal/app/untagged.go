package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/registry"
)

// lifecycleJobs are the image lifecycle's background jobs (issue 9):
// deleting untagged manifests of the projects that ask for it
// (auto_delete_untagged), once they are older than the GC grace period.
func lifecycleJobs(cfg config.Config, store *meta.Store, reg *registry.Service, log *slog.Logger) []jobs.Job {
	return []jobs.Job{
		{Kind: "untagged_gc", Every: cfg.GC.Interval, Timeout: 10 * time.Minute,
			Run: jobs.NoArgs(func(ctx context.Context) error {
				n, err := reg.CollectUntagged(ctx, store.Untagged, time.Now().Add(-cfg.GC.Grace), 10_000)
				if n > 0 {
					log.InfoContext(ctx, "deleted untagged manifests", "count", n)
				}
				return err
			})},
	}
}
