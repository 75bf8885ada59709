package project_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/project"
	"github.com/berth-registry/berth/internal/settings"
)

// fakes: the projects table as a map, a fixed repository count, the
// settings in force and the audit entries recorded.
type fakeProjects struct {
	byName  map[string]meta.Project
	admins  map[int64]int64 // project id -> admin user id
	deleted []int64
	updates int
}

func (f *fakeProjects) CreateProjectWithAdmin(_ context.Context, p meta.Project, admin int64) (meta.Project, error) {
	if _, ok := f.byName[p.Name]; ok {
		return meta.Project{}, meta.ErrProjectExists
	}
	p.ID = int64(len(f.byName) + 1)
	f.byName[p.Name], f.admins[p.ID] = p, admin
	return p, nil
}

func (f *fakeProjects) UpdateProject(_ context.Context, p meta.Project) (meta.Project, error) {
	f.updates++
	f.byName[p.Name] = p
	return p, nil
}

func (f *fakeProjects) DeleteProject(_ context.Context, id int64) error {
	f.deleted = append(f.deleted, id)
	return nil
}

type repoCount int

func (n repoCount) CountProjectRepositories(context.Context, string) (int, error) { return int(n), nil }

type fixedSettings string

func (r fixedSettings) Get(context.Context) (settings.Settings, error) {
	s := settings.Defaults()
	s.ProjectCreationRestriction = string(r)
	return s, nil
}

type recorder struct{ entries []meta.AuditLog }

func (r *recorder) Record(e meta.AuditLog) { r.entries = append(r.entries, e) }

func newService(restriction string, repos int) (*project.Service, *fakeProjects, *recorder) {
	store := &fakeProjects{byName: map[string]meta.Project{}, admins: map[int64]int64{}}
	rec := &recorder{}
	return project.New(project.Stores{Projects: store, Repos: repoCount(repos)}, fixedSettings(restriction), rec, slog.New(slog.DiscardHandler)), store, rec
}

