package replication

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/singleflight"

	"github.com/berth-registry/berth/internal/meta"
)

// Proxy serves pulls of proxy-cache projects (a project with a
// registry_id): a manifest missing locally is fetched from the upstream
// and served, then cached with its blobs in the background; a blob
// missing locally is streamed from the upstream to the client while it is
// stored. Concurrent misses of the same manifest or blob fetch it once
// (singleflight). A tag is checked upstream with a HEAD at most every
// TagCheck; while the upstream is down or limiting (429, Retry-After), the
// cached copy is served and the log says it is stale. Cached content is
// ordinary content of the project: its quota counts it.
type Proxy struct {
	svc      *Service
	local    ProxyLocal
	tagCheck time.Duration
	log      *slog.Logger

	projects sync.Map // project name -> projectEntry
	checked  sync.Map // repo:tag -> time of the last upstream check
	backoff  sync.Map // registry id -> time.Time before which the upstream is not asked
	// upstreams holds upstream clients by registry id and repository.
	upstreams sync.Map
	flights   singleflight.Group
}

// ProxyLocal is the local registry as the proxy writes to it.
type ProxyLocal interface {
	Stat(ctx context.Context, repo string, d digest.Digest) (meta.Blob, error)
	PutBlob(ctx context.Context, repo string, d digest.Digest, body io.Reader, length int64) (meta.Blob, error)
	Resolve(ctx context.Context, repo, ref string) (meta.Manifest, error)
	PutManifest(ctx context.Context, repo, ref, contentType string, payload []byte) error
}

type projectEntry struct {
	registry int64
	until    time.Time
}

// projectCacheTTL is how long a project's upstream binding is cached.
const projectCacheTTL = 5 * time.Second

// maxManifest bounds a manifest read from an upstream.
const maxManifest = 4 << 20

// manifestAccept is what the proxy asks upstreams for.
var manifestAccept = strings.Join([]string{
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.docker.distribution.manifest.v2+json",
}, ", ")

// NewProxy returns the proxy over the local registry; tagCheck is how
// often a cached tag is checked upstream (0: every pull).
func (s *Service) NewProxy(local ProxyLocal, tagCheck time.Duration, log *slog.Logger) *Proxy {
	return &Proxy{svc: s, local: local, tagCheck: tagCheck, log: log}
}

// ErrUpstream: the upstream of a proxy-cache project could not serve
// content the cache does not hold. It matches meta.ErrUnavailable too, so
// the edges answer 503.
var ErrUpstream = fmt.Errorf("proxy cache: upstream unavailable (%w)", meta.ErrUnavailable)

// SetProxyProject binds project projectID to registry registryID.
func (s *Service) SetProxyProject(ctx context.Context, projectID, registryID int64) error {
	if _, err := s.st.Registries.GetRegistry(ctx, registryID); err != nil {
		if errors.Is(err, meta.ErrRegistryNotFound) {
			return invalidf("registry %d does not exist", registryID)
		}
		return err
	}
	return s.st.Proxy.SetProjectRegistry(ctx, projectID, registryID)
}

// upstreamOf returns the registry of repo's project (0: not a proxy).
func (p *Proxy) upstreamOf(ctx context.Context, repo string) (int64, error) {
	project := projectOf(repo)
	if v, ok := p.projects.Load(project); ok && time.Now().Before(v.(projectEntry).until) {
		return v.(projectEntry).registry, nil
	}
	id, err := p.svc.st.Proxy.ProxyProjectRegistry(ctx, project)
	if err != nil {
		return 0, err
	}
	p.projects.Store(project, projectEntry{registry: id, until: time.Now().Add(projectCacheTTL)})
	return id, nil
}

// IsProxy reports whether repo belongs to a proxy-cache project.
func (p *Proxy) IsProxy(ctx context.Context, repo string) (bool, error) {
	id, err := p.upstreamOf(ctx, repo)
	return id != 0, err
}

