package meta

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// Blob lifecycle and quota accounting shared by the aggregates that link,
// reference and unreference content (docs/design/gc.md).
//
// Lock order, the same in every transaction so that none can deadlock:
// blob rows (in digest order), then review rows, then project_blobs and
// quota rows (in project id order). Garbage collection takes review and
// blob rows with SKIP LOCKED, so it never waits for a pusher.

// DefaultGCGrace is how long an unreferenced blob is kept before garbage
// collection may delete it, unless SetGrace says otherwise.
const DefaultGCGrace = 24 * time.Hour

// ErrBlobDeleting: garbage collection is deleting the object this upload
// was placed at; the client should push again (a retryable 503 edge-side).
var ErrBlobDeleting = errors.New("blob is being deleted by garbage collection, retry the upload")

// ErrQuotaExceeded is matched by *QuotaExceededError.
var ErrQuotaExceeded = errors.New("quota exceeded")

// QuotaExceededError says which project would go over its storage limit.
type QuotaExceededError struct {
	ProjectID int64
	Project   string
	Used      int64
	Requested int64
	Limit     int64
}

func (e *QuotaExceededError) Error() string {
	return fmt.Sprintf("quota exceeded: project %s: adding %s of storage resource, which when updated to current usage of %s will exceed the configured upper limit of %s (used %d, requested %d, limit %d bytes)",
		e.Project, ByteSize(e.Requested), ByteSize(e.Used), ByteSize(e.Limit), e.Used, e.Requested, e.Limit)
}

func (e *QuotaExceededError) Unwrap() error { return ErrQuotaExceeded }

// ByteSize formats n bytes as Harbor's messages do (binary units).
func ByteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// forUpdate is the row-lock clause: SQLite has none and needs none (its
// transactions take the write lock at BEGIN).
func (h *handle) forUpdate() string {
	if h.dialect == dialectPostgres {
		return " FOR UPDATE"
	}
	return ""
}

func (h *handle) skipLocked() string {
	if h.dialect == dialectPostgres {
		return " FOR UPDATE SKIP LOCKED"
	}
	return ""
}

func (h *handle) gcGrace() time.Duration {
	if h.grace <= 0 {
		return DefaultGCGrace
	}
	return h.grace
}

// lockBlobs locks the rows of ds (those that exist) in digest order.
func (h *handle) lockBlobs(ctx context.Context, ds []digest.Digest) error {
	ds = uniqueDigests(ds)
	if len(ds) == 0 || h.dialect != dialectPostgres {
		return nil
	}
	var c conds
	ph := make([]string, len(ds))
	for i, d := range ds {
		ph[i] = c.arg(string(d))
	}
	rows, err := h.q.QueryContext(ctx, `SELECT digest FROM blobs WHERE digest IN (`+strings.Join(ph, ", ")+
		`) ORDER BY digest`+h.forUpdate(), c.args...)
	if err != nil {
		return wrapErr(err, "meta: lock blobs")
	}
	defer rows.Close()
	for rows.Next() {
	}
	return wrapNil(rows.Err(), "meta: lock blobs")
}

func wrapNil(err error, msg string) error {
	if err == nil {
		return nil
	}
	return wrapErr(err, "%s", msg)
}

// enqueueReview (re)queues a review of blob d due after the grace period.
func (h *handle) enqueueReview(ctx context.Context, d digest.Digest, reason string) error {
	now := h.timestamp()
	if _, err := h.q.ExecContext(ctx, `
		INSERT INTO gc_blob_reviews (blob_digest, review_after, queued_at, reason)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (blob_digest) DO UPDATE SET review_after = excluded.review_after,
			queued_at = excluded.queued_at, not_before = NULL, reason = excluded.reason, attempts = 0, last_error = ''`,
		d, now.Add(h.gcGrace()), now, reason); err != nil {
		return wrapErr(err, "meta: queue review of %s", d)
	}
	return nil
}

// projectOf returns the id and name of the project holding repository
// repo (its first path segment); ok is false when there is none.
func (h *handle) projectOf(ctx context.Context, repo string) (id int64, name string, ok bool, err error) {
	name, _, _ = strings.Cut(repo, "/")
	err = h.q.QueryRowContext(ctx, `SELECT id FROM projects WHERE name = $1`, name).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, name, false, nil
	case err != nil:
		return 0, name, false, wrapErr(err, "meta: project of %s", repo)
	}
	return id, name, true, nil
}

