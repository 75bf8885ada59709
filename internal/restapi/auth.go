package restapi

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/websession"
)

// How callers authenticate (internal/websession, shared with the coming
// portal): Basic credentials (users and robots, checked with the login
// throttle on every request; no CSRF token needed, since browsers never
// attach them on their own and Berth sends no Basic challenge); the
// portal's signed session cookie "sid", whose unsafe requests must carry
// the CSRF token in X-Harbor-CSRF-Token, and which ends with a password
// change or reset, disabling and logout; or nothing: anonymous.

// authenticator is identity.Service as the API uses it to authenticate.
type authenticator interface {
	websession.Accounts
}

// sessionStore is what the default (synchronous) audit recorder writes
// to.
type sessionStore interface {
	AddAuditLog(ctx context.Context, a meta.AuditLog) error
}

// authenticate finds the caller and calls next with the principal in the
// request context.
func (a *API) authenticate(w http.ResponseWriter, r *http.Request, next func(*http.Request) error) error {
	ctx := r.Context()
	if strings.HasPrefix(r.URL.Path, "/c/") {
		// Logging in and out needs no principal, and a stale session (of a
		// disabled user, say) must not stand in the way.
		return next(r.WithContext(access.NewContext(ctx, access.Anonymous())))
	}
	p, err := a.sessions.Authenticate(w, r)
	if err != nil {
		return err
	}
	return next(r.WithContext(access.NewContext(ctx, p)))
}

// login is POST /c/login with the form fields principal and password, as
// Harbor's portal sends them. It sets the session and CSRF cookies.
// Robot accounts cannot log in to the portal; cross-site requests are
// refused (403).
func (a *API) login(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return errBadRequest("want a form with principal and password")
	}
	user, pass := r.PostForm.Get("principal"), r.PostForm.Get("password")
	if user == "" || pass == "" {
		return errBadRequest("principal and password are required")
	}
	if _, err := a.sessions.Login(w, r, user, pass); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// logout is GET /c/log_out: it ends the user's sessions and clears the
// session cookies.
func (a *API) logout(w http.ResponseWriter, r *http.Request) error {
	if err := a.sessions.Logout(w, r); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// auditEvent records that the caller did operation on resource in project
// projectID (0: about no project; users, settings, system robots). The
// resource of something in a project reads "<project>[/...]". A failure
// is logged by the recorder and never fails the request, which has
// succeeded.
func (a *API) auditEvent(r *http.Request, projectID int64, operation, resourceType, resource string) {
	user := caller(r).Name
	if user == "" {
		user = "anonymous"
	}
	a.d.Audit.Record(meta.AuditLog{Username: truncate(user, 255), Operation: operation, ResourceType: resourceType,
		Resource: truncate(resource, 1024), ProjectID: projectID, ClientIP: a.d.ClientIP(r), Result: meta.AuditSuccess})
}

// caller returns the request's principal (anonymous when none).
func caller(r *http.Request) access.Principal { return access.FromContext(r.Context()) }

// denied is the error for a caller lacking a permission: 401 when
// anonymous (log in and retry), 403 otherwise.
func denied(p access.Principal) error {
	if !p.Authenticated() {
		return access.ErrUnauthorized
	}
	return access.ErrDenied
}

// requireAuthenticated refuses anonymous callers.
func requireAuthenticated(r *http.Request) error {
	if !caller(r).Authenticated() {
		return access.ErrUnauthorized
	}
	return nil
}

// requireSystem checks a system-level permission (sysadmins, and robots
// holding it on namespace "/").
func requireSystem(r *http.Request, res access.Resource, act access.Action) error {
	if p := caller(r); !access.CanSystem(p, res, act) {
		return denied(p)
	}
	return nil
}

func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
