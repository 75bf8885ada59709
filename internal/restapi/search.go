package restapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/project"
)

// searchStore is the metadata GET /search uses.
type searchStore interface {
	SearchRepositories(ctx context.Context, q string, v meta.Visibility, limit int) ([]meta.RepositoryHit, error)
}

// maxSearchResults bounds each list of a search answer.
const maxSearchResults = 100

// searchRepositoryJSON is Harbor's SearchRepository.
type searchRepositoryJSON struct {
	ProjectID      int64  `json:"project_id"`
	ProjectName    string `json:"project_name"`
	ProjectPublic  bool   `json:"project_public"`
	RepositoryName string `json:"repository_name"`
	PullCount      int    `json:"pull_count"`
	ArtifactCount  int    `json:"artifact_count"`
}

// search is GET /search?q=: the projects and repositories whose names
// contain q that the caller may see (public ones, and those of its
// projects), at most 100 of each.
func (a *API) search(w http.ResponseWriter, r *http.Request) error {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if q == "" {
		return errBadRequest("q is required")
	}
	p := caller(r)
	vis := project.VisibleTo(p)
	projects, _, err := a.d.Projects.ListProjectInfos(r.Context(), meta.ProjectQuery{Name: q, Visible: vis},
		meta.Page{Limit: maxSearchResults})
	if err != nil {
		return err
	}
	if vis == nil {
		vis = &meta.Visibility{All: true}
	}
	repos, err := a.d.Repos.SearchRepositories(r.Context(), q, *vis, maxSearchResults)
	if err != nil {
		return err
	}
	out := struct {
		Project    []projectJSON          `json:"project"`
		Repository []searchRepositoryJSON `json:"repository"`
	}{Project: make([]projectJSON, len(projects)), Repository: make([]searchRepositoryJSON, len(repos))}
	for i, pi := range projects {
		out.Project[i] = a.projectJSON(p, pi)
	}
	for i, h := range repos {
		out.Repository[i] = searchRepositoryJSON{ProjectID: h.ProjectID, ProjectName: h.ProjectName,
			ProjectPublic: h.ProjectPublic, RepositoryName: h.Name, ArtifactCount: h.ArtifactCount}
	}
	if err := a.fillSearchPulls(r.Context(), repos, out.Repository); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

// fillSearchPulls sets each hit's pull_count (its artifacts' pulls), in
// one query.
func (a *API) fillSearchPulls(ctx context.Context, hits []meta.RepositoryHit, out []searchRepositoryJSON) error {
	if a.d.Pulls == nil || len(hits) == 0 {
		return nil
	}
	ids := make([]int64, len(hits))
	for i, h := range hits {
		ids[i] = h.ID
	}
	counts, err := a.d.Pulls.RepositoryPulls(ctx, ids)
	if err != nil {
		return err
	}
	for i, h := range hits {
		out[i].PullCount = int(counts[h.ID])
	}
	return nil
}
