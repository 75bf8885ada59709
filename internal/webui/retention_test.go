package webui_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/content"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/project"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/repository"
	"github.com/berth-registry/berth/internal/retention"
)

// inlineQueue runs a retention execution as soon as it is queued.
type inlineQueue struct{ svc *retention.Service }

func (q inlineQueue) Enqueue(ctx context.Context, _ string, a any) error {
	return q.svc.Run(ctx, a.(retention.RunArgs))
}

func newRetention(store *meta.Store, reg *registry.Service, blobs *content.Service, rec audit.Recorder, log *slog.Logger) *retention.Service {
	repos := repository.New(repository.Stores{Repos: store.Repos, Manifests: store.Manifests}, reg, blobs, rec, log)
	svc := retention.New(retention.Deps{Store: store.Retention, Projects: store.Projects, Repos: store.Repos,
		Artifacts: store.Manifests, Deleter: repos, Audit: rec}, log)
	svc.SetQueue(inlineQueue{svc})
	return svc
}

func TestRetentionTab(t *testing.T) {
	e := newEnv(t)
	p := e.addProject("keep", false)
	for i, tag := range []string{"a", "b", "c"} {
		e.pushImage("keep/app", "seed"+tag+string(rune('0'+i)), nil, tag)
	}
	dev := e.addUser("dev")
	e.addMember(p, dev, access.RoleDeveloper)
	admin := e.login("admin", adminPassword)

	// No policy yet.
	if r := admin.get("/projects/keep/retention"); r.status != http.StatusOK || !strings.Contains(r.body, "no tag retention policy") {
		t.Fatalf("empty tab: %d %s", r.status, r.body)
	}
	_, err := e.ret.Create(t.Context(), project.Actor{}, retention.Policy{Scope: &retention.Scope{Level: "project", Ref: p.ID},
		Trigger: &retention.Trigger{Settings: map[string]any{"cron": "0 0 3 * * *"}},
		Rules: []retention.Rule{{Template: "latestPushedK", Params: map[string]any{"latestPushedK": 1},
			TagSelectors:   []retention.Selector{{Kind: "doublestar", Decoration: "matches", Pattern: "**", Extras: `{"untagged":true}`}},
			ScopeSelectors: map[string][]retention.Selector{"repository": {{Kind: "doublestar", Decoration: "repoMatches", Pattern: "**"}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	r := admin.get("/projects/keep/retention")
	for _, want := range []string{`id="retention-rule-table"`, "the most recently pushed # artifacts", "0 0 3 * * *", "repoMatches **",
		"matches ** (untagged artifacts too)", `id="retention-dry-run"`, "The policy has not run yet."} {
		if !strings.Contains(r.body, want) {
			t.Errorf("tab lacks %q", want)
		}
	}
	if !strings.Contains(admin.get("/projects/keep").body, `href="/projects/keep/retention"`) {
		t.Error("project tabs lack the retention tab")
	}

	// A dry run from the portal: history shows 1 of 3 retained, nothing
	// deleted.
	if r := admin.post("/projects/keep/retention/run", url.Values{"dry_run": {"1"}}, true); r.status != http.StatusSeeOther ||
		r.header.Get("Location") != "/projects/keep/retention?triggered=1" {
		t.Fatalf("dry run: %d %s", r.status, r.body)
	}
	r = admin.get("/projects/keep/retention?triggered=1")
	if !strings.Contains(r.body, "keep/app</span>: 1/3 retained (Success)") || !strings.Contains(r.body, "MANUAL") {
		t.Errorf("history after dry run:\n%s", r.body)
	}
	if n := len(e.tags(t, "keep/app")); n != 3 {
		t.Errorf("after a dry run %d tags remain, want 3", n)
	}
	// A real run deletes the two older artifacts.
	admin.post("/projects/keep/retention/run", nil, true)
	if n := len(e.tags(t, "keep/app")); n != 1 {
		t.Errorf("after a run %d tags remain, want 1", n)
	}

	// A developer has no retention permission: no tab, 403, no run.
	d := e.login("dev", userPassword)
	if strings.Contains(d.get("/projects/keep").body, "/retention") {
		t.Error("developer sees the retention tab")
	}
	if r := d.get("/projects/keep/retention"); r.status != http.StatusForbidden {
		t.Errorf("developer GET: %d", r.status)
	}
	if r := d.post("/projects/keep/retention/run", url.Values{"dry_run": {"1"}}, true); r.status != http.StatusForbidden {
		t.Errorf("developer run: %d", r.status)
	}
	// Without the CSRF token the run is refused.
	if r := admin.post("/projects/keep/retention/run", url.Values{"dry_run": {"1"}}, false); r.status != http.StatusForbidden {
		t.Errorf("run without CSRF token: %d", r.status)
	}
}

func (e *env) tags(t *testing.T, repo string) []string {
	t.Helper()
	tags, err := e.store.Manifests.ListTags(t.Context(), repo, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	return tags
}
