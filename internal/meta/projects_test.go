package meta_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

func TestDefaultProject(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		p := must[meta.Project](t)(s.Projects.GetProjectByName(t.Context(), "library"))
		if !p.Public || p.OwnerID != 0 || p.CreatedAt.IsZero() || time.Since(p.CreatedAt) > time.Hour {
			t.Errorf("library = %+v, want a public project without owner created just now", p)
		}
	})
}

func TestProjects(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		c := withClock(s)
		owner := must[meta.User](t)(s.Users.CreateUser(ctx, meta.User{Username: "owner"}))
		p := must[meta.Project](t)(s.Projects.CreateProject(ctx, meta.Project{Name: "team-a", OwnerID: owner.ID}))
		want := meta.Project{ID: p.ID, Name: "team-a", OwnerID: owner.ID, CreatedAt: t0us, UpdatedAt: t0us}
		diff(t, "CreateProject", want, p)
		diff(t, "GetProject", want, must[meta.Project](t)(s.Projects.GetProject(ctx, p.ID)))
		diff(t, "GetProjectByName", want, must[meta.Project](t)(s.Projects.GetProjectByName(ctx, "team-a")))
		if _, err := s.Projects.CreateProject(ctx, meta.Project{Name: "team-a"}); !errors.Is(err, meta.ErrProjectExists) {
			t.Errorf("CreateProject(taken) err = %v, want ErrProjectExists", err)
		}

		c.Advance(time.Minute)
		want.Public, want.UpdatedAt = true, t0us.Add(time.Minute)
		diff(t, "UpdateProject", want, must[meta.Project](t)(s.Projects.UpdateProject(ctx, meta.Project{ID: p.ID, Public: true, OwnerID: owner.ID})))

		for name, err := range map[string]error{
			"GetProject":       func() error { _, err := s.Projects.GetProject(ctx, 999); return err }(),
			"GetProjectByName": func() error { _, err := s.Projects.GetProjectByName(ctx, "nope"); return err }(),
			"UpdateProject":    func() error { _, err := s.Projects.UpdateProject(ctx, meta.Project{ID: 999}); return err }(),
			"DeleteProject":    s.Projects.DeleteProject(ctx, 999),
			"AddMember": func() error {
				_, err := s.Projects.AddMember(ctx, meta.Member{ProjectID: 999, Kind: meta.MemberUser, UserID: owner.ID, Role: 1})
				return err
			}(),
		} {
			if !errors.Is(err, meta.ErrProjectNotFound) {
				t.Errorf("%s(missing) err = %v, want ErrProjectNotFound", name, err)
			}
		}

		// Visibility: public projects, plus those where the viewer or one of
		// its groups is a member.
		u := must[meta.User](t)(s.Users.CreateUser(ctx, meta.User{Username: "u"}))
		for _, n := range []string{"private-direct", "private-group", "private-other"} {
			must[meta.Project](t)(s.Projects.CreateProject(ctx, meta.Project{Name: n}))
		}
		direct := must[meta.Project](t)(s.Projects.GetProjectByName(ctx, "private-direct"))
		group := must[meta.Project](t)(s.Projects.GetProjectByName(ctx, "private-group"))
		must[meta.Member](t)(s.Projects.AddMember(ctx, meta.Member{ProjectID: direct.ID, Kind: meta.MemberUser, UserID: u.ID, Role: 3}))
		must[meta.Member](t)(s.Projects.AddMember(ctx, meta.Member{ProjectID: group.ID, Kind: meta.MemberGroup, GroupDN: "CN=Devs,DC=Corp", Role: 2}))
		yes, no := true, false
		tests := []struct {
			name  string
			f     meta.ProjectFilter
			p     meta.Page
			want  []string
			total int
		}{
			{"all", meta.ProjectFilter{}, meta.Page{Limit: 10}, []string{"library", "private-direct", "private-group", "private-other", "team-a"}, 5},
			{"page", meta.ProjectFilter{}, meta.Page{Offset: 3, Limit: 10}, []string{"private-other", "team-a"}, 5},
			{"name", meta.ProjectFilter{Name: "PRIVATE-"}, meta.Page{Limit: 2}, []string{"private-direct", "private-group"}, 3},
			{"public", meta.ProjectFilter{Public: &yes}, meta.Page{Limit: 10}, []string{"library", "team-a"}, 2},
			{"private", meta.ProjectFilter{Public: &no}, meta.Page{Limit: 10}, []string{"private-direct", "private-group", "private-other"}, 3},
			{"visible to user", meta.ProjectFilter{VisibleTo: &meta.Viewer{UserID: u.ID}}, meta.Page{Limit: 10},
				[]string{"library", "private-direct", "team-a"}, 3},
			{"visible to user and group (any case)", meta.ProjectFilter{VisibleTo: &meta.Viewer{UserID: u.ID, GroupDNs: []string{"cn=devs,dc=corp"}}}, meta.Page{Limit: 10},
				[]string{"library", "private-direct", "private-group", "team-a"}, 4},
			{"visible and private", meta.ProjectFilter{Public: &no, VisibleTo: &meta.Viewer{UserID: 999, GroupDNs: []string{"CN=DEVS,DC=CORP"}}}, meta.Page{Limit: 10},
				[]string{"private-group"}, 1},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ps, total, err := s.Projects.ListProjects(ctx, tt.f, tt.p)
				check(t, err)
				names := []string{}
				for _, p := range ps {
					names = append(names, p.Name)
				}
				diff(t, "ListProjects", tt.want, names)
				if total != tt.total {
					t.Errorf("total = %d, want %d", total, tt.total)
				}
			})
		}

		// Repositories of a project: the name itself or names under name/.
		for _, r := range []string{"team-a", "team-a/app", "team-a/x/y", "team-ab/app", "team/a"} {
			must[meta.Repository](t)(s.Repos.EnsureRepository(ctx, r))
		}
		if n := must[int](t)(s.Repos.CountProjectRepositories(ctx, "team-a")); n != 3 {
			t.Errorf("CountProjectRepositories(team-a) = %d, want 3", n)
		}

		check(t, s.Projects.DeleteProject(ctx, group.ID))
		if _, err := s.Projects.GetProject(ctx, group.ID); !errors.Is(err, meta.ErrProjectNotFound) {
			t.Errorf("GetProject(deleted) err = %v", err)
		}
		roles := must[[]meta.ProjectRole](t)(s.Projects.RolesOf(ctx, meta.Viewer{UserID: 999, GroupDNs: []string{"cn=devs,dc=corp"}}))
		diff(t, "RolesOf after deleting the project", []meta.ProjectRole{}, roles)
	})
}

