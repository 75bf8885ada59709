package restapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/project"
)

// projectStore is the metadata the project endpoints read. Changes go
// through projectService.
type projectStore interface {
	GetProject(ctx context.Context, id int64) (meta.Project, error)
	GetProjectByName(ctx context.Context, name string) (meta.Project, error)
	ListProjectInfos(ctx context.Context, q meta.ProjectQuery, p meta.Page) ([]meta.ProjectInfo, int, error)
	CountMembersByRole(ctx context.Context, projectID int64) (map[int]int, error)
}

// projectService is project.Service as the API uses it: every project
// change and its rules (naming, creation restriction, owner as admin,
// delete only when empty, visibility, audit).
type projectService interface {
	Create(ctx context.Context, a project.Actor, name string, public bool) (meta.Project, error)
	SetPublic(ctx context.Context, a project.Actor, proj meta.Project, public bool) (meta.Project, error)
	Delete(ctx context.Context, a project.Actor, proj meta.Project) error
	Deletable(ctx context.Context, proj meta.Project) error
	CreationRestriction(ctx context.Context) (string, error)
}

// actor is the caller of r, as the domain services record it.
func (a *API) actor(r *http.Request) project.Actor {
	return project.Actor{Principal: caller(r), ClientIP: a.d.ClientIP(r)}
}

// projectRepoCounter counts a project's repositories (meta.Repositories).
type projectRepoCounter interface {
	CountProjectRepositories(ctx context.Context, name string) (int, error)
}

// projectJSON is Harbor's Project.
type projectJSON struct {
	ProjectID          int64           `json:"project_id"`
	OwnerID            int64           `json:"owner_id"`
	Name               string          `json:"name"`
	RegistryID         int64           `json:"registry_id,omitempty"` // a proxy-cache project's upstream
	CreationTime       time.Time       `json:"creation_time"`
	UpdateTime         time.Time       `json:"update_time"`
	Deleted            bool            `json:"deleted"`
	OwnerName          string          `json:"owner_name"`
	Togglable          bool            `json:"togglable"`
	CurrentUserRoleID  int             `json:"current_user_role_id"`
	CurrentUserRoleIDs []int           `json:"current_user_role_ids"`
	RepoCount          int             `json:"repo_count"`
	Metadata           projectMetadata `json:"metadata"`
	CVEAllowlist       cveAllowlist    `json:"cve_allowlist"`
}

// cveAllowlist is Harbor's CVEAllowlist, which Harbor always returns with
// a project. Berth has no vulnerability scanning yet, so it is always
// empty: no id, no expiry, no items.
type cveAllowlist struct {
	ID           int64     `json:"id"`
	ProjectID    int64     `json:"project_id"`
	ExpiresAt    *int64    `json:"expires_at"`
	Items        []cveItem `json:"items"`
	CreationTime time.Time `json:"creation_time"`
	UpdateTime   time.Time `json:"update_time"`
}

// cveItem is Harbor's CVEAllowlistItem.
type cveItem struct {
	CVEID string `json:"cve_id"`
}

// projectMetadata is Harbor's ProjectMetadata, for the keys Berth has.
type projectMetadata struct {
	Public string `json:"public"`
	// RetentionID is the project's tag retention policy, when it has one
	// (set by getProject: retention.go).
	RetentionID string `json:"retention_id,omitempty"`
	policyMeta         // set by getProject (policies.go)
}

