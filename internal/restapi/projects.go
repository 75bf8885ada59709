package restapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
)

// projectStore is the metadata the project endpoints use.
type projectStore interface {
	GetProject(ctx context.Context, id int64) (meta.Project, error)
	GetProjectByName(ctx context.Context, name string) (meta.Project, error)
	ListProjectInfos(ctx context.Context, q meta.ProjectQuery, p meta.Page) ([]meta.ProjectInfo, int, error)
	CreateProjectWithAdmin(ctx context.Context, p meta.Project, adminUserID int64) (meta.Project, error)
	UpdateProject(ctx context.Context, p meta.Project) (meta.Project, error)
	DeleteProject(ctx context.Context, id int64) error
	CountMembersByRole(ctx context.Context, projectID int64) (map[int]int, error)
}

// projectRepoCounter counts a project's repositories (meta.Repositories).
type projectRepoCounter interface {
	CountProjectRepositories(ctx context.Context, name string) (int, error)
}

// Project creation restrictions (Harbor's project_creation_restriction).
const (
	creationEveryone  = "everyone"
	creationAdminOnly = "adminonly"
)

// projectJSON is Harbor's Project.
type projectJSON struct {
	ProjectID          int64           `json:"project_id"`
	OwnerID            int64           `json:"owner_id"`
	Name               string          `json:"name"`
	CreationTime       time.Time       `json:"creation_time"`
	UpdateTime         time.Time       `json:"update_time"`
	Deleted            bool            `json:"deleted"`
	OwnerName          string          `json:"owner_name"`
	Togglable          bool            `json:"togglable"`
	CurrentUserRoleID  int             `json:"current_user_role_id"`
	CurrentUserRoleIDs []int           `json:"current_user_role_ids"`
	RepoCount          int             `json:"repo_count"`
	Metadata           projectMetadata `json:"metadata"`
}

// projectMetadata is Harbor's ProjectMetadata, for the keys Berth has.
type projectMetadata struct {
	Public string `json:"public"`
}

func (a *API) projectJSON(p access.Principal, pi meta.ProjectInfo) projectJSON {
	out := projectJSON{
		ProjectID: pi.ID, OwnerID: pi.OwnerID, Name: pi.Name, CreationTime: pi.CreatedAt, UpdateTime: pi.UpdatedAt,
		OwnerName: pi.OwnerName, RepoCount: pi.RepoCount, CurrentUserRoleIDs: []int{},
		Togglable: access.Can(p, access.ProjectOf(pi.Project), access.ResourceProject, access.ActionUpdate),
		Metadata:  projectMetadata{Public: strconv.FormatBool(pi.Public)},
	}
	if role, ok := p.Roles[pi.ID]; ok && p.Kind == access.KindUser {
		out.CurrentUserRoleID, out.CurrentUserRoleIDs = int(role), []int{int(role)}
	}
	return out
}

// visibility is what p may see of the project list: nil for everything.
func visibility(p access.Principal) *meta.Visibility {
	switch {
	case p.Kind == access.KindUser && p.Sysadmin:
		return nil
	case p.Kind == access.KindUser:
		return &meta.Visibility{Viewer: meta.Viewer{UserID: p.ID, GroupDNs: p.GroupDNs}}
	case p.Kind == access.KindRobot:
		v := &meta.Visibility{}
		for _, s := range p.Scopes {
			if s.Project == "*" {
				return nil
			}
			v.Projects = append(v.Projects, s.Project)
		}
		return v
	}
	return &meta.Visibility{} // public only
}

// resolveProject finds {project_name_or_id}: a name when the header
// X-Is-Resource-Name is true or the value is not an integer, else an id
// (as Harbor does).
func (a *API) resolveProject(ctx context.Context, r *http.Request, raw string) (meta.Project, error) {
	if strings.EqualFold(r.Header.Get("X-Is-Resource-Name"), "true") {
		return a.d.Projects.GetProjectByName(ctx, raw)
	}
	if id, err := strconv.ParseInt(raw, 10, 64); err == nil {
		return a.d.Projects.GetProject(ctx, id)
	}
	return a.d.Projects.GetProjectByName(ctx, raw)
}

// authorizeProject resolves {project_name_or_id} and checks that the
// caller may perform act on res in the project.
func (a *API) authorizeProject(r *http.Request, raw string, res access.Resource, act access.Action) (meta.Project, error) {
	return a.authorize(r, func(ctx context.Context) (meta.Project, error) { return a.resolveProject(ctx, r, raw) }, res, act)
}

