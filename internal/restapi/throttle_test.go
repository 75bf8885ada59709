package restapi_test

import (
	"testing"
)

// TestLoginThrottleByAccount (issue 15, finding 3): under ldap_auth the
// directory matches CAROL and "carol " to carol, so the per-user limit
// counts the name case-folded and trimmed, and per account: spelling the
// name differently gains no attempts.
func TestLoginThrottleByAccount(t *testing.T) {
	body := slapdSettings(t)
	forEachAcct(t, func(t *testing.T, e *acctEnv) { testLoginThrottleByAccount(t, e, body) }, throttled(3))
}

func testLoginThrottleByAccount(t *testing.T, e *acctEnv, body map[string]any) {
	e.must(e.do(acctAdmin, "PUT", "/configurations", body), 200)
	// carol logs in once (onboarded), so that her account is known.
	e.must(e.do(acctCred{"carol", "carol-secret"}, "GET", "/users/current", nil), 200)
	steps := []struct {
		name string
		cred acctCred
		want int
	}{
		{"CAROL, right password (the directory matches her)", acctCred{"CAROL", "carol-secret"}, 200},
		{"carol, wrong", acctCred{"carol", "wrong-1"}, 401},
		{"CAROL, wrong", acctCred{"CAROL", "wrong-2"}, 401},
		{"carol with a trailing space, wrong", acctCred{"carol ", "wrong-3"}, 401},
		{"carol, right: throttled", acctCred{"carol", "carol-secret"}, 429},
		{"CAROL, right: throttled", acctCred{"CAROL", "carol-secret"}, 429},
		{"Carol with spaces, wrong: throttled", acctCred{" Carol ", "wrong-4"}, 429},
		{"another user is not affected", acctCred{"alice", "alice-secret"}, 200},
	}
	for _, st := range steps {
		if r := e.do(st.cred, "GET", "/users/current", nil); r.status != st.want {
			t.Errorf("%s: %d %s %q, want %d", st.name, r.status, r.code, r.msg, st.want)
		}
	}
}

// TestOldPasswordThrottled (issue 15, finding 3): a wrong old_password on
// PUT /users/{id}/password counts as a failed login of the account: past
// the limit the change answers 429, and so do the account's logins.
func TestOldPasswordThrottled(t *testing.T) { forEachAcct(t, testOldPasswordThrottled, throttled(3)) }

func testOldPasswordThrottled(t *testing.T, e *acctEnv) {
	alice, u := e.user("alice", false, nil)
	path := "/users/" + id(u.ID) + "/password"
	for i := range 3 {
		r := e.do(alice, "PUT", path, map[string]string{"old_password": "Guess" + id(int64(i)) + "Pass", "new_password": "Alice2Pass"})
		if r.status != 403 {
			t.Fatalf("wrong old password %d: %d %s %q, want 403", i, r.status, r.code, r.msg)
		}
	}
	r := e.do(alice, "PUT", path, map[string]string{"old_password": "AlicePass1", "new_password": "Alice2Pass"})
	if r.status != 429 || r.header.Get("Retry-After") == "" {
		t.Errorf("password change past the limit: %d %s %q (Retry-After %q), want 429", r.status, r.code, r.msg, r.header.Get("Retry-After"))
	}
	if r := e.do(alice, "GET", "/users/current", nil); r.status != 429 {
		t.Errorf("login past the limit: %d %s %q, want 429", r.status, r.code, r.msg)
	}
	e.must(e.do(acctAdmin, "GET", "/users/current", nil), 200) // others are not affected
}
