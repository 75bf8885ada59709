package browser

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestPortalGCAndArtifactLifecycle: an administrator opens the garbage
// collection page from the navigation, presses Run now (dry run) and sees
// the run in the history with its log link; a repository page shows an
// artifact's label and its pull count once pulls are counted. axe-core
// finds no serious or critical violation on the GC page.
func TestPortalGCAndArtifactLifecycle(t *testing.T) {
	env := newLifecycleEnv(t)
	chromium, crane, shots, axe, host, base := env.chromium, env.crane, env.shots, env.axe, env.host, env.base
	api := func(method, path string, body any) *http.Response {
		t.Helper()
		return env.api(t, method, path, body)
	}
	if r := api(http.MethodPost, "projects", map[string]any{"project_name": "life"}); r.StatusCode != http.StatusCreated {
		t.Fatalf("create project: %d", r.StatusCode)
	}
	craneEnv := []string{"DOCKER_CONFIG=" + t.TempDir()}
	runCmd(t, craneEnv, "", crane, "auth", "login", host, "-u", "admin", "-p", adminPassword)
	runCmd(t, craneEnv, "", crane, "append", "-f", layerTar(t, "a.txt", "lifecycle\n"), "-t", host+"/life/app:v1")
	for range 3 {
		runCmd(t, craneEnv, "", crane, "manifest", host+"/life/app:v1")
	}
	r := api(http.MethodPost, "labels", map[string]any{"name": "shipped", "scope": "g"})
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("create label: %d", r.StatusCode)
	}
	id, err := strconv.ParseInt(r.Header.Get("Location")[strings.LastIndex(r.Header.Get("Location"), "/")+1:], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if r := api(http.MethodPost, "projects/life/repositories/app/artifacts/v1/labels", map[string]any{"id": id}); r.StatusCode != http.StatusOK {
		t.Fatalf("attach label: %d", r.StatusCode)
	}

	b := newBrowser(t, chromium, base)
	b.open("/login")
	b.login("admin", adminPassword)
	b.submit(chromedp.Click(css("#nav-gc")))
	b.waitPath("/admin/gc")
	b.axe(axe, "gc")
	b.do(chromedp.Click(css("#gc-dry-run")))
	b.submit(chromedp.Click(css("#gc-run-submit")))
	b.waitPath("/admin/gc")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b.count("#gc-runs tbody tr") > 0 {
			row := b.text("#gc-runs tbody tr")
			if !strings.Contains(row, "Running") {
				if !strings.Contains(row, "MANUAL") || !strings.Contains(row, "dry run") || !strings.Contains(row, "Success") {
					t.Errorf("run row: %q", row)
				}
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the GC run did not end")
		}
		time.Sleep(300 * time.Millisecond)
		b.open("/admin/gc")
	}
	if n := b.count(`#gc-runs a[href$="/log"]`); n != 1 {
		t.Errorf("%d log links, want 1", n)
	}
	b.shot(shots, "gc")

	// Pull counts are written in batches every few seconds.
	deadline = time.Now().Add(30 * time.Second)
	for {
		b.open("/repositories/life/app")
		pulls := b.text("tr.artifact td.pulls")
		if strings.HasPrefix(pulls, "3 ·") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pulls cell %q, want 3 pulls", pulls)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if got := b.text("tr.artifact .badge.label"); got != "shipped" {
		t.Errorf("label %q, want shipped", got)
	}
	b.noConsoleErrors("gc")
}
