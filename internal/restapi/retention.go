package restapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/project"
	"github.com/berth-registry/berth/internal/retention"
)

// RetentionService is tag retention as /retentions uses it
// (*retention.Service).
type RetentionService interface {
	retentionPolicies
	retentionRuns
}

type retentionPolicies interface {
	Metadata() retention.Metadata
	// Create, Update: retention.ErrInvalid, meta.ErrRetentionExists.
	Create(ctx context.Context, a project.Actor, p retention.Policy) (retention.Policy, error)
	Get(ctx context.Context, id int64) (retention.Policy, error)
	Update(ctx context.Context, a project.Actor, id int64, p retention.Policy) (retention.Policy, error)
	Delete(ctx context.Context, a project.Actor, id int64) error
	ProjectPolicyID(ctx context.Context, projectID int64) (int64, error)
}

type retentionRuns interface {
	Trigger(ctx context.Context, a project.Actor, id int64, dryRun bool) (meta.RetentionExecution, error)
	Execution(ctx context.Context, id, eid int64) (meta.RetentionExecution, error)
	Executions(ctx context.Context, id int64, pg meta.Page) ([]meta.RetentionExecution, int, error)
	Stop(ctx context.Context, id, eid int64) error
	Tasks(ctx context.Context, id, eid int64, pg meta.Page) ([]meta.RetentionTask, int, error)
	Task(ctx context.Context, id, eid, tid int64) (meta.RetentionTask, error)
}

func (a *API) retentionRoutes(mux *http.ServeMux) {
	const base = Prefix + "/retentions"
	a.handle(mux, "GET "+base+"/metadatas", a.retentionMetadata)
	a.handle(mux, "POST "+base, a.createRetention)
	a.handle(mux, "GET "+base+"/{id}", a.getRetention)
	a.handle(mux, "PUT "+base+"/{id}", a.updateRetention)
	a.handle(mux, "DELETE "+base+"/{id}", a.deleteRetention)
	a.handle(mux, "POST "+base+"/{id}/executions", a.triggerRetention)
	a.handle(mux, "GET "+base+"/{id}/executions", a.listRetentionExecutions)
	a.handle(mux, "GET "+base+"/{id}/executions/{eid}", a.getRetentionExecution)
	a.handle(mux, "PATCH "+base+"/{id}/executions/{eid}", a.operateRetentionExecution)
	a.handle(mux, "GET "+base+"/{id}/executions/{eid}/tasks", a.listRetentionTasks)
	a.handle(mux, "GET "+base+"/{id}/executions/{eid}/tasks/{tid}", a.getRetentionTaskLog)
}

func (a *API) retention() (RetentionService, error) {
	if a.d.Retention == nil {
		return nil, newError(codeUnavailable, http.StatusServiceUnavailable, "tag retention is not available")
	}
	return a.d.Retention, nil
}

func pathInt(r *http.Request, name string) (int64, error) {
	v := r.PathValue(name)
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id < 1 {
		return 0, errBadRequest("%s must be a positive integer, got %q", name, truncate(v, 20))
	}
	return id, nil
}

// retentionPolicy loads policy {id} and checks that the caller may act on
// tag retention in its project. As for projects, no existence oracle:
// a missing policy and one the caller may not see give the same 401/403;
// only system administrators get 404.
func (a *API) retentionPolicy(r *http.Request, act access.Action) (RetentionService, retention.Policy, error) {
	svc, err := a.retention()
	if err != nil {
		return nil, retention.Policy{}, err
	}
	p := caller(r)
	if !p.Authenticated() {
		return nil, retention.Policy{}, denied(p)
	}
	id, err := pathInt(r, "id")
	if err != nil {
		return nil, retention.Policy{}, err
	}
	pol, err := svc.Get(r.Context(), id)
	switch {
	case errors.Is(err, meta.ErrRetentionNotFound):
		if p.Kind == access.KindUser && p.Sysadmin {
			return nil, retention.Policy{}, errNotFound("retention policy %d not found", id)
		}
		return nil, retention.Policy{}, denied(p)
	case err != nil:
		return nil, retention.Policy{}, err
	}
	_, err = a.authorize(r, func(ctx context.Context) (meta.Project, error) { return a.d.Projects.GetProject(ctx, pol.ProjectID()) },
		access.ResourceTagRetention, act)
	if err != nil {
		return nil, retention.Policy{}, err
	}
	return svc, pol, nil
}

