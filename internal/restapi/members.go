package restapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/identity/ldap"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/settings"
)

// memberStore reads and changes project members, and onboards a directory
// user named as a member before its first login.
type memberStore interface {
	AddMember(ctx context.Context, m meta.Member) (meta.Member, error)
	GetMember(ctx context.Context, projectID, id int64) (meta.Member, error)
	ListMembers(ctx context.Context, projectID int64, name string, p meta.Page) ([]meta.Member, int, error)
	UpdateMemberRole(ctx context.Context, projectID, id int64, role int) error
	RemoveMember(ctx context.Context, projectID, id int64) error
}

// memberUserStore onboards a directory user added as a member (meta.Users).
type memberUserStore interface {
	CreateUser(ctx context.Context, u meta.User) (meta.User, error)
}

// memberJSON is Harbor's ProjectMemberEntity. Berth keeps no user group
// table: a group member's entity_id is 0 and entity_name is its LDAP DN.
type memberJSON struct {
	ID         int64  `json:"id"`
	ProjectID  int64  `json:"project_id"`
	EntityName string `json:"entity_name"`
	RoleName   string `json:"role_name"`
	RoleID     int    `json:"role_id"`
	EntityID   int64  `json:"entity_id"`
	EntityType string `json:"entity_type"` // u (user) or g (group)
}

func toMemberJSON(m meta.Member) memberJSON {
	out := memberJSON{ID: m.ID, ProjectID: m.ProjectID, EntityName: m.Name, RoleName: access.Role(m.Role).String(),
		RoleID: m.Role, EntityType: "u", EntityID: m.UserID}
	if m.Kind == meta.MemberGroup {
		out.EntityType, out.EntityID = "g", 0
	}
	return out
}

// memberReq is Harbor's ProjectMember.
type memberReq struct {
	RoleID     int `json:"role_id"`
	MemberUser *struct {
		UserID   int64  `json:"user_id"`
		Username string `json:"username"`
	} `json:"member_user"`
	MemberGroup *struct {
		ID          int64  `json:"id"`
		GroupName   string `json:"group_name"`
		GroupType   int    `json:"group_type"`
		LDAPGroupDN string `json:"ldap_group_dn"`
	} `json:"member_group"`
}

// roleReq is Harbor's RoleRequest.
type roleReq struct {
	RoleID int `json:"role_id"`
}

func parseRole(id int) (access.Role, error) {
	r := access.Role(id)
	if !r.Valid() {
		return 0, errBadRequest("role_id %d: want 1 (projectAdmin), 2 (developer), 3 (guest), 4 (maintainer) or 5 (limitedGuest)", id)
	}
	return r, nil
}

func memberID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("mid"), 10, 64)
	if err != nil || id < 1 {
		return 0, errBadRequest("mid must be a positive integer")
	}
	return id, nil
}

// listMembers is GET /projects/{project_name_or_id}/members with
// entityname (substring), page and page_size; for Guests and up.
func (a *API) listMembers(w http.ResponseWriter, r *http.Request) error {
	proj, err := a.authorizeProject(r, r.PathValue("project_name_or_id"), access.ResourceMember, access.ActionList)
	if err != nil {
		return err
	}
	pg, err := parsePaging(r)
	if err != nil {
		return err
	}
	ms, total, err := a.d.Projects.ListMembers(r.Context(), proj.ID, r.URL.Query().Get("entityname"), pg.meta())
	if err != nil {
		return err
	}
	out := make([]memberJSON, 0, len(ms))
	for _, m := range ms {
		out = append(out, toMemberJSON(m))
	}
	setPagingHeaders(w, r, pg, total)
	return writeJSON(w, http.StatusOK, out)
}

// getMember is GET /projects/{project_name_or_id}/members/{mid}.
func (a *API) getMember(w http.ResponseWriter, r *http.Request) error {
	_, m, err := a.memberOf(r, access.ActionRead)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toMemberJSON(m))
}

// memberOf authorizes act on the members of the request's project and
// loads the member named by {mid}.
func (a *API) memberOf(r *http.Request, act access.Action) (meta.Project, meta.Member, error) {
	proj, err := a.authorizeProject(r, r.PathValue("project_name_or_id"), access.ResourceMember, act)
	if err != nil {
		return meta.Project{}, meta.Member{}, err
	}
	id, err := memberID(r)
	if err != nil {
		return meta.Project{}, meta.Member{}, err
	}
	m, err := a.d.Projects.GetMember(r.Context(), proj.ID, id)
	if err != nil {
		return meta.Project{}, meta.Member{}, err
	}
	return proj, m, nil
}

