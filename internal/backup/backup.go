package backup

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/storage"
	"github.com/berth-registry/berth/internal/version"
)

// Leaser pins blobs against garbage collection while a backup runs
// (meta.GC's AcquireLease and ReleaseLease).
type Leaser interface {
	AcquireLease(ctx context.Context, id, holder string, snapshotAt, expires time.Time) error
	ReleaseLease(ctx context.Context, id string) error
}

// Registry is what a backup reads: the metadata database and the blob
// storage of a registry, and its garbage collector's lease hook.
type Registry struct {
	DB      *sql.DB
	Dialect string // DialectSQLite or DialectPostgres
	Storage storage.Driver
	Leases  Leaser // nil: no lease (restore targets)
}

// Options tune a backup or a restore.
type Options struct {
	// Workers is how many blobs are copied at once (default 4).
	Workers int
	// Progress, if not nil, is told about every blob.
	Progress Progress
	Log      *slog.Logger
	// Holder names the backup in its GC lease (default "berth backup").
	Holder string
}

func (o Options) workers() int {
	if o.Workers <= 0 {
		return 4
	}
	return min(o.Workers, 32)
}

func (o Options) log() *slog.Logger {
	if o.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Log
}

// Summary is what a backup or a restore did.
type Summary struct {
	SnapshotID   string
	Manifests    int64
	Tags         int64
	Blobs        int64 // blobs the snapshot holds
	BlobsCopied  int64
	BlobsSkipped int64 // already in the target
	Bytes        int64 // blob bytes the snapshot holds
	BytesCopied  int64
	Collected    int // blobs garbage collection deleted during the backup
	Duration     time.Duration
}

// MBps is the rate at which blob bytes were copied, in MB/s (10^6 bytes).
func (s Summary) MBps() float64 {
	if s.Duration <= 0 {
		return 0
	}
	return float64(s.BytesCopied) / 1e6 / s.Duration.Seconds()
}

// Lease timing: a lease is taken with its read point leaseSkew earlier
// than the snapshot (replicas' clocks may differ by that much), lasts
// leaseTTL and is renewed every leaseRenew while the backup runs.
const (
	leaseSkew  = 5 * time.Minute
	leaseTTL   = 10 * time.Minute
	leaseRenew = time.Minute
)

// ErrBlobLost: a blob the snapshot's manifests reference disappeared from
// the registry's storage while the backup copied it. The snapshot is not
// written.
var ErrBlobLost = errors.New("backup: a referenced blob is missing from storage")

// blobRow is a blob row of the snapshot.
type blobRow struct {
	Digest     digest.Digest
	Size       int64
	Key        string
	Referenced bool // a manifest of the snapshot references it
}