// holdInProject counts digest d (size bytes) in the project of repo,
// once per project: a new row adds to the quota's usage, refused with
// *QuotaExceededError when it would pass the limit.
func (h *handle) holdInProject(ctx context.Context, repo string, d digest.Digest, size int64) error {
	pid, pname, ok, err := h.projectOf(ctx, repo)
	if err != nil || !ok {
		return err
	}
	now := h.timestamp()
	res, err := h.q.ExecContext(ctx, `
		INSERT INTO project_blobs (project_id, digest, size, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (project_id, digest) DO NOTHING`, pid, d, size, now)
	if err != nil {
		return wrapErr(err, "meta: count %s in project %s", d, pname)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrapErr(err, "meta: count %s in project %s", d, pname)
	} else if n == 0 {
		return nil
	}
	return h.addUsage(ctx, pid, pname, size)
}

// ensureQuota creates project pid's quota row (no limit) if missing.
func (h *handle) ensureQuota(ctx context.Context, pid int64) error {
	now := h.timestamp()
	if _, err := h.q.ExecContext(ctx, `
		INSERT INTO quotas (project_id, storage_limit, storage_used, created_at, updated_at)
		VALUES ($1, -1, 0, $2, $2) ON CONFLICT (project_id) DO NOTHING`, pid, now); err != nil {
		return wrapErr(err, "meta: quota of project %d", pid)
	}
	return nil
}

// addUsage adds delta bytes to project pid's usage; a positive delta that
// would pass the limit is refused. The check and the change are one
// statement, so concurrent pushes never overshoot (PostgreSQL re-checks
// the condition on the locked row).
func (h *handle) addUsage(ctx context.Context, pid int64, pname string, delta int64) error {
	if err := h.ensureQuota(ctx, pid); err != nil {
		return err
	}
	var used, limit int64
	var warned int
	err := h.q.QueryRowContext(ctx, `
		UPDATE quotas SET storage_used = storage_used + CAST($2 AS BIGINT), updated_at = $3
		WHERE project_id = $1 AND (CAST($2 AS BIGINT) <= 0 OR storage_limit < 0 OR storage_used + CAST($2 AS BIGINT) <= storage_limit)
		RETURNING storage_used, storage_limit, warned`, pid, delta, h.timestamp()).Scan(&used, &limit, &warned)
	if errors.Is(err, sql.ErrNoRows) {
		if err := h.q.QueryRowContext(ctx, `SELECT storage_used, storage_limit FROM quotas WHERE project_id = $1`,
			pid).Scan(&used, &limit); err != nil {
			return wrapErr(err, "meta: quota of project %s", pname)
		}
		return &QuotaExceededError{ProjectID: pid, Project: pname, Used: used, Requested: delta, Limit: limit}
	}
	if err != nil {
		return wrapErr(err, "meta: quota of project %s", pname)
	}
	return h.quotaThreshold(ctx, pid, pname, used, limit, warned)
}

// Quota warning levels, in percent of the limit.
const (
	QuotaWarnPercent = 85
	QuotaFullPercent = 100
)

// quotaThreshold records an audit entry and an outbox event when usage
// crosses 85% (QUOTA_WARNING) or 100% (QUOTA_EXCEED) of the limit
// upwards, and re-arms them when it falls back below: one event per
// crossing, however many pushes follow.
func (h *handle) quotaThreshold(ctx context.Context, pid int64, pname string, used, limit int64, warned int) error {
	level := 0
	if limit > 0 {
		switch {
		case used >= limit:
			level = QuotaFullPercent
		case used*100 >= limit*QuotaWarnPercent:
			level = QuotaWarnPercent
		}
	}
	if level == warned {
		return nil
	}
	if _, err := h.q.ExecContext(ctx, `UPDATE quotas SET warned = $2 WHERE project_id = $1`, pid, level); err != nil {
		return wrapErr(err, "meta: quota warning of project %s", pname)
	}
	if level < warned {
		return nil
	}
	op := "quota_warning"
	if level == QuotaFullPercent {
		op = "quota_full"
	}
	msg := fmt.Sprintf("%s: %d%% (%d of %d bytes)", pname, level, used, limit)
	if _, err := h.q.ExecContext(ctx, `
		INSERT INTO audit_logs (op_time, username, operation, resource_type, resource, client_ip, result, project_id)
		VALUES ($1, 'system', $2, 'quota', $3, '', 'success', $4)`,
		h.timestamp(), op, msg, pid); err != nil {
		return wrapErr(err, "meta: quota event of project %s", pname)
	}
	return h.deferEvent(ctx, QuotaEvent(pid, pname, level, used, 0, limit))
}

