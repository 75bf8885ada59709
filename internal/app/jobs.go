package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/content"
	"github.com/berth-registry/berth/internal/jobs"
)

// jobList is every background job Berth runs: one entry per job (kind,
// interval if periodic, timeout, function). River works them; periodic
// ones fire once per cluster.
func jobList(cfg config.Config, blobs *content.Service, log *slog.Logger) []jobs.Job {
	return []jobs.Job{
		{Kind: "purge_uploads", Every: cfg.Uploads.PurgeInterval, Timeout: 5 * time.Minute,
			Run: jobs.NoArgs(purgeUploads(blobs, cfg.Uploads, log))},
	}
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
