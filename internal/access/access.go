// Package access decides who may do what: principals (anonymous, users,
// robots, system administrators), project roles with Harbor's permission
// matrix held as data (matrix.go), robot scopes, and Can. It authenticates
// nobody (see identity) and knows nothing about HTTP.
package access

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/meta"
)

// Errors the edges map to status codes.
var (
	// ErrUnauthorized: no usable credentials; the edge answers 401 with a
	// challenge so the client can log in.
	ErrUnauthorized = errors.New("authentication required")
	// ErrDenied: the caller is known but not allowed (403).
	ErrDenied = errors.New("requested access to the resource is denied")
)

// ProjectNotFoundError says that a repository's project does not exist.
// It matches meta.ErrProjectNotFound.
type ProjectNotFoundError struct{ Project string }

func (e *ProjectNotFoundError) Error() string { return "project " + e.Project + " does not exist" }
func (e *ProjectNotFoundError) Unwrap() error { return meta.ErrProjectNotFound }

// Kind is what a principal is.
type Kind int

// Principal kinds.
const (
	KindAnonymous Kind = iota
	KindUser
	KindRobot
)

func (k Kind) String() string {
	switch k {
	case KindUser:
		return "user"
	case KindRobot:
		return "robot"
	}
	return "anonymous"
}

// Scope is one permission of a robot: Action on Resource in Project (a
// project name, or "*" for every project, system robots only).
type Scope struct {
	Project  string
	Resource Resource
	Action   Action
}

// Principal is who makes a request, with what they hold.
type Principal struct {
	Kind Kind
	// Name is the username or the robot's full name (robot$...); "" when
	// anonymous.
	Name string
	// ID is the user's or robot's id; 0 when anonymous.
	ID       int64
	Sysadmin bool
	Disabled bool
	// ExpiresAt is when a robot stops working; zero: never.
	ExpiresAt time.Time
	// Roles maps project id to the highest role a user holds there,
	// directly or through an LDAP group.
	Roles map[int64]Role
	// GroupDNs are a user's LDAP groups (lower-cased).
	GroupDNs []string
	// Scopes are a robot's permissions.
	Scopes []Scope
	// Scanner: a scan's robot, authenticated by the token Berth minted
	// for that scan (never by a name): exempt from the pull policies, as
	// Harbor exempts its scanner.
	Scanner bool
}

// Anonymous is the principal of a request without credentials.
func Anonymous() Principal { return Principal{Kind: KindAnonymous} }

// Active reports whether p may act at all at time now: not disabled and
// not expired.
func (p Principal) Active(now time.Time) bool {
	return !p.Disabled && (p.ExpiresAt.IsZero() || now.Before(p.ExpiresAt))
}

// Authenticated reports whether p is a user or a robot.
func (p Principal) Authenticated() bool { return p.Kind != KindAnonymous }

// Project is what Can needs to know about a project.
type Project struct {
	ID     int64
	Name   string
	Public bool
}

// ProjectOf converts a stored project.
func ProjectOf(p meta.Project) Project { return Project{ID: p.ID, Name: p.Name, Public: p.Public} }

// Can reports whether p may perform act on res in project proj. Disabled
// and expired principals may do nothing, not even what anonymous may.
// System administrators may do everything; users get their role's
// permissions; robots get exactly their scopes; everyone gets the public
// permissions (pull and read) of public projects.
func Can(p Principal, proj Project, res Resource, act Action) bool {
	return can(p, proj, Permission{res, act}, time.Now())
}

func can(p Principal, proj Project, perm Permission, now time.Time) bool {
	if !p.Active(now) {
		return false
	}
	if p.Sysadmin && p.Kind == KindUser {
		return true
	}
	if proj.Public && publicPermissions.has(perm) {
		return true
	}
	switch p.Kind {
	case KindUser:
		role, ok := p.Roles[proj.ID]
		return ok && role.Has(perm)
	case KindRobot:
		for _, s := range p.Scopes {
			if (s.Project == proj.Name || s.Project == "*") && s.Resource == perm.Resource && s.Action == perm.Action {
				return true
			}
		}
	}
	return false
}

