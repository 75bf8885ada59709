// Package distapi is the /v2/ edge: the OCI Distribution API. It parses and
// validates requests, calls the content and registry services, and maps
// their errors to the spec's error codes once, in errors.go.
//
// It must not import other edge packages (restapi, webui, tokenauth).
package distapi

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/content"
	"github.com/berth-registry/berth/internal/httpx"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/registry"
)

// Options configure the API.
type Options struct {
	// OnUploadFinished, when set, is told how long each finished upload
	// session lasted and how many bytes it stored.
	OnUploadFinished func(d time.Duration, size int64)
	// Auth authorizes every request (see auth.go). Nil refuses every
	// request with 401: the API never runs open by omission.
	Auth authorizer
	// TokenRealm is the token service URL put in 401 challenges
	// (<external_url>/service/token). Empty: derived from each request's
	// Host (and TLS or X-Forwarded-Proto).
	TokenRealm string
	// ExternalURL, when set (external_url without a trailing slash), makes
	// every Location absolute under it; empty: Locations are paths, which
	// clients resolve against the URL they used.
	ExternalURL string
	// Service is the token service's name in challenges (default "berth").
	Service string
	// OnEvent, when set, is told of each successful push (manifest PUT),
	// pull (manifest GET; a HEAD is not a pull) and delete (manifest, tag,
	// blob), after the response is written, with the request's context
	// (the principal is access.FromContext). It runs on the request's
	// goroutine and must not block (app's audit writer queues); it cannot
	// fail the request.
	OnEvent func(ctx context.Context, e Event)
	// ClientIP finds a request's client address for events; nil: the host
	// of RemoteAddr.
	ClientIP func(*http.Request) string
	// UploadTimeout and DownloadTimeout are how long a blob upload or
	// download may go without progress: each read of an upload's body and
	// each write of a download moves the connection's deadline this far
	// ahead (the server's read and write timeouts would otherwise cut long
	// streams). Zero: blob streams lift the deadline.
	UploadTimeout, DownloadTimeout time.Duration
	// ReadOnly, when set, is asked before each request that changes
	// something (see readonly.go); nil: never read-only.
	ReadOnly readOnlyMode
	// Proxy, when set, serves pulls of proxy-cache projects from their
	// upstream on a miss (proxy.go); nil: no proxy-cache projects.
	Proxy Proxy
	// PullPolicy, when set, is asked before a manifest GET is answered
	// (signature and vulnerability policies): an error refuses the pull;
	// one matching access.ErrDenied is a DENIED whose message says why.
	PullPolicy func(ctx context.Context, repo, ref string, m meta.Manifest) error
}

// Event is a registry operation that succeeded, for the audit log.
type Event struct {
	Operation  string // EventPush, EventPull or EventDelete
	Kind       string // EventArtifact (a manifest), EventTag or EventBlob
	Repository string
	// Reference is what the client named: a tag or a digest.
	Reference string
	// Digest is the manifest's or blob's digest ("" for a deleted tag).
	Digest   string
	ClientIP string
}

// Event operations and kinds.
const (
	EventPush     = "push"
	EventPull     = "pull"
	EventDelete   = "delete"
	EventArtifact = "artifact"
	EventTag      = "tag"
	EventBlob     = "blob"
)

// event reports e to OnEvent, if set.
func (a *API) event(r *http.Request, e Event) {
	if a.opts.OnEvent == nil {
		return
	}
	if a.opts.ClientIP != nil {
		e.ClientIP = a.opts.ClientIP(r)
	} else if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		e.ClientIP = host
	} else {
		e.ClientIP = r.RemoteAddr
	}
	a.opts.OnEvent(r.Context(), e)
}

func (o Options) service() string {
	if o.Service == "" {
		return "berth"
	}
	return o.Service
}

// API serves /v2/.
type API struct {
	content  *content.Service
	registry *registry.Service
	log      *slog.Logger
	opts     Options
	copyBufs *sync.Pool // blob download blocks (deadlines.go)
}

// New returns the /v2/ handler set.
func New(c *content.Service, r *registry.Service, log *slog.Logger, opts Options) *API {
	if opts.Auth == nil {
		opts.Auth = denyAll{}
	}
	return &API{content: c, registry: r, log: log, opts: opts, copyBufs: newCopyBuffers()}
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, t target) error

// target is a parsed /v2/ path.
type target struct {
	route string // metrics label: base, catalog, tags, manifest, blob, upload, referrers
	repo  string
	ref   string // tag or digest (manifest), digest (blob, referrers), session id (upload)
}