// authorizeProjectName is authorizeProject for paths naming the project
// ({project_name}).
func (a *API) authorizeProjectName(r *http.Request, name string, res access.Resource, act access.Action) (meta.Project, error) {
	return a.authorize(r, func(ctx context.Context) (meta.Project, error) { return a.d.Projects.GetProjectByName(ctx, name) }, res, act)
}

// authorize looks the project up and checks the caller's permission.
//
// No existence oracle, as in Harbor: a missing project and one the caller
// may not see give the same answer, 401 to anonymous callers and 403 to
// others; only system administrators (who see everything) get 404.
func (a *API) authorize(r *http.Request, lookup func(context.Context) (meta.Project, error), res access.Resource, act access.Action) (meta.Project, error) {
	p := caller(r)
	proj, err := lookup(r.Context())
	switch {
	case errors.Is(err, meta.ErrProjectNotFound):
		if p.Kind == access.KindUser && p.Sysadmin {
			return meta.Project{}, err
		}
		return meta.Project{}, denied(p)
	case err != nil:
		return meta.Project{}, err
	}
	if !access.Can(p, access.ProjectOf(proj), res, act) {
		return meta.Project{}, denied(p)
	}
	return proj, nil
}

// listProjects is GET /projects with name, public, owner, page, page_size.
func (a *API) listProjects(w http.ResponseWriter, r *http.Request) error {
	pg, err := parsePaging(r)
	if err != nil {
		return err
	}
	qv := r.URL.Query()
	q := meta.ProjectQuery{Name: qv.Get("name"), Owner: qv.Get("owner"), Visible: visibility(caller(r))}
	if v := qv.Get("public"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errBadRequest("public must be true or false, got %q", truncate(v, 20))
		}
		q.Public = &b
	}
	infos, total, err := a.d.Projects.ListProjectInfos(r.Context(), q, pg.meta())
	if err != nil {
		return err
	}
	out := make([]projectJSON, len(infos))
	for i, pi := range infos {
		out[i] = a.projectJSON(caller(r), pi)
	}
	setPagingHeaders(w, r, pg, total)
	return writeJSON(w, http.StatusOK, out)
}

