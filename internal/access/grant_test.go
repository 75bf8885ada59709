package access

import (
	"errors"
	"testing"
	"time"
)

// TestCanGrant: what each kind of caller may grant is what it holds,
// nothing more (issue 15, finding 1).
func TestCanGrant(t *testing.T) {
	p1 := Project{ID: 1, Name: "p1"}
	p2 := Project{ID: 2, Name: "p2"}
	projects := map[string]Project{"p1": p1, "p2": p2}
	user := func(r Role) Principal {
		return Principal{Kind: KindUser, Name: "u", ID: 10, Roles: map[int64]Role{p1.ID: r}}
	}
	scope := func(project string, res Resource, act Action) Scope { return Scope{project, res, act} }
	// The robots of the issue: a project robot holding only robot
	// create/update, and a system robot holding only system robot:create.
	projRobot := Principal{Kind: KindRobot, Name: "robot$p1+mgr", ID: 20, Scopes: []Scope{
		scope("p1", ResourceRobot, ActionCreate), scope("p1", ResourceRobot, ActionUpdate), scope("p1", ResourceRepository, ActionPull)}}
	sysRobot := Principal{Kind: KindRobot, Name: "robot$mgr", ID: 21, Scopes: []Scope{
		scope("/", ResourceRobot, ActionCreate), scope("*", ResourceRepository, ActionPull)}}
	admin := Principal{Kind: KindUser, Name: "admin", ID: 1, Sysadmin: true}
	disabledAdmin := Principal{Kind: KindUser, Name: "old", ID: 2, Sysadmin: true, Disabled: true}

	pull := Grant{Scopes: []Scope{scope("p1", ResourceRepository, ActionPull)}}
	push := Grant{Scopes: []Scope{scope("p1", ResourceRepository, ActionPush)}}
	pushDelete := Grant{Scopes: []Scope{scope("p1", ResourceRepository, ActionPush), scope("p1", ResourceRepository, ActionDelete)}}
	memberCreate := Grant{Scopes: []Scope{scope("p1", ResourceMember, ActionCreate)}}
	otherProject := Grant{Scopes: []Scope{scope("p2", ResourceRepository, ActionPull)}}
	missingProject := Grant{Scopes: []Scope{scope("nope", ResourceRepository, ActionPull)}}
	everywherePull := Grant{Scopes: []Scope{scope("*", ResourceRepository, ActionPull)}}
	everywherePush := Grant{Scopes: []Scope{scope("*", ResourceRepository, ActionPush)}}
	userUpdate := Grant{Scopes: []Scope{scope("/", "user", ActionUpdate)}}
	robotCreateSys := Grant{Scopes: []Scope{scope("/", ResourceRobot, ActionCreate)}}
	unknown := Grant{Scopes: []Scope{scope("p1", "nonsense", ActionRead)}}
	role := func(r Role) Grant { return Grant{Role: r, RoleProject: p1} }
	sysadmin := Grant{Sysadmin: true}

	tests := []struct {
		name   string
		holder Principal
		grant  Grant
		ok     bool
	}{
		{"project admin: pull", user(RoleProjectAdmin), pull, true},
		{"project admin: push and delete", user(RoleProjectAdmin), pushDelete, true},
		{"project admin: member:create", user(RoleProjectAdmin), memberCreate, true},
		{"project admin: another project", user(RoleProjectAdmin), otherProject, false},
		{"project admin: a missing project", user(RoleProjectAdmin), missingProject, false},
		{"project admin: every project", user(RoleProjectAdmin), everywherePull, false},
		{"project admin: system user:update", user(RoleProjectAdmin), userUpdate, false},
		{"project admin: an unknown permission", user(RoleProjectAdmin), unknown, false},
		{"project admin: role projectAdmin", user(RoleProjectAdmin), role(RoleProjectAdmin), true},
		{"project admin: role guest", user(RoleProjectAdmin), role(RoleGuest), true},
		{"project admin: sysadmin", user(RoleProjectAdmin), sysadmin, false},
		{"maintainer: push and delete", user(RoleMaintainer), pushDelete, true},
		{"maintainer: member:create", user(RoleMaintainer), memberCreate, false},
		{"maintainer: role maintainer", user(RoleMaintainer), role(RoleMaintainer), true},
		{"maintainer: role projectAdmin", user(RoleMaintainer), role(RoleProjectAdmin), false},
		{"developer: push", user(RoleDeveloper), push, true},
		{"developer: delete", user(RoleDeveloper), pushDelete, false},
		{"developer: role maintainer", user(RoleDeveloper), role(RoleMaintainer), false},
		{"guest: pull", user(RoleGuest), pull, true},
		{"guest: push", user(RoleGuest), push, false},
		{"guest: role developer", user(RoleGuest), role(RoleDeveloper), false},
		{"limited guest: pull", user(RoleLimitedGuest), pull, true},
		{"limited guest: role guest", user(RoleLimitedGuest), role(RoleGuest), false},
		{"project robot: pull (held)", projRobot, pull, true},
		{"project robot: push and delete (issue)", projRobot, pushDelete, false},
		{"project robot: member:create (issue)", projRobot, memberCreate, false},
		{"project robot: role limitedGuest", projRobot, role(RoleLimitedGuest), false},
		{"project robot: sysadmin", projRobot, sysadmin, false},
		{"system robot: pull everywhere (held)", sysRobot, everywherePull, true},
		{"system robot: pull in p2 (held through *)", sysRobot, otherProject, true},
		{"system robot: push everywhere", sysRobot, everywherePush, false},
		{"system robot: user:update (issue)", sysRobot, userUpdate, false},
		{"system robot: robot:create (held)", sysRobot, robotCreateSys, true},
		{"system robot: sysadmin", sysRobot, sysadmin, false},
		{"sysadmin: everything", admin, Grant{Scopes: append(pushDelete.Scopes, userUpdate.Scopes[0], everywherePush.Scopes[0], unknown.Scopes[0]), Role: RoleProjectAdmin, RoleProject: p1, Sysadmin: true}, true},
		{"sysadmin: a missing project", admin, missingProject, true},
		{"disabled sysadmin: pull", disabledAdmin, pull, false},
		{"disabled sysadmin: sysadmin", disabledAdmin, sysadmin, false},
		{"anonymous: pull of a private project", Anonymous(), pull, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := canGrant(tt.holder, tt.grant, projects, time.Now())
			if tt.ok && err != nil {
				t.Errorf("CanGrant = %v, want nil", err)
			}
			if !tt.ok && !errors.Is(err, ErrDenied) {
				t.Errorf("CanGrant = %v, want ErrDenied", err)
			}
		})
	}
}