// retentionMetadata is GET /retentions/metadatas: the rule templates and
// selectors, for any logged-in caller.
func (a *API) retentionMetadata(w http.ResponseWriter, r *http.Request) error {
	if err := requireAuthenticated(r); err != nil {
		return err
	}
	svc, err := a.retention()
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, svc.Metadata())
}

// createRetention is POST /retentions: the project (scope.ref) must have
// no policy yet; 201 with the new policy's Location.
func (a *API) createRetention(w http.ResponseWriter, r *http.Request) error {
	svc, err := a.retention()
	if err != nil {
		return err
	}
	if err := requireAuthenticated(r); err != nil {
		return err
	}
	var body retention.Policy
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	if body.Scope == nil || body.Scope.Ref < 1 {
		return errBadRequest(`scope: want {"level":"project","ref":<project id>}`)
	}
	if _, err := a.authorize(r, func(ctx context.Context) (meta.Project, error) { return a.d.Projects.GetProject(ctx, body.Scope.Ref) },
		access.ResourceTagRetention, access.ActionCreate); err != nil {
		return err
	}
	pol, err := svc.Create(r.Context(), a.actor(r), body)
	if err != nil {
		return err
	}
	w.Header().Set("Location", Prefix+"/retentions/"+strconv.FormatInt(pol.ID, 10))
	w.WriteHeader(http.StatusCreated)
	return nil
}

// getRetention is GET /retentions/{id}.
func (a *API) getRetention(w http.ResponseWriter, r *http.Request) error {
	_, pol, err := a.retentionPolicy(r, access.ActionRead)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pol)
}

