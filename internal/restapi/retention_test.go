package restapi_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/app/apptest"
	"github.com/berth-registry/berth/internal/meta"
)

// projectID returns project name's id, through the API.
func (e *env) projectID(name string) int64 {
	e.t.Helper()
	return decode[struct {
		ID int64 `json:"project_id"`
	}](e.t, e.must(e.do(admin, http.MethodGet, "projects/"+name, nil), http.StatusOK)).ID
}

// retentionPolicy is a policy body: rules on repositories matching repos.
func retentionPolicy(projectID int64, repos string, rules ...map[string]any) map[string]any {
	for _, r := range rules {
		r["scope_selectors"] = map[string]any{"repository": []map[string]any{{"kind": "doublestar", "decoration": "repoMatches", "pattern": repos}}}
	}
	return map[string]any{"algorithm": "or", "rules": rules, "scope": map[string]any{"level": "project", "ref": projectID},
		"trigger": map[string]any{"kind": "Schedule", "settings": map[string]any{"cron": ""}, "references": map[string]any{}}}
}

// retentionRule is one rule: template with its parameter (n) on the tags
// matching pattern.
func retentionRule(template string, n int, pattern string, untagged bool) map[string]any {
	params := map[string]any{}
	if template != "always" {
		params[template] = n
	}
	return map[string]any{"action": "retain", "template": template, "params": params,
		"tag_selectors": []map[string]any{{"kind": "doublestar", "decoration": "matches", "pattern": pattern,
			"extras": fmt.Sprintf(`{"untagged":%t}`, untagged)}}}
}

type retentionTask struct {
	ID         int64  `json:"id"`
	Repository string `json:"repository"`
	Status     string `json:"status"`
	Total      int    `json:"total"`
	Retained   int    `json:"retained"`
}

// runRetention triggers policy id (dry run or not), waits for the
// execution to end and returns its status, tasks and the digests each
// task's log marks for deletion.
func (e *env) runRetention(id string, dryRun bool) (string, []retentionTask, map[string][]digest.Digest) {
	e.t.Helper()
	loc := e.must(e.do(admin, http.MethodPost, "retentions/"+id+"/executions", map[string]any{"dry_run": dryRun}), http.StatusCreated).header.Get("Location")
	if !strings.HasPrefix(loc, "/api/v2.0/retentions/"+id+"/executions/") {
		e.t.Fatalf("Location %q", loc)
	}
	var status string
	apptest.Eventually(e.t, 60*time.Second, func() bool {
		ex := decode[struct {
			Status string `json:"status"`
			DryRun bool   `json:"dry_run"`
		}](e.t, e.must(e.do(admin, http.MethodGet, loc, nil), http.StatusOK))
		status = ex.Status
		return status != "Running"
	})
	tasks := decode[[]retentionTask](e.t, e.must(e.do(admin, http.MethodGet, loc+"/tasks?page_size=100", nil), http.StatusOK))
	gone := map[string][]digest.Digest{}
	for _, t := range tasks {
		log := string(e.must(e.do(admin, http.MethodGet, fmt.Sprintf("%s/tasks/%d", loc, t.ID), nil), http.StatusOK).body)
		for _, line := range strings.Split(log, "\n") {
			f := strings.Split(line, "|")
			if len(f) == 5 && strings.HasPrefix(strings.TrimSpace(f[4]), "DEL") {
				gone[t.Repository] = append(gone[t.Repository], digest.Digest(strings.TrimSpace(f[0])))
			}
		}
		slices.Sort(gone[t.Repository])
	}
	return status, tasks, gone
}

