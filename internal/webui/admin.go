package webui

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/identity"
	"github.com/berth-registry/berth/internal/identity/ldap"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/settings"
)

// requireAdmin lets only active system administrators (users) through.
func requireAdmin(c *call) error {
	if !access.HumanAdmin(c.p) {
		return denied(c.p)
	}
	return nil
}

// usersView is the users page.
type usersView struct {
	Users    []meta.User
	Query    string
	Paging   paging
	SelfID   int64
	ErrorKey string
	Detail   string
	Notice   string
}

// usersPage is GET /admin/users.
func (u *UI) usersPage(c *call) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	return u.renderUsers(c, http.StatusOK, usersView{})
}

func (u *UI) renderUsers(c *call, status int, v usersView) error {
	pg := pagingOf(c.r)
	v.Query = truncate(strings.TrimSpace(c.r.URL.Query().Get("q")), 255)
	users, total, err := u.d.Users.ListUsers(c.r.Context(), meta.UserFilter{Username: v.Query}, pg.meta())
	if err != nil {
		return err
	}
	pg.Total = total
	v.Users, v.Paging, v.SelfID = users, pg, c.p.ID
	u.render(c, status, "admin_users", "users.title", v)
	return nil
}

// createUser is POST /admin/users.
func (u *UI) createUser(c *call) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	f := c.r.PostForm
	_, err := u.d.Identity.CreateUser(c.r.Context(), identity.NewUser{Username: strings.TrimSpace(f.Get("username")),
		Email: strings.TrimSpace(f.Get("email")), Realname: strings.TrimSpace(f.Get("realname")), Password: f.Get("password"),
		Sysadmin: f.Get("sysadmin") == "on"})
	switch {
	case errors.Is(err, identity.ErrInvalid):
		return u.renderUsers(c, http.StatusBadRequest, usersView{ErrorKey: "users.err.invalid", Detail: err.Error()})
	case errors.Is(err, meta.ErrUserExists):
		return u.renderUsers(c, http.StatusConflict, usersView{ErrorKey: "users.err.exists"})
	case err != nil:
		return err
	}
	u.auditSystem(c, "create", "user", f.Get("username"))
	return redirect(c, "/admin/users")
}

// changeUser is POST /admin/users/{uid}/{op}: disable, enable, admin,
// unadmin, password (reset). Administrators do not change themselves here
// (they would lock themselves out).
func (u *UI) changeUser(c *call) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	ctx := c.r.Context()
	id, err := strconv.ParseInt(c.r.PathValue("uid"), 10, 64)
	if err != nil || id < 1 {
		return errNotFound
	}
	usr, err := u.d.Users.GetUser(ctx, id)
	if err != nil {
		return err
	}
	if id == c.p.ID {
		return access.ErrDenied
	}
	op := c.r.PathValue("op")
	switch op {
	case "disable", "enable":
		_, err = u.d.Identity.SetDisabled(ctx, id, op == "disable")
	case "admin", "unadmin":
		_, err = u.d.Identity.SetSysadmin(ctx, id, op == "admin")
	case "password":
		err = u.d.Identity.ResetPassword(ctx, id, c.r.PostForm.Get("password"))
		switch {
		case errors.Is(err, identity.ErrInvalid):
			return u.renderUsers(c, http.StatusBadRequest, usersView{ErrorKey: "users.err.invalid", Detail: err.Error()})
		case errors.Is(err, identity.ErrNotLocal):
			return u.renderUsers(c, http.StatusBadRequest, usersView{ErrorKey: "password.notlocal"})
		}
	default:
		return errNotFound
	}
	if err != nil {
		return err
	}
	u.auditSystem(c, "update", "user", usr.Username)
	return redirect(c, "/admin/users")
}

func (u *UI) auditSystem(c *call, op, typ, resource string) {
	if u.d.Audit == nil {
		return
	}
	u.d.Audit.Record(meta.AuditLog{Username: c.actor(u).Username(), Operation: op, ResourceType: typ,
		Resource: truncate(resource, 1024), ClientIP: u.d.ClientIP(c.r), Result: meta.AuditSuccess})
}

// authFields are the settings the authentication page edits, in order.
var authFields = []string{"ldap_url", "ldap_search_dn", "ldap_base_dn", "ldap_filter", "ldap_uid", "ldap_scope",
	"ldap_group_base_dn", "ldap_group_search_filter", "ldap_group_attribute_name", "ldap_group_admin_dn",
	"ldap_group_membership_attribute", "ldap_group_search_scope", "ldap_timeout"}

