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
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/storage"
)

// Store is meta.GC as a collector uses it.
type Store interface {
	Claim(ctx context.Context, opts meta.ClaimOptions) (meta.Claim, error)
	FinishDelete(ctx context.Context, d digest.Digest, key string) (bool, error)
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
	claim := meta.ClaimOptions{Grace: opts.Grace}
	if opts.DryRun {
		err := c.dryRun(ctx, claim, opts, &r)
		r.Elapsed = time.Since(start)
		return r, err
	}
	for opts.MaxReviews <= 0 || r.Reviewed < opts.MaxReviews {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		cl, err := c.store.Claim(ctx, claim)
		if errors.Is(err, meta.ErrNoReview) {
			break
		}
		if err != nil {
			return r, fmt.Errorf("gc: %w", err)
		}
		r.Reviewed++
		switch cl.Outcome {
		case meta.ClaimDelete:
			if err := c.delete(ctx, cl, &r); err != nil {
				return r, err
			}
		case meta.ClaimWait:
			r.Postponed++
		default:
			r.Kept++
		}
	}
	r.Elapsed = time.Since(start)
	if r.BlobsDeleted > 0 || r.Failed > 0 {
		c.log.InfoContext(ctx, "garbage collected", "blobs", r.BlobsDeleted, "bytes", r.BytesFreed,
			"failed", r.Failed, "elapsed", r.Elapsed.String())
	}
	return r, nil
}

// delete removes a claimed blob's object (and its digest sidecar when the
// blob lives at an upload key), then its row. A storage failure leaves the
// blob marked and its review postponed: the next worker finishes it.
func (c *Collector) delete(ctx context.Context, cl meta.Claim, r *Report) error {
	keys := []string{cl.Key}
	if k, ok := strings.CutSuffix(cl.Key, "/data"); ok {
		keys = append(keys, k+"/digest")
	}
	for _, k := range keys {
		if err := c.drv.Delete(ctx, k); err != nil {
			r.Failed++
			c.log.WarnContext(ctx, "gc: delete blob object", "digest", cl.Digest.String(), "key", k, "err", err)
			if ferr := c.store.FailDelete(ctx, cl.Digest, err); ferr != nil {
				return fmt.Errorf("gc: %w", ferr)
			}
			return nil
		}
	}
	done, err := c.store.FinishDelete(ctx, cl.Digest, cl.Key)
	if err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	if !done { // revived by an upload at another key meanwhile
		r.Kept++
		return nil
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
	return nil
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