func TestRetentionDryRunThenRun(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		e.createProject("ret", false)
		pid := e.projectID("ret")
		// ret/app: v1..v4 pushed in that order, dev-1, and one untagged
		// artifact; ret/other is out of the policy's scope.
		imgs := map[string]apptest.Image{}
		for _, tag := range []string{"v1", "v2", "v3", "v4", "dev-1", "tmp"} {
			imgs[tag] = e.srv.PushImage(t, admin, "ret/app", tag)
		}
		e.must(e.do(admin, http.MethodDelete, "projects/ret/repositories/app/artifacts/"+imgs["tmp"].Manifest.String()+"/tags/tmp", nil), http.StatusOK)
		imgs["other"] = e.srv.PushImage(t, admin, "ret/other", "x1")

		// Keep the two newest v* and every dev-*; untagged artifacts are
		// selected by no rule, so they go.
		body := retentionPolicy(pid, "{app,lib}",
			retentionRule("latestPushedK", 2, "v*", false),
			retentionRule("always", 0, "dev-*", false))
		loc := e.must(e.do(admin, http.MethodPost, "retentions", body), http.StatusCreated).header.Get("Location")
		id := strings.TrimPrefix(loc, "/api/v2.0/retentions/")
		proj := decode[struct {
			Metadata map[string]string `json:"metadata"`
		}](t, e.must(e.do(admin, http.MethodGet, "projects/ret", nil), http.StatusOK))
		if proj.Metadata["retention_id"] != id {
			t.Errorf("project metadata = %v, want retention_id %s", proj.Metadata, id)
		}
		got := decode[map[string]any](t, e.must(e.do(admin, http.MethodGet, loc, nil), http.StatusOK))
		if got["algorithm"] != "or" || len(got["rules"].([]any)) != 2 || got["scope"].(map[string]any)["ref"] != float64(pid) {
			t.Errorf("GET policy = %v", got)
		}

		want := []digest.Digest{imgs["v1"].Manifest, imgs["v2"].Manifest, imgs["tmp"].Manifest}
		slices.Sort(want)

		status, tasks, dry := e.runRetention(id, true)
		if status != "Success" || len(tasks) != 1 || tasks[0].Repository != "ret/app" || tasks[0].Total != 6 || tasks[0].Retained != 3 {
			t.Fatalf("dry run: %s %+v", status, tasks)
		}
		if !slices.Equal(dry["ret/app"], want) {
			t.Errorf("dry run would delete %v, want %v", dry["ret/app"], want)
		}
		for tag, img := range imgs { // a dry run deletes nothing
			repo := "ret/app"
			if tag == "other" {
				repo = "ret/other"
			}
			e.must(e.do(admin, http.MethodGet, "/v2/"+repo+"/manifests/"+img.Manifest.String(), nil), http.StatusOK)
		}

		status, tasks, real := e.runRetention(id, false)
		if status != "Success" || len(tasks) != 1 || tasks[0].Total != 6 || tasks[0].Retained != 3 {
			t.Fatalf("run: %s %+v", status, tasks)
		}
		if !slices.Equal(real["ret/app"], dry["ret/app"]) {
			t.Errorf("real run deleted %v, dry run said %v", real["ret/app"], dry["ret/app"])
		}
		// What remains pulls completely; what went is gone.
		for _, tag := range []string{"v3", "v4", "dev-1"} {
			e.must(e.do(admin, http.MethodGet, "/v2/ret/app/manifests/"+tag, nil), http.StatusOK)
			e.must(e.do(admin, http.MethodGet, "/v2/ret/app/blobs/"+imgs[tag].Layer.String(), nil), http.StatusOK)
			e.must(e.do(admin, http.MethodGet, "/v2/ret/app/blobs/"+imgs[tag].Config.String(), nil), http.StatusOK)
		}
		for _, tag := range []string{"v1", "v2"} {
			e.must(e.do(admin, http.MethodGet, "/v2/ret/app/manifests/"+tag, nil), http.StatusNotFound)
		}
		for _, tag := range []string{"v1", "v2", "tmp"} {
			e.must(e.do(admin, http.MethodGet, "/v2/ret/app/manifests/"+imgs[tag].Manifest.String(), nil), http.StatusNotFound)
		}
		e.must(e.do(admin, http.MethodGet, "/v2/ret/other/manifests/x1", nil), http.StatusOK)

		// A second real run finds nothing more to delete.
		_, tasks, again := e.runRetention(id, false)
		if len(tasks) != 1 || tasks[0].Total != 3 || tasks[0].Retained != 3 || len(again["ret/app"]) != 0 {
			t.Errorf("second run: %+v, deleted %v", tasks, again)
		}
		execs := decode[[]map[string]any](t, e.must(e.do(admin, http.MethodGet, loc+"/executions", nil), http.StatusOK))
		if len(execs) != 3 || execs[0]["dry_run"] != false || execs[2]["dry_run"] != true || execs[0]["trigger"] != "MANUAL" {
			t.Errorf("executions = %v", execs)
		}
		// The deletions are audited under the project.
		logs := e.auditLogs(meta.AuditFilter{ProjectIDs: []int64{pid}, Operation: "delete", ResourceType: "artifact"}, 3)
		if len(logs) < 3 {
			t.Errorf("audit entries of deletions = %d, want 3", len(logs))
		}

		// Policy changes are audited too.
		if logs := e.auditLogs(meta.AuditFilter{ProjectIDs: []int64{pid}, ResourceType: "retention"}, 1); len(logs) != 1 ||
			logs[0].Operation != "create" || logs[0].Username != "admin" || logs[0].Resource != "retention policy "+id {
			t.Errorf("audit of the policy: %+v", logs)
		}
		// Deleting the policy clears the project's retention_id.
		e.must(e.do(admin, http.MethodDelete, loc, nil), http.StatusOK)
		e.must(e.do(admin, http.MethodGet, loc, nil), http.StatusNotFound)
		e.must(e.do(admin, http.MethodGet, "projects/ret/metadatas/retention_id", nil), http.StatusNotFound)
	})
}

