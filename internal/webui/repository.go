package webui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/project"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/signature"
)

// artifactStore is meta.Manifests as the portal reads it.
type artifactStore interface {
	ListArtifacts(ctx context.Context, repo string, p meta.Page) ([]meta.Artifact, int, error)
	GetArtifact(ctx context.Context, repo string, d digest.Digest) (meta.Artifact, error)
	GetManifest(ctx context.Context, repo string, d digest.Digest) (meta.Manifest, error)
	ListReferrers(ctx context.Context, repo string, d digest.Digest, artifactType string, limit int) ([]meta.Manifest, error)
}

// repositoryService is repository.Service as the portal uses it: every
// artifact and tag change goes through it.
type repositoryService interface {
	DeleteArtifact(ctx context.Context, a project.Actor, projectID int64, repo string, d digest.Digest) error
	CreateTag(ctx context.Context, a project.Actor, projectID int64, repo, tag string, d digest.Digest) error
	DeleteTag(ctx context.Context, a project.Actor, projectID int64, repo, tag string, d digest.Digest) error
}

// blobReader reads a blob of a repository (content.Service): the image
// configuration shown on an artifact's page.
type blobReader interface {
	Stat(ctx context.Context, repo string, d digest.Digest) (meta.Blob, error)
	Open(ctx context.Context, b meta.Blob, offset int64) (io.ReadCloser, error)
}

// maxConfigShown bounds the image configuration an artifact page reads.
const maxConfigShown = 1 << 20

// maxTagsShown bounds the tags one artifact row lists (the artifact's own
// page lists them all).
const maxTagsShown = 20

// maxTagsOnArtifact bounds the tags an artifact's own page lists.
const maxTagsOnArtifact = 200

// repoTarget is a repository URL taken apart: /repositories/<name> or
// /repositories/<name>/-/<rest> ("-" is never a name component).
type repoTarget struct {
	Name string
	Rest []string
}

func parseRepoPath(p string) (repoTarget, error) {
	name, rest, _ := strings.Cut(p, "/-/")
	name = strings.TrimSuffix(name, "/")
	if err := oci.ValidateName(name); err != nil || !strings.Contains(name, "/") && access.ProjectName(name) == "" {
		return repoTarget{}, errNotFound
	}
	t := repoTarget{Name: name}
	if rest != "" {
		t.Rest = strings.Split(rest, "/")
	}
	return t, nil
}

// loadRepo authorizes res/act in the repository's project. A repository
// the caller may not see answers as its project would; whether it exists
// is the next read's to say (meta.ErrRepositoryNotFound), so that a page
// does not count its artifacts twice.
func (u *UI) loadRepo(c *call, name string, res access.Resource, act access.Action) (meta.Project, error) {
	return u.loadProjectNamed(c, access.ProjectName(name), res, act)
}

// artifactRow is one artifact of a repository page.
type artifactRow struct {
	meta.Artifact
	Kind      string   // message key of its type
	Platforms []string // an index's
	MoreTags  int      // tags beyond maxTagsShown
	Referrers []referrerRow
	PullRef   string // tag or digest to pull
	// Labels and Pulls are filled by fillLifecycle.
	Labels []meta.Label
	Pulls  meta.PullStat
}

type referrerRow struct {
	Digest digest.Digest
	Kind   string
	Size   int64
}

// repoView is a repository page.
type repoView struct {
	Project   meta.Project
	Repo      string
	Short     string // the name inside the project
	Artifacts []artifactRow
	Paging    paging
	CanDelete bool // artifacts
	CanTag    bool
	CanUntag  bool
	ErrorKey  string
	Detail    string
}

// repositoryGet serves GET /repositories/<name> (its artifacts) and
// /repositories/<name>/-/artifacts/<digest> (one artifact).
func (u *UI) repositoryGet(c *call) error {
	t, err := parseRepoPath(c.r.PathValue("path"))
	if err != nil {
		return err
	}
	switch {
	case len(t.Rest) == 0:
		return u.repositoryPage(c, t.Name, http.StatusOK, "", "")
	case len(t.Rest) == 2 && t.Rest[0] == "artifacts":
		return u.artifactPage(c, t.Name, t.Rest[1])
	}
	return errNotFound
}

