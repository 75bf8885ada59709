package restapi

import (
	"net/http"
	"strings"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
)

// Harbor 2.13's audit log extension (/auditlog-exts): the same entries as
// /audit-logs in Harbor's AuditLogExt shape, readable by system
// administrators (every entry) and by project administrators (the entries
// of their projects), as Harbor has it.

// auditLogExtJSON is Harbor's AuditLogExt.
type auditLogExtJSON struct {
	ID                   int64  `json:"id"`
	Username             string `json:"username"`
	Resource             string `json:"resource"`
	ResourceType         string `json:"resource_type"`
	Operation            string `json:"operation"`
	OperationDescription string `json:"operation_description"`
	OperationResult      bool   `json:"operation_result"`
	OpTime               string `json:"op_time"`
}

// auditEventTypes are the "<operation>_<resource_type>" pairs Berth
// records, for GET /auditlog-exts/events.
var auditEventTypes = []string{
	"create_artifact", "delete_artifact", "pull_artifact", "push_artifact",
	"delete_blob",
	"create_configuration", "update_configuration",
	"create_member", "delete_member", "update_member",
	"create_project", "delete_project", "update_project",
	"delete_repository", "update_repository",
	"create_robot", "delete_robot", "refresh_secret_robot", "update_robot",
	"create_tag", "delete_tag",
	"change_password_user", "create_user", "delete_user", "login_user", "update_user",
}

// listAuditLogExts is GET /auditlog-exts.
func (a *API) listAuditLogExts(w http.ResponseWriter, r *http.Request) error {
	p := caller(r)
	if !p.Authenticated() {
		return access.ErrUnauthorized
	}
	f, err := parseAuditExtQuery(r)
	if err != nil {
		return err
	}
	if err := a.limitToProjects(r, &f, func(role access.Role) bool { return role == access.RoleProjectAdmin }); err != nil {
		return err
	}
	return a.writeAuditLogExts(w, r, f)
}

// listProjectAuditLogExts is GET /projects/{project_name}/auditlog-exts:
// the entries of one project, for the callers /projects/{p}/logs admits.
func (a *API) listProjectAuditLogExts(w http.ResponseWriter, r *http.Request) error {
	proj, err := a.authorizeProjectName(r, r.PathValue("project_name"), access.ResourceLog, access.ActionList)
	if err != nil {
		return err
	}
	f, err := parseAuditExtQuery(r)
	if err != nil {
		return err
	}
	f.ProjectIDs = []int64{proj.ID}
	return a.writeAuditLogExts(w, r, f)
}

// listAuditLogEventTypes is GET /auditlog-exts/events, for any caller
// who is logged in.
func (a *API) listAuditLogEventTypes(w http.ResponseWriter, r *http.Request) error {
	if !caller(r).Authenticated() {
		return access.ErrUnauthorized
	}
	type eventType struct {
		EventType string `json:"event_type"`
	}
	out := make([]eventType, 0, len(auditEventTypes))
	for _, e := range auditEventTypes {
		out = append(out, eventType{e})
	}
	return writeJSON(w, http.StatusOK, out)
}

// parseAuditExtQuery reads q as /audit-logs does and sort, of which Berth
// has one order: newest first (Harbor's default, "-op_time").
func parseAuditExtQuery(r *http.Request) (meta.AuditFilter, error) {
	if s := r.URL.Query().Get("sort"); s != "" && s != "-op_time" {
		return meta.AuditFilter{}, errBadRequest("sort %q: audit entries are listed newest first (-op_time) only", truncate(s, 40))
	}
	return parseAuditQuery(r.URL.Query().Get("q"))
}

func (a *API) writeAuditLogExts(w http.ResponseWriter, r *http.Request, f meta.AuditFilter) error {
	return writeAuditPage(a, w, r, f, func(l meta.AuditLog) auditLogExtJSON {
		return auditLogExtJSON{ID: l.ID, Username: l.Username, Resource: l.Resource, ResourceType: l.ResourceType,
			Operation: l.Operation, OperationDescription: auditDescription(l), OperationResult: l.Result != meta.AuditFailure,
			OpTime: l.OpTime.UTC().Format("2006-01-02T15:04:05Z")}
	})
}

// auditDescription is an entry in words, e.g. "create project team".
func auditDescription(l meta.AuditLog) string {
	d := strings.ReplaceAll(l.Operation, "_", " ") + " " + l.ResourceType + " " + l.Resource
	if l.Result == meta.AuditFailure {
		d += " (failed)"
	}
	return d
}
