package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// GC is the garbage-collection aggregate: the blob review queue, the
// runs and schedule Harbor's /system/gc shows, and backup leases.
type GC struct{ *handle }

// ErrNoReview: no review is due (or every due one is taken by another
// worker).
var ErrNoReview = errors.New("no garbage collection review is due")

// ErrGCRunNotFound: no GC run with that id.
var ErrGCRunNotFound = errors.New("gc run not found")

// SetGrace sets how long unreferenced content is kept before it may be
// deleted (default DefaultGCGrace). Call it before the store is used.
func (g *GC) SetGrace(d time.Duration) { g.grace = d }

// Grace returns the grace period in force.
func (g *GC) Grace() time.Duration { return g.gcGrace() }

// Outcomes of a Claim.
const (
	ClaimGone    = "gone"    // the blob row no longer exists; review dropped
	ClaimKept    = "kept"    // referenced: review dropped
	ClaimWait    = "wait"    // a fresh link, a lease or a busy row: review postponed
	ClaimDelete  = "delete"  // marked as being deleted: delete Key, then FinishDelete
	ClaimDryRun  = "dry_run" // would be deleted (ClaimOptions.DryRun); nothing changed
	reviewBusyIn = 5 * time.Second
)

// ClaimOptions select which reviews are due.
type ClaimOptions struct {
	// Grace, when >= 0, replaces the configured grace period: a review is
	// due when it was queued at least Grace ago, and links older than
	// Grace no longer keep a blob. < 0: the configured grace.
	Grace time.Duration
	// DeleteHold is how long a blob this worker marks stays its own to
	// delete before another worker may take over (this one died); 0:
	// DefaultDeleteHold.
	DeleteHold time.Duration
}

// Claim is the decision on one review.
type Claim struct {
	Digest  digest.Digest
	Outcome string
	Key     string // ClaimDelete: the storage key to delete
	Size    int64
}

// Claim takes the oldest due review no other worker holds, re-checks the
// blob's references under its row lock and decides, in one transaction:
// stale unused links are dropped (and released from quotas); a blob no
// manifest references and no fresh link keeps is marked as being deleted
// (ClaimDelete: the caller deletes Key from storage, then calls
// FinishDelete). A blob already marked (a worker died) comes back as
// ClaimDelete too. Nothing due: ErrNoReview.
func (g *GC) Claim(ctx context.Context, opts ClaimOptions) (Claim, error) {
	cs, err := g.ClaimBatch(ctx, opts, 1)
	if err != nil {
		return Claim{}, err
	}
	return cs[0], nil
}

// ClaimBatch is Claim for up to n due reviews in one transaction (fewer
// commits, so more deletes per second; n bounds how long the transaction
// holds its rows). Nothing due: ErrNoReview.
func (g *GC) ClaimBatch(ctx context.Context, opts ClaimOptions, n int) ([]Claim, error) {
	var cs []Claim
	err := g.inTx(ctx, func(tx *handle) error {
		var err error
		cs, err = tx.gc().claim(ctx, opts, max(n, 1))
		return err
	})
	return cs, err
}

func (h *handle) gc() *GC { return &GC{h} }

// due returns the condition on gc_blob_reviews (alias-free) that makes a
// review due, with $1 the cut-off it returns and nowPH the placeholder the
// caller binds to now.
func (g *GC) due(opts ClaimOptions, nowPH string) (string, time.Time, time.Duration) {
	now := g.timestamp()
	if opts.Grace >= 0 {
		// Counted from queued_at; a postponed review waits for not_before.
		return `queued_at <= $1 AND (not_before IS NULL OR not_before <= ` + nowPH + `)`, now.Add(-opts.Grace), opts.Grace
	}
	return `review_after <= $1 AND review_after <= ` + nowPH, now, g.gcGrace()
}

type dueReview struct {
	digest   digest.Digest
	queuedAt time.Time
}

