package restapi

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/project"
	"github.com/berth-registry/berth/internal/repository"
)

// artifactStore is the metadata the artifact endpoints read. Changes go
// through artifactService.
type artifactStore interface {
	ListArtifacts(ctx context.Context, repo string, p meta.Page) ([]meta.Artifact, int, error)
	GetArtifact(ctx context.Context, repo string, d digest.Digest) (meta.Artifact, error)
}

// artifactService is repository.Service as the artifact endpoints use it.
type artifactService interface {
	Resolve(ctx context.Context, repo, ref string) (digest.Digest, error)
	DeleteArtifact(ctx context.Context, a project.Actor, projectID int64, repo string, d digest.Digest) error
	CreateTag(ctx context.Context, a project.Actor, projectID int64, repo, tag string, d digest.Digest) error
	DeleteTag(ctx context.Context, a project.Actor, projectID int64, repo, tag string, d digest.Digest) error
	CopyArtifact(ctx context.Context, a project.Actor, dstProjectID int64, src repository.Source, dst string) (digest.Digest, error)
	BuildHistory(ctx context.Context, repo string, d digest.Digest) ([]byte, error)
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
	// Labels are shown with with_label=true (labels.go).
	Labels []labelJSON `json:"labels,omitempty"`
	// ScanOverview is Harbor's, with with_scan_overview=true (scanners.go).
	ScanOverview map[string]any `json:"scan_overview,omitempty"`
}

// referenceJSON is Harbor's Reference: a child of an index.
type referenceJSON struct {
	ParentID    int64  `json:"parent_id"`
	ChildDigest string `json:"child_digest"`
}

// tagJSON is Harbor's Tag.
type tagJSON struct {
	ID           int64     `json:"id"`
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
	return tagJSON{ID: t.ID, RepositoryID: m.RepositoryID, ArtifactID: m.ID, Name: t.Name, PushTime: t.PushedAt}
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
	withScan, err := boolParam(r, "with_scan_overview", false)
	if err != nil {
		return err
	}
	out := make([]artifactJSON, len(arts))
	for i, m := range arts {
		out[i] = artifactOf(proj.ID, repo, m, withTag)
		if withScan {
			if out[i].ScanOverview, err = a.scanOverview(r.Context(), repo, m.Digest); err != nil {
				return err
			}
		}
	}
	if err := a.decorateArtifacts(r, arts, out); err != nil {
		return err
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
	d, err := a.d.Repositories.Resolve(r.Context(), repo, ref)
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
	out := []artifactJSON{artifactOf(proj.ID, repo, m, withTag)}
	if err := a.decorateArtifacts(r, []meta.Artifact{m}, out); err != nil {
		return err
	}
	if withScan, err := boolParam(r, "with_scan_overview", false); err != nil {
		return err
	} else if withScan {
		if out[0].ScanOverview, err = a.scanOverview(r.Context(), repo, m.Digest); err != nil {
			return err
		}
	}
	return writeJSON(w, http.StatusOK, out[0])
}

// deleteArtifact is DELETE .../artifacts/{reference}: the manifest goes,
// with every tag pointing at it (also when {reference} is a tag, as in
// Harbor).
func (a *API) deleteArtifact(w http.ResponseWriter, r *http.Request) error {
	proj, repo, m, err := a.artifact(r, access.ResourceArtifact, access.ActionDelete)
	if err != nil {
		return err
	}
	if err := a.d.Repositories.DeleteArtifact(r.Context(), a.actor(r), proj.ID, repo, m.Digest); err != nil {
		return err
	}
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
	withPulls := []artifactJSON{{ID: m.ID, Tags: out}}
	if err := a.fillArtifactPulls(r.Context(), withPulls); err != nil {
		return err
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
	if err := a.d.Repositories.CreateTag(r.Context(), a.actor(r), proj.ID, repo, body.Name, m.Digest); err != nil {
		return err
	}
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
	if err := a.d.Repositories.DeleteTag(r.Context(), a.actor(r), proj.ID, repo, r.PathValue("tag_name"), m.Digest); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// copyArtifact is POST .../repositories/{repository_name}/artifacts?from=
// project/repository:tag or project/repository@digest: 201 with the copy's
// Location. The caller needs push on the destination and pull on the
// source; a source project it may not pull from answers exactly as a
// missing one (no existence oracle). Blobs are linked, never copied.
func (a *API) copyArtifact(w http.ResponseWriter, r *http.Request) error {
	proj, dst, err := a.authorizeRepository(r, access.ResourceRepository, access.ActionPush)
	if err != nil {
		return err
	}
	from := r.URL.Query().Get("from")
	if from == "" {
		return errBadRequest("from is required: project/repository:tag or project/repository@digest")
	}
	src, err := repository.ParseSource(from)
	if err != nil {
		return err
	}
	if _, err := a.authorizeProjectName(r, src.Project(), access.ResourceRepository, access.ActionPull); err != nil {
		return err
	}
	d, err := a.d.Repositories.CopyArtifact(r.Context(), a.actor(r), proj.ID, src, dst)
	if err != nil {
		return err
	}
	w.Header().Set("Location", r.URL.EscapedPath()+"/"+url.PathEscape(d.String()))
	w.WriteHeader(http.StatusCreated)
	return nil
}

// artifactAddition is GET .../artifacts/{reference}/additions/{addition}.
// Berth has build_history (an image's configuration history, JSON); every
// other addition, and build_history of what is no image, is 404.
func (a *API) artifactAddition(w http.ResponseWriter, r *http.Request) error {
	_, repo, m, err := a.artifact(r, access.ResourceArtifactAddition, access.ActionRead)
	if err != nil {
		return err
	}
	if add := r.PathValue("addition"); add != "build_history" {
		return errNotFound("addition %q is not available; Berth has build_history", truncate(add, 50))
	}
	b, err := a.d.Repositories.BuildHistory(r.Context(), repo, m.Digest)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	return nil
}

// decorateArtifacts adds what other aggregates hold to out (arts as
// JSON, in the same order): pull times always, labels with with_label.
func (a *API) decorateArtifacts(r *http.Request, arts []meta.Artifact, out []artifactJSON) error {
	withLabel, err := boolParam(r, "with_label", false)
	if err != nil {
		return err
	}
	if err := a.fillArtifactPulls(r.Context(), out); err != nil {
		return err
	}
	withImmutable, err := boolParam(r, "with_immutable_status", false)
	if err != nil {
		return err
	}
	if withImmutable && len(out) > 0 {
		if err := a.fillImmutable(r.Context(), out[0].RepositoryName, out); err != nil {
			return err
		}
	}
	if !withLabel {
		return nil
	}
	labels, err := a.artifactLabels(r.Context(), arts)
	if err != nil {
		return err
	}
	for i := range out {
		out[i].Labels = labels[out[i].ID]
		if out[i].Labels == nil {
			out[i].Labels = []labelJSON{}
		}
	}
	return nil
}
