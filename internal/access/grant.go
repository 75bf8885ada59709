package access

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/berth-registry/berth/internal/meta"
)

// The grant rule: nobody gives away more than they hold. Whatever a caller
// grants (a robot's permissions, a member's role, system administration)
// must be a subset of what the caller holds at that moment; a robot never
// changes itself; and only a human system administrator grants system
// administration or sets another user's password. The edges call the
// functions below before every such change; they decide, the edges only
// map the error (ErrDenied, 403).

// Grant is what a caller wants to give.
type Grant struct {
	// Scopes are robot permissions: Project is a project name, "*" (every
	// project) or "/" (system resources).
	Scopes []Scope
	// Role, when valid, is a project role given in RoleProject.
	Role        Role
	RoleProject Project
	// Sysadmin: system administration.
	Sysadmin bool
}

// GrantError says which part of a grant the caller does not hold. It
// matches ErrDenied.
type GrantError struct {
	What string // e.g. "repository:push in project p1", "role maintainer in p1"
}

func (e *GrantError) Error() string {
	return "you cannot grant " + e.What + ": you do not hold it yourself"
}

// Is makes errors.Is(err, ErrDenied) true.
func (e *GrantError) Is(target error) bool { return target == ErrDenied }

// HumanAdmin reports whether p is an active human system administrator.
func HumanAdmin(p Principal) bool {
	return p.Kind == KindUser && p.Sysadmin && p.Active(time.Now())
}

// CanGrant returns nil when holder may grant g, else a *GrantError
// (matching ErrDenied) naming the first part it does not hold. projects
// gives the project of each project name in g.Scopes; a name missing
// from it is a project nobody but system administrators holds anything in.
func CanGrant(holder Principal, g Grant, projects map[string]Project) error {
	return canGrant(holder, g, projects, time.Now())
}

func canGrant(holder Principal, g Grant, projects map[string]Project, now time.Time) error {
	if g.Sysadmin && !(holder.Kind == KindUser && holder.Sysadmin && holder.Active(now)) {
		return &GrantError{What: "system administration (only a human system administrator can)"}
	}
	if g.Role != 0 {
		if !g.Role.Valid() {
			return &GrantError{What: g.Role.String()}
		}
		for _, row := range matrix {
			if row.roles&g.Role.bit() != 0 && !can(holder, g.RoleProject, row.perm, now) {
				return &GrantError{What: fmt.Sprintf("role %s in project %s (it includes %s)", g.Role, g.RoleProject.Name, row.perm)}
			}
		}
	}
	for _, s := range g.Scopes {
		perm := Permission{s.Resource, s.Action}
		var held bool
		switch s.Project {
		case "/":
			held = CanSystem(holder, s.Resource, s.Action) && holder.Active(now)
		case "*":
			held = holdsEverywhere(holder, perm, now)
		default:
			proj, ok := projects[s.Project]
			if !ok {
				proj = Project{Name: s.Project}
			}
			held = can(holder, proj, perm, now)
		}
		if !held {
			where := "project " + s.Project
			switch s.Project {
			case "/":
				where = "the system"
			case "*":
				where = "every project"
			}
			return &GrantError{What: perm.String() + " in " + where}
		}
	}
	return nil
}

// holdsEverywhere reports whether p holds perm in every project: system
// administrators, and robots holding it on "*".
func holdsEverywhere(p Principal, perm Permission, now time.Time) bool {
	if !p.Active(now) {
		return false
	}
	switch p.Kind {
	case KindUser:
		return p.Sysadmin
	case KindRobot:
		for _, s := range p.Scopes {
			if s.Project == "*" && s.Resource == perm.Resource && s.Action == perm.Action {
				return true
			}
		}
	}
	return false
}

// ErrSelfChange: a robot tried to change, refresh or delete itself.
var ErrSelfChange = fmt.Errorf("%w: a robot account cannot change itself", ErrDenied)

// CanChangeRobot refuses (ErrSelfChange) a robot changing, refreshing or
// deleting its own account; whether the caller may change robots at all
// is Can's business.
func CanChangeRobot(holder Principal, robotID int64) error {
	if holder.Kind == KindRobot && holder.ID == robotID {
		return ErrSelfChange
	}
	return nil
}

// CanSetPassword refuses setting another user's password without the old
// one unless holder is a human system administrator.
func CanSetPassword(holder Principal) error {
	if HumanAdmin(holder) {
		return nil
	}
	return fmt.Errorf("%w: only a human system administrator sets another user's password", ErrDenied)
}

// ScopesOf lists every access of robot permissions as scopes, as stored
// (a project robot's are checked to name its own project when written).
func ScopesOf(perms []meta.RobotPermission) []Scope {
	var out []Scope
	for _, p := range perms {
		for _, a := range p.Access {
			out = append(out, Scope{Project: p.Namespace, Resource: Resource(a.Resource), Action: Action(a.Action)})
		}
	}
	return out
}

// GrantChecker resolves the project names of a grant in the store and
// applies CanGrant.
type GrantChecker struct {
	projects projectFinder
}

// NewGrantChecker returns a GrantChecker over the store's projects.
func NewGrantChecker(projects projectFinder) *GrantChecker { return &GrantChecker{projects: projects} }

// CanGrant is CanGrant with the projects of g.Scopes looked up. Store
// failures are returned as they are; a missing project is held by system
// administrators only.
func (c *GrantChecker) CanGrant(ctx context.Context, holder Principal, g Grant) error {
	projects := map[string]Project{}
	for _, s := range g.Scopes {
		if s.Project == "/" || s.Project == "*" {
			continue
		}
		if _, ok := projects[s.Project]; ok {
			continue
		}
		p, err := c.projects.GetProjectByName(ctx, s.Project)
		switch {
		case errors.Is(err, meta.ErrProjectNotFound):
			continue
		case err != nil:
			return fmt.Errorf("grant check: %w", err)
		}
		projects[s.Project] = ProjectOf(p)
	}
	return CanGrant(holder, g, projects)
}
