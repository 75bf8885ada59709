package webui_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/alexedwards/argon2id"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/content"
	"github.com/berth-registry/berth/internal/gc"
	"github.com/berth-registry/berth/internal/identity"
	"github.com/berth-registry/berth/internal/immutable"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/internal/project"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/repository"
	"github.com/berth-registry/berth/internal/retention"
	"github.com/berth-registry/berth/internal/settings"
	"github.com/berth-registry/berth/internal/signature"
	"github.com/berth-registry/berth/internal/storage/filesystem"
	"github.com/berth-registry/berth/internal/websession"
	"github.com/berth-registry/berth/internal/webui"
)

// The tests run the portal over one SQLite store and a filesystem driver,
// with the real services, and push content through the registry service.

const (
	adminPassword = "Admin12345"
	userPassword  = "Passw0rd1"
)

type env struct {
	tb       testing.TB
	srv      *httptest.Server
	store    *meta.Store
	ids      *identity.Service
	projects *project.Service
	reg      *registry.Service
	blobs    *content.Service
	ret      *retention.Service // runs synchronously (retention_test.go)
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	ctx := tb.Context()
	log := slog.New(slog.DiscardHandler)
	store := metatest.OpenSQLite(tb)
	drv, err := filesystem.New(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	ids, err := identity.New(identity.Stores{Users: store.Users, Robots: store.Robots, Projects: store.Projects}, log, identity.Options{
		Hash: &argon2id.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32},
	})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := ids.BootstrapAdmin(ctx, adminPassword, tb.TempDir()); err != nil {
		tb.Fatal(err)
	}
	reg := registry.New(registry.Stores{Repos: store.Repos, Manifests: store.Manifests, Tx: store,
		Immutable: immutable.NewChecker(store.Immutable)}, nil, log)
	blobs := content.New(content.Stores{Blobs: store.Blobs, Uploads: store.Uploads, Tx: store}, drv, log)
	sets := settings.New(store.Settings, log, settings.Options{})
	rec := audit.NewDirect(audit.Stores{Log: store.Audit, Projects: store.Projects}, log)
	projects := project.New(project.Stores{Projects: store.Projects, Repos: store.Repos}, sets, rec, log)
	ret := newRetention(store, reg, blobs, rec, log)
	repl := newReplication(tb, store, log) // replication_test.go
	ui, err := webui.New(webui.Deps{
		Sessions:       websession.New(ids, websession.Options{Key: []byte("test session key, 32 bytes long."), Audit: rec}),
		Projects:       store.Projects,
		Repos:          store.Repos,
		Manifests:      store.Manifests,
		Users:          store.Users,
		Robots:         store.Robots,
		AuditLog:       store.Audit,
		ProjectService: projects,
		Repositories:   repository.New(repository.Stores{Repos: store.Repos, Manifests: store.Manifests}, reg, blobs, rec, log),
		Blobs:          blobs,
		Identity:       ids,
		Settings:       sets,
		Audit:          rec,
		Retention:      ret,
		System:         webui.SystemInfo{Version: "v-test", Database: "sqlite", Storage: "filesystem"},
		Quotas:         store.Quotas,
		Immutable:      store.Immutable,
		Labels:         store.Labels,
		Pulls:          store.Pulls,
		Scans:          store.Scans,
		Signatures:     signature.New(store.Projects, store.Manifests, blobs, store.Policies),
		Policies:       store.Policies,
		Webhooks:       store.Webhooks,
		Replication:    repl,
	}, log)
	if err != nil {
		tb.Fatal(err)
	}
	ui.SetGC(&gcRuns{store: store.GC, c: gc.New(store.GC, drv, nil, nil, log)}) // gc_test.go
	srv := httptest.NewServer(ui)
	tb.Cleanup(srv.Close)
	return &env{tb: tb, srv: srv, store: store, ids: ids, projects: projects, reg: reg, blobs: blobs, ret: ret}
}

// addUser creates a local user with userPassword.
func (e *env) addUser(name string) meta.User {
	e.tb.Helper()
	u, err := e.ids.CreateUser(e.tb.Context(), identity.NewUser{Username: name, Password: userPassword})
	if err != nil {
		e.tb.Fatal(err)
	}
	return u
}