// updateRetention is PUT /retentions/{id}.
func (a *API) updateRetention(w http.ResponseWriter, r *http.Request) error {
	svc, pol, err := a.retentionPolicy(r, access.ActionUpdate)
	if err != nil {
		return err
	}
	var body retention.Policy
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	if _, err := svc.Update(r.Context(), a.actor(r), pol.ID, body); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// deleteRetention is DELETE /retentions/{id}: the policy with its history.
func (a *API) deleteRetention(w http.ResponseWriter, r *http.Request) error {
	svc, pol, err := a.retentionPolicy(r, access.ActionDelete)
	if err != nil {
		return err
	}
	if err := svc.Delete(r.Context(), a.actor(r), pol.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// retentionExecutionJSON is Harbor's RetentionExecution.
type retentionExecutionJSON struct {
	ID        int64  `json:"id"`
	PolicyID  int64  `json:"policy_id"`
	StartTime string `json:"start_time"`
	EndTime   string `json:"end_time,omitempty"`
	Status    string `json:"status"`
	Trigger   string `json:"trigger"`
	DryRun    bool   `json:"dry_run"`
}

func harborTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func retentionExecutionOut(e meta.RetentionExecution) retentionExecutionJSON {
	return retentionExecutionJSON{ID: e.ID, PolicyID: e.PolicyID, StartTime: harborTime(e.StartedAt), EndTime: harborTime(e.EndedAt),
		Status: e.Status, Trigger: e.Trigger, DryRun: e.DryRun}
}

// triggerRetention is POST /retentions/{id}/executions with
// {"dry_run":bool}: 201 with the execution's Location.
func (a *API) triggerRetention(w http.ResponseWriter, r *http.Request) error {
	svc, pol, err := a.retentionPolicy(r, access.ActionOperate)
	if err != nil {
		return err
	}
	var body struct {
		DryRun *bool `json:"dry_run"`
	}
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	e, err := svc.Trigger(r.Context(), a.actor(r), pol.ID, body.DryRun != nil && *body.DryRun)
	if err != nil {
		return err
	}
	w.Header().Set("Location", Prefix+"/retentions/"+strconv.FormatInt(pol.ID, 10)+"/executions/"+strconv.FormatInt(e.ID, 10))
	w.WriteHeader(http.StatusCreated)
	return nil
}

// listRetentionExecutions is GET /retentions/{id}/executions, newest
// first, paged.
func (a *API) listRetentionExecutions(w http.ResponseWriter, r *http.Request) error {
	svc, pol, err := a.retentionPolicy(r, access.ActionList)
	if err != nil {
		return err
	}
	pg, err := parsePaging(r)
	if err != nil {
		return err
	}
	es, total, err := svc.Executions(r.Context(), pol.ID, pg.meta())
	if err != nil {
		return err
	}
	out := make([]retentionExecutionJSON, len(es))
	for i, e := range es {
		out[i] = retentionExecutionOut(e)
	}
	setPagingHeaders(w, r, pg, total)
	return writeJSON(w, http.StatusOK, out)
}

func (a *API) retentionExecution(r *http.Request, act access.Action) (RetentionService, retention.Policy, int64, error) {
	svc, pol, err := a.retentionPolicy(r, act)
	if err != nil {
		return nil, retention.Policy{}, 0, err
	}
	eid, err := pathInt(r, "eid")
	if err != nil {
		return nil, retention.Policy{}, 0, err
	}
	return svc, pol, eid, nil
}

// getRetentionExecution is GET /retentions/{id}/executions/{eid} (a
// Berth addition: the Location of a triggered run).
func (a *API) getRetentionExecution(w http.ResponseWriter, r *http.Request) error {
	svc, pol, eid, err := a.retentionExecution(r, access.ActionRead)
	if err != nil {
		return err
	}
	e, err := svc.Execution(r.Context(), pol.ID, eid)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, retentionExecutionOut(e))
}

// operateRetentionExecution is PATCH /retentions/{id}/executions/{eid}
// with {"action":"stop"}.
func (a *API) operateRetentionExecution(w http.ResponseWriter, r *http.Request) error {
	svc, pol, eid, err := a.retentionExecution(r, access.ActionOperate)
	if err != nil {
		return err
	}
	var body struct {
		Action string `json:"action"`
	}
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	if body.Action != "stop" {
		return errBadRequest(`action %q: want "stop"`, truncate(body.Action, 20))
	}
	if err := svc.Stop(r.Context(), pol.ID, eid); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// retentionTaskJSON is Harbor's RetentionExecutionTask.
type retentionTaskJSON struct {
	ID             int64  `json:"id"`
	ExecutionID    int64  `json:"execution_id"`
	Repository     string `json:"repository"`
	JobID          string `json:"job_id"`
	Status         string `json:"status"`
	StatusCode     int    `json:"status_code"`
	StatusRevision int64  `json:"status_revision"`
	StartTime      string `json:"start_time"`
	EndTime        string `json:"end_time,omitempty"`
	Total          int    `json:"total"`
	Retained       int    `json:"retained"`
}

// Harbor's job status codes, which the portal orders by.
var retentionStatusCode = map[string]int{meta.RetentionRunning: 2, meta.RetentionStopped: 3, meta.RetentionError: 3, meta.RetentionSuccess: 3}

// listRetentionTasks is GET /retentions/{id}/executions/{eid}/tasks: one
// task per repository, with its counts.
func (a *API) listRetentionTasks(w http.ResponseWriter, r *http.Request) error {
	svc, pol, eid, err := a.retentionExecution(r, access.ActionList)
	if err != nil {
		return err
	}
	pg, err := parsePaging(r)
	if err != nil {
		return err
	}
	ts, total, err := svc.Tasks(r.Context(), pol.ID, eid, pg.meta())
	if err != nil {
		return err
	}
	out := make([]retentionTaskJSON, len(ts))
	for i, t := range ts {
		out[i] = retentionTaskJSON{ID: t.ID, ExecutionID: t.ExecutionID, Repository: t.Repository, JobID: strconv.FormatInt(t.ID, 10),
			Status: t.Status, StatusCode: retentionStatusCode[t.Status], StartTime: harborTime(t.StartedAt),
			EndTime: harborTime(t.EndedAt), Total: t.Total, Retained: t.Retained}
	}
	setPagingHeaders(w, r, pg, total)
	return writeJSON(w, http.StatusOK, out)
}

// getRetentionTaskLog is GET /retentions/{id}/executions/{eid}/tasks/{tid}:
// the task's decision table as text.
func (a *API) getRetentionTaskLog(w http.ResponseWriter, r *http.Request) error {
	svc, pol, eid, err := a.retentionExecution(r, access.ActionRead)
	if err != nil {
		return err
	}
	tid, err := pathInt(r, "tid")
	if err != nil {
		return err
	}
	t, err := svc.Task(r.Context(), pol.ID, eid, tid)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(t.Log))
	return nil
}

// metaRetentionID is the project metadata naming its retention policy
// (read only: POST and DELETE /retentions set it).
const metaRetentionID = "retention_id"

// retentionID returns project projectID's policy id as Harbor's metadata
// shows it, "" when it has none or retention is off.
func (a *API) retentionID(ctx context.Context, projectID int64) (string, error) {
	if a.d.Retention == nil {
		return "", nil
	}
	id, err := a.d.Retention.ProjectPolicyID(ctx, projectID)
	if err != nil || id == 0 {
		return "", err
	}
	return strconv.FormatInt(id, 10), nil
}
