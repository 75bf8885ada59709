package backup

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/berth-registry/berth/internal/storage"
)

// ErrNoSnapshot: the backup repository holds no (complete) snapshot by
// that id, or none at all.
var ErrNoSnapshot = errors.New("backup: no such snapshot")

// ErrVerify: a snapshot is damaged; the Report names every problem.
var ErrVerify = errors.New("backup: snapshot damaged")

// maxManifest bounds a manifest read (a million blobs is ~100 MB).
const maxManifest = 256 << 20

// ReadManifest reads snapshot id's manifest from repo.
func ReadManifest(ctx context.Context, repo storage.Driver, id string) (Manifest, error) {
	if !validID(id) {
		return Manifest{}, fmt.Errorf("%w: %q", ErrNoSnapshot, id)
	}
	r, err := repo.Reader(ctx, snapshotKey(id, manifestFile), 0)
	if errors.Is(err, storage.ErrNotFound) {
		return Manifest{}, fmt.Errorf("%w: %s", ErrNoSnapshot, id)
	}
	if err != nil {
		return Manifest{}, fmt.Errorf("backup: read manifest of %s: %w", id, err)
	}
	defer r.Close()
	var m Manifest
	if err := json.NewDecoder(io.LimitReader(r, maxManifest)).Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("backup: manifest of %s: %w", id, err)
	}
	if m.Format != FormatName || m.Version < 1 || m.Version > FormatVersion {
		return Manifest{}, fmt.Errorf("backup: snapshot %s is %s version %d; this Berth reads %s up to version %d",
			id, m.Format, m.Version, FormatName, FormatVersion)
	}
	if m.ID != id {
		return Manifest{}, fmt.Errorf("backup: snapshot %s: manifest names %q", id, m.ID)
	}
	for _, b := range m.Blobs {
		if err := b.Digest.Validate(); err != nil || b.Size < 0 {
			return Manifest{}, fmt.Errorf("backup: snapshot %s: blob %q: invalid digest or size", id, b.Digest)
		}
	}
	for _, d := range m.Collected {
		if err := d.Validate(); err != nil {
			return Manifest{}, fmt.Errorf("backup: snapshot %s: collected blob %q: invalid digest", id, d)
		}
	}
	for _, t := range m.Tables {
		if !strings.HasPrefix(t.File, "tables/") || strings.Contains(t.File, "..") {
			return Manifest{}, fmt.Errorf("backup: snapshot %s: table file %q", id, t.File)
		}
	}
	return m, nil
}

