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
	"github.com/berth-registry/berth/internal/identity"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/settings"
)

// accountManager is the identity service as the user and robot endpoints
// use it.
type accountManager interface {
	userManager  // users.go
	robotManager // robots.go
}

// userStore reads users.
type userStore interface {
	GetUser(ctx context.Context, id int64) (meta.User, error)
	GetUserByName(ctx context.Context, username string) (meta.User, error)
	ListUsers(ctx context.Context, f meta.UserFilter, p meta.Page) ([]meta.User, int, error)
}

// userManager changes users (identity validates and hashes).
type userManager interface {
	CreateUser(ctx context.Context, nu identity.NewUser) (meta.User, error)
	ChangePassword(ctx context.Context, id int64, oldPassword, newPassword, clientIP string) error
	ResetPassword(ctx context.Context, id int64, newPassword string) error
	UpdateProfile(ctx context.Context, id int64, email, realname string) (meta.User, error)
	SetSysadmin(ctx context.Context, id int64, sysadmin bool) (meta.User, error)
	SetDisabled(ctx context.Context, id int64, disabled bool) (meta.User, error)
	DeleteUser(ctx context.Context, id int64) error
}

// accountRoutes registers the users, members, robots, configurations,
// LDAP and audit log endpoints.
func (a *API) accountRoutes(mux *http.ServeMux) {
	a.handle(mux, "GET "+Prefix+"/users", a.listUsers)
	a.handle(mux, "POST "+Prefix+"/users", a.createUser)
	a.handle(mux, "GET "+Prefix+"/users/current", a.currentUser)
	a.handle(mux, "GET "+Prefix+"/users/search", a.searchUsers)
	a.handle(mux, "GET "+Prefix+"/users/{user_id}", a.getUser)
	a.handle(mux, "PUT "+Prefix+"/users/{user_id}", a.updateUser)
	a.handle(mux, "DELETE "+Prefix+"/users/{user_id}", a.deleteUser)
	a.handle(mux, "PUT "+Prefix+"/users/{user_id}/password", a.changePassword)
	a.handle(mux, "PUT "+Prefix+"/users/{user_id}/sysadmin", a.setSysadmin)
	a.handle(mux, "PUT "+Prefix+"/users/{user_id}/disabled", a.setDisabled)

	a.handle(mux, "GET "+Prefix+"/projects/{project_name_or_id}/members", a.listMembers)
	a.handle(mux, "POST "+Prefix+"/projects/{project_name_or_id}/members", a.addMember)
	a.handle(mux, "GET "+Prefix+"/projects/{project_name_or_id}/members/{mid}", a.getMember)
	a.handle(mux, "PUT "+Prefix+"/projects/{project_name_or_id}/members/{mid}", a.updateMember)
	a.handle(mux, "DELETE "+Prefix+"/projects/{project_name_or_id}/members/{mid}", a.removeMember)

	a.handle(mux, "GET "+Prefix+"/robots", a.listRobots)
	a.handle(mux, "POST "+Prefix+"/robots", a.createRobot)
	a.handle(mux, "GET "+Prefix+"/robots/{robot_id}", a.getRobot)
	a.handle(mux, "PUT "+Prefix+"/robots/{robot_id}", a.updateRobot)
	a.handle(mux, "PATCH "+Prefix+"/robots/{robot_id}", a.refreshRobotSecret)
	a.handle(mux, "DELETE "+Prefix+"/robots/{robot_id}", a.deleteRobot)

	a.handle(mux, "GET "+Prefix+"/configurations", a.getConfigurations)
	a.handle(mux, "PUT "+Prefix+"/configurations", a.updateConfigurations)

	a.handle(mux, "POST "+Prefix+"/ldap/ping", a.pingLDAP)
	a.handle(mux, "GET "+Prefix+"/ldap/users/search", a.searchLDAPUsers)
	a.handle(mux, "GET "+Prefix+"/ldap/groups/search", a.searchLDAPGroups)

	a.handle(mux, "GET "+Prefix+"/audit-logs", a.listAuditLogs)
	a.handle(mux, "GET "+Prefix+"/projects/{project_name}/logs", a.listProjectLogs)
	a.handle(mux, "GET "+Prefix+"/auditlog-exts", a.listAuditLogExts)
	a.handle(mux, "GET "+Prefix+"/auditlog-exts/events", a.listAuditLogEventTypes)
	a.handle(mux, "GET "+Prefix+"/projects/{project_name}/auditlog-exts", a.listProjectAuditLogExts)
}

