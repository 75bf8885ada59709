package backup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/storage"
)

// Retention says which snapshots to keep: the newest Last, the newest of
// each of the last Daily days (UTC) and of each of the last Weekly ISO
// weeks that have snapshots. The newest snapshot is always kept. All zero
// keeps everything.
type Retention struct {
	Last, Daily, Weekly int
}

// Keep returns the ids of the snapshots r keeps among ms.
func (r Retention) Keep(ms []Manifest) map[string]bool {
	keep := map[string]bool{}
	if len(ms) == 0 {
		return keep
	}
	sorted := slices.Clone(ms)
	slices.SortFunc(sorted, func(a, b Manifest) int { return olderFirst(b, a) }) // newest first
	if r.Last == 0 && r.Daily == 0 && r.Weekly == 0 {
		for _, m := range sorted {
			keep[m.ID] = true
		}
		return keep
	}
	keep[sorted[0].ID] = true
	for i := 0; i < r.Last && i < len(sorted); i++ {
		keep[sorted[i].ID] = true
	}
	bucket := func(n int, key func(time.Time) string) {
		seen := map[string]bool{}
		for _, m := range sorted {
			if len(seen) >= n {
				return
			}
			k := key(m.CreatedAt.UTC())
			if !seen[k] {
				seen[k] = true
				keep[m.ID] = true
			}
		}
	}
	bucket(r.Daily, func(t time.Time) string { return t.Format("2006-01-02") })
	bucket(r.Weekly, func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%d-%02d", y, w) })
	return keep
}

// PruneResult is what Prune removed.
type PruneResult struct {
	Snapshots  int   // snapshots removed
	Blobs      int   // blobs no kept snapshot holds, removed
	BlobBytes  int64 // their bytes
	BlobsKept  bool  // false when blob pruning was skipped (a backup looks in progress)
	Incomplete int   // abandoned incomplete snapshots removed
}

// abandonAfter is how old an incomplete snapshot (no manifest) must be
// before Prune takes it for a backup that died; a younger one may be a
// backup in progress, whose blobs have no manifest yet, so Prune then
// removes no blob.
const abandonAfter = 24 * time.Hour

// Prune removes the snapshots r does not keep, then every blob no
// remaining snapshot holds. It must not run beside a backup into the same
// repository started by another process: blobs such a backup skipped as
// present could be removed before its manifest is written (the scheduled
// job runs its backup and then Prune, once per cluster). As a guard, no
// blob is removed while an incomplete snapshot younger than a day exists.
func Prune(ctx context.Context, repo storage.Driver, r Retention, now time.Time) (PruneResult, error) {
	var res PruneResult
	ms, err := List(ctx, repo)
	if err != nil {
		return res, err
	}
	keep := r.Keep(ms)
	// Every snapshot directory: complete ones and incomplete ones.
	type dir struct {
		keys     []string
		complete bool
		newest   time.Time
	}
	dirs := map[string]*dir{}
	err = repo.Walk(ctx, snapshotsPrefix, func(i storage.Info) error {
		id, f, ok := strings.Cut(strings.TrimPrefix(i.Key, snapshotsPrefix), "/")
		if !ok {
			return nil
		}
		d := dirs[id]
		if d == nil {
			d = &dir{}
			dirs[id] = d
		}
		d.keys = append(d.keys, i.Key)
		d.complete = d.complete || f == manifestFile
		if i.ModTime.After(d.newest) {
			d.newest = i.ModTime
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("backup: prune: %w", err)
	}
	inProgress := false
	for id, d := range dirs {
		remove := false
		switch {
		case d.complete && !keep[id]:
			remove = true
			res.Snapshots++
		case !d.complete && now.Sub(d.newest) > abandonAfter:
			remove = true
			res.Incomplete++
		case !d.complete:
			inProgress = true
		}
		if !remove {
			continue
		}
		// The manifest first: a half-removed snapshot is incomplete, never wrong.
		slices.SortFunc(d.keys, func(a, b string) int {
			return boolCmp(strings.HasSuffix(b, "/"+manifestFile), strings.HasSuffix(a, "/"+manifestFile))
		})
		for _, k := range d.keys {
			if err := repo.Delete(ctx, k); err != nil {
				return res, fmt.Errorf("backup: prune %s: %w", k, err)
			}
		}
	}
	if inProgress {
		return res, nil
	}
	res.BlobsKept = true
	held := map[digest.Digest]bool{}
	for _, m := range ms {
		if keep[m.ID] {
			for _, b := range m.Blobs {
				held[b.Digest] = true
			}
		}
	}
	var drop []storage.Info
	err = repo.Walk(ctx, blobsPrefix, func(i storage.Info) error {
		parts := strings.Split(strings.TrimPrefix(i.Key, blobsPrefix), "/")
		if len(parts) != 3 {
			return nil
		}
		d := digest.NewDigestFromEncoded(digest.Algorithm(parts[0]), parts[2])
		if !held[d] {
			drop = append(drop, i)
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("backup: prune blobs: %w", err)
	}
	for _, i := range drop {
		if err := repo.Delete(ctx, i.Key); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return res, fmt.Errorf("backup: prune %s: %w", i.Key, err)
		}
		res.Blobs++
		res.BlobBytes += i.Size
	}
	return res, nil
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}
