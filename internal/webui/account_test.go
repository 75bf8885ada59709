package webui_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestChangePassword: a wrong current password or a mismatch is refused
// in place; a change ends the session, and the new password logs in.
func TestChangePassword(t *testing.T) {
	e := newEnv(t)
	e.addUser("dana")
	c := e.login("dana", userPassword)
	for name, form := range map[string]url.Values{
		"wrong current password": {"old": {"Wrong1234"}, "new": {"N3wPassword"}, "confirm": {"N3wPassword"}},
		"mismatch":               {"old": {userPassword}, "new": {"N3wPassword"}, "confirm": {"N3wPasswordX"}},
		"weak":                   {"old": {userPassword}, "new": {"short"}, "confirm": {"short"}},
	} {
		if r := c.post("/account/password", form, true); r.status != http.StatusBadRequest || !strings.Contains(r.body, `role="alert"`) {
			t.Errorf("%s: %d", name, r.status)
		}
	}
	r := c.post("/account/password", url.Values{"old": {userPassword}, "new": {"N3wPassword"}, "confirm": {"N3wPassword"}}, true)
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/login") {
		t.Fatalf("change: %d %q", r.status, r.header.Get("Location"))
	}
	if r := c.get("/projects"); r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/login") {
		t.Errorf("the old session still works: %d", r.status)
	}
	if r := e.anonymous().post("/login", url.Values{"username": {"dana"}, "password": {userPassword}}, false); r.status != http.StatusUnauthorized {
		t.Errorf("the old password: %d", r.status)
	}
	e.login("dana", "N3wPassword")
}

// TestLogout ends the session on every replica (its generation moves on):
// the old cookie no longer works.
func TestLogout(t *testing.T) {
	e := newEnv(t)
	c := e.login("admin", adminPassword)
	old := c.http.Jar.Cookies(mustURL(t, e.srv.URL))
	if r := c.post("/logout", nil, true); r.status != http.StatusSeeOther || r.header.Get("Location") != "/login" {
		t.Fatalf("logout: %d %q", r.status, r.header.Get("Location"))
	}
	replay := e.anonymous()
	replay.http.Jar.SetCookies(mustURL(t, e.srv.URL), old)
	if r := replay.get("/projects"); r.status != http.StatusSeeOther {
		t.Errorf("the logged-out cookie still works: %d", r.status)
	}
}
