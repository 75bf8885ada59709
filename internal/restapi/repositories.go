package restapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/registry"
)

// repositoryStore is the metadata the repository endpoints use.
type repositoryStore interface {
	ListProjectRepositories(ctx context.Context, project, name string, p meta.Page) ([]meta.RepositoryInfo, int, error)
	GetRepositoryInfo(ctx context.Context, name string) (meta.RepositoryInfo, error)
	DeleteRepository(ctx context.Context, name string) error
}

// manifestLister lists a repository's manifests (meta.Manifests), to
// delete them one by one.
type manifestLister interface {
	ListManifestDigests(ctx context.Context, repo string, after digest.Digest, limit int) ([]digest.Digest, error)
}

// manifestDeleter is registry.Service as the API uses it: deleting
// through it also drops the shared cache's entries.
type manifestDeleter interface {
	// DeleteManifest deletes the manifest (a digest) with its tags, or
	// only the tag (a tag name).
	DeleteManifest(ctx context.Context, repo, ref string) error
}

// repositoryJSON is Harbor's Repository.
type repositoryJSON struct {
	ID            int64     `json:"id"`
	ProjectID     int64     `json:"project_id"`
	Name          string    `json:"name"`
	Description   string    `json:"description"`
	ArtifactCount int       `json:"artifact_count"`
	PullCount     int       `json:"pull_count"`
	CreationTime  time.Time `json:"creation_time"`
	UpdateTime    time.Time `json:"update_time"`
}

func repositoryOf(projectID int64, ri meta.RepositoryInfo) repositoryJSON {
	return repositoryJSON{ID: ri.ID, ProjectID: projectID, Name: ri.Name, ArtifactCount: ri.ArtifactCount,
		CreationTime: ri.CreatedAt, UpdateTime: ri.UpdatedAt}
}

// repositoryName returns the full repository name for {repository_name}
// in project: the name inside the project, URL-escaped once ("a%2Fb") or,
// as Harbor's clients also send it, twice ("a%252Fb").
func repositoryName(project, raw string) (string, error) {
	if strings.Contains(raw, "%") {
		u, err := url.PathUnescape(raw)
		if err != nil {
			return "", fmt.Errorf("%w: repository_name %q is badly escaped", oci.ErrNameInvalid, truncate(raw, 300))
		}
		raw = u
	}
	if raw == "" {
		return "", fmt.Errorf("%w: repository_name is empty", oci.ErrNameInvalid)
	}
	name := project + "/" + raw
	if err := oci.ValidateName(name); err != nil {
		return "", err
	}
	return name, nil
}

// authorizeRepository checks act on res in the project of the path and
// returns the project and the full repository name.
func (a *API) authorizeRepository(r *http.Request, res access.Resource, act access.Action) (meta.Project, string, error) {
	proj, err := a.authorizeProjectName(r, r.PathValue("project_name"), res, act)
	if err != nil {
		return meta.Project{}, "", err
	}
	name, err := repositoryName(proj.Name, r.PathValue("repository_name"))
	if err != nil {
		return meta.Project{}, "", err
	}
	return proj, name, nil
}

// listRepositories is GET /projects/{project_name}/repositories with
// page, page_size and q=name=~<substring> (or name=<substring>).
func (a *API) listRepositories(w http.ResponseWriter, r *http.Request) error {
	proj, err := a.authorizeProjectName(r, r.PathValue("project_name"), access.ResourceRepository, access.ActionList)
	if err != nil {
		return err
	}
	pg, err := parsePaging(r)
	if err != nil {
		return err
	}
	name, err := nameQuery(r.URL.Query().Get("q"))
	if err != nil {
		return err
	}
	infos, total, err := a.d.Repos.ListProjectRepositories(r.Context(), proj.Name, name, pg.meta())
	if err != nil {
		return err
	}
	out := make([]repositoryJSON, len(infos))
	for i, ri := range infos {
		out[i] = repositoryOf(proj.ID, ri)
	}
	setPagingHeaders(w, r, pg, total)
	return writeJSON(w, http.StatusOK, out)
}

// nameQuery reads the subset of Harbor's q syntax Berth supports: empty,
// name=~<substring> or name=<substring> (also matched as a substring).
func nameQuery(q string) (string, error) {
	if q == "" {
		return "", nil
	}
	v, ok := strings.CutPrefix(q, "name=~")
	if !ok {
		v, ok = strings.CutPrefix(q, "name=")
	}
	if !ok || strings.Contains(v, ",") {
		return "", errBadRequest("q supports only name=~<substring>, got %q", truncate(q, 100))
	}
	return v, nil
}

// getRepository is GET /projects/{project_name}/repositories/{repository_name}.
func (a *API) getRepository(w http.ResponseWriter, r *http.Request) error {
	proj, name, err := a.authorizeRepository(r, access.ResourceRepository, access.ActionRead)
	if err != nil {
		return err
	}
	ri, err := a.d.Repos.GetRepositoryInfo(r.Context(), name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, repositoryOf(proj.ID, ri))
}

// deleteManifestsPass tries to delete every manifest of repository name
// once and returns how many went and the last ErrManifestReferenced
// refusal, if any.
func (a *API) deleteManifestsPass(ctx context.Context, name string) (deleted int, referenced, err error) {
	var after digest.Digest
	for {
		ds, err := a.d.Manifests.ListManifestDigests(ctx, name, after, 100)
		if err != nil {
			return deleted, referenced, err
		}
		if len(ds) == 0 {
			return deleted, referenced, nil
		}
		for _, d := range ds {
			err := a.d.Registry.DeleteManifest(ctx, name, d.String())
			switch {
			case err == nil:
				deleted++
			case errors.Is(err, registry.ErrManifestReferenced):
				referenced = err
			case !errors.Is(err, meta.ErrManifestNotFound): // a concurrent delete got there first
				return deleted, referenced, err
			}
		}
		after = ds[len(ds)-1]
	}
}

// deleteRepository is DELETE /projects/{project_name}/repositories/{repository_name}:
// every manifest and tag goes, then the repository. Blobs stay until
// garbage collection.
func (a *API) deleteRepository(w http.ResponseWriter, r *http.Request) error {
	proj, name, err := a.authorizeRepository(r, access.ResourceRepository, access.ActionDelete)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if _, err := a.d.Repos.GetRepositoryInfo(ctx, name); err != nil {
		return err
	}
	// Manifests go through the registry so the shared cache forgets them;
	// an interrupted delete leaves a smaller repository that a retry
	// finishes. A manifest that an index or a referrer still needs is
	// refused until they are gone, so each pass deletes what it can and
	// the next pass the rest (the references form no cycle).
	for {
		deleted, referenced, err := a.deleteManifestsPass(ctx, name)
		if err != nil {
			return err
		}
		if referenced == nil {
			break
		}
		if deleted == 0 {
			return referenced // cannot happen unless written concurrently
		}
	}
	if err := a.d.Repos.DeleteRepository(ctx, name); err != nil {
		return err
	}
	a.auditEvent(r, proj.ID, "delete", "repository", name)
	w.WriteHeader(http.StatusOK)
	return nil
}
