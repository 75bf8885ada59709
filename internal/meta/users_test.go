package meta_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

func TestUsers(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		c := withClock(s)
		alice := must[meta.User](t)(s.Users.CreateUser(ctx, meta.User{
			Username: "alice", Email: "Alice@example.com", Realname: "Alice A", PasswordHash: "$argon2id$x",
		}))
		want := meta.User{
			ID: alice.ID, Username: "alice", Email: "Alice@example.com", Realname: "Alice A", PasswordHash: "$argon2id$x",
			Source: meta.SourceLocal, LDAPGroupDNs: []string{}, CreatedAt: t0us, UpdatedAt: t0us,
		}
		diff(t, "CreateUser", want, alice)
		diff(t, "GetUser", want, must[meta.User](t)(s.Users.GetUser(ctx, alice.ID)))
		diff(t, "GetUserByName", want, must[meta.User](t)(s.Users.GetUserByName(ctx, "alice")))

		if _, err := s.Users.CreateUser(ctx, meta.User{Username: "alice"}); !errors.Is(err, meta.ErrUserExists) {
			t.Errorf("CreateUser(taken) err = %v, want ErrUserExists", err)
		}
		for name, err := range map[string]error{
			"GetUser(missing)":         func() error { _, err := s.Users.GetUser(ctx, 999); return err }(),
			"GetUserByName(missing)":   func() error { _, err := s.Users.GetUserByName(ctx, "Alice"); return err }(),
			"UpdateUser(missing)":      func() error { _, err := s.Users.UpdateUser(ctx, meta.User{ID: 999}); return err }(),
			"SetPasswordHash(missing)": s.Users.SetPasswordHash(ctx, 999, "h"),
			"DeleteUser(missing)":      s.Users.DeleteUser(ctx, 999),
		} {
			if !errors.Is(err, meta.ErrUserNotFound) {
				t.Errorf("%s err = %v, want ErrUserNotFound", name, err)
			}
		}

		c.Advance(time.Hour)
		upd := alice
		upd.Email, upd.Sysadmin, upd.Disabled = "a@example.com", true, true
		upd.LDAPDN, upd.LDAPGroupDNs, upd.LDAPAdmin = "uid=alice,dc=x", []string{"CN=Devs,DC=x", "cn=devs,dc=x", "cn=ops,dc=x"}, true
		upd.Username, upd.PasswordHash = "ignored", "ignored" // not changed by UpdateUser
		got := must[meta.User](t)(s.Users.UpdateUser(ctx, upd))
		want.Email, want.Sysadmin, want.Disabled = "a@example.com", true, true
		want.LDAPDN, want.LDAPGroupDNs, want.LDAPAdmin = "uid=alice,dc=x", []string{"cn=devs,dc=x", "cn=ops,dc=x"}, true
		want.UpdatedAt = t0us.Add(time.Hour)
		diff(t, "UpdateUser", want, got)

		check(t, s.Users.SetPasswordHash(ctx, alice.ID, "$argon2id$y"))
		if got := must[meta.User](t)(s.Users.GetUser(ctx, alice.ID)); got.PasswordHash != "$argon2id$y" {
			t.Errorf("password hash = %q after SetPasswordHash", got.PasswordHash)
		}

		for _, n := range []string{"bob", "carol_1", "carolX1", "dave"} {
			must[meta.User](t)(s.Users.CreateUser(ctx, meta.User{Username: n, Email: n + "@corp.test", Source: meta.SourceLDAP}))
		}
		tests := []struct {
			name  string
			f     meta.UserFilter
			p     meta.Page
			want  []string
			total int
		}{
			{"all", meta.UserFilter{}, meta.Page{Limit: 10}, []string{"alice", "bob", "carolX1", "carol_1", "dave"}, 5},
			{"page", meta.UserFilter{}, meta.Page{Offset: 1, Limit: 2}, []string{"bob", "carolX1"}, 5},
			{"substring", meta.UserFilter{Username: "AROL"}, meta.Page{Limit: 10}, []string{"carolX1", "carol_1"}, 2},
			{"underscore is literal", meta.UserFilter{Username: "l_"}, meta.Page{Limit: 10}, []string{"carol_1"}, 1},
			{"email", meta.UserFilter{Email: "corp.test"}, meta.Page{Limit: 10}, []string{"bob", "carolX1", "carol_1", "dave"}, 4},
			{"count only", meta.UserFilter{}, meta.Page{}, []string{}, 5},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				us, total, err := s.Users.ListUsers(ctx, tt.f, tt.p)
				check(t, err)
				names := []string{}
				for _, u := range us {
					names = append(names, u.Username)
				}
				diff(t, "ListUsers", tt.want, names)
				if total != tt.total {
					t.Errorf("total = %d, want %d", total, tt.total)
				}
			})
		}

		// Deleting a user removes its memberships and orphans its projects.
		p := must[meta.Project](t)(s.Projects.CreateProject(ctx, meta.Project{Name: "owned", OwnerID: alice.ID}))
		must[meta.Member](t)(s.Projects.AddMember(ctx, meta.Member{ProjectID: p.ID, Kind: meta.MemberUser, UserID: alice.ID, Role: 1}))
		check(t, s.Users.DeleteUser(ctx, alice.ID))
		if got := must[meta.Project](t)(s.Projects.GetProject(ctx, p.ID)); got.OwnerID != 0 {
			t.Errorf("owner after DeleteUser = %d, want 0", got.OwnerID)
		}
		if _, n, err := s.Projects.ListMembers(ctx, p.ID, "", meta.Page{}); err != nil || n != 0 {
			t.Errorf("members after DeleteUser = %d, %v; want 0", n, err)
		}
	})
}

