package restapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
)

// GCService is garbage collection as /system/gc uses it (internal/app
// builds it over meta.GC, the gc package and the job queue).
type GCService interface {
	ListRuns(ctx context.Context, pg meta.Page) ([]meta.GCRun, int, error)
	GetRun(ctx context.Context, id int64) (meta.GCRun, error)
	GetSchedule(ctx context.Context) (meta.GCSchedule, error)
	// SetSchedule validates and stores a schedule (gc.ErrBadSchedule).
	SetSchedule(ctx context.Context, typ, cron string) error
	// Trigger records a manual run and queues it.
	Trigger(ctx context.Context, dryRun bool) (meta.GCRun, error)
}

// resourceGC is Harbor's RBAC resource for garbage collection; only
// system administrators (and system robots granted it) hold it.
const resourceGC access.Resource = "garbage-collection"

func (a *API) gcRoutes(mux *http.ServeMux) {
	a.handle(mux, "GET "+Prefix+"/system/gc", a.listGC)
	a.handle(mux, "GET "+Prefix+"/system/gc/schedule", a.getGCSchedule)
	a.handle(mux, "POST "+Prefix+"/system/gc/schedule", a.postGCSchedule)
	a.handle(mux, "PUT "+Prefix+"/system/gc/schedule", a.putGCSchedule)
	a.handle(mux, "GET "+Prefix+"/system/gc/{gc_id}", a.getGC)
	a.handle(mux, "GET "+Prefix+"/system/gc/{gc_id}/log", a.getGCLog)
}

type scheduleObj struct {
	Type              string     `json:"type"`
	Cron              string     `json:"cron,omitempty"`
	NextScheduledTime *time.Time `json:"next_scheduled_time,omitempty"`
}

type gcHistory struct {
	ID            int64        `json:"id"`
	JobName       string       `json:"job_name"`
	JobKind       string       `json:"job_kind"`
	JobParameters string       `json:"job_parameters"`
	Schedule      *scheduleObj `json:"schedule,omitempty"`
	JobStatus     string       `json:"job_status"`
	Deleted       bool         `json:"deleted"`
	CreationTime  time.Time    `json:"creation_time"`
	UpdateTime    time.Time    `json:"update_time"`
	// Berth additions: what the run freed.
	BlobsDeleted int64 `json:"blobs_deleted"`
	BytesFreed   int64 `json:"bytes_freed"`
}

func gcJSON(r meta.GCRun) gcHistory {
	params, _ := json.Marshal(map[string]any{"dry_run": r.DryRun})
	typ := "Manual"
	if r.Kind == "SCHEDULE" {
		typ = "Schedule"
	}
	return gcHistory{ID: r.ID, JobName: "GARBAGE_COLLECTION", JobKind: r.Kind, JobParameters: string(params),
		Schedule: &scheduleObj{Type: typ}, JobStatus: r.Status, CreationTime: r.CreatedAt, UpdateTime: r.UpdatedAt,
		BlobsDeleted: r.BlobsDeleted, BytesFreed: r.BytesFreed}
}

func (a *API) gcService() (GCService, error) {
	if a.d.GC == nil {
		return nil, newError(codeUnavailable, http.StatusServiceUnavailable, "garbage collection is not available")
	}
	return a.d.GC, nil
}

// listGC is GET /system/gc: the runs, newest first.
func (a *API) listGC(w http.ResponseWriter, r *http.Request) error {
	if err := requireSystem(r, resourceGC, access.ActionList); err != nil {
		return err
	}
	g, err := a.gcService()
	if err != nil {
		return err
	}
	p, err := parsePaging(r)
	if err != nil {
		return err
	}
	runs, total, err := g.ListRuns(r.Context(), p.meta())
	if err != nil {
		return err
	}
	out := make([]gcHistory, len(runs))
	for i, run := range runs {
		out[i] = gcJSON(run)
	}
	setPagingHeaders(w, r, p, total)
	return writeJSON(w, http.StatusOK, out)
}

