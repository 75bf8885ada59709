// Package restapi is Berth's REST API under /api/v2.0/, shaped after
// Harbor's API v2.0 (paths, query parameters, JSON field names, error
// body) where Berth has the feature, plus the portal's session endpoints
// under /c/ (login, logout).
//
// Layout: api.go (Deps, routes, the handler adapter), errors.go (the one
// error table), auth.go (authentication through internal/websession,
// login, logout, audit), paging.go (page,
// page_size, X-Total-Count, Link), then one file per resource. Each
// resource file declares the small interface it consumes and embeds it in
// the metadata aggregate that serves it (metaProjects, ...) or Identity below.
//
// It must not import another edge package (distapi, tokenauth, webui).
package restapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/httpx"
	"github.com/berth-registry/berth/internal/websession"
)

// Prefix is where the API is mounted.
const Prefix = "/api/v2.0"

// maxBodyBytes bounds every request body.
const maxBodyBytes = 1 << 20

// The metadata store's aggregates as the API uses them: each resource file
// declares the small interface it calls, and these gather them by the
// meta type that serves them; add yours to the right one.
type (
	// metaProjects is meta.Projects as the API uses it.
	metaProjects interface {
		projectStore // projects.go, robots.go, search.go
		memberStore  // members.go
		roleStore    // audit.go
	}
	// metaRepos is meta.Repositories as the API uses it.
	metaRepos interface {
		repositoryStore    // repositories.go
		projectRepoCounter // projects.go
		searchStore        // search.go
	}
	// metaManifests is meta.Manifests as the API uses it.
	metaManifests interface {
		artifactStore // artifacts.go
	}
	// metaUsers is meta.Users as the API uses it.
	metaUsers interface {
		userStore       // users.go, projects.go
		memberUserStore // members.go
	}
	// metaAudit is meta.Audit as the API uses it.
	metaAudit interface {
		auditStore   // audit.go
		sessionStore // auth.go
	}
)

// Identity is what the API needs from the identity service
// (*identity.Service). Add the methods your resource uses as a small
// interface embedded here.
type Identity interface {
	authenticator  // auth.go
	accountManager // users.go, robots.go
}

// Deps are the API's collaborators, built by internal/app.
type Deps struct {
	// The metadata store, by aggregate (internal/app passes the fields of
	// *meta.Store; DB is the *meta.Store itself).
	DB        pinger        // system.go
	Projects  metaProjects  // *meta.Projects
	Repos     metaRepos     // *meta.Repositories
	Manifests metaManifests // *meta.Manifests
	Users     metaUsers     // *meta.Users
	Robots    robotStore    // *meta.Robots (robots.go)
	AuditLog  metaAudit     // *meta.Audit
	Configs   configStore   // *meta.Settings (system.go)

	Identity Identity
	// Audit records the audit log (the server's one shared writer); nil:
	// entries are written to AuditLog synchronously.
	Audit audit.Recorder
	// ProjectService changes projects under their rules (*project.Service).
	ProjectService projectService
	// Repositories changes repositories, artifacts and tags under their
	// rules, through the registry so that the shared cache forgets them,
	// and lists repositories across projects (*repository.Service).
	Repositories interface {
		repositoryService // repositories.go
		artifactService   // artifacts.go
	}
	// Storage is probed by GET /health; nil leaves it out.
	Storage storageProber
	// Settings are the run-time system settings (configurations.go); nil:
	// the configuration and LDAP endpoints answer 503.
	Settings Settings
	// SessionKey signs session cookies and CSRF tokens. Every replica must
	// have the same key (app derives it from the shared token signing key).
	SessionKey []byte
	// SessionTTL is how long a session lasts without activity (default 30m).
	SessionTTL time.Duration
	// ClientIP finds a request's client address (throttling, audit); nil:
	// the host of RemoteAddr.
	ClientIP func(*http.Request) string
	// System is static information for /systeminfo.
	System SystemInfo
	// Now is the clock (default time.Now).
	Now func() time.Time
	// GC serves /system/gc (gc.go); nil: those endpoints answer 503.
	GC GCService
	// Quotas serves /quotas and project storage limits (quotas.go); nil:
	// /quotas answers 503 and storage_limit is refused.
	Quotas quotaStore
	// Labels serves /labels and artifact labels (labels.go); nil: those
	// endpoints answer 503.
	Labels labelStore
	// Pulls gives artifacts' pull_time and repositories' pull_count
	// (pulls.go); nil: they stay zero.
	Pulls pullStore
	// Immutable serves /projects/{p}/immutabletagrules (immutable.go);
	// nil: those endpoints answer 503.
	Immutable immutableStore
	// Untagged serves the project metadata auto_delete_untagged
	// (untagged.go); nil: the key does not exist.
	Untagged untaggedStore
	// Retention is tag retention (retention.go); nil: 503.
	Retention RetentionService
	// Replication serves /registries and /replication (replication.go);
	// nil: those endpoints answer 503.
	Replication ReplicationService
	// Backups serves /system/backups (backups.go); nil: 503.
	Backups BackupService
	// Webhooks serves the project webhook policies and their delivery log
	// (webhooks.go); nil: those endpoints answer 503.
	Webhooks webhookStore
	// Policies holds project signature and vulnerability policies and
	// signature keys (policies.go); nil: those endpoints answer 503.
	Policies policyStore
	// Scans and ScanService serve scanners, scans and reports
	// (scanners.go); nil: those endpoints answer 503.
	Scans       scanStore
	ScanService ScanService
	// ScanAll serves the scan-all schedule and metrics (scanall.go); nil:
	// those endpoints answer 503.
	ScanAll ScanAllService
}

