package meta

import (
	"context"
	"database/sql"
	"time"

	"github.com/opencontainers/go-digest"
)

// Test-only access to the store's clock and to rows no method returns.

// SetNow replaces the store's clock.
func SetNow(s *Store, now func() time.Time) { s.now = now }

// RefsOf returns the references stored for manifest d of repo, sorted.
func RefsOf(ctx context.Context, s *Store, repo string, d digest.Digest) (ManifestRefs, error) {
	m, err := s.Manifests.GetManifest(ctx, repo, d)
	if err != nil {
		return ManifestRefs{}, err
	}
	var refs ManifestRefs
	for _, q := range []struct {
		query string
		dst   *[]digest.Digest
	}{
		{`SELECT blob_digest FROM manifest_blob_refs WHERE manifest_id = $1 ORDER BY blob_digest`, &refs.Blobs},
		{`SELECT child_digest FROM manifest_manifest_refs WHERE manifest_id = $1 ORDER BY child_digest`, &refs.Manifests},
	} {
		vs, err := queryStrings(ctx, s.q, q.query, m.ID)
		if err != nil {
			return ManifestRefs{}, err
		}
		for _, v := range vs {
			*q.dst = append(*q.dst, digest.Digest(v))
		}
	}
	return refs, nil
}

// CountRows returns the number of rows in table (a fixed name from the test).
func CountRows(ctx context.Context, s *Store, table string) (int, error) {
	var n int
	err := s.q.QueryRowContext(ctx, `SELECT count(*) FROM `+table).Scan(&n)
	return n, err
}

// HookWALSync replaces the fsync of SQLite's group commit (nil on
// PostgreSQL: reports false) and returns a function that reads the
// commits and fsyncs made so far.
func HookWALSync(s *Store, fsync func(path string) error) (stats func() (commits, syncs, synced uint64), ok bool) {
	if s.wal == nil {
		return nil, false
	}
	s.wal.mu.Lock()
	s.wal.fsync = fsync
	s.wal.mu.Unlock()
	return func() (uint64, uint64, uint64) {
		s.wal.mu.Lock()
		defer s.wal.mu.Unlock()
		return s.wal.commits, s.wal.syncs, s.wal.synced
	}, true
}

// SyncFile is the group commit's fsync.
var SyncFile = syncFile

// CachedStatements is how many statements SQLite's transactions keep
// prepared (-1 on PostgreSQL).
func CachedStatements(s *Store) int {
	if s.stmts == nil {
		return -1
	}
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	return len(s.stmts.m)
}

// ExecInTx runs query on tx's handle (tests of the statement cache).
func ExecInTx(ctx context.Context, tx *Store, query string) (sql.Result, error) {
	return tx.q.ExecContext(ctx, query)
}