func (u *UI) repositoryPage(c *call, name string, status int, errKey, detail string) error {
	ctx := c.r.Context()
	proj, err := u.loadRepo(c, name, access.ResourceArtifact, access.ActionList)
	if err != nil {
		return err
	}
	pg := pagingOf(c.r)
	arts, total, err := u.d.Manifests.ListArtifacts(ctx, name, pg.meta())
	if err != nil {
		return err
	}
	pg.Total = total
	ap := access.ProjectOf(proj)
	v := repoView{Project: proj, Repo: name, Short: strings.TrimPrefix(name, proj.Name+"/"), Paging: pg,
		CanDelete: access.Can(c.p, ap, access.ResourceArtifact, access.ActionDelete),
		CanTag:    access.Can(c.p, ap, access.ResourceTag, access.ActionCreate),
		CanUntag:  access.Can(c.p, ap, access.ResourceTag, access.ActionDelete),
		ErrorKey:  errKey, Detail: detail}
	for _, a := range arts {
		row, err := u.artifactRow(ctx, name, a)
		if err != nil {
			return err
		}
		v.Artifacts = append(v.Artifacts, row)
	}
	if err := u.fillLifecycle(ctx, v.Artifacts); err != nil {
		return err
	}
	u.render(c, status, "repository", "repository.title", v)
	return nil
}

// artifactRow describes a: its type, an index's platforms, its referrers.
func (u *UI) artifactRow(ctx context.Context, repo string, a meta.Artifact) (artifactRow, error) {
	row := artifactRow{Artifact: a, Kind: kindOf(a.MediaType, a.ArtifactType), PullRef: "@" + a.Digest.String()}
	if len(a.Tags) > 0 {
		row.PullRef = ":" + a.Tags[0].Name
	}
	if len(row.Tags) > maxTagsShown {
		row.MoreTags = len(row.Tags) - maxTagsShown
		row.Tags = row.Tags[:maxTagsShown]
	}
	if oci.IsIndex(a.MediaType) {
		m, err := u.d.Manifests.GetManifest(ctx, repo, a.Digest)
		if err != nil {
			return row, err
		}
		row.Platforms = platforms(m.Payload)
	}
	refs, err := u.d.Manifests.ListReferrers(ctx, repo, a.Digest, "", 10)
	if err != nil {
		return row, err
	}
	for _, r := range refs {
		row.Referrers = append(row.Referrers, referrerRow{Digest: r.Digest, Kind: kindOf(r.MediaType, r.ArtifactType), Size: r.Size})
	}
	return row, nil
}

// kindOf names an artifact's type by a message key: image, index, Helm
// chart, signature, SBOM or other artifact.
func kindOf(mediaType, artifactType string) string {
	at := strings.ToLower(artifactType)
	switch {
	case oci.IsIndex(mediaType):
		return "kind.index"
	case strings.Contains(at, "helm"):
		return "kind.chart"
	case strings.Contains(at, "signature") || strings.Contains(at, "cosign") || strings.Contains(at, ".sig"):
		return "kind.signature"
	case strings.Contains(at, "spdx") || strings.Contains(at, "cyclonedx") || strings.Contains(at, "sbom"):
		return "kind.sbom"
	case strings.Contains(at, "in-toto") || strings.Contains(at, "attestation"):
		return "kind.attestation"
	case at == "" || at == "application/vnd.oci.image.config.v1+json" || at == "application/vnd.docker.container.image.v1+json":
		return "kind.image"
	}
	return "kind.other"
}

