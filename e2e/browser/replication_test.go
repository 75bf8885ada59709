package browser

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/berth-registry/berth/internal/testenv"
)

// TestPortalReplication: an administrator adds a registry endpoint (this
// Berth itself, so that nothing else is needed) through the Registries
// page, tests the connection, creates a push policy into the namespace
// "mirror" on the Replication page, presses Replicate, and follows the
// execution to Succeed, its task and the task's log; the secret typed in
// appears on no page. axe-core finds no serious or critical violation.
func TestPortalReplication(t *testing.T) {
	chromium := testenv.Require(t, "BERTH_TEST_CHROMIUM")
	ldapURL := testenv.Require(t, "BERTH_TEST_LDAP")
	axePath := testenv.Require(t, "BERTH_TEST_AXE")
	crane := testenv.RequireBinary(t, "crane")
	axe, err := os.ReadFile(axePath)
	if err != nil {
		t.Fatal(err)
	}
	host := startBerth(t, ldapURL)
	base := "http://" + host
	craneEnv := []string{"DOCKER_CONFIG=" + t.TempDir()}
	runCmd(t, craneEnv, "", crane, "auth", "login", host, "-u", "admin", "-p", adminPassword)
	runCmd(t, craneEnv, "", crane, "append", "-f", layerTar(t, "app.txt", "replicate me\n"), "-t", host+"/library/app:v1")

	b := newBrowser(t, chromium, base)
	b.open("/login")
	b.login("admin", adminPassword)
	b.open("/projects")
	b.submit(chromedp.Click(css("#nav-registries")))
	b.waitPath("/admin/registries")
	open := func(form string) {
		get(b, chromedp.Evaluate[bool](`(document.querySelector('`+form+`').closest('details').open = true)`))
	}
	open("#new-registry")
	b.do(chromedp.SetValue(css("#registry-name"), "self"), chromedp.SetValue(css("#registry-type"), "berth"),
		chromedp.SetValue(css("#registry-url"), base), chromedp.SetValue(css("#registry-key"), "admin"),
		chromedp.SetValue(css("#registry-secret"), adminPassword))
	b.submit(chromedp.Click(css("#new-registry-submit")))
	b.waitPath("/admin/registries")
	if got := b.text("#registries"); !strings.Contains(got, "self") || !strings.Contains(got, base) {
		t.Fatalf("registries table: %q", got)
	}
	b.axe(string(axe), "registries")
	b.submit(chromedp.Click(css("#registries button[id^=ping-]")))
	if got := b.text("#ping-result"); !strings.Contains(got, "answered") {
		t.Errorf("test connection: %q", got)
	}
	if html := get(b, chromedp.OuterHTML("html")); strings.Contains(html, adminPassword) {
		t.Error("the registries page holds the secret")
	}

	b.submit(chromedp.Click(css("#nav-replication")))
	b.waitPath("/admin/replication")
	open("#new-policy")
	b.do(chromedp.SetValue(css("#policy-name"), "mirror-library"), chromedp.SetValue(css("#policy-direction"), "push"),
		chromedp.SetValue(css("#policy-name-filter"), "library/**"), chromedp.SetValue(css("#policy-namespace"), "mirror"))
	b.submit(chromedp.Click(css("#new-policy-submit")))
	b.waitPath("/admin/replication")
	if got := b.text("#policies"); !strings.Contains(got, "mirror-library") || !strings.Contains(got, "self") {
		t.Fatalf("policies table: %q", got)
	}
	b.axe(string(axe), "replication")
	b.submit(chromedp.Click(css("#policies button[id^=run-]")))
	b.waitPath("/admin/replication/executions/")
	execPath := get(b, chromedp.Location())
	deadline := time.Now().Add(time.Minute)
	for b.text("#execution-status") == "InProgress" {
		if time.Now().After(deadline) {
			t.Fatal("the execution did not end")
		}
		time.Sleep(500 * time.Millisecond)
		b.do(chromedp.Navigate(execPath), chromedp.WaitReady(css("#main")))
	}
	if got := b.text("#execution-status"); got != "Succeed" {
		t.Fatalf("execution status %q", got)
	}
	if got := b.text("#tasks"); !strings.Contains(got, "library/app") || !strings.Contains(got, "mirror/app") {
		t.Errorf("tasks table: %q", got)
	}
	b.axe(string(axe), "execution")
	// The task's log (plain text; opened as a document, the browser would
	// ask for a favicon).
	logText := eval[string](b, `fetch(document.querySelector('#tasks a[id^=task-log-]').href)
		.then(async r => r.headers.get('Content-Type') + '\n' + await r.text())`)
	if !strings.HasPrefix(logText, "text/plain") || !strings.Contains(logText, "tagged mirror/app:v1") {
		t.Errorf("task log: %q", logText)
	}
	b.open("/repositories/mirror/app")
	if n := b.count("tr.artifact"); n != 1 {
		t.Errorf("mirror/app holds %d artifacts, want 1", n)
	}
	b.noConsoleErrors("replication")
}
