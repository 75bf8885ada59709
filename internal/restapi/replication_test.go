package restapi_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/app/apptest"
	"github.com/berth-registry/berth/internal/meta"
)

// TestRegistriesSecretNeverReturned: a registry endpoint's secret goes in
// and never comes out, through any response, the stored row or the log;
// "Test connection" works against a real registry (the server itself,
// through its token service) with the stored secret, and fails with a
// wrong one; only system administrators reach the endpoints.
func TestRegistriesSecretNeverReturned(t *testing.T) { forEachEnv(t, testRegistriesSecret) }

func testRegistriesSecret(t *testing.T, e *env) {
	const secret = "Adm1n-Secret-Do-Not-Leak"
	user, _ := e.addUser("regular", false)
	// The registry is the server itself, reached with a robot-like
	// account: a second administrator whose password is the secret.
	e.must(e.do(admin, http.MethodPost, "users", map[string]any{"username": "replicator", "email": "r@example.com",
		"realname": "R", "password": secret}), http.StatusCreated)
	resp := e.must(e.do(admin, http.MethodPost, "registries", map[string]any{
		"name": "self", "type": "berth", "url": e.base, "description": "loopback",
		"credential": map[string]any{"type": "basic", "access_key": "replicator", "access_secret": secret},
	}), http.StatusCreated)
	loc := resp.header.Get("Location")
	if !strings.HasPrefix(loc, "/api/v2.0/registries/") {
		t.Fatalf("Location %q", loc)
	}
	id := strings.TrimPrefix(loc, "/api/v2.0/registries/")
	e.must(e.do(admin, http.MethodPost, "registries", map[string]any{"name": "self", "type": "berth", "url": e.base}),
		http.StatusConflict)
	for _, bad := range []map[string]any{
		{"name": "x", "type": "nope", "url": e.base},
		{"name": "x", "type": "berth", "url": "ftp://host"},
		{"name": "x", "type": "berth", "url": e.base + "/path"},
		{"name": "x", "type": "berth", "url": e.base, "ca_certificate": "not pem"},
	} {
		e.must(e.do(admin, http.MethodPost, "registries", bad), http.StatusBadRequest)
	}

	var bodies []string
	for _, path := range []string{"registries", "registries/" + id, "registries?q=name%3D~sel", "registries/" + id + "/info"} {
		r := e.must(e.do(admin, http.MethodGet, path, nil), http.StatusOK)
		bodies = append(bodies, string(r.body))
	}
	got := decode[map[string]any](t, e.must(e.do(admin, http.MethodGet, "registries/"+id, nil), http.StatusOK))
	cred, _ := got["credential"].(map[string]any)
	if got["name"] != "self" || got["type"] != "berth" || cred["access_key"] != "replicator" || cred["type"] != "basic" {
		t.Errorf("GET registry: %v", got)
	}
	if _, ok := cred["access_secret"]; ok {
		t.Errorf("GET registry returns access_secret: %v", cred)
	}

	// Test connection: stored credentials, then a wrong secret, then a
	// definition without an id.
	e.must(e.do(admin, http.MethodPost, "registries/ping", map[string]any{"id": mustInt(t, id)}), http.StatusOK)
	r := e.must(e.do(admin, http.MethodPost, "registries/ping", map[string]any{"id": mustInt(t, id), "access_secret": "wrong"}),
		http.StatusBadRequest)
	bodies = append(bodies, string(r.body))
	e.must(e.do(admin, http.MethodPost, "registries/ping", map[string]any{"type": "berth", "url": e.base,
		"access_key": "replicator", "access_secret": secret}), http.StatusOK)
	e.must(e.do(admin, http.MethodPost, "registries/ping", map[string]any{"type": "berth", "url": "http://127.0.0.1:1"}),
		http.StatusBadRequest)

	// An update without a secret keeps the stored one.
	e.must(e.do(admin, http.MethodPut, "registries/"+id, map[string]any{"description": "changed"}), http.StatusOK)
	e.must(e.do(admin, http.MethodPost, "registries/ping", map[string]any{"id": mustInt(t, id)}), http.StatusOK)

	// Not for other users.
	e.must(e.do(user, http.MethodGet, "registries", nil), http.StatusForbidden)
	e.must(e.do(user, http.MethodPost, "registries/ping", map[string]any{"id": mustInt(t, id)}), http.StatusForbidden)
	e.must(e.do(anonymous, http.MethodGet, "registries/"+id, nil), http.StatusUnauthorized)

	for _, b := range bodies {
		if strings.Contains(b, secret) {
			t.Errorf("a response holds the secret: %s", b)
		}
	}
	rows, _, err := e.store().Registries.ListRegistries(t.Context(), "", metaPage(10))
	if err != nil || len(rows) != 1 {
		t.Fatalf("stored registries: %v, %v", rows, err)
	}
	if strings.Contains(rows[0].Secret, secret) || !strings.HasPrefix(rows[0].Secret, "v1:") {
		t.Errorf("stored secret is not sealed: %q", rows[0].Secret)
	}
	if strings.Contains(e.srv.Logs(), secret) {
		t.Error("the server log holds the secret")
	}
	e.must(e.do(admin, http.MethodDelete, "registries/"+id, nil), http.StatusOK)
	e.must(e.do(admin, http.MethodGet, "registries/"+id, nil), http.StatusNotFound)
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("%q is not an id", s)
	}
	return n
}