// List returns the complete snapshots in repo, oldest first.
func List(ctx context.Context, repo storage.Driver) ([]Manifest, error) {
	var ids []string
	err := repo.Walk(ctx, snapshotsPrefix, func(i storage.Info) error {
		rest := strings.TrimPrefix(i.Key, snapshotsPrefix)
		if id, f, ok := strings.Cut(rest, "/"); ok && f == manifestFile {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("backup: list snapshots: %w", err)
	}
	slices.Sort(ids)
	out := make([]Manifest, 0, len(ids))
	for _, id := range ids {
		m, err := ReadManifest(ctx, repo, id)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	// Ids sort by the second they were made in; two snapshots of one
	// second sort by when they were started.
	slices.SortStableFunc(out, olderFirst)
	return out, nil
}

// olderFirst orders snapshots by their start time, then by id.
func olderFirst(a, b Manifest) int {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// Latest returns the newest complete snapshot in repo.
func Latest(ctx context.Context, repo storage.Driver) (Manifest, error) {
	ms, err := List(ctx, repo)
	if err != nil {
		return Manifest{}, err
	}
	if len(ms) == 0 {
		return Manifest{}, fmt.Errorf("%w: the backup repository holds none", ErrNoSnapshot)
	}
	return ms[len(ms)-1], nil
}

// Report is what Verify found.
type Report struct {
	SnapshotID string
	Tables     int
	Rows       int64
	Blobs      int64
	Bytes      int64
	Problems   []string // one line per problem: each bad or missing blob, each unreadable table
}

// OK reports whether nothing is wrong.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// Verify reads snapshot id completely: every table file (decompressed and
// parsed, rows counted) and every blob (size and digest). It returns a
// report naming every problem and, when there is any, an error matching
// ErrVerify.
func Verify(ctx context.Context, repo storage.Driver, id string, opts Options) (Report, error) {
	m, err := ReadManifest(ctx, repo, id)
	if err != nil {
		return Report{SnapshotID: id}, err
	}
	rep := Report{SnapshotID: id, Tables: len(m.Tables)}
	var mu sync.Mutex
	problem := func(s string) {
		mu.Lock()
		rep.Problems = append(rep.Problems, s)
		mu.Unlock()
	}
	held := make(map[string]bool, len(m.Blobs))
	for _, b := range m.Blobs {
		held[b.Digest.String()] = true
	}
	for _, d := range m.Collected {
		held[d.String()] = true // listed, and knowingly without an object
	}
	for _, t := range m.Tables {
		// Every blob a manifest references must be one the snapshot holds.
		refCol := -1
		if t.Name == "manifest_blob_refs" {
			refCol = slices.IndexFunc(t.Columns, func(c Column) bool { return c.Name == "blob_digest" })
		}
		missing := 0
		n, err := readTable(ctx, repo, id, t, func(row []any) error {
			if refCol >= 0 {
				if d, _ := row[refCol].(string); !held[d] {
					if missing < 100 {
						problem(fmt.Sprintf("blob %s: a manifest references it; the snapshot does not hold it", d))
					}
					missing++
				}
			}
			return nil
		})
		rep.Rows += n
		if err != nil {
			problem(fmt.Sprintf("table %s: %v", t.Name, err))
		}
	}
	p := opts.Progress
	if p == nil {
		p = nopProgress{}
	}
	var total int64
	for _, b := range m.Blobs {
		total += b.Size
	}
	p.Start(int64(len(m.Blobs)), total)
	err = forEach(ctx, opts.workers(), m.Blobs, func(ctx context.Context, b BlobRef) error {
		err := checkBlob(ctx, repo, blobKey(b.Digest), b.Digest, b.Size, p)
		var be *BlobError
		switch {
		case errors.As(err, &be):
			problem(be.Error())
		case err != nil:
			return err
		}
		p.Blob(b.Size, true)
		mu.Lock()
		rep.Blobs++
		rep.Bytes += b.Size
		mu.Unlock()
		return nil
	})
	p.Done()
	if err != nil {
		return rep, err
	}
	slices.Sort(rep.Problems)
	if !rep.OK() {
		return rep, fmt.Errorf("%w: %d problems in snapshot %s", ErrVerify, len(rep.Problems), id)
	}
	return rep, nil
}

// maxLine bounds one row of a table file (a manifest payload is at most
// a few MiB; base64 makes it a third bigger).
const maxLine = 64 << 20

// readTable streams table t of snapshot id, calling fn with each row's
// values (json.Number for numbers), and checks the row count.
func readTable(ctx context.Context, repo storage.Driver, id string, t Table, fn func([]any) error) (int64, error) {
	r, err := repo.Reader(ctx, snapshotKey(id, t.File), 0)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	zr, err := gzip.NewReader(bufio.NewReaderSize(r, 1<<20))
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var n int64
	for sc.Scan() {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.UseNumber()
		var row []any
		if err := dec.Decode(&row); err != nil {
			return n, fmt.Errorf("row %d: %w", n+1, err)
		}
		if len(row) != len(t.Columns) {
			return n, fmt.Errorf("row %d has %d values for %d columns", n+1, len(row), len(t.Columns))
		}
		n++
		if err := fn(row); err != nil {
			return n, err
		}
	}
	if err := sc.Err(); err != nil {
		return n, err
	}
	if n != t.Rows {
		return n, fmt.Errorf("%d rows, the manifest says %d", n, t.Rows)
	}
	return n, nil
}
