package restapi_test

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/version"
)

// roleEnv is a private project "team" holding one image, with a member
// in every role, an outsider and a second sysadmin.
type roleEnv struct {
	*env
	users map[string]cred // by role name, plus "outsider", "sysadmin", "anonymous"
	img   image
}

func newRoleEnv(base *env) *roleEnv {
	e := &roleEnv{env: base, users: map[string]cred{"anonymous": anonymous, "admin": admin}}
	e.createProject("team", false)
	e.img = e.pushImage("team/app", "v1", "team")
	for _, r := range access.Roles() {
		c, id := e.addUser(r.String(), false)
		e.addMember("team", id, r)
		e.users[r.String()] = c
	}
	e.users["outsider"], _ = e.addUser("outsider", false)
	e.users["sysadmin"], _ = e.addUser("sysadmin", true)
	return e
}

// Who gets what in the role tables below. Everyone not named gets the
// default of the row (403, or 401 for anonymous).
var (
	everyMember = []string{"projectAdmin", "maintainer", "developer", "guest", "limitedGuest", "admin", "sysadmin"}
	guestUp     = []string{"projectAdmin", "maintainer", "developer", "guest", "admin", "sysadmin"}
	developerUp = []string{"projectAdmin", "maintainer", "developer", "admin", "sysadmin"}
	maintainUp  = []string{"projectAdmin", "maintainer", "admin", "sysadmin"}
	adminUp     = []string{"projectAdmin", "admin", "sysadmin"}
)

// TestProjectPermissions checks every project, repository and artifact
// operation for every role, an outsider, anonymous and system
// administrators. Operations that change something are checked with a
// request that is allowed but fails afterwards (or changes nothing), so
// one fixture serves every row.
func TestProjectPermissions(t *testing.T) { forEachEnv(t, testProjectPermissions) }

func testProjectPermissions(t *testing.T, base *env) {
	e := newRoleEnv(base)
	art := "projects/team/repositories/app/artifacts/v1"
	tests := []struct {
		name         string
		method, path string
		body         any
		allowed      []string
		okStatus     int
	}{
		{"get project", "GET", "projects/team", nil, everyMember, 200},
		{"get project by id", "GET", "projects/2", nil, everyMember, 200},
		{"summary", "GET", "projects/team/summary", nil, everyMember, 200},
		{"update project (no change)", "PUT", "projects/team", map[string]any{"metadata": map[string]string{"public": "false"}}, adminUp, 200},
		{"deletable", "GET", "projects/team/_deletable", nil, adminUp, 200},
		{"delete project (not empty)", "DELETE", "projects/team", nil, adminUp, 412},
		{"metadata", "GET", "projects/team/metadatas/", nil, maintainUp, 200},
		{"metadata public", "GET", "projects/team/metadatas/public", nil, maintainUp, 200},
		{"set metadata (no change)", "PUT", "projects/team/metadatas/public", map[string]string{"public": "false"}, maintainUp, 200},
		{"list repositories", "GET", "projects/team/repositories", nil, everyMember, 200},
		{"get repository", "GET", "projects/team/repositories/app", nil, guestUp, 200},
		{"delete repository (missing)", "DELETE", "projects/team/repositories/none", nil, maintainUp, 404},
		{"list artifacts", "GET", "projects/team/repositories/app/artifacts", nil, everyMember, 200},
		{"get artifact", "GET", art, nil, everyMember, 200},
		{"delete artifact (missing)", "DELETE", "projects/team/repositories/app/artifacts/nope", nil, maintainUp, 404},
		{"list tags", "GET", art + "/tags", nil, everyMember, 200},
		{"add tag (taken)", "POST", art + "/tags", map[string]string{"name": "v1"}, developerUp, 409},
		{"delete tag (missing)", "DELETE", art + "/tags/nope", nil, maintainUp, 404},
	}
	order := []string{"projectAdmin", "maintainer", "developer", "guest", "limitedGuest", "outsider", "anonymous", "admin", "sysadmin"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, got := map[string]int{}, map[string]int{}
			for _, who := range order {
				switch {
				case slices.Contains(tt.allowed, who):
					want[who] = tt.okStatus
				case who == "anonymous":
					want[who] = http.StatusUnauthorized
				default:
					want[who] = http.StatusForbidden
				}
				got[who] = e.do(e.users[who], tt.method, tt.path, tt.body).status
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("%s %s status by caller (-want +got):\n%s", tt.method, tt.path, d)
			}
		})
	}
}

// TestNoExistenceOracle: a missing project and a private one answer the
// same to everyone but system administrators, and private projects are
// not listed or found by search for non-members.
func TestNoExistenceOracle(t *testing.T) { forEachEnv(t, testNoExistenceOracle) }

