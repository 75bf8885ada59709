package webui

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/identity/ldap"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/settings"
)

// repoStore is meta.Repositories as the portal uses it.
type repoStore interface {
	ListProjectRepositories(ctx context.Context, project, name string, p meta.Page) ([]meta.RepositoryInfo, int, error)
}

// userStore is meta.Users as the portal uses it.
type userStore interface {
	GetUser(ctx context.Context, id int64) (meta.User, error)
	GetUserByName(ctx context.Context, username string) (meta.User, error)
	ListUsers(ctx context.Context, f meta.UserFilter, p meta.Page) ([]meta.User, int, error)
	CreateUser(ctx context.Context, u meta.User) (meta.User, error)
}

// auditStore is meta.Audit as the portal uses it.
type auditStore interface {
	ListAuditLogs(ctx context.Context, f meta.AuditFilter, p meta.Page) ([]meta.AuditLog, int, error)
}

// projectHead is what every tab of a project shows: the project, the
// caller's role and which tabs and controls the caller gets.
type projectHead struct {
	Project meta.Project
	Role    string
	Tab     string
	// Tabs the caller may open, and controls it may use.
	Members, Robots, Settings, Logs bool
	Retention                       bool // retention.go
	CanDelete                       bool
	ErrorKey                        string
	Detail                          string
	// Quota is the storage bar (quota.go); nil: not shown.
	Quota *quotaBar
	// Immutability: the immutability tab (immutable.go).
	Immutability bool
}

func (u *UI) head(c *call, proj meta.Project, tab string) projectHead {
	ap := access.ProjectOf(proj)
	h := projectHead{Project: proj, Tab: tab,
		Members:   access.Can(c.p, ap, access.ResourceMember, access.ActionList),
		Robots:    access.Can(c.p, ap, access.ResourceRobot, access.ActionList),
		Settings:  access.Can(c.p, ap, access.ResourceMetadata, access.ActionUpdate),
		Logs:      access.Can(c.p, ap, access.ResourceLog, access.ActionList),
		CanDelete: access.Can(c.p, ap, access.ResourceProject, access.ActionDelete),
		Quota:     u.quota(c, proj),
	}
	h.Immutability = u.d.Immutable != nil && access.Can(c.p, ap, access.ResourceImmutableTag, access.ActionList)
	h.Retention = u.d.Retention != nil && access.Can(c.p, ap, access.ResourceTagRetention, access.ActionList)
	if r, ok := c.p.Roles[proj.ID]; ok {
		h.Role = r.String()
	}
	return h
}

// reposView is a project's repositories tab.
type reposView struct {
	projectHead
	Repos  []meta.RepositoryInfo
	Query  string
	Paging paging
	// CanPush: the caller may push here (the empty state's commands).
	CanPush bool
}

// projectRepos is GET /projects/{project}.
func (u *UI) projectRepos(c *call) error {
	proj, err := u.loadProject(c, access.ResourceRepository, access.ActionList)
	if err != nil {
		return err
	}
	return u.renderProjectRepos(c, proj, http.StatusOK, "")
}

func (u *UI) renderProjectRepos(c *call, proj meta.Project, status int, errKey string) error {
	pg := pagingOf(c.r)
	q := strings.TrimSpace(c.r.URL.Query().Get("q"))
	if len(q) > 255 {
		q = q[:255]
	}
	repos, total, err := u.d.Repos.ListProjectRepositories(c.r.Context(), proj.Name, q, pg.meta())
	if err != nil {
		return err
	}
	pg.Total = total
	v := reposView{projectHead: u.head(c, proj, "repos"), Repos: repos, Query: q, Paging: pg,
		CanPush: access.Can(c.p, access.ProjectOf(proj), access.ResourceRepository, access.ActionPush)}
	v.ErrorKey = errKey
	u.render(c, status, "project_repos", "project.title", v)
	return nil
}

// membersView is a project's members tab.
type membersView struct {
	projectHead
	Members   []meta.Member
	Paging    paging
	CanEdit   bool // add, change, remove
	Roles     []access.Role
	LDAPGroup bool // groups can be added (ldap_auth)
	SelfID    int64
}

// projectMembers is GET /projects/{project}/members.
func (u *UI) projectMembers(c *call) error {
	proj, err := u.loadProject(c, access.ResourceMember, access.ActionList)
	if err != nil {
		return err
	}
	return u.renderMembers(c, proj, http.StatusOK, "", "")
}

func (u *UI) renderMembers(c *call, proj meta.Project, status int, errKey, detail string) error {
	pg := pagingOf(c.r)
	ms, total, err := u.d.Projects.ListMembers(c.r.Context(), proj.ID, "", pg.meta())
	if err != nil {
		return err
	}
	pg.Total = total
	v := membersView{projectHead: u.head(c, proj, "members"), Members: ms, Paging: pg,
		CanEdit: access.Can(c.p, access.ProjectOf(proj), access.ResourceMember, access.ActionCreate),
		Roles:   access.Roles(), LDAPGroup: u.authMode(c.r.Context())}
	if c.p.Kind == access.KindUser && !c.p.Sysadmin {
		v.SelfID = c.p.ID
	}
	v.ErrorKey, v.Detail = errKey, detail
	u.render(c, status, "project_members", "project.title", v)
	return nil
}