// Backup writes a snapshot of reg into the backup repository repo: the
// metadata read in one read transaction, then every blob the snapshot
// holds that repo lacks, verified as it is copied. The manifest is written
// last. A garbage collection lease keeps the snapshot's blobs while it runs.
func Backup(ctx context.Context, reg Registry, repo storage.Driver, opts Options) (Summary, error) {
	start := time.Now()
	log := opts.log()
	id := newID(start)
	sum := Summary{SnapshotID: id}

	// 1. The lease, before the read point, renewed until the end.
	if reg.Leases != nil {
		holder := opts.Holder
		if holder == "" {
			holder = "berth backup"
		}
		leaseID := "backup-" + id
		at := start.Add(-leaseSkew)
		if err := reg.Leases.AcquireLease(ctx, leaseID, holder, at, time.Now().Add(leaseTTL)); err != nil {
			return sum, fmt.Errorf("backup: gc lease: %w", err)
		}
		lctx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(leaseRenew)
			defer t.Stop()
			for {
				select {
				case <-lctx.Done():
					return
				case <-t.C:
					if err := reg.Leases.AcquireLease(lctx, leaseID, holder, at, time.Now().Add(leaseTTL)); err != nil && lctx.Err() == nil {
						log.WarnContext(lctx, "backup: renewing the gc lease failed", "err", err)
					}
				}
			}
		}()
		defer func() {
			stop()
			wg.Wait()
			if err := reg.Leases.ReleaseLease(context.WithoutCancel(ctx), leaseID); err != nil {
				log.WarnContext(ctx, "backup: releasing the gc lease failed (it expires by itself)", "err", err)
			}
		}()
	}

	// 2. The metadata, in one read transaction.
	m := Manifest{Format: FormatName, Version: FormatVersion, ID: id, BerthVersion: version.String()}
	blobs, err := dumpTables(ctx, reg, repo, &m)
	if err != nil {
		return sum, err
	}
	log.InfoContext(ctx, "backup: metadata written", "snapshot", id, "tables", len(m.Tables), "blobs", len(blobs))

	// 3. The blobs.
	var total int64
	for _, b := range blobs {
		total += b.Size
	}
	p := opts.Progress
	if p == nil {
		p = nopProgress{}
	}
	p.Start(int64(len(blobs)), total)
	var (
		mu        sync.Mutex
		collected []digest.Digest
		lost      []error
	)
	err = forEach(ctx, opts.workers(), blobs, func(ctx context.Context, b blobRow) error {
		copied, err := copyIfMissing(ctx, reg.Storage, b.Key, repo, blobKey(b.Digest), b.Digest, b.Size, p)
		if errors.Is(err, storage.ErrNotFound) {
			// GC deleted the object, and an upload of the same digest may
			// have revived the blob at another key since: copy from there.
			if _, key, cerr := currentBlob(ctx, reg.DB, b.Digest); cerr == nil && key != "" && key != b.Key {
				copied, err = copyIfMissing(ctx, reg.Storage, key, repo, blobKey(b.Digest), b.Digest, b.Size, p)
			}
		}
		switch {
		case err == nil:
			mu.Lock()
			if copied {
				sum.BlobsCopied++
				sum.BytesCopied += b.Size
			} else {
				sum.BlobsSkipped++
			}
			mu.Unlock()
			p.Blob(b.Size, copied)
			return nil
		case errors.Is(err, storage.ErrNotFound):
			gone, _, cerr := currentBlob(ctx, reg.DB, b.Digest)
			if cerr != nil {
				return cerr
			}
			mu.Lock()
			defer mu.Unlock()
			if gone && !b.Referenced {
				collected = append(collected, b.Digest)
				return nil
			}
			lost = append(lost, fmt.Errorf("%w: %s at %s", ErrBlobLost, b.Digest, b.Key))
			return nil
		}
		return err
	})
	p.Done()
	if err != nil {
		return sum, err
	}
	if len(lost) > 0 {
		return sum, errors.Join(lost...)
	}

	// 4. The manifest, last.
	for _, b := range blobs {
		if !containsDigest(collected, b.Digest) {
			m.Blobs = append(m.Blobs, BlobRef{Digest: b.Digest, Size: b.Size})
			m.Counts.Blobs++
			m.Counts.BlobBytes += b.Size
		}
	}
	m.Collected = collected
	m.FinishedAt = time.Now().UTC()
	if err := writeJSON(ctx, repo, snapshotKey(id, manifestFile), m); err != nil {
		return sum, err
	}
	sum.Manifests, sum.Tags = m.Counts.Manifests, m.Counts.Tags
	sum.Blobs, sum.Bytes, sum.Collected = m.Counts.Blobs, m.Counts.BlobBytes, len(collected)
	sum.Duration = time.Since(start)
	log.InfoContext(ctx, "backup: snapshot written", "snapshot", id, "blobs_copied", sum.BlobsCopied,
		"blobs_skipped", sum.BlobsSkipped, "bytes_copied", sum.BytesCopied, "seconds", sum.Duration.Seconds())
	return sum, nil
}

func containsDigest(ds []digest.Digest, d digest.Digest) bool {
	for _, x := range ds {
		if x == d {
			return true
		}
	}
	return false
}

// currentBlob looks blob d up in the registry now: gone when its row is
// deleted or being deleted by garbage collection (its object missing is
// then no accident), otherwise where its object lives.
func currentBlob(ctx context.Context, db *sql.DB, d digest.Digest) (gone bool, key string, err error) {
	var deleting bool
	err = db.QueryRowContext(ctx, `SELECT deleting, storage_key FROM blobs WHERE digest = $1`, d.String()).Scan(&deleting, &key)
	if errors.Is(err, sql.ErrNoRows) {
		return true, "", nil
	}
	if err != nil {
		return false, "", fmt.Errorf("backup: look up %s: %w", d, err)
	}
	if deleting {
		return true, "", nil
	}
	return false, key, nil
}

// newID makes a snapshot id that sorts by time: 20261202T001500Z-1a2b3c.
func newID(t time.Time) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return t.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

// beginRead opens the read transaction of a snapshot: REPEATABLE READ on
// PostgreSQL (one snapshot for every statement), a deferred read
// transaction on SQLite (WAL: one snapshot from the first read on, without
// blocking writers).
func beginRead(ctx context.Context, db *sql.DB, dialect string) (*sql.Tx, error) {
	opts := &sql.TxOptions{ReadOnly: true}
	if dialect == DialectPostgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("backup: begin read: %w", err)
	}
	return tx, nil
}