// userJSON is Harbor's UserResp.
type userJSON struct {
	UserID       int64  `json:"user_id"`
	Username     string `json:"username"`
	Email        string `json:"email"`
	Realname     string `json:"realname"`
	Comment      string `json:"comment"`
	SysadminFlag bool   `json:"sysadmin_flag"`
	// AdminRoleInAuth: system administration comes from the directory's
	// admin group; shown for the current user only, as in Harbor.
	AdminRoleInAuth bool      `json:"admin_role_in_auth"`
	CreationTime    time.Time `json:"creation_time"`
	UpdateTime      time.Time `json:"update_time"`
}

func toUserJSON(u meta.User) userJSON {
	return userJSON{UserID: u.ID, Username: u.Username, Email: u.Email, Realname: u.Realname,
		SysadminFlag: u.Sysadmin, CreationTime: u.CreatedAt, UpdateTime: u.UpdatedAt}
}

// userID reads {user_id}.
func userID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("user_id"), 10, 64)
	if err != nil || id < 1 {
		return 0, errBadRequest("user_id must be a positive integer")
	}
	return id, nil
}

// selfOrSysadmin lets a user act on its own account, and system
// administrators on any.
func selfOrSysadmin(r *http.Request, id int64, act access.Action) error {
	p := caller(r)
	if p.Kind == access.KindUser && p.ID == id && p.Active(time.Now()) {
		return nil
	}
	return requireSystem(r, access.ResourceUser, act)
}

// listUsers is GET /users (system administrators) with q (username,
// email: substrings), page and page_size.
func (a *API) listUsers(w http.ResponseWriter, r *http.Request) error {
	if err := requireSystem(r, access.ResourceUser, access.ActionList); err != nil {
		return err
	}
	pg, err := parsePaging(r)
	if err != nil {
		return err
	}
	var f meta.UserFilter
	if q := r.URL.Query().Get("q"); q != "" {
		for _, term := range splitQuery(q) {
			key, val, ok := strings.Cut(term, "=")
			val = strings.TrimPrefix(val, "~")
			switch {
			case ok && key == "username":
				f.Username = val
			case ok && key == "email":
				f.Email = val
			default:
				return errBadRequest("q: want username=~... or email=~..., got %q", truncate(term, 100))
			}
		}
	}
	users, total, err := a.d.Users.ListUsers(r.Context(), f, pg.meta())
	if err != nil {
		return err
	}
	out := make([]userJSON, 0, len(users))
	for _, u := range users {
		out = append(out, toUserJSON(u))
	}
	setPagingHeaders(w, r, pg, total)
	return writeJSON(w, http.StatusOK, out)
}

// userCreateReq is Harbor's UserCreationReq.
type userCreateReq struct {
	Username string `json:"username"`
	Email    string `json:"email"`
	Realname string `json:"realname"`
	Comment  string `json:"comment"`
	Password string `json:"password"`
}

// createUser is POST /users: system administrators create local
// accounts, under db_auth only (under ldap_auth users come from the
// directory), as in Harbor. Berth has no self-registration.
func (a *API) createUser(w http.ResponseWriter, r *http.Request) error {
	if err := requireSystem(r, access.ResourceUser, access.ActionCreate); err != nil {
		return err
	}
	var req userCreateReq
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	cur, err := a.currentSettings(r.Context())
	if err != nil {
		return err
	}
	if cur.AuthMode != settings.AuthModeDB {
		return errForbidden("local users can be created under auth_mode db_auth only; the auth mode is %s", cur.AuthMode)
	}
	u, err := a.d.Identity.CreateUser(r.Context(), identity.NewUser{
		Username: req.Username, Email: req.Email, Realname: req.Realname, Password: req.Password,
	})
	if err != nil {
		return err
	}
	a.auditEvent(r, 0, "create", auditUser, u.Username)
	w.Header().Set("Location", location("users", strconv.FormatInt(u.ID, 10)))
	w.WriteHeader(http.StatusCreated)
	return nil
}

