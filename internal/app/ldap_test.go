package app

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/identity"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/testenv"
)

// These tests run the whole server with the REST API and, for LDAP, the
// slapd of scripts/services/slapd.sh at BERTH_TEST_LDAP (alice in
// cn=developers, bob in no group, carol in cn=berth-admins).

// api sends a JSON body to /api/v2.0/path.
func (e *authEnv) api(c cred, method, path string, body any) result {
	e.t.Helper()
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			e.t.Fatal(err)
		}
	}
	return e.do(c, method, "/api/v2.0"+path, b, "Content-Type", "application/json")
}

// slapdConfigurations is the PUT /configurations body for the test directory.
func slapdConfigurations(url string) map[string]any {
	return map[string]any{
		"auth_mode":                "ldap_auth",
		"ldap_url":                 url,
		"ldap_search_dn":           "cn=berth-search,ou=services,dc=berth,dc=test",
		"ldap_search_password":     "search-secret",
		"ldap_base_dn":             "ou=people,dc=berth,dc=test",
		"ldap_filter":              "(objectClass=inetOrgPerson)",
		"ldap_uid":                 "uid",
		"ldap_scope":               2,
		"ldap_group_base_dn":       "ou=groups,dc=berth,dc=test",
		"ldap_group_search_filter": "(objectClass=groupOfNames)",
		"ldap_group_admin_dn":      "cn=berth-admins,ou=groups,dc=berth,dc=test",
	}
}

