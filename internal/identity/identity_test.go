package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

// cheap keeps argon2id fast in tests.
var cheap = &argon2id.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

func newService(t *testing.T, opts Options) (*Service, *meta.Store) {
	t.Helper()
	st := metatest.OpenSQLite(t)
	if opts.Hash == nil {
		opts.Hash = cheap
	}
	s, err := New(Stores{Users: st.Users, Robots: st.Robots, Projects: st.Projects}, slog.New(slog.DiscardHandler), opts)
	if err != nil {
		t.Fatal(err)
	}
	return s, st
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// fakeDirectory is an externalAuth over a map of username to entry.
type fakeDirectory struct {
	users map[string]struct {
		password string
		user     ExternalUser
	}
	down bool
}

func (d *fakeDirectory) Authenticate(_ context.Context, username, password string) (ExternalUser, error) {
	if d.down {
		return ExternalUser{}, errors.New("ldap: connection refused")
	}
	e, ok := d.users[username]
	if !ok || e.password != password {
		return ExternalUser{}, fmt.Errorf("ldap: %w", ErrInvalidCredentials)
	}
	return e.user, nil
}

func (d *fakeDirectory) add(name, password string, u ExternalUser) {
	if d.users == nil {
		d.users = map[string]struct {
			password string
			user     ExternalUser
		}{}
	}
	d.users[name] = struct {
		password string
		user     ExternalUser
	}{password, u}
}

func TestBootstrapAdmin(t *testing.T) {
	t.Run("generated", func(t *testing.T) {
		s, _ := newService(t, Options{})
		dir := t.TempDir()
		got := must[AdminBootstrap](t)(s.BootstrapAdmin(t.Context(), "", dir))
		if !got.Created || !got.Generated || got.PasswordFile != filepath.Join(dir, "admin-password") {
			t.Fatalf("BootstrapAdmin = %+v", got)
		}
		if err := ValidatePassword(got.Password); err != nil {
			t.Errorf("generated password fails the policy: %v", err)
		}
		fi, err := os.Stat(got.PasswordFile)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("password file mode = %v, want 0600", fi.Mode().Perm())
		}
		b, _ := os.ReadFile(got.PasswordFile)
		if strings.TrimSpace(string(b)) != got.Password {
			t.Errorf("password file holds %q, want the generated password", b)
		}
		p := must[access.Principal](t)(s.Authenticate(t.Context(), "admin", got.Password, ""))
		if !p.Sysadmin || p.Kind != access.KindUser {
			t.Errorf("admin principal = %+v", p)
		}
		// Second start: nothing happens, the password is not printed again.
		again := must[AdminBootstrap](t)(s.BootstrapAdmin(t.Context(), "", dir))
		if again != (AdminBootstrap{}) {
			t.Errorf("second BootstrapAdmin = %+v, want nothing done", again)
		}
	})
	t.Run("given", func(t *testing.T) {
		s, _ := newService(t, Options{})
		dir := t.TempDir()
		got := must[AdminBootstrap](t)(s.BootstrapAdmin(t.Context(), "Harbor12345", dir))
		if !got.Created || got.Generated || got.Password != "" {
			t.Fatalf("BootstrapAdmin = %+v", got)
		}
		if _, err := os.Stat(filepath.Join(dir, "admin-password")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a password file was written for a given password: %v", err)
		}
		must[access.Principal](t)(s.Authenticate(t.Context(), "admin", "Harbor12345", ""))
		// A later start with another password does not reset it.
		must[AdminBootstrap](t)(s.BootstrapAdmin(t.Context(), "Other12345", dir))
		must[access.Principal](t)(s.Authenticate(t.Context(), "admin", "Harbor12345", ""))
	})
	t.Run("weak", func(t *testing.T) {
		s, _ := newService(t, Options{})
		must[AdminBootstrap](t)(s.BootstrapAdmin(t.Context(), "only-lower-case", t.TempDir())) // the operator's choice
		s, _ = newService(t, Options{})
		if _, err := s.BootstrapAdmin(t.Context(), "admin", t.TempDir()); !errors.Is(err, ErrInvalid) {
			t.Fatalf("weak password err = %v, want ErrInvalid", err)
		}
	})
}

