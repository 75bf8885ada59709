package browser

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestPortalRetention: an administrator opens a project's Tag retention
// tab, sees the policy's rules and schedule, presses Dry run and sees the
// run in the history with its per-repository counts while every tag
// remains; then Run now leaves only what the policy retains. axe-core
// finds no serious or critical violation on the tab.
func TestPortalRetention(t *testing.T) {
	env := newLifecycleEnv(t)
	chromium, crane, shots, axe, host, base := env.chromium, env.crane, env.shots, env.axe, env.host, env.base
	api := func(method, path string, body any) *http.Response {
		t.Helper()
		return env.api(t, method, path, body)
	}
	if r := api(http.MethodPost, "projects", map[string]any{"project_name": "keep"}); r.StatusCode != http.StatusCreated {
		t.Fatalf("create project: %d", r.StatusCode)
	}
	craneEnv := []string{"DOCKER_CONFIG=" + t.TempDir()}
	runCmd(t, craneEnv, "", crane, "auth", "login", host, "-u", "admin", "-p", adminPassword)
	for _, tag := range []string{"v1", "v2", "v3"} {
		runCmd(t, craneEnv, "", crane, "append", "-f", layerTar(t, tag+".txt", "release "+tag+"\n"), "-t", host+"/keep/app:"+tag)
	}
	var proj struct {
		ID int64 `json:"project_id"`
	}
	if err := json.NewDecoder(api(http.MethodGet, "projects/keep", nil).Body).Decode(&proj); err != nil {
		t.Fatal(err)
	}
	policy := map[string]any{"algorithm": "or", "scope": map[string]any{"level": "project", "ref": proj.ID},
		"trigger": map[string]any{"kind": "Schedule", "settings": map[string]any{"cron": "0 0 3 * * *"}},
		"rules": []map[string]any{{"action": "retain", "template": "latestPushedK", "params": map[string]any{"latestPushedK": 2},
			"tag_selectors":   []map[string]any{{"kind": "doublestar", "decoration": "matches", "pattern": "v*", "extras": `{"untagged":true}`}},
			"scope_selectors": map[string]any{"repository": []map[string]any{{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}}}}}}
	if r := api(http.MethodPost, "retentions", policy); r.StatusCode != http.StatusCreated {
		t.Fatalf("create policy: %d", r.StatusCode)
	}

	b := newBrowser(t, chromium, base)
	b.open("/login")
	b.login("admin", adminPassword)
	b.open("/projects/keep")
	b.submit(chromedp.Click(css(`a[href="/projects/keep/retention"]`)))
	b.waitPath("/projects/keep/retention")
	if got := b.text("#retention-rule-table"); !strings.Contains(got, "the most recently pushed # artifacts: 2") || !strings.Contains(got, "matches v*") {
		t.Errorf("rules table: %q", got)
	}
	if got := b.text("#retention-cron"); got != "0 0 3 * * *" {
		t.Errorf("schedule %q", got)
	}
	b.axe(axe, "retention")

	// history waits until the newest run has ended and returns its row.
	history := func() string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			if b.count("#retention-executions tbody tr") > 0 {
				row := b.text("#retention-executions tbody tr")
				if !strings.Contains(row, "Running") {
					return row
				}
			}
			if time.Now().After(deadline) {
				t.Fatal("the run did not end")
			}
			time.Sleep(300 * time.Millisecond)
			b.open("/projects/keep/retention")
		}
	}
	b.submit(chromedp.Click(css("#retention-dry-run")))
	b.waitPath("/projects/keep/retention?triggered=1")
	if row := history(); !strings.Contains(row, "keep/app: 2/3 retained (Success)") || !strings.Contains(row, "yes") {
		t.Errorf("dry run row: %q", row)
	}
	b.shot(shots, "retention")
	b.open("/repositories/keep/app")
	if n := b.count("tr.artifact"); n != 3 {
		t.Errorf("after the dry run %d artifacts, want 3", n)
	}

	b.open("/projects/keep/retention")
	b.submit(chromedp.Click(css("#retention-run")))
	b.waitPath("/projects/keep/retention?triggered=1")
	if row := history(); !strings.Contains(row, "keep/app: 2/3 retained (Success)") || !strings.Contains(row, "no") {
		t.Errorf("run row: %q", row)
	}
	b.open("/repositories/keep/app")
	if n := b.count("tr.artifact"); n != 2 {
		t.Errorf("after the run %d artifacts, want 2", n)
	}
	b.noConsoleErrors("retention")
}