// headProject is HEAD /projects?project_name=: 200 when the project
// exists, 404 when not. Logged-in callers only (as in Harbor), so that
// anonymous callers cannot probe for private projects.
func (a *API) headProject(w http.ResponseWriter, r *http.Request) error {
	if err := requireAuthenticated(r); err != nil {
		return err
	}
	name := r.URL.Query().Get("project_name")
	if name == "" {
		return errBadRequest("project_name is required")
	}
	if _, err := a.d.Projects.GetProjectByName(r.Context(), name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// projectReq is Harbor's ProjectReq, for the fields Berth has. public is
// Harbor's deprecated top-level flag; metadata.public wins over it.
type projectReq struct {
	ProjectName string `json:"project_name"`
	Public      *bool  `json:"public"`
	Metadata    *struct {
		Public *string `json:"public"`
	} `json:"metadata"`
}

// public returns the requested public flag, if any.
func (q projectReq) public() (*bool, error) {
	if q.Metadata != nil && q.Metadata.Public != nil {
		b, err := strconv.ParseBool(*q.Metadata.Public)
		if err != nil {
			return nil, errBadRequest(`metadata.public must be "true" or "false", got %q`, truncate(*q.Metadata.Public, 20))
		}
		return &b, nil
	}
	return q.Public, nil
}

// validateProjectName checks a project name: one path component of the
// OCI repository name grammar, not all digits (it would read as an id).
func validateProjectName(name string) error {
	if name == "" {
		return errBadRequest("project_name is required")
	}
	if strings.Contains(name, "/") {
		return fmt.Errorf("%w: project name %q must be a single path component", oci.ErrNameInvalid, truncate(name, 300))
	}
	if err := oci.ValidateName(name); err != nil {
		return err
	}
	if strings.Trim(name, "0123456789") == "" {
		return fmt.Errorf("%w: project name %q must not be all digits", oci.ErrNameInvalid, name)
	}
	return nil
}

// createProject is POST /projects. Who may create projects is the system
// setting project_creation_restriction (everyone, the default, or
// adminonly); robots need a system-level project:create scope. The
// creating user becomes the owner and a ProjectAdmin member.
func (a *API) createProject(w http.ResponseWriter, r *http.Request) error {
	p := caller(r)
	if !p.Authenticated() {
		return access.ErrUnauthorized
	}
	var req projectReq
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if err := validateProjectName(req.ProjectName); err != nil {
		return err
	}
	public, err := req.public()
	if err != nil {
		return err
	}
	if err := a.mayCreateProject(r.Context(), p); err != nil {
		return err
	}
	proj := meta.Project{Name: req.ProjectName, Public: public != nil && *public}
	var admin int64
	if p.Kind == access.KindUser {
		proj.OwnerID, admin = p.ID, p.ID
	}
	proj, err = a.d.Projects.CreateProjectWithAdmin(r.Context(), proj, admin)
	if err != nil {
		return err
	}
	a.auditEvent(r, proj.ID, "create", "project", proj.Name)
	loc := Prefix + "/projects/" + strconv.FormatInt(proj.ID, 10)
	if strings.EqualFold(r.Header.Get("X-Resource-Name-In-Location"), "true") {
		loc = Prefix + "/projects/" + url.PathEscape(proj.Name)
	}
	w.Header().Set("Location", loc)
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (a *API) mayCreateProject(ctx context.Context, p access.Principal) error {
	switch p.Kind {
	case access.KindRobot:
		if access.CanSystem(p, access.ResourceProject, access.ActionCreate) {
			return nil
		}
		return fmt.Errorf("%w: robot accounts need a system-level project:create permission", access.ErrDenied)
	case access.KindUser:
		if p.Sysadmin {
			return nil
		}
		settings, err := a.d.Configs.GetConfigurations(ctx)
		if err != nil {
			return err
		}
		if projectCreationRestriction(settings) == creationAdminOnly {
			return fmt.Errorf("%w: only system administrators may create projects (project_creation_restriction is adminonly)", access.ErrDenied)
		}
		return nil
	}
	return access.ErrUnauthorized
}

func projectCreationRestriction(settings map[string]string) string {
	if settings["project_creation_restriction"] == creationAdminOnly {
		return creationAdminOnly
	}
	return creationEveryone
}

// getProject is GET /projects/{project_name_or_id}.
func (a *API) getProject(w http.ResponseWriter, r *http.Request) error {
	proj, err := a.authorizeProject(r, r.PathValue("project_name_or_id"), access.ResourceProject, access.ActionRead)
	if err != nil {
		return err
	}
	pi, err := a.projectInfo(r.Context(), proj)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, a.projectJSON(caller(r), pi))
}

func (a *API) projectInfo(ctx context.Context, proj meta.Project) (meta.ProjectInfo, error) {
	pi := meta.ProjectInfo{Project: proj}
	n, err := a.d.Repos.CountProjectRepositories(ctx, proj.Name)
	if err != nil {
		return meta.ProjectInfo{}, err
	}
	pi.RepoCount = n
	if proj.OwnerID != 0 {
		u, err := a.d.Users.GetUser(ctx, proj.OwnerID)
		switch {
		case errors.Is(err, meta.ErrUserNotFound):
		case err != nil:
			return meta.ProjectInfo{}, err
		default:
			pi.OwnerName = u.Username
		}
	}
	return pi, nil
}

// updateProject is PUT /projects/{project_name_or_id}: Berth's only
// updatable property is metadata.public.
func (a *API) updateProject(w http.ResponseWriter, r *http.Request) error {
	proj, err := a.authorizeProject(r, r.PathValue("project_name_or_id"), access.ResourceProject, access.ActionUpdate)
	if err != nil {
		return err
	}
	var req projectReq
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.ProjectName != "" && req.ProjectName != proj.Name {
		return errBadRequest("a project cannot be renamed")
	}
	public, err := req.public()
	if err != nil {
		return err
	}
	if public != nil && *public != proj.Public {
		proj.Public = *public
		if _, err := a.d.Projects.UpdateProject(r.Context(), proj); err != nil {
			return err
		}
		a.auditEvent(r, proj.ID, "update", "project", proj.Name)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// deleteProject is DELETE /projects/{project_name_or_id}; a project that
// still holds repositories is refused with 412 PRECONDITION.
func (a *API) deleteProject(w http.ResponseWriter, r *http.Request) error {
	proj, err := a.authorizeProject(r, r.PathValue("project_name_or_id"), access.ResourceProject, access.ActionDelete)
	if err != nil {
		return err
	}
	if err := a.deletable(r.Context(), proj); err != nil {
		return err
	}
	if err := a.d.Projects.DeleteProject(r.Context(), proj.ID); err != nil {
		return err
	}
	a.auditEvent(r, proj.ID, "delete", "project", proj.Name)
	w.WriteHeader(http.StatusOK)
	return nil
}

// deletable returns a PRECONDITION error when proj cannot be deleted.
// A push racing the check can still land a repository in a deleted
// project's name; it stays unreachable until the project is created again.
func (a *API) deletable(ctx context.Context, proj meta.Project) error {
	n, err := a.d.Repos.CountProjectRepositories(ctx, proj.Name)
	if err != nil {
		return err
	}
	if n > 0 {
		return errPrecondition("project %s still holds %d repositories; delete them first", proj.Name, n)
	}
	return nil
}

// projectDeletable is GET /projects/{project_name_or_id}/_deletable.
func (a *API) projectDeletable(w http.ResponseWriter, r *http.Request) error {
	proj, err := a.authorizeProject(r, r.PathValue("project_name_or_id"), access.ResourceProject, access.ActionDelete)
	if err != nil {
		return err
	}
	out := struct {
		Deletable bool   `json:"deletable"`
		Message   string `json:"message,omitempty"`
	}{Deletable: true}
	if err := a.deletable(r.Context(), proj); err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			return err
		}
		out.Deletable, out.Message = false, ae.msg
	}
	return writeJSON(w, http.StatusOK, out)
}

// projectSummary is GET /projects/{project_name_or_id}/summary: the
// repository count, and member counts by role for callers who may list
// members.
func (a *API) projectSummary(w http.ResponseWriter, r *http.Request) error {
	proj, err := a.authorizeProject(r, r.PathValue("project_name_or_id"), access.ResourceProject, access.ActionRead)
	if err != nil {
		return err
	}
	type summary struct {
		RepoCount         int  `json:"repo_count"`
		ProjectAdminCount *int `json:"project_admin_count,omitempty"`
		MaintainerCount   *int `json:"maintainer_count,omitempty"`
		DeveloperCount    *int `json:"developer_count,omitempty"`
		GuestCount        *int `json:"guest_count,omitempty"`
		LimitedGuestCount *int `json:"limited_guest_count,omitempty"`
	}
	var out summary
	if out.RepoCount, err = a.d.Repos.CountProjectRepositories(r.Context(), proj.Name); err != nil {
		return err
	}
	if access.Can(caller(r), access.ProjectOf(proj), access.ResourceMember, access.ActionList) {
		counts, err := a.d.Projects.CountMembersByRole(r.Context(), proj.ID)
		if err != nil {
			return err
		}
		n := func(r access.Role) *int { v := counts[int(r)]; return &v }
		out.ProjectAdminCount, out.MaintainerCount, out.DeveloperCount = n(access.RoleProjectAdmin), n(access.RoleMaintainer), n(access.RoleDeveloper)
		out.GuestCount, out.LimitedGuestCount = n(access.RoleGuest), n(access.RoleLimitedGuest)
	}
	return writeJSON(w, http.StatusOK, out)
}

// Project metadata: Berth has one key, "public" ("true" or "false").
const metaPublic = "public"

// listProjectMetadata is GET /projects/{project_name_or_id}/metadatas/.
func (a *API) listProjectMetadata(w http.ResponseWriter, r *http.Request) error {
	proj, err := a.authorizeProject(r, r.PathValue("project_name_or_id"), access.ResourceMetadata, access.ActionRead)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]string{metaPublic: strconv.FormatBool(proj.Public)})
}

