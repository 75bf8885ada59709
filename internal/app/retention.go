package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/content"
	"github.com/berth-registry/berth/internal/immutable"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/repository"
	"github.com/berth-registry/berth/internal/retention"
)

// newRetention builds tag retention over the store and a repository
// service of its own (deletions are audited and go through the registry,
// as the REST API's do), paused by read-only mode. Its queue is set once
// the queue is open.
func newRetention(store *meta.Store, reg *registry.Service, blobs *content.Service, ro retention.ReadOnly, rec audit.Recorder, log *slog.Logger) *retention.Service {
	repos := repository.New(repository.Stores{Repos: store.Repos, Manifests: store.Manifests}, reg, blobs, rec, log)
	return retention.New(retention.Deps{
		Store:     store.Retention,
		Projects:  store.Projects,
		Repos:     store.Repos,
		Artifacts: store.Manifests,
		Deleter:   repos,
		Immutable: immutableTags{immutable.NewChecker(store.Immutable)},
		Pulls:     store.Pulls,
		Labels:    store.Labels,
		ReadOnly:  ro,
		Audit:     rec,
		// Referrers and cosign accessories go with their artifact; each
		// real run writes a TAG_RETENTION event.
		Accessories: store.Manifests,
		Events:      store.Events,
	}, log)
}

// immutableTags is retention.Immutability over the immutability rules.
type immutableTags struct{ c *immutable.Checker }

func (i immutableTags) Protector(ctx context.Context, repo string) (func(string) bool, error) {
	m, err := i.c.For(ctx, repo)
	if err != nil {
		return nil, err
	}
	return func(tag string) bool { _, ok := m.Immutable(tag); return ok }, nil
}

// retentionJobs are tag retention's jobs: the schedule (policies whose
// cron is due get a run, once per cluster) and one run.
func retentionJobs(ret *retention.Service) []jobs.Job {
	return []jobs.Job{
		{Kind: "retention_schedule", Every: time.Minute, Timeout: 5 * time.Minute, Run: jobs.NoArgs(ret.RunDue)},
		{Kind: retention.RunJob, Timeout: retention.RunTimeout, MaxAttempts: 1, Run: jobs.WithArgs(ret.Run)},
	}
}
