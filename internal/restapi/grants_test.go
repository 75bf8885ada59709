package restapi_test

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/identity"
	"github.com/berth-registry/berth/internal/meta"
)

func robotPerm(ns, kind string, pairs ...string) meta.RobotPermission {
	p := meta.RobotPermission{Kind: kind, Namespace: ns}
	for i := 0; i+1 < len(pairs); i += 2 {
		p.Access = append(p.Access, meta.RobotAccess{Resource: pairs[i], Action: pairs[i+1]})
	}
	return p
}

func permsBody(perms ...meta.RobotPermission) []map[string]any {
	out := []map[string]any{}
	for _, p := range perms {
		acc := []map[string]string{}
		for _, a := range p.Access {
			acc = append(acc, map[string]string{"resource": a.Resource, "action": a.Action})
		}
		out = append(out, map[string]any{"kind": p.Kind, "namespace": p.Namespace, "access": acc})
	}
	return out
}

// TestGrantsNeverExceedTheGranter (issue 15, finding 1): every grant path
// (create robot, update robot, add member, change member role, set
// sysadmin, reset password) with every kind of caller (each project role,
// a project robot, a system robot, a human system administrator). What is
// granted must be held by the caller; a robot never changes itself; only a
// human system administrator grants sysadmin or sets another's password.
func TestGrantsNeverExceedTheGranter(t *testing.T) { forEachAcct(t, testGrantsNeverExceedTheGranter) }

