package webui

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

// robotStore is meta.Robots as the portal uses it.
type robotStore interface {
	GetRobot(ctx context.Context, id int64) (meta.Robot, error)
	ListRobots(ctx context.Context, f meta.RobotFilter, p meta.Page) ([]meta.Robot, int, error)
}

// robotPermissions are the permissions the create form offers, as
// resource:action pairs of the project.
var robotPermissions = []access.Permission{
	{Resource: access.ResourceRepository, Action: access.ActionPull},
	{Resource: access.ResourceRepository, Action: access.ActionPush},
	{Resource: access.ResourceArtifact, Action: access.ActionDelete},
	{Resource: access.ResourceTag, Action: access.ActionCreate},
	{Resource: access.ResourceTag, Action: access.ActionDelete},
}

// robotsView is a project's robot accounts tab.
type robotsView struct {
	projectHead
	Robots      []meta.Robot
	Paging      paging
	CanEdit     bool
	Permissions []access.Permission
	// Secret is shown once, right after a create or refresh.
	NewName, Secret string
}

// projectRobots is GET /projects/{project}/robots.
func (u *UI) projectRobots(c *call) error {
	proj, err := u.loadProject(c, access.ResourceRobot, access.ActionList)
	if err != nil {
		return err
	}
	return u.renderRobots(c, proj, http.StatusOK, robotsView{})
}

func (u *UI) renderRobots(c *call, proj meta.Project, status int, v robotsView) error {
	pg := pagingOf(c.r)
	rs, total, err := u.d.Robots.ListRobots(c.r.Context(), meta.RobotFilter{Level: meta.RobotProject, ProjectID: proj.ID}, pg.meta())
	if err != nil {
		return err
	}
	pg.Total = total
	head := u.head(c, proj, "robots")
	head.ErrorKey, head.Detail = v.ErrorKey, v.Detail
	v.projectHead, v.Robots, v.Paging = head, rs, pg
	v.CanEdit = access.Can(c.p, access.ProjectOf(proj), access.ResourceRobot, access.ActionCreate)
	v.Permissions = robotPermissions
	// The secret page must not be stored by the browser or a proxy.
	u.render(c, status, "project_robots", "project.title", v)
	return nil
}

// createRobot is POST /projects/{project}/robots with name, description,
// expiry in days (-1: never) and the chosen permissions; the secret is
// shown on the answer only.
func (u *UI) createRobot(c *call) error {
	proj, err := u.loadProject(c, access.ResourceRobot, access.ActionCreate)
	if err != nil {
		return err
	}
	f := c.r.PostForm
	days, err := strconv.Atoi(f.Get("days"))
	if err != nil || (days != -1 && (days < 1 || days > 36500)) {
		return u.renderRobots(c, proj, http.StatusBadRequest, robotsView{projectHead: projectHead{ErrorKey: "robots.err.days"}})
	}
	var expires time.Time
	if days > 0 {
		expires = time.Now().Add(time.Duration(days) * 24 * time.Hour)
	}
	perm := meta.RobotPermission{Kind: "project", Namespace: proj.Name}
	for _, p := range robotPermissions {
		if f.Get("perm."+p.String()) == "on" {
			perm.Access = append(perm.Access, meta.RobotAccess{Resource: string(p.Resource), Action: string(p.Action)})
		}
	}
	if len(perm.Access) == 0 {
		return u.renderRobots(c, proj, http.StatusBadRequest, robotsView{projectHead: projectHead{ErrorKey: "robots.err.perms"}})
	}
	by := c.p
	rb, secret, err := u.d.Identity.CreateRobot(c.r.Context(), identity.NewRobot{
		Name: strings.TrimSpace(f.Get("name")), Description: truncate(f.Get("description"), 1024),
		Level: meta.RobotProject, ProjectID: proj.ID, Permissions: []meta.RobotPermission{perm}, ExpiresAt: expires,
		Grantor: &by, CreatorType: meta.RobotCreatorUser, CreatorRef: c.p.ID,
	})
	switch {
	case errors.Is(err, identity.ErrInvalid):
		return u.renderRobots(c, proj, http.StatusBadRequest, robotsView{projectHead: projectHead{ErrorKey: "robots.err.name", Detail: err.Error()}})
	case errors.Is(err, meta.ErrRobotExists):
		return u.renderRobots(c, proj, http.StatusConflict, robotsView{projectHead: projectHead{ErrorKey: "robots.err.exists"}})
	case err != nil:
		return err
	}
	u.auditRobot(c, proj, "create", rb.Name)
	return u.renderRobots(c, proj, http.StatusOK, robotsView{NewName: rb.Name, Secret: secret})
}

// changeRobot is POST /projects/{project}/robots/{rid}/{op}: disable,
// enable or refresh (a new secret, shown once).
func (u *UI) changeRobot(c *call) error {
	proj, err := u.loadProject(c, access.ResourceRobot, access.ActionUpdate)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(c.r.PathValue("rid"), 10, 64)
	if err != nil || id < 1 {
		return errNotFound
	}
	rb, err := u.d.Robots.GetRobot(c.r.Context(), id)
	if err != nil {
		return err
	}
	if rb.Level != meta.RobotProject || rb.ProjectID != proj.ID {
		return errNotFound
	}
	by := c.p
	switch op := c.r.PathValue("op"); op {
	case "disable", "enable":
		if _, err := u.d.Identity.UpdateRobot(c.r.Context(), &by, id, func(r *meta.Robot) { r.Disabled = op == "disable" }); err != nil {
			return err
		}
		u.auditRobot(c, proj, "update", rb.Name)
		return redirect(c, "/projects/"+proj.Name+"/robots")
	case "refresh":
		secret, err := u.d.Identity.RefreshRobotSecret(c.r.Context(), &by, id, "")
		if err != nil {
			return err
		}
		u.auditRobot(c, proj, "update", rb.Name)
		return u.renderRobots(c, proj, http.StatusOK, robotsView{NewName: rb.Name, Secret: secret})
	}
	return errNotFound
}

func (u *UI) auditRobot(c *call, proj meta.Project, op, name string) {
	if u.d.Audit == nil {
		return
	}
	u.d.Audit.Record(meta.AuditLog{ProjectID: proj.ID, Username: c.actor(u).Username(), Operation: op, ResourceType: "robot",
		Resource: truncate(name, 1024), ClientIP: u.d.ClientIP(c.r), Result: meta.AuditSuccess})
}
