package restapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
)

// artifactStore is the metadata the artifact endpoints use.
type artifactStore interface {
	ListArtifacts(ctx context.Context, repo string, p meta.Page) ([]meta.Artifact, int, error)
	GetArtifact(ctx context.Context, repo string, d digest.Digest) (meta.Artifact, error)
	GetTag(ctx context.Context, repo, tag string) (digest.Digest, error)
	CreateTag(ctx context.Context, repo, tag string, d digest.Digest) error
}

// artifactJSON is Harbor's Artifact, for the fields Berth has.
type artifactJSON struct {
	ID                int64             `json:"id"`
	Type              string            `json:"type"`
	MediaType         string            `json:"media_type"`
	ManifestMediaType string            `json:"manifest_media_type"`
	ArtifactType      string            `json:"artifact_type,omitempty"`
	ProjectID         int64             `json:"project_id"`
	RepositoryID      int64             `json:"repository_id"`
	RepositoryName    string            `json:"repository_name"`
	Digest            string            `json:"digest"`
	Size              int64             `json:"size"`
	PushTime          time.Time         `json:"push_time"`
	PullTime          time.Time         `json:"pull_time"`
	Annotations       map[string]string `json:"annotations,omitempty"`
	References        []referenceJSON   `json:"references,omitempty"`
	Tags              []tagJSON         `json:"tags"`
}

// referenceJSON is Harbor's Reference: a child of an index.
type referenceJSON struct {
	ParentID    int64  `json:"parent_id"`
	ChildDigest string `json:"child_digest"`
}

// tagJSON is Harbor's Tag.
type tagJSON struct {
	RepositoryID int64     `json:"repository_id"`
	ArtifactID   int64     `json:"artifact_id"`
	Name         string    `json:"name"`
	PushTime     time.Time `json:"push_time"`
	PullTime     time.Time `json:"pull_time"`
	Immutable    bool      `json:"immutable"`
}

// Config media types that make an artifact an image or a chart, as
// Harbor's type field reports them.
var artifactTypes = map[string]string{
	"application/vnd.oci.image.config.v1+json":       "IMAGE",
	"application/vnd.docker.container.image.v1+json": "IMAGE",
	oci.MediaTypeImageIndex:                          "IMAGE",
	oci.MediaTypeDockerManifestList:                  "IMAGE",
	"application/vnd.cncf.helm.config.v1+json":       "CHART",
}

func artifactOf(projectID int64, repo string, m meta.Artifact, withTags bool) artifactJSON {
	// Harbor's media_type is the config's media type for a manifest and
	// the manifest's own for an index; Berth keeps the config media type
	// as the artifact type of manifests that declare none.
	mediaType := m.ArtifactType
	if m.MediaType == oci.MediaTypeImageIndex || m.MediaType == oci.MediaTypeDockerManifestList || mediaType == "" {
		mediaType = m.MediaType
	}
	typ, ok := artifactTypes[mediaType]
	if !ok {
		typ = "UNKNOWN"
	}
	out := artifactJSON{
		ID: m.ID, Type: typ, MediaType: mediaType, ManifestMediaType: m.MediaType, ArtifactType: m.ArtifactType,
		ProjectID: projectID, RepositoryID: m.RepositoryID, RepositoryName: repo, Digest: m.Digest.String(),
		Size: m.Size, PushTime: m.PushedAt, Annotations: m.Annotations, Tags: []tagJSON{},
	}
	for _, c := range m.Children {
		out.References = append(out.References, referenceJSON{ParentID: m.ID, ChildDigest: c.String()})
	}
	if withTags {
		for _, t := range m.Tags {
			out.Tags = append(out.Tags, tagOf(m, t))
		}
	}
	return out
}

func tagOf(m meta.Artifact, t meta.TagInfo) tagJSON {
	return tagJSON{RepositoryID: m.RepositoryID, ArtifactID: m.ID, Name: t.Name, PushTime: t.PushedAt}
}

// listArtifacts is GET .../repositories/{repository_name}/artifacts with
// page, page_size and with_tag (default true). It lists top-level
// artifacts, newest first; an index's children appear as its references.
func (a *API) listArtifacts(w http.ResponseWriter, r *http.Request) error {
	proj, repo, err := a.authorizeRepository(r, access.ResourceArtifact, access.ActionList)
	if err != nil {
		return err
	}
	pg, err := parsePaging(r)
	if err != nil {
		return err
	}
	withTag, err := boolParam(r, "with_tag", true)
	if err != nil {
		return err
	}
	arts, total, err := a.d.Manifests.ListArtifacts(r.Context(), repo, pg.meta())
	if err != nil {
		return err
	}
	out := make([]artifactJSON, len(arts))
	for i, m := range arts {
		out[i] = artifactOf(proj.ID, repo, m, withTag)
	}
	setPagingHeaders(w, r, pg, total)
	return writeJSON(w, http.StatusOK, out)
}

func boolParam(r *http.Request, name string, def bool) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errBadRequest("%s must be true or false, got %q", name, truncate(v, 20))
	}
	return b, nil
}

