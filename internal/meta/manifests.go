package meta

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// Manifests is the manifest aggregate: manifests with their references,
// referrers, tags, and the artifact read model the REST API shows.
type Manifests struct{ *handle }

// PutManifest stores m in repository repo (created if absent) with its
// references, unless the repository already holds m.Digest (then it is a
// no-op returning nil). m.RepositoryID, m.ID, m.Size and m.CreatedAt are
// ignored.
// It is atomic; inside InTx it uses that transaction. References are
// stored by digest: checking that they exist is the caller's job.
func (s *Manifests) PutManifest(ctx context.Context, repo string, m Manifest, refs ManifestRefs) error {
	if m.Digest == "" {
		return errors.New("meta: put manifest: empty digest")
	}
	var annotations any // NULL when there are none
	if len(m.Annotations) > 0 {
		b, err := json.Marshal(m.Annotations)
		if err != nil {
			return fmt.Errorf("meta: put manifest %s: annotations: %w", m.Digest, err)
		}
		annotations = string(b)
	}
	var subject any
	if m.Subject != "" {
		subject = string(m.Subject)
	}
	payload := m.Payload
	if payload == nil {
		payload = []byte{}
	}
	return s.inTx(ctx, func(tx *handle) error {
		r, err := tx.repos().EnsureRepository(ctx, repo)
		if err != nil {
			return err
		}
		var id int64
		err = tx.q.QueryRowContext(ctx, `
			INSERT INTO manifests (repository_id, digest, media_type, artifact_type, payload,
				subject_digest, annotations, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (repository_id, digest) DO NOTHING
			RETURNING id`,
			r.ID, m.Digest, m.MediaType, m.ArtifactType, payload, subject, annotations, tx.timestamp(),
		).Scan(&id)
		switch {
		case errors.Is(err, sql.ErrNoRows): // already stored
			return nil
		case err != nil:
			return wrapErr(err, "meta: put manifest %s in %s", m.Digest, repo)
		}
		for _, d := range uniqueDigests(refs.Blobs) {
			if _, err := tx.q.ExecContext(ctx, `
				INSERT INTO manifest_blob_refs (manifest_id, blob_digest) VALUES ($1, $2)`, id, d); err != nil {
				return wrapErr(err, "meta: put manifest %s in %s: blob ref %s", m.Digest, repo, d)
			}
		}
		for _, d := range uniqueDigests(refs.Manifests) {
			if _, err := tx.q.ExecContext(ctx, `
				INSERT INTO manifest_manifest_refs (manifest_id, child_digest) VALUES ($1, $2)`, id, d); err != nil {
				return wrapErr(err, "meta: put manifest %s in %s: manifest ref %s", m.Digest, repo, d)
			}
		}
		// The manifest's own bytes count in the project's quota.
		return tx.holdInProject(ctx, repo, m.Digest, int64(len(payload)))
	})
}

func uniqueDigests(ds []digest.Digest) []digest.Digest {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return slices.Compact(ds)
}

// GetManifest returns manifest d of repo. Missing: ErrManifestNotFound.
func (s *Manifests) GetManifest(ctx context.Context, repo string, d digest.Digest) (Manifest, error) {
	var (
		m           Manifest
		subject     sql.NullString
		annotations sql.NullString
	)
	err := s.q.QueryRowContext(ctx, `
		SELECT m.id, m.repository_id, m.digest, m.media_type, m.artifact_type, m.payload,
			m.subject_digest, m.annotations, m.created_at
		FROM manifests AS m JOIN repositories AS r ON r.id = m.repository_id
		WHERE r.name = $1 AND m.digest = $2`, repo, d).Scan(
		&m.ID, &m.RepositoryID, &m.Digest, &m.MediaType, &m.ArtifactType, &m.Payload,
		&subject, &annotations, &m.CreatedAt)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Manifest{}, fmt.Errorf("manifest %s in %s: %w", d, repo, ErrManifestNotFound)
	case err != nil:
		return Manifest{}, wrapErr(err, "meta: get manifest %s in %s", d, repo)
	}
	if err := fillManifest(&m, subject, annotations); err != nil {
		return Manifest{}, err
	}
	m.Size = int64(len(m.Payload))
	return m, nil
}

