package restapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
)

// labelStore is meta.Labels as /labels and the artifact label endpoints
// use it.
type labelStore interface {
	CreateLabel(ctx context.Context, l meta.Label) (meta.Label, error)
	GetLabel(ctx context.Context, id int64) (meta.Label, error)
	ListLabels(ctx context.Context, q meta.LabelQuery, pg meta.Page) ([]meta.Label, int, error)
	UpdateLabel(ctx context.Context, l meta.Label) (meta.Label, error)
	DeleteLabel(ctx context.Context, id int64) error
	AttachLabel(ctx context.Context, manifestID, labelID int64) error
	DetachLabel(ctx context.Context, manifestID, labelID int64) error
	ArtifactLabels(ctx context.Context, manifestIDs []int64) (map[int64][]meta.Label, error)
}

// Bounds on a label's fields.
const (
	maxLabelName        = 128
	maxLabelDescription = 1024
	maxLabelColor       = 32
)

func (a *API) labelRoutes(mux *http.ServeMux) {
	a.handle(mux, "GET "+Prefix+"/labels", a.listLabels)
	a.handle(mux, "POST "+Prefix+"/labels", a.createLabel)
	a.handle(mux, "GET "+Prefix+"/labels/{label_id}", a.getLabel)
	a.handle(mux, "PUT "+Prefix+"/labels/{label_id}", a.updateLabel)
	a.handle(mux, "DELETE "+Prefix+"/labels/{label_id}", a.deleteLabel)
	const art = Prefix + "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}"
	a.handle(mux, "POST "+art+"/labels", a.addArtifactLabel)
	a.handle(mux, "DELETE "+art+"/labels/{label_id}", a.removeArtifactLabel)
}

// labelJSON is Harbor's Label.
type labelJSON struct {
	ID           int64     `json:"id"`
	Name         string    `json:"name"`
	Description  string    `json:"description"`
	Color        string    `json:"color"`
	Scope        string    `json:"scope"`
	ProjectID    int64     `json:"project_id"`
	CreationTime time.Time `json:"creation_time"`
	UpdateTime   time.Time `json:"update_time"`
}

func labelOf(l meta.Label) labelJSON {
	return labelJSON{ID: l.ID, Name: l.Name, Description: l.Description, Color: l.Color, Scope: l.Scope,
		ProjectID: l.ProjectID, CreationTime: l.CreatedAt, UpdateTime: l.UpdatedAt}
}

func (a *API) labels() (labelStore, error) {
	if a.d.Labels == nil {
		return nil, newError(codeUnavailable, http.StatusServiceUnavailable, "labels are not available")
	}
	return a.d.Labels, nil
}

// labelBody is what POST and PUT /labels accept.
type labelBody struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Color       string `json:"color"`
	Scope       string `json:"scope"`
	ProjectID   int64  `json:"project_id"`
}

func (b *labelBody) validate() error {
	b.Name = strings.TrimSpace(b.Name)
	switch {
	case b.Name == "":
		return errBadRequest("name is required")
	case utf8.RuneCountInString(b.Name) > maxLabelName || !utf8.ValidString(b.Name):
		return errBadRequest("name must be valid UTF-8 of at most %d characters", maxLabelName)
	case len(b.Description) > maxLabelDescription:
		return errBadRequest("description must be at most %d bytes", maxLabelDescription)
	case len(b.Color) > maxLabelColor:
		return errBadRequest("color must be at most %d bytes", maxLabelColor)
	}
	return nil
}

// checkLabel checks that the caller may perform act on label l: system
// labels are read by every logged-in caller and changed by system
// administrators; project labels follow the project's matrix. A caller
// who may not even read l gets errLabelNotFound (no existence oracle).
func (a *API) checkLabel(r *http.Request, l meta.Label, act access.Action) error {
	p := caller(r)
	if !p.Authenticated() {
		return access.ErrUnauthorized
	}
	if l.Scope == meta.LabelGlobal {
		if act == access.ActionRead || act == access.ActionList {
			return nil
		}
		return requireSystem(r, access.ResourceLabel, act)
	}
	proj, err := a.d.Projects.GetProject(r.Context(), l.ProjectID)
	if err != nil {
		return err
	}
	ap := access.ProjectOf(proj)
	if !access.Can(p, ap, access.ResourceLabel, access.ActionRead) {
		return errLabelNotFound(l.ID)
	}
	if !access.Can(p, ap, access.ResourceLabel, act) {
		return denied(p)
	}
	return nil
}

func errLabelNotFound(id int64) error { return errNotFound("label %d not found", id) }