func formRole(c *call) (access.Role, error) {
	n, err := strconv.Atoi(c.r.PostForm.Get("role"))
	if err != nil || !access.Role(n).Valid() {
		return 0, errBadForm
	}
	return access.Role(n), nil
}

// addMember is POST /projects/{project}/members: a user by name (a
// directory user not seen yet is onboarded under ldap_auth) or an LDAP
// group by DN or name, with the grant rule of the REST API.
func (u *UI) addMember(c *call) error {
	ctx := c.r.Context()
	proj, err := u.loadProject(c, access.ResourceMember, access.ActionCreate)
	if err != nil {
		return err
	}
	role, err := formRole(c)
	if err != nil {
		return err
	}
	if err := access.CanGrant(c.p, access.Grant{Role: role, RoleProject: access.ProjectOf(proj)}, nil); err != nil {
		return err
	}
	name := strings.TrimSpace(c.r.PostForm.Get("name"))
	if name == "" || len(name) > 1024 {
		return u.renderMembers(c, proj, http.StatusBadRequest, "members.err.name", "")
	}
	m := meta.Member{ProjectID: proj.ID, Role: int(role)}
	if c.r.PostForm.Get("kind") == "group" {
		dn, key, err := u.groupDN(ctx, name)
		if err != nil {
			return err
		}
		if key != "" {
			return u.renderMembers(c, proj, http.StatusBadRequest, key, "")
		}
		m.Kind, m.GroupDN = meta.MemberGroup, dn
	} else {
		usr, err := u.memberUser(ctx, name)
		if errors.Is(err, meta.ErrUserNotFound) {
			return u.renderMembers(c, proj, http.StatusBadRequest, "members.err.nouser", "")
		}
		if err != nil {
			return err
		}
		m.Kind, m.UserID = meta.MemberUser, usr.ID
	}
	got, err := u.d.Projects.AddMember(ctx, m)
	if errors.Is(err, meta.ErrMemberExists) {
		return u.renderMembers(c, proj, http.StatusConflict, "members.err.exists", "")
	}
	if err != nil {
		return err
	}
	u.auditMember(c, proj, "create", got)
	return redirect(c, "/projects/"+proj.Name+"/members")
}

// memberUser finds a user by name, onboarding a directory user under
// ldap_auth (as the REST API does).
func (u *UI) memberUser(ctx context.Context, name string) (meta.User, error) {
	usr, err := u.d.Users.GetUserByName(ctx, name)
	if !errors.Is(err, meta.ErrUserNotFound) || u.d.Settings == nil {
		return usr, err
	}
	cur, serr := u.d.Settings.Get(ctx)
	if serr != nil || cur.AuthMode != settings.AuthModeLDAP {
		return usr, err
	}
	found, serr := ldap.SearchUsers(ctx, cur.LDAP, name, 10)
	if serr != nil {
		return meta.User{}, serr
	}
	for _, lu := range found {
		if !strings.EqualFold(lu.Username, name) {
			continue
		}
		usr, err := u.d.Users.CreateUser(ctx, meta.User{Username: lu.Username, Email: lu.Email, Realname: lu.DisplayName,
			Source: meta.SourceLDAP, LDAPDN: lu.DN, LDAPGroupDNs: lu.GroupDNs, LDAPAdmin: lu.Admin})
		if errors.Is(err, meta.ErrUserExists) {
			return u.d.Users.GetUserByName(ctx, lu.Username)
		}
		return usr, err
	}
	return meta.User{}, meta.ErrUserNotFound
}

// groupDN finds an LDAP group by DN or name; a refusal comes back as a
// message key.
func (u *UI) groupDN(ctx context.Context, name string) (string, string, error) {
	if u.d.Settings == nil {
		return "", "members.err.noldap", nil
	}
	cur, err := u.d.Settings.Get(ctx)
	if err != nil {
		return "", "", err
	}
	if cur.AuthMode != settings.AuthModeLDAP {
		return "", "members.err.noldap", nil
	}
	if strings.Contains(name, "=") {
		g, err := ldap.GroupByDN(ctx, cur.LDAP, name)
		if errors.Is(err, ldap.ErrGroupNotFound) {
			return "", "members.err.nogroup", nil
		}
		return g.DN, "", err
	}
	groups, err := ldap.SearchGroups(ctx, cur.LDAP, name, 10)
	if err != nil {
		return "", "", err
	}
	var match []ldap.Group
	for _, g := range groups {
		if strings.EqualFold(g.Name, name) {
			match = append(match, g)
		}
	}
	if len(match) != 1 {
		return "", "members.err.nogroup", nil
	}
	return match[0].DN, "", nil
}