// Outbox event types of quota crossings (Harbor's names).
const (
	EventQuotaWarning = "QUOTA_WARNING"
	EventQuotaExceed  = "QUOTA_EXCEED"
)

// QuotaEvent is the outbox event of project pid reaching level percent of
// its limit (QuotaWarnPercent: QUOTA_WARNING; QuotaFullPercent:
// QUOTA_EXCEED), or of a push of requested bytes refused (requested > 0,
// QUOTA_EXCEED). Its detail is Harbor's custom attribute "details" and
// the figures.
func QuotaEvent(pid int64, pname string, level int, used, requested, limit int64) Event {
	typ, details := EventQuotaExceed, ""
	switch {
	case requested > 0:
		details = (&QuotaExceededError{Project: pname, Used: used, Requested: requested, Limit: limit}).Error()
	case level == QuotaFullPercent:
		details = fmt.Sprintf("project %s reached its storage limit: %d of %d bytes used", pname, used, limit)
	default:
		typ = EventQuotaWarning
		details = fmt.Sprintf("project %s uses %d%% of its storage limit or more: %d of %d bytes used", pname, QuotaWarnPercent, used, limit)
	}
	detail, _ := json.Marshal(map[string]any{"details": details, "project": pname, "used": used,
		"requested": requested, "limit": limit, "threshold_percent": level})
	return Event{Type: typ, ProjectID: pid, Operator: "system", Detail: detail}
}

// NoteQuotaRefusal records that a push into project pid was refused for
// its quota, and reports whether this is the first refusal since usage
// last fell below 100% (one QUOTA_EXCEED per crossing: the caller writes
// the event only then). Call it in its own transaction: the refused push
// rolled back.
func (s *Quotas) NoteQuotaRefusal(ctx context.Context, pid int64) (bool, error) {
	res, err := s.q.ExecContext(ctx, `UPDATE quotas SET warned = $2 WHERE project_id = $1 AND warned < $2`, pid, QuotaFullPercent)
	if err != nil {
		return false, wrapErr(err, "meta: note a quota refusal of project %d", pid)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, wrapErr(err, "meta: note a quota refusal of project %d", pid)
	}
	return n > 0, nil
}

// RecordQuotaRefusal writes the QUOTA_EXCEED event of a push of d into
// repo by operator that err refused for its project's quota, once per
// crossing (NoteQuotaRefusal: not again until usage falls back below the
// limit). Any other err is ignored. Call it after the refused push rolled
// back: it has its own transaction.
func (s *Quotas) RecordQuotaRefusal(ctx context.Context, err error, repo string, d digest.Digest, operator string) error {
	var qe *QuotaExceededError
	if !errors.As(err, &qe) {
		return nil
	}
	return s.inTx(ctx, func(tx *handle) error {
		first, err := (&Quotas{tx}).NoteQuotaRefusal(ctx, qe.ProjectID)
		if err != nil || !first {
			return err
		}
		e := QuotaEvent(qe.ProjectID, qe.Project, QuotaFullPercent, qe.Used, qe.Requested, qe.Limit)
		e.Repository, e.Digest, e.Operator = repo, d, operator
		_, err = (&Events{tx}).Append(ctx, e)
		return err
	})
}

// inProject is the SQL condition "repository alias r is in the project
// named by placeholder p".
func inProject(r, p string) string {
	return "(" + r + ".name = CAST(" + p + " AS TEXT) OR substr(" + r + ".name, 1, length(CAST(" + p +
		" AS TEXT)) + 1) = CAST(" + p + " AS TEXT) || '/')"
}