// currentUser is GET /users/current. Robots have no profile: 412, as in
// Harbor.
func (a *API) currentUser(w http.ResponseWriter, r *http.Request) error {
	p := caller(r)
	switch p.Kind {
	case access.KindAnonymous:
		return access.ErrUnauthorized
	case access.KindRobot:
		return errPrecondition("robot accounts have no user profile")
	}
	u, err := a.d.Users.GetUser(r.Context(), p.ID)
	if err != nil {
		return err
	}
	out := toUserJSON(u)
	out.AdminRoleInAuth = u.LDAPAdmin
	return writeJSON(w, http.StatusOK, out)
}

// userSearchJSON is Harbor's UserSearchRespItem.
type userSearchJSON struct {
	UserID   int64  `json:"user_id"`
	Username string `json:"username"`
}

// searchUsers is GET /users/search?username= for any logged-in caller
// (to pick project members): ids and names of the users whose name
// contains username.
func (a *API) searchUsers(w http.ResponseWriter, r *http.Request) error {
	if err := requireAuthenticated(r); err != nil {
		return err
	}
	name := r.URL.Query().Get("username")
	if name == "" {
		return errBadRequest("username is required")
	}
	pg, err := parsePaging(r)
	if err != nil {
		return err
	}
	users, total, err := a.d.Users.ListUsers(r.Context(), meta.UserFilter{Username: name}, pg.meta())
	if err != nil {
		return err
	}
	out := make([]userSearchJSON, 0, len(users))
	for _, u := range users {
		out = append(out, userSearchJSON{UserID: u.ID, Username: u.Username})
	}
	setPagingHeaders(w, r, pg, total)
	return writeJSON(w, http.StatusOK, out)
}

// getUser is GET /users/{user_id}: one's own profile, or any for system
// administrators.
func (a *API) getUser(w http.ResponseWriter, r *http.Request) error {
	id, err := userID(r)
	if err != nil {
		return err
	}
	if err := selfOrSysadmin(r, id, access.ActionRead); err != nil {
		return err
	}
	u, err := a.d.Users.GetUser(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toUserJSON(u))
}

// userProfileReq is Harbor's UserProfile.
type userProfileReq struct {
	Email    *string `json:"email"`
	Realname *string `json:"realname"`
	Comment  *string `json:"comment"`
}

// updateUser is PUT /users/{user_id}: e-mail and real name (comment is
// accepted and not kept), one's own or, for system administrators, any.
func (a *API) updateUser(w http.ResponseWriter, r *http.Request) error {
	id, err := userID(r)
	if err != nil {
		return err
	}
	if err := selfOrSysadmin(r, id, access.ActionUpdate); err != nil {
		return err
	}
	var req userProfileReq
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	u, err := a.d.Users.GetUser(r.Context(), id)
	if err != nil {
		return err
	}
	email, realname := u.Email, u.Realname
	if req.Email != nil {
		email = *req.Email
	}
	if req.Realname != nil {
		realname = *req.Realname
	}
	if _, err := a.d.Identity.UpdateProfile(r.Context(), id, email, realname); err != nil {
		return err
	}
	a.auditEvent(r, 0, "update", auditUser, u.Username)
	w.WriteHeader(http.StatusOK)
	return nil
}

// deleteUser is DELETE /users/{user_id} (system administrators). Nobody
// deletes their own account or the admin account.
func (a *API) deleteUser(w http.ResponseWriter, r *http.Request) error {
	id, err := userID(r)
	if err != nil {
		return err
	}
	if err := requireSystem(r, access.ResourceUser, access.ActionDelete); err != nil {
		return err
	}
	u, err := a.d.Users.GetUser(r.Context(), id)
	if err != nil {
		return err
	}
	if p := caller(r); p.Kind == access.KindUser && p.ID == id {
		return errForbidden("you cannot delete your own account")
	}
	if u.Username == identity.AdminUsername {
		return errForbidden("the %s account cannot be deleted", identity.AdminUsername)
	}
	if err := a.d.Identity.DeleteUser(r.Context(), id); err != nil {
		return err
	}
	a.auditEvent(r, 0, "delete", auditUser, u.Username)
	w.WriteHeader(http.StatusOK)
	return nil
}

// passwordReq is Harbor's PasswordReq.
type passwordReq struct {
	OldPassword string `json:"old_password"`
	NewPassword string `json:"new_password"`
}

