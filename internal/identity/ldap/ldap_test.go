package ldap

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/berth-registry/berth/internal/testenv"
)

// These tests run against the slapd that scripts/services/slapd.sh starts
// (its header lists the directory), at BERTH_TEST_LDAP.

const (
	suffix      = "dc=berth,dc=test"
	people      = "ou=people," + suffix
	groups      = "ou=groups," + suffix
	searchDN    = "cn=berth-search,ou=services," + suffix
	aliceDN     = "uid=alice," + people
	bobDN       = "uid=bob," + people
	carolDN     = "uid=carol," + people
	developers  = "cn=developers," + groups
	berthAdmins = "cn=berth-admins," + groups
)

var (
	alice = User{DN: aliceDN, Username: "alice", Email: "alice@berth.test", DisplayName: "Alice Archer", GroupDNs: []string{developers}}
	bob   = User{DN: bobDN, Username: "bob", Email: "bob@berth.test", DisplayName: "Bob Baker"}
	carol = User{DN: carolDN, Username: "carol", Email: "carol@berth.test", DisplayName: "Carol Cooper", GroupDNs: []string{berthAdmins}, Admin: true}
)

// slapdConfig returns settings for the test directory, as an admin would
// enter them in Harbor's LDAP form.
func slapdConfig(t *testing.T) Config {
	t.Helper()
	c := DefaultConfig()
	c.URL = testenv.Require(t, "BERTH_TEST_LDAP")
	c.SearchDN = searchDN
	c.SearchPassword = "search-secret"
	c.BaseDN = people
	c.Filter = "(objectClass=inetOrgPerson)"
	c.UID = "uid"
	c.GroupBaseDN = groups
	c.GroupFilter = "(objectClass=groupOfNames)"
	c.GroupNameAttribute = "cn"
	c.GroupAdminDN = berthAdmins
	c.GroupMembershipAttribute = "memberof"
	return c
}

