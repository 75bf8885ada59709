package app

import (
	"context"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/distapi"
	"github.com/berth-registry/berth/internal/pulls"
)

// countPulls wraps a registry event hook so that every artifact pull (a
// manifest GET; distapi reports no HEAD) is also counted by rec, in
// memory: rec writes the counts in batches (internal/pulls).
func countPulls(next func(ctx context.Context, e distapi.Event), rec *pulls.Recorder) func(ctx context.Context, e distapi.Event) {
	return func(ctx context.Context, e distapi.Event) {
		next(ctx, e)
		if e.Operation == distapi.EventPull && e.Kind == distapi.EventArtifact && e.Digest != "" {
			rec.Record(e.Repository, digest.Digest(e.Digest))
		}
	}
}