func fillManifest(m *Manifest, subject, annotations sql.NullString) error {
	m.CreatedAt = m.CreatedAt.UTC()
	m.Subject = digest.Digest(subject.String)
	if annotations.Valid && annotations.String != "" {
		if err := json.Unmarshal([]byte(annotations.String), &m.Annotations); err != nil {
			return fmt.Errorf("meta: manifest %s: annotations: %w", m.Digest, err)
		}
	}
	return nil
}

// DeleteManifest deletes manifest d of repo, its references and every tag
// pointing at it. Each blob it referenced is queued for a garbage
// collection review; links that no manifest of repo uses any more and that
// are older than the grace period are removed and stop counting in the
// project's quota, as does the manifest. Missing: ErrManifestNotFound.
func (s *Manifests) DeleteManifest(ctx context.Context, repo string, d digest.Digest) error {
	return s.inTx(ctx, func(tx *handle) error {
		var id, repoID int64
		err := tx.q.QueryRowContext(ctx, `
			SELECT m.id, m.repository_id
			FROM manifests AS m JOIN repositories AS r ON r.id = m.repository_id
			WHERE r.name = $1 AND m.digest = $2`, repo, d).Scan(&id, &repoID)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("manifest %s in %s: %w", d, repo, ErrManifestNotFound)
		case err != nil:
			return wrapErr(err, "meta: delete manifest %s in %s", d, repo)
		}
		blobs, err := tx.manifestBlobs(ctx, `manifest_id = $1`, id)
		if err != nil {
			return err
		}
		if err := tx.lockBlobs(ctx, blobs); err != nil {
			return err
		}
		// The foreign keys cascade too; deleting explicitly does not depend
		// on them being enforced.
		for _, q := range []struct {
			query string
			args  []any
		}{
			{`DELETE FROM tags WHERE repository_id = $1 AND manifest_digest = $2`, []any{repoID, d}},
			{`DELETE FROM manifest_blob_refs WHERE manifest_id = $1`, []any{id}},
			{`DELETE FROM manifest_manifest_refs WHERE manifest_id = $1`, []any{id}},
			{`DELETE FROM manifests WHERE id = $1`, []any{id}},
		} {
			if _, err := tx.q.ExecContext(ctx, q.query, q.args...); err != nil {
				return wrapErr(err, "meta: delete manifest %s in %s", d, repo)
			}
		}
		for _, b := range blobs {
			if err := tx.enqueueReview(ctx, b, "manifest_deleted"); err != nil {
				return err
			}
		}
		staleBefore := tx.timestamp().Add(-tx.gcGrace())
		for _, b := range blobs {
			if _, err := tx.q.ExecContext(ctx, `
				DELETE FROM repository_blobs WHERE repository_id = $1 AND blob_digest = $2 AND linked_at <= $3
				AND NOT EXISTS (SELECT 1 FROM manifest_blob_refs AS mb JOIN manifests AS m ON m.id = mb.manifest_id
					WHERE mb.blob_digest = $2 AND m.repository_id = $1)`, repoID, b, staleBefore); err != nil {
				return wrapErr(err, "meta: delete manifest %s in %s: unused link %s", d, repo, b)
			}
		}
		return tx.releaseRepoDigests(ctx, repo, append(blobs, d))
	})
}

// manifestBlobs returns the distinct blob digests the manifests selected
// by cond (on manifest_blob_refs) reference, in digest order.
func (h *handle) manifestBlobs(ctx context.Context, cond string, args ...any) ([]digest.Digest, error) {
	vs, err := queryStrings(ctx, h.q, `SELECT DISTINCT blob_digest FROM manifest_blob_refs WHERE `+cond+
		` ORDER BY blob_digest`, args...)
	if err != nil {
		return nil, wrapErr(err, "meta: blobs of manifests")
	}
	out := make([]digest.Digest, len(vs))
	for i, v := range vs {
		out[i] = digest.Digest(v)
	}
	return out, nil
}