// changePassword is PUT /users/{user_id}/password. Users change their own
// password with the old one; only human system administrators set other
// users' passwords (robots never: access.CanSetPassword). Directory users
// have no password here (403).
func (a *API) changePassword(w http.ResponseWriter, r *http.Request) error {
	id, err := userID(r)
	if err != nil {
		return err
	}
	if err := selfOrSysadmin(r, id, access.ActionUpdate); err != nil {
		return err
	}
	var req passwordReq
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.NewPassword == "" {
		return errBadRequest("new_password is required")
	}
	u, err := a.d.Users.GetUser(r.Context(), id)
	if err != nil {
		return err
	}
	p := caller(r)
	self := p.Kind == access.KindUser && p.ID == id
	if !self {
		if err := access.CanSetPassword(p); err != nil {
			return err
		}
	}
	switch {
	case self || req.OldPassword != "":
		if req.OldPassword == "" {
			return errBadRequest("old_password is required to change your own password")
		}
		if req.OldPassword == req.NewPassword {
			return errBadRequest("the new password must differ from the old one")
		}
		err = a.d.Identity.ChangePassword(r.Context(), id, req.OldPassword, req.NewPassword, a.d.ClientIP(r))
		if errors.Is(err, identity.ErrInvalidCredentials) {
			// Not 401: the caller is logged in; its old password is wrong.
			return errForbidden("the old password is wrong")
		}
	default:
		err = a.d.Identity.ResetPassword(r.Context(), id, req.NewPassword)
	}
	if err != nil {
		return err
	}
	a.auditEvent(r, 0, "change_password", auditUser, u.Username)
	w.WriteHeader(http.StatusOK)
	return nil
}

// sysadminReq is Harbor's UserSysAdminFlag.
type sysadminReq struct {
	SysadminFlag *bool `json:"sysadmin_flag"`
}

// setSysadmin is PUT /users/{user_id}/sysadmin: human system
// administrators only (access.CanGrant; robots never, whatever they hold).
// Nobody revokes their own flag, so the system never locks itself out.
func (a *API) setSysadmin(w http.ResponseWriter, r *http.Request) error {
	id, err := userID(r)
	if err != nil {
		return err
	}
	if err := requireSystem(r, access.ResourceUser, access.ActionUpdate); err != nil {
		return err
	}
	var req sysadminReq
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.SysadminFlag == nil {
		return errBadRequest("sysadmin_flag is required")
	}
	if err := access.CanGrant(caller(r), access.Grant{Sysadmin: true}, nil); err != nil {
		return err
	}
	if p := caller(r); p.Kind == access.KindUser && p.ID == id && !*req.SysadminFlag {
		return errForbidden("you cannot revoke your own system administration")
	}
	u, err := a.d.Identity.SetSysadmin(r.Context(), id, *req.SysadminFlag)
	if err != nil {
		return err
	}
	a.auditEvent(r, 0, fmt.Sprintf("set_sysadmin_%t", *req.SysadminFlag), auditUser, u.Username)
	w.WriteHeader(http.StatusOK)
	return nil
}

type disabledReq struct {
	Disabled *bool `json:"disabled"`
}

// setDisabled is PUT /users/{user_id}/disabled (system administrators), a
// Berth extension: a disabled user keeps its account, memberships and
// audit history but cannot log in, and its tokens and sessions stop
// working when they are next checked.
func (a *API) setDisabled(w http.ResponseWriter, r *http.Request) error {
	id, err := userID(r)
	if err != nil {
		return err
	}
	if err := requireSystem(r, access.ResourceUser, access.ActionUpdate); err != nil {
		return err
	}
	var req disabledReq
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Disabled == nil {
		return errBadRequest("disabled is required")
	}
	if p := caller(r); p.Kind == access.KindUser && p.ID == id && *req.Disabled {
		return errForbidden("you cannot disable your own account")
	}
	u, err := a.d.Identity.SetDisabled(r.Context(), id, *req.Disabled)
	if err != nil {
		return err
	}
	a.auditEvent(r, 0, fmt.Sprintf("set_disabled_%t", *req.Disabled), auditUser, u.Username)
	w.WriteHeader(http.StatusOK)
	return nil
}

// location returns the API path of a created resource.
func location(parts ...string) string {
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return Prefix + "/" + strings.Join(parts, "/")
}
