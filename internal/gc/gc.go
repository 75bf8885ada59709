// Package gc collects garbage online: it works the blob review queue that
// the metadata store fills in the same transactions that remove
// references (docs/design/gc.md). Any number of collectors, on any number
// of replicas or beside them (`berth gc`), may run at once: each review is
// taken by one of them (SKIP LOCKED on PostgreSQL; SQLite has one writer).
//
// It must not import net/http or any edge package.
package gc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/storage"
)

// Store is meta.GC as a collector uses it.
type Store interface {
	ClaimBatch(ctx context.Context, opts meta.ClaimOptions, n int) ([]meta.Claim, error)
	FinishDeletes(ctx context.Context, cs []meta.Claim) ([]bool, error)
	FailDelete(ctx context.Context, d digest.Digest, cause error) error
	Candidates(ctx context.Context, opts meta.ClaimOptions, after digest.Digest, limit int) ([]meta.Candidate, error)
}

// ReadOnly says whether the read_only setting is on (*settings.Settings);
// garbage collection pauses while it is.
type ReadOnly interface {
	ReadOnly(ctx context.Context) (bool, error)
}

// Options bound one sweep.
type Options struct {
	// DryRun lists what would be deleted and changes nothing.
	DryRun bool
	// Grace, when >= 0, replaces the configured grace period for this
	// sweep (`berth gc --grace`); < 0 uses the configured one.
	Grace time.Duration
	// MaxReviews bounds the reviews one sweep decides; 0: no bound (until
	// nothing is due).
	MaxReviews int
	// Workers is how many reviews are worked at once (PostgreSQL; SQLite
	// has one writer anyway); 0 or 1: one.
	Workers int
	// DeleteHold: see meta.ClaimOptions (tests shorten it).
	DeleteHold time.Duration
	// BatchSize is how many reviews one transaction decides; 0:
	// DefaultBatchSize.
	BatchSize int
}

// Report says what a sweep did.
type Report struct {
	DryRun       bool
	Paused       bool // read-only mode was on: nothing was done
	Reviewed     int
	BlobsDeleted int
	BytesFreed   int64
	Kept         int // still referenced (or gone already)
	Postponed    int // a fresh link, a backup lease or a busy row
	Failed       int // storage deletes that failed (retried later)
	// Deleted lists the digests deleted (or, dry run, that would be),
	// at most MaxListed of them.
	Deleted []digest.Digest
	Elapsed time.Duration
}

// MaxListed bounds Report.Deleted.
const MaxListed = 1000

// String is the report as a log (Harbor's GC log shows the same figures).
func (r Report) String() string {
	var b strings.Builder
	verb := "deleted"
	if r.DryRun {
		verb = "would delete"
	}
	if r.Paused {
		return "read-only mode is on: garbage collection paused\n"
	}
	fmt.Fprintf(&b, "reviewed %d blobs; %s %d blobs, %d bytes; kept %d; postponed %d; failed %d; in %s\n",
		r.Reviewed, verb, r.BlobsDeleted, r.BytesFreed, r.Kept, r.Postponed, r.Failed, r.Elapsed.Round(time.Millisecond))
	for _, d := range r.Deleted {
		fmt.Fprintf(&b, "%s %s\n", verb, d)
	}
	return b.String()
}

// Collector deletes blobs nothing references once their grace has passed.
type Collector struct {
	store    Store
	drv      storage.Driver
	readOnly ReadOnly // may be nil
	log      *slog.Logger
	metrics  *Metrics // may be nil
}

// New returns a Collector; readOnly and metrics may be nil.
func New(store Store, drv storage.Driver, readOnly ReadOnly, metrics *Metrics, log *slog.Logger) *Collector {
	return &Collector{store: store, drv: drv, readOnly: readOnly, metrics: metrics, log: log}
}