func (a *API) projectJSON(p access.Principal, pi meta.ProjectInfo) projectJSON {
	out := projectJSON{
		ProjectID: pi.ID, OwnerID: pi.OwnerID, Name: pi.Name, RegistryID: pi.RegistryID, CreationTime: pi.CreatedAt, UpdateTime: pi.UpdatedAt,
		OwnerName: pi.OwnerName, RepoCount: pi.RepoCount, CurrentUserRoleIDs: []int{},
		Togglable:    access.Can(p, access.ProjectOf(pi.Project), access.ResourceProject, access.ActionUpdate),
		Metadata:     projectMetadata{Public: strconv.FormatBool(pi.Public)},
		CVEAllowlist: cveAllowlist{ProjectID: pi.ID, Items: []cveItem{}, CreationTime: pi.CreatedAt, UpdateTime: pi.UpdatedAt},
	}
	if role, ok := p.Roles[pi.ID]; ok && p.Kind == access.KindUser {
		out.CurrentUserRoleID, out.CurrentUserRoleIDs = int(role), []int{int(role)}
	}
	return out
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
	q := meta.ProjectQuery{Name: qv.Get("name"), Owner: qv.Get("owner"), Visible: project.VisibleTo(caller(r))}
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
	// StorageLimit is the project's storage quota in bytes (-1: none);
	// only system administrators may set it (quotas.go).
	StorageLimit *int64 `json:"storage_limit"`
	Metadata     *struct {
		Public     *string `json:"public"`
		policyMeta         // policies.go
	} `json:"metadata"`
	// CVEAllowlist is the project's own CVE allowlist (policies.go).
	CVEAllowlist *allowlistJSON `json:"cve_allowlist"`
	// RegistryID makes the project a proxy cache of that registry
	// endpoint (system administrators only; replication.go).
	RegistryID *int64 `json:"registry_id"`
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

// createProject is POST /projects. Who may create projects is the system
// setting project_creation_restriction (everyone, the default, or
// adminonly); robots need a system-level project:create scope. The
// creating user becomes the owner and a ProjectAdmin member.
func (a *API) createProject(w http.ResponseWriter, r *http.Request) error {
	if !caller(r).Authenticated() {
		return access.ErrUnauthorized
	}
	var req projectReq
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if err := project.ValidateName(req.ProjectName); err != nil {
		return err
	}
	public, err := req.public()
	if err != nil {
		return err
	}
	if req.StorageLimit != nil && *req.StorageLimit != -1 {
		if err := requireSystem(r, access.ResourceQuota, access.ActionUpdate); err != nil {
			return err
		}
		if err := validLimit(*req.StorageLimit); err != nil {
			return err
		}
		if _, err := a.quotas(); err != nil {
			return err
		}
	}
	if err := a.checkProxyProject(r, req.RegistryID); err != nil {
		return err
	}
	proj, err := a.d.ProjectService.Create(r.Context(), a.actor(r), req.ProjectName, public != nil && *public)
	if err != nil {
		return err
	}
	if err := a.bindProxyProject(r, proj.ID, req.RegistryID); err != nil {
		return err
	}
	if err := a.setProjectPolicy(r.Context(), proj.ID, req); err != nil { // policies.go
		return err
	}
	if req.StorageLimit != nil && *req.StorageLimit != -1 {
		if err := a.d.Quotas.SetLimit(r.Context(), proj.ID, *req.StorageLimit); err != nil {
			return err
		}
	}
	loc := Prefix + "/projects/" + strconv.FormatInt(proj.ID, 10)
	if strings.EqualFold(r.Header.Get("X-Resource-Name-In-Location"), "true") {
		loc = Prefix + "/projects/" + url.PathEscape(proj.Name)
	}
	w.Header().Set("Location", loc)
	w.WriteHeader(http.StatusCreated)
	return nil
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
	out := a.projectJSON(caller(r), pi)
	if out.Metadata.RetentionID, err = a.retentionID(r.Context(), proj.ID); err != nil {
		return err
	}
	if err := a.projectPolicyJSON(r.Context(), &out); err != nil { // policies.go
		return err
	}
	return writeJSON(w, http.StatusOK, out)
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

// updateProject is PUT /projects/{project_name_or_id}: metadata.public,
// the supply-chain metadata keys and cve_allowlist.
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
	if public != nil {
		if _, err := a.d.ProjectService.SetPublic(r.Context(), a.actor(r), proj, *public); err != nil {
			return err
		}
	}
	if err := a.setProjectPolicy(r.Context(), proj.ID, req); err != nil { // policies.go
		return err
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
	if err := a.d.ProjectService.Delete(r.Context(), a.actor(r), proj); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
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
	if err := a.d.ProjectService.Deletable(r.Context(), proj); err != nil {
		if !errors.Is(err, project.ErrNotEmpty) {
			return err
		}
		out.Deletable, out.Message = false, err.Error()
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
	md, err := a.policyMetadata(r.Context(), proj.ID) // policies.go
	if err != nil {
		return err
	}
	md[metaPublic] = strconv.FormatBool(proj.Public)
	if err := a.untaggedMetadata(r.Context(), proj, md); err != nil { // untagged.go
		return err
	}
	id, err := a.retentionID(r.Context(), proj.ID) // retention.go
	if err != nil {
		return err
	}
	if id != "" {
		md[metaRetentionID] = id
	}
	return writeJSON(w, http.StatusOK, md)
}

// getProjectMetadata is GET /projects/{project_name_or_id}/metadatas/{meta_name}.
func (a *API) getProjectMetadata(w http.ResponseWriter, r *http.Request) error {
	proj, err := a.authorizeProject(r, r.PathValue("project_name_or_id"), access.ResourceMetadata, access.ActionRead)
	if err != nil {
		return err
	}
	if r.PathValue("meta_name") == metaAutoDeleteUntagged {
		return a.getUntaggedMetadata(w, r, proj) // untagged.go
	}
	name := r.PathValue("meta_name")
	if name == metaRetentionID {
		id, err := a.retentionID(r.Context(), proj.ID)
		if err != nil {
			return err
		}
		if id == "" {
			return errNotFound("project %s has no retention policy", proj.Name)
		}
		return writeJSON(w, http.StatusOK, map[string]string{metaRetentionID: id})
	}
	if isPolicyMeta(name) && a.d.Policies != nil { // policies.go
		all, err := a.policyMetadata(r.Context(), proj.ID)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, map[string]string{name: all[name]})
	} else if name != metaPublic {
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
	name := r.PathValue("meta_name")
	if name == metaAutoDeleteUntagged {
		return a.putUntaggedMetadata(w, r, proj) // untagged.go
	}
	if !isPolicyMeta(name) && name != metaPublic {
		return errNotFound("project metadata %q does not exist; Berth has %q", truncate(name, 100), metaPublic)
	}
	var body map[string]string
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	if isPolicyMeta(name) { // policies.go
		if v, ok := body[name]; !ok || len(body) != 1 {
			return errBadRequest(`want {%q:"..."}`, name)
		} else if err := a.setPolicyMetadata(r.Context(), proj.ID, map[string]string{name: v}); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}
	v, ok := body[metaPublic]
	if !ok || len(body) != 1 {
		return errBadRequest(`want {"public":"true"} or {"public":"false"}`)
	}
	public, err := strconv.ParseBool(v)
	if err != nil {
		return errBadRequest(`public must be "true" or "false", got %q`, truncate(v, 20))
	}
	if _, err := a.d.ProjectService.SetPublic(r.Context(), a.actor(r), proj, public); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