func testNoExistenceOracle(t *testing.T, base *env) {
	e := newRoleEnv(base)
	for _, path := range []string{"projects/team", "projects/team/repositories", "projects/team/repositories/app/artifacts"} {
		missing := strings.Replace(path, "team", "nope", 1)
		for _, c := range []struct {
			who             string
			private, absent int
		}{
			{"outsider", 403, 403},
			{"anonymous", 401, 401},
			{"guest", 200, 403},
			{"admin", 200, 404},
		} {
			if got := e.do(e.users[c.who], "GET", path, nil).status; got != c.private {
				t.Errorf("%s GET %s = %d, want %d", c.who, path, got, c.private)
			}
			if got := e.do(e.users[c.who], "GET", missing, nil).status; got != c.absent {
				t.Errorf("%s GET %s = %d, want %d", c.who, missing, got, c.absent)
			}
		}
	}

	type project struct {
		Name string `json:"name"`
	}
	names := func(c cred) []string {
		var out []string
		for _, p := range decode[[]project](t, e.must(e.do(c, "GET", "projects", nil), 200)) {
			out = append(out, p.Name)
		}
		return out
	}
	for who, want := range map[string][]string{
		"outsider":     {"library"},
		"anonymous":    {"library"},
		"limitedGuest": {"library", "team"},
		"admin":        {"library", "team"},
	} {
		if d := cmp.Diff(want, names(e.users[who])); d != "" {
			t.Errorf("projects listed to %s (-want +got):\n%s", who, d)
		}
	}

	type search struct {
		Project []struct {
			Name string `json:"name"`
		} `json:"project"`
		Repository []struct {
			RepositoryName string `json:"repository_name"`
			ProjectName    string `json:"project_name"`
			ArtifactCount  int    `json:"artifact_count"`
		} `json:"repository"`
	}
	if s := decode[search](t, e.must(e.do(e.users["outsider"], "GET", "search?q=app", nil), 200)); len(s.Project)+len(s.Repository) != 0 {
		t.Errorf("outsider's search = %+v, want nothing", s)
	}
	s := decode[search](t, e.must(e.do(e.users["guest"], "GET", "search?q=tea", nil), 200))
	if len(s.Project) != 1 || s.Project[0].Name != "team" || len(s.Repository) != 1 ||
		s.Repository[0].RepositoryName != "team/app" || s.Repository[0].ArtifactCount != 1 {
		t.Errorf("guest's search = %+v, want team and team/app", s)
	}
	e.must(e.do(e.users["guest"], "GET", "search", nil), 400)

	// HEAD ?project_name= tells logged-in callers only.
	for who, want := range map[string]int{"outsider": 200, "anonymous": 401} {
		if got := e.do(e.users[who], "HEAD", "projects?project_name=team", nil).status; got != want {
			t.Errorf("%s HEAD team = %d, want %d", who, got, want)
		}
	}
	e.must(e.do(e.users["outsider"], "HEAD", "projects?project_name=nope", nil), 404)
}

// TestCreateProject covers validation, duplicates, ownership and the
// project_creation_restriction setting.
func TestCreateProject(t *testing.T) { forEachEnv(t, testCreateProject) }

