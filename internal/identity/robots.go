package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
)

// robotSecretLen is the length of generated robot secrets (about 190 bits).
const robotSecretLen = 32

// robotNameRE is the short name of a robot, as Harbor allows it.
var robotNameRE = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

// NewRobot is a robot account to create.
type NewRobot struct {
	// Name is the short name; the account is robot$<name> (system) or
	// robot$<project>+<name> (project).
	Name        string
	Description string
	Level       string // meta.RobotSystem or meta.RobotProject
	// ProjectID is the robot's project (project robots only).
	ProjectID int64
	// Permissions: a project robot's must all name its own project; a
	// system robot's may name any project, "*" for every project, or "/"
	// (kind "system") for system resources.
	Permissions []meta.RobotPermission
	// ExpiresAt is when the robot stops working; zero: never.
	ExpiresAt time.Time
	// Secret, when not empty, is used instead of a generated one (it must
	// satisfy the password policy).
	Secret string
	// Grantor, when set, is the caller creating the robot: the robot's
	// permissions must be a subset of what it holds (access.CanGrant). Nil
	// for Berth's own callers (tests, tools), which are trusted.
	Grantor *access.Principal
	// CreatorType and CreatorRef record who creates the robot
	// (meta.RobotCreatorUser or meta.RobotCreatorRobot, and its id).
	CreatorType string
	CreatorRef  int64
}

// Robot secrets are random and long, so a salted SHA-256 is enough to
// store them (a slow hash protects guessable secrets; these are not), and
// it keeps Basic auth with a robot cheap on every request.
func hashSecret(secret string) string {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt) // never fails (crypto/rand)
	sum := sha256.Sum256(append(salt, secret...))
	return "sha256$" + hex.EncodeToString(salt) + "$" + hex.EncodeToString(sum[:])
}

// checkSecret verifies secret against hashSecret's output in constant time.
func checkSecret(secret, stored string) bool {
	parts := strings.Split(stored, "$")
	if len(parts) != 3 || parts[0] != "sha256" {
		return false
	}
	salt, err1 := hex.DecodeString(parts[1])
	want, err2 := hex.DecodeString(parts[2])
	if err1 != nil || err2 != nil {
		return false
	}
	sum := sha256.Sum256(append(salt, secret...))
	return subtle.ConstantTimeCompare(sum[:], want) == 1
}

// CreateRobot creates a robot account and returns it with its secret,
// which is shown this once and stored only hashed. Errors: ErrInvalid,
// meta.ErrRobotExists, meta.ErrProjectNotFound, or the store's.
func (s *Service) CreateRobot(ctx context.Context, nr NewRobot) (meta.Robot, string, error) {
	if !robotNameRE.MatchString(nr.Name) || len(nr.Name) > 128 {
		return meta.Robot{}, "", &InvalidError{"name", "must be lower-case letters and digits, separated by single . _ or -"}
	}
	r := meta.Robot{
		Description: nr.Description, Level: nr.Level, Permissions: nr.Permissions, ExpiresAt: nr.ExpiresAt,
		CreatorType: nr.CreatorType, CreatorRef: nr.CreatorRef,
	}
	switch nr.Level {
	case meta.RobotSystem:
		if nr.ProjectID != 0 {
			return meta.Robot{}, "", &InvalidError{"project", "a system robot belongs to no project"}
		}
		r.Name = RobotPrefix + nr.Name
	case meta.RobotProject:
		p, err := s.store.Projects.GetProject(ctx, nr.ProjectID)
		if err != nil {
			return meta.Robot{}, "", err
		}
		r.ProjectID = p.ID
		r.Name = RobotPrefix + p.Name + "+" + nr.Name
	default:
		return meta.Robot{}, "", &InvalidError{"level", "must be system or project"}
	}
	if err := s.validatePermissions(ctx, r); err != nil {
		return meta.Robot{}, "", err
	}
	if err := s.checkGrant(ctx, nr.Grantor, 0, r); err != nil {
		return meta.Robot{}, "", err
	}
	secret := nr.Secret
	if secret == "" {
		secret = randomSecret(robotSecretLen)
	} else if err := ValidatePassword(secret); err != nil {
		return meta.Robot{}, "", &InvalidError{"secret", err.(*InvalidError).Reason}
	}
	r.SecretHash = hashSecret(secret)
	got, err := s.store.Robots.CreateRobot(ctx, r)
	if err != nil {
		return meta.Robot{}, "", err
	}
	return got, secret, nil
}

func (s *Service) validatePermissions(ctx context.Context, r meta.Robot) error {
	var project string
	if r.Level == meta.RobotProject {
		p, err := s.store.Projects.GetProject(ctx, r.ProjectID)
		if err != nil {
			return err
		}
		project = p.Name
	}
	for _, perm := range r.Permissions {
		switch {
		case perm.Kind == "project" && r.Level == meta.RobotProject && perm.Namespace != project:
			return &InvalidError{"permissions", fmt.Sprintf("a robot of project %s cannot be given access to %q", project, perm.Namespace)}
		case perm.Kind == "project" && (perm.Namespace == "" || perm.Namespace == "/"):
			return &InvalidError{"permissions", "a project permission needs a project name or *"}
		case perm.Kind == "system" && (r.Level != meta.RobotSystem || perm.Namespace != "/"):
			return &InvalidError{"permissions", `system permissions need a system robot and namespace "/"`}
		case perm.Kind != "project" && perm.Kind != "system":
			return &InvalidError{"permissions", fmt.Sprintf("kind %q: want project or system", perm.Kind)}
		}
		for _, a := range perm.Access {
			if a.Resource == "" || a.Action == "" {
				return &InvalidError{"permissions", "every access needs a resource and an action"}
			}
		}
	}
	return nil
}

