package webui

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/access"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// staticHandler serves the embedded CSS and JavaScript, cached for a day.
func staticHandler() http.Handler {
	sub, _ := fs.Sub(staticFS, "static") // the directory is embedded
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		files.ServeHTTP(w, r)
	})
}

// pages are the parsed templates: one set per page, each with the layout.
type pages struct {
	byName map[string]*template.Template
}

// funcs are the template helpers. T is replaced per request by the
// request's catalog (view.T); here it only makes the templates parse.
var funcs = template.FuncMap{
	"size":     humanSize,
	"when":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"short":    shortDigest,
	"role":     func(r int) string { return access.Role(r).String() },
	"add":      func(a, b int) int { return a + b },
	"join":     strings.Join,
	"jsonpp":   prettyJSON,
	"contains": strings.Contains,
}

func loadPages() (*pages, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	p := &pages{byName: map[string]*template.Template{}}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("portal template %s: %w", base, err)
		}
		p.byName[base] = t
	}
	return p, nil
}

// view is what every page's template gets.
type view struct {
	Lang  string
	Cat   catalog
	User  access.Principal
	CSRF  string
	Path  string // the request's path and query (the "next" of forms)
	Title string
	Host  string // the registry's host:port for client commands
	Data  any
}

// T translates key in the request's language; args fill %s verbs.
func (v view) T(key string, args ...any) string { return v.Cat.T(key, args...) }

// LoggedIn reports whether a user is logged in.
func (v view) LoggedIn() bool { return v.User.Authenticated() }

// Admin reports whether the user is a system administrator.
func (v view) Admin() bool { return access.HumanAdmin(v.User) }

// render writes page name with data and the HTTP status.
func (u *UI) render(c *call, status int, name, titleKey string, data any) {
	t, ok := u.pages.byName[name]
	if !ok {
		u.log.ErrorContext(c.r.Context(), "portal template missing", "template", name)
		http.Error(c.w, "internal error", http.StatusInternalServerError)
		return
	}
	cat := u.cats[c.lang]
	v := view{Lang: c.lang, Cat: cat, User: c.p, CSRF: c.csrf, Path: c.r.URL.RequestURI(),
		Title: cat.T(titleKey), Host: u.registryHost(c.r), Data: data}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		u.log.ErrorContext(c.r.Context(), "portal template failed", "template", name, "err", err)
		http.Error(c.w, "internal error", http.StatusInternalServerError)
		return
	}
	c.w.Header().Set("Content-Type", "text/html; charset=utf-8")
	c.w.Header().Set("Cache-Control", "no-store")
	c.w.Header().Set("Content-Language", c.lang)
	c.w.WriteHeader(status)
	_, _ = c.w.Write(buf.Bytes())
}

// humanSize is n bytes in binary units ("1.5 MiB").
func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Ago is how long before now t was, roughly ("3 min", "2 h", "5 d"), in
// the request's language; the page shows the exact time beside it.
func (v view) Ago(t time.Time) string {
	key, n := ago(t, time.Now())
	if key == "" {
		return "—"
	}
	return v.T(key, n)
}

// ago is the message key and number saying how long before now t was; ""
// for the zero time.
func ago(t, now time.Time) (string, int) {
	if t.IsZero() {
		return "", 0
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "time.now", 0
	case d < time.Hour:
		return "time.minutes", int(d / time.Minute)
	case d < 48*time.Hour:
		return "time.hours", int(d / time.Hour)
	}
	return "time.days", int(d / (24 * time.Hour))
}

// shortDigest is a digest's algorithm and first 12 hex digits.
func shortDigest(d fmt.Stringer) string {
	s := d.String()
	alg, hex, ok := strings.Cut(s, ":")
	if !ok || len(hex) <= 12 {
		return s
	}
	return alg + ":" + hex[:12]
}

// prettyJSON indents a JSON document; anything else is returned as is.
func prettyJSON(b []byte) string {
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return string(b)
	}
	return out.String()
}

// IsUser reports whether a user (not a robot) is logged in.
func (v view) IsUser() bool { return v.User.Kind == access.KindUser }

// pager is a list's paging with the view, for the "paging" template.
type pager struct {
	P paging
	V view
}

// Pager pairs a list's paging with the view.
func (v view) Pager(p paging) pager { return pager{P: p, V: v} }
