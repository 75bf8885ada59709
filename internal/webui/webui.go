package webui

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/httpx"
	"github.com/berth-registry/berth/internal/identity"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/project"
	"github.com/berth-registry/berth/internal/repository"
	"github.com/berth-registry/berth/internal/settings"
	"github.com/berth-registry/berth/internal/websession"
)

// maxFormBytes bounds every form body.
const maxFormBytes = 64 << 10

// csrfField is the hidden form field carrying the session's CSRF token.
const csrfField = "_csrf"

// pageSize is the rows of one page of every list; ?page_size may ask for
// up to maxPageSize.
const (
	pageSize    = 25
	maxPageSize = 100
)

// sessions is websession.Manager as the portal uses it.
type sessions interface {
	Authenticate(w http.ResponseWriter, r *http.Request) (access.Principal, error)
	Login(w http.ResponseWriter, r *http.Request, user, pass string) (access.Principal, error)
	Logout(w http.ResponseWriter, r *http.Request) error
}

// settingsService is settings.Service as the portal uses it.
type settingsService interface {
	Get(ctx context.Context) (settings.Settings, error)
	Update(ctx context.Context, changes map[string]string) (settings.Settings, []string, error)
}

// Deps are the portal's collaborators, built by internal/app.
type Deps struct {
	Sessions sessions
	// Metadata reads (and member changes) by aggregate: internal/app
	// passes the fields of *meta.Store.
	Projects  projectStore  // *meta.Projects (projects.go, project.go)
	Repos     repoStore     // *meta.Repositories (project.go)
	Manifests artifactStore // *meta.Manifests (repository.go)
	Users     userStore     // *meta.Users (admin.go, project.go)
	Robots    robotStore    // *meta.Robots (robots.go)
	AuditLog  auditStore    // *meta.Audit (project.go, admin.go)
	// The domain services.
	ProjectService projectService    // *project.Service
	Repositories   repositoryService // *repository.Service
	Blobs          blobReader        // *content.Service (image configurations)
	Identity       accounts          // *identity.Service
	Settings       settingsService   // *settings.Service
	// Retention is tag retention (retention.go); nil: no tab.
	Retention retentionService
	// Audit records member changes (the server's one audit writer).
	Audit project.Recorder
	// Health probes the database and storage for the system page; nil:
	// not shown.
	Health func(ctx context.Context) map[string]error
	// ClientIP finds a request's client address (audit); nil: RemoteAddr.
	ClientIP func(*http.Request) string
	// ExternalURL is the registry's public URL; "": each request's host.
	ExternalURL string
	// System is shown on the system page.
	System SystemInfo
	// Quotas gives the project pages' storage bar (quota.go); nil: none.
	Quotas quotaStore
	// Immutable serves the project's immutability tab (immutable.go);
	// nil: no tab.
	Immutable immutableStore
	// Labels serves the system labels page (labels.go) and the artifact
	// pages' labels; nil: none.
	Labels labelStore
	// Pulls gives the artifact pages' pull counts (artifact_lifecycle.go);
	// nil: not shown.
	Pulls pullStore
	// Scans gives the artifact page its vulnerability scan (security.go);
	// nil: not shown.
	Scans scanReportStore
	// Signatures gives the artifact page its signature status
	// (security.go); nil: not shown.
	Signatures signatureChecker
	// Policies and Webhooks give the settings tab its supply-chain
	// section (security.go); nil: not shown.
	Policies supplyStore
	Webhooks webhookLister
	// Replication serves the registries and replication pages and the
	// proxy-cache option of a new project (replication.go); nil: none.
	Replication replicationService
}

// SystemInfo is static information about the running server.
type SystemInfo struct {
	Version  string
	Database string // "sqlite" or "postgres"
	Storage  string // "filesystem" or "s3"
}

// UI is the portal's handler.
type UI struct {
	d     Deps
	log   *slog.Logger
	mux   *http.ServeMux
	pages *pages
	cats  map[string]catalog
	gc    gcService // SetGC (gc.go); nil: no GC page
}

// New returns the portal over d.
func New(d Deps, log *slog.Logger) (*UI, error) {
	if d.ClientIP == nil {
		d.ClientIP = func(r *http.Request) string { return r.RemoteAddr }
	}
	p, err := loadPages()
	if err != nil {
		return nil, err
	}
	cats, err := loadCatalogs()
	if err != nil {
		return nil, err
	}
	u := &UI{d: d, log: log, mux: http.NewServeMux(), pages: p, cats: cats}
	u.routes()
	return u, nil
}

