package webui

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/internal/meta"
)

// gcService is garbage collection as the GC page uses it (internal/app's
// gcTrigger, the one /system/gc uses).
type gcService interface {
	ListRuns(ctx context.Context, pg meta.Page) ([]meta.GCRun, int, error)
	GetRun(ctx context.Context, id int64) (meta.GCRun, error)
	GetSchedule(ctx context.Context) (meta.GCSchedule, error)
	SetSchedule(ctx context.Context, typ, cron string) error
	Trigger(ctx context.Context, dryRun bool) (meta.GCRun, error)
}

// SetGC enables the garbage collection page (/admin/gc) over g. Call it
// before the portal serves.
func (u *UI) SetGC(g gcService) { u.gc = g }

func (u *UI) gcRoutes() {
	u.handle("GET /admin/gc", u.gcPage)
	u.handle("POST /admin/gc/run", u.runGC)
	u.handle("POST /admin/gc/schedule", u.scheduleGC)
	u.handle("GET /admin/gc/{id}/log", u.gcLog)
}

// gcView is the garbage collection page.
type gcView struct {
	Runs     []meta.GCRun
	Paging   paging
	Schedule meta.GCSchedule
	Types    []string
	ErrorKey string
	Detail   string
}

// gcScheduleTypes are the schedule types the page offers (gc.Normalize's).
var gcScheduleTypes = []string{"None", "Hourly", "Daily", "Weekly", "Custom", "Interval"}

func (u *UI) gcAllowed(c *call) error {
	if u.gc == nil {
		return errNotFound
	}
	return requireAdmin(c)
}

// gcPage is GET /admin/gc: the runs, newest first (what each freed, its
// log), "run now" and the schedule (system administrators).
func (u *UI) gcPage(c *call) error {
	if err := u.gcAllowed(c); err != nil {
		return err
	}
	return u.renderGC(c, http.StatusOK, gcView{})
}

func (u *UI) renderGC(c *call, status int, v gcView) error {
	ctx := c.r.Context()
	pg := pagingOf(c.r)
	runs, total, err := u.gc.ListRuns(ctx, pg.meta())
	if err != nil {
		return err
	}
	if v.Schedule, err = u.gc.GetSchedule(ctx); err != nil {
		return err
	}
	pg.Total = total
	v.Runs, v.Paging, v.Types = runs, pg, gcScheduleTypes
	u.render(c, status, "admin_gc", "gc.title", v)
	return nil
}

// runGC is POST /admin/gc/run (dry_run=on for a dry run): a recorded run,
// queued like the API's.
func (u *UI) runGC(c *call) error {
	if err := u.gcAllowed(c); err != nil {
		return err
	}
	if _, err := u.gc.Trigger(c.r.Context(), c.r.PostForm.Get("dry_run") == "on"); err != nil {
		return err
	}
	u.auditSystem(c, "create", "garbage_collection", "run")
	return redirect(c, "/admin/gc")
}

// scheduleGC is POST /admin/gc/schedule with type and cron (a six-field
// cron for Custom, a duration for Interval).
func (u *UI) scheduleGC(c *call) error {
	if err := u.gcAllowed(c); err != nil {
		return err
	}
	typ, cron := c.r.PostForm.Get("type"), strings.TrimSpace(c.r.PostForm.Get("cron"))
	if err := u.gc.SetSchedule(c.r.Context(), typ, cron); err != nil {
		if errors.Is(err, meta.ErrUnavailable) {
			return err
		}
		return u.renderGC(c, http.StatusBadRequest, gcView{ErrorKey: "gc.err.schedule", Detail: truncate(typ+" "+cron, 120)})
	}
	u.auditSystem(c, "update", "garbage_collection", "schedule "+truncate(typ+" "+cron, 120))
	return redirect(c, "/admin/gc")
}

// gcLog is GET /admin/gc/{id}/log: a run's log as plain text.
func (u *UI) gcLog(c *call) error {
	if err := u.gcAllowed(c); err != nil {
		return err
	}
	id, err := strconv.ParseInt(c.r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return errNotFound
	}
	run, err := u.gc.GetRun(c.r.Context(), id)
	if errors.Is(err, meta.ErrGCRunNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	c.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write([]byte(run.Log))
	return nil
}
