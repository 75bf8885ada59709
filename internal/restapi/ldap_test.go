package restapi_test

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/testenv"
)

// These tests talk to the slapd of scripts/services/slapd.sh (its header
// lists the directory) at BERTH_TEST_LDAP.

const developersDN = "cn=developers,ou=groups,dc=berth,dc=test"

// slapdSettings is the PUT /configurations body switching to the test
// directory.
func slapdSettings(t *testing.T) map[string]any {
	t.Helper()
	return map[string]any{
		"auth_mode":                "ldap_auth",
		"ldap_url":                 testenv.Require(t, "BERTH_TEST_LDAP"),
		"ldap_search_dn":           "cn=berth-search,ou=services,dc=berth,dc=test",
		"ldap_search_password":     "search-secret",
		"ldap_base_dn":             "ou=people,dc=berth,dc=test",
		"ldap_filter":              "(objectClass=inetOrgPerson)",
		"ldap_uid":                 "uid",
		"ldap_scope":               2,
		"ldap_group_base_dn":       "ou=groups,dc=berth,dc=test",
		"ldap_group_search_filter": "(objectClass=groupOfNames)",
		"ldap_group_admin_dn":      "cn=berth-admins,ou=groups,dc=berth,dc=test",
	}
}

// ping posts body to /ldap/ping as the administrator and returns Harbor's
// LdapPingResult; the status must be 200 whatever the outcome.
func (e *acctEnv) ping(t *testing.T, body any) ldapPingJSON {
	t.Helper()
	var res ldapPingJSON
	r := e.do(acctAdmin, "POST", "/ldap/ping", body)
	if r.status != 200 {
		t.Fatalf("ping: %d %s %q, want 200 with success true or false", r.status, r.code, r.msg)
	}
	e.decode(r, &res)
	return res
}

// TestLDAPPing: the ping answers 200 with Harbor's {"success": ...,
// "message": ...} whether the directory answers or not (Harbor's portal
// reads success), 400 only for a body that is not JSON.
func TestLDAPPing(t *testing.T) {
	body := slapdSettings(t)
	forEachAcct(t, func(t *testing.T, e *acctEnv) { testLDAPPing(t, e, body) })
}

func testLDAPPing(t *testing.T, e *acctEnv, body map[string]any) {
	alice, _ := e.user("localuser", false, nil)

	e.run(t, []acctCase{
		{"ping anonymous", acctAnon, "POST", "/ldap/ping", body, 401},
		{"ping user", alice, "POST", "/ldap/ping", body, 403},
		{"ping not JSON", acctAdmin, "POST", "/ldap/ping", []byte("{"), 400},
	})
	if res := e.ping(t, nil); res.Success || !strings.Contains(res.Message, "ldap_url") {
		t.Errorf("ping unconfigured = %+v, want success false naming ldap_url", res)
	}
	if res := e.ping(t, body); !res.Success {
		t.Errorf("ping given settings = %+v", res)
	}

	e.must(e.do(acctAdmin, "PUT", "/configurations", body), 200)
	for _, tc := range []struct {
		name string
		body any
		ok   bool
		msg  string
	}{
		{"current settings, no body", nil, true, ""},
		{"current settings, empty object", map[string]any{}, true, ""},
		{"empty password keeps the stored one", map[string]any{"ldap_search_password": ""}, true, ""},
		{"wrong password", map[string]any{"ldap_search_password": "wrong"}, false, "ldap"},
		{"wrong search dn and password", map[string]any{"ldap_search_dn": "cn=nobody,dc=berth,dc=test", "ldap_search_password": "x"}, false, "ldap"},
		{"missing base dn", map[string]any{"ldap_base_dn": "ou=nowhere,dc=berth,dc=test"}, false, "ldap_base_dn"},
		{"unreachable", map[string]any{"ldap_url": "ldap://127.0.0.1:1", "ldap_search_password": "search-secret", "ldap_connection_timeout": 2}, false, "unavailable"},
		{"bad url", map[string]any{"ldap_url": "http://x"}, false, "ldap_url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := e.ping(t, tc.body)
			if res.Success != tc.ok || !strings.Contains(res.Message, tc.msg) {
				t.Errorf("ping = %+v, want success %t mentioning %q", res, tc.ok, tc.msg)
			}
			if strings.Contains(res.Message, "search-secret") || strings.Contains(res.Message, "wrong") && tc.name == "wrong password" {
				t.Errorf("message %q holds a password", res.Message)
			}
		})
	}
}

