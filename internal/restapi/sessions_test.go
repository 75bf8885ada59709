package restapi_test

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"
)

// TestSessionsEnd (issue 15, finding 7): a session cookie captured before
// a password change, an admin's password reset, disabling the user or a
// logout is refused after it, also once the user is enabled again; and a
// new account under an old name does not inherit the old one's sessions.
func TestSessionsEnd(t *testing.T) { forEachEnv(t, testSessionsEnd) }

func testSessionsEnd(t *testing.T, e *env) {
	uid := func(name string) string {
		u, err := e.store().Users.GetUserByName(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		return "users/" + itoa(u.ID)
	}
	tests := []struct {
		name  string
		event func(user string, sess cred)
	}{
		{"password change", func(user string, _ cred) {
			e.must(e.do(basic(user, userPassword), "PUT", uid(user)+"/password",
				map[string]string{"old_password": userPassword, "new_password": "Changed123"}), 200)
		}},
		{"password reset by an administrator", func(user string, _ cred) {
			e.must(e.do(admin, "PUT", uid(user)+"/password", map[string]string{"new_password": "Reset1234"}), 200)
		}},
		{"disabling (and enabling again)", func(user string, _ cred) {
			e.must(e.do(admin, "PUT", uid(user)+"/disabled", map[string]bool{"disabled": true}), 200)
			e.must(e.do(admin, "PUT", uid(user)+"/disabled", map[string]bool{"disabled": false}), 200)
		}},
		{"logout", func(_ string, sess cred) {
			e.must(e.do(sess, "GET", "/c/log_out", nil), 200)
		}},
		{"the account deleted and created again", func(user string, _ cred) {
			e.must(e.do(admin, "DELETE", uid(user), nil), 200)
			e.addUser(user, false)
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			user := "sess" + itoa(int64(i))
			e.addUser(user, false)
			sess, r := e.login(user, userPassword)
			e.must(r, 200)
			other, r := e.login(user, userPassword) // a second browser
			e.must(r, 200)
			e.must(e.do(sess, "GET", "users/current", nil), 200)
			tt.event(user, sess)
			for _, c := range []cred{sess, other} {
				if r := e.do(c, "GET", "users/current", nil); r.status != 401 {
					t.Errorf("session captured before: GET users/current = %d %s, want 401", r.status, r.msg)
				}
			}
		})
	}
	// Sessions started after the event work.
	e.addUser("later", false)
	e.must(e.do(admin, "PUT", uid("later")+"/password", map[string]string{"new_password": "Reset1234"}), 200)
	sess, r := e.login("later", "Reset1234")
	e.must(r, 200)
	e.must(e.do(sess, "GET", "users/current", nil), 200)
}

// TestLoginRefusesCrossSite (issue 15, finding 7): POST /c/login answers
// 403 to a cross-site request (Origin of another site, or Sec-Fetch-Site:
// cross-site), so another site cannot log a browser in.
func TestLoginRefusesCrossSite(t *testing.T) { forEachEnv(t, testLoginRefusesCrossSite) }

func testLoginRefusesCrossSite(t *testing.T, e *env) {
	e.addUser("dana", false)
	form := url.Values{"principal": {"dana"}, "password": {userPassword}}
	self := e.base // the test server's own origin
	tests := []struct {
		name string
		hdr  []string
		want int
	}{
		{"no Origin (a script or an old browser)", nil, 200},
		{"same origin", []string{"Origin", self}, 200},
		{"same origin, same-origin fetch", []string{"Origin", self, "Sec-Fetch-Site", "same-origin"}, 200},
		{"another origin", []string{"Origin", "http://evil.invalid"}, 403},
		{"another port", []string{"Origin", "http://127.0.0.1:1"}, 403},
		{"opaque origin", []string{"Origin", "null"}, 403},
		{"cross-site fetch", []string{"Sec-Fetch-Site", "cross-site"}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(anonymous, "POST", "/c/login", form, tt.hdr...)
			if r.status != tt.want {
				t.Errorf("status %d %s %q, want %d", r.status, r.code, r.msg, tt.want)
			}
			if tt.want == 403 && len((&http.Response{Header: r.header}).Cookies()) > 0 {
				t.Error("a refused login set cookies")
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
