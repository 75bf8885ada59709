package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/backup"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/storage"
	"github.com/berth-registry/berth/internal/storage/filesystem"
	"github.com/berth-registry/berth/internal/storage/s3"
)

// BackupOptions are the flags of `berth backup`, `backup verify`,
// `backup list` and `restore`.
type BackupOptions struct {
	// Location is the backup repository: a directory, or
	// s3://bucket/prefix (reached with the storage.s3 settings: endpoint,
	// keys, region, path style).
	Location string
	// Snapshot selects a snapshot (verify, restore); "" is the newest.
	Snapshot string
	// Force lets a restore replace a target that is not empty.
	Force bool
	// Workers copy blobs in parallel (default 4).
	Workers int
	// Progress, if not nil, replaces the bar or log lines.
	Progress backup.Progress
}

func (o BackupOptions) progress(ctx context.Context, out io.Writer, log *slog.Logger, label string) backup.Progress {
	if o.Progress != nil {
		return o.Progress
	}
	return progressFor(ctx, out, log, label)
}

// openRepo opens a backup repository. An s3:// location takes the
// endpoint, credentials and addressing of cfg.Storage.S3, with its own
// bucket and key prefix.
func openRepo(ctx context.Context, cfg config.Config, loc string) (storage.Driver, error) {
	if loc == "" {
		return nil, errors.New("backup: no location: want --to/--from DIR or s3://bucket/prefix")
	}
	rest, ok := strings.CutPrefix(loc, "s3://")
	if !ok {
		if strings.Contains(loc, "://") {
			return nil, fmt.Errorf("backup: location %q: want a directory or s3://bucket/prefix", loc)
		}
		d, err := filesystem.New(loc)
		if err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
		return d, nil
	}
	if hasUserinfo(loc) {
		return nil, errors.New("backup: an s3:// location takes no credentials: set storage.s3.accesskey and secretkey (or the AWS credential chain)")
	}
	bucket, prefix, _ := strings.Cut(rest, "/")
	if bucket == "" {
		return nil, fmt.Errorf("backup: location %q names no bucket", loc)
	}
	c := s3.Config(cfg.Storage.S3)
	c.Bucket, c.RootDirectory = bucket, strings.Trim(prefix, "/")
	if c.ChunkSize < 5<<20 {
		c.ChunkSize = 10 << 20
	}
	d, err := s3.New(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("backup: s3 location: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := d.Check(cctx); err != nil {
		return nil, fmt.Errorf("backup: s3 location: %w", err)
	}
	return d, nil
}

// progressFor draws a bar when out is a terminal and logs lines otherwise.
func progressFor(ctx context.Context, out io.Writer, log *slog.Logger, label string) backup.Progress {
	if f, ok := out.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			return backup.Bar(out, label)
		}
	}
	return backup.Lines(ctx, log, label, 5*time.Second)
}

// Backup writes a snapshot of the configured registry to opts.Location and
// prints its summary to out; progress goes to progress (a bar on a
// terminal, log lines otherwise).
func Backup(ctx context.Context, cfg config.Config, log *slog.Logger, opts BackupOptions, out, progress io.Writer) (backup.Summary, error) {
	store, err := openStore(ctx, cfg)
	if err != nil {
		return backup.Summary{}, err
	}
	defer store.Close()
	drv, err := openStorage(ctx, cfg.Storage)
	if err != nil {
		return backup.Summary{}, err
	}
	repo, err := openRepo(ctx, cfg, opts.Location)
	if err != nil {
		return backup.Summary{}, err
	}
	reg := backup.Registry{DB: store.DB(), Dialect: store.Dialect(), Storage: drv, Leases: store.GC}
	sum, err := backup.Backup(ctx, reg, repo, backup.Options{
		Workers: opts.Workers, Log: log, Progress: opts.progress(ctx, progress, log, "backup"),
	})
	if err != nil {
		return sum, err
	}
	printSummary(out, "backup", sum)
	return sum, nil
}

