package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/fsck"
)

// ErrFsckProblems is returned by Fsck when blobs are missing or mismatched,
// quota counters differ from a recount or garbage has no review queued.
var ErrFsckProblems = errors.New("fsck found missing or mismatched blobs")

// Fsck compares the database with storage and writes a report to out.
func Fsck(ctx context.Context, cfg config.Config, log *slog.Logger, opts fsck.Options, out io.Writer) error {
	store, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	drv, err := openStorage(ctx, cfg.Storage)
	if err != nil {
		return err
	}
	log.InfoContext(ctx, "fsck started", "rehash", opts.Rehash, "orphans", opts.Orphans)
	r, err := fsck.Run(ctx, fsck.Stores{Blobs: store.Blobs, Uploads: store.Uploads}, drv, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "blobs checked: %d (%d bytes)\n", r.Blobs, r.Bytes)
	if opts.Orphans {
		fmt.Fprintf(out, "stored objects walked: %d\n", r.Objects)
	}
	for _, k := range []string{fsck.Missing, fsck.SizeMismatch, fsck.DigestMismatch, fsck.Orphan} {
		fmt.Fprintf(out, "%s: %d\n", k, r.Count[k])
	}
	for _, p := range r.Problems {
		fmt.Fprintf(out, "%s\t%s\t%s\t%s\n", p.Kind, p.Digest, p.Key, p.Detail)
	}
	// Quota counters against a full recount, and garbage nothing will
	// collect.
	drift, err := store.Quotas.Recount(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "quota_drift: %d\n", len(drift))
	for _, d := range drift {
		fmt.Fprintf(out, "quota_drift\t%s\tcounted %d\trecounted %d\trows differing %d\n",
			d.ProjectName, d.Counted, d.Recounted, d.RowsDiffer)
	}
	unreviewed, err := store.GC.Unreviewed(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "unreviewed_garbage: %d\n", unreviewed)
	if !r.OK() || len(drift) > 0 || unreviewed > 0 {
		return ErrFsckProblems
	}
	return nil
}