func TestCanChangeRobotAndSetPassword(t *testing.T) {
	robot := Principal{Kind: KindRobot, Name: "robot$x", ID: 7}
	if err := CanChangeRobot(robot, 7); !errors.Is(err, ErrDenied) {
		t.Errorf("robot changing itself: %v, want ErrDenied", err)
	}
	if err := CanChangeRobot(robot, 8); err != nil {
		t.Errorf("robot changing another: %v", err)
	}
	if err := CanChangeRobot(Principal{Kind: KindUser, ID: 7}, 7); err != nil {
		t.Errorf("user 7 changing robot 7: %v", err)
	}
	for _, tt := range []struct {
		name string
		p    Principal
		ok   bool
	}{
		{"human sysadmin", Principal{Kind: KindUser, ID: 1, Sysadmin: true}, true},
		{"disabled sysadmin", Principal{Kind: KindUser, ID: 1, Sysadmin: true, Disabled: true}, false},
		{"plain user", Principal{Kind: KindUser, ID: 2}, false},
		{"system robot with user:update", Principal{Kind: KindRobot, ID: 3, Scopes: []Scope{{"/", "user", ActionUpdate}}}, false},
	} {
		if err := CanSetPassword(tt.p); (err == nil) != tt.ok {
			t.Errorf("%s: CanSetPassword = %v, want ok=%t", tt.name, err, tt.ok)
		}
	}
}