// getProjectMetadata is GET /projects/{project_name_or_id}/metadatas/{meta_name}.
func (a *API) getProjectMetadata(w http.ResponseWriter, r *http.Request) error {
	proj, err := a.authorizeProject(r, r.PathValue("project_name_or_id"), access.ResourceMetadata, access.ActionRead)
	if err != nil {
		return err
	}
	if name := r.PathValue("meta_name"); name != metaPublic {
		return errNotFound("project metadata %q does not exist; Berth has %q", truncate(name, 100), metaPublic)
	}
	return writeJSON(w, http.StatusOK, map[string]string{metaPublic: strconv.FormatBool(proj.Public)})
}

// updateProjectMetadata is PUT /projects/{project_name_or_id}/metadatas/{meta_name}
// with the body {"public":"true"}.
func (a *API) updateProjectMetadata(w http.ResponseWriter, r *http.Request) error {
	proj, err := a.authorizeProject(r, r.PathValue("project_name_or_id"), access.ResourceMetadata, access.ActionUpdate)
	if err != nil {
		return err
	}
	if name := r.PathValue("meta_name"); name != metaPublic {
		return errNotFound("project metadata %q does not exist; Berth has %q", truncate(name, 100), metaPublic)
	}
	var body map[string]string
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	v, ok := body[metaPublic]
	if !ok || len(body) != 1 {
		return errBadRequest(`want {"public":"true"} or {"public":"false"}`)
	}
	public, err := strconv.ParseBool(v)
	if err != nil {
		return errBadRequest(`public must be "true" or "false", got %q`, truncate(v, 20))
	}
	if public != proj.Public {
		proj.Public = public
		if _, err := a.d.Projects.UpdateProject(r.Context(), proj); err != nil {
			return err
		}
		a.auditEvent(r, proj.ID, "update", "project", proj.Name)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