// pathMarkers split a path after /v2/ into repository and resource; a
// repository name may contain any of them, so the rightmost marker whose
// remainder has no further slash wins.
var pathMarkers = []struct{ marker, route string }{
	{"/manifests/", "manifest"},
	{"/blobs/uploads/", "upload"},
	{"/blobs/", "blob"},
	{"/referrers/", "referrers"},
}

func parsePath(p string) (target, bool) {
	rest, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		return target{route: "base"}, p == "/v2"
	}
	switch {
	case rest == "":
		return target{route: "base"}, true
	case rest == "_catalog":
		return target{route: "catalog"}, true
	case strings.HasSuffix(rest, "/tags/list"):
		return target{route: "tags", repo: strings.TrimSuffix(rest, "/tags/list")}, true
	case strings.HasSuffix(rest, "/blobs/uploads"):
		return target{route: "upload", repo: strings.TrimSuffix(rest, "/blobs/uploads")}, true
	}
	best := target{}
	bestAt := -1
	for _, m := range pathMarkers {
		i := strings.LastIndex(rest, m.marker)
		if i <= 0 || i < bestAt {
			continue
		}
		ref := rest[i+len(m.marker):]
		if strings.Contains(ref, "/") {
			continue
		}
		if ref == "" && m.route != "upload" {
			continue
		}
		best, bestAt = target{route: m.route, repo: rest[:i], ref: ref}, i
	}
	return best, bestAt > 0
}

// ServeHTTP dispatches /v2/ requests.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if hasDotSegment(r.URL.Path) {
		httpx.SetRoute(r.Context(), "v2_invalid")
		a.writeError(w, r, newError("NAME_INVALID", http.StatusBadRequest, "path %q has empty, \".\" or \"..\" segments", truncate(r.URL.Path, 200)))
		return
	}
	t, ok := parsePath(r.URL.Path)
	httpx.SetRoute(r.Context(), "v2_"+t.route)
	if !ok {
		a.writeError(w, r, newError("NAME_UNKNOWN", http.StatusNotFound, "no such endpoint: %s", truncate(r.URL.Path, 200)))
		return
	}
	if t.repo != "" {
		if err := oci.ValidateName(t.repo); err != nil {
			a.writeError(w, r, err)
			return
		}
	}
	h := a.handler(t.route, t.ref, r.Method)
	if h == nil {
		a.writeError(w, r, newError("UNSUPPORTED", http.StatusMethodNotAllowed, "%s is not supported on %s", r.Method, t.route))
		return
	}
	if err := a.checkWritable(r); err != nil {
		a.writeError(w, r, err)
		return
	}
	actions := actionsFor(t, r.Method)
	ctx, err := a.opts.Auth.Authorize(r, t.repo, actions)
	if err != nil {
		a.writeAuthError(w, r, t, actions, err)
		return
	}
	r = r.WithContext(ctx)
	if err := a.checkProxyWrite(r, t); err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := h(w, r, t); err != nil {
		a.writeError(w, r, err)
	}
}

func (a *API) handler(route, ref, method string) handlerFunc {
	switch route {
	case "base":
		if method == http.MethodGet || method == http.MethodHead {
			return a.base
		}
	case "catalog":
		if method == http.MethodGet {
			return a.catalog
		}
	case "tags":
		if method == http.MethodGet {
			return a.tags
		}
	case "referrers":
		if method == http.MethodGet {
			return a.referrers
		}
	case "manifest":
		switch method {
		case http.MethodGet, http.MethodHead:
			return a.getManifest
		case http.MethodPut:
			return a.putManifest
		case http.MethodDelete:
			return a.deleteManifest
		}
	case "blob":
		switch method {
		case http.MethodGet, http.MethodHead:
			return a.getBlob
		case http.MethodDelete:
			return a.deleteBlob
		}
	case "upload":
		if ref == "" {
			if method == http.MethodPost {
				return a.startUpload
			}
			return nil
		}
		switch method {
		case http.MethodGet:
			return a.uploadStatus
		case http.MethodPatch:
			return a.patchUpload
		case http.MethodPut:
			return a.finishUpload
		case http.MethodDelete:
			return a.cancelUpload
		}
	}
	return nil
}

func (a *API) base(w http.ResponseWriter, r *http.Request, _ target) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", "2")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write([]byte("{}"))
	}
	return nil
}

// hasDotSegment reports whether a /v2/ path (already percent-decoded)
// has a "." or ".." segment, or an empty one inside it. Such a path names
// no repository; it is refused rather than cleaned, so that what is
// authorized is exactly what is served.
func hasDotSegment(p string) bool {
	rest, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		return false
	}
	rest = strings.TrimSuffix(rest, "/") // ".../blobs/uploads/" ends with one
	for seg := range strings.SplitSeq(rest, "/") {
		if seg == "." || seg == ".." || (seg == "" && rest != "") {
			return true
		}
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
