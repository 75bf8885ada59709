package scan

import (
	"context"
	"errors"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
)

// JobScanAll is the periodic "scan all" job (Harbor's scan-all schedule;
// internal/app runs it when the schedule says).
const JobScanAll = "scan_all"

// MaxScanAll bounds the artifacts one scan-all run queues.
const MaxScanAll = 1000

// Catalog lists what scan-all walks (*meta.Store's aggregates, adapted by
// internal/app).
type Catalog interface {
	ListRepositories(ctx context.Context, after string, limit int) ([]string, error)
	ListManifestDigests(ctx context.Context, repo string, after digest.Digest, limit int) ([]digest.Digest, error)
	GetManifest(ctx context.Context, repo string, d digest.Digest) (meta.Manifest, error)
	GetProjectByName(ctx context.Context, name string) (meta.Project, error)
}

// ScanAll queues a scan of every image (not referrers) of every
// repository, at most MaxScanAll per run; without a default scanner it
// does nothing. Unless force is set (a manual run), images scanned within
// the day are left alone.
func (s *Service) ScanAll(ctx context.Context, c Catalog, force bool) error {
	if _, err := s.store.GetScanner(ctx, ""); errors.Is(err, meta.ErrScannerNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	queued, after := 0, ""
	for queued < MaxScanAll {
		repos, err := c.ListRepositories(ctx, after, 100)
		if err != nil || len(repos) == 0 {
			return err
		}
		after = repos[len(repos)-1]
		for _, repo := range repos {
			p, err := c.GetProjectByName(ctx, access.ProjectName(repo))
			if errors.Is(err, meta.ErrProjectNotFound) {
				continue
			} else if err != nil {
				return err
			}
			var last digest.Digest
			for queued < MaxScanAll {
				ds, err := c.ListManifestDigests(ctx, repo, last, 100)
				if err != nil {
					return err
				}
				if len(ds) == 0 {
					break
				}
				last = ds[len(ds)-1]
				for _, d := range ds {
					m, err := c.GetManifest(ctx, repo, d)
					if errors.Is(err, meta.ErrManifestNotFound) {
						continue
					} else if err != nil {
						return err
					}
					if !isImage(m.MediaType) || m.Subject != "" {
						continue
					}
					// Scanned within the day (a restart re-elects a leader,
					// which runs the job at once): leave it.
					rs, err := s.store.ArtifactScanReports(ctx, repo, d)
					if err != nil {
						return err
					}
					if !force && recent(rs) {
						continue
					}
					if _, err := s.Request(ctx, p.ID, repo, d); err != nil {
						return err
					}
					queued++
				}
			}
		}
	}
	return nil
}

func recent(rs []meta.ScanReport) bool {
	for _, r := range rs {
		if time.Since(r.StartTime) < 23*time.Hour {
			return true
		}
	}
	return false
}
