package project

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/settings"
)

// Errors returned by Service, besides meta's not-found errors and
// access.ErrUnauthorized/ErrDenied. Callers compare with errors.Is.
var (
	// ErrNameInvalid: the name breaks the project naming rules (ValidateName).
	ErrNameInvalid = errors.New("invalid project name")
	// ErrExists: a project of that name exists.
	ErrExists = errors.New("project already exists")
	// ErrNotEmpty: the project still holds repositories (*NotEmptyError).
	ErrNotEmpty = errors.New("project is not empty")
	// ErrCreationRestricted: project_creation_restriction is adminonly and
	// the caller is not a system administrator.
	ErrCreationRestricted = errors.New("only system administrators may create projects (project_creation_restriction is adminonly)")
)

// NotEmptyError says how many repositories keep a project from being
// deleted. It matches ErrNotEmpty.
type NotEmptyError struct {
	Project      string
	Repositories int
}

func (e *NotEmptyError) Error() string {
	return fmt.Sprintf("project %s still holds %d repositories; delete them first", e.Project, e.Repositories)
}

// Is makes errors.Is(err, ErrNotEmpty) true.
func (e *NotEmptyError) Is(target error) bool { return target == ErrNotEmpty }

// Actor is who makes a change and from where, for the rules and the audit
// log.
type Actor struct {
	Principal access.Principal
	ClientIP  string
}

// Username is the actor's name as the audit log records it.
func (a Actor) Username() string {
	if !a.Principal.Authenticated() || a.Principal.Name == "" {
		return "anonymous"
	}
	return a.Principal.Name
}

// Stores are the parts of the metadata store the Service uses; internal/app
// fills them from *meta.Store.
type Stores struct {
	Projects projectStore // *meta.Projects
	Repos    repoCounter  // *meta.Repositories
}

// projectStore is meta.Projects as the Service uses it.
type projectStore interface {
	CreateProjectWithAdmin(ctx context.Context, p meta.Project, adminUserID int64) (meta.Project, error)
	UpdateProject(ctx context.Context, p meta.Project) (meta.Project, error)
	DeleteProject(ctx context.Context, id int64) error
}

// repoCounter counts a project's repositories (meta.Repositories).
type repoCounter interface {
	CountProjectRepositories(ctx context.Context, name string) (int, error)
}

// settingsReader is the settings service (*settings.Service) as the
// Service uses it: the one place project_creation_restriction is read.
type settingsReader interface {
	Get(ctx context.Context) (settings.Settings, error)
}

// Recorder writes audit entries without failing the caller (the server's
// audit writer).
type Recorder interface {
	Record(e meta.AuditLog)
}

// Service applies the project rules.
type Service struct {
	store    Stores
	settings settingsReader
	audit    Recorder
	log      *slog.Logger
}

// New returns a Service. settings may be nil: everyone may create
// projects (settings.Defaults).
func New(store Stores, sets settingsReader, audit Recorder, log *slog.Logger) *Service {
	return &Service{store: store, settings: sets, audit: audit, log: log}
}

// ValidateName checks a project name: one path component of the OCI
// repository name grammar (lower-case letters and digits, separated by
// '.', '_', '__' or '-'), at most 255 characters, and not all digits
// (it would read as an id). Breaking a rule: ErrNameInvalid.
func ValidateName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: project_name is required", ErrNameInvalid)
	case len(name) > 255:
		return fmt.Errorf("%w: project name is longer than 255 characters", ErrNameInvalid)
	case strings.Contains(name, "/"):
		return fmt.Errorf("%w: project name %q must be a single path component", ErrNameInvalid, name)
	case strings.Trim(name, "0123456789") == "":
		return fmt.Errorf("%w: project name %q must not be all digits", ErrNameInvalid, name)
	}
	if err := oci.ValidateName(name); err != nil {
		return fmt.Errorf("%w: %w", ErrNameInvalid, err)
	}
	return nil
}

// CreationRestriction returns project_creation_restriction in force:
// settings.ProjectCreationEveryone or settings.ProjectCreationAdminOnly.
func (s *Service) CreationRestriction(ctx context.Context) (string, error) {
	if s.settings == nil {
		return settings.ProjectCreationEveryone, nil
	}
	cur, err := s.settings.Get(ctx)
	if err != nil {
		return "", err
	}
	if cur.ProjectCreationRestriction == settings.ProjectCreationAdminOnly {
		return settings.ProjectCreationAdminOnly, nil
	}
	return settings.ProjectCreationEveryone, nil
}