func (u *UI) routes() {
	u.mux.Handle("GET /static/", staticHandler())
	u.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/projects", http.StatusSeeOther)
	})
	u.handle("GET /login", u.loginPage)
	u.mux.HandleFunc("POST /login", u.adapt(u.login, false))
	u.handle("POST /logout", u.logout)
	u.handle("POST /lang", u.setLang)
	u.handle("GET /account/password", u.passwordPage)
	u.handle("POST /account/password", u.changePassword)

	u.handle("GET /projects", u.projectsPage)
	u.handle("POST /projects", u.createProject)
	u.handle("GET /projects/{project}", u.projectRepos)
	u.handle("POST /projects/{project}/delete", u.deleteProject)
	u.handle("GET /projects/{project}/members", u.projectMembers)
	u.handle("POST /projects/{project}/members", u.addMember)
	u.handle("POST /projects/{project}/members/{mid}/role", u.changeMemberRole)
	u.handle("POST /projects/{project}/members/{mid}/remove", u.removeMember)
	u.handle("GET /projects/{project}/robots", u.projectRobots)
	u.handle("POST /projects/{project}/robots", u.createRobot)
	u.handle("POST /projects/{project}/robots/{rid}/{op}", u.changeRobot)
	u.handle("GET /projects/{project}/settings", u.projectSettings)
	u.handle("POST /projects/{project}/settings", u.saveProjectSettings)
	u.handle("POST /projects/{project}/settings/supply", u.saveSupply) // security.go
	u.handle("GET /projects/{project}/logs", u.projectLogs)
	u.immutableRoutes() // immutable.go
	u.handle("GET /projects/{project}/retention", u.projectRetention)
	u.handle("POST /projects/{project}/retention/run", u.runRetention)
	u.labelRoutes() // labels.go
	u.gcRoutes()    // gc.go
	// replication.go
	u.replicationRoutes()

	// Repository names hold slashes: /repositories/<name>[/-/<rest>].
	u.handle("GET /repositories/{path...}", u.repositoryGet)
	u.handle("POST /repositories/{path...}", u.repositoryPost)

	u.handle("GET /admin/users", u.usersPage)
	u.handle("POST /admin/users", u.createUser)
	u.handle("POST /admin/users/{uid}/{op}", u.changeUser)
	u.handle("GET /admin/auth", u.authPage)
	u.handle("POST /admin/auth", u.saveAuth)
	u.handle("GET /admin/system", u.systemPage)
	u.handle("GET /admin/logs", u.systemLogs)
}

// ServeHTTP serves the portal with its security headers.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	u.mux.ServeHTTP(w, r)
}

// call is one portal request as its handler sees it.
type call struct {
	w    http.ResponseWriter
	r    *http.Request
	p    access.Principal
	csrf string
	lang string
}

// actor is the caller as the domain services record it.
func (c *call) actor(u *UI) project.Actor {
	return project.Actor{Principal: c.p, ClientIP: u.d.ClientIP(c.r)}
}

type handlerFunc func(c *call) error

func (u *UI) handle(pattern string, h handlerFunc) {
	u.mux.HandleFunc(pattern, u.adapt(h, true))
}

// adapt authenticates the request (unless auth is false: the login form),
// runs h and maps its error once.
func (u *UI) adapt(h handlerFunc, auth bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		httpx.SetRoute(r.Context(), "portal")
		c := &call{w: w, r: r, p: access.Anonymous(), lang: chooseLang(r)}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil {
				u.fail(c, fmt.Errorf("%w: %w", errBadForm, err))
				return
			}
			// websession checks the header; an HTML form can only send a field.
			r.Header.Set(websession.CSRFHeader, r.PostForm.Get(csrfField))
		}
		if auth {
			p, err := u.d.Sessions.Authenticate(w, r)
			if err != nil {
				u.fail(c, err)
				return
			}
			c.p = p
			c.csrf = w.Header().Get(websession.CSRFHeader)
			w.Header().Del(websession.CSRFHeader)
		}
		if err := h(c); err != nil {
			u.fail(c, err)
		}
	}
}

