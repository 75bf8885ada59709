package webui

import (
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Languages the portal speaks; the first is the default.
var languages = []string{"en", "ko"}

// langCookie keeps the language a user chose.
const langCookie = "berth_lang"

//go:embed messages/*.json
var messageFS embed.FS

// catalog maps message keys to text in one language. Text may hold %s
// verbs filled by T's arguments.
type catalog map[string]string

// T is key's text; a missing key shows as "!key!" (and a test fails).
func (c catalog) T(key string, args ...any) string {
	s, ok := c[key]
	if !ok {
		return "!" + key + "!"
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// loadCatalogs reads messages/<lang>.json of every language.
func loadCatalogs() (map[string]catalog, error) {
	out := map[string]catalog{}
	for _, l := range languages {
		raw, err := messageFS.ReadFile("messages/" + l + ".json")
		if err != nil {
			return nil, fmt.Errorf("portal messages %s: %w", l, err)
		}
		var c catalog
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("portal messages %s: %w", l, err)
		}
		out[l] = c
	}
	return out, nil
}

// chooseLang picks the request's language: the cookie a user set, else
// the first supported language of Accept-Language, else English.
func chooseLang(r *http.Request) string {
	if c, err := r.Cookie(langCookie); err == nil && supported(c.Value) {
		return c.Value
	}
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		base, _, _ := strings.Cut(strings.ToLower(tag), "-")
		if supported(base) {
			return base
		}
	}
	return languages[0]
}

func supported(l string) bool {
	for _, s := range languages {
		if s == l {
			return true
		}
	}
	return false
}

// setLang is POST /lang: remembers the chosen language and goes back.
func (u *UI) setLang(c *call) error {
	l := c.r.PostForm.Get("lang")
	if !supported(l) {
		return errBadForm
	}
	http.SetCookie(c.w, &http.Cookie{Name: langCookie, Value: l, Path: "/", MaxAge: 365 * 24 * 3600,
		SameSite: http.SameSiteLaxMode, HttpOnly: true})
	return redirect(c, safeNext(c.r.PostForm.Get("next")))
}

// safeNext keeps a "next" target only when it is a path of this site
// (no scheme, no host, no "//" or "/\" that a browser reads as a host).
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsAny(next, "\r\n") {
		return "/projects"
	}
	return next
}