func (a *API) gcRun(r *http.Request) (meta.GCRun, error) {
	if err := requireSystem(r, resourceGC, access.ActionRead); err != nil {
		return meta.GCRun{}, err
	}
	g, err := a.gcService()
	if err != nil {
		return meta.GCRun{}, err
	}
	id, err := strconv.ParseInt(r.PathValue("gc_id"), 10, 64)
	if err != nil || id < 1 {
		return meta.GCRun{}, errBadRequest("gc_id must be a positive integer")
	}
	run, err := g.GetRun(r.Context(), id)
	if errors.Is(err, meta.ErrGCRunNotFound) {
		return meta.GCRun{}, newError(codeNotFound, http.StatusNotFound, "gc run %d not found", id)
	}
	return run, err
}

// getGC is GET /system/gc/{gc_id}.
func (a *API) getGC(w http.ResponseWriter, r *http.Request) error {
	run, err := a.gcRun(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, gcJSON(run))
}

// getGCLog is GET /system/gc/{gc_id}/log: the run's log as text, with the
// blobs and bytes it freed.
func (a *API) getGCLog(w http.ResponseWriter, r *http.Request) error {
	run, err := a.gcRun(r)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(run.Log))
	return nil
}

type gcScheduleJSON struct {
	Schedule     *scheduleObj   `json:"schedule"`
	Parameters   map[string]any `json:"parameters,omitempty"`
	CreationTime *time.Time     `json:"creation_time,omitempty"`
	UpdateTime   *time.Time     `json:"update_time,omitempty"`
}

// getGCSchedule is GET /system/gc/schedule.
func (a *API) getGCSchedule(w http.ResponseWriter, r *http.Request) error {
	if err := requireSystem(r, resourceGC, access.ActionRead); err != nil {
		return err
	}
	g, err := a.gcService()
	if err != nil {
		return err
	}
	s, err := g.GetSchedule(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, scheduleJSON(s.Type, s.Cron, s.NextRun, s.UpdatedAt))
}

// scheduleJSON is Harbor's Schedule of a job schedule (zero times are
// left out).
func scheduleJSON(typ, cron string, next, updated time.Time) gcScheduleJSON {
	out := gcScheduleJSON{Schedule: &scheduleObj{Type: typ, Cron: cron}}
	if !next.IsZero() {
		out.Schedule.NextScheduledTime = &next
	}
	if !updated.IsZero() {
		out.CreationTime, out.UpdateTime = &updated, &updated
	}
	return out
}

func (a *API) decodeSchedule(r *http.Request) (gcScheduleJSON, bool, error) {
	var req gcScheduleJSON
	if err := decodeJSON(r, &req); err != nil {
		return req, false, err
	}
	if req.Schedule == nil {
		return req, false, errBadRequest("schedule is required")
	}
	dry := false
	if v, ok := req.Parameters["dry_run"]; ok {
		b, isBool := v.(bool)
		if !isBool {
			return req, false, errBadRequest("parameters.dry_run must be a boolean")
		}
		dry = b
	}
	return req, dry, nil
}

// postGCSchedule is POST /system/gc/schedule: type Manual runs GC now (a
// recorded run, queued; 201 with its Location); other types set the
// schedule as PUT does.
func (a *API) postGCSchedule(w http.ResponseWriter, r *http.Request) error {
	if err := requireSystem(r, resourceGC, access.ActionCreate); err != nil {
		return err
	}
	g, err := a.gcService()
	if err != nil {
		return err
	}
	req, dry, err := a.decodeSchedule(r)
	if err != nil {
		return err
	}
	if req.Schedule.Type == "Manual" {
		run, err := g.Trigger(r.Context(), dry)
		if err != nil {
			return err
		}
		w.Header().Set("Location", Prefix+"/system/gc/"+strconv.FormatInt(run.ID, 10))
		w.WriteHeader(http.StatusCreated)
		return nil
	}
	if err := g.SetSchedule(r.Context(), req.Schedule.Type, req.Schedule.Cron); err != nil {
		return err
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

// putGCSchedule is PUT /system/gc/schedule: Hourly, Daily, Weekly, Custom
// (a six-field cron), Interval (Berth: cron holds a duration such as
// "6h") or None.
func (a *API) putGCSchedule(w http.ResponseWriter, r *http.Request) error {
	if err := requireSystem(r, resourceGC, access.ActionUpdate); err != nil {
		return err
	}
	g, err := a.gcService()
	if err != nil {
		return err
	}
	req, _, err := a.decodeSchedule(r)
	if err != nil {
		return err
	}
	if err := g.SetSchedule(r.Context(), req.Schedule.Type, req.Schedule.Cron); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
