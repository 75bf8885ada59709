package restapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/app/apptest"
	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/httpx"
	"github.com/berth-registry/berth/internal/identity"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/project"
	"github.com/berth-registry/berth/internal/restapi"
	"github.com/berth-registry/berth/internal/settings"
)

// The account tests (users, members, robots, configurations, LDAP, audit
// logs) run on the whole server through the apptest harness, on {SQLite +
// filesystem} and {PostgreSQL + S3} (forEachAcct), and seed accounts and
// projects through a second identity service over the server's database.
// The two tests of settings across replicas run two hand-wired APIs over
// one store instead (newAcctReplicaOn), whose settings cache lives 50 ms
// rather than the server's 5 s.

const acctAdminPassword = apptest.AdminPassword

// acctEnv is a running API with direct access to its database.
type acctEnv struct {
	t     *testing.T
	base  string
	store *meta.Store
	ids   *identity.Service
	// settings is the API's own settings service (newAcctReplicaOn only;
	// on a harness server, change settings through the API).
	settings *settings.Service
}

// acctCred is how a request authenticates: Basic, or nothing.
type acctCred struct{ user, pass string }

var (
	acctAnon  = acctCred{}
	acctAdmin = acctCred{"admin", acctAdminPassword}
)

// cheapHash keeps the accounts the tests seed fast to verify.
var cheapHash = &argon2id.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// forEachAcct runs fn on a fresh server of each configuration.
func forEachAcct(t *testing.T, fn func(t *testing.T, e *acctEnv), opts ...apptest.Option) {
	t.Helper()
	apptest.ForEachConfig(t, func(t *testing.T, srv *apptest.Server) {
		store := srv.Store(t)
		ids, err := identity.New(identity.Stores{Users: store.Users, Robots: store.Robots, Projects: store.Projects},
			slog.New(slog.DiscardHandler), identity.Options{Hash: cheapHash})
		if err != nil {
			t.Fatal(err)
		}
		fn(t, &acctEnv{t: t, base: srv.URL, store: store, ids: ids})
	}, opts...)
}

// throttled sets the login throttle of the server.
func throttled(perUser int) apptest.Option {
	return func(c *config.Config) {
		c.Auth.LoginThrottle = config.LoginThrottle{FailuresPerUser: perUser, FailuresPerIP: 100, Window: time.Minute}
	}
}

// newAcctReplicaOn starts the API alone over store, as one replica;
// several may share a store. Settings are cached for 50 ms.
func newAcctReplicaOn(t *testing.T, store *meta.Store) *acctEnv {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	sets := settings.New(store.Settings, log, settings.Options{TTL: 50 * time.Millisecond})
	dir, err := identity.NewDirectory(sets, cheapHash)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := identity.New(identity.Stores{Users: store.Users, Robots: store.Robots, Projects: store.Projects}, log,
		identity.Options{External: dir, Hash: cheapHash})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ids.BootstrapAdmin(t.Context(), acctAdminPassword, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	api := restapi.New(restapi.Deps{
		DB: store, Projects: store.Projects, Repos: store.Repos, Manifests: store.Manifests,
		Users: store.Users, Robots: store.Robots, AuditLog: store.Audit, Configs: store.Settings,
		Identity: ids, Settings: sets, SessionKey: []byte("test session key"),
		ProjectService: project.New(project.Stores{Projects: store.Projects, Repos: store.Repos}, sets,
			audit.NewDirect(audit.Stores{Log: store.Audit, Projects: store.Projects}, log), log),
	}, log)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return &acctEnv{t: t, base: srv.URL, store: store, ids: ids, settings: sets}
}

// auditLogs waits until at least n audit entries match f (a harness
// server writes them asynchronously) and returns them.
func (e *acctEnv) auditLogs(f meta.AuditFilter, n int) []meta.AuditLog {
	e.t.Helper()
	var (
		logs []meta.AuditLog
		err  error
	)
	apptest.Eventually(e.t, 5*time.Second, func() bool {
		logs, _, err = e.store.Audit.ListAuditLogs(e.t.Context(), f, meta.Page{Limit: 100})
		return err != nil || len(logs) >= n
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return logs
}

// acctResult is an answer, with Harbor's error code when there is one.
type acctResult struct {
	status int
	header http.Header
	body   []byte
	code   string
	msg    string
}

// do sends body (JSON-encoded unless nil or already []byte) to path under
// /api/v2.0.
func (e *acctEnv) do(c acctCred, method, path string, body any) acctResult {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.base+Prefix+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	r := acctResult{status: res.StatusCode, header: res.Header, body: b}
	var eb httpx.ErrorBody
	if json.Unmarshal(b, &eb) == nil && len(eb.Errors) > 0 {
		r.code, r.msg = eb.Errors[0].Code, eb.Errors[0].Message
	}
	return r
}

// must fails the test unless r has status; it returns r.
func (e *acctEnv) must(r acctResult, status int) acctResult {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("status %d %s %s, want %d", r.status, r.code, r.msg, status)
	}
	return r
}

// decode unmarshals r's body into v.
func (e *acctEnv) decode(r acctResult, v any) {
	e.t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		e.t.Fatalf("decode %s: %v", r.body, err)
	}
}

// user creates a local user with password <Name>Pass1 and roles.
func (e *acctEnv) user(name string, sysadmin bool, roles map[int64]access.Role) (acctCred, meta.User) {
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
	return acctCred{name, pass}, u
}

func (e *acctEnv) project(name string, public bool) meta.Project {
	e.t.Helper()
	p, err := e.store.Projects.CreateProject(e.t.Context(), meta.Project{Name: name, Public: public})
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// acctCase is one request and the status it must get.
type acctCase struct {
	name   string
	cred   acctCred
	method string
	path   string
	body   any
	want   int
}

// run runs cases in order (they may depend on each other's effects).
func (e *acctEnv) run(t *testing.T, cases []acctCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.cred, tc.method, tc.path, tc.body)
			if r.status != tc.want {
				t.Errorf("%s %s: status %d %s %q, want %d", tc.method, tc.path, r.status, r.code, r.msg, tc.want)
			}
		})
	}
}