func TestRetentionPermissions(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		e.createProject("perm", false)
		e.createProject("mine", false)
		pid, mine := e.projectID("perm"), e.projectID("mine")
		owner, ownerID := e.addUser("owner", false)
		maint, maintID := e.addUser("maint", false)
		dev, devID := e.addUser("dev", false)
		outsider, _ := e.addUser("outsider", false)
		e.addMember("perm", ownerID, access.RoleProjectAdmin)
		e.addMember("perm", maintID, access.RoleMaintainer)
		e.addMember("perm", devID, access.RoleDeveloper)

		policy := retentionPolicy(pid, "**", retentionRule("latestPushedK", 1, "**", true))
		// Not allowed to create: anonymous 401; a developer and an outsider
		// 403, also for a project that does not exist (no oracle).
		e.must(e.do(anonymous, http.MethodPost, "retentions", policy), http.StatusUnauthorized)
		e.must(e.do(dev, http.MethodPost, "retentions", policy), http.StatusForbidden)
		e.must(e.do(outsider, http.MethodPost, "retentions", policy), http.StatusForbidden)
		e.must(e.do(outsider, http.MethodPost, "retentions", retentionPolicy(999999, "**", retentionRule("always", 0, "**", true))), http.StatusForbidden)
		e.must(e.do(outsider, http.MethodPost, "retentions", retentionPolicy(mine, "**", retentionRule("always", 0, "**", true))), http.StatusForbidden)

		loc := e.must(e.do(owner, http.MethodPost, "retentions", policy), http.StatusCreated).header.Get("Location")
		missing := "/api/v2.0/retentions/999999"
		for _, tt := range []struct {
			c      cred
			status int // for reads and writes alike
		}{
			{anonymous, http.StatusUnauthorized},
			{outsider, http.StatusForbidden},
			{dev, http.StatusForbidden},
		} {
			for _, path := range []string{loc, missing} {
				e.must(e.do(tt.c, http.MethodGet, path, nil), tt.status)
				e.must(e.do(tt.c, http.MethodPut, path, policy), tt.status)
				e.must(e.do(tt.c, http.MethodDelete, path, nil), tt.status)
				e.must(e.do(tt.c, http.MethodPost, path+"/executions", map[string]any{"dry_run": true}), tt.status)
				e.must(e.do(tt.c, http.MethodGet, path+"/executions", nil), tt.status)
				e.must(e.do(tt.c, http.MethodGet, path+"/executions/1/tasks", nil), tt.status)
				e.must(e.do(tt.c, http.MethodPatch, path+"/executions/1", map[string]any{"action": "stop"}), tt.status)
			}
		}
		// Only system administrators learn that a policy does not exist.
		e.must(e.do(admin, http.MethodGet, missing, nil), http.StatusNotFound)
		// The project's maintainers and admins manage it (Harbor's matrix).
		e.must(e.do(maint, http.MethodGet, loc, nil), http.StatusOK)
		e.must(e.do(maint, http.MethodPut, loc, policy), http.StatusOK)
		e.must(e.do(owner, http.MethodGet, loc+"/executions", nil), http.StatusOK)
		// An execution of another policy is not found through this one.
		other := e.must(e.do(admin, http.MethodPost, "retentions", retentionPolicy(mine, "**", retentionRule("always", 0, "**", true))), http.StatusCreated).header.Get("Location")
		ex := e.must(e.do(admin, http.MethodPost, other+"/executions", map[string]any{"dry_run": true}), http.StatusCreated).header.Get("Location")
		eid := ex[strings.LastIndex(ex, "/")+1:]
		e.must(e.do(owner, http.MethodGet, loc+"/executions/"+eid+"/tasks", nil), http.StatusNotFound)
		e.must(e.do(owner, http.MethodGet, other+"/executions/"+eid+"/tasks", nil), http.StatusForbidden)
		// The project's retention_id shows to those who may read it.
		md := decode[map[string]string](t, e.must(e.do(owner, http.MethodGet, "projects/perm/metadatas/", nil), http.StatusOK))
		if md["retention_id"] != strings.TrimPrefix(loc, "/api/v2.0/retentions/") {
			t.Errorf("metadatas = %v", md)
		}
		// Metadata: any logged-in caller.
		e.must(e.do(anonymous, http.MethodGet, "retentions/metadatas", nil), http.StatusUnauthorized)
		m := decode[struct {
			Templates []struct {
				RuleTemplate string `json:"rule_template"`
			} `json:"templates"`
			ScopeSelectors []map[string]any `json:"scope_selectors"`
			TagSelectors   []map[string]any `json:"tag_selectors"`
		}](t, e.must(e.do(outsider, http.MethodGet, "retentions/metadatas", nil), http.StatusOK))
		var names []string
		for _, tm := range m.Templates {
			names = append(names, tm.RuleTemplate)
		}
		if !slices.Equal(names, []string{"latestPushedK", "latestPulledN", "nDaysSinceLastPush", "nDaysSinceLastPull", "always"}) ||
			len(m.ScopeSelectors) != 1 || len(m.TagSelectors) != 2 {
			t.Errorf("metadatas = %+v", m)
		}
	})
}