func testCreateProject(t *testing.T, e *env) {
	alice, _ := e.addUser("alice", false)
	tests := []struct {
		name   string
		who    cred
		body   any
		status int
		code   string
	}{
		{"user creates", alice, map[string]any{"project_name": "alpha", "metadata": map[string]string{"public": "true"}}, 201, ""},
		{"duplicate", admin, map[string]any{"project_name": "alpha"}, 409, "CONFLICT"},
		{"deprecated public flag", admin, map[string]any{"project_name": "beta", "public": true}, 201, ""},
		{"anonymous", anonymous, map[string]any{"project_name": "gamma"}, 401, "UNAUTHORIZED"},
		{"upper case", admin, map[string]any{"project_name": "Gamma"}, 400, "BAD_REQUEST"},
		{"two components", admin, map[string]any{"project_name": "a/b"}, 400, "BAD_REQUEST"},
		{"all digits", admin, map[string]any{"project_name": "123"}, 400, "BAD_REQUEST"},
		{"empty", admin, map[string]any{}, 400, "BAD_REQUEST"},
		{"bad public", admin, map[string]any{"project_name": "delta", "metadata": map[string]string{"public": "yes"}}, 400, "BAD_REQUEST"},
		{"not JSON", admin, "{", 400, "BAD_REQUEST"},
		{"too large", admin, strings.Repeat(" ", 2<<20), 413, "BAD_REQUEST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(tt.who, "POST", "projects", tt.body)
			if r.status != tt.status || r.code != tt.code {
				t.Errorf("status %d %s %q, want %d %s", r.status, r.code, r.msg, tt.status, tt.code)
			}
		})
	}

	type project struct {
		ProjectID          int64  `json:"project_id"`
		Name               string `json:"name"`
		OwnerName          string `json:"owner_name"`
		CurrentUserRoleID  int    `json:"current_user_role_id"`
		CurrentUserRoleIDs []int  `json:"current_user_role_ids"`
		Togglable          bool   `json:"togglable"`
		RepoCount          int    `json:"repo_count"`
		Metadata           struct {
			Public string `json:"public"`
		} `json:"metadata"`
	}
	got := decode[project](t, e.must(e.do(alice, "GET", "projects/alpha", nil), 200))
	got.ProjectID = 0
	want := project{Name: "alpha", OwnerName: "alice", CurrentUserRoleID: 1, CurrentUserRoleIDs: []int{1}, Togglable: true}
	want.Metadata.Public = "true"
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("alice's new project (-want +got):\n%s", d)
	}
	r := e.must(e.do(alice, "POST", "projects", map[string]any{"project_name": "named"}, "X-Resource-Name-In-Location", "true"), 201)
	if loc := r.header.Get("Location"); loc != "/api/v2.0/projects/named" {
		t.Errorf("Location = %q", loc)
	}

	// adminonly: users are refused, administrators are not.
	e.must(e.do(admin, "PUT", "configurations", map[string]string{"project_creation_restriction": "adminonly"}), 200)
	if r := e.do(alice, "POST", "projects", map[string]any{"project_name": "epsilon"}); r.status != 403 || r.code != "FORBIDDEN" {
		t.Errorf("adminonly, user: %d %s, want 403 FORBIDDEN", r.status, r.code)
	}
	e.must(e.do(admin, "POST", "projects", map[string]any{"project_name": "epsilon"}), 201)
	info := decode[map[string]any](t, e.must(e.do(alice, "GET", "systeminfo", nil), 200))
	if info["project_creation_restriction"] != "adminonly" || info["harbor_version"] != version.String() || info["auth_mode"] != "db_auth" {
		t.Errorf("systeminfo = %v", info)
	}

	// Updating and deleting.
	e.must(e.do(alice, "PUT", "projects/alpha", map[string]any{"metadata": map[string]string{"public": "false"}}), 200)
	if got := decode[map[string]string](t, e.must(e.do(alice, "GET", "projects/alpha/metadatas/public", nil), 200)); got["public"] != "false" {
		t.Errorf("public after PUT = %v", got)
	}
	e.must(e.do(alice, "PUT", "projects/alpha/metadatas/public", map[string]string{"public": "true"}), 200)
	e.must(e.do(alice, "GET", "projects/alpha/metadatas/other", nil), 404)
	e.must(e.do(alice, "PUT", "projects/alpha", map[string]any{"project_name": "renamed"}), 400)
	e.must(e.do(alice, "DELETE", "projects/alpha", nil), 200)
	e.must(e.do(admin, "GET", "projects/alpha", nil), 404)
}

// TestPaging checks page, page_size, X-Total-Count and Link.
func TestPaging(t *testing.T) { forEachEnv(t, testPaging) }

func testPaging(t *testing.T, e *env) {
	for i := range 24 {
		e.createProject("p"+strconv.Itoa(100+i), false) // 24 + library = 25
	}
	link := func(page, size int) string {
		return "</api/v2.0/projects?name=&page=" + strconv.Itoa(page) + "&page_size=" + strconv.Itoa(size) + ">"
	}
	tests := []struct {
		query     string
		wantNames int
		wantLink  string
	}{
		{"", 10, link(2, 10) + `; rel="next"`},
		{"page=2&page_size=10", 10, link(1, 10) + `; rel="prev" , ` + link(3, 10) + `; rel="next"`},
		{"page=3&page_size=10", 5, link(2, 10) + `; rel="prev"`},
		{"page=1&page_size=100", 25, ""},
		{"page=9&page_size=10", 0, link(3, 10) + `; rel="prev"`},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := e.must(e.do(admin, "GET", "projects?name=&"+tt.query, nil), 200)
			if n := len(decode[[]map[string]any](t, r)); n != tt.wantNames {
				t.Errorf("%d projects, want %d", n, tt.wantNames)
			}
			if got := r.header.Get("X-Total-Count"); got != "25" {
				t.Errorf("X-Total-Count = %q, want 25", got)
			}
			if got := r.header.Get("Link"); got != tt.wantLink {
				t.Errorf("Link = %q\nwant   %q", got, tt.wantLink)
			}
		})
	}
	for _, q := range []string{"page=0", "page=x", "page_size=0", "page_size=101", "public=maybe"} {
		if r := e.do(admin, "GET", "projects?"+q, nil); r.status != 400 || r.code != "BAD_REQUEST" {
			t.Errorf("%s: %d %s, want 400 BAD_REQUEST", q, r.status, r.code)
		}
	}
}
