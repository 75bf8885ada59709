package restapi_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/app/apptest"
	"github.com/berth-registry/berth/internal/meta"
)

func projectRobotReq(name, project string, actions ...string) map[string]any {
	acc := []map[string]string{}
	for _, a := range actions {
		acc = append(acc, map[string]string{"resource": "repository", "action": a})
	}
	return map[string]any{"name": name, "level": "project", "duration": -1,
		"permissions": []map[string]any{{"kind": "project", "namespace": project, "access": acc}}}
}

func TestRobotEndpoints(t *testing.T) { forEachAcct(t, testRobotEndpoints) }

func testRobotEndpoints(t *testing.T, e *acctEnv) {
	p1 := e.project("p1", false)
	p2 := e.project("p2", false)
	owner, _ := e.user("owner", false, map[int64]access.Role{p1.ID: access.RoleProjectAdmin})
	guest, _ := e.user("guest", false, map[int64]access.Role{p1.ID: access.RoleGuest})
	outsider, _ := e.user("outsider", false, map[int64]access.Role{p2.ID: access.RoleProjectAdmin})

	system := map[string]any{"name": "sys", "level": "system", "duration": 30, "description": "all projects",
		"permissions": []map[string]any{{"kind": "project", "namespace": "*",
			"access": []map[string]string{{"resource": "repository", "action": "pull"}}}}}
	e.run(t, []acctCase{
		{"system robot anonymous", acctAnon, "POST", "/robots", system, 401},
		{"system robot by project admin", owner, "POST", "/robots", system, 403},
		{"project robot by guest", guest, "POST", "/robots", projectRobotReq("ci", "p1", "pull"), 403},
		{"project robot by outsider", outsider, "POST", "/robots", projectRobotReq("ci", "p1", "pull"), 403},
		{"project robot for a missing project", outsider, "POST", "/robots", projectRobotReq("ci", "nope", "pull"), 403},
		{"project robot naming another project", owner, "POST", "/robots", map[string]any{"name": "x", "level": "project",
			"permissions": []map[string]any{
				{"kind": "project", "namespace": "p1", "access": []map[string]string{{"resource": "repository", "action": "pull"}}},
				{"kind": "project", "namespace": "p2", "access": []map[string]string{{"resource": "repository", "action": "pull"}}},
			}}, 400},
		{"bad level", acctAdmin, "POST", "/robots", map[string]any{"name": "x", "level": "galaxy"}, 400},
		{"bad duration", acctAdmin, "POST", "/robots", map[string]any{"name": "x", "level": "system", "duration": -2}, 400},
		{"bad name", owner, "POST", "/robots", projectRobotReq("Bad Name", "p1", "pull"), 400},
	})

	// A project admin creates a robot for its project; the secret comes once.
	r := e.must(e.do(owner, "POST", "/robots", projectRobotReq("ci", "p1", "pull", "push")), 201)
	var created robotCreatedJSON
	e.decode(r, &created)
	if created.Name != "robot$p1+ci" || len(created.Secret) < 16 || created.ExpiresAt != -1 || created.ID == 0 {
		t.Fatalf("created = %+v", created)
	}
	if loc := r.header.Get("Location"); loc != Prefix+"/robots/"+id(created.ID) {
		t.Errorf("Location = %q", loc)
	}
	rid := "/robots/" + id(created.ID)
	robot := acctCred{created.Name, created.Secret}
	e.must(e.do(robot, "GET", "/users/current", nil), 412) // its credentials work

	r = e.must(e.do(acctAdmin, "POST", "/robots", system), 201)
	var sys robotCreatedJSON
	e.decode(r, &sys)
	if sys.Name != "robot$sys" || sys.ExpiresAt < time.Now().Add(29*24*time.Hour).Unix() {
		t.Fatalf("system robot = %+v", sys)
	}

	e.run(t, []acctCase{
		{"duplicate", owner, "POST", "/robots", projectRobotReq("ci", "p1", "pull"), 409},
		{"get as guest", guest, "GET", rid, nil, 200},
		{"get as outsider", outsider, "GET", rid, nil, 403},
		{"get missing as outsider", outsider, "GET", "/robots/999999", nil, 403},
		{"get missing as admin", acctAdmin, "GET", "/robots/999999", nil, 404},
		{"get system robot as project admin", owner, "GET", "/robots/" + id(sys.ID), nil, 403},
		{"list all as admin", acctAdmin, "GET", "/robots", nil, 200},
		{"list all as project admin", owner, "GET", "/robots", nil, 403},
		{"list project as guest", guest, "GET", "/robots?q=Level%3Dproject%2CProjectID%3D" + id(p1.ID), nil, 200},
		{"list project as outsider", outsider, "GET", "/robots?q=Level%3Dproject%2CProjectID%3D" + id(p1.ID), nil, 403},
		{"list bad q", acctAdmin, "GET", "/robots?q=color%3Dblue", nil, 400},
		{"update as guest", guest, "PUT", rid, map[string]any{"description": "x"}, 403},
		{"update level", owner, "PUT", rid, map[string]any{"level": "system"}, 400},
		{"update widening to another project", owner, "PUT", rid, map[string]any{"permissions": []map[string]any{
			{"kind": "project", "namespace": "p2", "access": []map[string]string{{"resource": "repository", "action": "pull"}}}}}, 400},
		{"update", owner, "PUT", rid, map[string]any{"name": "robot$p1+ci", "description": "builds", "duration": 7}, 200},
		{"refresh as guest", guest, "PATCH", rid, map[string]string{}, 403},
		{"refresh with a weak secret", owner, "PATCH", rid, map[string]string{"secret": "weak"}, 400},
	})

	var got robotJSON
	e.decode(e.must(e.do(guest, "GET", rid, nil), 200), &got)
	if got.Name != "robot$p1+ci" || got.Description != "builds" || got.Level != "project" || got.Duration != 7 ||
		got.ExpiresAt <= 0 || got.Disable || len(got.Permissions) != 1 || len(got.Permissions[0].Access) != 2 {
		t.Errorf("robot after update = %+v", got)
	}
	if strings.Contains(string(e.do(guest, "GET", rid, nil).body), "secret") {
		t.Error("GET /robots/{id} shows a secret")
	}
	var list []robotJSON
	e.decode(e.must(e.do(owner, "GET", "/robots?q=Level%3Dproject%2CProjectID%3D"+id(p1.ID), nil), 200), &list)
	if len(list) != 1 || list[0].ID != created.ID {
		t.Errorf("p1 robots = %+v", list)
	}

	// Refresh: the new secret works, the old one no longer does.
	var sec robotSecJSON
	e.decode(e.must(e.do(owner, "PATCH", rid, map[string]string{}), 200), &sec)
	if sec.Secret == "" || sec.Secret == created.Secret {
		t.Fatalf("refreshed secret = %q", sec.Secret)
	}
	e.must(e.do(robot, "GET", "/users/current", nil), 401)
	e.must(e.do(acctCred{created.Name, sec.Secret}, "GET", "/users/current", nil), 412)
	e.decode(e.must(e.do(owner, "PATCH", rid, map[string]string{"secret": "Chosen1Secret"}), 200), &sec)
	if sec.Secret != "Chosen1Secret" {
		t.Errorf("chosen secret answered as %q", sec.Secret)
	}

	// Disable, then delete.
	e.must(e.do(owner, "PUT", rid, map[string]any{"disable": true}), 200)
	e.must(e.do(acctCred{created.Name, "Chosen1Secret"}, "GET", "/users/current", nil), 401)
	e.run(t, []acctCase{
		{"delete as guest", guest, "DELETE", rid, nil, 403},
		{"delete", owner, "DELETE", rid, nil, 200},
		{"delete again", owner, "DELETE", rid, nil, 403},
		{"delete system robot", acctAdmin, "DELETE", "/robots/" + id(sys.ID), nil, 200},
	})
	if _, err := e.store.Robots.GetRobot(t.Context(), created.ID); err == nil {
		t.Error("robot still stored after DELETE")
	}
	want := []string{"owner create p1/robot$p1+ci", "owner refresh_secret p1/robot$p1+ci", "owner delete p1/robot$p1+ci", "admin create robot$sys"}
	var ops []string
	apptest.Eventually(t, 5*time.Second, func() bool { // the server writes the audit log asynchronously
		ops = nil
		for _, l := range e.auditLogs(meta.AuditFilter{ResourceType: auditRobot}, 0) {
			ops = append(ops, l.Username+" "+l.Operation+" "+l.Resource)
		}
		return !slices.ContainsFunc(want, func(w string) bool { return !slices.Contains(ops, w) })
	})
	for _, w := range want {
		if !slices.Contains(ops, w) {
			t.Errorf("audit has no %q: %q", w, ops)
		}
	}
}