func (g *GC) claim(ctx context.Context, opts ClaimOptions, n int) ([]Claim, error) {
	cond, cut, grace := g.due(opts, "$3")
	due, err := queryAll(ctx, g.q, func(row rowScanner) (dueReview, error) {
		var r dueReview
		err := row.Scan(&r.digest, &r.queuedAt)
		return r, err
	}, `SELECT blob_digest, queued_at FROM gc_blob_reviews WHERE `+cond+`
		ORDER BY review_after, blob_digest LIMIT $2`+g.skipLocked(), cut, n, g.timestamp())
	if err != nil {
		return nil, wrapErr(err, "meta: take gc reviews")
	}
	if len(due) == 0 {
		return nil, ErrNoReview
	}
	leases, err := queryAll(ctx, g.q, func(row rowScanner) (lease, error) {
		var l lease
		err := row.Scan(&l.snapshotAt, &l.expires)
		return l, err
	}, `SELECT snapshot_at, expires_at FROM gc_leases WHERE expires_at > $1`, g.timestamp())
	if err != nil {
		return nil, wrapErr(err, "meta: gc leases")
	}
	pre, err := g.prefetch(ctx, due)
	if err != nil {
		return nil, err
	}
	w := &claimWrites{}
	out := make([]Claim, 0, len(due))
	for _, r := range due {
		c, err := g.decide(ctx, r, grace, opts.DeleteHold, leases, pre[r.digest], w)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if err := g.applyClaimWrites(ctx, w, opts.DeleteHold); err != nil {
		return nil, err
	}
	return out, nil
}

// prefetched is a due review's blob row and links, read for the whole
// batch in two queries (deletes per second): decide reads them one by one
// only for blobs the prefetch could not lock.
type prefetched struct {
	size       int64
	key        string
	deleting   bool
	referenced bool
	links      []gcLink
}

type gcLink struct {
	at   flexTime
	used bool
}

// prefetch locks (SKIP LOCKED, on PostgreSQL) and reads the blob rows of
// due in digest order, and their links.
func (g *GC) prefetch(ctx context.Context, due []dueReview) (map[digest.Digest]*prefetched, error) {
	out := map[digest.Digest]*prefetched{}
	if len(due) < 2 {
		return out, nil
	}
	var c conds
	ph := make([]string, len(due))
	for i, r := range due {
		ph[i] = c.arg(string(r.digest))
	}
	list := "(" + strings.Join(ph, ", ") + ")"
	rows, err := g.q.QueryContext(ctx, `SELECT b.digest, b.size, b.storage_key, b.deleting,
		EXISTS (SELECT 1 FROM manifest_blob_refs AS mb WHERE mb.blob_digest = b.digest)
		FROM blobs AS b WHERE b.digest IN `+list+` ORDER BY b.digest`+g.skipLocked(), c.args...)
	if err != nil {
		return nil, wrapErr(err, "meta: gc reviews")
	}
	for rows.Next() {
		var (
			d digest.Digest
			p prefetched
		)
		if err := rows.Scan(&d, &p.size, &p.key, &p.deleting, &p.referenced); err != nil {
			rows.Close()
			return nil, wrapErr(err, "meta: gc reviews")
		}
		out[d] = &p
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, wrapErr(err, "meta: gc reviews")
	}
	lrows, err := g.q.QueryContext(ctx, `SELECT rb.blob_digest, rb.linked_at, NOT `+unusedLink+`
		FROM repository_blobs AS rb WHERE rb.blob_digest IN `+list, c.args...)
	if err != nil {
		return nil, wrapErr(err, "meta: gc review links")
	}
	defer lrows.Close()
	for lrows.Next() {
		var (
			d digest.Digest
			l gcLink
		)
		if err := lrows.Scan(&d, &l.at, &l.used); err != nil {
			return nil, wrapErr(err, "meta: gc review links")
		}
		if p := out[d]; p != nil {
			p.links = append(p.links, l)
		}
	}
	return out, wrapNil(lrows.Err(), "meta: gc review links")
}

// claimWrites are the marks and holds a batch decided, written at its end
// with one statement each.
type claimWrites struct {
	mark, hold []digest.Digest
}

func (g *GC) applyClaimWrites(ctx context.Context, w *claimWrites, hold time.Duration) error {
	in := func(ds []digest.Digest, first int) (string, []any) {
		var c conds
		for range first {
			c.arg(nil)
		}
		ph := make([]string, len(ds))
		for i, d := range ds {
			ph[i] = c.arg(string(d))
		}
		return "(" + strings.Join(ph, ", ") + ")", c.args
	}
	if len(w.mark) > 0 {
		l, a := in(w.mark, 0)
		if _, err := g.q.ExecContext(ctx, `UPDATE blobs SET deleting = TRUE WHERE digest IN `+l, a...); err != nil {
			return wrapErr(err, "meta: mark blobs deleted")
		}
	}
	if len(w.hold) > 0 {
		if hold <= 0 {
			hold = DefaultDeleteHold
		}
		l, a := in(w.hold, 1)
		a[0] = micro(g.timestamp().Add(hold))
		if _, err := g.q.ExecContext(ctx, `UPDATE gc_blob_reviews SET review_after = $1, not_before = $1 WHERE blob_digest IN `+l, a...); err != nil {
			return wrapErr(err, "meta: hold reviews")
		}
	}
	return nil
}

// lease is an active backup lease.
type lease struct{ snapshotAt, expires time.Time }

// decide re-checks one taken review's blob under its row lock.
//
// pre, when set, is the blob row and links prefetched (and locked) for
// the batch; w, when set, gathers the mark and hold writes for
// applyClaimWrites instead of writing them at once.
func (g *GC) decide(ctx context.Context, r dueReview, grace, hold time.Duration, leases []lease, pre *prefetched, w *claimWrites) (Claim, error) {
	now := g.timestamp()
	c := Claim{Digest: r.digest}
	var (
		deleting, referenced bool
		err                  error
	)
	if pre != nil {
		c.Size, c.Key, deleting, referenced = pre.size, pre.key, pre.deleting, pre.referenced
	} else {
		err = g.q.QueryRowContext(ctx, `SELECT b.size, b.storage_key, b.deleting,
		EXISTS (SELECT 1 FROM manifest_blob_refs AS mb WHERE mb.blob_digest = b.digest)
		FROM blobs AS b WHERE b.digest = $1`+g.skipLocked(),
			c.Digest).Scan(&c.Size, &c.Key, &deleting, &referenced)
	}
	if errors.Is(err, sql.ErrNoRows) {
		var one int
		err = g.q.QueryRowContext(ctx, `SELECT 1 FROM blobs WHERE digest = $1`, c.Digest).Scan(&one)
		if err == nil { // a pusher holds the row: look again shortly
			c.Outcome = ClaimWait
			return c, g.postpone(ctx, c.Digest, now.Add(reviewBusyIn))
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return Claim{}, wrapErr(err, "meta: gc review of %s", c.Digest)
		}
		c.Outcome = ClaimGone
		return c, g.dropReview(ctx, c.Digest)
	}
	if err != nil {
		return Claim{}, wrapErr(err, "meta: gc review of %s", c.Digest)
	}
	if deleting { // its worker died (the hold expired): finish its delete
		c.Outcome = ClaimDelete
		if w != nil {
			w.hold = append(w.hold, c.Digest)
			return c, nil
		}
		return c, g.hold(ctx, c.Digest, now, hold)
	}
	// A backup lease taken before the last reference went away may still
	// need the blob: wait for the lease to end.
	var leaseEnd time.Time
	for _, l := range leases {
		if !l.snapshotAt.After(r.queuedAt) && l.expires.After(leaseEnd) {
			leaseEnd = l.expires
		}
	}
	if !leaseEnd.IsZero() {
		c.Outcome = ClaimWait
		return c, g.postpone(ctx, c.Digest, leaseEnd)
	}
	// The blob's links: stale unused ones go, a fresh unused one keeps it.
	var links []gcLink
	if pre != nil {
		links = pre.links
	} else {
		links, err = queryAll(ctx, g.q, func(row rowScanner) (gcLink, error) {
			var l gcLink
			err := row.Scan(&l.at, &l.used)
			return l, err
		}, `SELECT rb.linked_at, NOT `+unusedLink+` FROM repository_blobs AS rb WHERE rb.blob_digest = $1`, c.Digest)
		if err != nil {
			return Claim{}, wrapErr(err, "meta: links of %s", c.Digest)
		}
	}
	staleBefore := now.Add(-grace)
	var fresh time.Time
	stale := false
	for _, l := range links {
		switch {
		case l.used:
		case !l.at.Time.After(staleBefore):
			stale = true
		case l.at.Time.After(fresh):
			fresh = l.at.Time
		}
	}
	if stale {
		if err := g.dropStaleLinks(ctx, c.Digest, staleBefore); err != nil {
			return Claim{}, err
		}
	}
	if !fresh.IsZero() {
		c.Outcome = ClaimWait
		return c, g.postpone(ctx, c.Digest, fresh.Add(grace))
	}
	if referenced {
		c.Outcome = ClaimKept
		return c, g.dropReview(ctx, c.Digest)
	}
	c.Outcome = ClaimDelete
	if w != nil {
		w.mark, w.hold = append(w.mark, c.Digest), append(w.hold, c.Digest)
		return c, nil
	}
	if _, err := g.q.ExecContext(ctx, `UPDATE blobs SET deleting = TRUE WHERE digest = $1`, c.Digest); err != nil {
		return Claim{}, wrapErr(err, "meta: mark %s deleted", c.Digest)
	}
	return c, g.hold(ctx, c.Digest, now, hold)
}

// DefaultDeleteHold is how long a marked blob's review is left to the
// worker that marked it before another worker may finish the delete.
const DefaultDeleteHold = 5 * time.Minute

// hold keeps other workers off a review whose blob this worker deletes.
func (g *GC) hold(ctx context.Context, d digest.Digest, now time.Time, hold time.Duration) error {
	if hold <= 0 {
		hold = DefaultDeleteHold
	}
	return g.postpone(ctx, d, now.Add(hold))
}

func (g *GC) postpone(ctx context.Context, d digest.Digest, at time.Time) error {
	if _, err := g.q.ExecContext(ctx, `UPDATE gc_blob_reviews SET review_after = $2, not_before = $2 WHERE blob_digest = $1`,
		d, micro(at)); err != nil {
		return wrapErr(err, "meta: postpone review of %s", d)
	}
	return nil
}

func (g *GC) dropReview(ctx context.Context, d digest.Digest) error {
	if _, err := g.q.ExecContext(ctx, `DELETE FROM gc_blob_reviews WHERE blob_digest = $1`, d); err != nil {
		return wrapErr(err, "meta: drop review of %s", d)
	}
	return nil
}

// FinishDelete removes blob d's row and review once its object at key is
// deleted from storage. It reports false, and changes nothing, when the
// blob is no longer being deleted at key (an upload revived it elsewhere).
func (g *GC) FinishDelete(ctx context.Context, d digest.Digest, key string) (bool, error) {
	done, err := g.FinishDeletes(ctx, []Claim{{Digest: d, Key: key}})
	if err != nil {
		return false, err
	}
	return done[0], nil
}

// FinishDeletes is FinishDelete for several blobs in one transaction
// (in digest order); done[i] answers for cs[i].
func (g *GC) FinishDeletes(ctx context.Context, cs []Claim) ([]bool, error) {
	done := make([]bool, len(cs))
	order := make([]int, len(cs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(string(cs[a].Digest), string(cs[b].Digest)) })
	err := g.inTx(ctx, func(tx *handle) error {
		// Every blob row first, in digest order, before any quota row: a
		// push reviving one of them locks its blob, then its quota.
		ds := make([]digest.Digest, len(cs))
		for i, c := range cs {
			ds[i] = c.Digest
		}
		if err := tx.lockBlobs(ctx, ds); err != nil {
			return err
		}
		if len(cs) > 1 {
			return tx.gc().finishMany(ctx, cs, done)
		}
		for _, i := range order {
			ok, err := tx.gc().finish(ctx, cs[i].Digest, cs[i].Key)
			if err != nil {
				return err
			}
			done[i] = ok
		}
		return nil
	})
	return done, err
}

// finishMany is finish for several blobs with a few statements in all
// instead of six each (deletes per second on SQLite): one read of the
// blob rows, one of their links, one delete per table, then the quota
// releases, repository by repository in name order.
func (g *GC) finishMany(ctx context.Context, cs []Claim, done []bool) error {
	in := func(ds []digest.Digest) (string, []any) {
		var c conds
		ph := make([]string, len(ds))
		for i, d := range ds {
			ph[i] = c.arg(string(d))
		}
		return "(" + strings.Join(ph, ", ") + ")", c.args
	}
	all := make([]digest.Digest, len(cs))
	for i, c := range cs {
		all[i] = c.Digest
	}
	all = uniqueDigests(all)
	list, args := in(all)
	type row struct {
		key      string
		deleting bool
	}
	rows := map[digest.Digest]row{}
	got, err := queryAll(ctx, g.q, func(r rowScanner) (struct {
		d digest.Digest
		row
	}, error) {
		var v struct {
			d digest.Digest
			row
		}
		err := r.Scan(&v.d, &v.key, &v.deleting)
		return v, err
	}, `SELECT digest, storage_key, deleting FROM blobs WHERE digest IN `+list+` ORDER BY digest`+g.forUpdate(), args...)
	if err != nil {
		return wrapErr(err, "meta: finish deletes")
	}
	for _, v := range got {
		rows[v.d] = v.row
	}
	var finished, missing []digest.Digest
	seen := map[digest.Digest]bool{}
	for i, c := range cs {
		r, ok := rows[c.Digest]
		switch {
		case !ok: // another worker finished it
			if !seen[c.Digest] {
				missing = append(missing, c.Digest)
			}
		case r.deleting && r.key == c.Key:
			if !seen[c.Digest] {
				finished = append(finished, c.Digest)
				done[i] = true
			}
		}
		seen[c.Digest] = true
	}
	if len(missing) > 0 {
		l, a := in(missing)
		if _, err := g.q.ExecContext(ctx, `DELETE FROM gc_blob_reviews WHERE blob_digest IN `+l, a...); err != nil {
			return wrapErr(err, "meta: finish deletes")
		}
	}
	if len(finished) == 0 {
		return nil
	}
	l, a := in(finished)
	type link struct {
		d    digest.Digest
		repo string
	}
	links, err := queryAll(ctx, g.q, func(r rowScanner) (link, error) {
		var v link
		err := r.Scan(&v.d, &v.repo)
		return v, err
	}, `SELECT rb.blob_digest, r.name FROM repository_blobs AS rb
		JOIN repositories AS r ON r.id = rb.repository_id WHERE rb.blob_digest IN `+l+` ORDER BY r.name, rb.blob_digest`, a...)
	if err != nil {
		return wrapErr(err, "meta: finish deletes")
	}
	for _, q := range []string{
		`DELETE FROM gc_blob_reviews WHERE blob_digest IN ` + l,
		`DELETE FROM repository_blobs WHERE blob_digest IN ` + l,
		`DELETE FROM blobs WHERE digest IN ` + l,
	} {
		if _, err := g.q.ExecContext(ctx, q, a...); err != nil {
			return wrapErr(err, "meta: finish deletes")
		}
	}
	for i := 0; i < len(links); {
		j := i
		var ds []digest.Digest
		for ; j < len(links) && links[j].repo == links[i].repo; j++ {
			ds = append(ds, links[j].d)
		}
		if err := g.releaseRepoDigests(ctx, links[i].repo, ds); err != nil {
			return err
		}
		i = j
	}
	return nil
}

func (g *GC) finish(ctx context.Context, d digest.Digest, key string) (bool, error) {
	var (
		cur      string
		deleting bool
	)
	err := g.q.QueryRowContext(ctx, `SELECT storage_key, deleting FROM blobs WHERE digest = $1`+g.forUpdate(), d).
		Scan(&cur, &deleting)
	switch {
	case errors.Is(err, sql.ErrNoRows): // another worker finished it
		return false, g.dropReview(ctx, d)
	case err != nil:
		return false, wrapErr(err, "meta: finish delete of %s", d)
	}
	if !deleting || cur != key {
		return false, nil
	}
	repos, err := queryStrings(ctx, g.q, `SELECT r.name FROM repository_blobs AS rb
		JOIN repositories AS r ON r.id = rb.repository_id WHERE rb.blob_digest = $1 ORDER BY r.name`, d)
	if err != nil {
		return false, wrapErr(err, "meta: finish delete of %s", d)
	}
	for _, q := range []string{
		`DELETE FROM gc_blob_reviews WHERE blob_digest = $1`,
		`DELETE FROM repository_blobs WHERE blob_digest = $1`,
		`DELETE FROM blobs WHERE digest = $1`,
	} {
		if _, err := g.q.ExecContext(ctx, q, d); err != nil {
			return false, wrapErr(err, "meta: finish delete of %s", d)
		}
	}
	for _, r := range repos {
		if err := g.releaseRepoDigests(ctx, r, []digest.Digest{d}); err != nil {
			return false, err
		}
	}
	return true, nil
}

// FailDelete records that deleting blob d's object failed and retries it
// later, backing off with the number of attempts (up to an hour).
func (g *GC) FailDelete(ctx context.Context, d digest.Digest, cause error) error {
	var attempts int
	err := g.q.QueryRowContext(ctx, `UPDATE gc_blob_reviews SET attempts = attempts + 1, last_error = $2
		WHERE blob_digest = $1 RETURNING attempts`, d, truncate(cause.Error(), 500)).Scan(&attempts)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return wrapErr(err, "meta: record gc failure of %s", d)
	}
	backoff := min(time.Duration(1<<min(attempts, 12))*time.Second, time.Hour)
	return g.postpone(ctx, d, g.timestamp().Add(backoff))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Candidate is a blob a GC run would delete now.
type Candidate struct {
	Digest digest.Digest
	Size   int64
}

// Candidates lists up to limit blobs, after after in digest order, whose
// review is due and that nothing keeps (no manifest reference, no link
// younger than the grace period): what a run would delete (dry run).
func (g *GC) Candidates(ctx context.Context, opts ClaimOptions, after digest.Digest, limit int) ([]Candidate, error) {
	if limit <= 0 {
		return []Candidate{}, nil
	}
	cond, cut, grace := g.due(opts, "$4")
	out, err := queryAll(ctx, g.q, func(row rowScanner) (Candidate, error) {
		var c Candidate
		err := row.Scan(&c.Digest, &c.Size)
		return c, err
	}, `SELECT b.digest, b.size FROM gc_blob_reviews AS v JOIN blobs AS b ON b.digest = v.blob_digest
		WHERE `+strings.NewReplacer("queued_at", "v.queued_at", "not_before", "v.not_before", "review_after", "v.review_after").Replace(cond)+` AND b.digest > $2
		AND NOT EXISTS (SELECT 1 FROM manifest_blob_refs AS mb WHERE mb.blob_digest = b.digest)
		AND NOT EXISTS (SELECT 1 FROM repository_blobs AS rb WHERE rb.blob_digest = b.digest AND rb.linked_at > $3)
		AND NOT EXISTS (SELECT 1 FROM gc_leases AS l WHERE l.expires_at > $4 AND l.snapshot_at <= v.queued_at)
		ORDER BY b.digest LIMIT $5`, cut, after, g.timestamp().Add(-grace), g.timestamp(), limit)
	if err != nil {
		return nil, wrapErr(err, "meta: gc candidates")
	}
	return out, nil
}

// QueueStats describes the review queue.
type QueueStats struct {
	Reviews int // queued reviews
	Due     int // of which due now
	// OldestDue is the review_after of the oldest due review (zero: none).
	OldestDue time.Time
	// PendingBytes are the bytes of queued blobs no manifest references.
	PendingBytes int64
}

// Stats returns the review queue's figures.
func (g *GC) Stats(ctx context.Context) (QueueStats, error) {
	var (
		s      QueueStats
		oldest flexTime
	)
	now := g.timestamp()
	err := g.q.QueryRowContext(ctx, `SELECT COUNT(*),
		COALESCE(SUM(CASE WHEN review_after <= $1 THEN 1 ELSE 0 END), 0),
		MIN(CASE WHEN review_after <= $1 THEN review_after END)
		FROM gc_blob_reviews`, now).Scan(&s.Reviews, &s.Due, &oldest)
	if err != nil {
		return QueueStats{}, wrapErr(err, "meta: gc queue")
	}
	s.OldestDue = oldest.Time
	if err := g.q.QueryRowContext(ctx, `SELECT CAST(COALESCE(SUM(b.size), 0) AS BIGINT)
		FROM gc_blob_reviews AS v JOIN blobs AS b ON b.digest = v.blob_digest
		WHERE NOT EXISTS (SELECT 1 FROM manifest_blob_refs AS mb WHERE mb.blob_digest = b.digest)`).Scan(&s.PendingBytes); err != nil {
		return QueueStats{}, wrapErr(err, "meta: gc pending bytes")
	}
	return s, nil
}

// AcquireLease records a backup lease: until expires, garbage collection
// deletes no blob that lost its last reference at or after snapshotAt (the
// backup's read point). This is the hook for backups (issue 11).
func (g *GC) AcquireLease(ctx context.Context, id, holder string, snapshotAt, expires time.Time) error {
	if _, err := g.q.ExecContext(ctx, `INSERT INTO gc_leases (id, holder, snapshot_at, expires_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at`, id, holder, micro(snapshotAt), micro(expires)); err != nil {
		return wrapErr(err, "meta: acquire gc lease %s", id)
	}
	return nil
}

// ReleaseLease ends lease id (missing is not an error). Reviews it
// postponed stay postponed until the expiry it was acquired with.
func (g *GC) ReleaseLease(ctx context.Context, id string) error {
	if _, err := g.q.ExecContext(ctx, `DELETE FROM gc_leases WHERE id = $1`, id); err != nil {
		return wrapErr(err, "meta: release gc lease %s", id)
	}
	return nil
}

// String makes a Claim readable in logs and test failures.
func (c Claim) String() string { return fmt.Sprintf("%s %s (%d bytes)", c.Outcome, c.Digest, c.Size) }

// Unreviewed counts blobs no manifest references and no review will look
// at: garbage that online collection would never free (fsck reports them;
// there should be none).
func (g *GC) Unreviewed(ctx context.Context) (int, error) {
	var n int
	if err := g.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM blobs AS b
		WHERE NOT EXISTS (SELECT 1 FROM manifest_blob_refs AS mb WHERE mb.blob_digest = b.digest)
		AND NOT EXISTS (SELECT 1 FROM gc_blob_reviews AS v WHERE v.blob_digest = b.digest)`).Scan(&n); err != nil {
		return 0, wrapErr(err, "meta: unreviewed blobs")
	}
	return n, nil
}