// addProject creates a project owned by the administrator.
func (e *env) addProject(name string, public bool) meta.Project {
	e.tb.Helper()
	admin, err := e.ids.Principal(e.tb.Context(), "admin")
	if err != nil {
		e.tb.Fatal(err)
	}
	p, err := e.projects.Create(e.tb.Context(), project.Actor{Principal: admin}, name, public)
	if err != nil {
		e.tb.Fatal(err)
	}
	return p
}

func (e *env) addMember(p meta.Project, u meta.User, role access.Role) {
	e.tb.Helper()
	if _, err := e.store.Projects.AddMember(e.tb.Context(), meta.Member{ProjectID: p.ID, Kind: meta.MemberUser, UserID: u.ID, Role: int(role)}); err != nil {
		e.tb.Fatal(err)
	}
}

// pushImage stores a one-layer image in repo under tags, with annotations
// on the manifest, and returns its digest.
func (e *env) pushImage(repo, seed string, annotations map[string]string, tags ...string) digest.Digest {
	e.tb.Helper()
	ctx := e.tb.Context()
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"seed":"` + seed + `"}`)
	layer := []byte("layer " + seed)
	for _, b := range [][]byte{cfg, layer} {
		if _, err := e.blobs.PutBlob(ctx, repo, digest.FromBytes(b), bytes.NewReader(b), int64(len(b))); err != nil {
			e.tb.Fatal(err)
		}
	}
	m, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest.FromBytes(cfg), "size": len(cfg)},
		"layers":        []map[string]any{{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest.FromBytes(layer), "size": len(layer)}},
		"annotations":   annotations,
	})
	if err != nil {
		e.tb.Fatal(err)
	}
	d := digest.FromBytes(m)
	ref := d.String()
	if len(tags) > 0 {
		ref = tags[0]
		tags = tags[1:]
	}
	if _, err := e.reg.PutManifest(ctx, repo, ref, "application/vnd.oci.image.manifest.v1+json", m, tags...); err != nil {
		e.tb.Fatal(err)
	}
	return d
}

// client is a browser: a cookie jar, no redirects followed.
type client struct {
	e    *env
	http *http.Client
}

func (e *env) anonymous() *client {
	jar, _ := cookiejar.New(nil)
	return &client{e: e, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// login logs in through the form and fails the test unless it worked.
func (e *env) login(user, pass string) *client {
	e.tb.Helper()
	c := e.anonymous()
	r := c.post("/login", url.Values{"username": {user}, "password": {pass}, "next": {"/projects"}}, false)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/projects" {
		e.tb.Fatalf("login %s: %d %s", user, r.status, r.body)
	}
	return c
}

type result struct {
	status int
	header http.Header
	body   string
}

func (c *client) do(req *http.Request) result {
	c.e.tb.Helper()
	resp, err := c.http.Do(req)
	if err != nil {
		c.e.tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.e.tb.Fatal(err)
	}
	return result{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func (c *client) get(path string) result {
	c.e.tb.Helper()
	req, err := http.NewRequest(http.MethodGet, c.e.srv.URL+path, nil)
	if err != nil {
		c.e.tb.Fatal(err)
	}
	return c.do(req)
}

var csrfRE = regexp.MustCompile(`name="_csrf" value="([^"]*)"`)

// token is the session's CSRF token, as a page's forms carry it.
func (c *client) token() string {
	c.e.tb.Helper()
	m := csrfRE.FindStringSubmatch(c.get("/projects").body)
	if m == nil {
		c.e.tb.Fatal("no CSRF token on /projects")
	}
	return m[1]
}

// post sends a form; withToken adds the session's CSRF token.
func (c *client) post(path string, form url.Values, withToken bool, hdr ...string) result {
	c.e.tb.Helper()
	if form == nil {
		form = url.Values{}
	}
	if withToken {
		form.Set("_csrf", c.token())
	}
	req, err := http.NewRequest(http.MethodPost, c.e.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.e.tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return c.do(req)
}

func mustURL(tb testing.TB, s string) *url.URL {
	tb.Helper()
	u, err := url.Parse(s)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}
