package meta

import (
	"context"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// Pulls is the pull-count aggregate: how often and when each artifact
// (manifest) was last pulled. Each replica's recorder (internal/pulls)
// adds its counts in batches, so a pull never writes on its own.
type Pulls struct{ *handle }

// PullCount is the pulls of one artifact, named by repository and digest,
// as a recorder gathered them.
type PullCount struct {
	Repository string
	Digest     digest.Digest
	Count      int64
	// At is the time of the last pull counted.
	At time.Time
}

// PullStat is an artifact's pull count and the time of its last pull.
type PullStat struct {
	Count    int64
	PulledAt time.Time
}

// AddPulls adds every count of batch in one transaction: each artifact's
// pull_count grows by Count and its last pull becomes At unless a later
// one is recorded. Artifacts deleted since are skipped. It returns how
// many artifacts it updated.
func (s *Pulls) AddPulls(ctx context.Context, batch []PullCount) (int, error) {
	n := 0
	err := s.inTx(ctx, func(tx *handle) error {
		n = 0
		for _, p := range batch {
			if p.Count <= 0 {
				continue
			}
			res, err := tx.q.ExecContext(ctx, `
				INSERT INTO artifact_pulls (manifest_id, pull_count, pulled_at)
				SELECT m.id, $3, $4 FROM manifests AS m JOIN repositories AS r ON r.id = m.repository_id
				WHERE r.name = $1 AND m.digest = $2
				ON CONFLICT (manifest_id) DO UPDATE SET pull_count = artifact_pulls.pull_count + excluded.pull_count,
					pulled_at = CASE WHEN excluded.pulled_at > artifact_pulls.pulled_at
						THEN excluded.pulled_at ELSE artifact_pulls.pulled_at END`,
				p.Repository, p.Digest.String(), p.Count, micro(p.At))
			if err != nil {
				return wrapErr(err, "meta: add pulls of %s@%s", p.Repository, p.Digest)
			}
			if k, err := res.RowsAffected(); err == nil && k > 0 {
				n++
			}
		}
		return nil
	})
	return n, err
}

// ArtifactPulls returns the pull counts of the artifacts (manifest ids)
// that were ever pulled; the others are absent.
func (s *Pulls) ArtifactPulls(ctx context.Context, manifestIDs []int64) (map[int64]PullStat, error) {
	out := map[int64]PullStat{}
	for chunk := range chunks(manifestIDs, maxIDsPerQuery) {
		var c conds
		ph := make([]string, len(chunk))
		for i, id := range chunk {
			ph[i] = c.arg(id)
		}
		rows, err := s.q.QueryContext(ctx, `SELECT manifest_id, pull_count, pulled_at FROM artifact_pulls
			WHERE manifest_id IN (`+strings.Join(ph, ", ")+`)`, c.args...)
		if err != nil {
			return nil, wrapErr(err, "meta: pulls of artifacts")
		}
		for rows.Next() {
			var (
				id int64
				p  PullStat
			)
			if err := rows.Scan(&id, &p.Count, &p.PulledAt); err != nil {
				rows.Close()
				return nil, wrapErr(err, "meta: pulls of artifacts")
			}
			p.PulledAt = p.PulledAt.UTC()
			out[id] = p
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, wrapErr(err, "meta: pulls of artifacts")
		}
	}
	return out, nil
}

// RepositoryPulls returns the pulls of every artifact of each repository
// (by id) added up; repositories never pulled are absent.
func (s *Pulls) RepositoryPulls(ctx context.Context, repoIDs []int64) (map[int64]int64, error) {
	out := map[int64]int64{}
	for chunk := range chunks(repoIDs, maxIDsPerQuery) {
		var c conds
		ph := make([]string, len(chunk))
		for i, id := range chunk {
			ph[i] = c.arg(id)
		}
		rows, err := s.q.QueryContext(ctx, `SELECT m.repository_id, CAST(sum(ap.pull_count) AS BIGINT)
			FROM artifact_pulls AS ap JOIN manifests AS m ON m.id = ap.manifest_id
			WHERE m.repository_id IN (`+strings.Join(ph, ", ")+`) GROUP BY m.repository_id`, c.args...)
		if err != nil {
			return nil, wrapErr(err, "meta: pulls of repositories")
		}
		for rows.Next() {
			var id, n int64
			if err := rows.Scan(&id, &n); err != nil {
				rows.Close()
				return nil, wrapErr(err, "meta: pulls of repositories")
			}
			out[id] = n
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, wrapErr(err, "meta: pulls of repositories")
		}
	}
	return out, nil
}