func TestAuthenticate(t *testing.T) {
	s, st := newService(t, Options{})
	ctx := t.Context()
	team := must[meta.Project](t)(st.Projects.CreateProject(ctx, meta.Project{Name: "team"}))
	other := must[meta.Project](t)(st.Projects.CreateProject(ctx, meta.Project{Name: "other"}))
	alice := must[meta.User](t)(s.CreateUser(ctx, NewUser{Username: "alice", Password: "Alice1234", Email: "alice@example.com"}))
	must[meta.Member](t)(st.Projects.AddMember(ctx, meta.Member{ProjectID: team.ID, Kind: meta.MemberUser, UserID: alice.ID, Role: int(access.RoleGuest)}))
	bob := must[meta.User](t)(s.CreateUser(ctx, NewUser{Username: "bob", Password: "Bob12345"}))
	must[meta.User](t)(s.SetDisabled(ctx, bob.ID, true))

	pushPull := []meta.RobotPermission{
		{Kind: "project", Namespace: "team", Access: []meta.RobotAccess{{Resource: "repository", Action: "pull"}, {Resource: "repository", Action: "push"}}},
	}
	ci, ciSecret := must2(t)(s.CreateRobot(ctx, NewRobot{Name: "ci", Level: meta.RobotProject, ProjectID: team.ID, Permissions: pushPull}))
	if ci.Name != "robot$team+ci" || len(ciSecret) != robotSecretLen || strings.Contains(ci.SecretHash, ciSecret) {
		t.Fatalf("project robot %q, secret %q, hash %q", ci.Name, ciSecret, ci.SecretHash)
	}
	_, offSecret := must2(t)(s.CreateRobot(ctx, NewRobot{Name: "off", Level: meta.RobotProject, ProjectID: team.ID, Permissions: pushPull}))
	off := must[meta.Robot](t)(st.Robots.GetRobotByName(ctx, "robot$team+off"))
	must[meta.Robot](t)(s.UpdateRobot(ctx, nil, off.ID, func(r *meta.Robot) { r.Disabled = true }))
	_, oldSecret := must2(t)(s.CreateRobot(ctx, NewRobot{Name: "old", Level: meta.RobotProject, ProjectID: team.ID, Permissions: pushPull, ExpiresAt: time.Now().Add(-time.Minute)}))
	mirror, mirrorSecret := must2(t)(s.CreateRobot(ctx, NewRobot{Name: "mirror", Level: meta.RobotSystem, Permissions: []meta.RobotPermission{
		{Kind: "project", Namespace: "*", Access: []meta.RobotAccess{{Resource: "repository", Action: "pull"}}},
		{Kind: "project", Namespace: "other", Access: []meta.RobotAccess{{Resource: "repository", Action: "push"}}},
		{Kind: "system", Namespace: "/", Access: []meta.RobotAccess{{Resource: "project", Action: "create"}}},
	}}))
	if mirror.Name != "robot$mirror" {
		t.Fatalf("system robot name %q", mirror.Name)
	}

	tests := []struct {
		name, user, pass string
		want             access.Principal
		err              error
	}{
		{"local user", "alice", "Alice1234", access.Principal{Kind: access.KindUser, Name: "alice", ID: alice.ID,
			Roles: map[int64]access.Role{team.ID: access.RoleGuest}}, nil},
		{"wrong password", "alice", "Alice12345", access.Principal{}, ErrInvalidCredentials},
		{"unknown user", "carol", "Carol1234", access.Principal{}, ErrInvalidCredentials},
		{"empty password", "alice", "", access.Principal{}, ErrInvalidCredentials},
		{"disabled user", "bob", "Bob12345", access.Principal{}, ErrDisabled},
		{"disabled user, wrong password", "bob", "nope", access.Principal{}, ErrInvalidCredentials},
		{"project robot", "robot$team+ci", ciSecret, access.Principal{Kind: access.KindRobot, Name: "robot$team+ci", ID: ci.ID, Scopes: []access.Scope{
			{Project: "team", Resource: access.ResourceRepository, Action: access.ActionPull},
			{Project: "team", Resource: access.ResourceRepository, Action: access.ActionPush},
		}}, nil},
		{"robot wrong secret", "robot$team+ci", ciSecret + "x", access.Principal{}, ErrInvalidCredentials},
		{"robot secret of another robot", "robot$team+ci", offSecret, access.Principal{}, ErrInvalidCredentials},
		{"unknown robot", "robot$team+nope", ciSecret, access.Principal{}, ErrInvalidCredentials},
		{"disabled robot", "robot$team+off", offSecret, access.Principal{}, ErrDisabled},
		{"expired robot", "robot$team+old", oldSecret, access.Principal{}, ErrExpired},
		{"system robot", "robot$mirror", mirrorSecret, access.Principal{Kind: access.KindRobot, Name: "robot$mirror", ID: mirror.ID, Scopes: []access.Scope{
			{Project: "*", Resource: access.ResourceRepository, Action: access.ActionPull},
			{Project: "other", Resource: access.ResourceRepository, Action: access.ActionPush},
			{Project: "/", Resource: access.ResourceProject, Action: access.ActionCreate},
		}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Authenticate(ctx, tt.user, tt.pass, "")
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("Authenticate err = %v, want %v", err, tt.err)
			}
			if d := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("principal (-want +got):\n%s", d)
			}
			if tt.err == nil {
				again := must[access.Principal](t)(s.Principal(ctx, tt.user))
				if d := cmp.Diff(got, again, cmpopts.EquateEmpty()); d != "" {
					t.Errorf("Principal(%s) differs from the authenticated one:\n%s", tt.user, d)
				}
			}
		})
	}
	// A robot whose stored permissions name another project is still
	// confined to its own.
	ciRow := must[meta.Robot](t)(st.Robots.GetRobot(ctx, ci.ID))
	ciRow.Permissions = append(ciRow.Permissions, meta.RobotPermission{Kind: "project", Namespace: "other", Access: []meta.RobotAccess{{Resource: "repository", Action: "pull"}}})
	must[meta.Robot](t)(st.Robots.UpdateRobot(ctx, ciRow))
	p := must[access.Principal](t)(s.Authenticate(ctx, "robot$team+ci", ciSecret, ""))
	if access.Can(p, access.ProjectOf(other), access.ResourceRepository, access.ActionPull) {
		t.Error("project robot reaches another project")
	}
	// Principal of a disabled account says so; of an unknown one fails.
	if p := must[access.Principal](t)(s.Principal(ctx, "bob")); !p.Disabled {
		t.Error("Principal(disabled) is not disabled")
	}
	if _, err := s.Principal(ctx, "nobody"); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("Principal(unknown) err = %v", err)
	}
	if p := must[access.Principal](t)(s.Principal(ctx, "")); p.Authenticated() {
		t.Errorf("Principal(\"\") = %+v, want anonymous", p)
	}
}