// TestLDAPRegistry: an administrator switches auth_mode to ldap_auth
// through the API and makes the LDAP group cn=developers Developer of a
// private project; alice logs in to /v2/ with her directory password, is
// onboarded, pushes there and not elsewhere; carol is a system
// administrator through the admin group; a robot made through the API
// works within its scope only; the audit log shows who did what.
func TestLDAPRegistry(t *testing.T) {
	ldapURL := testenv.Require(t, "BERTH_TEST_LDAP")
	e := newAuthEnv(t, nil)
	alice, bob, carol := basic("alice", "alice-secret"), basic("bob", "bob-secret"), basic("carol", "carol-secret")

	for _, p := range []string{"devs", "ops"} {
		e.must(e.api(admin, "POST", "/projects", map[string]any{"project_name": p, "metadata": map[string]string{"public": "false"}}), http.StatusCreated)
	}
	e.must(e.do(alice, "GET", "/v2/", nil), http.StatusUnauthorized) // db_auth: the directory is off

	e.must(e.api(admin, "POST", "/ldap/ping", slapdConfigurations(ldapURL)), http.StatusOK)
	bad := slapdConfigurations(ldapURL)
	bad["ldap_search_password"] = "wrong"
	// Harbor's answer: 200 with success false and the reason.
	if r := e.api(admin, "POST", "/ldap/ping", bad); r.status != http.StatusOK ||
		!strings.Contains(string(r.body), `"success":false`) || !strings.Contains(string(r.body), "ldap") {
		t.Errorf("ping with a wrong password: %d %s", r.status, r.body)
	}
	e.must(e.api(admin, "PUT", "/configurations", slapdConfigurations(ldapURL)), http.StatusOK)
	e.must(e.api(admin, "POST", "/ldap/ping", nil), http.StatusOK)
	e.must(e.api(admin, "POST", "/projects/devs/members", map[string]any{"role_id": 2,
		"member_group": map[string]any{"ldap_group_dn": "cn=developers,ou=groups,dc=berth,dc=test"}}), http.StatusCreated)

	// alice: Developer of devs through her group, nothing in ops.
	e.must(e.do(alice, "GET", "/v2/", nil), http.StatusOK)
	img := e.pushImage(alice, "devs/app", "v1", []byte("alice's layer"))
	e.must(e.do(alice, "GET", "/v2/devs/app/manifests/v1", nil, "Accept", ociManifest), http.StatusOK)
	if r := e.do(alice, "POST", "/v2/ops/app/blobs/uploads/", nil); r.status != http.StatusForbidden || r.code != "DENIED" {
		t.Errorf("alice pushing into ops: %d %s", r.status, r.code)
	}
	if r := e.do(alice, "DELETE", "/v2/devs/app/manifests/"+img.digest.String(), nil); r.status != http.StatusForbidden {
		t.Errorf("alice (Developer) deleting: %d %s", r.status, r.code)
	}
	_, granted, r := e.token(alice, "repository:devs/app:pull,push", "repository:ops/app:pull,push")
	if r.status != http.StatusOK || len(granted) != 1 || granted[0].Name != "devs/app" || !slices.Equal(granted[0].Actions, []string{"pull", "push"}) {
		t.Errorf("alice's token grants %+v (%d)", granted, r.status)
	}
	var me struct {
		Username string `json:"username"`
		Email    string `json:"email"`
	}
	if err := json.Unmarshal(e.must(e.api(alice, "GET", "/users/current", nil), http.StatusOK).body, &me); err != nil || me.Username != "alice" || me.Email != "alice@berth.test" {
		t.Errorf("alice onboarded as %+v, %v", me, err)
	}

	// bob is in no group; a wrong password is refused; carol administers.
	e.must(e.do(bob, "GET", "/v2/devs/app/manifests/v1", nil, "Accept", ociManifest), http.StatusForbidden)
	e.must(e.do(basic("alice", "wrong"), "GET", "/v2/", nil), http.StatusUnauthorized)
	e.must(e.api(carol, "GET", "/users", nil), http.StatusOK)
	e.must(e.do(carol, "GET", "/v2/devs/app/manifests/v1", nil, "Accept", ociManifest), http.StatusOK)
	// The local administrator still logs in under ldap_auth.
	e.must(e.do(admin, "GET", "/v2/", nil), http.StatusOK)

	// A robot made through the API, pull-only on devs.
	var robot struct {
		Name   string `json:"name"`
		Secret string `json:"secret"`
	}
	body := e.must(e.api(carol, "POST", "/robots", map[string]any{"name": "reader", "level": "project", "duration": -1,
		"permissions": []map[string]any{{"kind": "project", "namespace": "devs",
			"access": []map[string]string{{"resource": "repository", "action": "pull"}}}}}), http.StatusCreated).body
	if err := json.Unmarshal(body, &robot); err != nil || robot.Name != "robot$devs+reader" || robot.Secret == "" {
		t.Fatalf("robot %s: %v", body, err)
	}
	rc := basic(robot.Name, robot.Secret)
	e.must(e.do(rc, "GET", "/v2/devs/app/manifests/v1", nil, "Accept", ociManifest), http.StatusOK)
	e.must(e.do(rc, "POST", "/v2/devs/app/blobs/uploads/", nil), http.StatusForbidden)
	e.must(e.do(rc, "GET", "/v2/ops/app/tags/list", nil), http.StatusForbidden)
	// A robot that may push into ops, made by the admin.
	body = e.must(e.api(admin, "POST", "/robots", map[string]any{"name": "builder", "level": "project",
		"permissions": []map[string]any{{"kind": "project", "namespace": "ops",
			"access": []map[string]string{{"resource": "repository", "action": "pull"}, {"resource": "repository", "action": "push"}}}}}),
		http.StatusCreated).body
	if err := json.Unmarshal(body, &robot); err != nil {
		t.Fatal(err)
	}
	builder := basic(robot.Name, robot.Secret)
	e.pushImage(builder, "ops/tool", "1.0", []byte("builder's layer"))
	e.must(e.do(builder, "GET", "/v2/devs/app/manifests/v1", nil, "Accept", ociManifest), http.StatusForbidden)

	// The administrator deletes the tag.
	e.must(e.do(admin, "DELETE", "/v2/devs/app/manifests/v1", nil), http.StatusAccepted)

	// The audit log: pushes, pulls, the delete and logins, by whom.
	want := []string{
		"alice push artifact devs/app:v1",
		"alice pull artifact devs/app:v1",
		"alice login user alice",
		"alice login user alice failure",
		"carol pull artifact devs/app:v1",
		"robot$devs+reader pull artifact devs/app:v1",
		"robot$ops+builder push artifact ops/tool:1.0",
		"admin delete tag devs/app:v1",
		"admin update configuration " + "auth_mode,ldap_url,ldap_search_dn,ldap_search_password,ldap_base_dn,ldap_filter,ldap_group_base_dn,ldap_group_search_filter,ldap_group_admin_dn",
		"admin create member devs/cn=developers,ou=groups,dc=berth,dc=test as developer",
		"carol create robot devs/robot$devs+reader",
	}
	var got []string
	deadline := time.Now().Add(10 * time.Second) // registry events are written asynchronously
	for {
		var logs []struct {
			Username, Operation, Resource string
			ResourceType                  string `json:"resource_type"`
			OK                            bool   `json:"operation_result"`
		}
		if err := json.Unmarshal(e.must(e.api(admin, "GET", "/audit-logs?page_size=100", nil), http.StatusOK).body, &logs); err != nil {
			t.Fatal(err)
		}
		got = got[:0]
		for _, l := range logs {
			s := l.Username + " " + l.Operation + " " + l.ResourceType + " " + l.Resource
			if !l.OK {
				s += " failure"
			}
			got = append(got, s)
		}
		missing := 0
		for _, w := range want {
			if !slices.Contains(got, w) {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, w := range want {
				if !slices.Contains(got, w) {
					t.Errorf("audit log lacks %q", w)
				}
			}
			t.Logf("audit log:\n%s", strings.Join(got, "\n"))
			break
		}
		time.Sleep(100 * time.Millisecond)
	}

	// alice sees the log of devs only.
	var projectLogs []struct{ Resource string }
	if err := json.Unmarshal(e.must(e.api(alice, "GET", "/audit-logs?page_size=100", nil), http.StatusOK).body, &projectLogs); err != nil {
		t.Fatal(err)
	}
	for _, l := range projectLogs {
		if l.Resource != "devs" && !strings.HasPrefix(l.Resource, "devs/") {
			t.Errorf("alice sees %q in the audit log", l.Resource)
		}
	}
	e.must(e.api(alice, "GET", "/projects/ops/logs", nil), http.StatusForbidden)
}

// TestSettingsAcrossReplicas: two servers on one database; a change made
// through one's API is what the other serves within its cache time.
func TestSettingsAcrossReplicas(t *testing.T) {
	cfg := testConfig(t) // both replicas: one data directory, one SQLite database
	a, b := startReplica(t, cfg), startReplica(t, cfg)

	values := func(e *authEnv) map[string]any {
		var out map[string]struct {
			Value any `json:"value"`
		}
		if err := json.Unmarshal(e.must(e.api(admin, "GET", "/configurations", nil), http.StatusOK).body, &out); err != nil {
			t.Fatal(err)
		}
		m := map[string]any{}
		for k, v := range out {
			m[k] = v.Value
		}
		return m
	}
	if v := values(b)["project_creation_restriction"]; v != "everyone" {
		t.Fatalf("replica b starts with %v", v)
	}
	// The change includes a directory, so that replica b must also act on
	// LDAP settings it did not take itself.
	change := map[string]any{"project_creation_restriction": "adminonly"}
	for k, v := range slapdConfigurations(testenv.Require(t, "BERTH_TEST_LDAP")) {
		change[k] = v
	}
	change["ldap_scope"] = 1
	a.must(a.api(admin, "PUT", "/configurations", change), http.StatusOK)

	deadline := time.Now().Add(15 * time.Second) // the settings cache lives 5 s
	for {
		got := values(b)
		if got["project_creation_restriction"] == "adminonly" && got["ldap_scope"] == float64(1) && got["ldap_url"] == change["ldap_url"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica b still serves %v", got)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// And acts on it: only administrators create projects, everywhere.
	// Under ldap_auth local accounts other than admin do not log in: a
	// directory user stands for "a user".
	u := basic("alice", "alice-secret")
	if r := b.api(u, "POST", "/projects", map[string]any{"project_name": "mine"}); r.status != http.StatusForbidden {
		t.Errorf("a user creating a project under adminonly on replica b: %d %s", r.status, r.msg)
	}
	// Directory logins work on the replica that did not take the change.
	b.must(b.do(basic("alice", "alice-secret"), "GET", "/v2/", nil), http.StatusOK)
}

// startReplica runs a server with cfg and returns it with direct access
// to its database; several replicas may share cfg's database.
func startReplica(t *testing.T, cfg config.Config) *authEnv {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr, done := startServe(t, ctx, cfg)
	t.Cleanup(func() { cancel(); <-done })
	store, err := meta.Open(t.Context(), cfg.Database.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ids, err := identity.New(identity.Stores{Users: store.Users, Robots: store.Robots, Projects: store.Projects}, slog.New(slog.DiscardHandler), identity.Options{
		Hash: &argon2id.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &authEnv{t: t, base: "http://" + addr, store: store, ids: ids}
}