// releaseInProject stops counting digest d in project pid when no
// repository of the project links it as a blob, holds it as a manifest or
// has a manifest referencing it (a blob unlinked by DELETE but still
// referenced stays stored, so it stays counted).
func (h *handle) releaseInProject(ctx context.Context, pid int64, pname string, d digest.Digest) error {
	var size int64
	err := h.q.QueryRowContext(ctx, `
		DELETE FROM project_blobs WHERE project_id = $1 AND digest = $2
		AND NOT EXISTS (SELECT 1 FROM repository_blobs AS rb JOIN repositories AS r ON r.id = rb.repository_id
			WHERE rb.blob_digest = $2 AND `+inProject("r", "$3")+`)
		AND NOT EXISTS (SELECT 1 FROM manifests AS m JOIN repositories AS r ON r.id = m.repository_id
			WHERE m.digest = $2 AND `+inProject("r", "$3")+`)
		AND NOT EXISTS (SELECT 1 FROM manifest_blob_refs AS mb JOIN manifests AS m ON m.id = mb.manifest_id
			JOIN repositories AS r ON r.id = m.repository_id
			WHERE mb.blob_digest = $2 AND `+inProject("r", "$3")+`)
		RETURNING size`, pid, d, pname).Scan(&size)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return wrapErr(err, "meta: release %s from project %s", d, pname)
	}
	return h.addUsage(ctx, pid, pname, -size)
}

// releaseRepoDigests releases ds from the project of repository repo.
func (h *handle) releaseRepoDigests(ctx context.Context, repo string, ds []digest.Digest) error {
	pid, pname, ok, err := h.projectOf(ctx, repo)
	if err != nil || !ok {
		return err
	}
	for _, d := range uniqueDigests(ds) {
		if err := h.releaseInProject(ctx, pid, pname, d); err != nil {
			return err
		}
	}
	return nil
}

// staleLinkCond is the condition "link alias rb is unused by the manifests
// of its repository".
const unusedLink = `NOT EXISTS (SELECT 1 FROM manifest_blob_refs AS mb JOIN manifests AS m ON m.id = mb.manifest_id
	WHERE mb.blob_digest = rb.blob_digest AND m.repository_id = rb.repository_id)`

// dropStaleLinks removes the links of blob d that no manifest of their
// repository uses and that are older than staleBefore, and releases them
// from their projects' usage (in project id order).
func (h *handle) dropStaleLinks(ctx context.Context, d digest.Digest, staleBefore time.Time) error {
	repos, err := queryStrings(ctx, h.q, `
		SELECT r.name FROM repository_blobs AS rb JOIN repositories AS r ON r.id = rb.repository_id
		WHERE rb.blob_digest = $1 AND rb.linked_at <= $2 AND `+unusedLink+` ORDER BY r.name`, d, staleBefore)
	if err != nil {
		return wrapErr(err, "meta: stale links of %s", d)
	}
	if len(repos) == 0 {
		return nil
	}
	if _, err := h.q.ExecContext(ctx, `
		DELETE FROM repository_blobs WHERE blob_digest = $1 AND linked_at <= $2 AND NOT EXISTS (
			SELECT 1 FROM manifest_blob_refs AS mb JOIN manifests AS m ON m.id = mb.manifest_id
			WHERE mb.blob_digest = repository_blobs.blob_digest AND m.repository_id = repository_blobs.repository_id)`,
		d, staleBefore); err != nil {
		return wrapErr(err, "meta: drop stale links of %s", d)
	}
	type proj struct {
		id   int64
		name string
	}
	var projs []proj
	for _, r := range repos {
		pid, pname, ok, err := h.projectOf(ctx, r)
		if err != nil {
			return err
		}
		if ok && !slices.ContainsFunc(projs, func(p proj) bool { return p.id == pid }) {
			projs = append(projs, proj{pid, pname})
		}
	}
	slices.SortFunc(projs, func(a, b proj) int { return int(a.id - b.id) })
	for _, p := range projs {
		if err := h.releaseInProject(ctx, p.id, p.name, d); err != nil {
			return err
		}
	}
	return nil
}