func TestMembers(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		c := withClock(s)
		p := must[meta.Project](t)(s.Projects.CreateProject(ctx, meta.Project{Name: "p"}))
		q := must[meta.Project](t)(s.Projects.CreateProject(ctx, meta.Project{Name: "q"}))
		alice := must[meta.User](t)(s.Users.CreateUser(ctx, meta.User{Username: "alice"}))
		bob := must[meta.User](t)(s.Users.CreateUser(ctx, meta.User{Username: "bob"}))

		ma := must[meta.Member](t)(s.Projects.AddMember(ctx, meta.Member{ProjectID: p.ID, Kind: meta.MemberUser, UserID: alice.ID, Role: 2}))
		diff(t, "AddMember(user)", meta.Member{ID: ma.ID, ProjectID: p.ID, Kind: meta.MemberUser, UserID: alice.ID, Name: "alice",
			Role: 2, CreatedAt: t0us, UpdatedAt: t0us}, ma)
		mg := must[meta.Member](t)(s.Projects.AddMember(ctx, meta.Member{ProjectID: p.ID, Kind: meta.MemberGroup, GroupDN: " CN=Ops,DC=Corp ", Role: 4}))
		diff(t, "AddMember(group)", meta.Member{ID: mg.ID, ProjectID: p.ID, Kind: meta.MemberGroup, GroupDN: "cn=ops,dc=corp",
			Name: "cn=ops,dc=corp", Role: 4, CreatedAt: t0us, UpdatedAt: t0us}, mg)
		must[meta.Member](t)(s.Projects.AddMember(ctx, meta.Member{ProjectID: q.ID, Kind: meta.MemberUser, UserID: alice.ID, Role: 5}))
		must[meta.Member](t)(s.Projects.AddMember(ctx, meta.Member{ProjectID: q.ID, Kind: meta.MemberGroup, GroupDN: "cn=ops,dc=corp", Role: 1}))
		must[meta.Member](t)(s.Projects.AddMember(ctx, meta.Member{ProjectID: q.ID, Kind: meta.MemberUser, UserID: bob.ID, Role: 3}))

		for _, m := range []meta.Member{
			{ProjectID: p.ID, Kind: meta.MemberUser, UserID: alice.ID, Role: 1},
			{ProjectID: p.ID, Kind: meta.MemberGroup, GroupDN: "cn=OPS,dc=corp", Role: 1},
		} {
			if _, err := s.Projects.AddMember(ctx, m); !errors.Is(err, meta.ErrMemberExists) {
				t.Errorf("AddMember(%s again) err = %v, want ErrMemberExists", m.Kind, err)
			}
		}
		if _, err := s.Projects.AddMember(ctx, meta.Member{ProjectID: p.ID, Kind: meta.MemberUser, UserID: 999, Role: 1}); !errors.Is(err, meta.ErrUserNotFound) {
			t.Errorf("AddMember(missing user) err = %v, want ErrUserNotFound", err)
		}
		if _, err := s.Projects.AddMember(ctx, meta.Member{ProjectID: p.ID, Kind: meta.MemberGroup, Role: 1}); err == nil {
			t.Error("AddMember(group without DN) succeeded")
		}

		rolesTests := []struct {
			name string
			v    meta.Viewer
			want []meta.ProjectRole
		}{
			{"alice alone", meta.Viewer{UserID: alice.ID}, []meta.ProjectRole{{p.ID, "p", 2}, {q.ID, "q", 5}}},
			{"alice in ops", meta.Viewer{UserID: alice.ID, GroupDNs: []string{"CN=Ops,DC=Corp"}},
				[]meta.ProjectRole{{p.ID, "p", 2}, {p.ID, "p", 4}, {q.ID, "q", 1}, {q.ID, "q", 5}}},
			{"group only", meta.Viewer{GroupDNs: []string{"cn=ops,dc=corp", "cn=other"}}, []meta.ProjectRole{{p.ID, "p", 4}, {q.ID, "q", 1}}},
			{"nobody", meta.Viewer{UserID: 999}, []meta.ProjectRole{}},
		}
		for _, tt := range rolesTests {
			t.Run(tt.name, func(t *testing.T) {
				diff(t, "RolesOf", tt.want, must[[]meta.ProjectRole](t)(s.Projects.RolesOf(ctx, tt.v)))
			})
		}

		ms, total, err := s.Projects.ListMembers(ctx, q.ID, "", meta.Page{Limit: 10})
		check(t, err)
		names := []string{}
		for _, m := range ms {
			names = append(names, m.Name)
		}
		diff(t, "ListMembers (users, then groups)", []string{"alice", "bob", "cn=ops,dc=corp"}, names)
		if total != 3 {
			t.Errorf("total = %d, want 3", total)
		}
		ms, total, err = s.Projects.ListMembers(ctx, q.ID, "BO", meta.Page{Limit: 10})
		check(t, err)
		if total != 1 || len(ms) != 1 || ms[0].UserID != bob.ID {
			t.Errorf("ListMembers(BO) = %+v, %d", ms, total)
		}

		c.Advance(time.Minute)
		check(t, s.Projects.UpdateMemberRole(ctx, p.ID, ma.ID, 1))
		got := must[meta.Member](t)(s.Projects.GetMember(ctx, p.ID, ma.ID))
		if got.Role != 1 || !got.UpdatedAt.Equal(t0us.Add(time.Minute)) {
			t.Errorf("after UpdateMemberRole: %+v", got)
		}
		check(t, s.Projects.RemoveMember(ctx, p.ID, ma.ID))
		for name, err := range map[string]error{
			"GetMember(removed)":       func() error { _, err := s.Projects.GetMember(ctx, p.ID, ma.ID); return err }(),
			"GetMember(other project)": func() error { _, err := s.Projects.GetMember(ctx, q.ID, mg.ID); return err }(),
			"UpdateMemberRole":         s.Projects.UpdateMemberRole(ctx, p.ID, ma.ID, 2),
			"RemoveMember":             s.Projects.RemoveMember(ctx, p.ID, ma.ID),
		} {
			if !errors.Is(err, meta.ErrMemberNotFound) {
				t.Errorf("%s err = %v, want ErrMemberNotFound", name, err)
			}
		}
	})
}