// MayCreate checks that p may create a project: system administrators
// always; other users unless project_creation_restriction is adminonly
// (ErrCreationRestricted); robots with a system-level project:create
// permission (else access.ErrDenied); anonymous callers never
// (access.ErrUnauthorized).
func (s *Service) MayCreate(ctx context.Context, p access.Principal) error {
	switch p.Kind {
	case access.KindRobot:
		if access.CanSystem(p, access.ResourceProject, access.ActionCreate) {
			return nil
		}
		return fmt.Errorf("%w: robot accounts need a system-level project:create permission", access.ErrDenied)
	case access.KindUser:
		if p.Sysadmin {
			return nil
		}
		restriction, err := s.CreationRestriction(ctx)
		if err != nil {
			return err
		}
		if restriction == settings.ProjectCreationAdminOnly {
			return ErrCreationRestricted
		}
		return nil
	}
	return access.ErrUnauthorized
}

// Create creates the project name for the actor, who must be allowed to
// (MayCreate). A creating user becomes its owner and a ProjectAdmin
// member, in the same transaction; a robot's project has no owner. Taken
// name: ErrExists.
func (s *Service) Create(ctx context.Context, a Actor, name string, public bool) (meta.Project, error) {
	if err := ValidateName(name); err != nil {
		return meta.Project{}, err
	}
	if err := s.MayCreate(ctx, a.Principal); err != nil {
		return meta.Project{}, err
	}
	proj := meta.Project{Name: name, Public: public}
	var admin int64
	if a.Principal.Kind == access.KindUser {
		proj.OwnerID, admin = a.Principal.ID, a.Principal.ID
	}
	proj, err := s.store.Projects.CreateProjectWithAdmin(ctx, proj, admin)
	switch {
	case errors.Is(err, meta.ErrProjectExists):
		return meta.Project{}, fmt.Errorf("%w: %s", ErrExists, name)
	case err != nil:
		return meta.Project{}, fmt.Errorf("create project %s: %w", name, err)
	}
	s.record(a, proj.ID, "create", proj.Name)
	return proj, nil
}

// SetPublic makes proj public or private. Unchanged: nothing is written.
// The caller has checked the actor's permission (metadata or project
// update).
func (s *Service) SetPublic(ctx context.Context, a Actor, proj meta.Project, public bool) (meta.Project, error) {
	if proj.Public == public {
		return proj, nil
	}
	proj.Public = public
	got, err := s.store.Projects.UpdateProject(ctx, proj)
	if err != nil {
		return meta.Project{}, fmt.Errorf("update project %s: %w", proj.Name, err)
	}
	s.record(a, proj.ID, "update", proj.Name)
	return got, nil
}

// Deletable returns nil when proj may be deleted, else a *NotEmptyError.
func (s *Service) Deletable(ctx context.Context, proj meta.Project) error {
	n, err := s.store.Repos.CountProjectRepositories(ctx, proj.Name)
	if err != nil {
		return fmt.Errorf("count repositories of %s: %w", proj.Name, err)
	}
	if n > 0 {
		return &NotEmptyError{Project: proj.Name, Repositories: n}
	}
	return nil
}

// Delete deletes proj with its members and robots, only when it holds no
// repository (*NotEmptyError). The caller has checked the actor's
// permission. A push racing the check can still land a repository under a
// deleted project's name; it stays unreachable until a project of that
// name is created again.
func (s *Service) Delete(ctx context.Context, a Actor, proj meta.Project) error {
	if err := s.Deletable(ctx, proj); err != nil {
		return err
	}
	if err := s.store.Projects.DeleteProject(ctx, proj.ID); err != nil {
		return fmt.Errorf("delete project %s: %w", proj.Name, err)
	}
	s.record(a, proj.ID, "delete", proj.Name)
	return nil
}

// VisibleTo is which projects p may see in lists and searches: nil for
// every project (system administrators, robots scoped to every project);
// else the public ones plus a user's projects (directly or through its
// groups) or a robot's scoped projects.
func VisibleTo(p access.Principal) *meta.Visibility {
	switch {
	case p.Kind == access.KindUser && p.Sysadmin:
		return nil
	case p.Kind == access.KindUser:
		return &meta.Visibility{Viewer: meta.Viewer{UserID: p.ID, GroupDNs: p.GroupDNs}}
	case p.Kind == access.KindRobot:
		v := &meta.Visibility{}
		for _, sc := range p.Scopes {
			if sc.Project == "*" {
				return nil
			}
			v.Projects = append(v.Projects, sc.Project)
		}
		return v
	}
	return &meta.Visibility{} // public only
}

// record writes the audit entry of a change to project projectID.
func (s *Service) record(a Actor, projectID int64, operation, resource string) {
	s.audit.Record(meta.AuditLog{ProjectID: projectID, Username: truncate(a.Username(), 255), Operation: operation, ResourceType: "project",
		Resource: truncate(resource, 1024), ClientIP: a.ClientIP, Result: meta.AuditSuccess})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
