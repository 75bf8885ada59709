package restapi

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
)

// webhookExecStore is what Harbor's webhook executions and tasks read of
// meta.Webhooks: an execution is one event under one policy (its id is
// the event's), its tasks the deliveries to the policy's targets.
type webhookExecStore interface {
	ListWebhookExecutions(ctx context.Context, projectID, policyID int64, pg meta.Page) ([]meta.WebhookExecution, int, error)
	WebhookExecutionTasks(ctx context.Context, projectID, policyID, eventID int64) ([]meta.WebhookJob, error)
}

// webhookExecRoutes registers Harbor's webhook executions, tasks and task
// logs.
func (a *API) webhookExecRoutes(mux *http.ServeMux) {
	const ex = Prefix + "/projects/{project_name_or_id}/webhook/policies/{webhook_policy_id}/executions"
	a.handle(mux, "GET "+ex, a.listWebhookExecutions)
	a.handle(mux, "GET "+ex+"/{execution_id}/tasks", a.listWebhookTasks)
	a.handle(mux, "GET "+ex+"/{execution_id}/tasks/{task_id}/log", a.webhookTaskLog)
}

// harborStatus is a delivery status as Harbor's tasks spell it.
func harborStatus(s string) string {
	switch s {
	case meta.WebhookPending:
		return "Pending"
	case meta.WebhookRunning:
		return "Running"
	case meta.WebhookSuccess:
		return "Success"
	}
	return "Error"
}

// webhookExecJSON is Harbor's Execution for a webhook policy.
type webhookExecJSON struct {
	ID            int64             `json:"id"`
	VendorType    string            `json:"vendor_type"`
	VendorID      int64             `json:"vendor_id"`
	Status        string            `json:"status"`
	StatusMessage string            `json:"status_message,omitempty"`
	Metrics       map[string]int    `json:"metrics"`
	Trigger       string            `json:"trigger"`
	ExtraAttrs    map[string]string `json:"extra_attrs"`
	StartTime     time.Time         `json:"start_time"`
	EndTime       *time.Time        `json:"end_time,omitempty"`
}

func toWebhookExecJSON(e meta.WebhookExecution) webhookExecJSON {
	pend, run, ok, bad := e.Tasks[meta.WebhookPending], e.Tasks[meta.WebhookRunning], e.Tasks[meta.WebhookSuccess], e.Tasks[meta.WebhookError]
	out := webhookExecJSON{ID: e.ID, VendorType: "WEBHOOK", VendorID: e.PolicyID, Trigger: "EVENT",
		ExtraAttrs: map[string]string{"event_type": e.EventType}, StartTime: e.StartTime,
		Metrics: map[string]int{"task_count": pend + run + ok + bad, "pending_task_count": pend, "running_task_count": run,
			"success_task_count": ok, "error_task_count": bad}}
	switch {
	case run > 0:
		out.Status = "Running"
	case pend > 0:
		out.Status = "Pending"
	case bad > 0:
		out.Status = "Error"
	default:
		out.Status = "Success"
	}
	if run+pend == 0 {
		end := e.UpdatedAt
		out.EndTime = &end
	}
	return out
}

// webhookTaskJSON is Harbor's Task for a webhook delivery.
type webhookTaskJSON struct {
	ID            int64             `json:"id"`
	ExecutionID   int64             `json:"execution_id"`
	Status        string            `json:"status"`
	StatusMessage string            `json:"status_message,omitempty"`
	RunCount      int               `json:"run_count"`
	ExtraAttrs    map[string]string `json:"extra_attrs"`
	CreationTime  time.Time         `json:"creation_time"`
	UpdateTime    time.Time         `json:"update_time"`
	StartTime     time.Time         `json:"start_time"`
	EndTime       *time.Time        `json:"end_time,omitempty"`
}

func toWebhookTaskJSON(j meta.WebhookJob) webhookTaskJSON {
	out := webhookTaskJSON{ID: j.ID, ExecutionID: j.EventID, Status: harborStatus(j.Status), StatusMessage: j.LastError,
		RunCount: j.Attempts, CreationTime: j.CreatedAt, UpdateTime: j.UpdatedAt, StartTime: j.CreatedAt,
		ExtraAttrs: map[string]string{"event_type": j.EventType, "notify_type": j.NotifyType,
			"target_index": strconv.Itoa(j.TargetIndex)}}
	if j.Status == meta.WebhookSuccess || j.Status == meta.WebhookError {
		end := j.UpdatedAt
		out.EndTime = &end
	}
	return out
}

