package restapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
)

// auditStore writes and lists the audit log.
type auditStore interface {
	AddAuditLog(ctx context.Context, a meta.AuditLog) error
	ListAuditLogs(ctx context.Context, f meta.AuditFilter, p meta.Page) ([]meta.AuditLog, int, error)
}

// roleStore finds the projects whose logs a user may read (meta.Projects).
type roleStore interface {
	RolesOf(ctx context.Context, v meta.Viewer) ([]meta.ProjectRole, error)
}

// Audit resource types and the resource naming rule: an entry about
// something inside a project carries the project's id (the project logs
// filter on it, never on names) and a resource starting with "<project>/"
// (repository "p/repo", artifact "p/repo:tag" or "p/repo@digest", member
// "p/alice", project robot "p/robot$p+ci"); one about the project itself
// has the project's name. Entries about users, logins, settings and
// system robots have no project.
const (
	auditUser          = "user"
	auditMember        = "member"
	auditRobot         = "robot"
	auditConfiguration = "configuration"
)

// auditLogJSON is Harbor's AuditLog, plus operation_result (from Harbor's
// AuditLogExt) and client_ip (a Berth addition: from where).
type auditLogJSON struct {
	ID              int64     `json:"id"`
	Username        string    `json:"username"`
	Resource        string    `json:"resource"`
	ResourceType    string    `json:"resource_type"`
	Operation       string    `json:"operation"`
	OpTime          time.Time `json:"op_time"`
	OperationResult bool      `json:"operation_result"`
	ClientIP        string    `json:"client_ip"`
}

// listAuditLogs is GET /audit-logs: every entry for system administrators
// (and robots with a system log:list permission); for other users, the
// entries about the projects where they hold a role allowing log:list.
func (a *API) listAuditLogs(w http.ResponseWriter, r *http.Request) error {
	p := caller(r)
	if !p.Authenticated() {
		return access.ErrUnauthorized
	}
	f, err := parseAuditQuery(r.URL.Query().Get("q"))
	if err != nil {
		return err
	}
	if err := a.limitToProjects(r, &f, func(role access.Role) bool {
		return role.Has(access.Permission{Resource: access.ResourceLog, Action: access.ActionList})
	}); err != nil {
		return err
	}
	return a.writeAuditLogs(w, r, f)
}

// limitToProjects keeps f to the projects where the caller's role passes
// ok, unless the caller may list every entry (system administrators and
// robots with a system log:list permission). Other robots: denied.
func (a *API) limitToProjects(r *http.Request, f *meta.AuditFilter, ok func(access.Role) bool) error {
	p := caller(r)
	if access.CanSystem(p, access.ResourceLog, access.ActionList) {
		return nil
	}
	if p.Kind != access.KindUser {
		return denied(p)
	}
	roles, err := a.d.Projects.RolesOf(r.Context(), meta.Viewer{UserID: p.ID, GroupDNs: p.GroupDNs})
	if err != nil {
		return err
	}
	f.ProjectIDs = []int64{}
	for _, role := range roles {
		if ok(access.Role(role.Role)) {
			f.ProjectIDs = append(f.ProjectIDs, role.ProjectID)
		}
	}
	return nil
}

// listProjectLogs is GET /projects/{project_name}/logs: the entries about
// one project, for its members (Guest and up) and system administrators.
func (a *API) listProjectLogs(w http.ResponseWriter, r *http.Request) error {
	proj, err := a.authorizeProjectName(r, r.PathValue("project_name"), access.ResourceLog, access.ActionList)
	if err != nil {
		return err
	}
	f, err := parseAuditQuery(r.URL.Query().Get("q"))
	if err != nil {
		return err
	}
	f.ProjectIDs = []int64{proj.ID}
	return a.writeAuditLogs(w, r, f)
}

