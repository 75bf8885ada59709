package meta

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// Untagged is the untagged-manifest collection aggregate: which projects
// ask for their untagged manifests to be deleted, and which manifests
// qualify. The deletes themselves go through the registry service, which
// checks references and immutability and queues the blobs for GC.
type Untagged struct{ *handle }

// SetCollectUntagged records whether project pid wants its untagged
// manifests deleted. Missing project: ErrProjectNotFound.
func (s *Untagged) SetCollectUntagged(ctx context.Context, pid int64, on bool) error {
	return s.inTx(ctx, func(tx *handle) error {
		if err := tx.lockProject(ctx, pid); err != nil {
			return err
		}
		var err error
		if on {
			_, err = tx.q.ExecContext(ctx, `INSERT INTO project_untagged_gc (project_id, created_at) VALUES ($1, $2)
				ON CONFLICT (project_id) DO NOTHING`, pid, tx.timestamp())
		} else {
			_, err = tx.q.ExecContext(ctx, `DELETE FROM project_untagged_gc WHERE project_id = $1`, pid)
		}
		if err != nil {
			return wrapErr(err, "meta: set untagged collection of project %d", pid)
		}
		return nil
	})
}

// CollectsUntagged reports whether project pid wants its untagged
// manifests deleted.
func (s *Untagged) CollectsUntagged(ctx context.Context, pid int64) (bool, error) {
	var n int
	if err := s.q.QueryRowContext(ctx, `SELECT count(*) FROM project_untagged_gc WHERE project_id = $1`, pid).Scan(&n); err != nil {
		return false, wrapErr(err, "meta: untagged collection of project %d", pid)
	}
	return n > 0, nil
}

// UntaggedManifest names a manifest to collect.
type UntaggedManifest struct {
	Repository string
	Digest     digest.Digest
}

// untaggedFrom selects each manifest m (of repository r of project p,
// which asks for it) that nothing keeps: no tag, not listed
// by an index of its repository, no referrer naming it, not a referrer
// itself (signatures and SBOMs stay with their subject).
const untaggedFrom = `FROM project_untagged_gc AS u JOIN projects AS p ON p.id = u.project_id
		JOIN repositories AS r ON (r.name = p.name OR substr(r.name, 1, length(p.name) + 1) = p.name || '/')
		JOIN manifests AS m ON m.repository_id = r.id
		WHERE m.subject_digest IS NULL
		AND NOT EXISTS (SELECT 1 FROM tags AS t WHERE t.repository_id = m.repository_id AND t.manifest_digest = m.digest)
		AND NOT EXISTS (SELECT 1 FROM manifest_manifest_refs AS mr WHERE mr.child_digest = m.digest AND EXISTS (
			SELECT 1 FROM manifests AS pm WHERE pm.id = mr.manifest_id AND pm.repository_id = m.repository_id))
		AND NOT EXISTS (SELECT 1 FROM manifests AS sm WHERE sm.repository_id = m.repository_id AND sm.subject_digest = m.digest)`

// maxUntaggedNoted bounds how many newly untagged manifests one call notes.
const maxUntaggedNoted = 10_000

// UntaggedManifests returns up to limit manifests, oldest first, of the
// projects that ask for it, that nothing keeps (no tag, not listed by an
// index of their repository, no referrer naming them, not referrers
// themselves) and that have been untagged since before before.
//
// The age of an untagged manifest counts from when a call first saw it
// untagged (untagged_seen; the untagged_gc job calls it every gc.interval,
// so that is within one interval of the untagging), not from its push: a
// manifest pushed long ago and untagged today goes a grace period after
// today. Each call first forgets the manifests tagged or needed again and
// notes the newly untagged ones (at most maxUntaggedNoted).
func (s *Untagged) UntaggedManifests(ctx context.Context, before time.Time, limit int) ([]UntaggedManifest, error) {
	var out []UntaggedManifest
	err := s.inTx(ctx, func(tx *handle) error {
		if _, err := tx.q.ExecContext(ctx, `DELETE FROM untagged_seen WHERE EXISTS (
			SELECT 1 FROM manifests AS m JOIN tags AS t ON t.repository_id = m.repository_id AND t.manifest_digest = m.digest
			WHERE m.id = untagged_seen.manifest_id)`); err != nil {
			return wrapErr(err, "meta: forget tagged manifests")
		}
		if _, err := tx.q.ExecContext(ctx, `INSERT INTO untagged_seen (manifest_id, seen_at)
			SELECT m.id, $1 `+untaggedFrom+`
			AND NOT EXISTS (SELECT 1 FROM untagged_seen AS us WHERE us.manifest_id = m.id)
			ORDER BY m.id LIMIT $2
			ON CONFLICT (manifest_id) DO NOTHING`, tx.timestamp(), maxUntaggedNoted); err != nil {
			return wrapErr(err, "meta: note untagged manifests")
		}
		var err error
		out, err = queryAll(ctx, tx.q, func(row rowScanner) (UntaggedManifest, error) {
			var u UntaggedManifest
			err := row.Scan(&u.Repository, &u.Digest)
			return u, err
		}, `SELECT r.name, m.digest `+untaggedFrom+`
			AND m.created_at < $1
			AND EXISTS (SELECT 1 FROM untagged_seen AS us WHERE us.manifest_id = m.id AND us.seen_at < $1)
			ORDER BY m.created_at, m.id LIMIT $2`, micro(before), limit)
		if err != nil {
			return wrapErr(err, "meta: untagged manifests")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
