package access

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

// TestRolesNest: every permission of a role is held by every more
// powerful role, so keeping only a user's highest role loses nothing.
func TestRolesNest(t *testing.T) {
	roles := Roles()
	for i := 1; i < len(roles); i++ {
		weaker, stronger := roles[i], roles[i-1]
		if weaker.Rank() >= stronger.Rank() {
			t.Errorf("Rank(%s) = %d >= Rank(%s) = %d", weaker, weaker.Rank(), stronger, stronger.Rank())
		}
		for _, row := range Matrix() {
			if row.Holders[weaker] && !row.Holders[stronger] {
				t.Errorf("%s holds %s but %s does not", weaker, row.Permission, stronger)
			}
		}
	}
	seen := map[Permission]bool{}
	for _, row := range Matrix() {
		if seen[row.Permission] {
			t.Errorf("%s appears twice in the matrix", row.Permission)
		}
		seen[row.Permission] = true
	}
	for _, p := range publicPermissions {
		if !seen[p] {
			t.Errorf("public permission %s is not in the matrix", p)
		}
	}
}

// TestHarborBasics pins the lines the issue names: pull for Guest and up
// and LimitedGuest, push for Developer and up, delete for Maintainer and
// up, members and robots managed by ProjectAdmin.
func TestHarborBasics(t *testing.T) {
	tests := []struct {
		perm Permission
		want []Role
	}{
		{Permission{ResourceRepository, ActionPull}, []Role{RoleProjectAdmin, RoleMaintainer, RoleDeveloper, RoleGuest, RoleLimitedGuest}},
		{Permission{ResourceRepository, ActionPush}, []Role{RoleProjectAdmin, RoleMaintainer, RoleDeveloper}},
		{Permission{ResourceRepository, ActionDelete}, []Role{RoleProjectAdmin, RoleMaintainer}},
		{Permission{ResourceArtifact, ActionDelete}, []Role{RoleProjectAdmin, RoleMaintainer}},
		{Permission{ResourceMember, ActionCreate}, []Role{RoleProjectAdmin}},
		{Permission{ResourceMember, ActionList}, []Role{RoleProjectAdmin, RoleMaintainer, RoleDeveloper, RoleGuest}},
		{Permission{ResourceRobot, ActionCreate}, []Role{RoleProjectAdmin}},
		{Permission{ResourceProject, ActionDelete}, []Role{RoleProjectAdmin}},
		{Permission{"nonsense", ActionRead}, []Role{}},
	}
	for _, tt := range tests {
		t.Run(tt.perm.String(), func(t *testing.T) {
			got := []Role{}
			for _, r := range Roles() {
				if r.Has(tt.perm) {
					got = append(got, r)
				}
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("holders (-want +got):\n%s", d)
			}
		})
	}
	if Role(0).Has(Permission{ResourceRepository, ActionPull}) || Role(9).Valid() {
		t.Error("an unknown role holds something")
	}
}

