package restapi_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/identity"
	"github.com/berth-registry/berth/internal/meta"
)

// permList makes permissions of pairs: resource, action, resource, action ...
func permList(pairs ...string) []permissionJSON {
	out := []permissionJSON{}
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, permissionJSON{pairs[i], pairs[i+1]})
	}
	return out
}

func TestCurrentUserPermissions(t *testing.T) { forEachAcct(t, testCurrentUserPermissions) }

func testCurrentUserPermissions(t *testing.T, e *acctEnv) {
	priv := e.project("priv", false)
	pub := e.project("pub", true)
	roleUsers := map[access.Role]acctCred{}
	for _, role := range access.Roles() {
		c, _ := e.user("u"+role.String(), false, map[int64]access.Role{priv.ID: role})
		roleUsers[role] = c
	}
	outsider, _ := e.user("outsider", false, nil)
	newRobot := func(nr identity.NewRobot) acctCred {
		t.Helper()
		rb, secret, err := e.ids.CreateRobot(t.Context(), nr)
		if err != nil {
			t.Fatal(err)
		}
		return acctCred{rb.Name, secret}
	}
	projectRobot := newRobot(identity.NewRobot{Name: "ci", Level: meta.RobotProject, ProjectID: priv.ID,
		Permissions: []meta.RobotPermission{{Kind: "project", Namespace: "priv", Access: []meta.RobotAccess{
			{Resource: "repository", Action: "pull"}, {Resource: "repository", Action: "push"}}}}})
	systemRobot := newRobot(identity.NewRobot{Name: "ops", Level: meta.RobotSystem, Permissions: []meta.RobotPermission{
		{Kind: "project", Namespace: "*", Access: []meta.RobotAccess{{Resource: "repository", Action: "pull"}}},
		{Kind: "system", Namespace: "/", Access: []meta.RobotAccess{{Resource: "configuration", Action: "read"}}},
	}})

	privScope, pubScope := "/project/"+id(priv.ID), "/project/"+id(pub.ID)
	get := func(t *testing.T, c acctCred, query string) []permissionJSON {
		t.Helper()
		var out []permissionJSON
		e.decode(e.must(e.do(c, "GET", "/users/current/permissions"+query, nil), 200), &out)
		return out
	}
	// What everyone holds in a public project, in the matrix's order.
	public := permList(".", "read", "repository", "pull", "repository", "read", "repository", "list", "artifact", "read",
		"artifact", "list", "artifact-addition", "read", "tag", "list", "accessory", "list")
	tests := []struct {
		name  string
		cred  acctCred
		query string
		want  []permissionJSON
	}{
		{"limited guest, relative", roleUsers[access.RoleLimitedGuest], "?scope=" + privScope + "&relative=true", permList(
			".", "read", "quota", "read", "repository", "pull", "repository", "list", "artifact", "read", "artifact", "list",
			"artifact-addition", "read", "tag", "list", "accessory", "list", "scan", "read", "configuration", "read")},
		{"guest, relative", roleUsers[access.RoleGuest], "?scope=" + privScope + "&relative=true", permList(
			".", "read", "member", "read", "member", "list", "log", "list", "quota", "read", "repository", "pull",
			"repository", "read", "repository", "list", "artifact", "read", "artifact", "list", "artifact-addition", "read",
			"tag", "list", "accessory", "list", "label", "read", "label", "list", "robot", "read", "robot", "list", "scan", "read",
			"configuration", "read")},
		{"limited guest, absolute", roleUsers[access.RoleLimitedGuest], "?scope=" + privScope, permList(
			privScope, "read", privScope+"/quota", "read", privScope+"/repository", "pull", privScope+"/repository", "list",
			privScope+"/artifact", "read", privScope+"/artifact", "list", privScope+"/artifact-addition", "read",
			privScope+"/tag", "list", privScope+"/accessory", "list", privScope+"/scan", "read", privScope+"/configuration", "read")},
		{"outsider, private project", outsider, "?scope=" + privScope + "&relative=true", permList()},
		{"outsider, public project", outsider, "?scope=" + pubScope + "&relative=true", public},
		{"project robot, its project", projectRobot, "?scope=" + privScope + "&relative=true", permList("repository", "pull", "repository", "push")},
		{"project robot, absolute", projectRobot, "?scope=" + privScope, permList(privScope+"/repository", "pull", privScope+"/repository", "push")},
		{"project robot, a public project", projectRobot, "?scope=" + pubScope + "&relative=true", public},
		{"system robot, a project", systemRobot, "?scope=" + privScope + "&relative=true", permList("repository", "pull")},
		{"system robot, system", systemRobot, "?scope=/system&relative=true", permList("configuration", "read")},
		{"system robot, system absolute", systemRobot, "?scope=/system", permList("/system/configuration", "read")},
		{"user, system", roleUsers[access.RoleProjectAdmin], "?scope=/system", permList()},
		{"scope under the project, relative", roleUsers[access.RoleDeveloper], "?scope=" + privScope + "/repository&relative=true",
			permList(".", "pull", ".", "push", ".", "create", ".", "read", ".", "update", ".", "list")},
		{"missing project", acctAdmin, "?scope=/project/999999", permList()},
		{"no scope", acctAdmin, "", permList()},
		{"unknown scope", acctAdmin, "?scope=/galaxy/1", permList()},
		{"project scope without an id", acctAdmin, "?scope=/project/priv", permList()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, get(t, tc.cred, tc.query)); d != "" {
				t.Errorf("permissions (-want +got):\n%s", d)
			}
		})
	}

	// Every role gets exactly its column of the matrix; a system
	// administrator gets every row, and every system permission.
	for _, role := range access.Roles() {
		t.Run("role "+role.String(), func(t *testing.T) {
			want := permList()
			for _, row := range access.Matrix() {
				if row.Holders[role] {
					want = append(want, relPerm(row.Permission))
				}
			}
			if d := cmp.Diff(want, get(t, roleUsers[role], "?scope="+privScope+"&relative=true")); d != "" {
				t.Errorf("permissions (-want +got):\n%s", d)
			}
		})
	}
	t.Run("system administrator", func(t *testing.T) {
		want := permList()
		for _, row := range access.Matrix() {
			want = append(want, relPerm(row.Permission))
		}
		if d := cmp.Diff(want, get(t, acctAdmin, "?scope="+privScope+"&relative=true")); d != "" {
			t.Errorf("project permissions (-want +got):\n%s", d)
		}
		if got := get(t, acctAdmin, "?scope=/system&relative=true"); len(got) != 15 || got[0] != (permissionJSON{"project", "create"}) {
			t.Errorf("system permissions = %v, want all 15 starting with project create", got)
		}
	})

	e.run(t, []acctCase{
		{"anonymous", acctAnon, "GET", "/users/current/permissions?scope=" + pubScope, nil, 401},
		{"bad relative", acctAdmin, "GET", "/users/current/permissions?scope=" + privScope + "&relative=maybe", nil, 400},
	})
}

// relPerm is perm as a relative permission of its project scope.
func relPerm(p access.Permission) permissionJSON {
	if p.Resource == access.ResourceProject {
		return permissionJSON{".", string(p.Action)}
	}
	return permissionJSON{string(p.Resource), string(p.Action)}
}
