package restapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/identity"
	"github.com/berth-registry/berth/internal/meta"
)

// robotStore reads robot accounts and their projects.
type robotStore interface {
	GetRobot(ctx context.Context, id int64) (meta.Robot, error)
	ListRobots(ctx context.Context, f meta.RobotFilter, p meta.Page) ([]meta.Robot, int, error)
}

// robotManager creates and changes robot accounts (identity hashes the
// secrets and checks names and permissions).
type robotManager interface {
	CreateRobot(ctx context.Context, nr identity.NewRobot) (meta.Robot, string, error)
	UpdateRobot(ctx context.Context, by *access.Principal, id int64, fn func(*meta.Robot)) (meta.Robot, error)
	RefreshRobotSecret(ctx context.Context, by *access.Principal, id int64, secret string) (string, error)
	DeleteRobot(ctx context.Context, by *access.Principal, id int64) error
}

// robotJSON is Harbor's Robot (never with its secret).
type robotJSON struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Level       string `json:"level"`
	// Duration in days; -1: never expires.
	Duration int64 `json:"duration"`
	Editable bool  `json:"editable"`
	Disable  bool  `json:"disable"`
	// ExpiresAt in Unix seconds; -1: never.
	ExpiresAt    int64                  `json:"expires_at"`
	Permissions  []meta.RobotPermission `json:"permissions"`
	CreatorType  string                 `json:"creator_type"` // "local" (a user) or "robot"
	CreatorRef   int64                  `json:"creator_ref"`  // the creator's user or robot id
	CreationTime time.Time              `json:"creation_time"`
	UpdateTime   time.Time              `json:"update_time"`
}

func toRobotJSON(rb meta.Robot) robotJSON {
	out := robotJSON{ID: rb.ID, Name: rb.Name, Description: rb.Description, Level: rb.Level, Duration: -1,
		Editable: true, Disable: rb.Disabled, ExpiresAt: -1, Permissions: rb.Permissions,
		CreatorType: rb.CreatorType, CreatorRef: rb.CreatorRef,
		CreationTime: rb.CreatedAt, UpdateTime: rb.UpdatedAt}
	if out.Permissions == nil {
		out.Permissions = []meta.RobotPermission{}
	}
	if !rb.ExpiresAt.IsZero() {
		out.ExpiresAt = rb.ExpiresAt.Unix()
		out.Duration = int64((rb.ExpiresAt.Sub(rb.CreatedAt) + 24*time.Hour - 1) / (24 * time.Hour))
	}
	return out
}

// robotCreateReq is Harbor's RobotCreate.
type robotCreateReq struct {
	Name        string                 `json:"name"`
	Description string                 `json:"description"`
	Secret      string                 `json:"secret"`
	Level       string                 `json:"level"`
	Disable     bool                   `json:"disable"`
	Duration    *int64                 `json:"duration"`
	Permissions []meta.RobotPermission `json:"permissions"`
}

// robotCreatedJSON is Harbor's RobotCreated: the only answer holding the
// secret, with the refresh's.
type robotCreatedJSON struct {
	ID           int64     `json:"id"`
	Name         string    `json:"name"`
	Secret       string    `json:"secret"`
	CreationTime time.Time `json:"creation_time"`
	ExpiresAt    int64     `json:"expires_at"`
}

// robotSecJSON is Harbor's RobotSec.
type robotSecJSON struct {
	Secret string `json:"secret"`
}

// expiry turns Harbor's duration in days (-1 or absent: never) into an
// expiry time from start.
func expiry(duration *int64, start time.Time) (time.Time, error) {
	switch {
	case duration == nil || *duration == -1:
		return time.Time{}, nil
	case *duration < 1 || *duration > 365*100:
		return time.Time{}, errBadRequest("duration %d: want -1 (never) or a number of days from 1", *duration)
	}
	return start.Add(time.Duration(*duration) * 24 * time.Hour), nil
}

func robotID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("robot_id"), 10, 64)
	if err != nil || id < 1 {
		return 0, errBadRequest("robot_id must be a positive integer")
	}
	return id, nil
}

// authorizeRobot checks act on robot accounts: in the robot's project for
// a project robot (ProjectAdmin), system-wide for a system robot.
func (a *API) authorizeRobot(r *http.Request, rb meta.Robot, act access.Action) (meta.Project, error) {
	if rb.Level == meta.RobotProject {
		return a.authorize(r, func(ctx context.Context) (meta.Project, error) { return a.d.Projects.GetProject(ctx, rb.ProjectID) },
			access.ResourceRobot, act)
	}
	return meta.Project{}, requireSystem(r, access.ResourceRobot, act)
}