func TestLoginFailures(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		c := withClock(s)
		const window = 5 * time.Minute
		steps := []struct {
			name    string
			advance time.Duration
			want    meta.LoginFailures
		}{
			{"first", 0, meta.LoginFailures{Failures: 1, WindowStart: t0us}},
			{"second in window", time.Minute, meta.LoginFailures{Failures: 2, WindowStart: t0us}},
			{"third in window", 3 * time.Minute, meta.LoginFailures{Failures: 3, WindowStart: t0us}},
			{"window over: restart", 2 * time.Minute, meta.LoginFailures{Failures: 1, WindowStart: t0us.Add(6 * time.Minute)}},
		}
		for _, st := range steps {
			c.Advance(st.advance)
			got, err := s.Users.RecordLoginFailure(ctx, "user:alice", window)
			check(t, err)
			diff(t, st.name, st.want, got)
		}
		must[meta.LoginFailures](t)(s.Users.RecordLoginFailure(ctx, "ip:192.0.2.1", window))
		got := must[map[string]meta.LoginFailures](t)(s.Users.GetLoginFailures(ctx, []string{"user:alice", "ip:192.0.2.1", "user:nobody"}, window))
		diff(t, "GetLoginFailures", map[string]meta.LoginFailures{
			"user:alice":   {Failures: 1, WindowStart: t0us.Add(6 * time.Minute)},
			"ip:192.0.2.1": {Failures: 1, WindowStart: t0us.Add(6 * time.Minute)},
		}, got)

		check(t, s.Users.ClearLoginFailures(ctx, "user:alice"))
		c.Advance(window + time.Second) // the ip window has expired
		got = must[map[string]meta.LoginFailures](t)(s.Users.GetLoginFailures(ctx, []string{"user:alice", "ip:192.0.2.1"}, window))
		diff(t, "after clear and expiry", map[string]meta.LoginFailures{}, got, cmpopts.EquateEmpty())
		n := must[int64](t)(s.Users.PurgeLoginFailures(ctx, t0.Add(time.Hour)))
		if n != 1 {
			t.Errorf("PurgeLoginFailures = %d, want 1", n)
		}
	})
}