// authView is the authentication settings page.
type authView struct {
	Mode        string
	Fields      []authField
	VerifyCert  bool
	StartTLS    bool
	HasPassword bool
	Saved       bool
	Tested      string // "ok" or the failure
	ErrorKey    string
	Detail      string
}

type authField struct{ Name, Value string }

// authPage is GET /admin/auth.
func (u *UI) authPage(c *call) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	return u.renderAuth(c, http.StatusOK, authView{Saved: c.r.URL.Query().Get("saved") == "1"})
}

func (u *UI) renderAuth(c *call, status int, v authView) error {
	cur, err := u.d.Settings.Get(c.r.Context())
	if err != nil {
		return err
	}
	v.Mode, v.VerifyCert, v.StartTLS, v.HasPassword = cur.AuthMode, cur.LDAP.VerifyCert, cur.LDAP.StartTLS, cur.LDAP.SearchPassword != ""
	for _, n := range authFields {
		k, _ := settings.LookupKey(n)
		v.Fields = append(v.Fields, authField{Name: n, Value: cur.Value(k)})
	}
	u.render(c, status, "admin_auth", "auth.title", v)
	return nil
}

// saveAuth is POST /admin/auth: the mode and the LDAP settings, or, with
// op=test, a connection test with the stored settings. An empty search
// password keeps the stored one, but only for the stored server and
// search DN: it is never sent anywhere new.
func (u *UI) saveAuth(c *call) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	ctx := c.r.Context()
	cur, err := u.d.Settings.Get(ctx)
	if err != nil {
		return err
	}
	f := c.r.PostForm
	if f.Get("op") == "test" {
		return u.renderAuth(c, http.StatusOK, authView{Tested: u.pingLDAP(ctx, cur.LDAP)})
	}
	changes := map[string]string{"auth_mode": f.Get("auth_mode"),
		"ldap_verify_cert": strconv.FormatBool(f.Get("ldap_verify_cert") == "on"),
		"ldap_start_tls":   strconv.FormatBool(f.Get("ldap_start_tls") == "on")}
	for _, n := range authFields {
		changes[n] = strings.TrimSpace(f.Get(n))
	}
	if pw := f.Get("ldap_search_password"); pw != "" {
		changes["ldap_search_password"] = pw
	} else if cur.LDAP.SearchPassword != "" && (changes["ldap_url"] != cur.LDAP.URL || changes["ldap_search_dn"] != cur.LDAP.SearchDN) {
		return u.renderAuth(c, http.StatusBadRequest, authView{ErrorKey: "auth.err.password"})
	}
	_, changed, err := u.d.Settings.Update(ctx, changes)
	if errors.Is(err, settings.ErrInvalid) {
		return u.renderAuth(c, http.StatusBadRequest, authView{ErrorKey: "auth.err.invalid", Detail: err.Error()})
	}
	if err != nil {
		return err
	}
	if len(changed) > 0 {
		sort.Strings(changed)
		u.auditSystem(c, "update", "configuration", strings.Join(changed, ","))
	}
	return redirect(c, "/admin/auth?saved=1")
}

// pingLDAP tests the connection and the search bind: "ok" or what failed.
func (u *UI) pingLDAP(ctx context.Context, cfg ldap.Config) string {
	if err := cfg.Validate(); err != nil {
		return err.Error()
	}
	if err := ldap.Ping(ctx, cfg); err != nil {
		u.log.InfoContext(ctx, "ldap ping failed", "err", err)
		return err.Error()
	}
	return "ok"
}

// systemView is the system information page.
type systemView struct {
	Info   SystemInfo
	Health []healthRow
}

type healthRow struct {
	Name string
	OK   bool
	Err  string
}

// systemPage is GET /admin/system.
func (u *UI) systemPage(c *call) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	v := systemView{Info: u.d.System}
	if u.d.Health != nil {
		res := u.d.Health(c.r.Context())
		names := make([]string, 0, len(res))
		for n := range res {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			row := healthRow{Name: n, OK: res[n] == nil}
			if res[n] != nil {
				row.Err = res[n].Error()
			}
			v.Health = append(v.Health, row)
		}
	}
	u.render(c, http.StatusOK, "admin_system", "system.title", v)
	return nil
}

// systemLogs is GET /admin/logs: the whole audit log.
func (u *UI) systemLogs(c *call) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	pg := pagingOf(c.r)
	logs, total, err := u.d.AuditLog.ListAuditLogs(c.r.Context(), meta.AuditFilter{}, pg.meta())
	if err != nil {
		return err
	}
	pg.Total = total
	u.render(c, http.StatusOK, "admin_logs", "logs.title", logsView{Entries: logs, Paging: pg})
	return nil
}