// SystemInfo is what GET /systeminfo reports besides stored settings.
type SystemInfo struct {
	Version     string // Berth's version (harbor_version)
	ExternalURL string // "": derived from each request
	// StorageProvider names the blob storage driver (filesystem, s3).
	StorageProvider string
}

// API serves /api/v2.0/ and /c/.
type API struct {
	d        Deps
	log      *slog.Logger
	sessions *websession.Manager
	mux      *http.ServeMux
	// patterns are the registered ServeMux patterns, for the OpenAPI test.
	patterns []string
}

// New returns the API over deps.
func New(deps Deps, log *slog.Logger) *API {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.SessionTTL <= 0 {
		deps.SessionTTL = 30 * time.Minute
	}
	if deps.ClientIP == nil {
		deps.ClientIP = remoteHost
	}
	if deps.Audit == nil {
		deps.Audit = audit.NewDirect(audit.Stores{Log: deps.AuditLog, Projects: deps.Projects}, log)
	}
	a := &API{d: deps, log: log, mux: http.NewServeMux()}
	a.sessions = websession.New(deps.Identity, websession.Options{Key: deps.SessionKey, TTL: deps.SessionTTL,
		ExternalURL: deps.System.ExternalURL, ClientIP: deps.ClientIP, Audit: deps.Audit, Now: deps.Now})
	a.routes(a.mux)
	return a
}

// routes registers every endpoint: one line each, path patterns as in
// Harbor's API description. Paths are relative to nothing: they include
// Prefix (or /c/). Keep docs/openapi.yaml in step (TestOpenAPIMatchesRoutes).
func (a *API) routes(mux *http.ServeMux) {
	// Portal session (auth.go).
	a.handle(mux, "POST /c/login", a.login)
	a.handle(mux, "GET /c/log_out", a.logout)

	// System (system.go) and search (search.go).
	a.handle(mux, "GET "+Prefix+"/ping", a.ping)
	a.handle(mux, "GET "+Prefix+"/health", a.health)
	a.handle(mux, "GET "+Prefix+"/systeminfo", a.systemInfo)
	a.handle(mux, "GET "+Prefix+"/openapi.yaml", a.openAPI)
	a.handle(mux, "GET "+Prefix+"/search", a.search)
	a.handle(mux, "GET "+Prefix+"/users/current/permissions", a.currentPermissions) // permissions.go

	// Projects (projects.go).
	const project = Prefix + "/projects/{project_name_or_id}"
	a.handle(mux, "GET "+Prefix+"/projects", a.listProjects)
	a.handle(mux, "HEAD "+Prefix+"/projects", a.headProject)
	a.handle(mux, "POST "+Prefix+"/projects", a.createProject)
	a.handle(mux, "GET "+project, a.getProject)
	a.handle(mux, "PUT "+project, a.updateProject)
	a.handle(mux, "DELETE "+project, a.deleteProject)
	a.handle(mux, "GET "+project+"/_deletable", a.projectDeletable)
	a.handle(mux, "GET "+project+"/summary", a.projectSummary)
	a.handle(mux, "GET "+project+"/metadatas/{$}", a.listProjectMetadata)
	a.handle(mux, "GET "+project+"/metadatas/{meta_name}", a.getProjectMetadata)
	a.handle(mux, "PUT "+project+"/metadatas/{meta_name}", a.updateProjectMetadata)

	// Repositories (repositories.go) and artifacts (artifacts.go).
	const repo = Prefix + "/projects/{project_name}/repositories/{repository_name}"
	a.handle(mux, "GET "+Prefix+"/repositories", a.listAllRepositories)
	a.handle(mux, "GET "+Prefix+"/projects/{project_name}/repositories", a.listRepositories)
	a.handle(mux, "GET "+repo, a.getRepository)
	a.handle(mux, "PUT "+repo, a.updateRepository)
	a.handle(mux, "DELETE "+repo, a.deleteRepository)
	a.handle(mux, "GET "+repo+"/artifacts", a.listArtifacts)
	a.handle(mux, "POST "+repo+"/artifacts", a.copyArtifact)
	a.handle(mux, "GET "+repo+"/artifacts/{reference}", a.getArtifact)
	a.handle(mux, "DELETE "+repo+"/artifacts/{reference}", a.deleteArtifact)
	a.handle(mux, "GET "+repo+"/artifacts/{reference}/tags", a.listArtifactTags)
	a.handle(mux, "POST "+repo+"/artifacts/{reference}/tags", a.createTag)
	a.handle(mux, "DELETE "+repo+"/artifacts/{reference}/tags/{tag_name}", a.deleteTag)
	a.handle(mux, "GET "+repo+"/artifacts/{reference}/additions/{addition}", a.artifactAddition)

	// Users, members, robots, configurations, LDAP and audit logs: add their
	// routes below, one a.handle line each (users.go, members.go, robots.go,
	// configurations.go, ldap.go, audit.go).
	a.accountRoutes(mux) // users.go
	a.gcRoutes(mux)      // gc.go
	a.quotaRoutes(mux)   // quotas.go
	a.labelRoutes(mux)   // labels.go

	a.immutableRoutes(mux) // immutable.go
	// Tag retention (retention.go).
	a.retentionRoutes(mux)

	// Registries and replication (replication.go).
	a.replicationRoutes(mux)
	a.backupRoutes(mux)  // backups.go
	a.webhookRoutes(mux) // webhooks.go
	a.policyRoutes(mux)  // policies.go
	a.scannerRoutes(mux) // scanners.go
	a.scanAllRoutes(mux) // scanall.go
}