func TestConfigurations(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		got := must[map[string]string](t)(s.Settings.GetConfigurations(ctx))
		diff(t, "empty", map[string]string{}, got, cmpopts.EquateEmpty())
		check(t, s.Settings.SetConfigurations(ctx, map[string]string{"auth_mode": "db_auth", "project_creation_restriction": "everyone"}))
		check(t, s.Settings.SetConfigurations(ctx, map[string]string{"auth_mode": "ldap_auth", "ldap_url": "ldap://x"}))
		got = must[map[string]string](t)(s.Settings.GetConfigurations(ctx))
		diff(t, "GetConfigurations", map[string]string{
			"auth_mode": "ldap_auth", "ldap_url": "ldap://x", "project_creation_restriction": "everyone",
		}, got)
	})
}

func TestAuditLogs(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		c := withClock(s)
		entries := []meta.AuditLog{
			{Username: "alice", Operation: "login", ResourceType: "user", Resource: "alice", ClientIP: "192.0.2.1"},
			{Username: "alice", Operation: "push", ResourceType: "artifact", Resource: "library/App:1", ClientIP: "192.0.2.1"},
			{Username: "bob", Operation: "login", ResourceType: "user", Resource: "bob", ClientIP: "192.0.2.2", Result: meta.AuditFailure},
			{Username: "bob", Operation: "pull", ResourceType: "artifact", Resource: "library/app:1", ClientIP: "192.0.2.2", OpTime: t0.Add(-time.Hour)},
		}
		for _, e := range entries {
			check(t, s.Audit.AddAuditLog(ctx, e))
			c.Advance(time.Minute)
		}
		tests := []struct {
			name  string
			f     meta.AuditFilter
			p     meta.Page
			want  []string // operation/username, newest first
			total int
		}{
			{"all", meta.AuditFilter{}, meta.Page{Limit: 10}, []string{"login/bob", "push/alice", "login/alice", "pull/bob"}, 4},
			{"page", meta.AuditFilter{}, meta.Page{Offset: 1, Limit: 2}, []string{"push/alice", "login/alice"}, 4},
			{"user", meta.AuditFilter{Username: "bob"}, meta.Page{Limit: 10}, []string{"login/bob", "pull/bob"}, 2},
			{"operation", meta.AuditFilter{Operation: "login"}, meta.Page{Limit: 10}, []string{"login/bob", "login/alice"}, 2},
			{"resource type", meta.AuditFilter{ResourceType: "artifact"}, meta.Page{Limit: 10}, []string{"push/alice", "pull/bob"}, 2},
			{"resource substring", meta.AuditFilter{Resource: "library/app"}, meta.Page{Limit: 10}, []string{"push/alice", "pull/bob"}, 2},
			{"time range", meta.AuditFilter{From: t0, To: t0.Add(time.Minute)}, meta.Page{Limit: 10}, []string{"push/alice", "login/alice"}, 2},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ls, total, err := s.Audit.ListAuditLogs(ctx, tt.f, tt.p)
				check(t, err)
				got := []string{}
				for _, l := range ls {
					got = append(got, l.Operation+"/"+l.Username)
				}
				diff(t, "ListAuditLogs", tt.want, got)
				if total != tt.total {
					t.Errorf("total = %d, want %d", total, tt.total)
				}
			})
		}
		ls, _, err := s.Audit.ListAuditLogs(ctx, meta.AuditFilter{Username: "bob", Operation: "login"}, meta.Page{Limit: 1})
		check(t, err)
		diff(t, "entry", []meta.AuditLog{{Username: "bob", Operation: "login", ResourceType: "user", Resource: "bob",
			ClientIP: "192.0.2.2", Result: meta.AuditFailure, OpTime: t0us.Add(2 * time.Minute)}}, ls,
			cmpopts.IgnoreFields(meta.AuditLog{}, "ID"))

		n := must[int64](t)(s.Audit.PurgeAuditLogs(ctx, t0))
		if n != 1 {
			t.Errorf("PurgeAuditLogs = %d, want 1", n)
		}
	})
}