// checkGrant applies the grant rule when by is set (a caller, not Berth
// itself): a robot never changes itself (id is the robot changed; 0 for a
// new one), and the robot's permissions, after the change, must be a
// subset of what by holds: changing, re-enabling or refreshing a robot
// hands its permissions to whoever does it. Errors match access.ErrDenied.
func (s *Service) checkGrant(ctx context.Context, by *access.Principal, id int64, r meta.Robot) error {
	if by == nil {
		return nil
	}
	if err := access.CanChangeRobot(*by, id); err != nil {
		return err
	}
	return access.NewGrantChecker(s.store.Projects).CanGrant(ctx, *by, access.Grant{Scopes: access.ScopesOf(r.Permissions)})
}

// UpdateRobot applies fn to robot id (its Description, Permissions,
// ExpiresAt and Disabled; other fields are kept) and stores the result.
// by, when set, is the caller: see NewRobot.Grantor; the robot's
// permissions after the change must be held by by, and a robot cannot
// update itself (access.ErrDenied).
func (s *Service) UpdateRobot(ctx context.Context, by *access.Principal, id int64, fn func(*meta.Robot)) (meta.Robot, error) {
	r, err := s.store.Robots.GetRobot(ctx, id)
	if err != nil {
		return meta.Robot{}, err
	}
	fn(&r)
	if err := s.validatePermissions(ctx, r); err != nil {
		return meta.Robot{}, err
	}
	if err := s.checkGrant(ctx, by, id, r); err != nil {
		return meta.Robot{}, err
	}
	defer s.logins.invalidate() // after the change: cached logins ask again
	return s.store.Robots.UpdateRobot(ctx, r)
}

// RefreshRobotSecret replaces robot id's secret with secret, or with a
// generated one when secret is empty, and returns it (shown this once).
// by, when set, is the caller: it must hold the robot's permissions (the
// new secret hands them over), and a robot cannot refresh itself.
func (s *Service) RefreshRobotSecret(ctx context.Context, by *access.Principal, id int64, secret string) (string, error) {
	if by != nil {
		r, err := s.store.Robots.GetRobot(ctx, id)
		if err != nil {
			return "", err
		}
		if err := s.checkGrant(ctx, by, id, r); err != nil {
			return "", err
		}
	}
	if secret == "" {
		secret = randomSecret(robotSecretLen)
	} else if err := ValidatePassword(secret); err != nil {
		return "", &InvalidError{"secret", err.(*InvalidError).Reason}
	}
	defer s.logins.invalidate() // after the change: cached logins ask again
	if err := s.store.Robots.SetRobotSecretHash(ctx, id, hashSecret(secret)); err != nil {
		return "", err
	}
	return secret, nil
}

// DeleteRobot deletes robot id. Missing: meta.ErrRobotNotFound. by, when
// set, is the caller; a robot cannot delete itself (access.ErrDenied).
func (s *Service) DeleteRobot(ctx context.Context, by *access.Principal, id int64) error {
	if by != nil {
		if err := access.CanChangeRobot(*by, id); err != nil {
			return err
		}
	}
	defer s.logins.invalidate() // after the change: cached logins ask again
	return s.store.Robots.DeleteRobot(ctx, id)
}

func (s *Service) authenticateRobot(ctx context.Context, name, secret string) (access.Principal, error) {
	r, err := s.store.Robots.GetRobotByName(ctx, name)
	switch {
	case errors.Is(err, meta.ErrRobotNotFound):
		checkSecret(secret, hashSecret("not a secret")) // same cost as a wrong secret
		return access.Principal{}, ErrInvalidCredentials
	case err != nil:
		return access.Principal{}, err
	}
	if !checkSecret(secret, r.SecretHash) {
		return access.Principal{}, ErrInvalidCredentials
	}
	if r.Disabled {
		return access.Principal{}, fmt.Errorf("robot %s: %w", r.Name, ErrDisabled)
	}
	if !r.ExpiresAt.IsZero() && !s.now().Before(r.ExpiresAt) {
		return access.Principal{}, fmt.Errorf("robot %s: %w", r.Name, ErrExpired)
	}
	return s.robotPrincipal(ctx, r)
}

// robotPrincipal turns a robot's permissions into scopes. A project
// robot's scopes are confined to its project whatever its stored
// permissions say.
func (s *Service) robotPrincipal(ctx context.Context, r meta.Robot) (access.Principal, error) {
	p := access.Principal{
		Kind: access.KindRobot, Name: r.Name, ID: r.ID, Disabled: r.Disabled, ExpiresAt: r.ExpiresAt,
		Scopes: []access.Scope{},
	}
	var own string
	if r.Level == meta.RobotProject {
		proj, err := s.store.Projects.GetProject(ctx, r.ProjectID)
		if err != nil {
			return access.Principal{}, err
		}
		own = proj.Name
	}
	for _, perm := range r.Permissions {
		ns := perm.Namespace
		switch {
		case r.Level == meta.RobotProject && (perm.Kind != "project" || ns != own):
			continue
		case perm.Kind == "system" && ns != "/":
			continue
		case perm.Kind == "project" && ns == "/":
			continue
		}
		for _, a := range perm.Access {
			p.Scopes = append(p.Scopes, access.Scope{Project: ns, Resource: access.Resource(a.Resource), Action: access.Action(a.Action)})
		}
	}
	return p, nil
}