// addMember is POST /projects/{project_name_or_id}/members (ProjectAdmin
// and system administrators): member_user by user_id or username (a
// directory user not seen yet is onboarded under ldap_auth), or
// member_group by ldap_group_dn or group_name (ldap_auth only; the group
// must exist in the directory and is stored under the DN the directory
// gives it).
func (a *API) addMember(w http.ResponseWriter, r *http.Request) error {
	proj, err := a.authorizeProject(r, r.PathValue("project_name_or_id"), access.ResourceMember, access.ActionCreate)
	if err != nil {
		return err
	}
	var req memberReq
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	role, err := parseRole(req.RoleID)
	if err != nil {
		return err
	}
	if err := a.canGrantRole(r, proj, role); err != nil {
		return err
	}
	m := meta.Member{ProjectID: proj.ID, Role: int(role)}
	switch {
	case req.MemberUser != nil && req.MemberGroup != nil:
		return errBadRequest("give member_user or member_group, not both")
	case req.MemberUser != nil:
		u, err := a.memberUser(r.Context(), req.MemberUser.UserID, req.MemberUser.Username)
		if err != nil {
			return err
		}
		m.Kind, m.UserID = meta.MemberUser, u.ID
	case req.MemberGroup != nil:
		g := req.MemberGroup
		if g.GroupType != 0 && g.GroupType != groupTypeLDAP {
			return errBadRequest("group_type %d: Berth has LDAP groups (1) only", g.GroupType)
		}
		dn, err := a.memberGroupDN(r.Context(), g.LDAPGroupDN, g.GroupName)
		if err != nil {
			return err
		}
		m.Kind, m.GroupDN = meta.MemberGroup, dn
	default:
		return errBadRequest("member_user or member_group is required")
	}
	got, err := a.d.Projects.AddMember(r.Context(), m)
	if err != nil {
		return err
	}
	a.auditEvent(r, proj.ID, "create", auditMember, memberResource(proj.Name, got))
	w.Header().Set("Location", location("projects", strconv.FormatInt(proj.ID, 10), "members", strconv.FormatInt(got.ID, 10)))
	w.WriteHeader(http.StatusCreated)
	return nil
}

// memberUser finds the user to add by id or name, onboarding a directory
// user under ldap_auth.
func (a *API) memberUser(ctx context.Context, id int64, name string) (meta.User, error) {
	switch {
	case id > 0:
		return a.d.Users.GetUser(ctx, id)
	case name == "":
		return meta.User{}, errBadRequest("member_user needs user_id or username")
	}
	u, err := a.d.Users.GetUserByName(ctx, name)
	if !errors.Is(err, meta.ErrUserNotFound) {
		return u, err
	}
	cur, serr := a.currentSettings(ctx)
	if serr != nil {
		return meta.User{}, serr
	}
	if cur.AuthMode != settings.AuthModeLDAP {
		return meta.User{}, err
	}
	found, serr := ldap.SearchUsers(ctx, cur.LDAP, name, 10)
	if serr != nil {
		return meta.User{}, serr
	}
	for _, lu := range found {
		if !strings.EqualFold(lu.Username, name) {
			continue
		}
		u, err := a.d.Users.CreateUser(ctx, meta.User{Username: lu.Username, Email: lu.Email, Realname: lu.DisplayName,
			Source: meta.SourceLDAP, LDAPDN: lu.DN, LDAPGroupDNs: lu.GroupDNs, LDAPAdmin: lu.Admin})
		if errors.Is(err, meta.ErrUserExists) { // onboarded meanwhile
			return a.d.Users.GetUserByName(ctx, lu.Username)
		}
		return u, err
	}
	return meta.User{}, fmt.Errorf("user %s (neither in Berth nor in the directory): %w", name, meta.ErrUserNotFound)
}

