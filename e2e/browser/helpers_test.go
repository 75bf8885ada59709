// Package browser drives the web portal in a real headless Chromium
// (chromedp) against a Berth started in-process, with real clients
// (crane, podman) and the test directory (slapd). scripts/test's browser
// step runs it; it needs BERTH_TEST_CHROMIUM, BERTH_TEST_LDAP,
// BERTH_TEST_AXE (axe-core's axe.min.js) and crane and podman on PATH.
// With BERTH_TEST_SCREENSHOTS set, it writes a screenshot of each main
// page there.
package browser

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/berth-registry/berth/internal/app"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/identity/ldap"
)

const adminPassword = "Admin12345"

// startBerth runs Berth (SQLite, filesystem) with auth_mode ldap_auth on
// the test directory and returns its host:port.
func startBerth(t *testing.T, ldapURL string) string {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Load("", func(k string) string {
		return map[string]string{"BERTH_HTTP_ADDR": "127.0.0.1:0", "BERTH_DATA_DIR": dir, "BERTH_SHUTDOWN_TIMEOUT": "5s",
			"BERTH_ADMIN_PASSWORD": adminPassword}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Auth.AuthMode = config.AuthModeLDAP
	l := ldap.DefaultConfig()
	l.URL, l.SearchDN, l.SearchPassword = ldapURL, "cn=berth-search,ou=services,dc=berth,dc=test", "search-secret"
	l.BaseDN, l.Filter = "ou=people,dc=berth,dc=test", "(objectClass=inetOrgPerson)"
	l.GroupBaseDN, l.GroupFilter = "ou=groups,dc=berth,dc=test", "(objectClass=groupOfNames)"
	l.GroupAdminDN = "cn=berth-admins,ou=groups,dc=berth,dc=test"
	cfg.LDAP = l
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- app.Serve(ctx, cfg, slog.New(slog.DiscardHandler), func(a net.Addr) { addrc <- a.String() })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	select {
	case a := <-addrc:
		return a
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Berth did not start")
	}
	return ""
}

// browser is one Chromium with one tab, collecting console errors.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string // http://host:port

	mu     sync.Mutex
	errors []string
}

func newBrowser(t *testing.T, chromium, base string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelC(); cancelA() })
	b := &browser{t: t, ctx: ctx, base: base}
	if err := chromedp.Do(ctx); err != nil { // starts the browser, for the life of ctx
		t.Fatalf("start chromium: %v", err)
	}
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() { // confirm(): accept
		for _, err := range dialogs {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	console := chromedp.Console(ctx)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				b.addError(m.String())
			}
		}
	}()
	return b
}

func (b *browser) addError(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errors = append(b.errors, s)
}

// expectRefusals forgets the console errors so far: the test has just
// made the server refuse something, which the browser logs as a failed
// load (4xx).
func (b *browser) expectRefusals() {
	time.Sleep(200 * time.Millisecond) // let the log entries arrive
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errors = nil
}

// noConsoleErrors fails the test for every console error since the last
// check or expected refusal.
func (b *browser) noConsoleErrors(where string) {
	b.t.Helper()
	time.Sleep(200 * time.Millisecond)
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.errors {
		b.t.Errorf("browser console on %s: %s", where, e)
	}
	b.errors = nil
}

// do runs actions in order and fails the test on an error.
func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// get runs one action and returns its value.
func get[T any](b *browser, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("browser: %v", err)
	}
	return v
}