// TestLDAPPingKeepsTheStoredPasswordHome (issue 15, finding 5): when the
// body names another server or another search DN (or weakens TLS), the
// stored search password is not sent: the body must bring the password.
func TestLDAPPingKeepsTheStoredPasswordHome(t *testing.T) {
	body := slapdSettings(t)
	forEachAcct(t, func(t *testing.T, e *acctEnv) { testLDAPPingKeepsTheStoredPasswordHome(t, e, body) })
}

func testLDAPPingKeepsTheStoredPasswordHome(t *testing.T, e *acctEnv, body map[string]any) {
	e.must(e.do(acctAdmin, "PUT", "/configurations", body), 200)

	// A listener standing for a server the administrator's browser (or
	// whoever forged the request) points the ping at: it records what
	// arrives.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan []byte, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			b, _ := io.ReadAll(io.LimitReader(c, 4096))
			c.Close()
			got <- b
		}
	}()
	elsewhere := "ldap://" + ln.Addr().String()
	for _, tc := range []struct {
		name string
		body map[string]any
	}{
		{"another server", map[string]any{"ldap_url": elsewhere, "ldap_connection_timeout": 1, "ldap_timeout": 1}},
		{"another server, empty password", map[string]any{"ldap_url": elsewhere, "ldap_search_password": "", "ldap_connection_timeout": 1, "ldap_timeout": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := e.ping(t, tc.body)
			if res.Success || !strings.Contains(res.Message, "ldap_search_password") {
				t.Errorf("ping = %+v, want success false asking for ldap_search_password", res)
			}
			select {
			case b := <-got:
				if bytes.Contains(b, []byte("search-secret")) {
					t.Errorf("the stored search password was sent to %s", elsewhere)
				}
			case <-time.After(500 * time.Millisecond): // nothing connected
			}
		})
	}
	for _, tc := range []struct {
		name string
		body map[string]any
		ok   bool
	}{
		{"another search DN", map[string]any{"ldap_search_dn": "uid=alice,ou=people,dc=berth,dc=test"}, false},
		{"another search DN with its password", map[string]any{"ldap_search_dn": "uid=alice,ou=people,dc=berth,dc=test", "ldap_search_password": "alice-secret"}, true},
		{"another spelling of the server with the password", map[string]any{"ldap_url": strings.Replace(body["ldap_url"].(string), "127.0.0.1", "localhost", 1), "ldap_search_password": "search-secret"}, true},
		{"certificate checks off", map[string]any{"ldap_verify_cert": false}, false},
		{"certificate checks off with the password", map[string]any{"ldap_verify_cert": false, "ldap_search_password": "search-secret"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := e.ping(t, tc.body)
			if res.Success != tc.ok || (!tc.ok && !strings.Contains(res.Message, "ldap_search_password")) {
				t.Errorf("ping = %+v, want success %t", res, tc.ok)
			}
		})
	}
}

// TestLDAPSearchUnconfigured: with no LDAP settings the search endpoints
// answer as Harbor's do (500 INTERNAL_SERVER_ERROR), with a message
// saying what is missing.
func TestLDAPSearchUnconfigured(t *testing.T) { forEachAcct(t, testLDAPSearchUnconfigured) }

func testLDAPSearchUnconfigured(t *testing.T, e *acctEnv) {
	for _, path := range []string{"/ldap/users/search?username=a", "/ldap/groups/search?groupname=a"} {
		r := e.do(acctAdmin, "GET", path, nil)
		if r.status != 500 || r.code != "INTERNAL_SERVER_ERROR" || !strings.Contains(r.msg, "ldap_url") {
			t.Errorf("GET %s: %d %s %q, want 500 INTERNAL_SERVER_ERROR naming ldap_url", path, r.status, r.code, r.msg)
		}
	}
}

func TestLDAPSearchAndMembers(t *testing.T) {
	body := slapdSettings(t)
	forEachAcct(t, func(t *testing.T, e *acctEnv) { testLDAPSearchAndMembers(t, e, body) })
}