// labelByID loads {label_id} and checks act on it.
func (a *API) labelByID(r *http.Request, act access.Action) (labelStore, meta.Label, error) {
	ls, err := a.labels()
	if err != nil {
		return nil, meta.Label{}, err
	}
	if err := requireAuthenticated(r); err != nil {
		return nil, meta.Label{}, err
	}
	id, err := strconv.ParseInt(r.PathValue("label_id"), 10, 64)
	if err != nil || id < 1 {
		return nil, meta.Label{}, errBadRequest("label_id must be a positive integer")
	}
	l, err := ls.GetLabel(r.Context(), id)
	if errors.Is(err, meta.ErrLabelNotFound) {
		return nil, meta.Label{}, errLabelNotFound(id)
	}
	if err != nil {
		return nil, meta.Label{}, err
	}
	if err := a.checkLabel(r, l, act); err != nil {
		return nil, meta.Label{}, err
	}
	return ls, l, nil
}

// listLabels is GET /labels with scope (g, the default, or p),
// project_id (required with p), name (a substring), page and page_size.
func (a *API) listLabels(w http.ResponseWriter, r *http.Request) error {
	ls, err := a.labels()
	if err != nil {
		return err
	}
	if err := requireAuthenticated(r); err != nil {
		return err
	}
	pg, err := parsePaging(r)
	if err != nil {
		return err
	}
	qv := r.URL.Query()
	q := meta.LabelQuery{Scope: qv.Get("scope"), Name: qv.Get("name")}
	if len(q.Name) > maxLabelName*4 {
		return errBadRequest("name is too long")
	}
	switch q.Scope {
	case "", meta.LabelGlobal:
		q.Scope = meta.LabelGlobal
	case meta.LabelProject:
		pid, err := strconv.ParseInt(qv.Get("project_id"), 10, 64)
		if err != nil || pid < 1 {
			return errBadRequest("project_id (a positive integer) is required with scope p")
		}
		if _, err := a.authorize(r, func(ctx context.Context) (meta.Project, error) { return a.d.Projects.GetProject(ctx, pid) },
			access.ResourceLabel, access.ActionList); err != nil {
			return err
		}
		q.ProjectID = pid
	default:
		return errBadRequest("scope must be g or p, got %q", truncate(q.Scope, 10))
	}
	list, total, err := ls.ListLabels(r.Context(), q, pg.meta())
	if err != nil {
		return err
	}
	out := make([]labelJSON, len(list))
	for i, l := range list {
		out[i] = labelOf(l)
	}
	setPagingHeaders(w, r, pg, total)
	return writeJSON(w, http.StatusOK, out)
}

// createLabel is POST /labels: a system label (scope g) by a system
// administrator, a project label (scope p, project_id) by the project's
// administrators and maintainers. 201 with Location; a taken name in the
// scope is 409.
func (a *API) createLabel(w http.ResponseWriter, r *http.Request) error {
	ls, err := a.labels()
	if err != nil {
		return err
	}
	if err := requireAuthenticated(r); err != nil {
		return err
	}
	var b labelBody
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	if err := b.validate(); err != nil {
		return err
	}
	l := meta.Label{Name: b.Name, Description: b.Description, Color: b.Color}
	switch b.Scope {
	case "", meta.LabelGlobal:
		if err := requireSystem(r, access.ResourceLabel, access.ActionCreate); err != nil {
			return err
		}
		l.Scope = meta.LabelGlobal
	case meta.LabelProject:
		if b.ProjectID < 1 {
			return errBadRequest("project_id is required for a project label")
		}
		if _, err := a.authorize(r, func(ctx context.Context) (meta.Project, error) { return a.d.Projects.GetProject(ctx, b.ProjectID) },
			access.ResourceLabel, access.ActionCreate); err != nil {
			return err
		}
		l.Scope, l.ProjectID = meta.LabelProject, b.ProjectID
	default:
		return errBadRequest("scope must be g or p, got %q", truncate(b.Scope, 10))
	}
	got, err := ls.CreateLabel(r.Context(), l)
	if err != nil {
		return err
	}
	a.auditLabel(r, "create", got)
	w.Header().Set("Location", Prefix+"/labels/"+strconv.FormatInt(got.ID, 10))
	w.WriteHeader(http.StatusCreated)
	return nil
}

// getLabel is GET /labels/{label_id}.
func (a *API) getLabel(w http.ResponseWriter, r *http.Request) error {
	_, l, err := a.labelByID(r, access.ActionRead)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, labelOf(l))
}