func printSummary(out io.Writer, what string, s backup.Summary) {
	fmt.Fprintf(out, "%s %s: %d manifests, %d tags, %d blobs (%d copied, %d skipped), %d bytes copied of %d, %.1f s, %.1f MB/s\n",
		what, s.SnapshotID, s.Manifests, s.Tags, s.Blobs, s.BlobsCopied, s.BlobsSkipped, s.BytesCopied, s.Bytes,
		s.Duration.Seconds(), s.MBps())
	if s.Collected > 0 {
		fmt.Fprintf(out, "%d unreferenced blobs were collected by GC while the backup ran (recorded as such)\n", s.Collected)
	}
}

// BackupVerify reads a snapshot completely and names every problem.
func BackupVerify(ctx context.Context, cfg config.Config, log *slog.Logger, opts BackupOptions, out, progress io.Writer) error {
	repo, err := openRepo(ctx, cfg, opts.Location)
	if err != nil {
		return err
	}
	id := opts.Snapshot
	if id == "" {
		m, err := backup.Latest(ctx, repo)
		if err != nil {
			return err
		}
		id = m.ID
	}
	rep, err := backup.Verify(ctx, repo, id, backup.Options{Workers: opts.Workers, Log: log, Progress: opts.progress(ctx, progress, log, "verify")})
	for _, p := range rep.Problems {
		fmt.Fprintln(out, "PROBLEM", p)
	}
	fmt.Fprintf(out, "snapshot %s: %d tables, %d rows, %d blobs (%d bytes) read, %d problems\n",
		rep.SnapshotID, rep.Tables, rep.Rows, rep.Blobs, rep.Bytes, len(rep.Problems))
	return err
}

// BackupList prints the snapshots of a backup repository, oldest first.
func BackupList(ctx context.Context, cfg config.Config, opts BackupOptions, out io.Writer) error {
	repo, err := openRepo(ctx, cfg, opts.Location)
	if err != nil {
		return err
	}
	ms, err := backup.List(ctx, repo)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%-28s %-20s %-8s %10s %8s %8s %14s\n", "SNAPSHOT", "TAKEN (UTC)", "SOURCE", "MANIFESTS", "TAGS", "BLOBS", "BYTES")
	for _, m := range ms {
		fmt.Fprintf(out, "%-28s %-20s %-8s %10d %8d %8d %14d\n", m.ID, m.CreatedAt.UTC().Format("2006-01-02 15:04:05"),
			m.Source.Dialect, m.Counts.Manifests, m.Counts.Tags, m.Counts.Blobs, m.Counts.BlobBytes)
	}
	return nil
}

// Restore writes a snapshot into the configured database and storage:
// both migrated first; the database must be empty unless opts.Force.
func Restore(ctx context.Context, cfg config.Config, log *slog.Logger, opts BackupOptions, out, progress io.Writer) (backup.Summary, error) {
	repo, err := openRepo(ctx, cfg, opts.Location)
	if err != nil {
		return backup.Summary{}, err
	}
	store, err := openStore(ctx, cfg)
	if err != nil {
		return backup.Summary{}, err
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil {
		return backup.Summary{}, fmt.Errorf("migrate: %w", err)
	}
	if err := jobs.Migrate(ctx, cfg.Database.URL, log); err != nil {
		return backup.Summary{}, fmt.Errorf("migrate: %w", err)
	}
	drv, err := openStorage(ctx, cfg.Storage)
	if err != nil {
		return backup.Summary{}, err
	}
	dst := backup.Registry{DB: store.DB(), Dialect: store.Dialect(), Storage: drv}
	sum, err := backup.Restore(ctx, repo, opts.Snapshot, dst, opts.Force, backup.Options{
		Workers: opts.Workers, Log: log, Progress: opts.progress(ctx, progress, log, "restore"),
	})
	if err != nil {
		return sum, err
	}
	printSummary(out, "restore", sum)
	return sum, nil
}