func TestListProjectInfos(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		alice := must[meta.User](t)(s.Users.CreateUser(ctx, meta.User{Username: "alice"}))
		bob := must[meta.User](t)(s.Users.CreateUser(ctx, meta.User{Username: "bob", LDAPGroupDNs: []string{"cn=devs"}}))
		for _, p := range []meta.Project{
			{Name: "a-priv", OwnerID: alice.ID},
			{Name: "b-pub", Public: true, OwnerID: bob.ID},
			{Name: "c-group"},
			{Name: "d-robot"},
		} {
			must[meta.Project](t)(s.Projects.CreateProject(ctx, p))
		}
		cg := must[meta.Project](t)(s.Projects.GetProjectByName(ctx, "c-group"))
		ap := must[meta.Project](t)(s.Projects.GetProjectByName(ctx, "a-priv"))
		must[meta.Member](t)(s.Projects.AddMember(ctx, meta.Member{ProjectID: cg.ID, Kind: meta.MemberGroup, GroupDN: "CN=devs", Role: 2}))
		must[meta.Member](t)(s.Projects.AddMember(ctx, meta.Member{ProjectID: ap.ID, Kind: meta.MemberUser, UserID: alice.ID, Role: 1}))
		putManifest(t, s, "a-priv/x", "1")
		putManifest(t, s, "a-priv/y/z", "2")
		putManifest(t, s, "a-privately/w", "3") // not in a-priv

		type row struct {
			Name, Owner string
			Repos       int
		}
		tests := []struct {
			name      string
			q         meta.ProjectQuery
			page      meta.Page
			want      []row
			wantTotal int
		}{
			{"all", meta.ProjectQuery{}, meta.Page{Limit: 10}, []row{
				{"a-priv", "alice", 2}, {"b-pub", "bob", 0}, {"c-group", "", 0}, {"d-robot", "", 0}, {"library", "", 0},
			}, 5},
			{"page", meta.ProjectQuery{}, meta.Page{Offset: 1, Limit: 2}, []row{{"b-pub", "bob", 0}, {"c-group", "", 0}}, 5},
			{"name", meta.ProjectQuery{Name: "PRIV"}, meta.Page{Limit: 10}, []row{{"a-priv", "alice", 2}}, 1},
			{"public", meta.ProjectQuery{Public: ptr(false)}, meta.Page{Limit: 10}, []row{
				{"a-priv", "alice", 2}, {"c-group", "", 0}, {"d-robot", "", 0},
			}, 3},
			{"owner", meta.ProjectQuery{Owner: "bob"}, meta.Page{Limit: 10}, []row{{"b-pub", "bob", 0}}, 1},
			{"visible to alice", meta.ProjectQuery{Visible: &meta.Visibility{Viewer: meta.Viewer{UserID: alice.ID}}}, meta.Page{Limit: 10},
				[]row{{"a-priv", "alice", 2}, {"b-pub", "bob", 0}, {"library", "", 0}}, 3},
			{"visible to bob's group", meta.ProjectQuery{Visible: &meta.Visibility{Viewer: meta.Viewer{UserID: bob.ID, GroupDNs: bob.LDAPGroupDNs}}}, meta.Page{Limit: 10},
				[]row{{"b-pub", "bob", 0}, {"c-group", "", 0}, {"library", "", 0}}, 3},
			{"visible to a robot", meta.ProjectQuery{Visible: &meta.Visibility{Projects: []string{"d-robot"}}}, meta.Page{Limit: 10},
				[]row{{"b-pub", "bob", 0}, {"d-robot", "", 0}, {"library", "", 0}}, 3},
			{"visible: all", meta.ProjectQuery{Visible: &meta.Visibility{All: true}}, meta.Page{}, nil, 5},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, total, err := s.Projects.ListProjectInfos(ctx, tt.q, tt.page)
				check(t, err)
				var rows []row
				for _, p := range got {
					rows = append(rows, row{p.Name, p.OwnerName, p.RepoCount})
				}
				diff(t, "ListProjectInfos", tt.want, rows, equateEmpty)
				if total != tt.wantTotal {
					t.Errorf("total = %d, want %d", total, tt.wantTotal)
				}
			})
		}

		counts := must[map[int]int](t)(s.Projects.CountMembersByRole(ctx, cg.ID))
		diff(t, "CountMembersByRole", map[int]int{2: 1}, counts)

		// The creator becomes a ProjectAdmin in the same transaction; a
		// missing user leaves no project behind.
		owned := must[meta.Project](t)(s.Projects.CreateProjectWithAdmin(ctx, meta.Project{Name: "owned", OwnerID: bob.ID}, bob.ID))
		members, _, err := s.Projects.ListMembers(ctx, owned.ID, "", meta.Page{Limit: 10})
		check(t, err)
		if len(members) != 1 || members[0].UserID != bob.ID || members[0].Role != 1 {
			t.Errorf("members of owned = %+v, want bob as ProjectAdmin (1)", members)
		}
		if _, err := s.Projects.CreateProjectWithAdmin(ctx, meta.Project{Name: "orphan"}, 9999); !errors.Is(err, meta.ErrUserNotFound) {
			t.Errorf("CreateProjectWithAdmin(missing user) err = %v, want ErrUserNotFound", err)
		}
		if _, err := s.Projects.GetProjectByName(ctx, "orphan"); !errors.Is(err, meta.ErrProjectNotFound) {
			t.Errorf("orphan project left behind: %v", err)
		}
		if _, err := s.Projects.CreateProjectWithAdmin(ctx, meta.Project{Name: "owned"}, 0); !errors.Is(err, meta.ErrProjectExists) {
			t.Errorf("CreateProjectWithAdmin(taken) err = %v, want ErrProjectExists", err)
		}
	})
}
