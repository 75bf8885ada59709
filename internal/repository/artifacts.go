package repository

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/project"
)

// Source is the artifact a copy starts from: Harbor's from parameter,
// "project/repository:tag" or "project/repository@digest".
type Source struct {
	Repository string
	Reference  string // a tag or a digest
}

// Project is the name of the project the source repository belongs to.
func (s Source) Project() string { return access.ProjectName(s.Repository) }

// ParseSource reads from: a valid repository name (project/repository)
// then ":tag" or "@digest". Malformed: ErrInvalid or oci's name, tag and
// digest errors.
func ParseSource(from string) (Source, error) {
	var src Source
	if i := strings.LastIndex(from, "@"); i >= 0 {
		src = Source{Repository: from[:i], Reference: from[i+1:]}
		if _, err := oci.ParseDigest(src.Reference); err != nil {
			return Source{}, err
		}
	} else if i := strings.LastIndex(from, ":"); i >= 0 {
		src = Source{Repository: from[:i], Reference: from[i+1:]}
		if err := oci.ValidateTag(src.Reference); err != nil {
			return Source{}, err
		}
	} else {
		return Source{}, fmt.Errorf(`%w: from must read "project/repository:tag" or "project/repository@digest"`, ErrInvalid)
	}
	if !strings.Contains(src.Repository, "/") {
		return Source{}, fmt.Errorf(`%w: from must name a repository inside a project ("project/repository")`, ErrInvalid)
	}
	if err := oci.ValidateName(src.Repository); err != nil {
		return Source{}, err
	}
	return src, nil
}

// CopyArtifact copies the artifact src names into repository dst (of
// project dstProjectID) with the tags it has in src, and returns its
// digest. Manifests are stored again and blobs linked in the database;
// no byte is copied in storage. An index comes with its children. The
// artifact exists in dst already: ErrArtifactExists; the source is
// missing: meta.ErrTagNotFound or meta.ErrManifestNotFound. The caller
// has checked that the actor may pull src and push to dst.
func (s *Service) CopyArtifact(ctx context.Context, a project.Actor, dstProjectID int64, src Source, dst string) (digest.Digest, error) {
	d, err := s.Resolve(ctx, src.Repository, src.Reference)
	if err != nil {
		return "", err
	}
	art, err := s.store.Manifests.GetArtifact(ctx, src.Repository, d)
	if err != nil {
		return "", err
	}
	switch _, err := s.store.Manifests.GetManifest(ctx, dst, d); {
	case err == nil:
		return "", fmt.Errorf("%w: %s@%s", ErrArtifactExists, dst, d)
	case !errors.Is(err, meta.ErrManifestNotFound):
		return "", err
	}
	tags := make([]string, len(art.Tags))
	for i, t := range art.Tags {
		tags[i] = t.Name
	}
	if err := s.registry.CopyManifest(ctx, src.Repository, dst, d, tags); err != nil {
		return "", err
	}
	s.record(a, dstProjectID, "create", "artifact", dst+"@"+d.String())
	return d, nil
}

// Image configuration media types (OCI and Docker).
var imageConfigTypes = map[string]bool{
	v1.MediaTypeImageConfig:                          true,
	"application/vnd.docker.container.image.v1+json": true,
}

// BuildHistory returns the history of image d in repo, as its
// configuration lists it (a JSON array of {created, created_by, author,
// comment, empty_layer}; [] when there is none). An index, a chart or any
// artifact that is no image: ErrNotImage. The configuration is read from
// storage up to MaxConfigSize (ErrTooLarge beyond).
func (s *Service) BuildHistory(ctx context.Context, repo string, d digest.Digest) ([]byte, error) {
	m, err := s.store.Manifests.GetManifest(ctx, repo, d)
	if err != nil {
		return nil, err
	}
	if oci.IsIndex(m.MediaType) {
		return nil, fmt.Errorf("%w: %s is an index", ErrNotImage, d)
	}
	p, err := oci.ParseManifest(m.MediaType, m.Payload)
	if err != nil {
		return nil, fmt.Errorf("stored manifest %s@%s: %w", repo, d, err)
	}
	if p.Config == nil || !imageConfigTypes[p.Config.MediaType] {
		return nil, fmt.Errorf("%w: %s has no image configuration", ErrNotImage, d)
	}
	if p.Config.Size > MaxConfigSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, p.Config.Size, MaxConfigSize)
	}
	b, err := s.blobs.Stat(ctx, repo, p.Config.Digest)
	if err != nil {
		return nil, fmt.Errorf("image configuration %s: %w", p.Config.Digest, err)
	}
	rc, err := s.blobs.Open(ctx, b, 0)
	if err != nil {
		return nil, fmt.Errorf("image configuration %s: %w", p.Config.Digest, err)
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(rc, MaxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("image configuration %s: %w", p.Config.Digest, err)
	}
	if len(raw) > MaxConfigSize {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, MaxConfigSize)
	}
	var cfg struct {
		History []v1.History `json:"history"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("%w: image configuration %s is not valid JSON", ErrNotImage, p.Config.Digest)
	}
	if cfg.History == nil {
		cfg.History = []v1.History{}
	}
	out, err := json.Marshal(cfg.History)
	if err != nil {
		return nil, fmt.Errorf("encode build history: %w", err)
	}
	return out, nil
}