// platforms lists an index's platforms ("linux/amd64").
func platforms(payload []byte) []string {
	var idx struct {
		Manifests []struct {
			Platform *struct {
				OS           string `json:"os"`
				Architecture string `json:"architecture"`
				Variant      string `json:"variant"`
			} `json:"platform"`
		} `json:"manifests"`
	}
	if json.Unmarshal(payload, &idx) != nil {
		return nil
	}
	var out []string
	for _, m := range idx.Manifests {
		if m.Platform == nil || m.Platform.OS == "" || m.Platform.OS == "unknown" {
			continue
		}
		p := m.Platform.OS + "/" + m.Platform.Architecture
		if m.Platform.Variant != "" {
			p += "/" + m.Platform.Variant
		}
		out = append(out, p)
	}
	return out
}

// layerRow is one layer of an image.
type layerRow struct {
	Digest    digest.Digest `json:"digest"`
	MediaType string        `json:"mediaType"`
	Size      int64         `json:"size"`
}

// artifactView is one artifact's page.
type artifactView struct {
	Project   meta.Project
	Repo      string
	Short     string
	Row       artifactRow
	Manifest  string // formatted JSON
	Config    string // formatted JSON; "" when not an image or too large
	Layers    []layerRow
	Children  []digest.Digest
	Scan      *scanView         // security.go; nil: never scanned
	Signature *signature.Status // security.go; nil: not known
	CanDelete bool
	CanTag    bool
	CanUntag  bool
}

// artifactPage is GET /repositories/<name>/-/artifacts/<digest>.
func (u *UI) artifactPage(c *call, name, ref string) error {
	ctx := c.r.Context()
	d, err := digest.Parse(ref)
	if err != nil {
		return errNotFound
	}
	proj, err := u.loadRepo(c, name, access.ResourceArtifact, access.ActionRead)
	if err != nil {
		return err
	}
	a, err := u.d.Manifests.GetArtifact(ctx, name, d)
	if err != nil {
		return err
	}
	m, err := u.d.Manifests.GetManifest(ctx, name, d)
	if err != nil {
		return err
	}
	row, err := u.artifactRow(ctx, name, a)
	if err != nil {
		return err
	}
	rows := []artifactRow{row}
	if err := u.fillLifecycle(ctx, rows); err != nil {
		return err
	}
	row = rows[0]
	// More of them here, still bounded (the list page shows maxTagsShown).
	row.Tags, row.MoreTags = a.Tags, 0
	if len(row.Tags) > maxTagsOnArtifact {
		row.Tags, row.MoreTags = row.Tags[:maxTagsOnArtifact], len(row.Tags)-maxTagsOnArtifact
	}
	ap := access.ProjectOf(proj)
	v := artifactView{Project: proj, Repo: name, Short: strings.TrimPrefix(name, proj.Name+"/"), Row: row,
		Manifest: prettyJSON(m.Payload), Children: a.Children,
		CanDelete: access.Can(c.p, ap, access.ResourceArtifact, access.ActionDelete),
		CanTag:    access.Can(c.p, ap, access.ResourceTag, access.ActionCreate),
		CanUntag:  access.Can(c.p, ap, access.ResourceTag, access.ActionDelete)}
	if !oci.IsIndex(m.MediaType) {
		var img struct {
			Config *struct {
				MediaType string        `json:"mediaType"`
				Digest    digest.Digest `json:"digest"`
				Size      int64         `json:"size"`
			} `json:"config"`
			Layers []layerRow `json:"layers"`
		}
		if json.Unmarshal(m.Payload, &img) == nil {
			v.Layers = img.Layers
			if img.Config != nil && img.Config.Size <= maxConfigShown && strings.HasSuffix(img.Config.MediaType, "json") {
				v.Config = u.readConfig(ctx, name, img.Config.Digest)
			}
		}
	}
	v.Scan = u.artifactScan(ctx, name, d) // security.go
	if m.Subject == "" {
		v.Signature = u.artifactSignature(ctx, name, d)
	}
	u.render(c, http.StatusOK, "artifact", "artifact.title", v)
	return nil
}