// resolveArtifact returns the digest {reference} (a tag or a digest) names
// in repo. A tag that does not exist: meta.ErrTagNotFound.
func (a *API) resolveArtifact(ctx context.Context, repo, ref string) (digest.Digest, error) {
	if oci.IsDigest(ref) {
		return oci.ParseDigest(ref)
	}
	if err := oci.ValidateTag(ref); err != nil {
		return "", err
	}
	return a.d.Manifests.GetTag(ctx, repo, ref)
}

// artifact loads the artifact {reference} names after checking act on res.
func (a *API) artifact(r *http.Request, res access.Resource, act access.Action) (meta.Project, string, meta.Artifact, error) {
	proj, repo, err := a.authorizeRepository(r, res, act)
	if err != nil {
		return meta.Project{}, "", meta.Artifact{}, err
	}
	ref, err := url.PathUnescape(r.PathValue("reference")) // digests may come escaped twice ("sha256%253A...")
	if err != nil {
		return meta.Project{}, "", meta.Artifact{}, errBadRequest("reference is badly escaped")
	}
	d, err := a.resolveArtifact(r.Context(), repo, ref)
	if err != nil {
		return meta.Project{}, "", meta.Artifact{}, err
	}
	m, err := a.d.Manifests.GetArtifact(r.Context(), repo, d)
	if err != nil {
		return meta.Project{}, "", meta.Artifact{}, err
	}
	return proj, repo, m, nil
}

// getArtifact is GET .../artifacts/{reference} (a tag or a digest).
func (a *API) getArtifact(w http.ResponseWriter, r *http.Request) error {
	proj, repo, m, err := a.artifact(r, access.ResourceArtifact, access.ActionRead)
	if err != nil {
		return err
	}
	withTag, err := boolParam(r, "with_tag", true)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, artifactOf(proj.ID, repo, m, withTag))
}

// deleteArtifact is DELETE .../artifacts/{reference}: the manifest goes,
// with every tag pointing at it (also when {reference} is a tag, as in
// Harbor).
func (a *API) deleteArtifact(w http.ResponseWriter, r *http.Request) error {
	proj, repo, m, err := a.artifact(r, access.ResourceArtifact, access.ActionDelete)
	if err != nil {
		return err
	}
	if err := a.d.Registry.DeleteManifest(r.Context(), repo, m.Digest.String()); err != nil {
		return err
	}
	a.auditEvent(r, proj.ID, "delete", "artifact", repo+"@"+m.Digest.String())
	w.WriteHeader(http.StatusOK)
	return nil
}

// listArtifactTags is GET .../artifacts/{reference}/tags with page and
// page_size.
func (a *API) listArtifactTags(w http.ResponseWriter, r *http.Request) error {
	_, _, m, err := a.artifact(r, access.ResourceTag, access.ActionList)
	if err != nil {
		return err
	}
	pg, err := parsePaging(r)
	if err != nil {
		return err
	}
	out := []tagJSON{}
	start := min(pg.meta().Offset, len(m.Tags))
	for _, t := range m.Tags[start:min(start+pg.size, len(m.Tags))] {
		out = append(out, tagOf(m, t))
	}
	setPagingHeaders(w, r, pg, len(m.Tags))
	return writeJSON(w, http.StatusOK, out)
}

// createTag is POST .../artifacts/{reference}/tags with {"name":"..."}:
// 201, or 409 CONFLICT when the tag exists (on any artifact).
func (a *API) createTag(w http.ResponseWriter, r *http.Request) error {
	proj, repo, m, err := a.artifact(r, access.ResourceTag, access.ActionCreate)
	if err != nil {
		return err
	}
	var body struct {
		Name string `json:"name"`
	}
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	if err := oci.ValidateTag(body.Name); err != nil {
		return err
	}
	if err := a.d.Manifests.CreateTag(r.Context(), repo, body.Name, m.Digest); err != nil {
		return err
	}
	a.auditEvent(r, proj.ID, "create", "tag", repo+":"+body.Name)
	w.Header().Set("Location", r.URL.EscapedPath()+"/"+url.PathEscape(body.Name))
	w.WriteHeader(http.StatusCreated)
	return nil
}

// deleteTag is DELETE .../artifacts/{reference}/tags/{tag_name}; the tag
// must point at the artifact.
func (a *API) deleteTag(w http.ResponseWriter, r *http.Request) error {
	proj, repo, m, err := a.artifact(r, access.ResourceTag, access.ActionDelete)
	if err != nil {
		return err
	}
	tag := r.PathValue("tag_name")
	if err := oci.ValidateTag(tag); err != nil {
		return err
	}
	d, err := a.d.Manifests.GetTag(r.Context(), repo, tag)
	if err != nil {
		return err
	}
	if d != m.Digest {
		return errNotFound("tag %s is not attached to %s", tag, m.Digest)
	}
	if err := a.d.Registry.DeleteManifest(r.Context(), repo, tag); err != nil {
		return err
	}
	a.auditEvent(r, proj.ID, "delete", "tag", fmt.Sprintf("%s:%s", repo, tag))
	w.WriteHeader(http.StatusOK)
	return nil
}