// updateLabel is PUT /labels/{label_id}: name, description and color
// change; scope and project never do.
func (a *API) updateLabel(w http.ResponseWriter, r *http.Request) error {
	ls, l, err := a.labelByID(r, access.ActionUpdate)
	if err != nil {
		return err
	}
	var b labelBody
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	if b.Name == "" {
		b.Name = l.Name
	}
	if err := b.validate(); err != nil {
		return err
	}
	if (b.Scope != "" && b.Scope != l.Scope) || (b.ProjectID != 0 && b.ProjectID != l.ProjectID) {
		return errBadRequest("a label's scope and project cannot change")
	}
	l.Name, l.Description, l.Color = b.Name, b.Description, b.Color
	if _, err := ls.UpdateLabel(r.Context(), l); err != nil {
		return err
	}
	a.auditLabel(r, "update", l)
	w.WriteHeader(http.StatusOK)
	return nil
}

// deleteLabel is DELETE /labels/{label_id}; it comes off every artifact.
func (a *API) deleteLabel(w http.ResponseWriter, r *http.Request) error {
	ls, l, err := a.labelByID(r, access.ActionDelete)
	if err != nil {
		return err
	}
	if err := ls.DeleteLabel(r.Context(), l.ID); err != nil {
		return err
	}
	a.auditLabel(r, "delete", l)
	w.WriteHeader(http.StatusOK)
	return nil
}

// addArtifactLabel is POST .../artifacts/{reference}/labels with
// {"id":N}: a system label or one of the artifact's project. 409 when it
// is already there.
func (a *API) addArtifactLabel(w http.ResponseWriter, r *http.Request) error {
	ls, err := a.labels()
	if err != nil {
		return err
	}
	proj, repo, m, err := a.artifact(r, access.ResourceArtifactLabel, access.ActionCreate)
	if err != nil {
		return err
	}
	var b struct {
		ID int64 `json:"id"`
	}
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	if b.ID < 1 {
		return errBadRequest("id (the label's) is required")
	}
	l, err := ls.GetLabel(r.Context(), b.ID)
	if errors.Is(err, meta.ErrLabelNotFound) {
		return errLabelNotFound(b.ID)
	}
	if err != nil {
		return err
	}
	if l.Scope == meta.LabelProject && l.ProjectID != proj.ID {
		return errBadRequest("label %d is neither a system label nor a label of project %s", b.ID, proj.Name)
	}
	if err := ls.AttachLabel(r.Context(), m.ID, l.ID); err != nil {
		return err
	}
	a.auditEvent(r, proj.ID, "create", auditArtifactLabel, repo+"@"+m.Digest.String()+" label "+l.Name)
	w.WriteHeader(http.StatusOK)
	return nil
}

// removeArtifactLabel is DELETE .../artifacts/{reference}/labels/{label_id}.
func (a *API) removeArtifactLabel(w http.ResponseWriter, r *http.Request) error {
	ls, err := a.labels()
	if err != nil {
		return err
	}
	proj, repo, m, err := a.artifact(r, access.ResourceArtifactLabel, access.ActionDelete)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(r.PathValue("label_id"), 10, 64)
	if err != nil || id < 1 {
		return errBadRequest("label_id must be a positive integer")
	}
	if err := ls.DetachLabel(r.Context(), m.ID, id); err != nil {
		return err
	}
	a.auditEvent(r, proj.ID, "delete", auditArtifactLabel, fmt.Sprintf("%s@%s label %d", repo, m.Digest, id))
	w.WriteHeader(http.StatusOK)
	return nil
}

// artifactLabels returns the labels of arts (by artifact id) when the
// listing asks for them (with_label).
func (a *API) artifactLabels(ctx context.Context, arts []meta.Artifact) (map[int64][]labelJSON, error) {
	if a.d.Labels == nil || len(arts) == 0 {
		return nil, nil
	}
	ids := make([]int64, len(arts))
	for i, m := range arts {
		ids[i] = m.ID
	}
	byArt, err := a.d.Labels.ArtifactLabels(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[int64][]labelJSON, len(byArt))
	for id, ls := range byArt {
		for _, l := range ls {
			out[id] = append(out[id], labelOf(l))
		}
	}
	return out, nil
}

// Audit resource types of labels.
const (
	auditLabel         = "label"          // create, update, delete
	auditArtifactLabel = "artifact-label" // create (attach), delete (detach)
)

// auditLabel records a change to label l: a project label's resource is
// "<project>/<name>" under the project, a system label's its name.
func (a *API) auditLabel(r *http.Request, op string, l meta.Label) {
	res := l.Name
	if l.Scope == meta.LabelProject {
		if p, err := a.d.Projects.GetProject(r.Context(), l.ProjectID); err == nil {
			res = p.Name + "/" + l.Name
		}
	}
	a.auditEvent(r, l.ProjectID, op, auditLabel, res)
}
