package restapi_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-registry/berth/internal/identity"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/internal/settings"
)

// configValues reads GET /configurations as key -> {value, editable}.
func (e *acctEnv) configValues(c acctCred) map[string]configItem {
	e.t.Helper()
	var out map[string]configItem
	e.decode(e.must(e.do(c, "GET", "/configurations", nil), 200), &out)
	return out
}

func TestConfigurationPermissions(t *testing.T) { forEachAcct(t, testConfigurationPermissions) }

func testConfigurationPermissions(t *testing.T, e *acctEnv) {
	alice, _ := e.user("alice", false, nil)
	rb, secret, err := e.ids.CreateRobot(t.Context(), identity.NewRobot{Name: "ops", Level: meta.RobotSystem})
	if err != nil {
		t.Fatal(err)
	}
	robot := acctCred{rb.Name, secret}
	change := map[string]any{"project_creation_restriction": "adminonly"}
	e.run(t, []acctCase{
		{"get anonymous", acctAnon, "GET", "/configurations", nil, 401},
		{"get user", alice, "GET", "/configurations", nil, 403},
		{"get robot", robot, "GET", "/configurations", nil, 403},
		{"get admin", acctAdmin, "GET", "/configurations", nil, 200},
		{"put anonymous", acctAnon, "PUT", "/configurations", change, 401},
		{"put user", alice, "PUT", "/configurations", change, 403},
		{"put robot", robot, "PUT", "/configurations", change, 403},
		{"put admin", acctAdmin, "PUT", "/configurations", change, 200},
	})
}

func TestConfigurations(t *testing.T) {
	store := metatest.OpenSQLite(t)
	a, b := newAcctReplicaOn(t, store), newAcctReplicaOn(t, store) // two replicas

	got := b.configValues(acctAdmin)
	if _, ok := got["ldap_search_password"]; ok {
		t.Error("GET /configurations shows ldap_search_password")
	}
	for key, want := range map[string]configItem{
		"auth_mode":                    {"db_auth", true},
		"ldap_scope":                   {float64(2), true},
		"ldap_verify_cert":             {true, true},
		"ldap_uid":                     {"uid", true},
		"project_creation_restriction": {"everyone", true},
		"self_registration":            {false, false},
	} {
		if d := cmp.Diff(want, got[key]); d != "" {
			t.Errorf("%s (-want +got):\n%s", key, d)
		}
	}
	if len(got) != len(settings.Keys())-1 {
		t.Errorf("GET /configurations has %d keys, want every key but the password", len(got))
	}

	for _, tc := range []struct {
		name string
		body string
		want []string
	}{
		{"unknown key", `{"oidc_endpoint": "https://x"}`, []string{"oidc_endpoint"}},
		{"string for an integer", `{"ldap_scope": "2"}`, []string{"ldap_scope", "integer"}},
		{"fraction", `{"ldap_timeout": 1.5}`, []string{"ldap_timeout"}},
		{"number for a string", `{"ldap_url": 389}`, []string{"ldap_url", "string"}},
		{"string for a bool", `{"ldap_verify_cert": "false"}`, []string{"ldap_verify_cert"}},
		{"bad mode", `{"auth_mode": "oidc_auth"}`, []string{"auth_mode"}},
		{"ldap_auth without a directory", `{"auth_mode": "ldap_auth"}`, []string{"ldap_url is empty"}},
		{"self-registration", `{"self_registration": true}`, []string{"self_registration"}},
		{"not an object", `[1, 2]`, []string{"JSON"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := a.do(acctAdmin, "PUT", "/configurations", []byte(tc.body))
			if r.status != 400 || r.code != codeBadRequest {
				t.Fatalf("status %d %s %s, want 400", r.status, r.code, r.msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.msg, w) {
					t.Errorf("message %q does not mention %s", r.msg, w)
				}
			}
		})
	}
	if d := cmp.Diff(got, a.configValues(acctAdmin)); d != "" {
		t.Errorf("refused changes changed the settings (-before +after):\n%s", d)
	}

	// A change on replica a is seen by replica b.
	change := map[string]any{
		"auth_mode": "ldap_auth", "ldap_url": "ldap://ldap.example.test:389", "ldap_base_dn": "ou=people,dc=example,dc=test",
		"ldap_search_dn": "cn=search,dc=example,dc=test", "ldap_search_password": "s3cret-value", "ldap_scope": 1,
		"ldap_verify_cert": false, "ldap_group_admin_dn": "cn=admins,ou=groups,dc=example,dc=test",
		"project_creation_restriction": "adminonly", "self_registration": false,
	}
	a.must(a.do(acctAdmin, "PUT", "/configurations", change), 200)
	var seen map[string]configItem
	deadline := time.Now().Add(5 * time.Second)
	for {
		seen = b.configValues(acctAdmin)
		if seen["auth_mode"].Value == "ldap_auth" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for key, want := range change {
		if key == "ldap_search_password" {
			continue
		}
		if n, ok := want.(int); ok {
			want = float64(n)
		}
		if seen[key].Value != want {
			t.Errorf("replica b: %s = %v, want %v", key, seen[key].Value, want)
		}
	}
	cur, err := b.settings.Get(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if cur.LDAP.SearchPassword != "s3cret-value" {
		t.Errorf("stored search password = %q", cur.LDAP.SearchPassword)
	}
	if strings.Contains(string(b.do(acctAdmin, "GET", "/configurations", nil).body), "s3cret") {
		t.Error("the search password shows in GET /configurations")
	}

	// The audit log names the changed keys, never their values.
	logs, _, err := a.store.Audit.ListAuditLogs(t.Context(), meta.AuditFilter{ResourceType: auditConfiguration}, meta.Page{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) != 1 || logs[0].Username != "admin" || logs[0].Operation != "update" ||
		!strings.Contains(logs[0].Resource, "ldap_search_password") || strings.Contains(logs[0].Resource, "s3cret") ||
		strings.Contains(logs[0].Resource, "self_registration") {
		t.Errorf("configuration audit = %+v", logs)
	}
	raw, _ := json.Marshal(logs)
	if strings.Contains(string(raw), "s3cret") {
		t.Error("the audit log holds the password")
	}
}