// upstream is one proxy project's upstream: an HTTP client with the
// registry's credentials scoped to pull the upstream repository.
type upstream struct {
	id   int64
	c    *client
	repo string // the upstream repository
	hc   *http.Client
}

// upstreamTTL is how long an upstream client (its connections and
// token) is reused; a changed registry endpoint is seen after it.
const upstreamTTL = time.Minute

type upstreamEntry struct {
	u     *upstream
	until time.Time
}

func (p *Proxy) upstream(ctx context.Context, id int64, repo string) (*upstream, error) {
	key := strconv.FormatInt(id, 10) + " " + repo
	if v, ok := p.upstreams.Load(key); ok && time.Now().Before(v.(upstreamEntry).until) {
		return v.(upstreamEntry).u, nil
	}
	u, err := p.newUpstream(ctx, id, repo)
	if err != nil {
		return nil, err
	}
	p.upstreams.Store(key, upstreamEntry{u: u, until: time.Now().Add(upstreamTTL)})
	return u, nil
}

func (p *Proxy) newUpstream(ctx context.Context, id int64, repo string) (*upstream, error) {
	e, err := p.svc.endpoint(ctx, id)
	if err != nil {
		return nil, err
	}
	c, err := newClient(e, p.svc.opts.Wrap)
	if err != nil {
		return nil, err
	}
	_, rest, _ := strings.Cut(repo, "/")
	r, err := c.repo(rest)
	if err != nil {
		return nil, err
	}
	rt, err := transport.NewWithContext(ctx, c.reg, c.auth(), c.base, []string{r.Scope(transport.PullScope)})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUpstream, scrub(err, e.Secret))
	}
	return &upstream{id: id, c: c, repo: r.RepositoryStr(), hc: &http.Client{Transport: rt}}, nil
}

func (u *upstream) url(kind, ref string) string {
	return u.c.reg.Scheme() + "://" + u.c.reg.RegistryStr() + "/v2/" + u.repo + "/" + kind + "/" + ref
}

// limited records an upstream's 429 (or 503) and its Retry-After.
func (p *Proxy) limited(id int64, resp *http.Response) {
	wait := 10 * time.Second
	if s := resp.Header.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 {
			wait = time.Duration(min(n, 3600)) * time.Second
		} else if t, err := http.ParseTime(s); err == nil {
			wait = min(time.Until(t), time.Hour)
		}
	}
	p.backoff.Store(id, time.Now().Add(wait))
}

func (p *Proxy) backingOff(id int64) bool {
	v, ok := p.backoff.Load(id)
	return ok && time.Now().Before(v.(time.Time))
}

type upstreamManifest struct {
	mediaType string
	digest    digest.Digest
	payload   []byte
}

// fetchManifest GETs (or, with head, HEADs) ref from the upstream.
func (p *Proxy) fetchManifest(ctx context.Context, u *upstream, ref string, head bool) (upstreamManifest, error) {
	if p.backingOff(u.id) {
		return upstreamManifest{}, fmt.Errorf("%w: rate limited (Retry-After)", ErrUpstream)
	}
	method := http.MethodGet
	if head {
		method = http.MethodHead
	}
	req, err := http.NewRequestWithContext(ctx, method, u.url("manifests", ref), nil)
	if err != nil {
		return upstreamManifest{}, err
	}
	req.Header.Set("Accept", manifestAccept)
	resp, err := u.hc.Do(req)
	if err != nil {
		return upstreamManifest{}, fmt.Errorf("%w: %w", ErrUpstream, scrub(err, u.c.e.Secret))
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		p.limited(u.id, resp)
		return upstreamManifest{}, fmt.Errorf("%w: %s", ErrUpstream, resp.Status)
	case resp.StatusCode == http.StatusNotFound:
		return upstreamManifest{}, fmt.Errorf("%s:%s upstream: %w", u.repo, ref, meta.ErrManifestNotFound)
	case resp.StatusCode != http.StatusOK:
		return upstreamManifest{}, fmt.Errorf("%w: %s", ErrUpstream, resp.Status)
	}
	m := upstreamManifest{mediaType: resp.Header.Get("Content-Type")}
	if head {
		m.digest, err = digest.Parse(resp.Header.Get("Docker-Content-Digest"))
		if err != nil {
			return upstreamManifest{}, fmt.Errorf("%w: no digest in the answer to HEAD", ErrUpstream)
		}
		return m, nil
	}
	m.payload, err = io.ReadAll(io.LimitReader(resp.Body, maxManifest+1))
	if err != nil {
		return upstreamManifest{}, fmt.Errorf("%w: %w", ErrUpstream, err)
	}
	if len(m.payload) > maxManifest {
		return upstreamManifest{}, fmt.Errorf("%w: manifest larger than %d bytes", ErrUpstream, maxManifest)
	}
	sum := sha256.Sum256(m.payload)
	m.digest = digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(sum[:]))
	if strings.HasPrefix(ref, "sha256:") && m.digest.String() != ref {
		return upstreamManifest{}, fmt.Errorf("%w: manifest %s has digest %s", ErrUpstream, ref, m.digest)
	}
	return m, nil
}

