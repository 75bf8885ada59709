package browser

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/berth-registry/berth/internal/testenv"
)

// artifactRow is one artifact row of a repository page, as the page shows it.
type artifactRow struct {
	Digest string   `json:"digest"`
	Tags   []string `json:"tags"`
	Size   string   `json:"size"`
	Kind   string   `json:"kind"`
}

const rowsJS = `[...document.querySelectorAll('tr.artifact')].map(r => ({
	digest: r.dataset.digest,
	tags: [...r.querySelectorAll('.tag')].map(t => t.firstChild.textContent.trim()),
	size: r.querySelector('.size').textContent.trim(),
	kind: r.children[2].textContent.trim()}))`

var sizeRE = regexp.MustCompile(`^[0-9]+(\.[0-9])? (B|KiB|MiB)$`)

// TestPortal walks the portal as its users do: an administrator logs in,
// creates projects through the dialog, pushes with crane, sees the
// artifact, copies the pull command, adds members (an LDAP group and an
// LDAP user as Guest), creates a robot account whose secret podman logs in
// with, deletes an artifact; an LDAP user sees only what it may; a guest
// sees no edit control and a forged request is refused; cross-site posts
// are refused; axe-core finds no serious or critical violation on the main
// pages and no page logs a console error.
func TestPortal(t *testing.T) {
	chromium := testenv.Require(t, "BERTH_TEST_CHROMIUM")
	ldapURL := testenv.Require(t, "BERTH_TEST_LDAP")
	axePath := testenv.Require(t, "BERTH_TEST_AXE")
	crane := testenv.RequireBinary(t, "crane")
	podman := testenv.RequireBinary(t, "podman")
	shots := os.Getenv("BERTH_TEST_SCREENSHOTS")
	if shots != "" {
		if err := os.MkdirAll(shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	axeRaw, err := os.ReadFile(axePath)
	if err != nil {
		t.Fatal(err)
	}
	axe := string(axeRaw)

	host := startBerth(t, ldapURL)
	base := "http://" + host
	b := newBrowser(t, chromium, base)
	craneEnv := []string{"DOCKER_CONFIG=" + t.TempDir()}
	runCmd(t, craneEnv, "", crane, "auth", "login", host, "-u", "admin", "-p", adminPassword)

	// A deep link asks for the login and comes back to it.
	b.open("/admin/system")
	b.waitPath("/login?next=")
	b.shot(shots, "login")
	b.axe(axe, "login")
	b.login("admin", "wrong")
	if got := b.text("#login-error"); !strings.Contains(got, "Wrong") {
		t.Errorf("wrong password: error %q", got)
	}
	b.expectRefusals() // the 401 of the wrong password
	b.login("admin", adminPassword)
	b.waitPath("/admin/system")
	if got := b.text("main"); !strings.Contains(got, "Healthy") || !strings.Contains(got, "sqlite") {
		t.Errorf("system page: %q", got)
	}
	b.shot(shots, "admin-system")
	b.axe(axe, "admin-system")

	// New Project: the browser checks the server's naming rule first.
	b.open("/projects")
	b.do(chromedp.Click(css("#new-project-open")), chromedp.WaitVisible(css("#project-name")),
		chromedp.SendKeys(css("#project-name"), "Bad Name"))
	if !eval[bool](b, `document.getElementById('project-name').validity.patternMismatch`) {
		t.Error("the dialog accepts the project name \"Bad Name\"")
	}
	b.do(chromedp.SetValue(css("#project-name"), "webtest"))
	b.submit(chromedp.Click(css("#new-project-submit")))
	b.waitPath("/projects/webtest")
	if got := b.text("#empty-project"); !strings.Contains(got, "docker login "+host) || !strings.Contains(got, "docker push "+host+"/webtest/") {
		t.Errorf("empty project shows %q, want the docker login and push commands for %s", got, host)
	}
	b.shot(shots, "project-empty")
	for _, name := range []string{"secret", "webtest"} { // a private one, and a taken name
		b.open("/projects")
		b.do(chromedp.Click(css("#new-project-open")), chromedp.WaitVisible(css("#project-name")),
			chromedp.SendKeys(css("#project-name"), name))
		b.submit(chromedp.Click(css("#new-project-submit")))
	}
	if got := b.text("#new-project-error"); !strings.Contains(got, "exists") {
		t.Errorf("creating webtest twice: %q", got)
	}
	b.expectRefusals() // the 400 of the taken name

	// Push with a real client; the repository page shows it.
	runCmd(t, craneEnv, "", crane, "append", "-f", layerTar(t, "hello.txt", "hello from the portal test\n"), "-t", host+"/webtest/app:v1")
	runCmd(t, craneEnv, "", crane, "append", "-f", layerTar(t, "tool.txt", "a tool\n"), "-t", host+"/webtest/tools:1.0")
	runCmd(t, craneEnv, "", crane, "mutate", host+"/webtest/tools:1.0", "--annotation",
		"org.example.note=<img src=x onerror=alert(1)>", "-t", host+"/webtest/tools:html")
	b.open("/projects/webtest")
	if n := b.count(`a[href="/repositories/webtest/app"]`); n != 1 {
		t.Errorf("project page links app %d times", n)
	}
	b.shot(shots, "project")
	b.axe(axe, "project")
	b.open("/repositories/webtest/app")
	rows := eval[[]artifactRow](b, rowsJS)
	if len(rows) != 1 || !slices.Equal(rows[0].Tags, []string{"v1"}) || !sizeRE.MatchString(rows[0].Size) || rows[0].Kind != "Image" {
		t.Fatalf("repository app shows %+v, want one image tagged v1 with a size", rows)
	}
	appDigest := rows[0].Digest

	// Copy the pull command.
	for _, perm := range []string{"clipboard-read", "clipboard-write"} {
		if _, err := chromedp.CallBrowser(b.ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: perm}, Setting: cdpbrowser.PermissionSettingGranted, Origin: base}); err != nil {
			t.Fatal(err)
		}
	}
	wantPull := "docker pull " + host + "/webtest/app:v1"
	pullSel := fmt.Sprintf(`button.copy[data-copy=%q]`, wantPull)
	if b.count(pullSel) != 1 {
		t.Fatalf("no copy button for %q", wantPull)
	}
	b.do(chromedp.Click(css(pullSel)), chromedp.WaitVisible(css(pullSel+".copied")))
	if clip := eval[string](b, `navigator.clipboard.readText()`); clip != wantPull {
		t.Errorf("clipboard holds %q, want %q", clip, wantPull)
	}
	b.shot(shots, "repository")
	b.axe(axe, "repository")

	// The artifact page: manifest, layers, config; an annotation holding
	// HTML is text.
	b.open("/repositories/webtest/tools")
	rows = eval[[]artifactRow](b, rowsJS)
	var htmlDigest string
	for _, r := range rows {
		if slices.Contains(r.Tags, "html") {
			htmlDigest = r.Digest
		}
	}
	if htmlDigest == "" {
		t.Fatalf("tools shows %+v, want a row tagged html", rows)
	}
	b.open("/repositories/webtest/tools/-/artifacts/" + htmlDigest)
	if got := b.text("dl.annotations"); !strings.Contains(got, "<img src=x onerror=alert(1)>") {
		t.Errorf("annotation shows %q", got)
	}
	if n := b.count("dl.annotations img"); n != 0 {
		t.Errorf("the annotation made %d img elements", n)
	}
	if got := b.text("main"); !strings.Contains(got, "Layers") || !strings.Contains(got, `"schemaVersion": 2`) || !strings.Contains(got, "Image configuration") {
		t.Errorf("artifact page lacks layers, manifest or configuration: %.300q", got)
	}
	b.shot(shots, "artifact")
	b.axe(axe, "artifact")

	// Members: the LDAP group developers as Developer, bob (onboarded
	// from the directory) as Guest.
	b.open("/projects/webtest/members")
	b.do(chromedp.SetValue(css("#member-kind"), "group"), chromedp.SetValue(css("#member-name"), "developers"),
		chromedp.SetValue(css("#member-role"), "2"))
	b.submit(chromedp.Click(css("#add-member-submit")))
	b.waitPath("/projects/webtest/members")
	b.do(chromedp.SetValue(css("#member-kind"), "user"), chromedp.SetValue(css("#member-name"), "bob"),
		chromedp.SetValue(css("#member-role"), "3"))
	b.submit(chromedp.Click(css("#add-member-submit")))
	b.waitPath("/projects/webtest/members")
	if got := b.text("table"); !strings.Contains(got, "cn=developers,ou=groups,dc=berth,dc=test") || !strings.Contains(got, "bob") {
		t.Errorf("members: %q", got)
	}
	b.shot(shots, "members")
	b.axe(axe, "members")

	// A robot account: the secret is shown once and podman logs in with it.
	b.open("/projects/webtest/robots")
	b.do(chromedp.Click(css("details.card summary")), chromedp.WaitVisible(css("#robot-name-input")),
		chromedp.SendKeys(css("#robot-name-input"), "ci"), chromedp.Click(css("#perm-repository-push")),
	)
	b.submit(chromedp.Click(css("#new-robot-submit")))
	b.do(chromedp.WaitVisible(css("#robot-secret")))
	robot, secret := b.text("#robot-name"), b.text("#robot-secret-value")
	if robot != "robot$webtest+ci" || len(secret) < 16 {
		t.Fatalf("robot %q secret of %d characters", robot, len(secret))
	}
	if b.count(`button.copy[data-copy="`+secret+`"]`) != 1 {
		t.Error("no copy button for the secret")
	}
	runCmd(t, containersEnv(t), secret, podman, "login", "--tls-verify=false", "-u", robot, "--password-stdin", host)
	b.open("/projects/webtest/robots")
	if strings.Contains(b.text("main"), secret) {
		t.Error("the robot page shows the secret again")
	}
	b.shot(shots, "robots")
	b.axe(axe, "robots")

	// Delete an artifact (the confirmation is accepted).
	b.open("/repositories/webtest/app")
	b.submit(chromedp.Click(css(fmt.Sprintf(`tr.artifact[data-digest=%q] button.danger`, appDigest))))
	b.waitPath("/repositories/webtest/app")
	b.do(chromedp.WaitVisible(css(".empty")))
	if n := b.count("tr.artifact"); n != 0 {
		t.Errorf("after the delete the repository shows %d artifacts", n)
	}

	// Administration pages, Korean.
	b.open("/admin/users")
	b.shot(shots, "admin-users")
	b.axe(axe, "admin-users")
	b.open("/admin/auth")
	b.submit(chromedp.Click(css("#ldap-test-button")))
	if got := b.text("#ldap-test"); !strings.Contains(got, "Connected") {
		t.Errorf("LDAP test connection: %q", got)
	}
	b.axe(axe, "admin-auth")
	b.open("/projects")
	b.shot(shots, "projects")
	b.axe(axe, "projects")
	b.submit(chromedp.SetValue(css("#lang-select"), "ko"), chromedp.Submit(css("#lang-select")))
	b.waitPath("/projects")
	if got := b.text("h1"); got != "프로젝트" {
		t.Errorf("after choosing Korean the heading is %q", got)
	}
	b.shot(shots, "projects-ko")
	b.do(chromedp.EmulateViewport(390, 844))
	b.open("/repositories/webtest/tools")
	b.shot(shots, "repository-phone")
	b.submit(chromedp.SetValue(css("#lang-select"), "en"), chromedp.Submit(css("#lang-select")))
	b.waitPath("/repositories/webtest/tools")
	b.do(chromedp.EmulateViewport(1280, 900))

	b.noConsoleErrors("the administrator's pages")

	// Cross-site posts, with the admin's session cookies: a form without
	// the CSRF token, and a login.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		action, fields := base+"/projects", `<input name="name" value="evilproject">`
		if r.URL.Path == "/xlogin" {
			action, fields = base+"/login", `<input name="username" value="admin"><input name="password" value="`+adminPassword+`">`
		}
		fmt.Fprintf(w, `<!doctype html><title>x</title><form id="f" method="post" action="%s">%s</form>
			<script>document.getElementById('f').submit()</script>`, action, fields)
	}))
	defer evil.Close()
	b.do(chromedp.Navigate(evil.URL + "/csrf"))
	b.waitPath("/projects")
	if got := b.text("main"); !strings.Contains(got, "did not come from Berth") {
		t.Errorf("cross-site post without a token: %q", got)
	}
	b.do(chromedp.Navigate(evil.URL + "/xlogin"))
	b.waitPath("/login")
	if got := b.text("main"); !strings.Contains(got, "another site") {
		t.Errorf("cross-site login: %q", got)
	}
	b.open("/projects?q=evilproject")
	if b.count("tbody tr") != 0 {
		t.Error("the cross-site post created a project")
	}
	b.expectRefusals() // the 403s above
	b.logout()

	// alice (LDAP, in cn=developers) sees webtest and public library, not
	// the private secret.
	b.open("/projects")
	b.login("alice", "alice-secret")
	b.waitPath("/projects")
	names := eval[[]string](b, `[...document.querySelectorAll('tbody tr td:first-child a')].map(a => a.textContent)`)
	if !slices.Equal(names, []string{"library", "webtest"}) {
		t.Errorf("alice sees projects %q, want library and webtest", names)
	}
	b.open("/projects/secret")
	if got := b.text("main"); !strings.Contains(got, "permission") {
		t.Errorf("alice opening secret: %q", got)
	}
	b.expectRefusals()
	b.logout()

	// bob, a Guest, sees webtest without edit or delete controls; a forged
	// delete with his own valid token is refused.
	b.open("/repositories/webtest/tools")
	b.login("bob", "bob-secret")
	b.waitPath("/repositories/webtest/tools")
	if n := b.count("tr.artifact"); n != 2 { // tools:1.0 and tools:html
		t.Errorf("bob sees %d artifacts in tools, want 2", n)
	}
	for _, sel := range []string{"button.danger", "form.addtag", "button.x"} {
		if n := b.count(sel); n != 0 {
			t.Errorf("guest sees %d %s", n, sel)
		}
	}
	status := eval[int](b, fmt.Sprintf(`(async () => {
		const body = new URLSearchParams({_csrf: document.querySelector('input[name=_csrf]').value});
		const r = await fetch('/repositories/webtest/tools/-/artifacts/%s/delete', {method: 'POST', body});
		return r.status })()`, htmlDigest))
	if status != http.StatusForbidden {
		t.Errorf("guest's forged delete: %d, want 403", status)
	}
	// Guests may list members and robots (Harbor's matrix) but change
	// nothing; the settings are not theirs.
	for path, sels := range map[string][]string{
		"/projects/webtest/members": {"#add-member", "form[action$='/remove']", "form[action$='/role']"},
		"/projects/webtest/robots":  {"#new-robot", "form[action$='/refresh']", "form[action$='/disable']"},
		"/projects/webtest":         {"#delete-project"},
	} {
		b.open(path)
		for _, sel := range sels {
			if n := b.count(sel); n != 0 {
				t.Errorf("guest sees %d %s on %s", n, sel, path)
			}
		}
	}
	forged := eval[int](b, `(async () => {
		const body = new URLSearchParams({_csrf: document.querySelector('input[name=_csrf]').value, kind: 'user', name: 'bob', role: '1'});
		const r = await fetch('/projects/webtest/members', {method: 'POST', body});
		return r.status })()`)
	if forged != http.StatusForbidden {
		t.Errorf("guest's forged member add: %d, want 403", forged)
	}
	b.open("/projects/webtest/settings")
	if got := b.text("main"); !strings.Contains(got, "permission") {
		t.Errorf("guest opening the settings: %.200q", got)
	}
	b.open("/projects/webtest")
	b.shot(shots, "guest-project")
	b.expectRefusals()
	b.open("/repositories/webtest/tools")
	rows = eval[[]artifactRow](b, rowsJS)
	if len(rows) == 0 {
		t.Error("the forged delete removed the artifact")
	}
	b.logout()
	b.noConsoleErrors("the guest's pages")
	if shots != "" {
		t.Logf("screenshots in %s", filepath.Clean(shots))
	}
}