func (a *API) writeAuditLogs(w http.ResponseWriter, r *http.Request, f meta.AuditFilter) error {
	return writeAuditPage(a, w, r, f, func(l meta.AuditLog) auditLogJSON {
		return auditLogJSON{ID: l.ID, Username: l.Username, Resource: l.Resource, ResourceType: l.ResourceType,
			Operation: l.Operation, OpTime: l.OpTime, OperationResult: l.Result != meta.AuditFailure, ClientIP: l.ClientIP}
	})
}

// writeAuditPage writes one page of the entries f selects, each in the
// shape shape gives, with the paging headers.
func writeAuditPage[T any](a *API, w http.ResponseWriter, r *http.Request, f meta.AuditFilter, shape func(meta.AuditLog) T) error {
	pg, err := parsePaging(r)
	if err != nil {
		return err
	}
	logs, total, err := a.d.AuditLog.ListAuditLogs(r.Context(), f, pg.meta())
	if err != nil {
		return err
	}
	out := make([]T, 0, len(logs))
	for _, l := range logs {
		out = append(out, shape(l))
	}
	setPagingHeaders(w, r, pg, total)
	return writeJSON(w, http.StatusOK, out)
}

// parseAuditQuery reads Harbor's q parameter for audit logs:
// comma-separated key=value terms with the keys username, operation,
// resource_type (exact), resource (=~ substring, = exact treated as
// substring too) and op_time=[from~to] (RFC 3339 or "2006-01-02 15:04:05",
// either side may be empty).
func parseAuditQuery(q string) (meta.AuditFilter, error) {
	var f meta.AuditFilter
	if q == "" {
		return f, nil
	}
	for _, term := range splitQuery(q) {
		key, val, ok := strings.Cut(term, "=")
		if !ok {
			return f, errBadRequest("q: term %q is not key=value", truncate(term, 100))
		}
		val = strings.TrimPrefix(val, "~") // fuzzy: the store matches resource by substring anyway
		switch strings.TrimSpace(key) {
		case "username":
			f.Username = val
		case "operation":
			f.Operation = val
		case "resource_type":
			f.ResourceType = val
		case "resource":
			f.Resource = val
		case "op_time":
			from, to, err := parseTimeRange(val)
			if err != nil {
				return f, err
			}
			f.From, f.To = from, to
		default:
			return f, errBadRequest("q: unknown key %q; want username, operation, resource_type, resource or op_time", truncate(key, 50))
		}
	}
	return f, nil
}

// splitQuery splits Harbor's q on commas that are not inside [...] or {...}.
func splitQuery(q string) []string {
	var (
		out   []string
		depth int
		start int
	)
	for i, c := range q {
		switch c {
		case '[', '{', '(':
			depth++
		case ']', '}', ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, q[start:i])
				start = i + 1
			}
		}
	}
	return append(out, q[start:])
}

func parseTimeRange(v string) (time.Time, time.Time, error) {
	inner, open := strings.CutPrefix(v, "[")
	inner, closed := strings.CutSuffix(inner, "]")
	if !open || !closed {
		return time.Time{}, time.Time{}, errBadRequest("q: op_time wants [from~to]")
	}
	a, b, ok := strings.Cut(inner, "~")
	if !ok {
		return time.Time{}, time.Time{}, errBadRequest("q: op_time wants [from~to]")
	}
	parse := func(s string) (time.Time, error) {
		s = strings.TrimSpace(s)
		if s == "" {
			return time.Time{}, nil
		}
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t, nil
			}
		}
		return time.Time{}, errBadRequest("q: op_time %q is not a time", truncate(s, 40))
	}
	from, err := parse(a)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	to, err := parse(b)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	if !from.IsZero() && !to.IsZero() && to.Before(from) {
		return time.Time{}, time.Time{}, errBadRequest("q: op_time ends before it starts")
	}
	return from, to, nil
}

// auditProjectResource is the audit resource of something named name in
// project proj.
func auditProjectResource(proj, name string) string { return fmt.Sprintf("%s/%s", proj, name) }