// errBadForm: the form could not be read.
var errBadForm = errors.New("malformed form")

// errNotFound is a page that does not exist.
var errNotFound = errors.New("not found")

// fail maps err to its answer: the one error table of the portal.
func (u *UI) fail(c *call, err error) {
	var status int
	var key string
	switch {
	case errors.Is(err, access.ErrUnauthorized), errors.Is(err, websession.ErrSessionEnded):
		if c.r.Method == http.MethodGet {
			http.Redirect(c.w, c.r, "/login?next="+url.QueryEscape(c.r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		status, key = http.StatusUnauthorized, "error.unauthorized"
	case errors.Is(err, identity.ErrDisabled):
		status, key = http.StatusUnauthorized, "error.disabled"
	case errors.Is(err, websession.ErrCrossSite):
		status, key = http.StatusForbidden, "error.crosssite"
	case errors.Is(err, websession.ErrCSRF):
		status, key = http.StatusForbidden, "error.csrf"
	case errors.Is(err, access.ErrDenied):
		status, key = http.StatusForbidden, "error.denied"
	case errors.Is(err, errNotFound), errors.Is(err, meta.ErrProjectNotFound), errors.Is(err, meta.ErrRepositoryNotFound),
		errors.Is(err, meta.ErrManifestNotFound), errors.Is(err, meta.ErrTagNotFound), errors.Is(err, meta.ErrUserNotFound),
		errors.Is(err, meta.ErrRobotNotFound), errors.Is(err, meta.ErrMemberNotFound):
		status, key = http.StatusNotFound, "error.notfound"
	case errors.Is(err, errBadForm), errors.Is(err, repository.ErrTagNotAttached), errors.Is(err, repository.ErrInvalid),
		errors.Is(err, oci.ErrDigestInvalid), errors.Is(err, oci.ErrTagInvalid):
		status, key = http.StatusBadRequest, "error.badform"
	case errors.Is(err, meta.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		status, key = http.StatusServiceUnavailable, "error.unavailable"
	default:
		u.log.ErrorContext(c.r.Context(), "portal request failed", "path", c.r.URL.Path, "err", err)
		status, key = http.StatusInternalServerError, "error.internal"
	}
	u.render(c, status, "error", "error.title", errorView{Key: key, Status: status})
}

// errorView is the error page.
type errorView struct {
	Key    string
	Status int
}

// paging is the page a list shows, from ?page= and ?page_size=.
type paging struct {
	Page, Size, Total int
	// Base is the URL of the list without page (its other query kept).
	Base string
}

func pagingOf(r *http.Request) paging {
	q := r.URL.Query()
	pg := paging{Page: 1, Size: pageSize}
	if n, err := strconv.Atoi(q.Get("page")); err == nil && n > 0 && n < 1<<20 {
		pg.Page = n
	}
	if n, err := strconv.Atoi(q.Get("page_size")); err == nil && n > 0 {
		pg.Size = min(n, maxPageSize)
	}
	q.Del("page")
	pg.Base = r.URL.Path + "?"
	if enc := q.Encode(); enc != "" {
		pg.Base += enc + "&"
	}
	return pg
}

func (pg paging) meta() meta.Page { return meta.Page{Offset: (pg.Page - 1) * pg.Size, Limit: pg.Size} }

// Pages is how many pages the list has (at least 1).
func (pg paging) Pages() int { return max(1, (pg.Total+pg.Size-1)/pg.Size) }

// Prev and Next are the URLs of the neighbour pages; "" at the ends.
func (pg paging) Prev() string {
	if pg.Page <= 1 {
		return ""
	}
	return pg.Base + "page=" + strconv.Itoa(pg.Page-1)
}

func (pg paging) Next() string {
	if pg.Page >= pg.Pages() {
		return ""
	}
	return pg.Base + "page=" + strconv.Itoa(pg.Page+1)
}

// registryHost is the host:port clients use: the external URL's, else
// the request's.
func (u *UI) registryHost(r *http.Request) string {
	if e, err := url.Parse(u.d.ExternalURL); err == nil && e.Host != "" {
		return e.Host
	}
	return r.Host
}

// redirect answers a POST with 303 to target (a path of the portal).
func redirect(c *call, target string) error {
	http.Redirect(c.w, c.r, target, http.StatusSeeOther)
	return nil
}