// ListReferrers returns the manifests of repo whose subject is d,
// optionally only those whose ArtifactType equals artifactType, ordered by
// digest, at most limit of them. Payload is not loaded. A repository that
// does not exist has no referrers (empty list, no error).
func (s *Manifests) ListReferrers(ctx context.Context, repo string, d digest.Digest, artifactType string, limit int) ([]Manifest, error) {
	if limit <= 0 {
		return []Manifest{}, nil
	}
	rows, err := s.q.QueryContext(ctx, `
		SELECT m.id, m.repository_id, m.digest, m.media_type, m.artifact_type,
			m.subject_digest, m.annotations, m.created_at, length(m.payload)
		FROM manifests AS m JOIN repositories AS r ON r.id = m.repository_id
		WHERE r.name = $1 AND m.subject_digest = $2
		  AND (m.artifact_type = $3 OR $3 = '')
		ORDER BY m.digest
		LIMIT $4`, repo, d, artifactType, limit)
	if err != nil {
		return nil, wrapErr(err, "meta: list referrers of %s in %s", d, repo)
	}
	defer rows.Close()
	ms := []Manifest{}
	for rows.Next() {
		var (
			m                    Manifest
			subject, annotations sql.NullString
		)
		if err := rows.Scan(&m.ID, &m.RepositoryID, &m.Digest, &m.MediaType, &m.ArtifactType,
			&subject, &annotations, &m.CreatedAt, &m.Size); err != nil {
			return nil, wrapErr(err, "meta: list referrers of %s in %s", d, repo)
		}
		if err := fillManifest(&m, subject, annotations); err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapErr(err, "meta: list referrers of %s in %s", d, repo)
	}
	return ms, nil
}

// ListManifestDigests returns the digests of every manifest of repo, in
// byte order, at most limit of them after after. Missing repository: an
// empty list.
func (s *Manifests) ListManifestDigests(ctx context.Context, repo string, after digest.Digest, limit int) ([]digest.Digest, error) {
	if limit <= 0 {
		return []digest.Digest{}, nil
	}
	vs, err := queryStrings(ctx, s.q, `
		SELECT m.digest FROM manifests AS m JOIN repositories AS r ON r.id = m.repository_id
		WHERE r.name = $1 AND m.digest > $2 ORDER BY m.digest LIMIT $3`, repo, after, limit)
	if err != nil {
		return nil, wrapErr(err, "meta: list manifests of %s", repo)
	}
	out := make([]digest.Digest, len(vs))
	for i, v := range vs {
		out[i] = digest.Digest(v)
	}
	return out, nil
}

// Artifact is a manifest as the REST API shows it: with its total size
// (the manifest plus every distinct blob it references), its tags and the
// manifests it references (an index's children).
type Artifact struct {
	ID           int64
	RepositoryID int64
	Digest       digest.Digest
	MediaType    string
	ArtifactType string
	ManifestSize int64
	// Size is ManifestSize plus the sizes of the blobs the manifest
	// references (config and layers); an index counts only itself.
	Size        int64
	Subject     digest.Digest
	Annotations map[string]string
	PushedAt    time.Time
	Tags        []TagInfo
	Children    []digest.Digest
}

// TagInfo is a tag with the time it was last pointed at its manifest.
type TagInfo struct {
	ID       int64
	Name     string
	Digest   digest.Digest
	PushedAt time.Time
}

const artifactColumns = `m.id, m.repository_id, m.digest, m.media_type, m.artifact_type,
	m.subject_digest, m.annotations, m.created_at, length(m.payload),
	CAST(COALESCE((SELECT sum(b.size) FROM manifest_blob_refs AS br JOIN blobs AS b ON b.digest = br.blob_digest
		WHERE br.manifest_id = m.id), 0) AS BIGINT)`

func scanArtifact(row interface{ Scan(...any) error }) (Artifact, error) {
	var (
		a                    Artifact
		subject, annotations sql.NullString
		blobs                int64
	)
	if err := row.Scan(&a.ID, &a.RepositoryID, &a.Digest, &a.MediaType, &a.ArtifactType,
		&subject, &annotations, &a.PushedAt, &a.ManifestSize, &blobs); err != nil {
		return Artifact{}, err
	}
	m := Manifest{Digest: a.Digest}
	if err := fillManifest(&m, subject, annotations); err != nil {
		return Artifact{}, err
	}
	a.Subject, a.Annotations = m.Subject, m.Annotations
	a.PushedAt = a.PushedAt.UTC()
	a.Size = a.ManifestSize + blobs
	return a, nil
}