var equateEmpty = cmpopts.EquateEmpty()

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	base := slapdConfig(t)
	tests := []struct {
		name     string
		modify   func(*Config)
		user     string
		password string
		want     User
		wantErr  error
	}{
		{"alice is a developer", nil, "alice", "alice-secret", alice, nil},
		{"bob is in no group", nil, "bob", "bob-secret", bob, nil},
		{"carol is an admin", nil, "carol", "carol-secret", carol, nil},
		{"login name is case-insensitive, Username as stored", nil, "ALICE", "alice-secret", alice, nil},
		{"wrong password", nil, "alice", "bob-secret", User{}, ErrInvalidCredentials},
		{"password is case-sensitive", nil, "alice", "ALICE-SECRET", User{}, ErrInvalidCredentials},
		{"unknown user", nil, "mallory", "alice-secret", User{}, ErrInvalidCredentials},
		{"empty password", nil, "alice", "", User{}, ErrInvalidCredentials},
		{"empty username", nil, "", "alice-secret", User{}, ErrInvalidCredentials},
		{"wildcard username", nil, "*", "alice-secret", User{}, ErrInvalidCredentials},
		{"prefix wildcard", nil, "al*", "alice-secret", User{}, ErrInvalidCredentials},
		{"filter injection", nil, "alice)(uid=*", "alice-secret", User{}, ErrInvalidCredentials},
		{"filter injection with or", nil, "*)(|(uid=*", "alice-secret", User{}, ErrInvalidCredentials},
		{"NUL in username", nil, "alice\x00", "alice-secret", User{}, ErrInvalidCredentials},
		{"user DN as username", nil, aliceDN, "alice-secret", User{}, ErrInvalidCredentials},
		{"filter excludes user", func(c *Config) { c.Filter = "(mail=alice@berth.test)" }, "bob", "bob-secret", User{}, ErrInvalidCredentials},
		{"filter without parentheses", func(c *Config) { c.Filter = "objectClass=inetOrgPerson" }, "bob", "bob-secret", bob, nil},
		{"no admin group configured", func(c *Config) { c.GroupAdminDN = "" }, "carol", "carol-secret",
			User{DN: carolDN, Username: "carol", Email: "carol@berth.test", DisplayName: "Carol Cooper", GroupDNs: []string{berthAdmins}}, nil},
		{"admin DN compared as a DN", func(c *Config) { c.GroupAdminDN = "CN=Berth-Admins, OU=Groups, DC=berth, DC=test" }, "carol", "carol-secret", carol, nil},
		{"membership attribute absent: groups found by member", func(c *Config) { c.GroupMembershipAttribute = "isMemberOf" }, "alice", "alice-secret", alice, nil},
		{"membership attribute absent: admin found by member", func(c *Config) { c.GroupMembershipAttribute = "isMemberOf" }, "carol", "carol-secret", carol, nil},
		{"membership attribute absent: no group base, no groups", func(c *Config) {
			c.GroupMembershipAttribute, c.GroupBaseDN = "isMemberOf", ""
		}, "alice", "alice-secret", User{DN: aliceDN, Username: "alice", Email: "alice@berth.test", DisplayName: "Alice Archer"}, nil},
		{"uid attribute cn", func(c *Config) { c.UID = "cn" }, "Bob Baker", "bob-secret", User{DN: bobDN, Username: "Bob Baker", Email: "bob@berth.test", DisplayName: "Bob Baker"}, nil},
		{"ambiguous login attribute", func(c *Config) { c.UID = "objectClass" }, "inetOrgPerson", "alice-secret", User{}, ErrMisconfigured},
		{"wrong search password", func(c *Config) { c.SearchPassword = "nope" }, "alice", "alice-secret", User{}, ErrMisconfigured},
		{"anonymous search cannot see the base DN", func(c *Config) { c.SearchDN, c.SearchPassword = "", "" }, "alice", "alice-secret", User{}, ErrMisconfigured},
		{"base DN does not exist", func(c *Config) { c.BaseDN = "ou=nobody," + suffix }, "alice", "alice-secret", User{}, ErrMisconfigured},
		{"invalid filter", func(c *Config) { c.Filter = "(objectClass=inetOrgPerson" }, "alice", "alice-secret", User{}, ErrMisconfigured},
		{"undefined uid attribute matches nobody", func(c *Config) { c.UID = "berthLogin" }, "alice", "alice-secret", User{}, ErrInvalidCredentials},
		{"starttls without verification", func(c *Config) { c.StartTLS, c.VerifyCert = true, false }, "alice", "alice-secret", alice, nil},
		{"starttls refuses a self-signed certificate", func(c *Config) { c.StartTLS, c.VerifyCert = true, true }, "alice", "alice-secret", User{}, ErrUnavailable},
		{"ldaps to a plain port", func(c *Config) {
			c.URL = strings.Replace(c.URL, "ldap://", "ldaps://", 1)
			c.VerifyCert = false
		}, "alice", "alice-secret", User{}, ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := base
			if tt.modify != nil {
				tt.modify(&cfg)
			}
			got, err := Authenticate(t.Context(), cfg, tt.user, tt.password)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Authenticate(%q) error = %v, want %v", tt.user, err, tt.wantErr)
			}
			if err != nil && tt.password != "" && strings.Contains(err.Error(), tt.password) {
				t.Errorf("error %q holds the password", err)
			}
			if diff := cmp.Diff(tt.want, got, equateEmpty); diff != "" {
				t.Errorf("Authenticate(%q) (-want +got):\n%s", tt.user, diff)
			}
		})
	}
}

// An unknown user and a wrong password must be indistinguishable.
func TestAuthenticateNoUserOracle(t *testing.T) {
	t.Parallel()
	cfg := slapdConfig(t)
	_, wrongPassword := Authenticate(t.Context(), cfg, "alice", "wrong")
	_, unknownUser := Authenticate(t.Context(), cfg, "mallory", "wrong")
	if wrongPassword == nil || unknownUser == nil || wrongPassword.Error() != unknownUser.Error() {
		t.Fatalf("wrong password: %v; unknown user: %v; want the same error", wrongPassword, unknownUser)
	}
}