// loadRobot reads {robot_id} and checks act on it. A robot the caller may
// not see answers as one that does not exist would for it (401/403), so
// ids reveal nothing; system administrators get 404.
func (a *API) loadRobot(r *http.Request, act access.Action) (meta.Robot, meta.Project, error) {
	id, err := robotID(r)
	if err != nil {
		return meta.Robot{}, meta.Project{}, err
	}
	rb, err := a.d.Robots.GetRobot(r.Context(), id)
	if errors.Is(err, meta.ErrRobotNotFound) {
		if p := caller(r); !(p.Kind == access.KindUser && p.Sysadmin) {
			return meta.Robot{}, meta.Project{}, denied(p)
		}
	}
	if err != nil {
		return meta.Robot{}, meta.Project{}, err
	}
	proj, err := a.authorizeRobot(r, rb, act)
	return rb, proj, err
}

// robotResource is the audit resource of a robot: "<project>/<name>" for
// a project robot, its name for a system robot.
func robotResource(rb meta.Robot, proj meta.Project) string {
	if rb.Level == meta.RobotProject {
		return auditProjectResource(proj.Name, rb.Name)
	}
	return rb.Name
}

// listRobots is GET /robots with q (Harbor's "Level=project,ProjectID=1",
// and name=~...), page and page_size. With a ProjectID, the project's
// robots for its Guests and up; otherwise system administrators only.
func (a *API) listRobots(w http.ResponseWriter, r *http.Request) error {
	pg, err := parsePaging(r)
	if err != nil {
		return err
	}
	var f meta.RobotFilter
	if q := r.URL.Query().Get("q"); q != "" {
		for _, term := range splitQuery(q) {
			key, val, ok := strings.Cut(term, "=")
			if !ok {
				return errBadRequest("q: term %q is not key=value", truncate(term, 100))
			}
			val = strings.TrimPrefix(val, "~")
			switch strings.ToLower(strings.TrimSpace(key)) {
			case "level":
				if val != meta.RobotSystem && val != meta.RobotProject {
					return errBadRequest("q: Level must be system or project")
				}
				f.Level = val
			case "projectid", "project_id":
				id, err := strconv.ParseInt(val, 10, 64)
				if err != nil || id < 1 {
					return errBadRequest("q: ProjectID must be a positive integer")
				}
				f.ProjectID = id
			case "name":
				f.Name = val
			default:
				return errBadRequest("q: unknown key %q; want Level, ProjectID or name", truncate(key, 50))
			}
		}
	}
	if f.ProjectID != 0 {
		if _, err := a.authorize(r, func(ctx context.Context) (meta.Project, error) { return a.d.Projects.GetProject(ctx, f.ProjectID) },
			access.ResourceRobot, access.ActionList); err != nil {
			return err
		}
		f.Level = meta.RobotProject
	} else if err := requireSystem(r, access.ResourceRobot, access.ActionList); err != nil {
		return err
	}
	robots, total, err := a.d.Robots.ListRobots(r.Context(), f, pg.meta())
	if err != nil {
		return err
	}
	out := make([]robotJSON, 0, len(robots))
	for _, rb := range robots {
		out = append(out, toRobotJSON(rb))
	}
	setPagingHeaders(w, r, pg, total)
	return writeJSON(w, http.StatusOK, out)
}

// createRobot is POST /robots. A system robot needs system robot:create
// (system administrators); a project robot names its project as the
// namespace of its permissions and needs robot:create there (ProjectAdmin).
// Its permissions must be held by the caller (identity applies
// access.CanGrant). The secret is in this answer only.
func (a *API) createRobot(w http.ResponseWriter, r *http.Request) error {
	if err := requireAuthenticated(r); err != nil {
		return err
	}
	var req robotCreateReq
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	by := caller(r)
	nr := identity.NewRobot{Name: req.Name, Description: req.Description, Level: req.Level,
		Permissions: req.Permissions, Secret: req.Secret, Grantor: &by}
	nr.CreatorType, nr.CreatorRef = robotCreator(by)
	var proj meta.Project
	switch req.Level {
	case meta.RobotSystem:
		if err := requireSystem(r, access.ResourceRobot, access.ActionCreate); err != nil {
			return err
		}
	case meta.RobotProject:
		if len(req.Permissions) == 0 || req.Permissions[0].Namespace == "" {
			return errBadRequest("a project robot needs permissions whose namespace is its project")
		}
		ns := req.Permissions[0].Namespace
		var err error
		proj, err = a.authorize(r, func(ctx context.Context) (meta.Project, error) { return a.d.Projects.GetProjectByName(ctx, ns) },
			access.ResourceRobot, access.ActionCreate)
		if err != nil {
			return err
		}
		nr.ProjectID = proj.ID
	default:
		return errBadRequest("level must be system or project")
	}
	duration, err := a.robotDuration(r.Context(), req.Duration)
	if err != nil {
		return err
	}
	exp, err := expiry(duration, a.d.Now())
	if err != nil {
		return err
	}
	nr.ExpiresAt = exp
	rb, secret, err := a.d.Identity.CreateRobot(r.Context(), nr)
	if err != nil {
		return err
	}
	if req.Disable {
		if rb, err = a.d.Identity.UpdateRobot(r.Context(), &by, rb.ID, func(x *meta.Robot) { x.Disabled = true }); err != nil {
			return err
		}
	}
	a.auditEvent(r, rb.ProjectID, "create", auditRobot, robotResource(rb, proj))
	out := robotCreatedJSON{ID: rb.ID, Name: rb.Name, Secret: secret, CreationTime: rb.CreatedAt, ExpiresAt: -1}
	if !rb.ExpiresAt.IsZero() {
		out.ExpiresAt = rb.ExpiresAt.Unix()
	}
	w.Header().Set("Location", location("robots", strconv.FormatInt(rb.ID, 10)))
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusCreated, out)
}