// eval evaluates a JavaScript expression, awaiting a promise.
func eval[T any](b *browser, js string) T {
	b.t.Helper()
	return get(b, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
}

// css is a CSS selector.
func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

// open navigates to path and waits for the page's main element.
func (b *browser) open(path string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	err := chromedp.Do(ctx, chromedp.Navigate(b.base+path))
	if err != nil {
		b.t.Logf("navigate %s: %v (location %s)", path, err, get(b, chromedp.Location()))
		b.do(chromedp.Navigate(b.base + path))
	}
	b.do(chromedp.WaitReady(css("#main")))
}

// waitPath waits until the page's path (and query) starts with prefix.
func (b *browser) waitPath(prefix string) {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var loc string
	for time.Now().Before(deadline) {
		loc = get(b, chromedp.Location())
		if u, err := url.Parse(loc); err == nil && strings.HasPrefix(u.RequestURI(), prefix) {
			b.do(chromedp.WaitReady(css("#main")))
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("page is %s, want %s...", loc, prefix)
}

// submit runs actions that submit a form (or otherwise load a new
// document) and waits until the new document has loaded.
func (b *browser) submit(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	get(b, chromedp.Evaluate[bool]("window.__berthOld = true"))
	b.do(actions...)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		done, err := chromedp.Run(ctx, chromedp.Evaluate[bool](
			"window.__berthOld === undefined && document.readyState === 'complete' && !!document.getElementById('main')"))
		cancel()
		if err == nil && done {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatal("the form's answer did not load")
}

// text is the text of the first element matching sel.
func (b *browser) text(sel string) string {
	b.t.Helper()
	return strings.TrimSpace(get(b, chromedp.Text(css(sel))))
}

// count is how many elements match sel.
func (b *browser) count(sel string) int {
	b.t.Helper()
	return eval[int](b, fmt.Sprintf("document.querySelectorAll(%q).length", sel))
}

// login logs in through the form (already on the login page).
func (b *browser) login(user, pass string) {
	b.t.Helper()
	b.do(chromedp.WaitVisible(css("#username")),
		chromedp.SetValue(css("#username"), user),
		chromedp.SetValue(css("#password"), pass))
	b.submit(chromedp.Click(css("#login-submit")))
}

// logout presses Log out and waits for the login page.
func (b *browser) logout() {
	b.t.Helper()
	b.submit(chromedp.Click(css("#logout")))
	b.waitPath("/login")
}

// shot writes a screenshot of the page to dir/name.png when dir is set.
func (b *browser) shot(dir, name string) {
	b.t.Helper()
	if dir == "" {
		return
	}
	buf := get(b, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// axe runs axe-core on the page and fails on serious or critical
// violations.
func (b *browser) axe(script, page string) {
	b.t.Helper()
	if !eval[bool](b, "(function(){"+script+"\n;return typeof axe === 'object'})()") {
		b.t.Fatal("axe-core did not load")
	}
	found := eval[[]string](b, `axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})
		.then(r => r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
		.map(v => v.impact + ' ' + v.id + ': ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | ')))`)
	for _, f := range found {
		b.t.Errorf("axe on %s: %s", page, f)
	}
}

// layerTar is an uncompressed layer holding one small file.
func layerTar(t *testing.T, name, content string) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), ModTime: time.Unix(1700000000, 0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "layer.tar")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// run runs a client and fails the test on error; stdin may be "".
func runCmd(t *testing.T, env []string, stdin string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s\n%s", filepath.Base(name), strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// containersEnv gives podman a private, throwaway world (as e2e does).
func containersEnv(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, d := range []string{"xdg", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return []string{
		"CONTAINERS_STORAGE_CONF=" + write("storage.conf", fmt.Sprintf("[storage]\ndriver = \"vfs\"\ngraphroot = %q\nrunroot = %q\n",
			filepath.Join(dir, "graph"), filepath.Join(dir, "run"))),
		"CONTAINERS_CONF=" + write("containers.conf", fmt.Sprintf("[engine]\nevents_logger = \"file\"\nevents_logfile_path = %q\ncgroup_manager = \"cgroupfs\"\ntmp_dir = %q\n",
			filepath.Join(dir, "events.log"), filepath.Join(dir, "tmp"))),
		"CONTAINERS_REGISTRIES_CONF=" + write("registries.conf", "unqualified-search-registries = []\n"),
		"REGISTRY_AUTH_FILE=" + write("auth.json", `{"auths":{}}`),
		"XDG_RUNTIME_DIR=" + filepath.Join(dir, "xdg"),
		"TMPDIR=" + filepath.Join(dir, "tmp"),
	}
}