// Manifest serves a manifest GET or HEAD of a proxy-cache project:
// handled false means "serve the local copy" (or repo is no proxy).
func (p *Proxy) Manifest(ctx context.Context, repo, ref string) (meta.Manifest, bool, error) {
	id, err := p.upstreamOf(ctx, repo)
	if err != nil || id == 0 {
		return meta.Manifest{}, false, err
	}
	isDigest := strings.HasPrefix(ref, "sha256:")
	local, lerr := p.local.Resolve(ctx, repo, ref)
	if lerr == nil && isDigest {
		p.svc.opts.Metrics.proxy.WithLabelValues("hit").Inc()
		return meta.Manifest{}, false, nil // content addressed: never stale
	}
	key := repo + ":" + ref
	if lerr == nil {
		if v, ok := p.checked.Load(key); ok && time.Since(v.(time.Time)) < p.tagCheck {
			p.svc.opts.Metrics.proxy.WithLabelValues("hit").Inc()
			return meta.Manifest{}, false, nil
		}
	}
	u, err := p.upstream(ctx, id, repo)
	if err == nil && lerr == nil { // a cached tag: is it still current?
		var head upstreamManifest
		if head, err = p.fetchManifest(ctx, u, ref, true); err == nil && head.digest == local.Digest {
			p.checked.Store(key, time.Now())
			p.svc.opts.Metrics.proxy.WithLabelValues("hit").Inc()
			return meta.Manifest{}, false, nil
		}
	}
	if err != nil {
		if lerr == nil && errors.Is(err, ErrUpstream) {
			p.log.WarnContext(ctx, "proxy cache: upstream unavailable, serving a stale copy", "repository", repo,
				"reference", ref, "digest", local.Digest.String(), "err", err)
			p.svc.opts.Metrics.proxy.WithLabelValues("stale").Inc()
			return meta.Manifest{}, false, nil
		}
		return meta.Manifest{}, false, err
	}
	// A miss (or the tag moved upstream): one fetch for every concurrent
	// request, then cache it in the background.
	v, err, _ := p.flights.Do("manifest "+key, func() (any, error) {
		m, err := p.fetchManifest(ctx, u, ref, false)
		if err != nil {
			return nil, err
		}
		go p.cache(context.WithoutCancel(ctx), u, repo, ref, m)
		return m, nil
	})
	if err != nil {
		if lerr == nil && errors.Is(err, ErrUpstream) {
			p.svc.opts.Metrics.proxy.WithLabelValues("stale").Inc()
			return meta.Manifest{}, false, nil
		}
		return meta.Manifest{}, false, err
	}
	p.svc.opts.Metrics.proxy.WithLabelValues("miss").Inc()
	m := v.(upstreamManifest)
	return meta.Manifest{MediaType: m.mediaType, Digest: m.digest, Payload: m.payload}, true, nil
}

