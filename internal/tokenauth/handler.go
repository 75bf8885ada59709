package tokenauth

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/httpx"
	"github.com/berth-registry/berth/internal/identity"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
)

// authenticator is identity.Service as the token service uses it.
type authenticator interface {
	Authenticate(ctx context.Context, username, password, clientIP string) (access.Principal, error)
	Principal(ctx context.Context, name string) (access.Principal, error)
}

// granter is access.Checker as the token service uses it.
type granter interface {
	Grant(ctx context.Context, p access.Principal, repo string, actions []string) ([]string, error)
}

// auditor is meta.Audit as the token service uses it.
type auditor interface {
	AddAuditLog(ctx context.Context, a meta.AuditLog) error
}

// lifetime is settings.Service as the token service uses it: the
// token_expiration setting in force.
type lifetime interface {
	TokenExpiration(ctx context.Context) (time.Duration, error)
}

// Config holds what the token service and the Gate need.
type Config struct {
	Issuer *Issuer
	// Lifetime, when set, gives the lifetime of each token issued (the
	// token_expiration setting, read at every request); nil: the Issuer's
	// TTL.
	Lifetime lifetime
	Identity authenticator
	Access   granter
	// Audit, when set, records logins (credentialed token requests) and
	// failed Basic logins on /v2/.
	Audit auditor
	// ClientIP returns the caller's address (for brute-force limits and
	// audit); nil: the host of RemoteAddr.
	ClientIP func(*http.Request) string
	Log      *slog.Logger
}

