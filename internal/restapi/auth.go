package restapi

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/identity"
	"github.com/berth-registry/berth/internal/meta"
)

// How callers authenticate:
//
//   - Basic credentials (users and robots), checked by identity with its
//     login throttling on every request; no CSRF token needed, since
//     browsers never attach them on their own (Berth sends no Basic
//     challenge).
//   - The portal's session cookie "sid", set by POST /c/login. It is a
//     token signed with Deps.SessionKey (no server-side state, so every
//     replica accepts it), expiring after Deps.SessionTTL without activity
//     and after maxSessionAge in any case. The principal is looked up again
//     on every request, so disabling a user ends its sessions at once.
//     Unsafe requests (POST, PUT, PATCH, DELETE) authenticated by the cookie
//     must carry the session's CSRF token in X-Harbor-CSRF-Token (also in
//     the readable cookie "__csrf" and in that response header).
//   - Nothing: anonymous.
//
// Logging out clears the cookies; a copy of the cookie taken before stays
// valid until it expires (at most Deps.SessionTTL of inactivity).

// authenticator is identity.Service as the API uses it to authenticate.
type authenticator interface {
	Authenticate(ctx context.Context, username, password, clientIP string) (access.Principal, error)
	Principal(ctx context.Context, name string) (access.Principal, error)
}

// sessionStore records logins in the audit log.
type sessionStore interface {
	AddAuditLog(ctx context.Context, a meta.AuditLog) error
}

const (
	sessionCookie = "sid"
	csrfCookie    = "__csrf"
	csrfHeader    = "X-Harbor-CSRF-Token"
	maxSessionAge = 12 * time.Hour
)

// session is the signed content of the session cookie.
type session struct {
	Subject  string `json:"sub"`
	ID       string `json:"sid"` // random; the CSRF token derives from it
	AuthAt   int64  `json:"ats"` // when the user logged in (unix seconds)
	IssuedAt int64  `json:"iat"`
	Expires  int64  `json:"exp"`
}

// authenticate finds the caller, enforces CSRF on cookie sessions and
// calls next with the principal in the request context.
func (a *API) authenticate(w http.ResponseWriter, r *http.Request, next func(*http.Request) error) error {
	ctx := r.Context()
	if strings.HasPrefix(r.URL.Path, "/c/") {
		// Logging in and out needs no principal, and a stale session (of a
		// disabled user, say) must not stand in the way.
		return next(r.WithContext(access.NewContext(ctx, access.Anonymous())))
	}
	if h := r.Header.Get("Authorization"); h != "" {
		p, err := a.basicPrincipal(r, h)
		if err != nil {
			return err
		}
		return next(r.WithContext(access.NewContext(ctx, p)))
	}
	s, ok := a.readSession(r)
	if !ok {
		return next(r.WithContext(access.NewContext(ctx, access.Anonymous())))
	}
	p, err := a.d.Identity.Principal(ctx, s.Subject)
	switch {
	case errors.Is(err, identity.ErrInvalidCredentials): // the account is gone
		a.clearSession(w, r)
		return fmt.Errorf("%w: the session's user no longer exists", access.ErrUnauthorized)
	case err != nil:
		return err
	case !p.Active(a.d.Now()):
		a.clearSession(w, r)
		return fmt.Errorf("user %s: %w", p.Name, identity.ErrDisabled)
	}
	token := a.csrfToken(s.ID)
	if unsafeMethod(r.Method) && !hmac.Equal([]byte(r.Header.Get(csrfHeader)), []byte(token)) {
		return errForbidden("CSRF token missing or invalid: send the session's token in the %s header", csrfHeader)
	}
	w.Header().Set(csrfHeader, token)
	if now := a.d.Now(); now.Unix()-s.IssuedAt > int64(a.d.SessionTTL/time.Second)/2 {
		a.setSession(w, r, s.Subject, s.ID, s.AuthAt) // slide the expiry
	}
	return next(r.WithContext(access.NewContext(ctx, p)))
}

func unsafeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return false
	}
	return true
}

