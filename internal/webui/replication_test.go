package webui_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/replication"
)

// newReplication is the replication service of the test portal: jobs are
// not run (the copies are tested in internal/replication against real
// peers), their queueing always succeeds.
func newReplication(tb testing.TB, store *meta.Store, log *slog.Logger) *replication.Service {
	tb.Helper()
	keys, err := replication.NewKeyring([]byte(strings.Repeat("k", 32)))
	if err != nil {
		tb.Fatal(err)
	}
	return replication.New(replication.Stores{Registries: store.Registries, Policies: store.Replication,
		Local: store.Repos, Proxy: store.Registries},
		replication.Options{Keys: keys, Enqueue: func(context.Context, string, any) error { return nil }}, log)
}

// TestReplicationPages: system administrators add a registry (its secret
// never shown), test its connection, create a push policy, run it, see
// the execution with its tasks and a task's log (as plain text), stop it,
// and create a proxy-cache project from the New Project dialog; a
// registry a policy uses is not deleted; other users reach none of it.
func TestReplicationPages(t *testing.T) {
	e := newEnv(t)
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			w.WriteHeader(http.StatusOK)
			return
		}
		http.NotFound(w, r)
	}))
	defer peer.Close()
	admin := e.login("admin", adminPassword)
	if r := admin.get("/admin/registries"); r.status != 200 || !strings.Contains(r.body, "No registry yet.") {
		t.Fatalf("empty registries page: %d", r.status)
	}
	const secret = "portal-s3cret-value"
	form := url.Values{"name": {"peer"}, "type": {"docker-registry"}, "url": {peer.URL}, "access_key": {"robot"}, "access_secret": {secret}}
	if r := admin.post("/admin/registries", form, true); r.status != http.StatusSeeOther {
		t.Fatalf("create registry: %d %s", r.status, r.body)
	}
	if r := admin.post("/admin/registries", url.Values{"name": {"bad"}, "type": {"docker-registry"}, "url": {"ftp://x"}}, true); r.status != http.StatusBadRequest {
		t.Errorf("a bad URL: %d", r.status)
	}
	page := admin.get("/admin/registries").body
	if !strings.Contains(page, `id="registries"`) || !strings.Contains(page, peer.URL) || !strings.Contains(page, "robot") {
		t.Error("the registry is not listed")
	}
	if strings.Contains(page, secret) {
		t.Error("the registries page shows the secret")
	}
	rs, _, err := e.store.Registries.ListRegistries(t.Context(), "", meta.Page{Limit: 10})
	if err != nil || len(rs) != 1 {
		t.Fatalf("stored registries: %+v %v", rs, err)
	}
	if strings.Contains(rs[0].Secret, secret) {
		t.Error("the secret is stored in plain text")
	}
	rid := strconv.FormatInt(rs[0].ID, 10)
	if r := admin.post("/admin/registries/"+rid+"/ping", nil, true); r.status != 200 || !strings.Contains(r.body, "Registry peer answered.") {
		t.Errorf("test connection: %d %s", r.status, r.body)
	}

	// A push policy, run by hand.
	if r := admin.post("/admin/replication", url.Values{"name": {"to-peer"}, "direction": {"push"}, "registry": {rid},
		"name_filter": {"library/**"}, "override": {"on"}}, true); r.status != http.StatusSeeOther {
		t.Fatalf("create policy: %d %s", r.status, r.body)
	}
	if r := admin.post("/admin/replication", url.Values{"name": {"bad-cron"}, "registry": {rid}, "cron": {"never"}}, true); r.status != http.StatusBadRequest {
		t.Errorf("a bad cron: %d", r.status)
	}
	ps, _, err := e.store.Replication.ListPolicies(t.Context(), "", meta.Page{Limit: 10})
	if err != nil || len(ps) != 1 || ps[0].DestRegistryID != rs[0].ID || ps[0].Filters == "[]" {
		t.Fatalf("stored policies: %+v %v", ps, err)
	}
	if page := admin.get("/admin/replication").body; !strings.Contains(page, `id="policies"`) || !strings.Contains(page, "to-peer") {
		t.Error("the policy is not listed")
	}
	r := admin.post("/admin/replication/"+strconv.FormatInt(ps[0].ID, 10)+"/run", nil, true)
	loc := r.header.Get("Location")
	if r.status != http.StatusSeeOther || !strings.HasPrefix(loc, "/admin/replication/executions/") {
		t.Fatalf("run: %d %q", r.status, loc)
	}
	eid, _ := strconv.ParseInt(strings.TrimPrefix(loc, "/admin/replication/executions/"), 10, 64)
	task, err := e.store.Replication.CreateTask(t.Context(), meta.ReplicationTask{ExecutionID: eid, Operation: "copy",
		SrcResource: "library/app", DstResource: "library/app", Reference: "sha256:abc (v1)"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.Replication.FinishTask(t.Context(), task.ID, "", meta.TaskPending, 0, "copying <script>alert(1)</script>\n"); err != nil {
		t.Fatal(err)
	}
	page = admin.get(loc).body
	if !strings.Contains(page, `id="tasks"`) || !strings.Contains(page, "library/app") || !strings.Contains(page, `id="stop-execution"`) {
		t.Errorf("execution page: %s", page)
	}
	lr := admin.get(loc + "/tasks/" + strconv.FormatInt(task.ID, 10) + "/log")
	if lr.status != 200 || lr.header.Get("Content-Type") != "text/plain; charset=utf-8" || !strings.Contains(lr.body, "<script>alert(1)</script>") {
		t.Errorf("task log: %d %q %q", lr.status, lr.header.Get("Content-Type"), lr.body)
	}
	if r := admin.get(loc + "/tasks/999999/log"); r.status != http.StatusNotFound {
		t.Errorf("a missing task's log: %d", r.status)
	}
	if r := admin.post(loc+"/stop", nil, true); r.status != http.StatusSeeOther {
		t.Fatalf("stop: %d", r.status)
	}
	if ex, err := e.store.Replication.GetExecution(t.Context(), eid); err != nil || ex.Status != meta.ExecStopped {
		t.Errorf("after stop: %+v %v", ex, err)
	}
	if r := admin.post("/admin/registries/"+rid+"/delete", nil, true); r.status != http.StatusConflict {
		t.Errorf("deleting a registry a policy uses: %d", r.status)
	}

	// A proxy-cache project from the New Project dialog.
	if page := admin.get("/projects").body; !strings.Contains(page, `id="project-proxy"`) {
		t.Error("the New Project dialog offers no proxy-cache option")
	}
	if r := admin.post("/projects", url.Values{"name": {"hub"}, "registry_id": {rid}}, true); r.status != http.StatusSeeOther {
		t.Fatalf("create proxy project: %d %s", r.status, r.body)
	}
	hub, err := e.store.Projects.GetProjectByName(t.Context(), "hub")
	if err != nil || hub.RegistryID != rs[0].ID {
		t.Errorf("project hub: %+v %v, want registry %d", hub, err, rs[0].ID)
	}

	// Nobody else.
	e.addUser("bob")
	bob := e.login("bob", userPassword)
	for _, p := range []string{"/admin/registries", "/admin/replication", loc, loc + "/tasks/" + strconv.FormatInt(task.ID, 10) + "/log"} {
		if r := bob.get(p); r.status != http.StatusForbidden {
			t.Errorf("a user opens %s: %d", p, r.status)
		}
	}
	if r := bob.post("/admin/registries", form, true); r.status != http.StatusForbidden {
		t.Errorf("a user adds a registry: %d", r.status)
	}
	if page := bob.get("/projects").body; strings.Contains(page, `id="project-proxy"`) {
		t.Error("a user is offered the proxy-cache option")
	}
	if r := bob.post("/projects", url.Values{"name": {"bobproxy"}, "registry_id": {rid}}, true); r.status != http.StatusForbidden {
		t.Errorf("a user creates a proxy-cache project: %d", r.status)
	}
}