// cache stores manifest m of ref with what it references: child
// manifests of an index, the config and layers of an image.
func (p *Proxy) cache(ctx context.Context, u *upstream, repo, ref string, m upstreamManifest) {
	ctx, cancel := context.WithTimeout(ctx, TaskTimeout)
	defer cancel()
	if err := p.cacheManifest(ctx, u, repo, ref, m, 0); err != nil {
		p.log.WarnContext(ctx, "proxy cache: could not cache", "repository", repo, "reference", ref, "err", err)
		return
	}
	if !strings.HasPrefix(ref, "sha256:") {
		p.checked.Store(repo+":"+ref, time.Now())
	}
}

func (p *Proxy) cacheManifest(ctx context.Context, u *upstream, repo, ref string, m upstreamManifest, depth int) error {
	var doc struct {
		MediaType string `json:"mediaType"`
		Manifests []struct {
			Digest digest.Digest `json:"digest"`
		} `json:"manifests"`
		Config struct {
			Digest digest.Digest `json:"digest"`
		} `json:"config"`
		Layers []struct {
			Digest digest.Digest `json:"digest"`
			Size   int64         `json:"size"`
		} `json:"layers"`
	}
	if err := json.Unmarshal(m.payload, &doc); err != nil {
		return fmt.Errorf("manifest %s: %w", m.digest, err)
	}
	if len(doc.Manifests) > 0 && depth > 0 {
		return fmt.Errorf("manifest %s: nested index", m.digest)
	}
	for _, c := range doc.Manifests {
		if _, err := p.local.Resolve(ctx, repo, c.Digest.String()); err == nil {
			continue
		}
		cm, err := p.fetchManifestOnce(ctx, u, repo, c.Digest.String())
		if err != nil {
			return err
		}
		if err := p.cacheManifest(ctx, u, repo, c.Digest.String(), cm, depth+1); err != nil {
			return err
		}
	}
	if doc.Config.Digest != "" {
		if err := p.ensureBlob(ctx, u, repo, doc.Config.Digest, nil); err != nil {
			return err
		}
	}
	for _, l := range doc.Layers {
		if err := p.ensureBlob(ctx, u, repo, l.Digest, nil); err != nil {
			return err
		}
	}
	return p.local.PutManifest(ctx, repo, ref, m.mediaType, m.payload)
}

func (p *Proxy) fetchManifestOnce(ctx context.Context, u *upstream, repo, ref string) (upstreamManifest, error) {
	v, err, _ := p.flights.Do("manifest "+repo+":"+ref, func() (any, error) {
		return p.fetchManifest(ctx, u, ref, false)
	})
	if err != nil {
		return upstreamManifest{}, err
	}
	return v.(upstreamManifest), nil
}

// BlobWriter receives a blob streamed from the upstream: Start is called
// once with its size before the first byte.
type BlobWriter interface {
	io.Writer
	Start(size int64)
}

// Blob serves a blob GET of a proxy-cache project that the cache does not
// hold: streamed from the upstream to w while it is stored. handled false:
// serve the local copy (or repo is no proxy). Concurrent requests for the
// same blob wait for the one fetch and are then served locally.
func (p *Proxy) Blob(ctx context.Context, repo string, d digest.Digest, w BlobWriter) (bool, error) {
	id, err := p.upstreamOf(ctx, repo)
	if err != nil || id == 0 {
		return false, err
	}
	if _, err := p.local.Stat(ctx, repo, d); err == nil {
		return false, nil
	}
	u, err := p.upstream(ctx, id, repo)
	if err != nil {
		return false, err
	}
	led := false
	err = p.ensureBlobWith(ctx, u, repo, d, func() BlobWriter { led = true; return w })
	switch {
	case err == nil:
		return led, nil
	case errors.Is(err, errStore) && led:
		// The client got every byte; only the cache failed (its quota,
		// its storage).
		p.log.WarnContext(ctx, "proxy cache: served from the upstream, not cached", "repository", repo,
			"digest", d.String(), "err", err)
		return true, nil
	case errors.Is(err, errStore):
		// Another request's fetch could not store it: pass it through.
		p.log.WarnContext(ctx, "proxy cache: served from the upstream, not cached", "repository", repo,
			"digest", d.String(), "err", err)
		return true, p.passThrough(ctx, u, d, w)
	case led:
		return true, err
	}
	return false, err
}