func TestRetentionBadInput(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		e.createProject("bad", false)
		e.createProject("bad2", false)
		pid := e.projectID("bad")
		good := func() map[string]any {
			return retentionPolicy(pid, "**", retentionRule("latestPushedK", 3, "**", true))
		}
		rule := func(p map[string]any) map[string]any { return p["rules"].([]map[string]any)[0] }
		tests := []struct {
			name string
			body func() any
			msg  string
		}{
			{"not JSON", func() any { return "{" }, "not valid JSON"},
			{"no scope", func() any { p := good(); delete(p, "scope"); return p }, "scope"},
			{"algorithm", func() any { p := good(); p["algorithm"] = "and"; return p }, "algorithm"},
			{"template", func() any { p := good(); rule(p)["template"] = "latestK"; return p }, "template"},
			{"param", func() any { p := good(); rule(p)["params"] = map[string]any{"latestPushedK": -2}; return p }, "params.latestPushedK"},
			{"param too large", func() any { p := good(); rule(p)["params"] = map[string]any{"latestPushedK": 1 << 40}; return p }, "params.latestPushedK"},
			{"pattern", func() any {
				p := good()
				rule(p)["tag_selectors"] = []map[string]any{{"kind": "doublestar", "decoration": "matches", "pattern": "[v"}}
				return p
			}, "not a valid pattern"},
			{"pattern too long", func() any {
				p := good()
				rule(p)["tag_selectors"] = []map[string]any{{"kind": "doublestar", "decoration": "matches", "pattern": strings.Repeat("a", 300)}}
				return p
			}, "longer than 255"},
			{"cron", func() any {
				p := good()
				p["trigger"] = map[string]any{"kind": "Schedule", "settings": map[string]any{"cron": "daily"}}
				return p
			}, "cron"},
			{"too many rules", func() any {
				var rules []map[string]any
				for range 16 {
					rules = append(rules, retentionRule("always", 0, "**", true))
				}
				return retentionPolicy(pid, "**", rules...)
			}, "at most 15"},
			{"action", func() any { p := good(); rule(p)["action"] = "delete"; return p }, "action"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := e.must(e.do(admin, http.MethodPost, "retentions", tt.body()), http.StatusBadRequest)
				if r.code != "BAD_REQUEST" || !strings.Contains(r.msg, tt.msg) {
					t.Errorf("error %s %q, want BAD_REQUEST mentioning %q", r.code, r.msg, tt.msg)
				}
			})
		}
		loc := e.must(e.do(admin, http.MethodPost, "retentions", good()), http.StatusCreated).header.Get("Location")
		// A second policy for the project: Harbor's 400.
		r := e.must(e.do(admin, http.MethodPost, "retentions", good()), http.StatusBadRequest)
		if !strings.Contains(r.msg, "already has a retention policy") {
			t.Errorf("second policy: %q", r.msg)
		}
		// A policy stays with its project.
		moved := retentionPolicy(e.projectID("bad2"), "**", retentionRule("always", 0, "**", true))
		if r := e.must(e.do(admin, http.MethodPut, loc, moved), http.StatusBadRequest); !strings.Contains(r.msg, "stays with its project") {
			t.Errorf("move: %q", r.msg)
		}
		e.must(e.do(admin, http.MethodPatch, loc+"/executions/1", map[string]any{"action": "pause"}), http.StatusBadRequest)
		e.must(e.do(admin, http.MethodGet, loc+"/executions?page_size=1000", nil), http.StatusBadRequest)
		e.must(e.do(admin, http.MethodGet, "retentions/abc", nil), http.StatusBadRequest)
		e.must(e.do(admin, http.MethodGet, loc+"/executions/99999/tasks", nil), http.StatusNotFound)
	})
}

