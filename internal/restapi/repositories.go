package restapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/project"
	"github.com/berth-registry/berth/internal/repository"
)

// repositoryStore is the metadata the repository endpoints read.
// Changes go through repositoryService.
type repositoryStore interface {
	ListProjectRepositories(ctx context.Context, project, name string, p meta.Page) ([]meta.RepositoryInfo, int, error)
	GetRepositoryInfo(ctx context.Context, name string) (meta.RepositoryInfo, error)
}

// repositoryService is repository.Service as the repository endpoints
// use it.
type repositoryService interface {
	List(ctx context.Context, p access.Principal, q repository.ListQuery, pg meta.Page) ([]meta.RepositoryHit, int, error)
	SetDescription(ctx context.Context, a project.Actor, projectID int64, name, description string) error
	Delete(ctx context.Context, a project.Actor, projectID int64, name string) error
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
	return repositoryJSON{ID: ri.ID, ProjectID: projectID, Name: ri.Name, Description: ri.Description,
		ArtifactCount: ri.ArtifactCount, CreationTime: ri.CreatedAt, UpdateTime: ri.UpdatedAt}
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
	if err := a.fillRepositoryPulls(r.Context(), out); err != nil {
		return err
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
	out := []repositoryJSON{repositoryOf(proj.ID, ri)}
	if err := a.fillRepositoryPulls(r.Context(), out); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out[0])
}

// listAllRepositories is GET /repositories: the repositories of every
// project the caller may see, with page, page_size, q=name=~<substring>
// and sort (name, creation_time or id, "-" first for descending; default
// name). A private project's repositories never show, not even in
// X-Total-Count, to a caller who may not see it.
func (a *API) listAllRepositories(w http.ResponseWriter, r *http.Request) error {
	pg, err := parsePaging(r)
	if err != nil {
		return err
	}
	name, err := nameQuery(r.URL.Query().Get("q"))
	if err != nil {
		return err
	}
	order, err := repositorySort(r.URL.Query().Get("sort"))
	if err != nil {
		return err
	}
	hits, total, err := a.d.Repositories.List(r.Context(), caller(r), repository.ListQuery{Name: name, Sort: order}, pg.meta())
	if err != nil {
		return err
	}
	out := make([]repositoryJSON, len(hits))
	for i, h := range hits {
		out[i] = repositoryOf(h.ProjectID, h.RepositoryInfo)
	}
	if err := a.fillRepositoryPulls(r.Context(), out); err != nil {
		return err
	}
	setPagingHeaders(w, r, pg, total)
	return writeJSON(w, http.StatusOK, out)
}

// repositorySort reads Harbor's sort parameter ("name,-creation_time")
// for the columns Berth sorts repositories by.
func repositorySort(v string) ([]meta.RepositoryOrder, error) {
	if v == "" {
		return nil, nil
	}
	keys := strings.Split(v, ",")
	if len(keys) > 3 {
		return nil, errBadRequest("sort takes at most 3 keys")
	}
	var out []meta.RepositoryOrder
	for _, k := range keys {
		o := meta.RepositoryOrder{}
		k, o.Desc = strings.CutPrefix(strings.TrimSpace(k), "-")
		switch col := meta.RepositorySort(k); col {
		case meta.SortRepositoryName, meta.SortRepositoryCreated, meta.SortRepositoryID:
			o.By = col
		default:
			return nil, errBadRequest("cannot sort repositories by %q; use name, creation_time or id", truncate(k, 40))
		}
		out = append(out, o)
	}
	return out, nil
}

// updateRepository is PUT /projects/{project_name}/repositories/{repository_name}
// with Harbor's Repository body, of which only description is changed.
func (a *API) updateRepository(w http.ResponseWriter, r *http.Request) error {
	proj, name, err := a.authorizeRepository(r, access.ResourceRepository, access.ActionUpdate)
	if err != nil {
		return err
	}
	var body struct {
		Description *string `json:"description"`
	}
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	if body.Description == nil {
		return errBadRequest(`want {"description":"..."}`)
	}
	if err := a.d.Repositories.SetDescription(r.Context(), a.actor(r), proj.ID, name, *body.Description); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// deleteRepository is DELETE /projects/{project_name}/repositories/{repository_name}:
// every manifest and tag goes, then the repository. Blobs stay until
// garbage collection.
func (a *API) deleteRepository(w http.ResponseWriter, r *http.Request) error {
	proj, name, err := a.authorizeRepository(r, access.ResourceRepository, access.ActionDelete)
	if err != nil {
		return err
	}
	if err := a.d.Repositories.Delete(r.Context(), a.actor(r), proj.ID, name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