func must2(t *testing.T) func(meta.Robot, string, error) (meta.Robot, string) {
	return func(r meta.Robot, s string, err error) (meta.Robot, string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return r, s
	}
}

func TestAccountChanges(t *testing.T) {
	s, st := newService(t, Options{})
	ctx := t.Context()
	u := must[meta.User](t)(s.CreateUser(ctx, NewUser{Username: "dave", Password: "Dave12345"}))

	invalid := []struct {
		name string
		nu   NewUser
		fld  string
	}{
		{"short password", NewUser{Username: "x", Password: "Ab1"}, "password"},
		{"no digit", NewUser{Username: "x", Password: "Abcdefgh"}, "password"},
		{"no upper", NewUser{Username: "x", Password: "abcdefg1"}, "password"},
		{"robot prefix", NewUser{Username: "robot$x", Password: "Abcdefg1"}, "username"},
		{"colon", NewUser{Username: "a:b", Password: "Abcdefg1"}, "username"},
		{"empty name", NewUser{Password: "Abcdefg1"}, "username"},
		{"bad email", NewUser{Username: "x", Email: "not mail", Password: "Abcdefg1"}, "email"},
	}
	for _, tt := range invalid {
		_, err := s.CreateUser(ctx, tt.nu)
		var ie *InvalidError
		if !errors.As(err, &ie) || ie.Field != tt.fld || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: CreateUser err = %v, want InvalidError on %s", tt.name, err, tt.fld)
		}
	}
	if _, err := s.CreateUser(ctx, NewUser{Username: "dave", Password: "Dave12345"}); !errors.Is(err, meta.ErrUserExists) {
		t.Errorf("CreateUser(taken) err = %v", err)
	}

	if err := s.ChangePassword(ctx, u.ID, "wrong", "Dave67890", ""); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("ChangePassword(wrong old) err = %v", err)
	}
	if err := s.ChangePassword(ctx, u.ID, "Dave12345", "weak", ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("ChangePassword(weak) err = %v", err)
	}
	if err := s.ChangePassword(ctx, u.ID, "Dave12345", "Dave67890", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "dave", "Dave12345", ""); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("old password still works: %v", err)
	}
	must[access.Principal](t)(s.Authenticate(ctx, "dave", "Dave67890", ""))
	if err := s.ResetPassword(ctx, u.ID, "Reset1234"); err != nil {
		t.Fatal(err)
	}
	must[access.Principal](t)(s.Authenticate(ctx, "dave", "Reset1234", ""))

	must[meta.User](t)(s.SetSysadmin(ctx, u.ID, true))
	if p := must[access.Principal](t)(s.Authenticate(ctx, "dave", "Reset1234", "")); !p.Sysadmin {
		t.Error("SetSysadmin(true) did not make dave an administrator")
	}
	must[meta.User](t)(s.SetDisabled(ctx, u.ID, true))
	if _, err := s.Authenticate(ctx, "dave", "Reset1234", ""); !errors.Is(err, ErrDisabled) {
		t.Errorf("disabled login err = %v", err)
	}
	must[meta.User](t)(s.SetDisabled(ctx, u.ID, false))
	got := must[meta.User](t)(s.UpdateProfile(ctx, u.ID, "dave@example.com", "Dave D"))
	if got.Email != "dave@example.com" || got.Realname != "Dave D" || !got.Sysadmin {
		t.Errorf("after UpdateProfile: %+v", got)
	}
	if err := s.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "dave", "Reset1234", ""); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("deleted user login err = %v", err)
	}

	// Robots: names, permissions and secrets.
	team := must[meta.Project](t)(st.Projects.CreateProject(ctx, meta.Project{Name: "team"}))
	robotErrs := []struct {
		name string
		nr   NewRobot
		want error
	}{
		{"bad name", NewRobot{Name: "CI!", Level: meta.RobotSystem}, ErrInvalid},
		{"bad level", NewRobot{Name: "ci", Level: "global"}, ErrInvalid},
		{"missing project", NewRobot{Name: "ci", Level: meta.RobotProject, ProjectID: 999}, meta.ErrProjectNotFound},
		{"system robot with a project", NewRobot{Name: "ci", Level: meta.RobotSystem, ProjectID: team.ID}, ErrInvalid},
		{"project robot reaching out", NewRobot{Name: "ci", Level: meta.RobotProject, ProjectID: team.ID, Permissions: []meta.RobotPermission{
			{Kind: "project", Namespace: "*", Access: []meta.RobotAccess{{Resource: "repository", Action: "pull"}}}}}, ErrInvalid},
		{"project robot with system access", NewRobot{Name: "ci", Level: meta.RobotProject, ProjectID: team.ID, Permissions: []meta.RobotPermission{
			{Kind: "system", Namespace: "/", Access: []meta.RobotAccess{{Resource: "user", Action: "list"}}}}}, ErrInvalid},
		{"weak custom secret", NewRobot{Name: "ci", Level: meta.RobotSystem, Secret: "short"}, ErrInvalid},
	}
	for _, tt := range robotErrs {
		if _, _, err := s.CreateRobot(ctx, tt.nr); !errors.Is(err, tt.want) {
			t.Errorf("%s: CreateRobot err = %v, want %v", tt.name, err, tt.want)
		}
	}
	r, secret := must2(t)(s.CreateRobot(ctx, NewRobot{Name: "ci", Level: meta.RobotProject, ProjectID: team.ID, Secret: "Custom1234"}))
	if secret != "Custom1234" {
		t.Errorf("custom secret = %q", secret)
	}
	if _, _, err := s.CreateRobot(ctx, NewRobot{Name: "ci", Level: meta.RobotProject, ProjectID: team.ID}); !errors.Is(err, meta.ErrRobotExists) {
		t.Errorf("CreateRobot(taken) err = %v", err)
	}
	fresh := must[string](t)(s.RefreshRobotSecret(ctx, nil, r.ID, ""))
	if fresh == secret || len(fresh) != robotSecretLen {
		t.Errorf("refreshed secret %q", fresh)
	}
	if _, err := s.Authenticate(ctx, r.Name, secret, ""); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("old robot secret still works: %v", err)
	}
	must[access.Principal](t)(s.Authenticate(ctx, r.Name, fresh, ""))
	if err := s.DeleteRobot(ctx, nil, r.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, r.Name, fresh, ""); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("deleted robot login err = %v", err)
	}
}

