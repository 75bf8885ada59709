package webui_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestSecurityHeaders: every page forbids inline scripts and framing, and
// holds no inline script or style attribute the policy would block.
func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t)
	inline := regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]|<script>|\son[a-z]+=|\sstyle=`)
	for _, path := range []string{"/login", "/projects", "/projects/p", "/projects/p/members", "/projects/p/robots",
		"/projects/p/settings", "/projects/p/logs", "/repositories/p/app", "/repositories/p/app/-/artifacts/" + f.digest.String(),
		"/admin/users", "/admin/auth", "/admin/system", "/admin/logs", "/account/password", "/nothere"} {
		t.Run(path, func(t *testing.T) {
			r := f.clients["admin"].get(path)
			csp := r.header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") ||
				!strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			if r.header.Get("X-Frame-Options") != "DENY" || r.header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("X-Frame-Options %q, X-Content-Type-Options %q", r.header.Get("X-Frame-Options"), r.header.Get("X-Content-Type-Options"))
			}
			if m := inline.FindString(r.body); m != "" {
				t.Errorf("inline script or style: %q", m)
			}
		})
	}
}

// TestEveryPostFormCarriesToken: every state-changing form of every page
// is a POST with the CSRF token (the login form has no session yet), and
// no form changes state with GET.
func TestEveryPostFormCarriesToken(t *testing.T) {
	f := newFixture(t)
	form := regexp.MustCompile(`(?s)<form([^>]*)>(.*?)</form>`)
	for _, path := range []string{"/projects", "/projects/p", "/projects/p/members", "/projects/p/robots", "/projects/p/settings",
		"/repositories/p/app", "/repositories/p/app/-/artifacts/" + f.digest.String(), "/admin/users", "/admin/auth", "/account/password"} {
		body := f.clients["admin"].get(path).body
		forms := form.FindAllStringSubmatch(body, -1)
		if len(forms) == 0 {
			t.Errorf("%s: no form", path)
		}
		for _, m := range forms {
			attrs, inner := m[1], m[2]
			switch {
			case strings.Contains(attrs, `method="get"`):
				if !strings.Contains(attrs, `role="search"`) {
					t.Errorf("%s: a GET form that is not a search: %s", path, attrs)
				}
			case !strings.Contains(attrs, `method="post"`):
				t.Errorf("%s: a form without method: %s", path, attrs)
			case !strings.Contains(inner, `name="_csrf" value="`) || strings.Contains(inner, `name="_csrf" value=""`):
				t.Errorf("%s: a POST form without the CSRF token: %s", path, attrs)
			}
		}
	}
}

// TestCSRF: a session's POST without its token, or with another, is
// refused and changes nothing; a cross-site login is refused.
func TestCSRF(t *testing.T) {
	f := newFixture(t)
	admin := f.clients["admin"]
	other := f.env.login("owner", userPassword).token()
	for name, form := range map[string]url.Values{
		"no token":            {"name": {"evil1"}},
		"another's token":     {"name": {"evil2"}, "_csrf": {other}},
		"token in the header": {"name": {"evil3"}},
	} {
		t.Run(name, func(t *testing.T) {
			var hdr []string
			if name == "token in the header" { // a form cannot set it, but a script on another site cannot read it
				hdr = []string{"X-Harbor-CSRF-Token", "wrong"}
			}
			r := admin.post("/projects", form, false, hdr...)
			if r.status != http.StatusForbidden || !strings.Contains(r.body, "did not come from Berth") {
				t.Errorf("status %d: %.200s", r.status, r.body)
			}
			if _, err := f.store.Projects.GetProjectByName(t.Context(), form.Get("name")); err == nil {
				t.Error("the project was created")
			}
		})
	}
	t.Run("cross-site login", func(t *testing.T) {
		c := f.env.anonymous()
		r := c.post("/login", url.Values{"username": {"admin"}, "password": {adminPassword}}, false,
			"Origin", "http://127.0.0.2:1", "Sec-Fetch-Site", "cross-site")
		if r.status != http.StatusForbidden || r.header.Get("Set-Cookie") != "" {
			t.Errorf("status %d, cookies %q", r.status, r.header.Get("Set-Cookie"))
		}
	})
	t.Run("same-site login", func(t *testing.T) {
		c := f.env.anonymous()
		r := c.post("/login", url.Values{"username": {"admin"}, "password": {adminPassword}, "next": {"/repositories/p/app"}}, false,
			"Origin", f.srv.URL, "Sec-Fetch-Site", "same-origin")
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/repositories/p/app" {
			t.Errorf("status %d, location %q", r.status, r.header.Get("Location"))
		}
	})
}

