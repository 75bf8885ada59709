package restapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/internal/settings"
)

// TestHarborSettings: read_only, token_expiration and robot_token_duration
// are in GET /configurations with Harbor's {value, editable} shape and
// change through PUT within their bounds.
func TestHarborSettings(t *testing.T) { forEachAcct(t, testHarborSettings) }

func testHarborSettings(t *testing.T, e *acctEnv) {
	got := e.configValues(acctAdmin)
	for key, want := range map[string]configItem{
		"read_only":            {false, true},
		"token_expiration":     {float64(5), true},
		"robot_token_duration": {float64(30), true},
	} {
		if d := cmp.Diff(want, got[key]); d != "" {
			t.Errorf("%s (-want +got):\n%s", key, d)
		}
	}
	for _, tc := range []struct{ name, body, key string }{
		{"token_expiration 0", `{"token_expiration": 0}`, "token_expiration"},
		{"token_expiration over a day", `{"token_expiration": 1441}`, "token_expiration"},
		{"token_expiration as a string", `{"token_expiration": "30"}`, "token_expiration"},
		{"robot_token_duration 0", `{"robot_token_duration": 0}`, "robot_token_duration"},
		{"robot_token_duration negative", `{"robot_token_duration": -1}`, "robot_token_duration"},
		{"robot_token_duration over 100 years", `{"robot_token_duration": 36501}`, "robot_token_duration"},
		{"read_only as a string", `{"read_only": "true"}`, "read_only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(acctAdmin, "PUT", "/configurations", []byte(tc.body))
			if r.status != 400 || !strings.Contains(r.msg, tc.key) {
				t.Errorf("status %d %q, want 400 naming %s", r.status, r.msg, tc.key)
			}
		})
	}
	e.must(e.do(acctAdmin, "PUT", "/configurations", map[string]any{"token_expiration": 30, "robot_token_duration": 7}), 200)
	got = e.configValues(acctAdmin)
	if got["token_expiration"].Value != float64(30) || got["robot_token_duration"].Value != float64(7) {
		t.Errorf("after PUT: token_expiration %v, robot_token_duration %v", got["token_expiration"], got["robot_token_duration"])
	}
}

// TestReadOnlyMode: read_only set through one replica makes the other
// refuse every REST change with Harbor's 403 DENIED, whoever asks, while
// reads, the portal login and the settings endpoint (to turn it off) go
// on.
func TestReadOnlyMode(t *testing.T) {
	store := metatest.OpenSQLite(t)
	a, b := newAcctReplicaOn(t, store), newAcctReplicaOn(t, store) // two replicas
	p := a.project("team", false)
	alice, au := a.user("alice", false, map[int64]access.Role{p.ID: access.RoleDeveloper})

	a.must(a.do(acctAdmin, "PUT", "/configurations", map[string]any{"read_only": true}), 200)
	deadline := time.Now().Add(5 * time.Second) // b's settings cache lives 50 ms
	for b.do(acctAdmin, "POST", "/projects", map[string]any{"project_name": "late"}).status != 403 {
		if time.Now().After(deadline) {
			t.Fatal("replica b still accepts changes")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r := b.do(acctAdmin, "GET", "/projects/late", nil); r.status != 404 {
		t.Fatalf("a project created before replica b saw read_only: GET %d", r.status) // the loop's first POST must not have worked
	}

	refused := []acctCase{
		{"create project", acctAdmin, "POST", "/projects", map[string]any{"project_name": "new"}, 403},
		{"anonymous create", acctAnon, "POST", "/projects", map[string]any{"project_name": "new"}, 403},
		{"wrong password", acctCred{"admin", "Wrong12345"}, "DELETE", "/projects/team", nil, 403},
		{"delete project", acctAdmin, "DELETE", "/projects/team", nil, 403},
		{"change own password", alice, "PUT", "/users/" + id(au.ID) + "/password",
			map[string]string{"old_password": "AlicePass1", "new_password": "AliceNew12"}, 403},
		{"create robot", acctAdmin, "POST", "/robots", projectRobotReq("ci", "team", "pull"), 403},
		{"add member", acctAdmin, "POST", "/projects/team/members", map[string]any{"role_id": 1, "member_user": map[string]string{"username": "admin"}}, 403},
		{"ldap ping", acctAdmin, "POST", "/ldap/ping", map[string]any{}, 403},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			r := b.do(tc.cred, tc.method, tc.path, tc.body)
			if r.status != 403 || r.code != "DENIED" || r.msg != settings.ReadOnlyMessage {
				t.Errorf("%s %s: %d %s %q, want 403 DENIED %q", tc.method, tc.path, r.status, r.code, r.msg, settings.ReadOnlyMessage)
			}
		})
	}
	b.run(t, []acctCase{
		{"list projects", alice, "GET", "/projects", nil, 200},
		{"get project", alice, "GET", "/projects/team", nil, 200},
		{"settings stay open", acctAdmin, "PUT", "/configurations", map[string]any{"project_creation_restriction": "everyone"}, 200},
	})
	var info struct {
		ReadOnly *bool `json:"read_only"`
	}
	b.decode(b.must(b.do(alice, "GET", "/systeminfo", nil), 200), &info)
	if info.ReadOnly == nil || !*info.ReadOnly {
		t.Errorf("systeminfo read_only = %v, want true", info.ReadOnly)
	}
	form := url.Values{"principal": {"alice"}, "password": {"AlicePass1"}}
	res, err := http.PostForm(b.base+"/c/login", form)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("POST /c/login in read-only mode: %d, want 200", res.StatusCode)
	}

	// Turned off through replica b, b accepts changes again at once.
	b.must(b.do(acctAdmin, "PUT", "/configurations", map[string]any{"read_only": false}), 200)
	b.must(b.do(acctAdmin, "POST", "/projects", map[string]any{"project_name": "after"}), 201)
}