// basicPrincipal checks Basic credentials; other schemes are refused.
func (a *API) basicPrincipal(r *http.Request, header string) (access.Principal, error) {
	scheme, _, _ := strings.Cut(header, " ")
	if !strings.EqualFold(scheme, "Basic") {
		return access.Principal{}, fmt.Errorf("%w: unsupported authorization scheme %q; use Basic", access.ErrUnauthorized, truncate(scheme, 20))
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return access.Principal{}, fmt.Errorf("%w: malformed Basic credentials", access.ErrUnauthorized)
	}
	p, err := a.d.Identity.Authenticate(r.Context(), user, pass, a.d.ClientIP(r))
	if err != nil {
		if !errors.Is(err, identity.ErrBackendUnavailable) && !errors.Is(err, meta.ErrUnavailable) && !errors.Is(err, identity.ErrThrottled) {
			a.auditLogin(r, user, err)
		}
		return access.Principal{}, err
	}
	return p, nil
}

// login is POST /c/login with the form fields principal and password, as
// Harbor's portal sends them. It sets the session and CSRF cookies.
// Robot accounts cannot log in to the portal.
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
	if strings.HasPrefix(user, identity.RobotPrefix) {
		return fmt.Errorf("%w: robot accounts cannot log in to the portal", identity.ErrInvalidCredentials)
	}
	p, err := a.d.Identity.Authenticate(r.Context(), user, pass, a.d.ClientIP(r))
	if err != nil {
		if !errors.Is(err, identity.ErrBackendUnavailable) && !errors.Is(err, meta.ErrUnavailable) && !errors.Is(err, identity.ErrThrottled) {
			a.auditLogin(r, user, err)
		}
		return err
	}
	a.auditLogin(r, p.Name, nil)
	id, err := randomID()
	if err != nil {
		return err
	}
	a.setSession(w, r, p.Name, id, a.d.Now().Unix())
	w.Header().Set(csrfHeader, a.csrfToken(id))
	w.WriteHeader(http.StatusOK)
	return nil
}

// logout is GET /c/log_out: it clears the session cookies.
func (a *API) logout(w http.ResponseWriter, r *http.Request) error {
	a.clearSession(w, r)
	w.WriteHeader(http.StatusOK)
	return nil
}

func (a *API) auditLogin(r *http.Request, user string, err error) {
	result := meta.AuditSuccess
	if err != nil {
		result = meta.AuditFailure
	}
	a.d.Audit.Record(meta.AuditLog{Username: truncate(user, 255), Operation: "login", ResourceType: "user",
		Resource: truncate(user, 255), ClientIP: a.d.ClientIP(r), Result: result})
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

// setSession issues a session token for subject and sets the cookies.
func (a *API) setSession(w http.ResponseWriter, r *http.Request, subject, id string, authAt int64) {
	now := a.d.Now().Unix()
	exp := min(now+int64(a.d.SessionTTL/time.Second), authAt+int64(maxSessionAge/time.Second))
	s := session{Subject: subject, ID: id, AuthAt: authAt, IssuedAt: now, Expires: exp}
	payload, _ := json.Marshal(s) // a struct of strings and ints always encodes
	enc := base64.RawURLEncoding.EncodeToString(payload)
	value := enc + "." + a.mac("session."+enc)
	secure := a.secure(r)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: value, Path: "/", HttpOnly: true,
		Secure: secure, SameSite: http.SameSiteLaxMode})
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: a.csrfToken(id), Path: "/",
		Secure: secure, SameSite: http.SameSiteLaxMode})
}

func (a *API) clearSession(w http.ResponseWriter, r *http.Request) {
	secure := a.secure(r)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: secure, SameSite: http.SameSiteLaxMode})
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: "", Path: "/", MaxAge: -1,
		Secure: secure, SameSite: http.SameSiteLaxMode})
}

// readSession returns the request's valid, unexpired session, if any.
func (a *API) readSession(r *http.Request) (session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || len(a.d.SessionKey) == 0 {
		return session{}, false
	}
	enc, sig, ok := strings.Cut(c.Value, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(a.mac("session."+enc))) {
		return session{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return session{}, false
	}
	var s session
	if err := json.Unmarshal(payload, &s); err != nil || s.Subject == "" || s.ID == "" {
		return session{}, false
	}
	if a.d.Now().Unix() >= s.Expires {
		return session{}, false
	}
	return s, true
}

// csrfToken is the CSRF token of session id.
func (a *API) csrfToken(id string) string { return a.mac("csrf." + id) }

func (a *API) mac(msg string) string {
	m := hmac.New(sha256.New, a.d.SessionKey)
	m.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// secure reports whether cookies should be Secure: the request came over
// TLS (directly or through a proxy saying so), or the external URL is https.
func (a *API) secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") ||
		strings.HasPrefix(strings.ToLower(a.d.System.ExternalURL), "https://")
}

func randomID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("session id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
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
