package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-registry/berth/internal/identity/ldap"
)

func TestSystemSettingsConfig(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "ldap-pw")
	if err := os.WriteFile(pwFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yamlFile := filepath.Join(dir, "berth.yaml")
	yaml := `auth:
  auth_mode: ldap_auth
  project_creation_restriction: adminonly
ldap:
  ldap_url: ldap://ldap.example:389
  ldap_base_dn: dc=example,dc=test
  ldap_filter: (objectClass=person)
  ldap_group_base_dn: ou=groups,dc=example,dc=test
`
	if err := os.WriteFile(yamlFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		file    string
		env     map[string]string
		want    func(*Config)
		wantErr []string
	}{
		{name: "defaults", want: func(*Config) {}},
		{name: "file", file: yamlFile, want: func(c *Config) {
			c.Auth.AuthMode, c.Auth.ProjectCreationRestriction = AuthModeLDAP, ProjectCreationAdminOnly
			c.LDAP.URL, c.LDAP.BaseDN, c.LDAP.Filter = "ldap://ldap.example:389", "dc=example,dc=test", "(objectClass=person)"
			c.LDAP.GroupBaseDN = "ou=groups,dc=example,dc=test"
		}},
		{name: "environment", env: map[string]string{
			"BERTH_AUTH_MODE": "ldap_auth", "BERTH_LDAP_URL": "ldaps://ldap.example", "BERTH_LDAP_BASE_DN": "dc=x",
			"BERTH_LDAP_SEARCH_DN": "cn=search,dc=x", "BERTH_LDAP_SEARCH_PASSWORD_FILE": pwFile,
			"BERTH_LDAP_UID": "sAMAccountName", "BERTH_LDAP_SCOPE": "1", "BERTH_LDAP_TIMEOUT": "9",
			"BERTH_LDAP_VERIFY_CERT": "false", "BERTH_LDAP_GROUP_BASE_DN": "ou=g,dc=x",
			"BERTH_LDAP_GROUP_ADMIN_DN": "cn=admins,ou=g,dc=x", "BERTH_LDAP_GROUP_SEARCH_SCOPE": "0",
			"BERTH_LDAP_GROUP_SEARCH_FILTER": "objectClass=groupOfNames", "BERTH_LDAP_GROUP_ATTRIBUTE_NAME": "ou",
			"BERTH_LDAP_GROUP_MEMBERSHIP_ATTRIBUTE": "isMemberOf", "BERTH_LDAP_FILTER": "(objectClass=user)",
			"BERTH_PROJECT_CREATION_RESTRICTION": "adminonly",
		}, want: func(c *Config) {
			c.Auth.AuthMode, c.Auth.ProjectCreationRestriction = AuthModeLDAP, ProjectCreationAdminOnly
			c.LDAP = ldap.Config{
				URL: "ldaps://ldap.example", SearchDN: "cn=search,dc=x", SearchPassword: "from-file", BaseDN: "dc=x",
				Filter: "(objectClass=user)", UID: "sAMAccountName", Scope: ldap.ScopeOneLevel, Timeout: 9,
				GroupBaseDN: "ou=g,dc=x", GroupFilter: "objectClass=groupOfNames", GroupNameAttribute: "ou",
				GroupAdminDN: "cn=admins,ou=g,dc=x", GroupMembershipAttribute: "isMemberOf", GroupScope: ldap.ScopeBase,
			}
		}},
		{name: "password variable wins over its file", env: map[string]string{
			"BERTH_LDAP_SEARCH_PASSWORD_FILE": pwFile, "BERTH_LDAP_SEARCH_PASSWORD": "direct",
		}, want: func(c *Config) { c.LDAP.SearchPassword = "direct" }},
		{name: "bad mode and restriction", env: map[string]string{"BERTH_AUTH_MODE": "oidc_auth", "BERTH_PROJECT_CREATION_RESTRICTION": "nobody"},
			wantErr: []string{"auth.auth_mode", "auth.project_creation_restriction"}},
		{name: "ldap_auth without a directory", env: map[string]string{"BERTH_AUTH_MODE": "ldap_auth"},
			wantErr: []string{"ldap_url is empty", "ldap_base_dn is empty"}},
		{name: "bad scope", env: map[string]string{"BERTH_LDAP_SCOPE": "deep"}, wantErr: []string{"BERTH_LDAP_SCOPE"}},
		{name: "bad ldap url", env: map[string]string{"BERTH_LDAP_URL": "http://x", "BERTH_LDAP_BASE_DN": "dc=x"}, wantErr: []string{"ldap_url"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := map[string]string{"BERTH_DATA_DIR": "/d"}
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tt.env {
				env[k] = v
			}
			got, err := Load(tt.file, func(k string) string { return env[k] })
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatal("Load succeeded")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("Load err = %v, want one mentioning %s", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want, err := Load("", func(k string) string { return base[k] })
			if err != nil {
				t.Fatal(err)
			}
			tt.want(&want)
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("config (-want +got):\n%s", d)
			}
		})
	}
}