func TestAuthenticateScope(t *testing.T) {
	t.Parallel()
	base := slapdConfig(t)
	tests := []struct {
		name    string
		baseDN  string
		scope   Scope
		user    string
		wantErr error
	}{
		{"one level under people", people, ScopeOneLevel, "alice", nil},
		{"subtree under people", people, ScopeSubtree, "alice", nil},
		{"subtree under the suffix", suffix, ScopeSubtree, "alice", nil},
		{"one level under the suffix misses people", suffix, ScopeOneLevel, "alice", ErrInvalidCredentials},
		{"base on the people OU misses its children", people, ScopeBase, "alice", ErrInvalidCredentials},
		{"base on the user's own DN", aliceDN, ScopeBase, "alice", nil},
		{"base on another user's DN", aliceDN, ScopeBase, "bob", ErrInvalidCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := base
			cfg.BaseDN, cfg.Scope = tt.baseDN, tt.scope
			u, err := Authenticate(t.Context(), cfg, tt.user, tt.user+"-secret")
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Authenticate error = %v, want %v", err, tt.wantErr)
			}
			if err == nil && u.Username != tt.user {
				t.Errorf("Username = %q, want %q", u.Username, tt.user)
			}
		})
	}
}

// Ping reports a rejected search bind as ErrMisconfigured, never as
// ErrInvalidCredentials: the search account is part of the settings, and
// the ping endpoint is checking the settings.
func TestPing(t *testing.T) {
	t.Parallel()
	base := slapdConfig(t)
	tests := []struct {
		name    string
		modify  func(*Config)
		wantErr error
	}{
		{"ok", nil, nil},
		{"ok without group base", func(c *Config) { c.GroupBaseDN = "" }, nil},
		{"ok as rootdn", func(c *Config) { c.SearchDN, c.SearchPassword = "cn=admin,"+suffix, "admin-secret" }, nil},
		{"starttls without verification", func(c *Config) { c.StartTLS, c.VerifyCert = true, false }, nil},
		{"wrong search password", func(c *Config) { c.SearchPassword = "wrong" }, ErrMisconfigured},
		{"empty search password", func(c *Config) { c.SearchPassword = "" }, ErrMisconfigured},
		{"unknown search DN", func(c *Config) { c.SearchDN = "cn=nobody,ou=services," + suffix }, ErrMisconfigured},
		{"user's password is not the search password", func(c *Config) { c.SearchDN = aliceDN }, ErrMisconfigured},
		{"anonymous cannot read the base DN", func(c *Config) { c.SearchDN, c.SearchPassword = "", "" }, ErrMisconfigured},
		{"base DN does not exist", func(c *Config) { c.BaseDN = "ou=nobody," + suffix }, ErrMisconfigured},
		{"group base DN does not exist", func(c *Config) { c.GroupBaseDN = "ou=nogroups," + suffix }, ErrMisconfigured},
		{"suffix not served", func(c *Config) { c.BaseDN = "dc=example,dc=org" }, ErrMisconfigured},
		{"invalid filter", func(c *Config) { c.GroupFilter = "(cn=" }, ErrMisconfigured},
		{"starttls refuses a self-signed certificate", func(c *Config) { c.StartTLS, c.VerifyCert = true, true }, ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := base
			if tt.modify != nil {
				tt.modify(&cfg)
			}
			err := Ping(t.Context(), cfg)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Ping error = %v, want %v", err, tt.wantErr)
			}
			if errors.Is(err, ErrInvalidCredentials) {
				t.Errorf("Ping error %v matches ErrInvalidCredentials", err)
			}
			if err != nil && cfg.SearchPassword != "" && strings.Contains(err.Error(), cfg.SearchPassword) {
				t.Errorf("error %q holds the search password", err)
			}
		})
	}
}