func id(n int64) string { return strconv.FormatInt(n, 10) }

func TestUserEndpoints(t *testing.T) { forEachAcct(t, testUserEndpoints) }

func testUserEndpoints(t *testing.T, e *acctEnv) {
	alice, au := e.user("alice", false, nil)
	bob, bu := e.user("bobby", false, nil)
	admin, err := e.store.Users.GetUserByName(t.Context(), "admin")
	if err != nil {
		t.Fatal(err)
	}
	robot, secret, err := e.ids.CreateRobot(t.Context(), identity.NewRobot{Name: "ci", Level: meta.RobotSystem})
	if err != nil {
		t.Fatal(err)
	}
	robotCred := acctCred{robot.Name, secret}

	e.run(t, []acctCase{
		{"list anonymous", acctAnon, "GET", "/users", nil, 401},
		{"list user", alice, "GET", "/users", nil, 403},
		{"list robot", robotCred, "GET", "/users", nil, 403},
		{"list admin", acctAdmin, "GET", "/users?page=1&page_size=2&q=username%3D~a", nil, 200},
		{"list bad q", acctAdmin, "GET", "/users?q=shoe=42", nil, 400},
		{"create anonymous", acctAnon, "POST", "/users", map[string]string{"username": "carl", "password": "CarlPass1"}, 401},
		{"create user", alice, "POST", "/users", map[string]string{"username": "carl", "password": "CarlPass1"}, 403},
		{"create admin", acctAdmin, "POST", "/users", map[string]string{"username": "carl", "password": "CarlPass1", "email": "carl@example.test"}, 201},
		{"create duplicate", acctAdmin, "POST", "/users", map[string]string{"username": "carl", "password": "CarlPass1"}, 409},
		{"create weak password", acctAdmin, "POST", "/users", map[string]string{"username": "dora", "password": "weak"}, 400},
		{"create robot name", acctAdmin, "POST", "/users", map[string]string{"username": "robot$x", "password": "DoraPass1"}, 400},
		{"current anonymous", acctAnon, "GET", "/users/current", nil, 401},
		{"current user", alice, "GET", "/users/current", nil, 200},
		{"current robot", robotCred, "GET", "/users/current", nil, 412},
		{"search anonymous", acctAnon, "GET", "/users/search?username=ali", nil, 401},
		{"search user", bob, "GET", "/users/search?username=ali", nil, 200},
		{"search without username", bob, "GET", "/users/search", nil, 400},
		{"get self", alice, "GET", "/users/" + id(au.ID), nil, 200},
		{"get other", bob, "GET", "/users/" + id(au.ID), nil, 403},
		{"get admin", acctAdmin, "GET", "/users/" + id(au.ID), nil, 200},
		{"get missing", acctAdmin, "GET", "/users/999999", nil, 404},
		{"get bad id", acctAdmin, "GET", "/users/x", nil, 400},
		{"profile self", alice, "PUT", "/users/" + id(au.ID), map[string]string{"email": "alice@example.test", "realname": "Alice"}, 200},
		{"profile bad email", alice, "PUT", "/users/" + id(au.ID), map[string]string{"email": "not an address"}, 400},
		{"profile other", bob, "PUT", "/users/" + id(au.ID), map[string]string{"email": "x@example.test"}, 403},
		{"password other", bob, "PUT", "/users/" + id(au.ID) + "/password", map[string]string{"old_password": "AlicePass1", "new_password": "Bobby4ever"}, 403},
		{"password wrong old", alice, "PUT", "/users/" + id(au.ID) + "/password", map[string]string{"old_password": "Wrong1234", "new_password": "Alice2Pass"}, 403},
		{"password no old", alice, "PUT", "/users/" + id(au.ID) + "/password", map[string]string{"new_password": "Alice2Pass"}, 400},
		{"password weak", alice, "PUT", "/users/" + id(au.ID) + "/password", map[string]string{"old_password": "AlicePass1", "new_password": "weak"}, 400},
		{"password self", alice, "PUT", "/users/" + id(au.ID) + "/password", map[string]string{"old_password": "AlicePass1", "new_password": "Alice2Pass"}, 200},
		{"old password gone", alice, "GET", "/users/current", nil, 401},
		{"new password works", acctCred{"alice", "Alice2Pass"}, "GET", "/users/current", nil, 200},
		{"admin resets", acctAdmin, "PUT", "/users/" + id(au.ID) + "/password", map[string]string{"new_password": "Alice3Pass"}, 200},
		{"reset password works", acctCred{"alice", "Alice3Pass"}, "GET", "/users/current", nil, 200},
		{"sysadmin by user", bob, "PUT", "/users/" + id(bu.ID) + "/sysadmin", map[string]bool{"sysadmin_flag": true}, 403},
		{"sysadmin by admin", acctAdmin, "PUT", "/users/" + id(bu.ID) + "/sysadmin", map[string]bool{"sysadmin_flag": true}, 200},
		{"now bob lists users", bob, "GET", "/users", nil, 200},
		{"revoke own sysadmin", acctAdmin, "PUT", "/users/" + id(admin.ID) + "/sysadmin", map[string]bool{"sysadmin_flag": false}, 403},
		{"sysadmin without flag", acctAdmin, "PUT", "/users/" + id(bu.ID) + "/sysadmin", map[string]any{}, 400},
		{"disable by user", acctCred{"alice", "Alice3Pass"}, "PUT", "/users/" + id(bu.ID) + "/disabled", map[string]bool{"disabled": true}, 403},
		{"disable self", acctAdmin, "PUT", "/users/" + id(admin.ID) + "/disabled", map[string]bool{"disabled": true}, 403},
		{"disable without flag", acctAdmin, "PUT", "/users/" + id(au.ID) + "/disabled", map[string]any{}, 400},
		{"disable by admin", acctAdmin, "PUT", "/users/" + id(au.ID) + "/disabled", map[string]bool{"disabled": true}, 200},
		{"disabled cannot log in", acctCred{"alice", "Alice3Pass"}, "GET", "/users/current", nil, 401},
		{"enable by admin", acctAdmin, "PUT", "/users/" + id(au.ID) + "/disabled", map[string]bool{"disabled": false}, 200},
		{"enabled logs in again", acctCred{"alice", "Alice3Pass"}, "GET", "/users/current", nil, 200},
		{"delete by user", acctCred{"alice", "Alice3Pass"}, "DELETE", "/users/" + id(bu.ID), nil, 403},
		{"delete self", acctAdmin, "DELETE", "/users/" + id(admin.ID), nil, 403},
		{"delete admin account", bob, "DELETE", "/users/" + id(admin.ID), nil, 403},
		{"delete by admin", acctAdmin, "DELETE", "/users/" + id(bu.ID), nil, 200},
		{"deleted cannot log in", bob, "GET", "/users/current", nil, 401},
		{"delete missing", acctAdmin, "DELETE", "/users/" + id(bu.ID), nil, 404},
	})

	r := e.must(e.do(acctAdmin, "GET", "/users?page_size=2", nil), 200)
	var users []userJSON
	e.decode(r, &users)
	if r.header.Get("X-Total-Count") != "3" || len(users) != 2 || users[0].Username != "admin" || !users[0].SysadminFlag {
		t.Errorf("GET /users: total %s, %+v", r.header.Get("X-Total-Count"), users)
	}
	if !strings.Contains(r.header.Get("Link"), `rel="next"`) {
		t.Errorf("GET /users Link = %q, want a next page", r.header.Get("Link"))
	}
	var cur userJSON
	e.decode(e.must(e.do(acctCred{"alice", "Alice3Pass"}, "GET", "/users/current", nil), 200), &cur)
	if cur.Username != "alice" || cur.Email != "alice@example.test" || cur.Realname != "Alice" || cur.SysadminFlag {
		t.Errorf("current user = %+v", cur)
	}
	var found []userSearchJSON
	e.decode(e.must(e.do(acctCred{"alice", "Alice3Pass"}, "GET", "/users/search?username=car", nil), 200), &found)
	if len(found) != 1 || found[0].Username != "carl" {
		t.Errorf("search car = %+v", found)
	}

	// Under ldap_auth users come from the directory: no local creation.
	e.must(e.do(acctAdmin, "PUT", "/configurations", map[string]any{
		"auth_mode": "ldap_auth", "ldap_url": "ldap://127.0.0.1:1", "ldap_base_dn": "dc=example,dc=test",
	}), 200)
	r = e.do(acctAdmin, "POST", "/users", map[string]string{"username": "erin", "password": "ErinPass1"})
	if r.status != 403 || !strings.Contains(r.msg, "db_auth") {
		t.Errorf("create under ldap_auth: %d %s", r.status, r.msg)
	}
	// The local administrator still logs in.
	e.must(e.do(acctAdmin, "GET", "/users/current", nil), 200)
}
