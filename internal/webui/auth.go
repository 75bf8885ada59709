package webui

import (
	"context"
	"errors"
	"net/http"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/identity"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/settings"
	"github.com/berth-registry/berth/internal/websession"
)

// accounts is identity.Service as the portal uses it.
type accounts interface {
	ChangePassword(ctx context.Context, id int64, oldPassword, newPassword, clientIP string) error
	ResetPassword(ctx context.Context, id int64, newPassword string) error
	CreateUser(ctx context.Context, nu identity.NewUser) (meta.User, error)
	SetDisabled(ctx context.Context, id int64, disabled bool) (meta.User, error)
	SetSysadmin(ctx context.Context, id int64, sysadmin bool) (meta.User, error)
	CreateRobot(ctx context.Context, nr identity.NewRobot) (meta.Robot, string, error)
	UpdateRobot(ctx context.Context, by *access.Principal, id int64, fn func(*meta.Robot)) (meta.Robot, error)
	RefreshRobotSecret(ctx context.Context, by *access.Principal, id int64, secret string) (string, error)
}

// loginView is the login page.
type loginView struct {
	Next     string
	Username string
	LDAP     bool   // auth_mode is ldap_auth
	ErrorKey string // set after a failed attempt
}

func (u *UI) authMode(ctx context.Context) bool {
	if u.d.Settings == nil {
		return false
	}
	s, err := u.d.Settings.Get(ctx)
	return err == nil && s.AuthMode == settings.AuthModeLDAP
}

// loginPage is GET /login; a logged-in user goes on to next.
func (u *UI) loginPage(c *call) error {
	next := safeNext(c.r.URL.Query().Get("next"))
	if c.p.Authenticated() {
		return redirect(c, next)
	}
	u.render(c, http.StatusOK, "login", "login.title", loginView{Next: next, LDAP: u.authMode(c.r.Context())})
	return nil
}

// login is POST /login: a cross-site post is refused by websession.Login.
func (u *UI) login(c *call) error {
	f := c.r.PostForm
	v := loginView{Next: safeNext(f.Get("next")), Username: f.Get("username"), LDAP: u.authMode(c.r.Context())}
	_, err := u.d.Sessions.Login(c.w, c.r, f.Get("username"), f.Get("password"))
	switch {
	case err == nil:
		return redirect(c, v.Next)
	case errors.Is(err, websession.ErrCrossSite):
		return err
	case errors.Is(err, identity.ErrThrottled):
		v.ErrorKey = "login.throttled"
	case errors.Is(err, identity.ErrBackendUnavailable):
		v.ErrorKey = "login.unavailable"
	case errors.Is(err, identity.ErrInvalidCredentials), errors.Is(err, identity.ErrDisabled), errors.Is(err, access.ErrUnauthorized):
		v.ErrorKey = "login.invalid"
	default:
		return err
	}
	u.render(c, http.StatusUnauthorized, "login", "login.title", v)
	return nil
}

// logout is POST /logout (with the CSRF token).
func (u *UI) logout(c *call) error {
	if err := u.d.Sessions.Logout(c.w, c.r); err != nil {
		return err
	}
	return redirect(c, "/login")
}

// passwordView is the change-password page.
type passwordView struct {
	ErrorKey string
	Detail   string
	Done     bool
}

func requireUser(c *call) error {
	if c.p.Kind != access.KindUser {
		return access.ErrUnauthorized
	}
	return nil
}

// passwordPage is GET /account/password.
func (u *UI) passwordPage(c *call) error {
	if err := requireUser(c); err != nil {
		return err
	}
	u.render(c, http.StatusOK, "password", "password.title", passwordView{Done: c.r.URL.Query().Get("done") == "1"})
	return nil
}

// changePassword is POST /account/password. It ends every session of the
// user (identity), so the user logs in again.
func (u *UI) changePassword(c *call) error {
	if err := requireUser(c); err != nil {
		return err
	}
	f := c.r.PostForm
	var v passwordView
	switch {
	case f.Get("new") != f.Get("confirm"):
		v.ErrorKey = "password.mismatch"
	default:
		err := u.d.Identity.ChangePassword(c.r.Context(), c.p.ID, f.Get("old"), f.Get("new"), u.d.ClientIP(c.r))
		switch {
		case err == nil:
			return redirect(c, "/login?next=%2Faccount%2Fpassword%3Fdone%3D1")
		case errors.Is(err, identity.ErrInvalidCredentials):
			v.ErrorKey = "password.wrongold"
		case errors.Is(err, identity.ErrNotLocal):
			v.ErrorKey = "password.notlocal"
		case errors.Is(err, identity.ErrInvalid):
			v.ErrorKey, v.Detail = "password.weak", err.Error()
		case errors.Is(err, identity.ErrThrottled):
			v.ErrorKey = "login.throttled"
		default:
			return err
		}
	}
	u.render(c, http.StatusBadRequest, "password", "password.title", v)
	return nil
}