func metaPage(n int) meta.Page { return meta.Page{Limit: n} }

// TestReplicationPoliciesAPI: policies are validated (one side remote,
// known registries, filters, cron, event triggers for push only), listed,
// replaced and deleted in Harbor's shapes; executions of unknown policies
// and other users are refused.
func TestReplicationPoliciesAPI(t *testing.T) { forEachEnv(t, testReplicationPolicies) }

func testReplicationPolicies(t *testing.T, e *env) {
	user, _ := e.addUser("someone", false)
	loc := e.must(e.do(admin, http.MethodPost, "registries", map[string]any{"name": "peer", "type": "docker-registry",
		"url": "http://127.0.0.1:1"}), http.StatusCreated).header.Get("Location")
	reg := mustInt(t, loc[strings.LastIndex(loc, "/")+1:])
	dest := map[string]any{"id": reg}
	for name, body := range map[string]map[string]any{
		"both local":     {"name": "x"},
		"both remote":    {"name": "x", "src_registry": dest, "dest_registry": dest},
		"no registry":    {"name": "x", "dest_registry": map[string]any{"id": 999}},
		"bad filter":     {"name": "x", "dest_registry": dest, "filters": []map[string]any{{"type": "name", "value": "{a"}}},
		"bad decoration": {"name": "x", "dest_registry": dest, "filters": []map[string]any{{"type": "tag", "value": "a", "decoration": "nope"}}},
		"bad cron":       {"name": "x", "dest_registry": dest, "trigger": map[string]any{"type": "scheduled", "trigger_settings": map[string]any{"cron": "x"}}},
		"event pull":     {"name": "x", "src_registry": dest, "trigger": map[string]any{"type": "event_based"}},
		"bad trigger":    {"name": "x", "dest_registry": dest, "trigger": map[string]any{"type": "sometimes"}},
		"no name":        {"dest_registry": dest},
	} {
		if r := e.do(admin, http.MethodPost, "replication/policies", body); r.status != http.StatusBadRequest {
			t.Errorf("%s: status %d %s, want 400", name, r.status, r.body)
		}
	}
	body := map[string]any{"name": "push", "dest_registry": dest, "dest_namespace": "mirror",
		"dest_namespace_replace_count": 1, "override": true, "replicate_deletion": true, "speed": 512,
		"filters": []map[string]any{{"type": "name", "value": "library/**"}, {"type": "tag", "value": "*-rc", "decoration": "excludes"}},
		"trigger": map[string]any{"type": "scheduled", "trigger_settings": map[string]any{"cron": "0 0 * * * *"}}}
	loc = e.must(e.do(admin, http.MethodPost, "replication/policies", body), http.StatusCreated).header.Get("Location")
	id := loc[strings.LastIndex(loc, "/")+1:]
	e.must(e.do(admin, http.MethodPost, "replication/policies", body), http.StatusConflict)
	got := decode[map[string]any](t, e.must(e.do(admin, http.MethodGet, "replication/policies/"+id, nil), http.StatusOK))
	trig, _ := got["trigger"].(map[string]any)
	src, _ := got["src_registry"].(map[string]any)
	dst, _ := got["dest_registry"].(map[string]any)
	filters, _ := got["filters"].([]any)
	if got["name"] != "push" || got["dest_namespace"] != "mirror" || got["dest_namespace_replace_count"] != 1.0 ||
		got["override"] != true || got["replicate_deletion"] != true || got["speed"] != 512.0 || got["enabled"] != true ||
		trig["type"] != "scheduled" || src["id"] != 0.0 || dst["id"] != float64(reg) || dst["name"] != "peer" || len(filters) != 2 {
		t.Errorf("GET policy: %v", got)
	}
	list := decode[[]map[string]any](t, e.must(e.do(admin, http.MethodGet, "replication/policies?name=pu", nil), http.StatusOK))
	if len(list) != 1 {
		t.Errorf("list by name: %v", list)
	}
	body["enabled"] = false
	body["name"] = "renamed"
	e.must(e.do(admin, http.MethodPut, "replication/policies/"+id, body), http.StatusOK)
	got = decode[map[string]any](t, e.must(e.do(admin, http.MethodGet, "replication/policies/"+id, nil), http.StatusOK))
	if got["name"] != "renamed" || got["enabled"] != false {
		t.Errorf("after PUT: %v", got)
	}
	e.must(e.do(admin, http.MethodDelete, "registries/"+strconv.FormatInt(reg, 10), nil), http.StatusPreconditionFailed)

	e.must(e.do(user, http.MethodGet, "replication/policies", nil), http.StatusForbidden)
	e.must(e.do(user, http.MethodPost, "replication/executions", map[string]any{"policy_id": mustInt(t, id)}), http.StatusForbidden)
	e.must(e.do(admin, http.MethodPost, "replication/executions", map[string]any{"policy_id": 999}), http.StatusNotFound)
	e.must(e.do(admin, http.MethodGet, "replication/executions/999", nil), http.StatusNotFound)
	e.must(e.do(admin, http.MethodGet, "replication/executions/999/tasks", nil), http.StatusNotFound)
	e.must(e.do(admin, http.MethodPut, "replication/executions/999", nil), http.StatusNotFound)

	// A manual run of a policy whose destination does not answer: the
	// execution fails with the tasks' errors, and the log says why.
	e.createProject("library2", false)
	e.pushImage("library2/app", "v1", "one")
	pol := e.must(e.do(admin, http.MethodPost, "replication/policies", map[string]any{"name": "down", "dest_registry": dest}),
		http.StatusCreated).header.Get("Location")
	exec := e.must(e.do(admin, http.MethodPost, "replication/executions",
		map[string]any{"policy_id": mustInt(t, pol[strings.LastIndex(pol, "/")+1:])}), http.StatusCreated).header.Get("Location")
	execPath := strings.TrimPrefix(exec, "/api/v2.0/")
	var ex map[string]any
	apptest.Eventually(t, 2*time.Minute, func() bool {
		ex = decode[map[string]any](t, e.must(e.do(admin, http.MethodGet, execPath, nil), http.StatusOK))
		return ex["status"] != "InProgress"
	})
	if ex["status"] != "Failed" || ex["failed"] != 1.0 {
		t.Fatalf("execution against a dead destination: %v", ex)
	}
	tasks := decode[[]map[string]any](t, e.must(e.do(admin, http.MethodGet, execPath+"/tasks", nil), http.StatusOK))
	if len(tasks) != 1 || tasks[0]["status"] != "Failed" || tasks[0]["src_resource"] != "library2/app" {
		t.Fatalf("tasks: %v", tasks)
	}
	log := e.must(e.do(admin, http.MethodGet, execPath+"/tasks/"+strconv.FormatFloat(tasks[0]["id"].(float64), 'f', 0, 64)+"/log", nil),
		http.StatusOK)
	if !strings.Contains(string(log.body), "attempt 3") || !strings.Contains(string(log.body), "failed:") {
		t.Errorf("task log: %s", log.body)
	}
	e.must(e.do(admin, http.MethodDelete, "replication/policies/"+id, nil), http.StatusOK)
	e.must(e.do(admin, http.MethodGet, "replication/policies/"+id, nil), http.StatusNotFound)
}
