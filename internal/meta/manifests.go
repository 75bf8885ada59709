package meta

import (
	"context"

	"github.com/opencontainers/go-digest"
)

// Kinds of ManifestDependent.
const (
	DependentIndex    = "index"    // an index (or manifest list) lists the manifest
	DependentReferrer = "referrer" // a manifest names it as its subject
)

// ManifestDependent is a manifest that needs another one in its repository.
type ManifestDependent struct {
	Digest digest.Digest
	Kind   string // DependentIndex or DependentReferrer
}

// ListManifestDependents returns up to limit manifests of repo that need
// manifest d: indexes listing it, then referrers whose subject it is, each
// ordered by digest. None: an empty list.
func (s *Store) ListManifestDependents(ctx context.Context, repo string, d digest.Digest, limit int) ([]ManifestDependent, error) {
	if limit <= 0 {
		return []ManifestDependent{}, nil
	}
	deps, err := queryAll(ctx, s.q, func(row rowScanner) (ManifestDependent, error) {
		var m ManifestDependent
		err := row.Scan(&m.Kind, &m.Digest)
		return m, err
	}, `
		SELECT 'index' AS kind, m.digest
		FROM manifest_manifest_refs AS mr
		JOIN manifests AS m ON m.id = mr.manifest_id
		JOIN repositories AS r ON r.id = m.repository_id
		WHERE r.name = $1 AND mr.child_digest = $2 AND m.digest <> $2
		UNION ALL
		SELECT 'referrer' AS kind, m.digest
		FROM manifests AS m
		JOIN repositories AS r ON r.id = m.repository_id
		WHERE r.name = $1 AND m.subject_digest = $2 AND m.digest <> $2
		ORDER BY 1, 2
		LIMIT $3`, repo, d, limit)
	if err != nil {
		return nil, wrapErr(err, "meta: dependents of manifest %s in %s", d, repo)
	}
	return deps, nil
}
