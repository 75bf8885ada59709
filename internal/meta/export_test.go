package meta

import (
	"context"
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
