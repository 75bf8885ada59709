package distapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
)

// Proxy serves the pulls of proxy-cache projects (*replication.Proxy).
// Both methods answer handled false for repositories of other projects
// and for content the cache holds, which is then served as usual.
type Proxy interface {
	// Manifest returns the manifest to serve for repo:ref when it came
	// from the upstream (a miss, or a tag that moved there).
	Manifest(ctx context.Context, repo, ref string) (m meta.Manifest, handled bool, err error)
	// Blob streams blob d from the upstream to w while storing it.
	Blob(ctx context.Context, repo string, d digest.Digest, w ProxyBlobWriter) (handled bool, err error)
	// IsProxy reports whether repo belongs to a proxy-cache project.
	IsProxy(ctx context.Context, repo string) (bool, error)
}

// checkProxyWrite refuses a push or a delete into a proxy-cache project,
// as Harbor does (403 DENIED): its content is the upstream's, cached.
// The cache itself writes through the services, not through /v2/.
func (a *API) checkProxyWrite(r *http.Request, t target) error {
	if a.opts.Proxy == nil || t.repo == "" {
		return nil
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	proxy, err := a.opts.Proxy.IsProxy(r.Context(), t.repo)
	if err != nil || !proxy {
		return err
	}
	project, _, _ := strings.Cut(t.repo, "/")
	if r.Method == http.MethodDelete {
		return newError("DENIED", http.StatusForbidden, "can not delete from a proxy project: %s", project)
	}
	return newError("DENIED", http.StatusForbidden, "can not push artifact to a proxy project: %s", project)
}

// ProxyBlobWriter is a response a proxied blob streams into.
type ProxyBlobWriter interface {
	Write(p []byte) (int, error)
	Start(size int64)
}

// proxyManifest resolves t's manifest, through the proxy first.
func (a *API) proxyManifest(r *http.Request, t target) (meta.Manifest, error) {
	if a.opts.Proxy != nil {
		m, handled, err := a.opts.Proxy.Manifest(r.Context(), t.repo, t.ref)
		if err != nil || handled {
			return m, err
		}
	}
	return a.registry.Resolve(r.Context(), t.repo, t.ref)
}

// proxyBlob serves a GET of a blob a proxy-cache project does not hold
// yet; HEADs and held blobs are served locally.
func (a *API) proxyBlob(w http.ResponseWriter, r *http.Request, t target, d digest.Digest) (bool, error) {
	if a.opts.Proxy == nil || r.Method != http.MethodGet {
		return false, nil
	}
	return a.opts.Proxy.Blob(r.Context(), t.repo, d, &proxyResponse{w: a.streamResponse(w), d: d})
}

type proxyResponse struct {
	w       http.ResponseWriter
	d       digest.Digest
	started bool
}

func (p *proxyResponse) Start(size int64) {
	h := p.w.Header()
	h.Set("Docker-Content-Digest", p.d.String())
	h.Set("ETag", `"`+p.d.String()+`"`)
	h.Set("Content-Type", "application/octet-stream")
	if size >= 0 {
		h.Set("Content-Length", strconv.FormatInt(size, 10))
	}
	p.w.WriteHeader(http.StatusOK)
	p.started = true
}

func (p *proxyResponse) Write(b []byte) (int, error) { return p.w.Write(b) }