func TestExternalDirectory(t *testing.T) {
	dir := &fakeDirectory{}
	s, st := newService(t, Options{External: dir})
	ctx := t.Context()
	team := must[meta.Project](t)(st.Projects.CreateProject(ctx, meta.Project{Name: "team"}))
	must[meta.Member](t)(st.Projects.AddMember(ctx, meta.Member{ProjectID: team.ID, Kind: meta.MemberGroup, GroupDN: "cn=devs,ou=groups,dc=corp", Role: int(access.RoleDeveloper)}))
	must[meta.User](t)(s.CreateUser(ctx, NewUser{Username: "local", Password: "Local1234"}))
	dir.add("erin", "Erin1234!", ExternalUser{Username: "erin", Email: "erin@corp", DisplayName: "Erin", DN: "uid=erin,dc=corp",
		GroupDNs: []string{"CN=Devs,OU=Groups,DC=Corp"}})
	dir.add("boss", "Boss1234!", ExternalUser{Username: "boss", DN: "uid=boss,dc=corp", Admin: true})
	dir.add("local", "Ldap1234!", ExternalUser{Username: "local"})

	p := must[access.Principal](t)(s.Authenticate(ctx, "erin", "Erin1234!", ""))
	if p.Roles[team.ID] != access.RoleDeveloper || p.Sysadmin {
		t.Errorf("erin = %+v, want Developer of team through her group", p)
	}
	u := must[meta.User](t)(st.Users.GetUserByName(ctx, "erin"))
	if u.Source != meta.SourceLDAP || u.Email != "erin@corp" || u.PasswordHash != "" || u.LDAPDN != "uid=erin,dc=corp" {
		t.Errorf("onboarded user = %+v", u)
	}
	// Groups change in the directory: the next login refreshes them.
	dir.add("erin", "Erin1234!", ExternalUser{Username: "erin", Email: "erin@corp", DN: "uid=erin,dc=corp"})
	p = must[access.Principal](t)(s.Authenticate(ctx, "erin", "Erin1234!", ""))
	if _, ok := p.Roles[team.ID]; ok {
		t.Errorf("erin kept her group's role after leaving it: %+v", p.Roles)
	}
	if p := must[access.Principal](t)(s.Authenticate(ctx, "boss", "Boss1234!", "")); !p.Sysadmin {
		t.Error("member of the directory's admin group is not a system administrator")
	}
	if _, err := s.Authenticate(ctx, "erin", "wrong", ""); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("wrong directory password err = %v", err)
	}
	// A local account is never logged in through the directory.
	if _, err := s.Authenticate(ctx, "local", "Ldap1234!", ""); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("directory password for a local account err = %v", err)
	}
	must[access.Principal](t)(s.Authenticate(ctx, "local", "Local1234", ""))
	// Disabled in Berth: refused even with the right directory password.
	must[meta.User](t)(s.SetDisabled(ctx, u.ID, true))
	if _, err := s.Authenticate(ctx, "erin", "Erin1234!", ""); !errors.Is(err, ErrDisabled) {
		t.Errorf("disabled directory user err = %v", err)
	}
	dir.down = true
	if _, err := s.Authenticate(ctx, "boss", "Boss1234!", ""); !errors.Is(err, ErrBackendUnavailable) {
		t.Errorf("directory down err = %v, want ErrBackendUnavailable", err)
	}
}

