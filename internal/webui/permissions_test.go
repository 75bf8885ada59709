package webui_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
)

// fixture is a private project p with a repository p/app holding one
// tagged image, and users in each relation to it.
type fixture struct {
	*env
	proj    meta.Project
	digest  digest.Digest
	clients map[string]*client // by principal: admin, owner (ProjectAdmin), dev, guest, outsider, anonymous
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	e := newEnv(t)
	f := &fixture{env: e, clients: map[string]*client{}}
	f.proj = e.addProject("p", false)
	f.digest = e.pushImage("p/app", "one", nil, "v1")
	for name, role := range map[string]access.Role{"owner": access.RoleProjectAdmin, "dev": access.RoleDeveloper, "guest": access.RoleGuest} {
		e.addMember(f.proj, e.addUser(name), role)
	}
	e.addUser("outsider")
	f.clients["admin"] = e.login("admin", adminPassword)
	for _, u := range []string{"owner", "dev", "guest", "outsider"} {
		f.clients[u] = e.login(u, userPassword)
	}
	f.clients["anonymous"] = e.anonymous()
	return f
}

// TestPagePermissions: each page answers each kind of caller as the
// permission matrix says, and shows only the controls the caller may
// use. Anonymous callers are sent to the login page with the page asked
// for; a project the caller may not see is refused like one that does
// not exist.
func TestPagePermissions(t *testing.T) {
	f := newFixture(t)
	const (
		login = -1 // a redirect to /login?next=<the page>
	)
	type want struct {
		status  int
		has     []string // controls present
		hasNot  []string // controls absent
		without string   // text that must not appear
	}
	deleteProject := `id="delete-project"`
	deleteArtifact := `/-/artifacts/` + f.digest.String() + `/delete`
	addTag := `class="inline addtag"`
	removeTag := `/-/tags/v1/delete`
	addMember := `id="add-member"`
	newRobot := `id="new-robot"`
	adminNav := `href="/admin/users"`
	newProject := `id="new-project-open"`
	tests := []struct {
		path string
		by   map[string]want
	}{
		{"/projects", map[string]want{
			"anonymous": {status: login},
			"outsider":  {status: 200, hasNot: []string{`href="/projects/p"`, adminNav}, has: []string{newProject}},
			"guest":     {status: 200, has: []string{`href="/projects/p"`}, hasNot: []string{adminNav}},
			"admin":     {status: 200, has: []string{`href="/projects/p"`, adminNav, newProject}},
		}},
		{"/projects/p", map[string]want{
			"anonymous": {status: login},
			"outsider":  {status: 403, without: "p/app"},
			"guest":     {status: 200, has: []string{`href="/repositories/p/app"`}, hasNot: []string{deleteProject, `href="/projects/p/settings"`}},
			"dev":       {status: 200, hasNot: []string{deleteProject}},
			"owner":     {status: 200, has: []string{deleteProject, `href="/projects/p/settings"`}},
			"admin":     {status: 200, has: []string{deleteProject}},
		}},
		{"/projects/p/members", map[string]want{
			"anonymous": {status: login},
			"outsider":  {status: 403},
			"guest":     {status: 200, hasNot: []string{addMember, "/remove"}},
			"dev":       {status: 200, hasNot: []string{addMember}},
			"owner":     {status: 200, has: []string{addMember, "/remove"}},
		}},
		{"/projects/p/robots", map[string]want{
			"outsider": {status: 403},
			"guest":    {status: 200, hasNot: []string{newRobot}},
			"owner":    {status: 200, has: []string{newRobot}},
		}},
		{"/projects/p/settings", map[string]want{
			"anonymous": {status: login},
			"guest":     {status: 403},
			"dev":       {status: 403},
			"owner":     {status: 200},
		}},
		{"/projects/p/logs", map[string]want{
			"outsider": {status: 403},
			"owner":    {status: 200},
		}},
		{"/projects/nothere", map[string]want{
			"anonymous": {status: login},
			"outsider":  {status: 403}, // as for p: no existence oracle
			"admin":     {status: 404},
		}},
		{"/repositories/p/app", map[string]want{
			"anonymous": {status: login},
			"outsider":  {status: 403, without: "v1"},
			"guest":     {status: 200, has: []string{"docker pull " + f.srv.Listener.Addr().String() + "/p/app:v1"}, hasNot: []string{deleteArtifact, addTag, removeTag}},
			"dev":       {status: 200, has: []string{addTag}, hasNot: []string{deleteArtifact}},
			"owner":     {status: 200, has: []string{deleteArtifact, addTag, removeTag}},
			"admin":     {status: 200, has: []string{deleteArtifact, addTag, removeTag}},
		}},
		{"/repositories/p/app/-/artifacts/" + f.digest.String(), map[string]want{
			"anonymous": {status: login},
			"outsider":  {status: 403},
			"guest":     {status: 200, has: []string{"schemaVersion"}, hasNot: []string{deleteArtifact}},
			"owner":     {status: 200, has: []string{deleteArtifact}},
		}},
		{"/repositories/p/nothere", map[string]want{
			"outsider": {status: 403},
			"guest":    {status: 404},
		}},
		{"/admin/users", map[string]want{
			"anonymous": {status: login},
			"owner":     {status: 403},
			"admin":     {status: 200, has: []string{`id="new-user"`}},
		}},
		{"/admin/auth", map[string]want{"owner": {status: 403}, "admin": {status: 200}}},
		{"/admin/system", map[string]want{"dev": {status: 403}, "admin": {status: 200}}},
		{"/admin/logs", map[string]want{"guest": {status: 403}, "admin": {status: 200}}},
	}
	for _, tt := range tests {
		for who, w := range tt.by {
			t.Run(who+tt.path, func(t *testing.T) {
				r := f.clients[who].get(tt.path)
				if w.status == login {
					if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?next="+url.QueryEscape(tt.path) {
						t.Fatalf("%d %s, want a redirect to the login page", r.status, r.header.Get("Location"))
					}
					return
				}
				if r.status != w.status {
					t.Fatalf("status %d, want %d", r.status, w.status)
				}
				for _, s := range w.has {
					if !strings.Contains(r.body, s) {
						t.Errorf("page lacks %q", s)
					}
				}
				for _, s := range w.hasNot {
					if strings.Contains(r.body, s) {
						t.Errorf("page has %q", s)
					}
				}
				if w.without != "" && strings.Contains(r.body, w.without) {
					t.Errorf("page shows %q", w.without)
				}
			})
		}
	}
}