func testLDAPSearchAndMembers(t *testing.T, e *acctEnv, body map[string]any) {
	e.project("p1", false)
	e.must(e.do(acctAdmin, "PUT", "/configurations", body), 200)
	// Under ldap_auth a plain user is a directory user (local accounts
	// other than admin do not log in); bob belongs to no group.
	plain := acctCred{"bob", "bob-secret"}

	e.run(t, []acctCase{
		{"user search as user", plain, "GET", "/ldap/users/search?username=ali", nil, 403},
		{"group search as user", plain, "GET", "/ldap/groups/search?groupname=dev", nil, 403},
	})
	var users []ldapUserJSON
	e.decode(e.must(e.do(acctAdmin, "GET", "/ldap/users/search?username=ali", nil), 200), &users)
	if len(users) != 1 || users[0] != (ldapUserJSON{Username: "alice", Realname: "Alice Archer", Email: "alice@berth.test"}) {
		t.Errorf("users matching ali = %+v", users)
	}
	var groups []ldapGroupJSON
	e.decode(e.must(e.do(acctAdmin, "GET", "/ldap/groups/search?groupname=dev", nil), 200), &groups)
	if len(groups) != 1 || groups[0] != (ldapGroupJSON{GroupName: "developers", GroupType: 1, LDAPGroupDN: developersDN}) {
		t.Errorf("groups matching dev = %+v", groups)
	}
	e.decode(e.must(e.do(acctAdmin, "GET", "/ldap/groups/search?groupdn=CN%3Dberth-admins%2Cou%3Dgroups%2Cdc%3Dberth%2Cdc%3Dtest", nil), 200), &groups)
	if len(groups) != 1 || groups[0].GroupName != "berth-admins" {
		t.Errorf("group by dn = %+v", groups)
	}
	e.decode(e.must(e.do(acctAdmin, "GET", "/ldap/groups/search?groupdn=cn%3Dnope%2Cou%3Dgroups%2Cdc%3Dberth%2Cdc%3Dtest", nil), 200), &groups)
	if len(groups) != 0 {
		t.Errorf("missing group by dn = %+v", groups)
	}

	members := "/projects/p1/members"
	group := func(dn, name string) map[string]any {
		return map[string]any{"role_id": 2, "member_group": map[string]any{"ldap_group_dn": dn, "group_name": name, "group_type": 1}}
	}
	e.run(t, []acctCase{
		{"alice before her group is a member", acctCred{"alice", "alice-secret"}, "GET", members, nil, 403},
		{"group by DN, as an admin types it", acctAdmin, "POST", members, group("CN=Developers, ou=groups,dc=berth,dc=test", ""), 201},
		{"same group again", acctAdmin, "POST", members, group(developersDN, ""), 409},
		{"group by name", acctAdmin, "POST", members, group("", "berth-admins"), 201},
		{"missing group", acctAdmin, "POST", members, group("cn=nope,ou=groups,dc=berth,dc=test", ""), 404},
		{"missing group name", acctAdmin, "POST", members, group("", "nope"), 404},
		{"http group", acctAdmin, "POST", members, map[string]any{"role_id": 2, "member_group": map[string]any{"group_name": "x", "group_type": 2}}, 400},
		{"directory user not seen yet", acctAdmin, "POST", members, map[string]any{"role_id": 3, "member_user": map[string]any{"username": "bob"}}, 201},
		{"alice logs in, her group is Developer", acctCred{"alice", "alice-secret"}, "GET", members, nil, 200},
		{"alice cannot manage members", acctCred{"alice", "alice-secret"}, "POST", members, group(developersDN, ""), 403},
		{"alice with a wrong password", acctCred{"alice", "bob-secret"}, "GET", members, nil, 401},
		{"carol is a system administrator", acctCred{"carol", "carol-secret"}, "GET", "/users", nil, 200},
	})
	var ms []memberJSON
	e.decode(e.must(e.do(acctAdmin, "GET", members, nil), 200), &ms)
	names := map[string]memberJSON{}
	for _, m := range ms {
		names[m.EntityName] = m
	}
	if m := names[developersDN]; m.EntityType != "g" || m.RoleID != 2 {
		t.Errorf("developers member = %+v (all: %+v)", m, ms)
	}
	if m := names["bob"]; m.EntityType != "u" || m.RoleID != 3 {
		t.Errorf("bob member = %+v", m)
	}
	bob, err := e.store.Users.GetUserByName(t.Context(), "bob")
	if err != nil || bob.Source != meta.SourceLDAP || bob.Email != "bob@berth.test" {
		t.Errorf("onboarded bob = %+v, %v", bob, err)
	}
	alice, err := e.store.Users.GetUserByName(t.Context(), "alice")
	if err != nil || alice.Source != meta.SourceLDAP || len(alice.LDAPGroupDNs) != 1 {
		t.Errorf("alice after her login = %+v, %v", alice, err)
	}
	var cur userJSON
	e.decode(e.must(e.do(acctCred{"carol", "carol-secret"}, "GET", "/users/current", nil), 200), &cur)
	if !cur.AdminRoleInAuth || cur.SysadminFlag {
		t.Errorf("carol = %+v, want admin_role_in_auth without the local flag", cur)
	}
}