// readConfig returns a configuration blob as formatted JSON, "" when it
// cannot be read (the page shows the rest).
func (u *UI) readConfig(ctx context.Context, repo string, d digest.Digest) string {
	if u.d.Blobs == nil {
		return ""
	}
	b, err := u.d.Blobs.Stat(ctx, repo, d)
	if err != nil {
		return ""
	}
	rc, err := u.d.Blobs.Open(ctx, b, 0)
	if err != nil {
		return ""
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(rc, maxConfigShown+1))
	if err != nil || len(raw) > maxConfigShown {
		return ""
	}
	return prettyJSON(raw)
}

// repositoryPost serves the changes under /repositories/<name>/-/:
// artifacts/<digest>/delete, artifacts/<digest>/tags (add),
// tags/<tag>/delete.
func (u *UI) repositoryPost(c *call) error {
	t, err := parseRepoPath(c.r.PathValue("path"))
	if err != nil {
		return err
	}
	rest := t.Rest
	switch {
	case len(rest) == 3 && rest[0] == "artifacts" && rest[2] == "delete":
		return u.deleteArtifact(c, t.Name, rest[1])
	case len(rest) == 3 && rest[0] == "artifacts" && rest[2] == "tags":
		return u.addTag(c, t.Name, rest[1])
	case len(rest) == 3 && rest[0] == "tags" && rest[2] == "delete":
		return u.deleteTag(c, t.Name, rest[1])
	}
	return errNotFound
}

func repoURL(name string) string { return "/repositories/" + name }

// back is where a change returns to: the form's next when it is a page of
// the same repository, else the repository page.
func back(c *call, name string) string {
	next := safeNext(c.r.PostForm.Get("next"))
	if strings.HasPrefix(next, repoURL(name)+"?") || strings.HasPrefix(next, repoURL(name)+"/-/") || next == repoURL(name) {
		return next
	}
	return repoURL(name)
}

func (u *UI) deleteArtifact(c *call, name, ref string) error {
	d, err := digest.Parse(ref)
	if err != nil {
		return errNotFound
	}
	proj, err := u.loadRepo(c, name, access.ResourceArtifact, access.ActionDelete)
	if err != nil {
		return err
	}
	err = u.d.Repositories.DeleteArtifact(c.r.Context(), c.actor(u), proj.ID, name, d)
	if errors.Is(err, registry.ErrManifestReferenced) {
		return u.repositoryPage(c, name, http.StatusConflict, "repository.err.referenced", err.Error())
	}
	if err != nil {
		return err
	}
	return redirect(c, repoURL(name))
}

func (u *UI) addTag(c *call, name, ref string) error {
	d, err := digest.Parse(ref)
	if err != nil {
		return errNotFound
	}
	proj, err := u.loadRepo(c, name, access.ResourceTag, access.ActionCreate)
	if err != nil {
		return err
	}
	tag := strings.TrimSpace(c.r.PostForm.Get("tag"))
	err = u.d.Repositories.CreateTag(c.r.Context(), c.actor(u), proj.ID, name, tag, d)
	switch {
	case errors.Is(err, meta.ErrTagExists):
		return u.repositoryPage(c, name, http.StatusConflict, "repository.err.tagexists", "")
	case errors.Is(err, oci.ErrTagInvalid):
		return u.repositoryPage(c, name, http.StatusBadRequest, "repository.err.taginvalid", err.Error())
	case err != nil:
		return err
	}
	return redirect(c, back(c, name))
}

func (u *UI) deleteTag(c *call, name, rawTag string) error {
	tag, err := url.PathUnescape(rawTag)
	if err != nil {
		return errNotFound
	}
	proj, err := u.loadRepo(c, name, access.ResourceTag, access.ActionDelete)
	if err != nil {
		return err
	}
	d, err := digest.Parse(c.r.PostForm.Get("digest"))
	if err != nil {
		return fmt.Errorf("%w: digest", errBadForm)
	}
	if err := u.d.Repositories.DeleteTag(c.r.Context(), c.actor(u), proj.ID, name, tag, d); err != nil {
		return err
	}
	return redirect(c, back(c, name))
}