func (c Config) clientIP(r *http.Request) string {
	if c.ClientIP != nil {
		return c.ClientIP(r)
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Handler serves the token endpoint, /service/token.
type Handler struct{ c Config }

// NewHandler returns the token endpoint.
func NewHandler(c Config) *Handler { return &Handler{c: c} }

// tokenResponse is the Docker token spec's answer (and OAuth2's).
type tokenResponse struct {
	Token       string `json:"token,omitempty"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	IssuedAt    string `json:"issued_at"`
	Scope       string `json:"scope,omitempty"`
}

// ServeHTTP answers GET (Docker token spec: service, scope..., optional
// Basic credentials; account, offline_token and client_id are accepted and
// ignored) and POST (OAuth2 password grant; refresh tokens are not issued).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var (
		user, pass string
		hasCreds   bool
		scopes     []string
		oauth      bool
	)
	switch r.Method {
	case http.MethodGet:
		scopes = r.URL.Query()["scope"]
		if r.Header.Get("Authorization") != "" {
			user, pass, hasCreds = r.BasicAuth()
			if !hasCreds {
				h.fail(w, r, http.StatusUnauthorized, "UNAUTHORIZED", "only Basic credentials are accepted here")
				return
			}
		}
	case http.MethodPost:
		oauth = true
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			h.fail(w, r, http.StatusBadRequest, "UNSUPPORTED", "malformed form body")
			return
		}
		if gt := r.PostForm.Get("grant_type"); gt != "password" {
			h.fail(w, r, http.StatusBadRequest, "UNSUPPORTED", "grant_type "+strconv.Quote(truncate(gt, 40))+" is not supported: use password")
			return
		}
		user, pass, hasCreds = r.PostForm.Get("username"), r.PostForm.Get("password"), true
		scopes = r.PostForm["scope"]
	default:
		w.Header().Set("Allow", "GET, POST")
		h.fail(w, r, http.StatusMethodNotAllowed, "UNSUPPORTED", "use GET or POST")
		return
	}
	requested, err := ParseScopes(scopes)
	if err != nil {
		code := "UNSUPPORTED"
		if errors.Is(err, oci.ErrNameInvalid) {
			code = "NAME_INVALID"
		}
		h.fail(w, r, http.StatusBadRequest, code, err.Error())
		return
	}
	ctx := r.Context()
	p := access.Anonymous()
	if hasCreds {
		p, err = h.c.Identity.Authenticate(ctx, user, pass, h.c.clientIP(r))
		h.audit(ctx, r, user, err)
		if err != nil {
			h.authError(w, r, err)
			return
		}
	}
	granted, err := h.grant(ctx, p, requested)
	if err != nil {
		h.authError(w, r, err)
		return
	}
	var ttl time.Duration // 0: the Issuer's TTL
	if h.c.Lifetime != nil {
		if ttl, err = h.c.Lifetime.TokenExpiration(ctx); err != nil {
			h.authError(w, r, err)
			return
		}
	}
	t, err := h.c.Issuer.IssueFor(p.Name, granted, ttl)
	if err != nil {
		h.authError(w, r, err)
		return
	}
	res := tokenResponse{
		Token: t.Raw, AccessToken: t.Raw, ExpiresIn: int(t.ExpiresIn / time.Second),
		IssuedAt: t.IssuedAt.Format(time.RFC3339),
	}
	if oauth {
		res.Token, res.Scope = "", scopeString(granted)
	}
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusOK, res)
}

// grant returns, for each requested scope, the actions p holds, leaving
// out scopes where it holds none.
func (h *Handler) grant(ctx context.Context, p access.Principal, requested []Scope) ([]ResourceActions, error) {
	out := []ResourceActions{}
	for _, s := range requested {
		var got []string
		switch {
		case s.Type == "repository":
			var err error
			got, err = h.c.Access.Grant(ctx, p, s.Name, s.Actions)
			if err != nil && !errors.Is(err, meta.ErrProjectNotFound) {
				return nil, err
			}
		case s.Type == "registry" && s.Name == "catalog":
			// Everyone may ask; the catalog lists only what the caller may pull.
			for _, a := range s.Actions {
				if a == "*" {
					got = []string{"*"}
				}
			}
		}
		if len(got) > 0 {
			out = append(out, ResourceActions{Type: s.Type, Name: s.Name, Actions: got})
		}
	}
	return out, nil
}

func scopeString(granted []ResourceActions) string {
	parts := make([]string, 0, len(granted))
	for _, g := range granted {
		parts = append(parts, g.Type+":"+g.Name+":"+strings.Join(g.Actions, ","))
	}
	return strings.Join(parts, " ")
}

// audit records a login attempt with credentials.
func (h *Handler) audit(ctx context.Context, r *http.Request, user string, err error) {
	recordLogin(ctx, h.c, r, user, err)
}

func recordLogin(ctx context.Context, c Config, r *http.Request, user string, err error) {
	if c.Audit == nil {
		return
	}
	result := meta.AuditSuccess
	if err != nil {
		result = meta.AuditFailure
	}
	a := meta.AuditLog{Username: truncate(user, 255), Operation: "login", ResourceType: "user",
		Resource: truncate(user, 255), ClientIP: c.clientIP(r), Result: result}
	if aerr := c.Audit.AddAuditLog(context.WithoutCancel(ctx), a); aerr != nil {
		c.Log.WarnContext(ctx, "audit log", "err", aerr)
	}
}

// authError maps identity, access and store errors to the token
// endpoint's answer.
func (h *Handler) authError(w http.ResponseWriter, r *http.Request, err error) {
	var te *identity.ThrottledError
	switch {
	case errors.As(err, &te):
		httpx.WriteError(w, http.StatusTooManyRequests, "TOOMANYREQUESTS", te.Error(), te) // Retry-After from te
	case errors.Is(err, identity.ErrInvalidCredentials), errors.Is(err, identity.ErrDisabled), errors.Is(err, identity.ErrExpired):
		h.fail(w, r, http.StatusUnauthorized, "UNAUTHORIZED", err.Error())
	case errors.Is(err, identity.ErrBackendUnavailable), errors.Is(err, meta.ErrUnavailable):
		h.c.Log.WarnContext(r.Context(), "token request failed", "err", err)
		h.fail(w, r, http.StatusServiceUnavailable, "UNAVAILABLE", "a dependency is unavailable; retry later")
	default:
		h.c.Log.ErrorContext(r.Context(), "token request failed", "err", err)
		h.fail(w, r, http.StatusInternalServerError, "UNKNOWN", "internal error")
	}
}

func (h *Handler) fail(w http.ResponseWriter, _ *http.Request, status int, code, msg string) {
	httpx.WriteError(w, status, code, msg, nil) // Retry-After on 429 and 503
}