func TestSearchUsers(t *testing.T) {
	t.Parallel()
	base := slapdConfig(t)
	tests := []struct {
		name     string
		modify   func(*Config)
		username string
		limit    int
		want     []User
		wantErr  error
	}{
		{"all", nil, "", 0, []User{alice, bob, carol}, nil},
		{"substring", nil, "aro", 10, []User{carol}, nil},
		{"case-insensitive", nil, "BO", 10, []User{bob}, nil},
		{"no match", nil, "zed", 10, nil, nil},
		{"wildcard is literal", nil, "*", 10, nil, nil},
		{"injection is literal", nil, "a*)(uid=*", 10, nil, nil},
		{"limit", nil, "", 2, nil, nil}, // checked by count below
		{"filter applies", func(c *Config) { c.Filter = "(mail=carol@berth.test)" }, "", 10, []User{carol}, nil},
		{"scope applies", func(c *Config) { c.BaseDN, c.Scope = suffix, ScopeOneLevel }, "", 10, nil, nil},
		{"wrong search password", func(c *Config) { c.SearchPassword = "nope" }, "", 10, nil, ErrMisconfigured},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := base
			if tt.modify != nil {
				tt.modify(&cfg)
			}
			got, err := SearchUsers(t.Context(), cfg, tt.username, tt.limit)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("SearchUsers error = %v, want %v", err, tt.wantErr)
			}
			if tt.name == "limit" {
				if len(got) != tt.limit {
					t.Fatalf("SearchUsers(limit %d) returned %d users", tt.limit, len(got))
				}
				return
			}
			if diff := cmp.Diff(tt.want, got, equateEmpty); diff != "" {
				t.Errorf("SearchUsers(%q) (-want +got):\n%s", tt.username, diff)
			}
		})
	}
}

func TestSearchGroups(t *testing.T) {
	t.Parallel()
	base := slapdConfig(t)
	devs := Group{DN: developers, Name: "developers"}
	admins := Group{DN: berthAdmins, Name: "berth-admins"}
	tests := []struct {
		name    string
		modify  func(*Config)
		search  string
		limit   int
		want    []Group
		wantErr error
	}{
		{"all", nil, "", 0, []Group{admins, devs}, nil},
		{"substring", nil, "dev", 10, []Group{devs}, nil},
		{"case-insensitive", nil, "ADMIN", 10, []Group{admins}, nil},
		{"no match", nil, "ops", 10, nil, nil},
		{"wildcard is literal", nil, "*", 10, nil, nil},
		{"limit", nil, "", 1, nil, nil}, // checked by count below
		{"group filter applies", func(c *Config) { c.GroupFilter = "(member=" + aliceDN + ")" }, "", 10, []Group{devs}, nil},
		{"group scope applies", func(c *Config) { c.GroupBaseDN, c.GroupScope = suffix, ScopeOneLevel }, "", 10, nil, nil},
		{"subtree from the suffix", func(c *Config) { c.GroupBaseDN = suffix }, "", 10, []Group{admins, devs}, nil},
		{"no group base DN", func(c *Config) { c.GroupBaseDN = "" }, "", 10, nil, ErrMisconfigured},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := base
			if tt.modify != nil {
				tt.modify(&cfg)
			}
			got, err := SearchGroups(t.Context(), cfg, tt.search, tt.limit)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("SearchGroups error = %v, want %v", err, tt.wantErr)
			}
			if tt.name == "limit" {
				if len(got) != tt.limit {
					t.Fatalf("SearchGroups(limit %d) returned %d groups", tt.limit, len(got))
				}
				return
			}
			if diff := cmp.Diff(tt.want, got, equateEmpty); diff != "" {
				t.Errorf("SearchGroups(%q) (-want +got):\n%s", tt.search, diff)
			}
		})
	}
}

func TestGroupByDN(t *testing.T) {
	t.Parallel()
	cfg := slapdConfig(t)
	tests := []struct {
		name    string
		dn      string
		want    Group
		wantErr error
	}{
		{"group", developers, Group{DN: developers, Name: "developers"}, nil},
		{"DN in another case", "CN=Developers,OU=Groups,DC=berth,DC=test", Group{DN: developers, Name: "developers"}, nil},
		{"no such entry", "cn=ops," + groups, Group{}, ErrGroupNotFound},
		{"not a group", aliceDN, Group{}, ErrGroupNotFound},
		{"not a DN", "developers", Group{}, ErrGroupNotFound},
		{"empty", "", Group{}, ErrGroupNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := GroupByDN(t.Context(), cfg, tt.dn)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("GroupByDN(%q) error = %v, want %v", tt.dn, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("GroupByDN(%q) (-want +got):\n%s", tt.dn, diff)
			}
		})
	}
}