func TestThrottle(t *testing.T) {
	const window = 1500 * time.Millisecond
	s, _ := newService(t, Options{Throttle: Throttle{PerUser: 3, PerIP: 5, Window: window}})
	ctx := t.Context()
	must[meta.User](t)(s.CreateUser(ctx, NewUser{Username: "alice", Password: "Alice1234"}))
	must[meta.User](t)(s.CreateUser(ctx, NewUser{Username: "bob", Password: "Bob12345"}))

	steps := []struct {
		name, user, pass, ip string
		want                 error
	}{
		{"fail 1", "alice", "x", "192.0.2.1", ErrInvalidCredentials},
		{"fail 2, the name in capitals", "ALICE", "x", "192.0.2.2", ErrInvalidCredentials},
		{"fail 3, the name with spaces", " alice ", "x", "192.0.2.3", ErrInvalidCredentials},
		{"user limit reached: even the right password waits", "alice", "Alice1234", "192.0.2.4", ErrThrottled},
		{"other users are not affected", "bob", "Bob12345", "192.0.2.4", nil},
		{"ip fail 1", "u1", "x", "198.51.100.1", ErrInvalidCredentials},
		{"ip fail 2", "u2", "x", "198.51.100.1", ErrInvalidCredentials},
		{"ip fail 3", "u3", "x", "198.51.100.1", ErrInvalidCredentials},
		{"ip fail 4", "u4", "x", "198.51.100.1", ErrInvalidCredentials},
		{"ip fail 5", "u5", "x", "198.51.100.1", ErrInvalidCredentials},
		{"ip limit reached", "bob", "Bob12345", "198.51.100.1", ErrThrottled},
		{"another address is fine", "bob", "Bob12345", "198.51.100.2", nil},
	}
	for _, st := range steps {
		_, err := s.Authenticate(ctx, st.user, st.pass, st.ip)
		if !errors.Is(err, st.want) || (err == nil) != (st.want == nil) {
			t.Fatalf("%s: err = %v, want %v", st.name, err, st.want)
		}
		var te *ThrottledError
		if errors.As(err, &te) && (te.RetryAfter < time.Second || te.RetryAfter > window+time.Second) {
			t.Errorf("%s: RetryAfter = %v", st.name, te.RetryAfter)
		}
	}
	// Never locked out for longer than the window.
	time.Sleep(window + 100*time.Millisecond)
	must[access.Principal](t)(s.Authenticate(ctx, "alice", "Alice1234", "192.0.2.4"))
	must[access.Principal](t)(s.Authenticate(ctx, "bob", "Bob12345", "198.51.100.1"))
}
