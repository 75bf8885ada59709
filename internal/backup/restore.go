package backup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/storage"
)

// ErrNotEmpty: the restore target already holds a registry; --force
// replaces it.
var ErrNotEmpty = errors.New("backup: the target database is not empty (users, robots, repositories, blobs or projects besides library); restore into a new database, or pass --force to replace its content")

// ErrRestoreBlobs: blobs of the snapshot are missing or damaged in the
// backup; nothing was written to the target database.
var ErrRestoreBlobs = errors.New("backup: restore stopped before writing the database: the backup holds bad or missing blobs")

// Restore writes snapshot id of repo (the newest when id is "") into dst:
// every blob first, verified as it is copied into dst's storage at its
// content-addressed key, then, only if every blob was good, every table in
// one transaction. dst's database must be migrated already, to at least
// the snapshot's schema version, and hold no registry unless force.
func Restore(ctx context.Context, repo storage.Driver, id string, dst Registry, force bool, opts Options) (Summary, error) {
	start := time.Now()
	log := opts.log()
	var (
		m   Manifest
		err error
	)
	if id == "" {
		m, err = Latest(ctx, repo)
	} else {
		m, err = ReadManifest(ctx, repo, id)
	}
	if err != nil {
		return Summary{}, err
	}
	sum := Summary{SnapshotID: m.ID, Manifests: m.Counts.Manifests, Tags: m.Counts.Tags, Blobs: m.Counts.Blobs, Bytes: m.Counts.BlobBytes}

	// The target: new enough, with every table and column of the snapshot.
	ver, err := schemaVersion(ctx, dst.DB)
	if err != nil {
		return sum, err
	}
	if ver < m.Source.SchemaVersion {
		return sum, fmt.Errorf("backup: snapshot %s has schema version %d, the target %d: restore with a Berth at least as new as the one that made it",
			m.ID, m.Source.SchemaVersion, ver)
	}
	live, err := readSchema(ctx, dst.DB, dst.Dialect)
	if err != nil {
		return sum, err
	}
	plans, err := plan(m, live)
	if err != nil {
		return sum, err
	}
	if !force {
		if err := checkEmpty(ctx, dst.DB); err != nil {
			return sum, err
		}
	}

	// The blobs, every one verified; any problem stops the restore here.
	p := opts.Progress
	if p == nil {
		p = nopProgress{}
	}
	p.Start(m.Counts.Blobs, m.Counts.BlobBytes)
	var (
		mu       sync.Mutex
		problems []error
	)
	err = forEach(ctx, opts.workers(), m.Blobs, func(ctx context.Context, b BlobRef) error {
		err := copyVerified(ctx, repo, blobKey(b.Digest), dst.Storage, blobKey(b.Digest), b.Digest, b.Size, p)
		var be *BlobError
		switch {
		case errors.As(err, &be):
			mu.Lock()
			problems = append(problems, be)
			mu.Unlock()
			return nil
		case err != nil:
			return err
		}
		p.Blob(b.Size, true)
		mu.Lock()
		sum.BlobsCopied++
		sum.BytesCopied += b.Size
		mu.Unlock()
		return nil
	})
	p.Done()
	if err != nil {
		return sum, err
	}
	if len(problems) > 0 {
		slices.SortFunc(problems, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
		return sum, fmt.Errorf("%w\n%w", ErrRestoreBlobs, errors.Join(problems...))
	}
	log.InfoContext(ctx, "restore: blobs copied", "snapshot", m.ID, "blobs", sum.BlobsCopied, "bytes", sum.BytesCopied)

	// The tables, in one transaction.
	if err := loadTables(ctx, repo, m, dst, plans, live); err != nil {
		return sum, err
	}
	sum.Duration = time.Since(start)
	log.InfoContext(ctx, "restore: done", "snapshot", m.ID, "seconds", sum.Duration.Seconds())
	return sum, nil
}

// checkEmpty refuses a target that holds a registry: anything but the
// rows a fresh migration makes (the library project and its quota).
func checkEmpty(ctx context.Context, db *sql.DB) error {
	var n int64
	err := db.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM robots) + (SELECT COUNT(*) FROM repositories)
		+ (SELECT COUNT(*) FROM blobs) + (SELECT COUNT(*) FROM projects WHERE name <> 'library')`).Scan(&n)
	if err != nil {
		return fmt.Errorf("backup: look at the target: %w", err)
	}
	if n > 0 {
		return ErrNotEmpty
	}
	return nil
}

// tablePlan maps a snapshot table onto a live one.
type tablePlan struct {
	snap   Table
	live   table
	kinds  []Kind // target kind of each snapshot column
	always bool   // an identity column GENERATED ALWAYS is written
}

func plan(m Manifest, live []table) ([]tablePlan, error) {
	byName := map[string]table{}
	for _, t := range live {
		byName[t.Name] = t
	}
	var out []tablePlan
	for _, st := range m.Tables {
		lt, ok := byName[st.Name]
		if !ok {
			return nil, fmt.Errorf("backup: snapshot table %s does not exist in the target", st.Name)
		}
		tp := tablePlan{snap: st, live: lt}
		for _, c := range st.Columns {
			i := slices.IndexFunc(lt.Columns, func(l column) bool { return l.Name == c.Name })
			if i < 0 {
				return nil, fmt.Errorf("backup: snapshot column %s.%s does not exist in the target", st.Name, c.Name)
			}
			tp.kinds = append(tp.kinds, lt.Columns[i].Kind)
			tp.always = tp.always || lt.Columns[i].Always
		}
		out = append(out, tp)
	}
	return out, nil
}

// loadTables replaces the target's rows with the snapshot's in one
// transaction.
func loadTables(ctx context.Context, repo storage.Driver, m Manifest, dst Registry, plans []tablePlan, live []table) error {
	tx, err := dst.DB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("backup: begin restore: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	// Empty every table the snapshot fills, and the running state a
	// snapshot leaves out, children first.
	var clear []string
	for _, t := range live {
		if slices.ContainsFunc(plans, func(p tablePlan) bool { return p.snap.Name == t.Name }) {
			clear = append(clear, t.Name)
		}
	}
	slices.Reverse(clear)
	for _, n := range append([]string{"uploads", "login_failures", "gc_leases"}, clear...) {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+quoteIdent(n)); err != nil {
			return fmt.Errorf("backup: empty %s: %w", n, err)
		}
	}
	keep := make(map[digest.Digest]bool, len(m.Blobs))
	for _, b := range m.Blobs {
		keep[b.Digest] = true
	}
	for _, tp := range plans {
		if err := loadTable(ctx, tx, repo, m.ID, dst.Dialect, tp, keep); err != nil {
			return err
		}
		if dst.Dialect == DialectPostgres {
			for _, c := range tp.live.Columns {
				if !c.Identity {
					continue
				}
				if _, err := tx.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence($1, $2), COALESCE((SELECT MAX(`+
					quoteIdent(c.Name)+`) FROM `+quoteIdent(tp.live.Name)+`), 0) + 1, false)`, tp.live.Name, c.Name); err != nil {
					return fmt.Errorf("backup: reset the sequence of %s.%s: %w", tp.live.Name, c.Name, err)
				}
			}
		}
	}
	// Blobs garbage collection deleted during the backup are being deleted
	// here too; the target's collector finishes them.
	for _, d := range m.Collected {
		if _, err := tx.ExecContext(ctx, `UPDATE blobs SET deleting = $2 WHERE digest = $1`, d.String(), true); err != nil {
			return fmt.Errorf("backup: mark %s collected: %w", d, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("backup: commit restore: %w", err)
	}
	return nil
}

// maxParams bounds the parameters of one INSERT (SQLite's default limit is
// 32766, PostgreSQL's 65535).
const maxParams = 30000

// maxBatchBytes bounds the data of one INSERT (manifest payloads).
const maxBatchBytes = 8 << 20

func loadTable(ctx context.Context, tx *sql.Tx, repo storage.Driver, id, dialect string, tp tablePlan, keep map[digest.Digest]bool) error {
	cols := make([]string, len(tp.snap.Columns))
	keyCol, digestCol := -1, -1
	for i, c := range tp.snap.Columns {
		cols[i] = quoteIdent(c.Name)
		if tp.snap.Name == "blobs" {
			switch c.Name {
			case "storage_key":
				keyCol = i
			case "digest":
				digestCol = i
			}
		}
	}
	head := `INSERT INTO ` + quoteIdent(tp.snap.Name) + ` (` + strings.Join(cols, ", ") + `) `
	if tp.always && dialect == DialectPostgres {
		head += `OVERRIDING SYSTEM VALUE `
	}
	head += `VALUES `
	perBatch := max(1, min(500, maxParams/len(cols)))
	var (
		args   []any
		nrows  int
		nbytes int
		sb     strings.Builder
	)
	flush := func() error {
		if nrows == 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, sb.String(), args...); err != nil {
			return fmt.Errorf("backup: restore %s: %w", tp.snap.Name, err)
		}
		args, nrows, nbytes = args[:0], 0, 0
		sb.Reset()
		return nil
	}
	_, err := readTable(ctx, repo, id, tp.snap, func(row []any) error {
		if nrows == 0 {
			sb.WriteString(head)
		} else {
			sb.WriteString(", ")
		}
		sb.WriteByte('(')
		for i, v := range row {
			x, err := decodeValue(v, tp.snap.Columns[i].Kind, tp.kinds[i])
			if err != nil {
				return fmt.Errorf("backup: %s.%s: %w", tp.snap.Name, tp.snap.Columns[i].Name, err)
			}
			args = append(args, x)
			switch v := x.(type) {
			case []byte:
				nbytes += len(v)
			case string:
				nbytes += len(v)
			}
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("$" + strconv.Itoa(len(args)))
		}
		sb.WriteByte(')')
		// A blob the snapshot holds lives at its content-addressed key.
		if keyCol >= 0 && digestCol >= 0 {
			if s, ok := row[digestCol].(string); ok && keep[digest.Digest(s)] {
				args[len(args)-len(row)+keyCol] = blobKey(digest.Digest(s))
			}
		}
		nrows++
		if nrows >= perBatch || nbytes >= maxBatchBytes {
			return flush()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("backup: restore %s: %w", tp.snap.Name, err)
	}
	return flush()
}