// TestLoginNextStaysOnSite: after login the portal goes back to the page
// asked for, never to another site.
func TestLoginNextStaysOnSite(t *testing.T) {
	e := newEnv(t)
	for next, want := range map[string]string{
		"/admin/system":          "/admin/system",
		"/projects?q=a&page=2":   "/projects?q=a&page=2",
		"//elsewhere.test/x":     "/projects",
		"/\\elsewhere.test":      "/projects",
		"http://elsewhere.test/": "/projects",
		"":                       "/projects",
	} {
		r := e.anonymous().post("/login", url.Values{"username": {"admin"}, "password": {adminPassword}, "next": {next}}, false)
		if r.status != http.StatusSeeOther || r.header.Get("Location") != want {
			t.Errorf("next %q: %d %q, want %q", next, r.status, r.header.Get("Location"), want)
		}
	}
}

// TestOutputEscaped: text from the registry and from requests renders as
// text: an annotation holding HTML, a refused project name echoed in the
// error, a search query and the login page's next.
func TestOutputEscaped(t *testing.T) {
	f := newFixture(t)
	const evil = `<img src=x onerror=alert(1)><script>alert(2)</script>`
	d := f.pushImage("p/app", "evil", map[string]string{"org.example.note": evil, "org.example.<b>key</b>": "v"}, "html")
	admin := f.clients["admin"]
	checks := []struct {
		name string
		r    result
	}{
		{"annotation", admin.get("/repositories/p/app/-/artifacts/" + d.String())},
		{"refused project name", admin.post("/projects", url.Values{"name": {evil}}, true)},
		{"project search", admin.get("/projects?q=" + url.QueryEscape(evil))},
		{"repository search", admin.get("/projects/p?q=" + url.QueryEscape(evil))},
		{"user search", admin.get("/admin/users?q=" + url.QueryEscape(evil))},
		{"login next", f.env.anonymous().get("/login?next=" + url.QueryEscape("/x\"><script>alert(3)</script>"))},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			for _, bad := range []string{"<img src=x", "<script>alert", "<b>key"} {
				if strings.Contains(c.r.body, bad) {
					t.Errorf("the page holds %q unescaped", bad)
				}
			}
		})
	}
	if !strings.Contains(checks[0].r.body, "&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(2)&lt;/script&gt;") {
		t.Error("the annotation is not shown as text")
	}
	if checks[1].r.status != http.StatusBadRequest || !strings.Contains(checks[1].r.body, `id="new-project-error"`) {
		t.Errorf("refused name: %d", checks[1].r.status)
	}
}

// TestPagesTranslated: every page renders in both languages with no
// missing key, and Korean pages say so.
func TestPagesTranslated(t *testing.T) {
	f := newFixture(t)
	missing := regexp.MustCompile(`![a-z]+\.[a-zA-Z0-9_.:]+!`)
	paths := []string{"/login", "/projects", "/projects/p", "/projects/p/members", "/projects/p/robots", "/projects/p/settings",
		"/projects/p/logs", "/repositories/p/app", "/repositories/p/app/-/artifacts/" + f.digest.String(), "/admin/users",
		"/admin/auth", "/admin/system", "/admin/logs", "/account/password", "/projects/nothere"}
	for _, lang := range []string{"en", "ko"} {
		for _, path := range paths {
			req, err := http.NewRequest(http.MethodGet, f.srv.URL+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Accept-Language", lang)
			c := f.clients["admin"]
			if path == "/login" {
				c = f.clients["anonymous"]
			}
			r := c.do(req)
			if m := missing.FindString(r.body); m != "" {
				t.Errorf("%s %s: missing key %s", lang, path, m)
			}
			if !strings.Contains(r.body, `<html lang="`+lang+`">`) {
				t.Errorf("%s %s: not in %s", lang, path, lang)
			}
		}
	}
}