func testGrantsNeverExceedTheGranter(t *testing.T, e *acctEnv) {
	ctx := t.Context()
	p1 := e.project("p1", false)

	callers := []struct {
		name string
		cred acctCred
	}{}
	for _, r := range access.Roles() {
		c, _ := e.user("u"+r.String(), false, map[int64]access.Role{p1.ID: r})
		callers = append(callers, struct {
			name string
			cred acctCred
		}{r.String(), c})
	}
	// The robots: a project robot holding robot create/update (and
	// member create/update, pull), a system robot holding robot:create and
	// user:update on the system and pull everywhere.
	projRobot, projSecret, err := e.ids.CreateRobot(ctx, identity.NewRobot{Name: "mgr", Level: meta.RobotProject, ProjectID: p1.ID,
		Permissions: []meta.RobotPermission{robotPerm("p1", "project", "robot", "create", "robot", "update", "robot", "read",
			"robot", "list", "member", "create", "member", "update", "repository", "pull")}})
	if err != nil {
		t.Fatal(err)
	}
	sysRobot, sysSecret, err := e.ids.CreateRobot(ctx, identity.NewRobot{Name: "sysmgr", Level: meta.RobotSystem,
		Permissions: []meta.RobotPermission{robotPerm("/", "system", "robot", "create", "robot", "update", "user", "update", "user", "read"),
			robotPerm("*", "project", "repository", "pull")}})
	if err != nil {
		t.Fatal(err)
	}
	callers = append(callers,
		struct {
			name string
			cred acctCred
		}{"project robot", acctCred{projRobot.Name, projSecret}},
		struct {
			name string
			cred acctCred
		}{"system robot", acctCred{sysRobot.Name, sysSecret}},
		struct {
			name string
			cred acctCred
		}{"sysadmin", acctAdmin},
	)

	// Targets: a project robot to widen, a member whose role changes, a
	// user whose flag and password change.
	target, _, err := e.ids.CreateRobot(ctx, identity.NewRobot{Name: "target", Level: meta.RobotProject, ProjectID: p1.ID,
		Permissions: []meta.RobotPermission{robotPerm("p1", "project", "repository", "pull")}})
	if err != nil {
		t.Fatal(err)
	}
	_, victim := e.user("victim", false, map[int64]access.Role{p1.ID: access.RoleGuest})
	vm, _, err := e.store.Projects.ListMembers(ctx, p1.ID, "victim", meta.Page{Limit: 1})
	if err != nil || len(vm) != 1 {
		t.Fatalf("victim's membership: %v %v", vm, err)
	}
	admin, err := e.store.Users.GetUserByName(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}

	// want gives the status for each caller, in the order of callers:
	// projectAdmin, maintainer, developer, guest, limitedGuest, project
	// robot, system robot, sysadmin.
	type path struct {
		name   string
		method string
		url    func(caller int) string
		body   func(caller int) any
		want   [8]int
	}
	// On the robot's own paths, the others act on the target robot (so
	// that the project robot keeps its secret and permissions).
	selfOrTarget := func(i int) string {
		if i == 5 {
			return "/robots/" + id(projRobot.ID)
		}
		return "/robots/" + id(target.ID)
	}
	wide := permsBody(robotPerm("p1", "project", "repository", "push", "repository", "delete", "member", "create"))
	paths := []path{
		{"create project robot with push, delete, member:create (issue)", "POST",
			func(int) string { return "/robots" },
			func(i int) any {
				return map[string]any{"name": fmt.Sprintf("wide%d", i), "level": "project", "permissions": wide}
			},
			[8]int{201, 403, 403, 403, 403, 403, 403, 201}},
		{"create project robot with pull only", "POST",
			func(int) string { return "/robots" },
			func(i int) any {
				return map[string]any{"name": fmt.Sprintf("pull%d", i), "level": "project",
					"permissions": permsBody(robotPerm("p1", "project", "repository", "pull"))}
			},
			[8]int{201, 403, 403, 403, 403, 201, 403, 201}},
		{"create system robot with user:update and user:delete", "POST",
			func(int) string { return "/robots" },
			func(i int) any {
				return map[string]any{"name": fmt.Sprintf("sys%d", i), "level": "system",
					"permissions": permsBody(robotPerm("/", "system", "user", "update", "user", "delete"))}
			},
			[8]int{403, 403, 403, 403, 403, 403, 403, 201}},
		{"create system robot with push everywhere", "POST",
			func(int) string { return "/robots" },
			func(i int) any {
				return map[string]any{"name": fmt.Sprintf("all%d", i), "level": "system",
					"permissions": permsBody(robotPerm("*", "project", "repository", "push"))}
			},
			[8]int{403, 403, 403, 403, 403, 403, 403, 201}},
		{"create system robot with pull everywhere (held)", "POST",
			func(int) string { return "/robots" },
			func(i int) any {
				return map[string]any{"name": fmt.Sprintf("pullall%d", i), "level": "system",
					"permissions": permsBody(robotPerm("*", "project", "repository", "pull"))}
			},
			[8]int{403, 403, 403, 403, 403, 403, 201, 201}},
		{"widen a robot", "PUT",
			func(int) string { return "/robots/" + id(target.ID) },
			func(int) any { return map[string]any{"permissions": wide} },
			[8]int{200, 403, 403, 403, 403, 403, 403, 200}},
		{"a robot widens itself (issue)", "PUT",
			selfOrTarget,
			func(int) any {
				return map[string]any{"permissions": permsBody(robotPerm("p1", "project", "robot", "create", "robot", "update",
					"repository", "push", "repository", "delete"))}
			},
			[8]int{200, 403, 403, 403, 403, 403, 403, 200}},
		{"a robot changes its own description", "PUT",
			selfOrTarget,
			func(int) any { return map[string]any{"description": "mine"} },
			[8]int{200, 403, 403, 403, 403, 403, 403, 200}},
		{"a robot refreshes its own secret", "PATCH",
			selfOrTarget,
			func(int) any { return map[string]any{"secret": "Chosen1Secret"} },
			[8]int{200, 403, 403, 403, 403, 403, 403, 200}},
		{"add a member as projectAdmin", "POST",
			func(int) string { return "/projects/p1/members" },
			func(i int) any {
				return map[string]any{"role_id": 1, "member_user": map[string]any{"username": fmt.Sprintf("new%d", i)}}
			},
			[8]int{201, 403, 403, 403, 403, 403, 403, 201}},
		{"add a member as limitedGuest", "POST",
			func(int) string { return "/projects/p1/members" },
			func(i int) any {
				return map[string]any{"role_id": 5, "member_user": map[string]any{"username": fmt.Sprintf("lg%d", i)}}
			},
			[8]int{201, 403, 403, 403, 403, 403, 403, 201}},
		{"raise a member to projectAdmin", "PUT",
			func(int) string { return "/projects/p1/members/" + id(vm[0].ID) },
			func(int) any { return map[string]any{"role_id": 1} },
			[8]int{200, 403, 403, 403, 403, 403, 403, 200}},
		{"grant sysadmin (issue)", "PUT",
			func(int) string { return "/users/" + id(victim.ID) + "/sysadmin" },
			func(int) any { return map[string]any{"sysadmin_flag": true} },
			[8]int{403, 403, 403, 403, 403, 403, 403, 200}},
		{"reset another user's password (issue)", "PUT",
			func(int) string { return "/users/" + id(victim.ID) + "/password" },
			func(int) any { return map[string]any{"new_password": "Victim2Pass"} },
			[8]int{403, 403, 403, 403, 403, 403, 403, 200}},
		{"reset the admin's password (issue)", "PUT",
			func(int) string { return "/users/" + id(admin.ID) + "/password" },
			func(int) any { return map[string]any{"new_password": "Taken0ver1"} },
			[8]int{403, 403, 403, 403, 403, 403, 403, 400}}, // the admin's own: old password needed
		{"change another user's password with its old one", "PUT",
			func(int) string { return "/users/" + id(victim.ID) + "/password" },
			func(int) any { return map[string]any{"old_password": "Victim2Pass", "new_password": "Victim3Pass"} },
			[8]int{403, 403, 403, 403, 403, 403, 403, 200}},
	}
	for i := range callers {
		e.user(fmt.Sprintf("new%d", i), false, nil)
		e.user(fmt.Sprintf("lg%d", i), false, nil)
	}
	for _, p := range paths {
		for i, c := range callers {
			t.Run(p.name+"/"+c.name, func(t *testing.T) {
				r := e.do(c.cred, p.method, p.url(i), p.body(i))
				if r.status != p.want[i] {
					t.Errorf("%s %s: %d %s %q, want %d", p.method, p.url(i), r.status, r.code, r.msg, p.want[i])
				}
			})
		}
	}
	// The system robot holds robot:create only, and mints one
	// with user:update.
	minter, minterSecret, err := e.ids.CreateRobot(ctx, identity.NewRobot{Name: "minter", Level: meta.RobotSystem,
		Permissions: []meta.RobotPermission{robotPerm("/", "system", "robot", "create")}})
	if err != nil {
		t.Fatal(err)
	}
	r := e.do(acctCred{minter.Name, minterSecret}, "POST", "/robots", map[string]any{"name": "minted", "level": "system",
		"permissions": permsBody(robotPerm("/", "system", "user", "update"))})
	if r.status != 403 || r.code != "FORBIDDEN" {
		t.Errorf("robot:create-only robot minting user:update: %d %s %q, want 403 FORBIDDEN", r.status, r.code, r.msg)
	}

	// The project robot's delete of itself, last (it would end the table).
	e.must(e.do(acctCred{projRobot.Name, projSecret}, "DELETE", "/robots/"+id(projRobot.ID), nil), 403)
	got, err := e.store.Robots.GetRobot(ctx, projRobot.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(projRobot.Permissions, got.Permissions); d != "" || got.Description != "" {
		t.Errorf("the project robot changed itself (-before +after):\n%s", d)
	}
}