func TestValidateName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"team", true}, {"team-a.b_c", true}, {"a1", true},
		{"", false}, {"Team", false}, {"a/b", false}, {"123", false}, {"-a", false}, {"a..b", false},
		{string(make([]byte, 256)), false},
	} {
		err := project.ValidateName(tc.name)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, project.ErrNameInvalid)) {
			t.Errorf("ValidateName(%q) = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

// TestMayCreate: who may create a project under each restriction.
func TestMayCreate(t *testing.T) {
	user := access.Principal{Kind: access.KindUser, ID: 7, Name: "alice"}
	sysadmin := access.Principal{Kind: access.KindUser, ID: 1, Name: "admin", Sysadmin: true}
	robot := access.Principal{Kind: access.KindRobot, ID: 3, Name: "robot$ci"}
	sysRobot := access.Principal{Kind: access.KindRobot, ID: 4, Name: "robot$sys",
		Scopes: []access.Scope{{Project: "/", Resource: access.ResourceProject, Action: access.ActionCreate}}}
	for _, tc := range []struct {
		name        string
		restriction string
		p           access.Principal
		want        error
	}{
		{"user, everyone", settings.ProjectCreationEveryone, user, nil},
		{"user, adminonly", settings.ProjectCreationAdminOnly, user, project.ErrCreationRestricted},
		{"sysadmin, adminonly", settings.ProjectCreationAdminOnly, sysadmin, nil},
		{"robot without scope", settings.ProjectCreationEveryone, robot, access.ErrDenied},
		{"robot with system scope, adminonly", settings.ProjectCreationAdminOnly, sysRobot, nil},
		{"anonymous", settings.ProjectCreationEveryone, access.Anonymous(), access.ErrUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, _, _ := newService(tc.restriction, 0)
			if err := svc.MayCreate(t.Context(), tc.p); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Errorf("MayCreate = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestCreateSetPublicDelete: the owner becomes the admin, a taken name is
// ErrExists, an unchanged visibility writes nothing, a project with
// repositories is not deleted; each change is audited once.
func TestCreateSetPublicDelete(t *testing.T) {
	ctx := t.Context()
	svc, store, rec := newService(settings.ProjectCreationEveryone, 0)
	alice := project.Actor{Principal: access.Principal{Kind: access.KindUser, ID: 7, Name: "alice"}, ClientIP: "192.0.2.1"}
	p, err := svc.Create(ctx, alice, "team", false)
	if err != nil {
		t.Fatal(err)
	}
	if p.OwnerID != 7 || store.admins[p.ID] != 7 {
		t.Errorf("owner %d, admin %d; want alice (7) as both", p.OwnerID, store.admins[p.ID])
	}
	if _, err := svc.Create(ctx, alice, "team", true); !errors.Is(err, project.ErrExists) {
		t.Errorf("second create: %v, want ErrExists", err)
	}
	if _, err := svc.Create(ctx, alice, "Team", true); !errors.Is(err, project.ErrNameInvalid) {
		t.Errorf("bad name: %v, want ErrNameInvalid", err)
	}
	if _, err := svc.SetPublic(ctx, alice, p, false); err != nil || store.updates != 0 {
		t.Errorf("unchanged visibility: %v, %d updates", err, store.updates)
	}
	if p, err = svc.SetPublic(ctx, alice, p, true); err != nil || !p.Public || store.updates != 1 {
		t.Errorf("make public: %+v %v, %d updates", p, err, store.updates)
	}
	if err := svc.Delete(ctx, alice, p); err != nil || len(store.deleted) != 1 {
		t.Errorf("delete: %v, deleted %v", err, store.deleted)
	}
	want := []meta.AuditLog{
		{Username: "alice", Operation: "create", ResourceType: "project", Resource: "team", ProjectID: p.ID, ClientIP: "192.0.2.1", Result: meta.AuditSuccess},
		{Username: "alice", Operation: "update", ResourceType: "project", Resource: "team", ProjectID: p.ID, ClientIP: "192.0.2.1", Result: meta.AuditSuccess},
		{Username: "alice", Operation: "delete", ResourceType: "project", Resource: "team", ProjectID: p.ID, ClientIP: "192.0.2.1", Result: meta.AuditSuccess},
	}
	if d := cmp.Diff(want, rec.entries); d != "" {
		t.Errorf("audit (-want +got):\n%s", d)
	}

	full, fullStore, fullRec := newService(settings.ProjectCreationEveryone, 2)
	err = full.Delete(ctx, alice, meta.Project{ID: 9, Name: "busy"})
	var ne *project.NotEmptyError
	if !errors.Is(err, project.ErrNotEmpty) || !errors.As(err, &ne) || ne.Repositories != 2 {
		t.Errorf("delete a project with 2 repositories: %v", err)
	}
	if len(fullStore.deleted) != 0 || len(fullRec.entries) != 0 {
		t.Errorf("refused delete wrote: deleted %v, audit %v", fullStore.deleted, fullRec.entries)
	}
}

// TestVisibleTo: which projects each kind of caller sees.
func TestVisibleTo(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    access.Principal
		want *meta.Visibility
	}{
		{"sysadmin", access.Principal{Kind: access.KindUser, ID: 1, Sysadmin: true}, nil},
		{"user", access.Principal{Kind: access.KindUser, ID: 7, GroupDNs: []string{"cn=g"}},
			&meta.Visibility{Viewer: meta.Viewer{UserID: 7, GroupDNs: []string{"cn=g"}}}},
		{"project robot", access.Principal{Kind: access.KindRobot, Scopes: []access.Scope{{Project: "a"}}}, &meta.Visibility{Projects: []string{"a"}}},
		{"robot on every project", access.Principal{Kind: access.KindRobot, Scopes: []access.Scope{{Project: "*"}}}, nil},
		{"anonymous", access.Anonymous(), &meta.Visibility{}},
	} {
		if d := cmp.Diff(tc.want, project.VisibleTo(tc.p)); d != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, d)
		}
	}
}