// ListArtifacts returns one page of repo's top-level artifacts (not
// children of an index or referrers, unless tagged), newest first, with
// their tags and children, and how many there are in all. Missing
// repository: ErrRepositoryNotFound.
func (s *Manifests) ListArtifacts(ctx context.Context, repo string, pg Page) ([]Artifact, int, error) {
	r, err := s.repos().GetRepository(ctx, repo)
	if err != nil {
		return nil, 0, err
	}
	const where = ` FROM manifests AS m WHERE m.repository_id = $1 AND ` + topLevel
	var total int
	if err := s.q.QueryRowContext(ctx, `SELECT count(*)`+where, r.ID).Scan(&total); err != nil {
		return nil, 0, wrapErr(err, "meta: list artifacts of %s", repo)
	}
	if pg.Limit <= 0 {
		return []Artifact{}, total, nil
	}
	out, err := queryAll(ctx, s.q, scanArtifact, `SELECT `+artifactColumns+where+`
		ORDER BY m.created_at DESC, m.digest LIMIT $2 OFFSET $3`, r.ID, pg.Limit, max(pg.Offset, 0))
	if err != nil {
		return nil, 0, wrapErr(err, "meta: list artifacts of %s", repo)
	}
	if err := s.fillArtifacts(ctx, r.ID, out); err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// GetArtifact returns manifest d of repo as an artifact, with its tags and
// children. Missing: ErrManifestNotFound.
func (s *Manifests) GetArtifact(ctx context.Context, repo string, d digest.Digest) (Artifact, error) {
	a, err := scanArtifact(s.q.QueryRowContext(ctx, `SELECT `+artifactColumns+`
		FROM manifests AS m JOIN repositories AS r ON r.id = m.repository_id
		WHERE r.name = $1 AND m.digest = $2`, repo, d))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Artifact{}, fmt.Errorf("manifest %s in %s: %w", d, repo, ErrManifestNotFound)
	case err != nil:
		return Artifact{}, wrapErr(err, "meta: get artifact %s in %s", d, repo)
	}
	arts := []Artifact{a}
	if err := s.fillArtifacts(ctx, a.RepositoryID, arts); err != nil {
		return Artifact{}, err
	}
	return arts[0], nil
}

// fillArtifacts loads the tags and children of arts (all of repository
// repoID) in two queries.
func (s *Manifests) fillArtifacts(ctx context.Context, repoID int64, arts []Artifact) error {
	if len(arts) == 0 {
		return nil
	}
	byDigest := map[digest.Digest]*Artifact{}
	ids := map[int64]*Artifact{}
	var c conds
	c.arg(repoID)
	dph := make([]string, len(arts))
	iph := make([]string, len(arts))
	for i := range arts {
		a := &arts[i]
		a.Tags, a.Children = []TagInfo{}, []digest.Digest{}
		byDigest[a.Digest], ids[a.ID] = a, a
		dph[i] = c.arg(string(a.Digest))
	}
	rows, err := s.q.QueryContext(ctx, `
		SELECT id, name, manifest_digest, updated_at FROM tags
		WHERE repository_id = $1 AND manifest_digest IN (`+strings.Join(dph, ", ")+`)
		ORDER BY name`, c.args...)
	if err != nil {
		return wrapErr(err, "meta: tags of artifacts")
	}
	defer rows.Close()
	for rows.Next() {
		var t TagInfo
		if err := rows.Scan(&t.ID, &t.Name, &t.Digest, &t.PushedAt); err != nil {
			return wrapErr(err, "meta: tags of artifacts")
		}
		t.PushedAt = t.PushedAt.UTC()
		if a := byDigest[t.Digest]; a != nil {
			a.Tags = append(a.Tags, t)
		}
	}
	if err := rows.Err(); err != nil {
		return wrapErr(err, "meta: tags of artifacts")
	}
	var ic conds
	for i := range arts {
		iph[i] = ic.arg(arts[i].ID)
	}
	crows, err := s.q.QueryContext(ctx, `
		SELECT manifest_id, child_digest FROM manifest_manifest_refs
		WHERE manifest_id IN (`+strings.Join(iph, ", ")+`) ORDER BY manifest_id, child_digest`, ic.args...)
	if err != nil {
		return wrapErr(err, "meta: children of artifacts")
	}
	defer crows.Close()
	for crows.Next() {
		var (
			id    int64
			child digest.Digest
		)
		if err := crows.Scan(&id, &child); err != nil {
			return wrapErr(err, "meta: children of artifacts")
		}
		if a := ids[id]; a != nil {
			a.Children = append(a.Children, child)
		}
	}
	if err := crows.Err(); err != nil {
		return wrapErr(err, "meta: children of artifacts")
	}
	return nil
}

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
func (s *Manifests) ListManifestDependents(ctx context.Context, repo string, d digest.Digest, limit int) ([]ManifestDependent, error) {
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
