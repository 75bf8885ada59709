package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/identity"
	"github.com/berth-registry/berth/internal/meta"
)

// The tests in this file run the whole server (Serve) on SQLite and a
// filesystem, and seed users, projects and robots through a second store
// on the same database (the REST API that will do it is not there yet).

const ociManifest = "application/vnd.oci.image.manifest.v1+json"

// authEnv is a running server plus direct access to its database.
type authEnv struct {
	t     *testing.T
	base  string
	store *meta.Store
	ids   *identity.Service
}

func newAuthEnv(t *testing.T, env map[string]string) *authEnv {
	t.Helper()
	cfg := testConfig(t)
	if len(env) > 0 {
		var err error
		cfg, err = config.Load("", func(k string) string {
			if v, ok := env[k]; ok {
				return v
			}
			return map[string]string{"BERTH_HTTP_ADDR": "127.0.0.1:0", "BERTH_DATA_DIR": cfg.DataDir,
				"BERTH_SHUTDOWN_TIMEOUT": "10s", "BERTH_ADMIN_PASSWORD": testAdminPassword}[k]
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr, done := startServe(t, ctx, cfg)
	t.Cleanup(func() { cancel(); <-done })
	store, err := meta.Open(t.Context(), cfg.Database.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	// Accounts made here hash cheaply; the server verifies with each hash's own parameters.
	ids, err := identity.New(identity.Stores{Users: store.Users, Robots: store.Robots, Projects: store.Projects}, slog.New(slog.DiscardHandler), identity.Options{
		Hash: &argon2id.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &authEnv{t: t, base: "http://" + addr, store: store, ids: ids}
}

// cred is how a request authenticates: Basic, Bearer, or nothing.
type cred struct {
	user, pass string
	token      string
}

func basic(user, pass string) cred { return cred{user: user, pass: pass} }

var admin = basic("admin", testAdminPassword)

type result struct {
	status    int
	code, msg string
	header    http.Header
	body      []byte
}

func (e *authEnv) do(c cred, method, path string, body []byte, hdr ...string) result {
	e.t.Helper()
	req, err := http.NewRequest(method, e.base+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	switch {
	case c.token != "":
		req.Header.Set("Authorization", "Bearer "+c.token)
	case c.user != "":
		req.SetBasicAuth(c.user, c.pass)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	r := result{status: res.StatusCode, header: res.Header, body: b}
	var eb struct {
		Errors []struct{ Code, Message string } `json:"errors"`
	}
	if json.Unmarshal(b, &eb) == nil && len(eb.Errors) > 0 {
		r.code, r.msg = eb.Errors[0].Code, eb.Errors[0].Message
	}
	return r
}

func (e *authEnv) must(r result, status int) result {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("status %d %s %s, want %d", r.status, r.code, r.msg, status)
	}
	return r
}

// token asks the token service for scopes and returns the token with its
// access claim (decoded, not verified: the server verifies it).
func (e *authEnv) token(c cred, scopes ...string) (string, []accessEntry, result) {
	e.t.Helper()
	q := url.Values{"service": {"berth"}, "scope": scopes}
	r := e.do(c, http.MethodGet, "/service/token?"+q.Encode(), nil)
	if r.status != http.StatusOK {
		return "", nil, r
	}
	var body struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		IssuedAt    string `json:"issued_at"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil || body.Token == "" || body.Token != body.AccessToken || body.ExpiresIn <= 0 || body.IssuedAt == "" {
		e.t.Fatalf("token response %s", r.body)
	}
	parts := strings.Split(body.Token, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		e.t.Fatal(err)
	}
	var claims struct {
		Access []accessEntry `json:"access"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		e.t.Fatal(err)
	}
	return body.Token, claims.Access, r
}

type accessEntry struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// pushBlob uploads b into repo as c.
func (e *authEnv) pushBlob(c cred, repo string, b []byte) digest.Digest {
	e.t.Helper()
	d := digest.FromBytes(b)
	e.must(e.do(c, "POST", "/v2/"+repo+"/blobs/uploads/?digest="+d.String(), b), http.StatusCreated)
	return d
}

// image is a pushed manifest with its layer.
type image struct {
	manifest      []byte
	digest, layer digest.Digest
}

func imageManifest(cfg, layer digest.Digest, cfgSize, layerSize int) []byte {
	return []byte(`{"schemaVersion":2,"mediaType":"` + ociManifest + `","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` +
		cfg.String() + `","size":` + strconv.Itoa(cfgSize) + `},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"` +
		layer.String() + `","size":` + strconv.Itoa(layerSize) + `}]}`)
}

// pushImage pushes a config, a layer and a manifest tagged tag into repo as c.
func (e *authEnv) pushImage(c cred, repo, tag string, layer []byte) image {
	e.t.Helper()
	cfgBlob := []byte(`{"architecture":"amd64","os":"linux"}`)
	cd := e.pushBlob(c, repo, cfgBlob)
	ld := e.pushBlob(c, repo, layer)
	m := imageManifest(cd, ld, len(cfgBlob), len(layer))
	e.must(e.do(c, "PUT", "/v2/"+repo+"/manifests/"+tag, m, "Content-Type", ociManifest), http.StatusCreated)
	return image{manifest: m, digest: digest.FromBytes(m), layer: ld}
}

func (e *authEnv) project(name string, public bool) meta.Project {
	e.t.Helper()
	p, err := e.store.Projects.CreateProject(e.t.Context(), meta.Project{Name: name, Public: public})
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// user creates a local user with password <Name>Pass1 and optional roles.
func (e *authEnv) user(name string, sysadmin bool, roles map[int64]access.Role) cred {
	e.t.Helper()
	ctx := e.t.Context()
	pass := strings.ToUpper(name[:1]) + name[1:] + "Pass1"
	u, err := e.ids.CreateUser(ctx, identity.NewUser{Username: name, Password: pass, Sysadmin: sysadmin})
	if err != nil {
		e.t.Fatal(err)
	}
	for pid, role := range roles {
		if _, err := e.store.Projects.AddMember(ctx, meta.Member{ProjectID: pid, Kind: meta.MemberUser, UserID: u.ID, Role: int(role)}); err != nil {
			e.t.Fatal(err)
		}
	}
	return basic(name, pass)
}

func (e *authEnv) robot(nr identity.NewRobot) cred {
	e.t.Helper()
	r, secret, err := e.ids.CreateRobot(e.t.Context(), nr)
	if err != nil {
		e.t.Fatal(err)
	}
	return basic(r.Name, secret)
}

func perms(project string, actions ...string) []meta.RobotPermission {
	p := meta.RobotPermission{Kind: "project", Namespace: project}
	for _, a := range actions {
		p.Access = append(p.Access, meta.RobotAccess{Resource: "repository", Action: a})
	}
	return []meta.RobotPermission{p}
}

// TestPermissionMatrix runs every registry operation as every kind of
// principal, with Basic credentials and with tokens, against a private
// project (priv) and a public one (pub).
func TestPermissionMatrix(t *testing.T) {
	e := newAuthEnv(t, nil)
	ctx := t.Context()
	priv := e.project("priv", false)
	e.project("pub", true)
	e.project("other", false)
	img := e.pushImage(admin, "priv/app", "v1", []byte("private layer"))
	e.pushImage(admin, "pub/app", "v1", []byte("public layer"))
	e.pushImage(admin, "other/app", "v1", []byte("other layer"))

	role := func(r access.Role) map[int64]access.Role { return map[int64]access.Role{priv.ID: r} }
	disabled := e.user("disabled", false, role(access.RoleDeveloper))
	du, _ := e.store.Users.GetUserByName(ctx, "disabled")
	if _, err := e.ids.SetDisabled(ctx, du.ID, true); err != nil {
		t.Fatal(err)
	}
	offRobot := e.robot(identity.NewRobot{Name: "off", Level: meta.RobotProject, ProjectID: priv.ID, Permissions: perms("priv", "pull")})
	off, _ := e.store.Robots.GetRobotByName(ctx, offRobot.user)
	if _, err := e.ids.UpdateRobot(ctx, nil, off.ID, func(r *meta.Robot) { r.Disabled = true }); err != nil {
		t.Fatal(err)
	}

	const (
		pull, push, del = "pull", "push", "delete"
		authFails       = "auth fails"
	)
	principals := []struct {
		name string
		c    cred
		priv []string // actions held on priv/app; authFails: no credentials work
		pub  []string // actions held on pub/app
	}{
		{"anonymous", cred{}, nil, []string{pull}},
		{"system admin (bootstrap)", admin, []string{pull, push, del}, []string{pull, push, del}},
		{"system admin (flag)", e.user("root", true, nil), []string{pull, push, del}, []string{pull, push, del}},
		{"project admin", e.user("padmin", false, role(access.RoleProjectAdmin)), []string{pull, push, del}, []string{pull}},
		{"maintainer", e.user("maint", false, role(access.RoleMaintainer)), []string{pull, push, del}, []string{pull}},
		{"developer", e.user("dev", false, role(access.RoleDeveloper)), []string{pull, push}, []string{pull}},
		{"guest", e.user("guest", false, role(access.RoleGuest)), []string{pull}, []string{pull}},
		{"limited guest", e.user("lguest", false, role(access.RoleLimitedGuest)), []string{pull}, []string{pull}},
		{"non-member", e.user("outsider", false, nil), nil, []string{pull}},
		{"disabled user", disabled, []string{authFails}, []string{authFails}},
		{"robot pull", e.robot(identity.NewRobot{Name: "puller", Level: meta.RobotProject, ProjectID: priv.ID, Permissions: perms("priv", "pull")}), []string{pull}, []string{pull}},
		{"robot push", e.robot(identity.NewRobot{Name: "pusher", Level: meta.RobotProject, ProjectID: priv.ID, Permissions: perms("priv", "pull", "push")}), []string{pull, push}, []string{pull}},
		{"robot delete", e.robot(identity.NewRobot{Name: "deleter", Level: meta.RobotProject, ProjectID: priv.ID, Permissions: perms("priv", "pull", "push", "delete")}), []string{pull, push, del}, []string{pull}},
		{"system robot on every project", e.robot(identity.NewRobot{Name: "mirror", Level: meta.RobotSystem, Permissions: perms("*", "pull")}), []string{pull}, []string{pull}},
		{"system robot on pub only", e.robot(identity.NewRobot{Name: "pubpush", Level: meta.RobotSystem, Permissions: perms("pub", "pull", "push")}), nil, []string{pull, push}},
		{"expired robot", e.robot(identity.NewRobot{Name: "old", Level: meta.RobotProject, ProjectID: priv.ID, Permissions: perms("priv", "pull"), ExpiresAt: time.Now().Add(-time.Second)}), []string{authFails}, []string{authFails}},
		{"disabled robot", offRobot, []string{authFails}, []string{authFails}},
	}

	type op struct {
		name   string
		repo   string // priv/app or pub/app
		action string
		ok     int
		req    func(prefix string) (method, path string, body []byte, hdr []string)
	}
	ops := []op{
		{"GET manifest", "priv/app", pull, 200, func(string) (string, string, []byte, []string) {
			return "GET", "/v2/priv/app/manifests/v1", nil, nil
		}},
		{"HEAD manifest", "priv/app", pull, 200, func(string) (string, string, []byte, []string) {
			return "HEAD", "/v2/priv/app/manifests/" + img.digest.String(), nil, nil
		}},
		{"GET blob", "priv/app", pull, 200, func(string) (string, string, []byte, []string) {
			return "GET", "/v2/priv/app/blobs/" + img.layer.String(), nil, nil
		}},
		{"HEAD blob", "priv/app", pull, 200, func(string) (string, string, []byte, []string) {
			return "HEAD", "/v2/priv/app/blobs/" + img.layer.String(), nil, nil
		}},
		{"list tags", "priv/app", pull, 200, func(string) (string, string, []byte, []string) {
			return "GET", "/v2/priv/app/tags/list", nil, nil
		}},
		{"referrers", "priv/app", pull, 200, func(string) (string, string, []byte, []string) {
			return "GET", "/v2/priv/app/referrers/" + img.digest.String(), nil, nil
		}},
		{"push blob", "priv/app", push, 201, func(p string) (string, string, []byte, []string) {
			b := []byte("blob of " + p)
			return "POST", "/v2/priv/app/blobs/uploads/?digest=" + digest.FromBytes(b).String(), b, nil
		}},
		{"start upload", "priv/app", push, 202, func(string) (string, string, []byte, []string) {
			return "POST", "/v2/priv/app/blobs/uploads/", nil, nil
		}},
		{"push manifest", "priv/app", push, 201, func(p string) (string, string, []byte, []string) {
			return "PUT", "/v2/priv/app/manifests/" + p, img.manifest, []string{"Content-Type", ociManifest}
		}},
		{"delete tag", "priv/app", del, 202, func(p string) (string, string, []byte, []string) {
			return "DELETE", "/v2/priv/app/manifests/del-" + p, nil, nil
		}},
		{"delete blob", "priv/app", del, 202, func(p string) (string, string, []byte, []string) {
			return "DELETE", "/v2/priv/app/blobs/" + digest.FromString("deletable "+p).String(), nil, nil
		}},
		{"pull public", "pub/app", pull, 200, func(string) (string, string, []byte, []string) {
			return "GET", "/v2/pub/app/manifests/v1", nil, nil
		}},
		{"push public", "pub/app", push, 202, func(string) (string, string, []byte, []string) {
			return "POST", "/v2/pub/app/blobs/uploads/", nil, nil
		}},
	}

	for _, mode := range []string{"basic", "token"} {
		for i, p := range principals {
			t.Run(mode+"/"+p.name, func(t *testing.T) {
				e := &authEnv{t: t, base: e.base, store: e.store, ids: e.ids}
				prefix := mode + "-" + strconv.Itoa(i)
				// What the delete operations remove, put there by the administrator.
				e.must(e.do(admin, "PUT", "/v2/priv/app/manifests/del-"+prefix, img.manifest, "Content-Type", ociManifest), http.StatusCreated)
				e.pushBlob(admin, "priv/app", []byte("deletable "+prefix))

				c := p.c
				authFailed := slices.Contains(p.priv, authFails)
				if mode == "token" {
					// Ask for everything; the token carries exactly what is held.
					tok, got, r := e.token(p.c, "repository:priv/app:pull,push,delete", "repository:pub/app:push,pull", "repository:ghost/app:pull")
					if authFailed {
						if r.status != http.StatusUnauthorized || r.code != "UNAUTHORIZED" {
							t.Fatalf("token for a principal that cannot log in: %d %s", r.status, r.code)
						}
						return
					}
					if r.status != http.StatusOK {
						t.Fatalf("token: %d %s %s", r.status, r.code, r.msg)
					}
					want := []accessEntry{}
					for _, g := range []struct {
						repo    string
						asked   []string
						granted []string
					}{{"priv/app", []string{pull, push, del}, p.priv}, {"pub/app", []string{push, pull}, p.pub}} {
						var acts []string
						for _, a := range g.asked {
							if slices.Contains(g.granted, a) {
								acts = append(acts, a)
							}
						}
						if len(acts) > 0 {
							want = append(want, accessEntry{"repository", g.repo, acts})
						}
					}
					if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
						t.Errorf("token access claim (-want +got):\n%s", d)
					}
					c = cred{token: tok}
				}
				for _, o := range ops {
					method, path, body, hdr := o.req(prefix)
					r := e.do(c, method, path, body, hdr...)
					held := p.priv
					if o.repo == "pub/app" {
						held = p.pub
					}
					var wantStatus int
					var wantCode string
					switch {
					case authFailed:
						wantStatus, wantCode = http.StatusUnauthorized, "UNAUTHORIZED"
					case slices.Contains(held, o.action):
						wantStatus = o.ok
					case p.c == (cred{}):
						wantStatus, wantCode = http.StatusUnauthorized, "UNAUTHORIZED"
					default:
						wantStatus, wantCode = http.StatusForbidden, "DENIED"
					}
					if r.status != wantStatus || (wantCode != "" && r.code != wantCode && method != "HEAD") {
						t.Errorf("%s: %d %s %q, want %d %s", o.name, r.status, r.code, r.msg, wantStatus, wantCode)
					}
					if wantStatus == http.StatusUnauthorized {
						ch := r.header.Get("WWW-Authenticate")
						scope := o.action
						if scope == push {
							scope = "pull,push"
						}
						want := `Bearer realm="` + e.base + `/service/token",service="berth",scope="repository:` + o.repo + ":" + scope + `"`
						if ch != want {
							t.Errorf("%s: WWW-Authenticate = %s, want %s", o.name, ch, want)
						}
					}
				}
			})
		}
	}

	// Base endpoint and catalog: every principal sees only what it may pull.
	catalog := func(c cred) (result, []string) {
		r := e.do(c, "GET", "/v2/_catalog", nil)
		var body struct {
			Repositories []string `json:"repositories"`
		}
		_ = json.Unmarshal(r.body, &body)
		return r, body.Repositories
	}
	all := []string{"other/app", "priv/app", "pub/app"}
	visible := []struct {
		name string
		c    cred
		want []string
	}{
		{"admin", admin, all},
		{"developer", basic("dev", "DevPass1"), []string{"priv/app", "pub/app"}},
		{"limited guest", basic("lguest", "LguestPass1"), []string{"priv/app", "pub/app"}},
		{"non-member", basic("outsider", "OutsiderPass1"), []string{"pub/app"}},
		{"system robot on every project", principals[13].c, all},
	}
	for _, v := range visible {
		for _, mode := range []string{"basic", "token"} {
			c := v.c
			if mode == "token" {
				tok, got, _ := e.token(v.c, "registry:catalog:*")
				if d := cmp.Diff([]accessEntry{{"registry", "catalog", []string{"*"}}}, got); d != "" {
					t.Errorf("%s: catalog token (-want +got):\n%s", v.name, d)
				}
				c = cred{token: tok}
			}
			r, got := catalog(c)
			if r.status != http.StatusOK {
				t.Fatalf("%s %s: catalog %d %s", v.name, mode, r.status, r.code)
			}
			if d := cmp.Diff(v.want, got); d != "" {
				t.Errorf("%s %s: catalog (-want +got):\n%s", v.name, mode, d)
			}
			e.must(e.do(c, "GET", "/v2/", nil), http.StatusOK)
		}
	}
	anonTok, _, _ := e.token(cred{}, "registry:catalog:*")
	if _, got := catalog(cred{token: anonTok}); !cmp.Equal([]string{"pub/app"}, got) {
		t.Errorf("anonymous token catalog = %v, want only the public project", got)
	}
	for _, p := range []string{"/v2/", "/v2/_catalog"} {
		r := e.must(e.do(cred{}, "GET", p, nil), http.StatusUnauthorized)
		if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), `Bearer realm="`+e.base+`/service/token",service="berth"`) || r.code != "UNAUTHORIZED" {
			t.Errorf("GET %s anonymously: %s %q", p, r.code, r.header.Get("WWW-Authenticate"))
		}
	}
	e.must(e.do(cred{token: anonTok}, "GET", "/v2/", nil), http.StatusOK)
	e.must(e.do(basic("admin", "wrong"), "GET", "/v2/", nil), http.StatusUnauthorized)
	e.must(e.do(cred{token: "not.a.token"}, "GET", "/v2/", nil), http.StatusUnauthorized)

	// A token is good for the repositories it names, nowhere else.
	devTok, _, _ := e.token(basic("dev", "DevPass1"), "repository:priv/app:pull,push")
	adminTok, _, _ := e.token(admin, "repository:priv/app:pull")
	guestTok, _, _ := e.token(basic("guest", "GuestPass1"), "repository:priv/app:pull,push")
	reuse := []struct {
		name, token, method, path string
		status                    int
		challenge                 string
	}{
		{"developer's token on another repository of its project", devTok, "GET", "/v2/priv/app2/tags/list", 401, "repository:priv/app2:pull"},
		{"developer's token on a project it has no role in", devTok, "GET", "/v2/other/app/manifests/v1", 403, ""},
		{"developer's token to delete", devTok, "DELETE", "/v2/priv/app/manifests/v1", 403, ""},
		{"administrator's pull token to push", adminTok, "POST", "/v2/priv/app/blobs/uploads/", 401, "repository:priv/app:pull,push"},
		{"administrator's token on another project", adminTok, "GET", "/v2/other/app/manifests/v1", 401, "repository:other/app:pull"},
		{"guest's token that asked for push", guestTok, "POST", "/v2/priv/app/blobs/uploads/", 403, ""},
		{"developer's token where it holds it", devTok, "POST", "/v2/priv/app/blobs/uploads/", 202, ""},
	}
	for _, tt := range reuse {
		r := e.do(cred{token: tt.token}, tt.method, tt.path, nil)
		if r.status != tt.status {
			t.Errorf("%s: %d %s, want %d", tt.name, r.status, r.code, tt.status)
		}
		if tt.challenge != "" && !strings.Contains(r.header.Get("WWW-Authenticate"), `scope="`+tt.challenge+`"`) {
			t.Errorf("%s: challenge %q, want scope %s", tt.name, r.header.Get("WWW-Authenticate"), tt.challenge)
		}
	}

	// A token asked for a missing project grants nothing, and its use says why.
	ghostTok, _, _ := e.token(basic("dev", "DevPass1"), "repository:ghost/app:pull,push")
	for _, m := range []string{"HEAD", "POST"} {
		path := "/v2/ghost/app/blobs/uploads/"
		if m == "HEAD" {
			path = "/v2/ghost/app/blobs/" + img.layer.String()
		}
		if r := e.do(cred{token: ghostTok}, m, path, nil); r.status != http.StatusNotFound || (m == "POST" && r.msg != "project ghost does not exist") {
			t.Errorf("%s with a token for a missing project: %d %s %q", m, r.status, r.code, r.msg)
		}
	}

	// Pushing into a project that does not exist says so to anyone logged in.
	for _, tt := range []struct {
		name   string
		c      cred
		method string
		path   string
		status int
		code   string
	}{
		{"admin pushes a manifest", admin, "PUT", "/v2/ghost/app/manifests/v1", 404, "NAME_UNKNOWN"},
		{"developer starts an upload", basic("dev", "DevPass1"), "POST", "/v2/ghost/app/blobs/uploads/", 404, "NAME_UNKNOWN"},
		{"anonymous is asked to log in", cred{}, "POST", "/v2/ghost/app/blobs/uploads/", 401, "UNAUTHORIZED"},
		{"a logged-in user pulling is told too", basic("outsider", "OutsiderPass1"), "GET", "/v2/ghost/app/manifests/v1", 404, "NAME_UNKNOWN"},
		{"anonymous pulling is asked to log in", cred{}, "GET", "/v2/ghost/app/manifests/v1", 401, "UNAUTHORIZED"},
	} {
		r := e.do(tt.c, tt.method, tt.path, img.manifest, "Content-Type", ociManifest)
		if r.status != tt.status || r.code != tt.code {
			t.Errorf("%s: %d %s, want %d %s", tt.name, r.status, r.code, tt.status, tt.code)
		}
		if tt.code == "NAME_UNKNOWN" && r.msg != "project ghost does not exist" {
			t.Errorf("%s: message %q", tt.name, r.msg)
		}
	}
}

// TestBlobIsolation: a blob pushed into private project A cannot be read,
// HEADed or mounted through project B by someone without access to A, and
// no answer differs from the one for a blob that does not exist.
func TestBlobIsolation(t *testing.T) {
	e := newAuthEnv(t, nil)
	a := e.project("a", false)
	b := e.project("b", false)
	mallory := e.user("mallory", false, map[int64]access.Role{b.ID: access.RoleDeveloper})
	alice := e.user("alice", false, map[int64]access.Role{a.ID: access.RoleGuest, b.ID: access.RoleDeveloper})
	img := e.pushImage(admin, "a/app", "v1", []byte("secret layer"))
	e.pushImage(admin, "b/app", "v1", []byte("b's own layer"))
	secret, absent := img.layer, digest.FromString("never pushed")

	type answer struct {
		Status   int
		Code     string
		Location bool
	}
	ans := func(r result) answer {
		return answer{r.status, r.code, r.header.Get("Location") != ""}
	}
	for _, mode := range []string{"basic", "token"} {
		t.Run(mode, func(t *testing.T) {
			e := &authEnv{t: t, base: e.base, store: e.store, ids: e.ids}
			c := mallory
			if mode == "token" {
				// What a client asks for before mounting: push on the target, pull on the source.
				tok, got, _ := e.token(mallory, "repository:b/app:pull,push", "repository:a/app:pull")
				if d := cmp.Diff([]accessEntry{{"repository", "b/app", []string{"pull", "push"}}}, got); d != "" {
					t.Fatalf("token (-want +got):\n%s", d)
				}
				c = cred{token: tok}
			}
			probes := []struct {
				name    string
				method  string
				path    func(d digest.Digest) string
				body    func(d digest.Digest) []byte
				want    answer
				unknown bool // the blob stays unknown in b/app afterwards
			}{
				{"GET through b", "GET", func(d digest.Digest) string { return "/v2/b/app/blobs/" + d.String() }, nil, answer{404, "BLOB_UNKNOWN", false}, true},
				{"HEAD through b", "HEAD", func(d digest.Digest) string { return "/v2/b/app/blobs/" + d.String() }, nil, answer{404, "", false}, true},
				{"mount from a", "POST", func(d digest.Digest) string { return "/v2/b/app/blobs/uploads/?mount=" + d.String() + "&from=a/app" }, nil, answer{202, "", true}, true},
				{"mount from a missing project", "POST", func(d digest.Digest) string { return "/v2/b/app/blobs/uploads/?mount=" + d.String() + "&from=nope/app" }, nil, answer{202, "", true}, true},
				{"manifest in b referencing it", "PUT", func(d digest.Digest) string { return "/v2/b/app/manifests/stolen" }, func(d digest.Digest) []byte {
					return imageManifest(d, d, 1, 1)
				}, answer{400, "MANIFEST_BLOB_UNKNOWN", false}, true},
				{"GET from a directly", "GET", func(d digest.Digest) string { return "/v2/a/app/blobs/" + d.String() }, nil, answer{403, "DENIED", false}, false},
				{"HEAD from a directly", "HEAD", func(d digest.Digest) string { return "/v2/a/app/blobs/" + d.String() }, nil, answer{403, "", false}, false},
			}
			for _, p := range probes {
				var got [2]answer
				for i, d := range []digest.Digest{secret, absent} {
					var body []byte
					if p.body != nil {
						body = p.body(d)
					}
					got[i] = ans(e.do(c, p.method, p.path(d), body, "Content-Type", ociManifest))
				}
				if got[0] != p.want {
					t.Errorf("%s, existing blob: %+v, want %+v", p.name, got[0], p.want)
				}
				if got[0] != got[1] {
					t.Errorf("%s: existing blob %+v, absent blob %+v: an existence oracle", p.name, got[0], got[1])
				}
			}
			// Nothing above linked the blob into b.
			e.must(e.do(admin, "HEAD", "/v2/b/app/blobs/"+secret.String(), nil), http.StatusNotFound)
		})
	}
	// With pull on a, the same mount works (the control).
	r := e.must(e.do(alice, "POST", "/v2/b/app/blobs/uploads/?mount="+secret.String()+"&from=a/app", nil), http.StatusCreated)
	if r.header.Get("Docker-Content-Digest") != secret.String() {
		t.Errorf("mount answered digest %q", r.header.Get("Docker-Content-Digest"))
	}
	e.must(e.do(alice, "HEAD", "/v2/b/app/blobs/"+secret.String(), nil), http.StatusOK)
}

// TestAdminBootstrapAndKeyPersistence: on a first start without a
// password, the generated one is logged once and kept in a 0600 file; the
// token signing key is generated once, so tokens survive a restart.
func TestAdminBootstrapAndKeyPersistence(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Load("", func(k string) string {
		return map[string]string{"BERTH_HTTP_ADDR": "127.0.0.1:0", "BERTH_DATA_DIR": dir, "BERTH_SHUTDOWN_TIMEOUT": "10s"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	start := func() (string, *bytes.Buffer, func()) {
		var logs bytes.Buffer
		ctx, cancel := context.WithCancel(context.Background())
		addrc, done := make(chan string, 1), make(chan error, 1)
		go func() {
			done <- Serve(ctx, cfg, slog.New(slog.NewTextHandler(&logs, nil)), func(a net.Addr) { addrc <- a.String() })
		}()
		select {
		case a := <-addrc:
			return "http://" + a, &logs, func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Serve: %v", err)
				}
			}
		case err := <-done:
			t.Fatalf("Serve: %v", err)
		}
		return "", nil, nil
	}

	base, logs, stop := start()
	b, err := os.ReadFile(filepath.Join(dir, identity.AdminPasswordFile))
	if err != nil {
		t.Fatal(err)
	}
	pw := strings.TrimSpace(string(b))
	for _, f := range []string{identity.AdminPasswordFile, "token-signing-key.pem"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v; want 0600", f, err, fi.Mode().Perm())
		}
	}
	if n := strings.Count(logs.String(), pw); n != 1 {
		t.Errorf("the generated password appears %d times in the log, want once", n)
	}
	e := &authEnv{t: t, base: base}
	me := basic("admin", pw)
	e.pushImage(me, "library/app", "v1", []byte("layer"))
	tok, _, _ := e.token(me, "repository:library/app:pull")
	stop()

	base, logs, stop = start()
	defer stop()
	e.base = base
	if strings.Contains(logs.String(), pw) {
		t.Error("the admin password was logged again on restart")
	}
	e.must(e.do(cred{token: tok}, "GET", "/v2/library/app/manifests/v1", nil), http.StatusOK)
	e.must(e.do(me, "GET", "/v2/library/app/manifests/v1", nil), http.StatusOK)
	// Anonymous pull of the public default project.
	e.must(e.do(cred{}, "GET", "/v2/library/app/manifests/v1", nil), http.StatusOK)
}

// TestLoginThrottleHTTP: repeated failed logins are answered 429 with
// Retry-After on /v2/ and on the token service, then pass once the window
// is over.
func TestLoginThrottleHTTP(t *testing.T) {
	e := newAuthEnv(t, map[string]string{"BERTH_LOGIN_FAILURES_PER_USER": "2", "BERTH_LOGIN_FAILURE_WINDOW": "2s"})
	bob := e.user("bob", false, nil)
	wrong := basic("bob", "nope")
	e.must(e.do(wrong, "GET", "/v2/", nil), http.StatusUnauthorized)
	_, _, r := e.token(wrong)
	e.must(r, http.StatusUnauthorized)
	for _, tt := range []struct {
		name string
		do   func() result
	}{
		{"/v2/", func() result { return e.do(bob, "GET", "/v2/", nil) }},
		{"/service/token", func() result { _, _, r := e.token(bob); return r }},
	} {
		r := tt.do()
		if r.status != http.StatusTooManyRequests || r.code != "TOOMANYREQUESTS" {
			t.Fatalf("%s after two failures: %d %s", tt.name, r.status, r.code)
		}
		if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 || s > 2 {
			t.Errorf("%s: Retry-After %q", tt.name, r.header.Get("Retry-After"))
		}
	}
	// Others are not affected; bob can log in after the window.
	e.must(e.do(admin, "GET", "/v2/", nil), http.StatusOK)
	time.Sleep(2100 * time.Millisecond)
	e.must(e.do(bob, "GET", "/v2/", nil), http.StatusOK)
	logs, _, err := e.store.Audit.ListAuditLogs(t.Context(), meta.AuditFilter{Username: "bob", Operation: "login"}, meta.Page{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) < 3 || logs[len(logs)-1].Result != meta.AuditFailure {
		t.Errorf("bob's login audit = %+v", logs)
	}
}