// dumpTables writes every table of reg's database into the snapshot, in
// one read transaction, fills m's tables, source and counts, and returns
// the blobs whose objects the snapshot needs.
func dumpTables(ctx context.Context, reg Registry, repo storage.Driver, m *Manifest) ([]blobRow, error) {
	tx, err := beginRead(ctx, reg.DB, reg.Dialect)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	m.Source.Dialect = reg.Dialect
	if m.Source.SchemaVersion, err = schemaVersion(ctx, tx); err != nil {
		return nil, err
	}
	// The read point: the first read of the transaction has fixed it.
	m.CreatedAt = time.Now().UTC()
	tables, err := readSchema(ctx, tx, reg.Dialect)
	if err != nil {
		return nil, err
	}
	for _, t := range tables {
		mt, err := dumpTable(ctx, tx, repo, m.ID, t)
		if err != nil {
			return nil, err
		}
		m.Tables = append(m.Tables, mt)
		switch t.Name {
		case "repositories":
			m.Counts.Repositories = mt.Rows
		case "manifests":
			m.Counts.Manifests = mt.Rows
		case "tags":
			m.Counts.Tags = mt.Rows
		case "users":
			m.Counts.Users = mt.Rows
		case "robots":
			m.Counts.Robots = mt.Rows
		case "projects":
			m.Counts.Projects = mt.Rows
		}
	}
	rows, err := tx.QueryContext(ctx, `SELECT b.digest, b.size, b.storage_key,
		EXISTS (SELECT 1 FROM manifest_blob_refs AS mb WHERE mb.blob_digest = b.digest)
		FROM blobs AS b WHERE b.deleting = $1 ORDER BY b.digest`, false)
	if err != nil {
		return nil, fmt.Errorf("backup: list blobs: %w", err)
	}
	defer rows.Close()
	var blobs []blobRow
	for rows.Next() {
		var b blobRow
		var d string
		if err := rows.Scan(&d, &b.Size, &b.Key, &b.Referenced); err != nil {
			return nil, fmt.Errorf("backup: list blobs: %w", err)
		}
		if b.Digest, err = digest.Parse(d); err != nil {
			return nil, fmt.Errorf("backup: blob row %q: %w", d, err)
		}
		blobs = append(blobs, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("backup: list blobs: %w", err)
	}
	return blobs, tx.Commit()
}

// dumpTable streams one table into tables/NAME.jsonl.gz of the snapshot.
func dumpTable(ctx context.Context, q queryer, repo storage.Driver, id string, t table) (Table, error) {
	mt := Table{Name: t.Name, File: "tables/" + t.Name + ".jsonl.gz"}
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = quoteIdent(c.Name)
		mt.Columns = append(mt.Columns, Column{Name: c.Name, Kind: c.Kind})
	}
	rows, err := q.QueryContext(ctx, `SELECT `+joinComma(cols)+` FROM `+quoteIdent(t.Name))
	if err != nil {
		return mt, fmt.Errorf("backup: read %s: %w", t.Name, err)
	}
	defer rows.Close()
	w, err := repo.Writer(ctx, snapshotKey(id, mt.File), 0)
	if err != nil {
		return mt, fmt.Errorf("backup: write %s: %w", mt.File, err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = w.Cancel(context.WithoutCancel(ctx))
		}
	}()
	bw := bufio.NewWriterSize(w, 1<<20)
	zw := gzip.NewWriter(bw)
	enc := json.NewEncoder(zw)
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	line := make([]any, len(cols))
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return mt, fmt.Errorf("backup: read %s: %w", t.Name, err)
		}
		for i, v := range vals {
			if line[i], err = encodeValue(v, t.Columns[i].Kind); err != nil {
				return mt, fmt.Errorf("backup: %s.%s: %w", t.Name, t.Columns[i].Name, err)
			}
		}
		if err := enc.Encode(line); err != nil {
			return mt, fmt.Errorf("backup: write %s: %w", mt.File, err)
		}
		mt.Rows++
	}
	if err := rows.Err(); err != nil {
		return mt, fmt.Errorf("backup: read %s: %w", t.Name, err)
	}
	if err := zw.Close(); err != nil {
		return mt, fmt.Errorf("backup: write %s: %w", mt.File, err)
	}
	if err := bw.Flush(); err != nil {
		return mt, fmt.Errorf("backup: write %s: %w", mt.File, err)
	}
	if err := w.Commit(ctx); err != nil {
		return mt, fmt.Errorf("backup: write %s: %w", mt.File, err)
	}
	ok = true
	return mt, nil
}

func joinComma(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}

// writeJSON stores v as indented JSON at key.
func writeJSON(ctx context.Context, repo storage.Driver, key string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	w, err := repo.Writer(ctx, key, 0)
	if err != nil {
		return fmt.Errorf("backup: write %s: %w", key, err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		_ = w.Cancel(context.WithoutCancel(ctx))
		return fmt.Errorf("backup: write %s: %w", key, err)
	}
	if err := w.Commit(ctx); err != nil {
		return fmt.Errorf("backup: write %s: %w", key, err)
	}
	return nil
}

// forEach runs fn on every item with n workers; the first error stops
// the others and is returned.
func forEach[T any](ctx context.Context, n int, items []T, fn func(context.Context, T) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ch := make(chan T)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range ch {
				if err := fn(ctx, it); err != nil {
					cancel(err)
					return
				}
			}
		}()
	}
feed:
	for _, it := range items {
		select {
		case ch <- it:
		case <-ctx.Done():
			break feed
		}
	}
	close(ch)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}