// TestForgedRequestsRefused: a caller who is shown no control for a
// change is refused when the request is forged, with the caller's own
// valid CSRF token, and nothing changes.
func TestForgedRequestsRefused(t *testing.T) {
	f := newFixture(t)
	guestID := func() string {
		ms, _, err := f.store.Projects.ListMembers(t.Context(), f.proj.ID, "guest", meta.Page{Limit: 1})
		if err != nil || len(ms) != 1 {
			t.Fatalf("guest membership: %v %v", ms, err)
		}
		return strconv.FormatInt(ms[0].ID, 10)
	}()
	tests := []struct {
		name, who, path string
		form            url.Values
		want            int
	}{
		{"guest deletes an artifact", "guest", "/repositories/p/app/-/artifacts/" + f.digest.String() + "/delete", nil, 403},
		{"dev deletes an artifact", "dev", "/repositories/p/app/-/artifacts/" + f.digest.String() + "/delete", nil, 403},
		{"guest removes a tag", "guest", "/repositories/p/app/-/tags/v1/delete", url.Values{"digest": {f.digest.String()}}, 403},
		{"guest adds a tag", "guest", "/repositories/p/app/-/artifacts/" + f.digest.String() + "/tags", url.Values{"tag": {"evil"}}, 403},
		{"guest adds a member", "guest", "/projects/p/members", url.Values{"kind": {"user"}, "name": {"outsider"}, "role": {"1"}}, 403},
		{"dev makes itself admin", "dev", "/projects/p/members/" + guestID + "/role", url.Values{"role": {"1"}}, 403},
		{"guest creates a robot", "guest", "/projects/p/robots", url.Values{"name": {"x"}, "days": {"30"}, "perm.repository:pull": {"on"}}, 403},
		{"dev makes the project public", "dev", "/projects/p/settings", url.Values{"public": {"on"}}, 403},
		{"guest deletes the project", "guest", "/projects/p/delete", nil, 403},
		{"outsider deletes the project", "outsider", "/projects/p/delete", nil, 403},
		{"owner creates a user", "owner", "/admin/users", url.Values{"username": {"mallory"}, "password": {userPassword}}, 403},
		{"owner switches to LDAP", "owner", "/admin/auth", url.Values{"auth_mode": {"ldap_auth"}}, 403},
		{"anonymous deletes an artifact", "anonymous", "/repositories/p/app/-/artifacts/" + f.digest.String() + "/delete", nil, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.clients[tt.who].post(tt.path, tt.form, tt.who != "anonymous")
			if r.status != tt.want {
				t.Errorf("status %d, want %d", r.status, tt.want)
			}
		})
	}
	ctx := t.Context()
	if _, err := f.store.Manifests.GetArtifact(ctx, "p/app", f.digest); err != nil {
		t.Errorf("the artifact is gone: %v", err)
	}
	if d, err := f.store.Manifests.GetTag(ctx, "p/app", "v1"); err != nil || d != f.digest {
		t.Errorf("tag v1: %s %v", d, err)
	}
	if _, err := f.store.Manifests.GetTag(ctx, "p/app", "evil"); err == nil {
		t.Error("the guest's tag exists")
	}
	if p, err := f.store.Projects.GetProjectByName(ctx, "p"); err != nil || p.Public {
		t.Errorf("project p: %+v %v", p, err)
	}
	if _, err := f.store.Users.GetUserByName(ctx, "mallory"); err == nil {
		t.Error("the owner created a user")
	}
	rs, _, err := f.store.Robots.ListRobots(ctx, meta.RobotFilter{ProjectID: f.proj.ID}, meta.Page{Limit: 10})
	if err != nil || len(rs) != 0 {
		t.Errorf("robots: %v %v", rs, err)
	}
}