// handlerFunc is an API handler: it writes a response or returns an error
// for the adapter to map.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle registers h under pattern ("METHOD /path"), wrapped by the
// adapter, with the pattern as its metrics route name.
func (a *API) handle(mux *http.ServeMux, pattern string, h handlerFunc) {
	a.patterns = append(a.patterns, pattern)
	mux.Handle(pattern, a.wrap(routeName(pattern), h))
}

// routeName turns "GET /api/v2.0/projects/{project_name_or_id}" into a
// low-cardinality metrics label "api GET /projects/{project_name_or_id}".
func routeName(pattern string) string {
	method, path, _ := strings.Cut(pattern, " ")
	return "api " + method + " " + strings.TrimPrefix(path, Prefix)
}

// wrap is the one adapter: it bounds the body, refuses changes in
// read-only mode (readonly.go), authenticates the caller (principal in
// the context), enforces CSRF on cookie sessions, runs h and maps its
// error.
func (a *API) wrap(route string, h handlerFunc) http.Handler {
	exempt := readOnlyExempt(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpx.SetRoute(r.Context(), route)
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		}
		if !exempt {
			if err := a.checkWritable(r); err != nil {
				a.writeError(w, r, err)
				return
			}
		}
		err := a.authenticate(w, r, func(r *http.Request) error { return h(w, r) })
		if err != nil {
			a.writeError(w, r, err)
		}
	})
}

// ServeHTTP serves the API. Requests no route takes get Harbor's error
// body: 404 NOT_FOUND, or 405 METHOD_NOT_ALLOWED with Allow when the path
// exists for other methods.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, pattern := a.mux.Handler(r)
	if pattern == "" {
		probe := &statusRecorder{header: http.Header{}}
		h.ServeHTTP(probe, r) // the mux's own 404, 405 or redirect
		switch probe.status {
		case http.StatusNotFound:
			httpx.SetRoute(r.Context(), "api other")
			a.writeError(w, r, errNotFound("no such API endpoint: %s %s", r.Method, truncate(r.URL.Path, 200)))
			return
		case http.StatusMethodNotAllowed:
			httpx.SetRoute(r.Context(), "api other")
			w.Header().Set("Allow", probe.header.Get("Allow"))
			a.writeError(w, r, newError(codeMethodNotAllowed, http.StatusMethodNotAllowed, "method %s is not allowed here", r.Method))
			return
		}
	}
	a.mux.ServeHTTP(w, r)
}

// statusRecorder keeps only the status and headers of a response.
type statusRecorder struct {
	header http.Header
	status int
}

func (s *statusRecorder) Header() http.Header { return s.header }
func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return len(b), nil
}
func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
}

// Patterns returns the registered ServeMux patterns in registration order.
func (a *API) Patterns() []string { return append([]string(nil), a.patterns...) }

// writeJSON writes v as the JSON response with status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b) // the client went away: nothing to do
	return nil
}

// decodeJSON reads the request body (bounded by the adapter) into v.
// Unknown fields are ignored, as Harbor's clients send fields Berth does
// not have. Malformed or empty: a BAD_REQUEST error.
func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		if errors.Is(err, io.EOF) {
			return errBadRequest("request body is empty; want a JSON object")
		}
		return errBadRequest("request body is not valid JSON: %v", err)
	}
	if dec.More() {
		return errBadRequest("request body holds more than one JSON value")
	}
	return nil
}
