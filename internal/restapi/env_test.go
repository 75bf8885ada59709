package restapi_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/app/apptest"
	"github.com/berth-registry/berth/internal/meta"
)

// The tests run the whole server, app.Serve, through the apptest harness,
// on {SQLite + filesystem} and {PostgreSQL + S3}: forEachEnv runs a test
// body on each.

// env is a running server plus a second handle on its database.
type env struct {
	t    *testing.T
	base string
	srv  *apptest.Server
}

// forEachEnv runs fn on a fresh server of each configuration.
func forEachEnv(t *testing.T, fn func(t *testing.T, e *env), opts ...apptest.Option) {
	t.Helper()
	apptest.ForEachConfig(t, func(t *testing.T, srv *apptest.Server) {
		fn(t, &env{t: t, base: srv.URL, srv: srv})
	}, opts...)
}

// store is a second handle on the server's database, for checks and
// seeding what the API cannot; see apptest.Server.Store.
func (e *env) store() *meta.Store { return e.srv.Store(e.t) }

// auditLogs waits until at least n audit entries match f (the server
// writes them asynchronously) and returns them.
func (e *env) auditLogs(f meta.AuditFilter, n int) []meta.AuditLog {
	e.t.Helper()
	var (
		logs []meta.AuditLog
		err  error
	)
	apptest.Eventually(e.t, 5*time.Second, func() bool {
		logs, _, err = e.store().Audit.ListAuditLogs(e.t.Context(), f, meta.Page{Limit: 100})
		return err != nil || len(logs) >= n
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return logs
}

// cred is how a request authenticates: Basic, a session cookie with its
// CSRF token, or nothing.
type cred = apptest.Cred

func basic(user, pass string) cred { return apptest.Basic(user, pass) }

var (
	admin     = apptest.Admin()
	anonymous = cred{}
)

// userPassword is the password of every user the tests create.
const userPassword = "Passw0rd1"

// addUser creates a local user (password userPassword) through the API
// and returns its credentials and id.
func (e *env) addUser(name string, sysadmin bool) (cred, int64) {
	e.t.Helper()
	return basic(name, userPassword), e.srv.CreateUser(e.t, name, userPassword, sysadmin)
}

// addMember gives user id role in project, through the API.
func (e *env) addMember(project string, id int64, role access.Role) {
	e.t.Helper()
	e.must(e.do(admin, http.MethodPost, "projects/"+project+"/members", map[string]any{
		"role_id": int(role), "member_user": map[string]any{"user_id": id},
	}), http.StatusCreated)
}

type result struct {
	status int
	code   string // first error code
	msg    string
	header http.Header
	body   []byte
}

// do sends a request; body is a string, []byte, url.Values (a form) or
// anything else (JSON); paths without a leading slash are under /api/v2.0/.
func (e *env) do(c cred, method, path string, body any, hdr ...string) result {
	e.t.Helper()
	r := e.srv.Do(e.t, c, method, path, body, hdr...)
	out := result{status: r.Status, header: r.Header, body: r.Body}
	out.code, out.msg = r.Error()
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