// webhookExecutionPolicy authorizes the caller on the policy's project
// and checks that the policy exists there.
func (a *API) webhookExecutionPolicy(r *http.Request) (webhookExecStore, meta.Project, int64, error) {
	st, err := a.webhooks()
	if err != nil {
		return nil, meta.Project{}, 0, err
	}
	proj, err := a.authorizeProject(r, r.PathValue("project_name_or_id"), access.ResourceWebhook, access.ActionList)
	if err != nil {
		return nil, meta.Project{}, 0, err
	}
	id, err := policyID(r)
	if err != nil {
		return nil, meta.Project{}, 0, err
	}
	if _, err := st.GetWebhookPolicy(r.Context(), proj.ID, id); err != nil {
		return nil, meta.Project{}, 0, webhookErr(err)
	}
	return st, proj, id, nil
}

// listWebhookExecutions is GET .../policies/{id}/executions, newest first.
func (a *API) listWebhookExecutions(w http.ResponseWriter, r *http.Request) error {
	st, proj, pid, err := a.webhookExecutionPolicy(r)
	if err != nil {
		return err
	}
	pg, err := parsePaging(r)
	if err != nil {
		return err
	}
	es, total, err := st.ListWebhookExecutions(r.Context(), proj.ID, pid, pg.meta())
	if err != nil {
		return err
	}
	out := make([]webhookExecJSON, 0, len(es))
	for _, e := range es {
		out = append(out, toWebhookExecJSON(e))
	}
	setPagingHeaders(w, r, pg, total)
	return writeJSON(w, http.StatusOK, out)
}

// executionTasks returns the tasks of {execution_id}; an execution
// without any is not found.
func (a *API) executionTasks(r *http.Request) ([]meta.WebhookJob, error) {
	st, proj, pid, err := a.webhookExecutionPolicy(r)
	if err != nil {
		return nil, err
	}
	eid, err := pathID(r, "execution_id")
	if err != nil {
		return nil, err
	}
	js, err := st.WebhookExecutionTasks(r.Context(), proj.ID, pid, eid)
	if err != nil {
		return nil, err
	}
	if len(js) == 0 {
		return nil, errNotFound("webhook execution %d not found", eid)
	}
	return js, nil
}

// listWebhookTasks is GET .../executions/{execution_id}/tasks: one per
// target of the policy.
func (a *API) listWebhookTasks(w http.ResponseWriter, r *http.Request) error {
	js, err := a.executionTasks(r)
	if err != nil {
		return err
	}
	out := make([]webhookTaskJSON, 0, len(js))
	for _, j := range js {
		out = append(out, toWebhookTaskJSON(j))
	}
	w.Header().Set("X-Total-Count", strconv.Itoa(len(out)))
	return writeJSON(w, http.StatusOK, out)
}

// webhookTaskLog is GET .../tasks/{task_id}/log: the delivery's record as
// text (attempts, the last error, the payload sent; never the auth
// header, which the delivery row does not hold).
func (a *API) webhookTaskLog(w http.ResponseWriter, r *http.Request) error {
	js, err := a.executionTasks(r)
	if err != nil {
		return err
	}
	tid, err := pathID(r, "task_id")
	if err != nil {
		return err
	}
	for _, j := range js {
		if j.ID != tid {
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%s webhook delivery %d of event %d (%s) to target %d of policy %d queued\n",
			j.CreatedAt.Format(time.RFC3339), j.ID, j.EventID, j.EventType, j.TargetIndex, j.PolicyID)
		fmt.Fprintf(&b, "%s status %s after %d attempt(s)\n", j.UpdatedAt.Format(time.RFC3339), harborStatus(j.Status), j.Attempts)
		if j.LastError != "" {
			fmt.Fprintf(&b, "last error: %s\n", j.LastError)
		}
		if j.Status == meta.WebhookPending && !j.NextAttempt.IsZero() && j.Attempts > 0 {
			fmt.Fprintf(&b, "next attempt at %s\n", j.NextAttempt.Format(time.RFC3339))
		}
		fmt.Fprintf(&b, "payload: %s\n", j.JobDetail)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, err := w.Write([]byte(b.String()))
		return err
	}
	return errNotFound("webhook task %d not found", tid)
}
