// Package websession authenticates browser and API callers for the web
// edges (the REST API and the coming portal): Basic credentials, the
// portal's signed session cookie with its CSRF token, and logging in and
// out. Sessions hold no server-side state, so every replica sharing the
// key accepts them; a per-user session generation in the database ends
// them early (password change or reset, disabling, logout).
//
// It must not import an edge package (restapi, distapi, tokenauth,
// webui); edges map its errors (access.ErrUnauthorized, access.ErrDenied,
// identity's) to their own bodies.
package websession

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
	"net/url"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/identity"
	"github.com/berth-registry/berth/internal/meta"
)

// Cookie and header names (Harbor's, so its portal and clients work).
const (
	SessionCookie = "sid"
	CSRFCookie    = "__csrf"
	CSRFHeader    = "X-Harbor-CSRF-Token"
)

// Defaults.
const (
	DefaultTTL    = 30 * time.Minute // without activity
	DefaultMaxAge = 12 * time.Hour   // after the login, whatever the activity
)

// DeniedError is a refusal (403) with its reason. It matches
// access.ErrDenied.
type DeniedError struct{ Reason string }

func (e *DeniedError) Error() string { return e.Reason }

// Is makes errors.Is(err, access.ErrDenied) true.
func (e *DeniedError) Is(target error) bool { return target == access.ErrDenied }

// Errors of the session checks; both match access.ErrDenied.
var (
	ErrCSRF      = &DeniedError{"CSRF token missing or invalid: send the session's token in the " + CSRFHeader + " header"}
	ErrCrossSite = &DeniedError{"cross-site login refused: log in from Berth's own pages"}
)

// ErrSessionEnded: the session cookie was valid but its user's sessions
// have been ended since (password change, reset, disabling, logout), or
// the account is gone. It matches access.ErrUnauthorized.
var ErrSessionEnded = fmt.Errorf("%w: the session has ended; log in again", access.ErrUnauthorized)

// Accounts is the identity service as sessions use it.
type Accounts interface {
	Authenticate(ctx context.Context, username, password, clientIP string) (access.Principal, error)
	Principal(ctx context.Context, name string) (access.Principal, error)
	// SessionGeneration is the user's current session generation.
	SessionGeneration(ctx context.Context, userID int64) (int64, error)
	// EndSessions ends every session of the user.
	EndSessions(ctx context.Context, userID int64) error
}