// Sweep works due reviews until none is left (or opts.MaxReviews, or ctx
// ends). While read-only mode is on it does nothing (Report.Paused).
func (c *Collector) Sweep(ctx context.Context, opts Options) (Report, error) {
	start := time.Now()
	r := Report{DryRun: opts.DryRun}
	defer func() { r.Elapsed = time.Since(start) }()
	if c.readOnly != nil {
		on, err := c.readOnly.ReadOnly(ctx)
		if err != nil {
			return r, fmt.Errorf("gc: read-only setting: %w", err)
		}
		if on {
			r.Paused = true
			return r, nil
		}
	}
	claim := meta.ClaimOptions{Grace: opts.Grace, DeleteHold: opts.DeleteHold}
	if opts.DryRun {
		err := c.dryRun(ctx, claim, opts, &r)
		r.Elapsed = time.Since(start)
		return r, err
	}
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	work := func() {
		for {
			mu.Lock()
			n := DefaultBatchSize
			if opts.BatchSize > 0 {
				n = opts.BatchSize
			}
			if opts.MaxReviews > 0 {
				n = min(n, opts.MaxReviews-r.Reviewed)
			}
			stop := firstErr != nil || n <= 0
			if !stop {
				r.Reviewed += n // reserved; what was not due is given back
			}
			mu.Unlock()
			if stop {
				return
			}
			got, err := c.batch(ctx, claim, n, &r, &mu)
			mu.Lock()
			r.Reviewed -= n - got
			mu.Unlock()
			if errors.Is(err, meta.ErrNoReview) {
				return
			}
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				return
			}
		}
	}
	for range max(opts.Workers, 1) {
		wg.Go(work)
	}
	wg.Wait()
	if firstErr != nil {
		return r, firstErr
	}
	r.Elapsed = time.Since(start)
	if r.BlobsDeleted > 0 || r.Failed > 0 {
		c.log.InfoContext(ctx, "garbage collected", "blobs", r.BlobsDeleted, "bytes", r.BytesFreed,
			"failed", r.Failed, "elapsed", r.Elapsed.String())
	}
	return r, nil
}

// DefaultBatchSize is how many reviews one transaction decides: enough to
// save commits (a commit is an fsync on SQLite), few enough that pushers
// waiting for those rows wait little (a batch of 200 is decided in tens
// of milliseconds).
const DefaultBatchSize = 200

