package webui

import (
	"context"

	"github.com/berth-registry/berth/internal/meta"
)

// pullStore is meta.Pulls as the artifact pages use it.
type pullStore interface {
	ArtifactPulls(ctx context.Context, manifestIDs []int64) (map[int64]meta.PullStat, error)
}

// fillLifecycle sets the labels and pull figures of rows (one query each
// for all of them); without the stores nothing is shown.
func (u *UI) fillLifecycle(ctx context.Context, rows []artifactRow) error {
	if len(rows) == 0 {
		return nil
	}
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	if u.d.Pulls != nil {
		stats, err := u.d.Pulls.ArtifactPulls(ctx, ids)
		if err != nil {
			return err
		}
		for i := range rows {
			rows[i].Pulls = stats[rows[i].ID]
		}
	}
	if u.d.Labels != nil {
		labels, err := u.d.Labels.ArtifactLabels(ctx, ids)
		if err != nil {
			return err
		}
		for i := range rows {
			rows[i].Labels = labels[rows[i].ID]
		}
	}
	return nil
}