// memberGroupDN checks an LDAP group given by DN or name and returns the
// DN as the directory spells it.
func (a *API) memberGroupDN(ctx context.Context, dn, name string) (string, error) {
	cur, err := a.currentSettings(ctx)
	if err != nil {
		return "", err
	}
	if cur.AuthMode != settings.AuthModeLDAP {
		return "", errBadRequest("LDAP groups can be project members under auth_mode ldap_auth only")
	}
	if dn != "" {
		g, err := ldap.GroupByDN(ctx, cur.LDAP, dn)
		if errors.Is(err, ldap.ErrGroupNotFound) {
			return "", errNotFound("LDAP group %q not found under ldap_group_base_dn and ldap_group_search_filter", truncate(dn, 200))
		}
		if err != nil {
			return "", err
		}
		return g.DN, nil
	}
	if name == "" {
		return "", errBadRequest("member_group needs ldap_group_dn or group_name (Berth keeps no group ids)")
	}
	groups, err := ldap.SearchGroups(ctx, cur.LDAP, name, 10)
	if err != nil {
		return "", err
	}
	var match []ldap.Group
	for _, g := range groups {
		if strings.EqualFold(g.Name, name) {
			match = append(match, g)
		}
	}
	switch len(match) {
	case 0:
		return "", errNotFound("LDAP group %q not found", truncate(name, 200))
	case 1:
		return match[0].DN, nil
	}
	return "", errBadRequest("%d LDAP groups are named %q; give ldap_group_dn", len(match), truncate(name, 200))
}

// updateMember is PUT /projects/{project_name_or_id}/members/{mid} with
// {"role_id": n} (ProjectAdmin and system administrators).
func (a *API) updateMember(w http.ResponseWriter, r *http.Request) error {
	proj, err := a.authorizeProject(r, r.PathValue("project_name_or_id"), access.ResourceMember, access.ActionUpdate)
	if err != nil {
		return err
	}
	id, err := memberID(r)
	if err != nil {
		return err
	}
	var req roleReq
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	role, err := parseRole(req.RoleID)
	if err != nil {
		return err
	}
	m, err := a.d.Projects.GetMember(r.Context(), proj.ID, id)
	if err != nil {
		return err
	}
	if err := notSelf(r, m); err != nil {
		return err
	}
	// The caller must hold the new role, and the member's current one:
	// nobody changes a member more powerful than themselves.
	if err := a.canGrantRole(r, proj, access.Role(m.Role)); err != nil {
		return err
	}
	if err := a.canGrantRole(r, proj, role); err != nil {
		return err
	}
	if err := a.d.Projects.UpdateMemberRole(r.Context(), proj.ID, id, int(role)); err != nil {
		return err
	}
	m.Role = int(role)
	a.auditEvent(r, proj.ID, "update", auditMember, memberResource(proj.Name, m))
	w.WriteHeader(http.StatusOK)
	return nil
}

// removeMember is DELETE /projects/{project_name_or_id}/members/{mid}
// (ProjectAdmin and system administrators).
func (a *API) removeMember(w http.ResponseWriter, r *http.Request) error {
	proj, m, err := a.memberOf(r, access.ActionDelete)
	if err != nil {
		return err
	}
	if err := notSelf(r, m); err != nil {
		return err
	}
	if err := a.canGrantRole(r, proj, access.Role(m.Role)); err != nil {
		return err
	}
	if err := a.d.Projects.RemoveMember(r.Context(), proj.ID, m.ID); err != nil {
		return err
	}
	a.auditEvent(r, proj.ID, "delete", auditMember, memberResource(proj.Name, m))
	w.WriteHeader(http.StatusOK)
	return nil
}

// canGrantRole applies the grant rule to a project role: the caller must
// hold every permission of role in proj (access.CanGrant).
func (a *API) canGrantRole(r *http.Request, proj meta.Project, role access.Role) error {
	return access.CanGrant(caller(r), access.Grant{Role: role, RoleProject: access.ProjectOf(proj)}, nil)
}

// notSelf refuses a project admin changing or removing its own direct
// membership (it would lock itself out); system administrators may.
func notSelf(r *http.Request, m meta.Member) error {
	p := caller(r)
	if m.Kind == meta.MemberUser && p.Kind == access.KindUser && p.ID == m.UserID && !p.Sysadmin {
		return errForbidden("you cannot change or remove your own membership")
	}
	return nil
}

// memberResource is the audit resource of a membership: "<project>/<name>
// as <role>".
func memberResource(project string, m meta.Member) string {
	return auditProjectResource(project, m.Name) + " as " + access.Role(m.Role).String()
}
