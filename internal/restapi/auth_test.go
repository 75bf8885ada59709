package restapi_test

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/config"
)

// login logs in through the portal form and returns the session's
// credentials (cookies and CSRF token).
func (e *env) login(user, pass string) (cred, result) {
	e.t.Helper()
	r := e.do(anonymous, "POST", "/c/login", url.Values{"principal": {user}, "password": {pass}})
	if r.status != http.StatusOK {
		return cred{}, r
	}
	res := http.Response{Header: r.header}
	return cred{Cookies: res.Cookies(), CSRF: r.header.Get("X-Harbor-CSRF-Token")}, r
}

func TestSessionAndCSRF(t *testing.T) { forEachEnv(t, testSessionAndCSRF) }

func testSessionAndCSRF(t *testing.T, e *env) {
	alice, _ := e.addUser("alice", false)
	sess, r := e.login("alice", userPassword)
	if r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.msg)
	}
	if sess.CSRF == "" {
		t.Fatal("login answered no X-Harbor-CSRF-Token")
	}
	var sid, csrf *http.Cookie
	for _, c := range sess.Cookies {
		switch c.Name {
		case "sid":
			sid = c
		case "__csrf":
			csrf = c
		}
	}
	if sid == nil || !sid.HttpOnly || sid.SameSite != http.SameSiteLaxMode || sid.Secure || sid.Path != "/" {
		t.Errorf("session cookie = %+v, want HttpOnly, SameSite=Lax, Path=/, not Secure over http", sid)
	}
	if csrf == nil || csrf.HttpOnly || csrf.Value != sess.CSRF {
		t.Errorf("CSRF cookie = %+v, want a readable copy of the header", csrf)
	}

	project := func(name string) map[string]any { return map[string]any{"project_name": name} }
	noToken := cred{Cookies: sess.Cookies}
	badToken := cred{Cookies: sess.Cookies, CSRF: "forged"}
	tests := []struct {
		name   string
		who    cred
		method string
		path   string
		body   any
		status int
		code   string
	}{
		{"cookie GET needs no token", noToken, "GET", "projects", nil, 200, ""},
		{"cookie POST without token", noToken, "POST", "projects", project("a1"), 403, "FORBIDDEN"},
		{"cookie POST with a wrong token", badToken, "POST", "projects", project("a1"), 403, "FORBIDDEN"},
		{"cookie POST with the token", sess, "POST", "projects", project("a1"), 201, ""},
		{"cookie DELETE without token", noToken, "DELETE", "projects/a1", nil, 403, "FORBIDDEN"},
		{"Basic POST needs no token", alice, "POST", "projects", project("a2"), 201, ""},
		{"tampered cookie is anonymous", cred{Cookies: []*http.Cookie{{Name: "sid", Value: sid.Value + "x"}}}, "POST", "projects", project("a3"), 401, "UNAUTHORIZED"},
		{"wrong password", basic("alice", "Wrong1234"), "GET", "projects", nil, 401, "UNAUTHORIZED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(tt.who, tt.method, tt.path, tt.body)
			if r.status != tt.status || r.code != tt.code {
				t.Errorf("status %d %s %q, want %d %s", r.status, r.code, r.msg, tt.status, tt.code)
			}
		})
	}
	if r := e.do(anonymous, "GET", "projects", nil, "Authorization", "Bearer abc"); r.status != 401 {
		t.Errorf("Bearer: %d, want 401", r.status)
	}
	got := decode[map[string]any](t, e.must(e.do(sess, "GET", "projects/a1", nil), 200))
	if got["owner_name"] != "alice" {
		t.Errorf("a1 = %v, want owned by alice", got)
	}

	// Form problems and robots.
	for _, form := range []url.Values{{"principal": {"alice"}}, {}} {
		if r := e.do(anonymous, "POST", "/c/login", form); r.status != 400 {
			t.Errorf("login %v: %d, want 400", form, r.status)
		}
	}
	if _, r := e.login("robot$x", "secret"); r.status != 401 {
		t.Errorf("robot login: %d, want 401", r.status)
	}
	if _, r := e.login("alice", "Wrong1234"); r.status != 401 || r.code != "UNAUTHORIZED" {
		t.Errorf("bad login: %d %s", r.status, r.code)
	}

	// Disabling the user ends the session at once.
	u, err := e.store().Users.GetUserByName(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	e.must(e.do(admin, "PUT", "users/"+itoa(u.ID)+"/disabled", map[string]bool{"disabled": true}), 200)
	if r := e.do(sess, "GET", "projects", nil); r.status != 401 {
		t.Errorf("disabled user's session: %d, want 401", r.status)
	}

	// Logging out clears the cookies.
	r = e.must(e.do(sess, "GET", "/c/log_out", nil), 200)
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.MaxAge >= 0 {
			t.Errorf("log_out left cookie %s (MaxAge %d)", c.Name, c.MaxAge)
		}
	}
}

// TestLoginThrottle: failed logins past the limit answer 429 with
// Retry-After, on the portal form and on Basic alike.
func TestLoginThrottle(t *testing.T) {
	forEachEnv(t, testLoginThrottle, func(c *config.Config) {
		c.Auth.LoginThrottle = config.LoginThrottle{FailuresPerUser: 3, FailuresPerIP: 100, Window: time.Minute}
	})
}

func testLoginThrottle(t *testing.T, e *env) {
	e.addUser("bob", false)
	for range 3 {
		if _, r := e.login("bob", "Wrong1234"); r.status != 401 {
			t.Fatalf("failed login: %d", r.status)
		}
	}
	_, r := e.login("bob", userPassword)
	if r.status != 429 || r.code != "TOO_MANY_REQUESTS" {
		t.Fatalf("login after 3 failures: %d %s, want 429 TOO_MANY_REQUESTS", r.status, r.code)
	}
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
		t.Errorf("Retry-After = %q, want 1..60 seconds", r.header.Get("Retry-After"))
	}
	if r := e.do(basic("bob", userPassword), "GET", "projects", nil); r.status != 429 || r.header.Get("Retry-After") == "" {
		t.Errorf("Basic while throttled: %d, Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	e.must(e.do(admin, "GET", "projects", nil), 200) // others are not affected
}