// errStore: the upstream answered but the cache could not store the
// content (the project's quota, the storage); the client is served anyway.
var errStore = errors.New("proxy cache: store")

// passThrough streams blob d from the upstream to w without storing it.
func (p *Proxy) passThrough(ctx context.Context, u *upstream, d digest.Digest, w BlobWriter) error {
	resp, err := p.getBlob(ctx, u, d)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	w.Start(resp.ContentLength)
	_, err = io.Copy(w, resp.Body)
	return err
}

// ensureBlob stores blob d of repo from the upstream unless it is there;
// w (nil: none) also receives the bytes when this call leads the fetch.
func (p *Proxy) ensureBlob(ctx context.Context, u *upstream, repo string, d digest.Digest, w BlobWriter) error {
	return p.ensureBlobWith(ctx, u, repo, d, func() BlobWriter { return w })
}

func (p *Proxy) ensureBlobWith(ctx context.Context, u *upstream, repo string, d digest.Digest, leader func() BlobWriter) error {
	_, err, _ := p.flights.Do("blob "+repo+"@"+d.String(), func() (any, error) {
		if _, err := p.local.Stat(ctx, repo, d); err == nil {
			return nil, nil // stored by a flight that just ended
		}
		return nil, p.fetchBlob(context.WithoutCancel(ctx), u, repo, d, leader())
	})
	return err
}

// fetchBlob streams blob d from the upstream into the local store and,
// when w is set, to w as well (a client that goes away does not stop
// the store).
func (p *Proxy) fetchBlob(ctx context.Context, u *upstream, repo string, d digest.Digest, w BlobWriter) error {
	ctx, cancel := context.WithTimeout(ctx, TaskTimeout)
	defer cancel()
	resp, err := p.getBlob(ctx, u, d)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body io.Reader = resp.Body
	var client *lenientWriter
	if w != nil {
		w.Start(resp.ContentLength)
		client = &lenientWriter{w: w}
		body = io.TeeReader(resp.Body, client)
	}
	if _, err := p.local.PutBlob(ctx, repo, d, body, resp.ContentLength); err != nil {
		if client != nil { // the client still gets the rest
			_, _ = io.Copy(client, resp.Body)
		}
		return fmt.Errorf("%w %s: %w", errStore, d, err)
	}
	return nil
}

// getBlob GETs blob d from the upstream (a 200 answer, or an error).
func (p *Proxy) getBlob(ctx context.Context, u *upstream, d digest.Digest) (*http.Response, error) {
	if p.backingOff(u.id) {
		return nil, fmt.Errorf("%w: rate limited (Retry-After)", ErrUpstream)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.url("blobs", d.String()), nil)
	if err != nil {
		return nil, err
	}
	resp, err := u.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUpstream, scrub(err, u.c.e.Secret))
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		p.limited(u.id, resp)
		return nil, fmt.Errorf("%w: %s", ErrUpstream, resp.Status)
	case http.StatusNotFound:
		return nil, fmt.Errorf("blob %s upstream: %w", d, meta.ErrBlobNotFound)
	}
	return nil, fmt.Errorf("%w: %s", ErrUpstream, resp.Status)
}

// lenientWriter passes bytes on until its writer fails, then drops them.
type lenientWriter struct {
	w      io.Writer
	failed bool
}

func (l *lenientWriter) Write(b []byte) (int, error) {
	if !l.failed {
		if _, err := l.w.Write(b); err != nil {
			l.failed = true
		}
	}
	return len(b), nil
}