// CanSystem reports whether p may perform act on a system-level resource
// (users, all projects, configuration, audit logs ...). Only active system
// administrators may, and robots holding a scope on project "/" for it.
func CanSystem(p Principal, res Resource, act Action) bool {
	if !p.Active(time.Now()) {
		return false
	}
	switch p.Kind {
	case KindUser:
		return p.Sysadmin
	case KindRobot:
		for _, s := range p.Scopes {
			if s.Project == "/" && s.Resource == res && s.Action == act {
				return true
			}
		}
	}
	return false
}

// ProjectName returns the project of a repository: its first path segment
// (for a one-segment name, the name itself).
func ProjectName(repo string) string {
	name, _, _ := strings.Cut(repo, "/")
	return name
}

// Registry actions, as they appear in Docker token scopes.
const (
	RegistryPull   = "pull"
	RegistryPush   = "push"
	RegistryDelete = "delete"
	RegistryAll    = "*"
)

// registryPermissions maps a registry action to the permission it needs.
var registryPermissions = map[string]Permission{
	RegistryPull:   {ResourceRepository, ActionPull},
	RegistryPush:   {ResourceRepository, ActionPush},
	RegistryDelete: {ResourceRepository, ActionDelete},
}

// RegistryAllowed reports whether p may perform the registry action
// (pull, push, delete or *, which means all three) in proj.
func RegistryAllowed(p Principal, proj Project, action string) bool {
	now := time.Now()
	if action == RegistryAll {
		for _, perm := range registryPermissions {
			if !can(p, proj, perm, now) {
				return false
			}
		}
		return true
	}
	perm, ok := registryPermissions[action]
	return ok && can(p, proj, perm, now)
}

// projectFinder is meta.Projects as the Checker uses it.
type projectFinder interface {
	GetProjectByName(ctx context.Context, name string) (meta.Project, error)
}

// Checker evaluates registry access to repositories, looking their
// projects up in the store.
type Checker struct {
	projects projectFinder
	cache    *projectCache // nil: none (WithCache)
}

// NewChecker returns a Checker over the store's projects.
func NewChecker(projects projectFinder) *Checker { return &Checker{projects: projects} }

// Project returns the project of repository repo. Missing: a
// *ProjectNotFoundError (matching meta.ErrProjectNotFound).
func (c *Checker) Project(ctx context.Context, repo string) (Project, error) {
	name := ProjectName(repo)
	if p, ok := c.cache.get(name); ok {
		return p, nil
	}
	var gen uint64
	if c.cache != nil {
		gen = c.cache.generation()
	}
	p, err := c.projects.GetProjectByName(ctx, name)
	if errors.Is(err, meta.ErrProjectNotFound) {
		return Project{}, &ProjectNotFoundError{Project: name}
	}
	if err != nil {
		if stale, ok := c.cache.stale(name); ok && errors.Is(err, meta.ErrUnavailable) {
			return stale, nil
		}
		return Project{}, fmt.Errorf("project of %s: %w", repo, err)
	}
	proj := ProjectOf(p)
	c.cache.put(name, proj, gen)
	return proj, nil
}

// Grant returns the subset of actions p holds on repository repo, in the
// order asked, without duplicates. When repo's project does not exist it
// returns no actions and a *ProjectNotFoundError; other errors are the
// store's.
func (c *Checker) Grant(ctx context.Context, p Principal, repo string, actions []string) ([]string, error) {
	proj, err := c.Project(ctx, repo)
	if err != nil {
		return nil, err
	}
	return GrantIn(p, proj, actions), nil
}

// GrantIn is Grant for a project already looked up.
func GrantIn(p Principal, proj Project, actions []string) []string {
	granted := []string{}
	for _, a := range actions {
		if !slices.Contains(granted, a) && RegistryAllowed(p, proj, a) {
			granted = append(granted, a)
		}
	}
	return granted
}

type principalKey struct{}

// NewContext returns ctx carrying p (the request's principal).
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal in ctx, or Anonymous.
func FromContext(ctx context.Context) Principal {
	if p, ok := ctx.Value(principalKey{}).(Principal); ok {
		return p
	}
	return Anonymous()
}
