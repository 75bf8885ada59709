package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Quotas is the storage-quota aggregate: one quota per project whose usage
// is the sum of project_blobs, changed in the transactions that link and
// unlink content (lifecycle.go).
type Quotas struct{ *handle }

// ErrQuotaNotFound: no quota with that id or for that project.
var ErrQuotaNotFound = errors.New("quota not found")

// Quota is one project's storage quota.
type Quota struct {
	ID          int64
	ProjectID   int64
	ProjectName string
	OwnerName   string
	Limit       int64 // bytes; -1: unlimited
	Used        int64 // bytes the project holds, each digest once
	// Threshold is the last threshold usage crossed upwards and has not
	// fallen back below: 0, QuotaWarnPercent or QuotaFullPercent.
	Threshold int
	CreatedAt time.Time
	UpdatedAt time.Time
}

const quotaSelect = `SELECT q.id, q.project_id, p.name, COALESCE(u.username, ''), q.storage_limit, q.storage_used,
	q.warned, q.created_at, q.updated_at
	FROM quotas AS q JOIN projects AS p ON p.id = q.project_id LEFT JOIN users AS u ON u.id = p.owner_id`

func scanQuota(row rowScanner) (Quota, error) {
	var q Quota
	err := row.Scan(&q.ID, &q.ProjectID, &q.ProjectName, &q.OwnerName, &q.Limit, &q.Used, &q.Threshold, &q.CreatedAt, &q.UpdatedAt)
	q.Threshold %= quotaRefused
	q.CreatedAt, q.UpdatedAt = q.CreatedAt.UTC(), q.UpdatedAt.UTC()
	return q, err
}

// ProjectQuota returns project pid's quota, creating it (unlimited) if the
// project has none yet. Missing project: ErrProjectNotFound.
func (s *Quotas) ProjectQuota(ctx context.Context, pid int64) (Quota, error) {
	var one int
	if err := s.q.QueryRowContext(ctx, `SELECT 1 FROM projects WHERE id = $1`, pid).Scan(&one); errors.Is(err, sql.ErrNoRows) {
		return Quota{}, fmt.Errorf("project %d: %w", pid, ErrProjectNotFound)
	} else if err != nil {
		return Quota{}, wrapErr(err, "meta: quota of project %d", pid)
	}
	if err := s.ensureQuota(ctx, pid); err != nil {
		return Quota{}, err
	}
	q, err := scanQuota(s.q.QueryRowContext(ctx, quotaSelect+` WHERE q.project_id = $1`, pid))
	if err != nil {
		return Quota{}, wrapErr(err, "meta: quota of project %d", pid)
	}
	return q, nil
}