// batch takes and decides up to n reviews, deletes the objects of those
// marked, then their rows; it returns how many reviews it took
// (meta.ErrNoReview when none was due).
func (c *Collector) batch(ctx context.Context, claim meta.ClaimOptions, n int, r *Report, mu *sync.Mutex) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	cls, err := c.store.ClaimBatch(ctx, claim, n)
	if errors.Is(err, meta.ErrNoReview) {
		return 0, err
	}
	if err != nil {
		return 0, fmt.Errorf("gc: %w", err)
	}
	var gone, marked []meta.Claim
	batched := c.deleteBatch(ctx, cls)
	for _, cl := range cls {
		switch cl.Outcome {
		case meta.ClaimDelete:
			if batched {
				gone = append(gone, cl)
			} else {
				marked = append(marked, cl)
			}
		case meta.ClaimWait:
			mu.Lock()
			r.Postponed++
			mu.Unlock()
		default:
			mu.Lock()
			r.Kept++
			mu.Unlock()
		}
	}
	if len(marked) > 0 {
		deleted, err := c.deleteObjects(ctx, marked, r, mu)
		if err != nil {
			return len(cls), err
		}
		gone = append(gone, deleted...)
	}
	if len(gone) == 0 {
		return len(cls), nil
	}
	done, err := c.store.FinishDeletes(ctx, gone)
	if err != nil {
		return len(cls), fmt.Errorf("gc: %w", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, cl := range gone {
		if !done[i] { // revived by an upload at another key meanwhile
			r.Kept++
			continue
		}
		r.BlobsDeleted++
		r.BytesFreed += cl.Size
		if len(r.Deleted) < MaxListed {
			r.Deleted = append(r.Deleted, cl.Digest)
		}
		if c.metrics != nil {
			c.metrics.deleted.Inc()
			c.metrics.freed.Add(float64(cl.Size))
		}
	}
	return len(cls), nil
}

// deleteBatch removes the objects of every claim of cls marked for
// deletion in one call when the driver deletes in batches
// (storage.BatchDeleter: S3's DeleteObjects), and reports whether it did.
// On a failure the caller deletes them one by one, which tells which
// failed.
func (c *Collector) deleteBatch(ctx context.Context, cls []meta.Claim) bool {
	bd, ok := c.drv.(storage.BatchDeleter)
	if !ok {
		return false
	}
	var keys []string
	for _, cl := range cls {
		if cl.Outcome == meta.ClaimDelete {
			keys = append(keys, objectKeys(cl)...)
		}
	}
	if len(keys) < 2 {
		return false
	}
	if err := bd.DeleteMany(ctx, keys); err != nil {
		c.log.WarnContext(ctx, "gc: batch delete failed, deleting one by one", "keys", len(keys), "err", err)
		return false
	}
	return true
}

// objectKeys are the storage keys of a claimed blob: its object and, when
// it lives at an upload key, the digest sidecar.
func objectKeys(cl meta.Claim) []string {
	keys := []string{cl.Key}
	if k, ok := strings.CutSuffix(cl.Key, "/data"); ok {
		keys = append(keys, k+"/digest")
	}
	return keys
}

// deleteParallel bounds the object deletes one batch runs at once on a
// driver without batch deletes (the filesystem): a delete mostly waits
// for the file system, so a few at a time go several times faster
// (docs/design/gc.md, "Batches").
const deleteParallel = 8

// deleteObjects removes the objects of cls (claims marked for deletion),
// up to deleteParallel at a time, and returns those deleted, in order.
func (c *Collector) deleteObjects(ctx context.Context, cls []meta.Claim, r *Report, mu *sync.Mutex) ([]meta.Claim, error) {
	ok := make([]bool, len(cls))
	errs := make([]error, len(cls))
	sem := make(chan struct{}, deleteParallel)
	var wg sync.WaitGroup
	for i, cl := range cls {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ok[i], errs[i] = c.deleteObject(ctx, cl, r, mu)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var out []meta.Claim
	for i, cl := range cls {
		if ok[i] {
			out = append(out, cl)
		}
	}
	return out, nil
}

// deleteObject removes a claimed blob's object (and its digest sidecar
// when the blob lives at an upload key). A storage failure leaves the blob
// marked and its review postponed (ok false): a later worker finishes it.
func (c *Collector) deleteObject(ctx context.Context, cl meta.Claim, r *Report, mu *sync.Mutex) (bool, error) {
	for _, k := range objectKeys(cl) {
		if err := c.drv.Delete(ctx, k); err != nil {
			mu.Lock()
			r.Failed++
			mu.Unlock()
			c.log.WarnContext(ctx, "gc: delete blob object", "digest", cl.Digest.String(), "key", k, "err", err)
			if ferr := c.store.FailDelete(ctx, cl.Digest, err); ferr != nil {
				return false, fmt.Errorf("gc: %w", ferr)
			}
			return false, nil
		}
	}
	return true, nil
}

func (c *Collector) dryRun(ctx context.Context, claim meta.ClaimOptions, opts Options, r *Report) error {
	var after digest.Digest
	for {
		page, err := c.store.Candidates(ctx, claim, after, 500)
		if err != nil {
			return fmt.Errorf("gc: %w", err)
		}
		for _, cand := range page {
			r.Reviewed++
			r.BlobsDeleted++
			r.BytesFreed += cand.Size
			if len(r.Deleted) < MaxListed {
				r.Deleted = append(r.Deleted, cand.Digest)
			}
			if opts.MaxReviews > 0 && r.Reviewed >= opts.MaxReviews {
				return nil
			}
		}
		if len(page) < 500 {
			return nil
		}
		after = page[len(page)-1].Digest
	}
}