// Options configure a Manager. Zero values take the defaults.
type Options struct {
	// Key signs session cookies and CSRF tokens; every replica must have
	// the same. Empty: no session is ever valid.
	Key    []byte
	TTL    time.Duration
	MaxAge time.Duration
	// ExternalURL, when https, makes cookies Secure; its host is accepted
	// as the origin of a login besides the request's Host.
	ExternalURL string
	// ClientIP finds a request's client address (throttling, audit); nil:
	// the host of RemoteAddr.
	ClientIP func(*http.Request) string
	// Audit records logins; nil: none are recorded.
	Audit audit.Recorder
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Manager authenticates requests and issues and ends sessions.
type Manager struct {
	accounts Accounts
	o        Options
}

// New returns a Manager over accounts.
func New(accounts Accounts, o Options) *Manager {
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.ClientIP == nil {
		o.ClientIP = remoteHost
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Manager{accounts: accounts, o: o}
}

// session is the signed content of the session cookie.
type session struct {
	Subject  string `json:"sub"`
	UserID   int64  `json:"uid"`
	Gen      int64  `json:"gen"` // the user's session generation at login
	ID       string `json:"sid"` // random; the CSRF token derives from it
	AuthAt   int64  `json:"ats"` // when the user logged in (unix seconds)
	IssuedAt int64  `json:"iat"`
	Expires  int64  `json:"exp"`
}

// Authenticate finds r's caller: Basic credentials (checked, with the
// login throttle, on every request), else the session cookie, else
// anonymous. A session is refused (ErrSessionEnded, cookies cleared) when
// its user's generation moved on or the account is gone; a disabled
// user's gets identity.ErrDisabled. Unsafe methods (POST, PUT, PATCH,
// DELETE) on a session must carry its CSRF token (ErrCSRF).
func (m *Manager) Authenticate(w http.ResponseWriter, r *http.Request) (access.Principal, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		return m.basic(r, h)
	}
	s, ok := m.read(r)
	if !ok {
		return access.Anonymous(), nil
	}
	ctx := r.Context()
	p, err := m.accounts.Principal(ctx, s.Subject)
	switch {
	case errors.Is(err, identity.ErrInvalidCredentials): // the account is gone
		m.clear(w, r)
		return access.Principal{}, ErrSessionEnded
	case err != nil:
		return access.Principal{}, err
	case p.Kind != access.KindUser || p.ID != s.UserID: // a new account under the old name
		m.clear(w, r)
		return access.Principal{}, ErrSessionEnded
	case !p.Active(m.o.Now()):
		m.clear(w, r)
		return access.Principal{}, fmt.Errorf("user %s: %w", p.Name, identity.ErrDisabled)
	}
	gen, err := m.accounts.SessionGeneration(ctx, p.ID)
	switch {
	case errors.Is(err, meta.ErrUserNotFound):
		m.clear(w, r)
		return access.Principal{}, ErrSessionEnded
	case err != nil:
		return access.Principal{}, err
	case gen != s.Gen:
		m.clear(w, r)
		return access.Principal{}, ErrSessionEnded
	}
	token := m.csrfToken(s.ID)
	if unsafeMethod(r.Method) && !hmac.Equal([]byte(r.Header.Get(CSRFHeader)), []byte(token)) {
		return access.Principal{}, ErrCSRF
	}
	w.Header().Set(CSRFHeader, token)
	if m.o.Now().Unix()-s.IssuedAt > int64(m.o.TTL/time.Second)/2 {
		m.set(w, r, s) // slide the expiry
	}
	return p, nil
}

func unsafeMethod(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return false
	}
	return true
}

// basic checks Basic credentials; other schemes are refused. Failed
// logins are audited (not those refused by the throttle or for want of a
// backend).
func (m *Manager) basic(r *http.Request, header string) (access.Principal, error) {
	scheme, _, _ := strings.Cut(header, " ")
	if !strings.EqualFold(scheme, "Basic") {
		return access.Principal{}, fmt.Errorf("%w: unsupported authorization scheme %q; use Basic", access.ErrUnauthorized, truncate(scheme, 20))
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return access.Principal{}, fmt.Errorf("%w: malformed Basic credentials", access.ErrUnauthorized)
	}
	p, err := m.accounts.Authenticate(r.Context(), user, pass, m.o.ClientIP(r))
	if err != nil {
		m.auditLogin(r, user, err)
		return access.Principal{}, err
	}
	return p, nil
}

// Login checks the credentials of a portal login and starts a session:
// it sets the session and CSRF cookies and the CSRF header. Cross-site
// requests are refused (ErrCrossSite); robot accounts cannot log in
// (identity.ErrInvalidCredentials).
func (m *Manager) Login(w http.ResponseWriter, r *http.Request, user, pass string) (access.Principal, error) {
	if !m.sameSite(r) {
		return access.Principal{}, ErrCrossSite
	}
	if strings.HasPrefix(user, identity.RobotPrefix) {
		return access.Principal{}, fmt.Errorf("%w: robot accounts cannot log in to the portal", identity.ErrInvalidCredentials)
	}
	p, err := m.accounts.Authenticate(r.Context(), user, pass, m.o.ClientIP(r))
	if err != nil {
		m.auditLogin(r, user, err)
		return access.Principal{}, err
	}
	gen, err := m.accounts.SessionGeneration(r.Context(), p.ID)
	if err != nil {
		return access.Principal{}, err
	}
	id, err := randomID()
	if err != nil {
		return access.Principal{}, err
	}
	m.auditLogin(r, p.Name, nil)
	now := m.o.Now().Unix()
	m.set(w, r, session{Subject: p.Name, UserID: p.ID, Gen: gen, ID: id, AuthAt: now})
	w.Header().Set(CSRFHeader, m.csrfToken(id))
	return p, nil
}