// loadMember reads {mid} of proj and applies the REST API's rules for
// changing it: not one's own membership (unless a system administrator),
// and only a member the caller could have granted.
func (u *UI) loadMember(c *call, proj meta.Project) (meta.Member, error) {
	id, err := strconv.ParseInt(c.r.PathValue("mid"), 10, 64)
	if err != nil || id < 1 {
		return meta.Member{}, errNotFound
	}
	m, err := u.d.Projects.GetMember(c.r.Context(), proj.ID, id)
	if err != nil {
		return meta.Member{}, err
	}
	if m.Kind == meta.MemberUser && c.p.Kind == access.KindUser && c.p.ID == m.UserID && !c.p.Sysadmin {
		return meta.Member{}, access.ErrDenied
	}
	if err := access.CanGrant(c.p, access.Grant{Role: access.Role(m.Role), RoleProject: access.ProjectOf(proj)}, nil); err != nil {
		return meta.Member{}, err
	}
	return m, nil
}

// changeMemberRole is POST /projects/{project}/members/{mid}/role.
func (u *UI) changeMemberRole(c *call) error {
	proj, err := u.loadProject(c, access.ResourceMember, access.ActionUpdate)
	if err != nil {
		return err
	}
	m, err := u.loadMember(c, proj)
	if err != nil {
		return err
	}
	role, err := formRole(c)
	if err != nil {
		return err
	}
	if err := access.CanGrant(c.p, access.Grant{Role: role, RoleProject: access.ProjectOf(proj)}, nil); err != nil {
		return err
	}
	if err := u.d.Projects.UpdateMemberRole(c.r.Context(), proj.ID, m.ID, int(role)); err != nil {
		return err
	}
	m.Role = int(role)
	u.auditMember(c, proj, "update", m)
	return redirect(c, "/projects/"+proj.Name+"/members")
}

// removeMember is POST /projects/{project}/members/{mid}/remove.
func (u *UI) removeMember(c *call) error {
	proj, err := u.loadProject(c, access.ResourceMember, access.ActionDelete)
	if err != nil {
		return err
	}
	m, err := u.loadMember(c, proj)
	if err != nil {
		return err
	}
	if err := u.d.Projects.RemoveMember(c.r.Context(), proj.ID, m.ID); err != nil {
		return err
	}
	u.auditMember(c, proj, "delete", m)
	return redirect(c, "/projects/"+proj.Name+"/members")
}

func (u *UI) auditMember(c *call, proj meta.Project, op string, m meta.Member) {
	if u.d.Audit == nil {
		return
	}
	u.d.Audit.Record(meta.AuditLog{ProjectID: proj.ID, Username: c.actor(u).Username(), Operation: op, ResourceType: "member",
		Resource: truncate(proj.Name+"/"+m.Name+" as "+access.Role(m.Role).String(), 1024), ClientIP: u.d.ClientIP(c.r),
		Result: meta.AuditSuccess})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// settingsView is a project's settings tab.
type settingsView struct {
	projectHead
	Saved  bool
	Supply *supplyView // security.go
}

// projectSettings is GET /projects/{project}/settings.
func (u *UI) projectSettings(c *call) error {
	proj, err := u.loadProject(c, access.ResourceMetadata, access.ActionUpdate)
	if err != nil {
		return err
	}
	u.render(c, http.StatusOK, "project_settings", "project.title",
		settingsView{projectHead: u.head(c, proj, "settings"), Saved: c.r.URL.Query().Get("saved") == "1",
			Supply: u.projectSupply(c.r.Context(), proj.ID, access.Can(c.p, access.ProjectOf(proj), access.ResourceProject, access.ActionUpdate))})
	return nil
}

// saveProjectSettings is POST /projects/{project}/settings (public).
func (u *UI) saveProjectSettings(c *call) error {
	proj, err := u.loadProject(c, access.ResourceMetadata, access.ActionUpdate)
	if err != nil {
		return err
	}
	if _, err := u.d.ProjectService.SetPublic(c.r.Context(), c.actor(u), proj, c.r.PostForm.Get("public") == "on"); err != nil {
		return err
	}
	return redirect(c, "/projects/"+proj.Name+"/settings?saved=1")
}

// logsView is an audit log page (a project's or the system's).
type logsView struct {
	projectHead
	Entries []meta.AuditLog
	Paging  paging
}

// projectLogs is GET /projects/{project}/logs: entries about the project
// (by id).
func (u *UI) projectLogs(c *call) error {
	proj, err := u.loadProject(c, access.ResourceLog, access.ActionList)
	if err != nil {
		return err
	}
	pg := pagingOf(c.r)
	logs, total, err := u.d.AuditLog.ListAuditLogs(c.r.Context(), meta.AuditFilter{ProjectIDs: []int64{proj.ID}}, pg.meta())
	if err != nil {
		return err
	}
	pg.Total = total
	u.render(c, http.StatusOK, "project_logs", "project.title", logsView{projectHead: u.head(c, proj, "logs"), Entries: logs, Paging: pg})
	return nil
}
