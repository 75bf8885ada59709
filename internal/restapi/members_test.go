package restapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
)

func TestMemberEndpoints(t *testing.T) { forEachAcct(t, testMemberEndpoints) }

func testMemberEndpoints(t *testing.T, e *acctEnv) {
	p1 := e.project("p1", false)
	p2 := e.project("p2", false)
	owner, ou := e.user("owner", false, map[int64]access.Role{p1.ID: access.RoleProjectAdmin})
	dev, _ := e.user("dev", false, map[int64]access.Role{p1.ID: access.RoleDeveloper})
	guest, _ := e.user("guest", false, map[int64]access.Role{p1.ID: access.RoleGuest})
	outsider, _ := e.user("outsider", false, map[int64]access.Role{p2.ID: access.RoleProjectAdmin})
	_, nu := e.user("newbie", false, nil)

	members := "/projects/p1/members"
	addNewbie := map[string]any{"role_id": 3, "member_user": map[string]any{"username": "newbie"}}
	e.run(t, []acctCase{
		{"list anonymous", acctAnon, "GET", members, nil, 401},
		{"list outsider", outsider, "GET", members, nil, 403},
		{"list missing project as outsider", outsider, "GET", "/projects/nope/members", nil, 403},
		{"list missing project as admin", acctAdmin, "GET", "/projects/nope/members", nil, 404},
		{"list guest", guest, "GET", members, nil, 200},
		{"list by id", guest, "GET", "/projects/" + id(p1.ID) + "/members", nil, 200},
		{"list admin", acctAdmin, "GET", members, nil, 200},
		{"add as developer", dev, "POST", members, addNewbie, 403},
		{"add as guest", guest, "POST", members, addNewbie, 403},
		{"add as outsider", outsider, "POST", members, addNewbie, 403},
		{"add bad role", owner, "POST", members, map[string]any{"role_id": 9, "member_user": map[string]any{"username": "newbie"}}, 400},
		{"add nobody", owner, "POST", members, map[string]any{"role_id": 3}, 400},
		{"add both", owner, "POST", members, map[string]any{"role_id": 3, "member_user": map[string]any{"username": "newbie"},
			"member_group": map[string]any{"ldap_group_dn": "cn=x,dc=y"}}, 400},
		{"add unknown user", owner, "POST", members, map[string]any{"role_id": 3, "member_user": map[string]any{"username": "ghost"}}, 404},
		{"add group under db_auth", owner, "POST", members, map[string]any{"role_id": 2,
			"member_group": map[string]any{"ldap_group_dn": "cn=developers,ou=groups,dc=berth,dc=test"}}, 400},
		{"add as project admin", owner, "POST", members, addNewbie, 201},
		{"add twice", owner, "POST", members, addNewbie, 409},
		{"add by user_id as sysadmin", acctAdmin, "POST", "/projects/p2/members", map[string]any{"role_id": 5,
			"member_user": map[string]any{"user_id": nu.ID}}, 201},
	})

	// The new member (Guest) pulls from p1 now.
	r := e.must(e.do(guest, "GET", members+"?entityname=new", nil), 200)
	var ms []memberJSON
	e.decode(r, &ms)
	if len(ms) != 1 || ms[0].EntityName != "newbie" || ms[0].RoleID != 3 || ms[0].RoleName != "guest" ||
		ms[0].EntityType != "u" || ms[0].EntityID != nu.ID || ms[0].ProjectID != p1.ID {
		t.Fatalf("members matching new = %+v", ms)
	}
	mid := id(ms[0].ID)
	var own []memberJSON
	e.decode(e.must(e.do(owner, "GET", members+"?entityname=owner", nil), 200), &own)
	if len(own) != 1 || own[0].EntityID != ou.ID {
		t.Fatalf("owner's membership = %+v", own)
	}
	ownMid := id(own[0].ID)

	e.run(t, []acctCase{
		{"get guest", guest, "GET", members + "/" + mid, nil, 200},
		{"get outsider", outsider, "GET", members + "/" + mid, nil, 403},
		{"get missing", guest, "GET", members + "/999999", nil, 404},
		{"get other project's member", acctAdmin, "GET", "/projects/p2/members/" + mid, nil, 404},
		{"update as guest", guest, "PUT", members + "/" + mid, map[string]int{"role_id": 2}, 403},
		{"update bad role", owner, "PUT", members + "/" + mid, map[string]int{"role_id": 0}, 400},
		{"update as project admin", owner, "PUT", members + "/" + mid, map[string]int{"role_id": 2}, 200},
		{"update own role", owner, "PUT", members + "/" + ownMid, map[string]int{"role_id": 3}, 403},
		{"remove own membership", owner, "DELETE", members + "/" + ownMid, nil, 403},
		{"remove as developer", dev, "DELETE", members + "/" + mid, nil, 403},
		{"remove as project admin", owner, "DELETE", members + "/" + mid, nil, 200},
		{"remove again", owner, "DELETE", members + "/" + mid, nil, 404},
	})

	var m memberJSON
	r = e.must(e.do(owner, "POST", members, addNewbie), http.StatusCreated)
	loc := strings.TrimPrefix(r.header.Get("Location"), Prefix)
	e.decode(e.must(e.do(owner, "GET", loc, nil), 200), &m)
	if m.EntityName != "newbie" || m.RoleID != 3 {
		t.Errorf("GET Location %s = %+v", loc, m)
	}
	roles, err := e.store.Projects.RolesOf(t.Context(), metaViewer(nu.ID))
	if err != nil {
		t.Fatal(err)
	}
	if len(roles) != 2 {
		t.Errorf("newbie's roles = %+v, want p1 and p2", roles)
	}
}

func metaViewer(userID int64) meta.Viewer { return meta.Viewer{UserID: userID} }