// TestAllowedChanges: the same changes by callers who may make them work
// (the controls are not decoration).
func TestAllowedChanges(t *testing.T) {
	f := newFixture(t)
	owner, dev := f.clients["owner"], f.clients["dev"]
	must := func(r result, want int) {
		t.Helper()
		if r.status != want {
			t.Fatalf("status %d, want %d: %.300s", r.status, want, r.body)
		}
	}
	must(dev.post("/repositories/p/app/-/artifacts/"+f.digest.String()+"/tags", url.Values{"tag": {"v2"}}, true), http.StatusSeeOther)
	must(owner.post("/repositories/p/app/-/tags/v2/delete", url.Values{"digest": {f.digest.String()}}, true), http.StatusSeeOther)
	must(owner.post("/projects/p/members", url.Values{"kind": {"user"}, "name": {"outsider"}, "role": {"3"}}, true), http.StatusSeeOther)
	must(owner.post("/projects/p/settings", url.Values{"public": {"on"}}, true), http.StatusSeeOther)
	r := owner.post("/projects/p/robots", url.Values{"name": {"ci"}, "days": {"30"}, "perm.repository:pull": {"on"}}, true)
	must(r, http.StatusOK)
	if !strings.Contains(r.body, `id="robot-secret-value"`) || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("robot created without its secret shown once (no-store): %q", r.header.Get("Cache-Control"))
	}
	must(owner.post("/projects/p/delete", nil, true), http.StatusConflict) // not empty
	must(owner.post("/repositories/p/app/-/artifacts/"+f.digest.String()+"/delete", nil, true), http.StatusSeeOther)
	ctx := t.Context()
	if _, err := f.store.Manifests.GetArtifact(ctx, "p/app", f.digest); err == nil {
		t.Error("the artifact is still there")
	}
	if p, err := f.store.Projects.GetProjectByName(ctx, "p"); err != nil || !p.Public {
		t.Errorf("project p: %+v %v", p, err)
	}
}