// getRobot is GET /robots/{robot_id}.
func (a *API) getRobot(w http.ResponseWriter, r *http.Request) error {
	rb, _, err := a.loadRobot(r, access.ActionRead)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toRobotJSON(rb))
}

// robotUpdateReq is the part of Harbor's Robot that PUT may change; name
// and level, when given, must be the robot's.
type robotUpdateReq struct {
	Name        string                  `json:"name"`
	Level       string                  `json:"level"`
	Description *string                 `json:"description"`
	Disable     *bool                   `json:"disable"`
	Duration    *int64                  `json:"duration"`
	Permissions *[]meta.RobotPermission `json:"permissions"`
}

// updateRobot is PUT /robots/{robot_id}: description, disable, duration
// (from the creation time, as Harbor counts it) and permissions; fields
// left out keep their value. The robot's permissions afterwards must be
// held by the caller, and a robot never updates itself.
func (a *API) updateRobot(w http.ResponseWriter, r *http.Request) error {
	rb, proj, err := a.loadRobot(r, access.ActionUpdate)
	if err != nil {
		return err
	}
	var req robotUpdateReq
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Name != "" && req.Name != rb.Name && identity.RobotPrefix+req.Name != rb.Name {
		return errBadRequest("a robot's name cannot change")
	}
	if req.Level != "" && req.Level != rb.Level {
		return errBadRequest("a robot's level cannot change")
	}
	var exp *time.Time
	if req.Duration != nil {
		t, err := expiry(req.Duration, rb.CreatedAt)
		if err != nil {
			return err
		}
		exp = &t
	}
	by := caller(r)
	rb, err = a.d.Identity.UpdateRobot(r.Context(), &by, rb.ID, func(x *meta.Robot) {
		if req.Description != nil {
			x.Description = *req.Description
		}
		if req.Disable != nil {
			x.Disabled = *req.Disable
		}
		if exp != nil {
			x.ExpiresAt = *exp
		}
		if req.Permissions != nil {
			x.Permissions = *req.Permissions
		}
	})
	if err != nil {
		return err
	}
	a.auditEvent(r, rb.ProjectID, "update", auditRobot, robotResource(rb, proj))
	w.WriteHeader(http.StatusOK)
	return nil
}

// refreshRobotSecret is PATCH /robots/{robot_id} with {"secret": "..."}:
// the given secret (it must meet the password policy) or, when empty, a
// generated one, returned in this answer only. The caller must hold the
// robot's permissions (the secret hands them over); a robot never
// refreshes itself.
func (a *API) refreshRobotSecret(w http.ResponseWriter, r *http.Request) error {
	rb, proj, err := a.loadRobot(r, access.ActionUpdate)
	if err != nil {
		return err
	}
	var req robotSecJSON
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	by := caller(r)
	secret, err := a.d.Identity.RefreshRobotSecret(r.Context(), &by, rb.ID, req.Secret)
	if err != nil {
		return err
	}
	a.auditEvent(r, rb.ProjectID, "refresh_secret", auditRobot, robotResource(rb, proj))
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, robotSecJSON{Secret: secret})
}

// deleteRobot is DELETE /robots/{robot_id}; a robot never deletes itself.
func (a *API) deleteRobot(w http.ResponseWriter, r *http.Request) error {
	rb, proj, err := a.loadRobot(r, access.ActionDelete)
	if err != nil {
		return err
	}
	by := caller(r)
	if err := a.d.Identity.DeleteRobot(r.Context(), &by, rb.ID); err != nil {
		return err
	}
	a.auditEvent(r, rb.ProjectID, "delete", auditRobot, robotResource(rb, proj))
	w.WriteHeader(http.StatusOK)
	return nil
}
