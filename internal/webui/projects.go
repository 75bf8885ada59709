package webui

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/project"
	"github.com/berth-registry/berth/internal/replication"
)

// projectStore is meta.Projects as the portal uses it: reads, and the
// member changes (which the portal checks as the REST API does).
type projectStore interface {
	GetProjectByName(ctx context.Context, name string) (meta.Project, error)
	ListProjectInfos(ctx context.Context, q meta.ProjectQuery, p meta.Page) ([]meta.ProjectInfo, int, error)
	ListMembers(ctx context.Context, projectID int64, name string, p meta.Page) ([]meta.Member, int, error)
	GetMember(ctx context.Context, projectID, id int64) (meta.Member, error)
	AddMember(ctx context.Context, m meta.Member) (meta.Member, error)
	UpdateMemberRole(ctx context.Context, projectID, id int64, role int) error
	RemoveMember(ctx context.Context, projectID, id int64) error
}

// projectService is project.Service as the portal uses it.
type projectService interface {
	Create(ctx context.Context, a project.Actor, name string, public bool) (meta.Project, error)
	SetPublic(ctx context.Context, a project.Actor, proj meta.Project, public bool) (meta.Project, error)
	Delete(ctx context.Context, a project.Actor, proj meta.Project) error
	MayCreate(ctx context.Context, p access.Principal) error
}

// projectRow is one line of the projects list.
type projectRow struct {
	meta.ProjectInfo
	Role      string // the caller's role; "" for none
	CanDelete bool
}

// projectsView is the projects page.
type projectsView struct {
	Rows      []projectRow
	Query     string
	Paging    paging
	CanCreate bool
	// The New Project dialog after a refused create: open, with the
	// values and the server's reason.
	DialogOpen bool
	NewName    string
	NewPublic  bool
	ErrorKey   string
	Detail     string
	// NamePattern is the project name rule as an HTML pattern attribute.
	NamePattern string
	// ProxyRegistries are the endpoints a new project may be a proxy
	// cache of (system administrators; replication.go).
	ProxyRegistries []replication.Registry
}

// projectNamePattern mirrors project.ValidateName for the browser's own
// check (the server checks again): lower-case path component, not all
// digits.
const projectNamePattern = `(?![0-9]+$)[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*`

// projectsPage is GET /projects: the visible projects, paged and searched
// on the server.
func (u *UI) projectsPage(c *call) error {
	if !c.p.Authenticated() {
		return access.ErrUnauthorized
	}
	return u.renderProjects(c, http.StatusOK, projectsView{})
}

func (u *UI) renderProjects(c *call, status int, v projectsView) error {
	ctx := c.r.Context()
	pg := pagingOf(c.r)
	v.Query = strings.TrimSpace(c.r.URL.Query().Get("q"))
	if len(v.Query) > 255 {
		v.Query = v.Query[:255]
	}
	infos, total, err := u.d.Projects.ListProjectInfos(ctx, meta.ProjectQuery{Name: v.Query, Visible: project.VisibleTo(c.p)}, pg.meta())
	if err != nil {
		return err
	}
	pg.Total = total
	v.Paging = pg
	for _, in := range infos {
		row := projectRow{ProjectInfo: in}
		if r, ok := c.p.Roles[in.ID]; ok {
			row.Role = r.String()
		}
		row.CanDelete = access.Can(c.p, access.ProjectOf(in.Project), access.ResourceProject, access.ActionDelete)
		v.Rows = append(v.Rows, row)
	}
	v.CanCreate = u.d.ProjectService.MayCreate(ctx, c.p) == nil
	v.NamePattern = projectNamePattern
	if v.CanCreate {
		v.ProxyRegistries = u.proxyRegistries(c) // replication.go
	}
	u.render(c, status, "projects", "projects.title", v)
	return nil
}

// createProject is POST /projects from the New Project dialog. A refused
// name re-renders the list with the dialog open and the server's reason.
func (u *UI) createProject(c *call) error {
	name := strings.TrimSpace(c.r.PostForm.Get("name"))
	public := c.r.PostForm.Get("public") == "on"
	registryID, err := u.proxyRegistryField(c) // replication.go
	if err != nil {
		return err
	}
	proj, err := u.d.ProjectService.Create(c.r.Context(), c.actor(u), name, public)
	if err == nil && registryID != 0 {
		if err := u.d.Replication.SetProxyProject(c.r.Context(), proj.ID, registryID); err != nil {
			return err
		}
	}
	v := projectsView{DialogOpen: true, NewName: name, NewPublic: public}
	switch {
	case err == nil:
		return redirect(c, "/projects/"+url.PathEscape(name))
	case errors.Is(err, project.ErrNameInvalid):
		v.ErrorKey, v.Detail = "projects.err.name", err.Error()
	case errors.Is(err, project.ErrExists):
		v.ErrorKey = "projects.err.exists"
	case errors.Is(err, project.ErrCreationRestricted):
		v.ErrorKey = "projects.err.restricted"
	default:
		return err
	}
	return u.renderProjects(c, http.StatusBadRequest, v)
}

// loadProject finds {project} and checks res/act on it. No existence
// oracle (as the REST API): a project the caller may not see is refused
// as one that does not exist would be (login for anonymous, 403 for
// others); only system administrators get 404.
func (u *UI) loadProject(c *call, res access.Resource, act access.Action) (meta.Project, error) {
	return u.loadProjectNamed(c, c.r.PathValue("project"), res, act)
}

// loadProjectNamed is loadProject for the project name.
func (u *UI) loadProjectNamed(c *call, name string, res access.Resource, act access.Action) (meta.Project, error) {
	proj, err := u.d.Projects.GetProjectByName(c.r.Context(), name)
	switch {
	case errors.Is(err, meta.ErrProjectNotFound):
		if access.HumanAdmin(c.p) {
			return meta.Project{}, err
		}
		return meta.Project{}, denied(c.p)
	case err != nil:
		return meta.Project{}, err
	}
	if !access.Can(c.p, access.ProjectOf(proj), res, act) {
		return meta.Project{}, denied(c.p)
	}
	return proj, nil
}

// denied is the refusal for p: log in first, or forbidden.
func denied(p access.Principal) error {
	if !p.Authenticated() {
		return access.ErrUnauthorized
	}
	return access.ErrDenied
}

// deleteProject is POST /projects/{project}/delete; only an empty project
// can be deleted (the project service refuses others).
func (u *UI) deleteProject(c *call) error {
	proj, err := u.loadProject(c, access.ResourceProject, access.ActionDelete)
	if err != nil {
		return err
	}
	err = u.d.ProjectService.Delete(c.r.Context(), c.actor(u), proj)
	if errors.Is(err, project.ErrNotEmpty) {
		return u.renderProjectRepos(c, proj, http.StatusConflict, "project.err.notempty")
	}
	if err != nil {
		return err
	}
	return redirect(c, "/projects")
}