// Logout ends every session of the request's user (when its cookie is
// valid) and clears the cookies.
func (m *Manager) Logout(w http.ResponseWriter, r *http.Request) error {
	defer m.clear(w, r)
	s, ok := m.read(r)
	if !ok {
		return nil
	}
	err := m.accounts.EndSessions(r.Context(), s.UserID)
	if errors.Is(err, meta.ErrUserNotFound) {
		return nil
	}
	return err
}

// sameSite reports whether a login comes from Berth's own pages: no
// Sec-Fetch-Site of cross-site, and an Origin (when sent) naming the
// request's host or the external URL's.
func (m *Manager) sameSite(r *http.Request) bool {
	if strings.EqualFold(r.Header.Get("Sec-Fetch-Site"), "cross-site") {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" { // not a browser, or one that sends no Origin on same-origin posts
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" { // "null" and the like
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	ext, err := url.Parse(m.o.ExternalURL)
	return err == nil && ext.Host != "" && strings.EqualFold(u.Host, ext.Host)
}

func (m *Manager) auditLogin(r *http.Request, user string, err error) {
	if m.o.Audit == nil || errors.Is(err, identity.ErrBackendUnavailable) || errors.Is(err, meta.ErrUnavailable) ||
		errors.Is(err, identity.ErrThrottled) {
		return
	}
	result := meta.AuditSuccess
	if err != nil {
		result = meta.AuditFailure
	}
	m.o.Audit.Record(meta.AuditLog{Username: truncate(user, 255), Operation: "login", ResourceType: "user",
		Resource: truncate(user, 255), ClientIP: m.o.ClientIP(r), Result: result})
}

// set issues s (refreshed: issued now, expiring after the TTL or the
// maximum age) and sets the cookies.
func (m *Manager) set(w http.ResponseWriter, r *http.Request, s session) {
	now := m.o.Now().Unix()
	s.IssuedAt = now
	s.Expires = min(now+int64(m.o.TTL/time.Second), s.AuthAt+int64(m.o.MaxAge/time.Second))
	payload, _ := json.Marshal(s) // a struct of strings and ints always encodes
	enc := base64.RawURLEncoding.EncodeToString(payload)
	value := enc + "." + m.mac("session."+enc)
	secure := m.secure(r)
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: value, Path: "/", HttpOnly: true,
		Secure: secure, SameSite: http.SameSiteLaxMode})
	http.SetCookie(w, &http.Cookie{Name: CSRFCookie, Value: m.csrfToken(s.ID), Path: "/",
		Secure: secure, SameSite: http.SameSiteLaxMode})
}

func (m *Manager) clear(w http.ResponseWriter, r *http.Request) {
	secure := m.secure(r)
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: secure, SameSite: http.SameSiteLaxMode})
	http.SetCookie(w, &http.Cookie{Name: CSRFCookie, Value: "", Path: "/", MaxAge: -1,
		Secure: secure, SameSite: http.SameSiteLaxMode})
}

// read returns the request's valid, unexpired session, if any.
func (m *Manager) read(r *http.Request) (session, bool) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || len(m.o.Key) == 0 {
		return session{}, false
	}
	enc, sig, ok := strings.Cut(c.Value, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(m.mac("session."+enc))) {
		return session{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return session{}, false
	}
	var s session
	if err := json.Unmarshal(payload, &s); err != nil || s.Subject == "" || s.ID == "" || s.UserID <= 0 {
		return session{}, false
	}
	if m.o.Now().Unix() >= s.Expires {
		return session{}, false
	}
	return s, true
}

// csrfToken is the CSRF token of session id.
func (m *Manager) csrfToken(id string) string { return m.mac("csrf." + id) }

func (m *Manager) mac(msg string) string {
	h := hmac.New(sha256.New, m.o.Key)
	h.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// secure reports whether cookies should be Secure: the request came over
// TLS (directly or through a proxy saying so), or the external URL is https.
func (m *Manager) secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") ||
		strings.HasPrefix(strings.ToLower(m.o.ExternalURL), "https://")
}

func randomID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("session id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
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