// GetQuota returns quota id. Missing: ErrQuotaNotFound.
func (s *Quotas) GetQuota(ctx context.Context, id int64) (Quota, error) {
	q, err := scanQuota(s.q.QueryRowContext(ctx, quotaSelect+` WHERE q.id = $1`, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Quota{}, fmt.Errorf("quota %d: %w", id, ErrQuotaNotFound)
	case err != nil:
		return Quota{}, wrapErr(err, "meta: get quota %d", id)
	}
	return q, nil
}

// ListQuotas returns one page of quotas ordered by id and their total.
// Projects without a quota row get one first.
func (s *Quotas) ListQuotas(ctx context.Context, pg Page) ([]Quota, int, error) {
	now := s.timestamp()
	if _, err := s.q.ExecContext(ctx, `INSERT INTO quotas (project_id, storage_limit, storage_used, created_at, updated_at)
		SELECT p.id, -1, 0, $1, $1 FROM projects AS p WHERE NOT EXISTS (SELECT 1 FROM quotas AS q WHERE q.project_id = p.id)
		ON CONFLICT (project_id) DO NOTHING`, now); err != nil {
		return nil, 0, wrapErr(err, "meta: list quotas")
	}
	var total int
	if err := s.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM quotas`).Scan(&total); err != nil {
		return nil, 0, wrapErr(err, "meta: list quotas")
	}
	if pg.Limit <= 0 {
		return []Quota{}, total, nil
	}
	out, err := queryAll(ctx, s.q, scanQuota, quotaSelect+` ORDER BY q.id LIMIT $1 OFFSET $2`, pg.Limit, max(pg.Offset, 0))
	if err != nil {
		return nil, 0, wrapErr(err, "meta: list quotas")
	}
	return out, total, nil
}

// SetLimit sets project pid's storage limit in bytes (-1: unlimited). A
// limit below the current usage is allowed: pushes that add bytes are
// refused until usage falls below it. Missing project: ErrProjectNotFound.
func (s *Quotas) SetLimit(ctx context.Context, pid, limit int64) error {
	if limit < -1 {
		return fmt.Errorf("meta: storage limit %d: want -1 or more", limit)
	}
	return s.inTx(ctx, func(tx *handle) error {
		q, err := (&Quotas{tx}).ProjectQuota(ctx, pid)
		if err != nil {
			return err
		}
		var warned int
		if err := tx.q.QueryRowContext(ctx, `UPDATE quotas SET storage_limit = $2, updated_at = $3 WHERE project_id = $1
			RETURNING warned`, pid, limit, tx.timestamp()).Scan(&warned); err != nil {
			return wrapErr(err, "meta: set quota of project %d", pid)
		}
		return tx.quotaThreshold(ctx, pid, q.ProjectName, q.Used, limit, warned)
	})
}

// Usage is what a project holds, besides its quota: the bytes it holds
// that nothing references any more (pending garbage collection).
type Usage struct {
	Quota
	PendingGC int64
}

// ProjectUsage returns project pid's quota and its bytes pending GC.
func (s *Quotas) ProjectUsage(ctx context.Context, pid int64) (Usage, error) {
	q, err := s.ProjectQuota(ctx, pid)
	if err != nil {
		return Usage{}, err
	}
	u := Usage{Quota: q}
	err = s.q.QueryRowContext(ctx, `SELECT CAST(COALESCE(SUM(pb.size), 0) AS BIGINT) FROM project_blobs AS pb
		JOIN gc_blob_reviews AS v ON v.blob_digest = pb.digest
		WHERE pb.project_id = $1
		AND NOT EXISTS (SELECT 1 FROM manifest_blob_refs AS mb WHERE mb.blob_digest = pb.digest)`, pid).Scan(&u.PendingGC)
	if err != nil {
		return Usage{}, wrapErr(err, "meta: usage of project %d", pid)
	}
	return u, nil
}

// PhysicalBytes returns the bytes of every stored blob, each once
// (deduplicated across projects), and how many blobs there are.
func (s *Quotas) PhysicalBytes(ctx context.Context) (bytes int64, blobs int, err error) {
	err = s.q.QueryRowContext(ctx, `SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT), COUNT(*) FROM blobs`).Scan(&bytes, &blobs)
	if err != nil {
		return 0, 0, wrapErr(err, "meta: physical bytes")
	}
	return bytes, blobs, nil
}

// QuotaDrift is a project whose counters differ from a full recount.
type QuotaDrift struct {
	ProjectID   int64
	ProjectName string
	Counted     int64 // quotas.storage_used
	Recounted   int64 // from repository links and manifests
	RowsDiffer  int   // project_blobs rows missing or extra
}

// Recount recomputes every project's usage from its repositories' blob
// links and manifests and returns the projects whose counters differ
// (none: an empty list). It changes nothing.
func (s *Quotas) Recount(ctx context.Context) ([]QuotaDrift, error) {
	const held = `
		SELECT p.id AS pid, rb.blob_digest AS digest, b.size AS size
		FROM projects AS p JOIN repositories AS r ON ` + `(r.name = p.name OR substr(r.name, 1, length(p.name) + 1) = p.name || '/')` + `
		JOIN repository_blobs AS rb ON rb.repository_id = r.id JOIN blobs AS b ON b.digest = rb.blob_digest
		UNION
		SELECT p.id, mb.blob_digest, b.size
		FROM projects AS p JOIN repositories AS r ON ` + `(r.name = p.name OR substr(r.name, 1, length(p.name) + 1) = p.name || '/')` + `
		JOIN manifests AS m ON m.repository_id = r.id JOIN manifest_blob_refs AS mb ON mb.manifest_id = m.id
		JOIN blobs AS b ON b.digest = mb.blob_digest
		UNION
		SELECT p.id, m.digest, length(m.payload)
		FROM projects AS p JOIN repositories AS r ON ` + `(r.name = p.name OR substr(r.name, 1, length(p.name) + 1) = p.name || '/')` + `
		JOIN manifests AS m ON m.repository_id = r.id`
	out, err := queryAll(ctx, s.q, func(row rowScanner) (QuotaDrift, error) {
		var d QuotaDrift
		err := row.Scan(&d.ProjectID, &d.ProjectName, &d.Counted, &d.Recounted, &d.RowsDiffer)
		return d, err
	}, `WITH held AS (SELECT pid, digest, MAX(size) AS size FROM (`+held+`) AS x GROUP BY pid, digest)
		SELECT p.id, p.name, COALESCE(q.storage_used, 0),
			CAST(COALESCE((SELECT SUM(h.size) FROM held AS h WHERE h.pid = p.id), 0) AS BIGINT),
			(SELECT COUNT(*) FROM held AS h WHERE h.pid = p.id AND NOT EXISTS (
				SELECT 1 FROM project_blobs AS pb WHERE pb.project_id = h.pid AND pb.digest = h.digest))
			+ (SELECT COUNT(*) FROM project_blobs AS pb WHERE pb.project_id = p.id AND NOT EXISTS (
				SELECT 1 FROM held AS h WHERE h.pid = pb.project_id AND h.digest = pb.digest))
		FROM projects AS p LEFT JOIN quotas AS q ON q.project_id = p.id
		ORDER BY p.id`)
	if err != nil {
		return nil, wrapErr(err, "meta: recount quotas")
	}
	drift := []QuotaDrift{}
	for _, d := range out {
		if d.Counted != d.Recounted || d.RowsDiffer != 0 {
			drift = append(drift, d)
		}
	}
	return drift, nil
}