// TestRobotDurationAndCreator: a robot created without a duration (or
// with 0) lives robot_token_duration days, -1 still means never, and
// every new robot records its creator as Harbor does (creator_type
// "local" and the user's id, or "robot" and the robot's id).
func TestRobotDurationAndCreator(t *testing.T) { forEachAcct(t, testRobotDurationAndCreator) }

func testRobotDurationAndCreator(t *testing.T, e *acctEnv) {
	p1 := e.project("p1", false)
	owner, ou := e.user("owner", false, map[int64]access.Role{p1.ID: access.RoleProjectAdmin})
	adminUser, err := e.store.Users.GetUserByName(t.Context(), "admin")
	if err != nil {
		t.Fatal(err)
	}
	systemReq := func(name string, duration any) map[string]any {
		r := map[string]any{"name": name, "level": "system", "permissions": []map[string]any{{"kind": "project", "namespace": "*",
			"access": []map[string]string{{"resource": "repository", "action": "pull"}}}}}
		if duration != nil {
			r["duration"] = duration
		}
		return r
	}
	create := func(c acctCred, body map[string]any) robotJSON {
		t.Helper()
		var created robotCreatedJSON
		e.decode(e.must(e.do(c, "POST", "/robots", body), 201), &created)
		var got robotJSON
		e.decode(e.must(e.do(acctAdmin, "GET", "/robots/"+id(created.ID), nil), 200), &got)
		if got.ExpiresAt != created.ExpiresAt {
			t.Errorf("%s: created expires_at %d, read %d", got.Name, created.ExpiresAt, got.ExpiresAt)
		}
		return got
	}
	checkExpiry := func(rb robotJSON, days int64) {
		t.Helper()
		if days == -1 {
			if rb.ExpiresAt != -1 || rb.Duration != -1 {
				t.Errorf("%s: expires_at %d duration %d, want never (-1)", rb.Name, rb.ExpiresAt, rb.Duration)
			}
			return
		}
		want := time.Now().Add(time.Duration(days) * 24 * time.Hour).Unix()
		if rb.Duration != days || rb.ExpiresAt < want-60 || rb.ExpiresAt > want+60 {
			t.Errorf("%s: duration %d expires_at %d, want %d days (about %d)", rb.Name, rb.Duration, rb.ExpiresAt, days, want)
		}
	}

	checkExpiry(create(acctAdmin, systemReq("absent", nil)), 30) // the default setting
	e.must(e.do(acctAdmin, "PUT", "/configurations", map[string]any{"robot_token_duration": 7}), 200)
	checkExpiry(create(acctAdmin, systemReq("absent7", nil)), 7)
	checkExpiry(create(acctAdmin, systemReq("zero", 0)), 7)
	checkExpiry(create(acctAdmin, systemReq("never", -1)), -1)
	byAdmin := create(acctAdmin, systemReq("three", 3))
	checkExpiry(byAdmin, 3)

	byOwner := create(owner, projectRobotReq("ci", "p1", "pull"))
	maker := projectRobotReq("maker", "p1", "pull")
	maker["permissions"].([]map[string]any)[0]["access"] = []map[string]string{
		{"resource": "repository", "action": "pull"}, {"resource": "robot", "action": "create"}}
	var makerCreated robotCreatedJSON
	e.decode(e.must(e.do(owner, "POST", "/robots", maker), 201), &makerCreated)
	byRobot := create(acctCred{makerCreated.Name, makerCreated.Secret}, projectRobotReq("made", "p1", "pull"))

	for _, tc := range []struct {
		rb      robotJSON
		typ     string
		ref     int64
		creator string
	}{
		{byAdmin, meta.RobotCreatorUser, adminUser.ID, "the administrator"},
		{byOwner, meta.RobotCreatorUser, ou.ID, "a project admin"},
		{byRobot, meta.RobotCreatorRobot, makerCreated.ID, "a robot"},
	} {
		if tc.rb.CreatorType != tc.typ || tc.rb.CreatorRef != tc.ref {
			t.Errorf("robot created by %s: creator_type %q creator_ref %d, want %q %d", tc.creator, tc.rb.CreatorType, tc.rb.CreatorRef, tc.typ, tc.ref)
		}
	}
	raw := string(e.must(e.do(acctAdmin, "GET", "/robots?page_size=100", nil), 200).body)
	if strings.Count(raw, `"creator_type":`) != 8 || strings.Count(raw, `"creator_ref":`) != 8 {
		t.Errorf("GET /robots does not show creator_type and creator_ref on every robot: %s", raw)
	}
}
