package identity

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/identity/ldap"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/testenv"
)

// staticSettings is a settings service that always answers the same.
type staticSettings struct {
	cfg     ldap.Config
	enabled bool
	err     error
}

func (s *staticSettings) LDAP(context.Context) (ldap.Config, bool, error) {
	return s.cfg, s.enabled, s.err
}

// testDirectoryConfig is the directory scripts/services/slapd.sh serves at
// BERTH_TEST_LDAP, as an administrator would configure it.
func testDirectoryConfig(t *testing.T) ldap.Config {
	t.Helper()
	c := ldap.DefaultConfig()
	c.URL = testenv.Require(t, "BERTH_TEST_LDAP")
	c.SearchDN, c.SearchPassword = "cn=berth-search,ou=services,dc=berth,dc=test", "search-secret"
	c.BaseDN = "ou=people,dc=berth,dc=test"
	c.Filter = "(objectClass=inetOrgPerson)"
	c.GroupBaseDN = "ou=groups,dc=berth,dc=test"
	c.GroupFilter = "(objectClass=groupOfNames)"
	c.GroupAdminDN = "cn=berth-admins,ou=groups,dc=berth,dc=test"
	return c
}

// TestDirectoryLogin logs directory users in through the Service with the
// LDAP hook against a real slapd: onboarding, groups as project members,
// the admin group, wrong passwords, the mode switch and an unreachable
// server.
func TestDirectoryLogin(t *testing.T) {
	settings := &staticSettings{cfg: testDirectoryConfig(t), enabled: true}
	dir, err := NewDirectory(settings, cheap)
	if err != nil {
		t.Fatal(err)
	}
	s, st := newService(t, Options{External: dir})
	ctx := t.Context()

	private := must[meta.Project](t)(st.Projects.CreateProject(ctx, meta.Project{Name: "private"}))
	other := must[meta.Project](t)(st.Projects.CreateProject(ctx, meta.Project{Name: "other"}))
	// The group as an administrator types it, in another case: DNs compare case-insensitively.
	must[meta.Member](t)(st.Projects.AddMember(ctx, meta.Member{ProjectID: private.ID, Kind: meta.MemberGroup,
		GroupDN: "CN=developers,ou=groups,dc=berth,dc=test", Role: int(access.RoleDeveloper)}))

	alice, err := s.Authenticate(ctx, "alice", "alice-secret", "192.0.2.1")
	if err != nil {
		t.Fatalf("alice: %v", err)
	}
	if alice.Sysadmin || alice.Roles[private.ID] != access.RoleDeveloper || len(alice.Roles) != 1 {
		t.Errorf("alice = sysadmin %v roles %v, want Developer in private only", alice.Sysadmin, alice.Roles)
	}
	if !access.RegistryAllowed(alice, access.ProjectOf(private), access.RegistryPush) {
		t.Error("alice cannot push into private, where her group is Developer")
	}
	if access.RegistryAllowed(alice, access.ProjectOf(other), access.RegistryPull) {
		t.Error("alice can pull from other, where she has no role")
	}
	u := must[meta.User](t)(st.Users.GetUserByName(ctx, "alice"))
	want := meta.User{Username: "alice", Email: "alice@berth.test", Realname: "Alice Archer", Source: meta.SourceLDAP,
		LDAPDN: "uid=alice,ou=people,dc=berth,dc=test", LDAPGroupDNs: []string{"cn=developers,ou=groups,dc=berth,dc=test"}}
	if d := cmp.Diff(want, u, cmpopts.IgnoreFields(meta.User{}, "ID", "CreatedAt", "UpdatedAt")); d != "" {
		t.Errorf("onboarded alice (-want +got):\n%s", d)
	}

	carol, err := s.Authenticate(ctx, "carol", "carol-secret", "192.0.2.1")
	if err != nil || !carol.Sysadmin {
		t.Errorf("carol = sysadmin %v, %v; want a system administrator through ldap_group_admin_dn", carol.Sysadmin, err)
	}

	for _, tc := range []struct{ user, pass string }{{"alice", "bob-secret"}, {"mallory", "x"}} {
		if _, err := s.Authenticate(ctx, tc.user, tc.pass, "192.0.2.1"); !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("%s with a wrong password: err = %v, want ErrInvalidCredentials", tc.user, err)
		}
	}

	// db_auth: the directory knows nobody, onboarded users included.
	settings.enabled = false
	if _, err := s.Authenticate(ctx, "alice", "alice-secret", "192.0.2.1"); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("alice under db_auth: err = %v, want ErrInvalidCredentials", err)
	}

	// A directory that does not answer is the backend's fault, not the user's.
	settings.enabled = true
	settings.cfg.URL = "ldap://127.0.0.1:1"
	settings.cfg.Timeout = 2
	if _, err := s.Authenticate(ctx, "alice", "alice-secret", "192.0.2.2"); !errors.Is(err, ErrBackendUnavailable) || !errors.Is(err, ldap.ErrUnavailable) {
		t.Errorf("unreachable directory: err = %v, want ErrBackendUnavailable wrapping ldap.ErrUnavailable", err)
	}
	settings.err = meta.ErrUnavailable
	if _, err := s.Authenticate(ctx, "bob", "bob-secret", "192.0.2.2"); !errors.Is(err, ErrBackendUnavailable) {
		t.Errorf("settings unreadable: err = %v, want ErrBackendUnavailable", err)
	}
}

// TestLocalAccountsUnderLDAP: while auth_mode is ldap_auth only the local
// administrator logs in with a local password (Harbor's rule); under
// db_auth every local account does.
func TestLocalAccountsUnderLDAP(t *testing.T) {
	settings := &staticSettings{cfg: ldap.Config{URL: "ldap://127.0.0.1:1", Timeout: 1}, enabled: false}
	dir, err := NewDirectory(settings, cheap)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := newService(t, Options{External: dir, Hash: cheap})
	ctx := t.Context()
	if _, err := s.BootstrapAdmin(ctx, "Admin12345", t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, NewUser{Username: "dave", Password: "Dave12345"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, user, pass string
		ldap             bool
		wantErr          error
	}{
		{"db_auth local user", "dave", "Dave12345", false, nil},
		{"db_auth admin", "admin", "Admin12345", false, nil},
		{"ldap_auth local user refused", "dave", "Dave12345", true, ErrInvalidCredentials},
		{"ldap_auth admin still local", "admin", "Admin12345", true, nil},
		{"back to db_auth", "dave", "Dave12345", false, nil},
	}
	for _, tt := range tests {
		settings.enabled = tt.ldap
		_, err := s.Authenticate(ctx, tt.user, tt.pass, "192.0.2.9")
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.wantErr)
		}
	}
}
