package restapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/content"
	"github.com/berth-registry/berth/internal/distapi"
	"github.com/berth-registry/berth/internal/identity"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/internal/project"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/repository"
	"github.com/berth-registry/berth/internal/restapi"
	"github.com/berth-registry/berth/internal/settings"
	"github.com/berth-registry/berth/internal/storage/filesystem"
	"github.com/berth-registry/berth/internal/tokenauth"
)

// The tests run the REST API and the /v2/ API (to push images) over one
// SQLite store and a filesystem driver, as the server does.

const adminPassword = "Admin12345"

// env is a running API plus direct access to its store.
type env struct {
	t     *testing.T
	base  string
	store *meta.Store
	ids   *identity.Service
	api   *restapi.API
}

// envOptions adjust newEnv.
type envOptions struct {
	throttle identity.Throttle
}

func newEnv(t *testing.T, opts ...envOptions) *env {
	t.Helper()
	var o envOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	ctx := t.Context()
	log := slog.New(slog.DiscardHandler)
	store := metatest.OpenSQLite(t)
	drv, err := filesystem.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ids, err := identity.New(identity.Stores{Users: store.Users, Robots: store.Robots, Projects: store.Projects}, log, identity.Options{
		Hash:     &argon2id.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32},
		Throttle: o.throttle,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ids.BootstrapAdmin(ctx, adminPassword, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	key, _, err := tokenauth.LoadOrCreateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := tokenauth.NewIssuer(key, tokenauth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	gate, err := tokenauth.NewGate(tokenauth.Config{Issuer: issuer, Identity: ids, Access: access.NewChecker(store.Projects), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.New(registry.Stores{Repos: store.Repos, Manifests: store.Manifests, Tx: store}, nil, log)
	blobs := content.New(content.Stores{Blobs: store.Blobs, Uploads: store.Uploads, Tx: store}, drv, log)
	dist := distapi.New(blobs, reg, log, distapi.Options{Auth: gate})
	sets := settings.New(store.Settings, log, settings.Options{TTL: time.Nanosecond})
	rec := audit.NewDirect(audit.Stores{Log: store.Audit, Projects: store.Projects}, log)
	api := restapi.New(withStore(restapi.Deps{
		Identity:       ids,
		Settings:       sets,
		ProjectService: project.New(project.Stores{Projects: store.Projects, Repos: store.Repos}, sets, rec, log),
		Repositories:   repository.New(repository.Stores{Repos: store.Repos, Manifests: store.Manifests}, reg, blobs, rec, log),
		Storage:        probe{},
		SessionKey:     []byte("test session key, 32 bytes long."),
		System:         restapi.SystemInfo{Version: "v-test"},
	}, store), log)
	mux := http.NewServeMux()
	mux.Handle("/v2/", dist)
	mux.Handle("/api/v2.0/", api)
	mux.Handle("/c/", api)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{t: t, base: srv.URL, store: store, ids: ids, api: api}
}

// withStore sets the metadata fields of d from store, as internal/app does.
func withStore(d restapi.Deps, store *meta.Store) restapi.Deps {
	d.DB, d.Projects, d.Repos, d.Manifests = store, store.Projects, store.Repos, store.Manifests
	d.Users, d.Robots, d.AuditLog, d.Configs = store.Users, store.Robots, store.Audit, store.Settings
	return d
}

type probe struct{}

func (probe) Probe(context.Context) error { return nil }

// cred is how a request authenticates: Basic, a session cookie with its
// CSRF token, or nothing.
type cred struct {
	user, pass string
	cookies    []*http.Cookie
	csrf       string
}

func basic(user, pass string) cred { return cred{user: user, pass: pass} }

var (
	admin     = basic("admin", adminPassword)
	anonymous = cred{}
)

// userPassword is the password of every user the tests create.
const userPassword = "Passw0rd1"

// addUser creates a local user (password userPassword) and returns its
// credentials and id.
func (e *env) addUser(name string, sysadmin bool) (cred, int64) {
	e.t.Helper()
	u, err := e.ids.CreateUser(e.t.Context(), identity.NewUser{Username: name, Password: userPassword, Sysadmin: sysadmin})
	if err != nil {
		e.t.Fatal(err)
	}
	return basic(name, userPassword), u.ID
}

// addMember gives user id role in project.
func (e *env) addMember(project string, id int64, role access.Role) {
	e.t.Helper()
	p, err := e.store.Projects.GetProjectByName(e.t.Context(), project)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.store.Projects.AddMember(e.t.Context(), meta.Member{ProjectID: p.ID, Kind: meta.MemberUser, UserID: id, Role: int(role)}); err != nil {
		e.t.Fatal(err)
	}
}

type result struct {
	status int
	code   string // first error code
	msg    string
	header http.Header
	body   []byte
}

// do sends a request; body is a string, []byte, url.Values (a form) or
// anything else (JSON).
func (e *env) do(c cred, method, path string, body any, hdr ...string) result {
	e.t.Helper()
	var (
		r     io.Reader
		ctype string
	)
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	case url.Values:
		r, ctype = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		r, ctype = bytes.NewReader(j), "application/json"
	}
	if !strings.HasPrefix(path, "/") {
		path = "/api/v2.0/" + path
	}
	req, err := http.NewRequest(method, e.base+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	for _, ck := range c.cookies {
		req.AddCookie(ck)
	}
	if c.csrf != "" {
		req.Header.Set("X-Harbor-CSRF-Token", c.csrf)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	out := result{status: res.StatusCode, header: res.Header, body: b}
	var eb struct {
		Errors []struct{ Code, Message string } `json:"errors"`
	}
	if json.Unmarshal(b, &eb) == nil && len(eb.Errors) > 0 {
		out.code, out.msg = eb.Errors[0].Code, eb.Errors[0].Message
	}
	return out
}

// must fails the test unless r has status.
func (e *env) must(r result, status int) result {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("status %d %s %q, want %d; body %s", r.status, r.code, r.msg, status, r.body)
	}
	return r
}

// decode unmarshals r's body into a new T.
func decode[T any](t *testing.T, r result) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return v
}

// createProject creates a project as admin.
func (e *env) createProject(name string, public bool) {
	e.t.Helper()
	body := map[string]any{"project_name": name, "metadata": map[string]string{"public": map[bool]string{true: "true", false: "false"}[public]}}
	e.must(e.do(admin, http.MethodPost, "projects", body), http.StatusCreated)
}

// image is what pushImage stored.
type image struct {
	manifest, config, layer digest.Digest
	size                    int64 // manifest + config + layer
}

// pushImage pushes a one-layer image to repo:tag through /v2/ as admin.
func (e *env) pushImage(repo, tag, seed string) image {
	e.t.Helper()
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"seed":"` + seed + `"}`)
	layer := []byte("layer " + seed)
	var img image
	for _, b := range [][]byte{cfg, layer} {
		d := digest.FromBytes(b)
		e.must(e.do(admin, http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+d.String(), b,
			"Content-Type", "application/octet-stream"), http.StatusCreated)
	}
	img.config, img.layer = digest.FromBytes(cfg), digest.FromBytes(layer)
	m, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": img.config, "size": len(cfg)},
		"layers": []map[string]any{
			{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": img.layer, "size": len(layer)},
		},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.must(e.do(admin, http.MethodPut, "/v2/"+repo+"/manifests/"+tag, m,
		"Content-Type", "application/vnd.oci.image.manifest.v1+json"), http.StatusCreated)
	img.manifest = digest.FromBytes(m)
	img.size = int64(len(m) + len(cfg) + len(layer))
	return img
}
