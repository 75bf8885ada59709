package restapi

import (
	"context"

	"github.com/berth-registry/berth/internal/meta"
)

// pullStore is meta.Pulls as the artifact and repository listings use it:
// Harbor's pull_time of artifacts and tags, pull_count of repositories.
type pullStore interface {
	ArtifactPulls(ctx context.Context, manifestIDs []int64) (map[int64]meta.PullStat, error)
	RepositoryPulls(ctx context.Context, repoIDs []int64) (map[int64]int64, error)
}

// fillArtifactPulls sets pull_time on arts and their tags (Berth counts
// pulls per artifact: a tag shows its artifact's last pull). Counts are
// written in batches every few seconds, so they lag pulls that much.
func (a *API) fillArtifactPulls(ctx context.Context, arts []artifactJSON) error {
	if a.d.Pulls == nil || len(arts) == 0 {
		return nil
	}
	ids := make([]int64, len(arts))
	for i := range arts {
		ids[i] = arts[i].ID
	}
	stats, err := a.d.Pulls.ArtifactPulls(ctx, ids)
	if err != nil {
		return err
	}
	for i := range arts {
		st, ok := stats[arts[i].ID]
		if !ok {
			continue
		}
		arts[i].PullTime = st.PulledAt
		for j := range arts[i].Tags {
			arts[i].Tags[j].PullTime = st.PulledAt
		}
	}
	return nil
}

// fillRepositoryPulls sets pull_count on repos: the pulls of all their
// artifacts.
func (a *API) fillRepositoryPulls(ctx context.Context, repos []repositoryJSON) error {
	if a.d.Pulls == nil || len(repos) == 0 {
		return nil
	}
	ids := make([]int64, len(repos))
	for i := range repos {
		ids[i] = repos[i].ID
	}
	counts, err := a.d.Pulls.RepositoryPulls(ctx, ids)
	if err != nil {
		return err
	}
	for i := range repos {
		repos[i].PullCount = int(counts[repos[i].ID])
	}
	return nil
}
