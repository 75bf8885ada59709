package restapi

import (
	"context"
	"net/http"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
)

// ScanAllService is Harbor's scan-all schedule and its metrics
// (internal/app builds it over meta.Schedules, meta.Scans and the job
// queue).
type ScanAllService interface {
	GetScanAllSchedule(ctx context.Context) (meta.Schedule, error)
	// SetScanAllSchedule validates and stores a schedule (gc.ErrBadSchedule).
	SetScanAllSchedule(ctx context.Context, typ, cron string) error
	// TriggerScanAll queues a scan of every image now.
	TriggerScanAll(ctx context.Context) error
	// ScanAllMetrics returns the schedule (its latest run) and the scan
	// reports started since that run, by status.
	ScanAllMetrics(ctx context.Context) (meta.Schedule, map[string]int, error)
}

// resourceScanAll is Harbor's RBAC resource for scan all; only system
// administrators (and system robots granted it) hold it.
const resourceScanAll access.Resource = "scan-all"

// scanAllRoutes registers /system/scanAll/schedule and Harbor's two
// metrics paths.
func (a *API) scanAllRoutes(mux *http.ServeMux) {
	a.handle(mux, "GET "+Prefix+"/system/scanAll/schedule", a.getScanAllSchedule)
	a.handle(mux, "PUT "+Prefix+"/system/scanAll/schedule", a.putScanAllSchedule)
	a.handle(mux, "POST "+Prefix+"/system/scanAll/schedule", a.postScanAllSchedule)
	a.handle(mux, "GET "+Prefix+"/scans/all/metrics", a.scanAllMetrics)
	a.handle(mux, "GET "+Prefix+"/scans/schedule/metrics", a.scanAllMetrics)
}

func (a *API) scanAllService(r *http.Request, act access.Action) (ScanAllService, error) {
	if err := requireSystem(r, resourceScanAll, act); err != nil {
		return nil, err
	}
	if a.d.ScanAll == nil {
		return nil, newError(codeUnavailable, http.StatusServiceUnavailable, "scanning is not configured")
	}
	return a.d.ScanAll, nil
}

// getScanAllSchedule is GET /system/scanAll/schedule (Harbor's Schedule).
func (a *API) getScanAllSchedule(w http.ResponseWriter, r *http.Request) error {
	svc, err := a.scanAllService(r, access.ActionRead)
	if err != nil {
		return err
	}
	s, err := svc.GetScanAllSchedule(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, scheduleJSON(s.Type, s.Cron, s.NextRun, s.UpdatedAt)) // gc.go
}

// putScanAllSchedule is PUT /system/scanAll/schedule: Hourly, Daily,
// Weekly, Custom (six-field cron), Interval (Berth) or None.
func (a *API) putScanAllSchedule(w http.ResponseWriter, r *http.Request) error {
	svc, err := a.scanAllService(r, access.ActionUpdate)
	if err != nil {
		return err
	}
	req, _, err := a.decodeSchedule(r) // gc.go
	if err != nil {
		return err
	}
	if req.Schedule.Type == "Manual" {
		return errBadRequest("a Manual scan all is started with POST")
	}
	if err := svc.SetScanAllSchedule(r.Context(), req.Schedule.Type, req.Schedule.Cron); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// postScanAllSchedule is POST /system/scanAll/schedule: type Manual scans
// every image now; other types set the schedule as PUT does.
func (a *API) postScanAllSchedule(w http.ResponseWriter, r *http.Request) error {
	svc, err := a.scanAllService(r, access.ActionCreate)
	if err != nil {
		return err
	}
	req, _, err := a.decodeSchedule(r)
	if err != nil {
		return err
	}
	if req.Schedule.Type == "Manual" {
		err = svc.TriggerScanAll(r.Context())
	} else {
		err = svc.SetScanAllSchedule(r.Context(), req.Schedule.Type, req.Schedule.Cron)
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

// scanAllStats is Harbor's Stats.
type scanAllStats struct {
	Total     int            `json:"total"`
	Completed int            `json:"completed"`
	Metrics   map[string]int `json:"metrics"`
	Ongoing   bool           `json:"ongoing"`
	Trigger   string         `json:"trigger,omitempty"`
}

// scanAllMetrics is GET /scans/all/metrics (and the deprecated
// /scans/schedule/metrics): the scans started since the latest scan-all
// run, by status.
func (a *API) scanAllMetrics(w http.ResponseWriter, r *http.Request) error {
	svc, err := a.scanAllService(r, access.ActionRead)
	if err != nil {
		return err
	}
	s, counts, err := svc.ScanAllMetrics(r.Context())
	if err != nil {
		return err
	}
	out := scanAllStats{Metrics: counts, Trigger: s.LastTrigger}
	for st, n := range counts {
		out.Total += n
		switch st {
		case meta.ScanSuccess, meta.ScanError:
			out.Completed += n
		default:
			out.Ongoing = true
		}
	}
	// A run that queued nothing yet is ongoing for a moment after it starts.
	out.Ongoing = out.Ongoing || (out.Total == 0 && !s.LastRun.IsZero() && time.Since(s.LastRun) < 10*time.Second)
	return writeJSON(w, http.StatusOK, out)
}