// TestRetentionLifecycle: retention keeps what an immutability rule
// protects, what carries a label a rule names and what was pulled last,
// with pull times and labels from the server itself.
func TestRetentionLifecycle(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		e.createProject("lc", false)
		pid := e.projectID("lc")
		imgs := map[string]apptest.Image{}
		for _, tag := range []string{"v1", "v2", "v3", "v4"} {
			imgs[tag] = e.srv.PushImage(t, admin, "lc/app", tag)
		}
		// v1 is immutable; v2 carries the label prod; v3 is pulled.
		e.addRule(admin, "lc", map[string]any{"action": "immutable", "template": "immutable_template",
			"tag_selectors":   []map[string]any{{"kind": "doublestar", "decoration": "matches", "pattern": "v1"}},
			"scope_selectors": map[string]any{"repository": []map[string]any{{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}}}})
		label := e.createLabel(admin, map[string]any{"name": "prod", "scope": "p", "project_id": pid})
		e.must(e.do(admin, http.MethodPost, "projects/lc/repositories/app/artifacts/v2/labels", map[string]any{"id": label}), http.StatusOK)
		e.must(e.do(admin, http.MethodGet, "/v2/lc/app/manifests/v3", nil, "Accept", "application/vnd.oci.image.manifest.v1+json"), http.StatusOK)
		apptest.Eventually(t, 20*time.Second, func() bool {
			a := decode[struct {
				PullTime time.Time `json:"pull_time"`
			}](t, e.must(e.do(admin, http.MethodGet, "projects/lc/repositories/app/artifacts/v3", nil), http.StatusOK))
			return !a.PullTime.IsZero()
		})

		pulled := retentionRule("latestPulledN", 1, "**", true)
		labelled := map[string]any{"action": "retain", "template": "always", "params": map[string]any{},
			"tag_selectors": []map[string]any{{"kind": "label", "decoration": "withLabels", "pattern": "prod"}}}
		loc := e.must(e.do(admin, http.MethodPost, "retentions", retentionPolicy(pid, "**", pulled, labelled)), http.StatusCreated).header.Get("Location")
		id := strings.TrimPrefix(loc, "/api/v2.0/retentions/")

		_, _, dry := e.runRetention(id, true)
		status, tasks, real := e.runRetention(id, false)
		want := []digest.Digest{imgs["v4"].Manifest}
		if status != "Success" || len(tasks) != 1 || tasks[0].Retained != 3 || !slices.Equal(dry["lc/app"], want) || !slices.Equal(real["lc/app"], want) {
			t.Errorf("run: %s %+v, dry run deleted %v, real %v; want only v4", status, tasks, dry, real)
		}
		for _, tag := range []string{"v1", "v2", "v3"} {
			e.must(e.do(admin, http.MethodGet, "/v2/lc/app/manifests/"+tag, nil), http.StatusOK)
		}
		e.must(e.do(admin, http.MethodGet, "/v2/lc/app/manifests/v4", nil), http.StatusNotFound)
	})
}