func TestParseRole(t *testing.T) {
	tests := []struct {
		in   string
		want Role
		ok   bool
	}{
		{"projectAdmin", RoleProjectAdmin, true},
		{"MAINTAINER", RoleMaintainer, true},
		{"2", RoleDeveloper, true},
		{"limitedGuest", RoleLimitedGuest, true},
		{"owner", 0, false},
		{"0", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseRole(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("ParseRole(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestCan(t *testing.T) {
	pub := Project{ID: 1, Name: "library", Public: true}
	priv := Project{ID: 2, Name: "team", Public: false}
	other := Project{ID: 3, Name: "other", Public: false}
	past, future := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	user := func(role Role) Principal {
		return Principal{Kind: KindUser, Name: "u", ID: 7, Roles: map[int64]Role{priv.ID: role}}
	}
	robot := func(scopes ...Scope) Principal {
		return Principal{Kind: KindRobot, Name: "robot$team+ci", ID: 9, Scopes: scopes}
	}
	pull := Permission{ResourceRepository, ActionPull}
	push := Permission{ResourceRepository, ActionPush}
	del := Permission{ResourceRepository, ActionDelete}
	members := Permission{ResourceMember, ActionCreate}

	tests := []struct {
		name string
		p    Principal
		proj Project
		perm Permission
		want bool
	}{
		{"anonymous pulls public", Anonymous(), pub, pull, true},
		{"anonymous cannot push public", Anonymous(), pub, push, false},
		{"anonymous cannot pull private", Anonymous(), priv, pull, false},
		{"user without role pulls public", Principal{Kind: KindUser, Name: "x"}, pub, pull, true},
		{"user without role cannot pull private", Principal{Kind: KindUser, Name: "x"}, priv, pull, false},
		{"limited guest pulls", user(RoleLimitedGuest), priv, pull, true},
		{"limited guest cannot list members", user(RoleLimitedGuest), priv, Permission{ResourceMember, ActionList}, false},
		{"guest pulls", user(RoleGuest), priv, pull, true},
		{"guest cannot push", user(RoleGuest), priv, push, false},
		{"developer pushes", user(RoleDeveloper), priv, push, true},
		{"developer cannot delete", user(RoleDeveloper), priv, del, false},
		{"maintainer deletes", user(RoleMaintainer), priv, del, true},
		{"maintainer cannot add members", user(RoleMaintainer), priv, members, false},
		{"project admin adds members", user(RoleProjectAdmin), priv, members, true},
		{"role does not leak to another project", user(RoleProjectAdmin), other, pull, false},
		{"disabled user gets nothing, not even public pull", Principal{Kind: KindUser, Disabled: true, Roles: map[int64]Role{priv.ID: RoleProjectAdmin}}, pub, pull, false},
		{"sysadmin does anything", Principal{Kind: KindUser, Sysadmin: true}, other, members, true},
		{"disabled sysadmin does nothing", Principal{Kind: KindUser, Sysadmin: true, Disabled: true}, other, pull, false},
		{"robot in scope", robot(Scope{"team", ResourceRepository, ActionPush}), priv, push, true},
		{"robot out of scope action", robot(Scope{"team", ResourceRepository, ActionPull}), priv, push, false},
		{"robot out of scope project", robot(Scope{"team", ResourceRepository, ActionPull}), other, pull, false},
		{"robot pulls public", robot(), pub, pull, true},
		{"system robot on every project", robot(Scope{"*", ResourceRepository, ActionPull}), other, pull, true},
		{"robot with sysadmin flag is still a robot", Principal{Kind: KindRobot, Sysadmin: true}, other, pull, false},
		{"expired robot", Principal{Kind: KindRobot, ExpiresAt: past, Scopes: []Scope{{"team", ResourceRepository, ActionPull}}}, priv, pull, false},
		{"expired robot cannot pull public", Principal{Kind: KindRobot, ExpiresAt: past}, pub, pull, false},
		{"robot before expiry", Principal{Kind: KindRobot, ExpiresAt: future, Scopes: []Scope{{"team", ResourceRepository, ActionPull}}}, priv, pull, true},
		{"disabled robot", Principal{Kind: KindRobot, Disabled: true, Scopes: []Scope{{"team", ResourceRepository, ActionPull}}}, priv, pull, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Can(tt.p, tt.proj, tt.perm.Resource, tt.perm.Action); got != tt.want {
				t.Errorf("Can = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCanSystem(t *testing.T) {
	tests := []struct {
		name string
		p    Principal
		want bool
	}{
		{"sysadmin", Principal{Kind: KindUser, Sysadmin: true}, true},
		{"disabled sysadmin", Principal{Kind: KindUser, Sysadmin: true, Disabled: true}, false},
		{"user", Principal{Kind: KindUser}, false},
		{"anonymous", Anonymous(), false},
		{"system robot with the scope", Principal{Kind: KindRobot, Scopes: []Scope{{"/", ResourceProject, ActionCreate}}}, true},
		{"robot with a project scope", Principal{Kind: KindRobot, Scopes: []Scope{{"*", ResourceProject, ActionCreate}}}, false},
	}
	for _, tt := range tests {
		if got := CanSystem(tt.p, ResourceProject, ActionCreate); got != tt.want {
			t.Errorf("%s: CanSystem = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestProjectName(t *testing.T) {
	for in, want := range map[string]string{"library/app": "library", "a/b/c": "a", "single": "single"} {
		if got := ProjectName(in); got != want {
			t.Errorf("ProjectName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestChecker(t *testing.T) {
	s := metatest.OpenSQLite(t)
	ctx := t.Context()
	team, err := s.Projects.CreateProject(ctx, meta.Project{Name: "team"})
	if err != nil {
		t.Fatal(err)
	}
	c := NewChecker(s.Projects)
	dev := Principal{Kind: KindUser, Name: "d", Roles: map[int64]Role{team.ID: RoleDeveloper}}
	tests := []struct {
		name    string
		p       Principal
		repo    string
		actions []string
		want    []string
		err     error
	}{
		{"developer", dev, "team/app", []string{"pull", "push", "delete", "push"}, []string{"pull", "push"}, nil},
		{"star needs all three", dev, "team/app", []string{"*"}, []string{}, nil},
		{"star for an admin", Principal{Kind: KindUser, Sysadmin: true}, "team/app", []string{"*", "pull"}, []string{"*", "pull"}, nil},
		{"anonymous on public library", Anonymous(), "library/x/y", []string{"push", "pull"}, []string{"pull"}, nil},
		{"unknown action", dev, "team/app", []string{"steal"}, []string{}, nil},
		{"missing project", dev, "ghost/app", []string{"pull"}, nil, meta.ErrProjectNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Grant(ctx, tt.p, tt.repo, tt.actions)
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("Grant err = %v, want %v", err, tt.err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("Grant (-want +got):\n%s", d)
			}
		})
	}
	_, err = c.Grant(ctx, dev, "ghost/app", []string{"pull"})
	var pnf *ProjectNotFoundError
	if !errors.As(err, &pnf) || err.Error() != "project ghost does not exist" {
		t.Errorf("missing project error = %v", err)
	}
}

// TestMatrixDocumented: docs/auth.md shows exactly the matrix in matrix.go.
func TestMatrixDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/auth.md")
	if err != nil {
		t.Fatal(err)
	}
	want := MatrixMarkdown()
	if !strings.Contains(string(doc), want) {
		t.Errorf("docs/auth.md does not contain the permission matrix; paste this table:\n\n%s", want)
	}
}

// MatrixMarkdown renders the matrix as the table docs/auth.md shows.
func MatrixMarkdown() string {
	var b strings.Builder
	b.WriteString("| Resource | Action | Project admin | Maintainer | Developer | Guest | Limited guest | Anyone, in a public project |\n")
	b.WriteString("|---|---|:-:|:-:|:-:|:-:|:-:|:-:|\n")
	mark := func(ok bool) string {
		if ok {
			return "✓"
		}
		return ""
	}
	for _, row := range Matrix() {
		b.WriteString("| " + string(row.Permission.Resource) + " | " + string(row.Permission.Action) + " |")
		for _, r := range Roles() {
			b.WriteString(" " + mark(row.Holders[r]) + " |")
		}
		b.WriteString(" " + mark(row.Public) + " |\n")
	}
	return b.String()
}