// TestRetentionSchedule: a policy with a cron runs by itself (the
// once-per-cluster schedule job looks every minute), as a SCHEDULE
// execution that deletes what a manual run would.
func TestRetentionSchedule(t *testing.T) {
	if testing.Short() {
		t.Skip("waits up to 90 s for the schedule job")
	}
	forEachEnv(t, func(t *testing.T, e *env) {
		e.createProject("sched", false)
		pid := e.projectID("sched")
		old := e.srv.PushImage(t, admin, "sched/app", "old")
		e.srv.PushImage(t, admin, "sched/app", "new")
		body := retentionPolicy(pid, "**", retentionRule("latestPushedK", 1, "**", true))
		body["trigger"] = map[string]any{"kind": "Schedule", "settings": map[string]any{"cron": "* * * * * *"}}
		loc := e.must(e.do(admin, http.MethodPost, "retentions", body), http.StatusCreated).header.Get("Location")
		type execution struct {
			Status  string `json:"status"`
			Trigger string `json:"trigger"`
		}
		var execs []execution
		for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(500 * time.Millisecond) {
			execs = decode[[]execution](t, e.must(e.do(admin, http.MethodGet, loc+"/executions", nil), http.StatusOK))
			if len(execs) > 0 && execs[len(execs)-1].Status != "Running" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no scheduled run ended within 90 s: %+v", execs)
			}
		}
		if first := execs[len(execs)-1]; first.Trigger != "SCHEDULE" || first.Status != "Success" {
			t.Errorf("scheduled execution %+v", first)
		}
		e.must(e.do(admin, http.MethodDelete, loc, nil), http.StatusOK) // no more runs
		e.must(e.do(admin, http.MethodGet, "/v2/sched/app/manifests/new", nil), http.StatusOK)
		e.must(e.do(admin, http.MethodGet, "/v2/sched/app/manifests/"+old.Manifest.String(), nil), http.StatusNotFound)
	})
}
