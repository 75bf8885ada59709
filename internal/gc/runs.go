package gc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/berth-registry/berth/internal/meta"
)

// RunStore is meta.GC as recorded runs use it.
type RunStore interface {
	CreateRun(ctx context.Context, kind string, dryRun bool) (meta.GCRun, error)
	FinishRun(ctx context.Context, id int64, status string, blobs, bytes int64, log string) error
}

// Run kinds (Harbor's job_kind).
const (
	KindManual   = "MANUAL"
	KindSchedule = "SCHEDULE"
)

// Record performs a sweep and records it as run id (created beforehand
// with CreateRun): its status, blobs and bytes freed and its log.
func (c *Collector) Record(ctx context.Context, runs RunStore, id int64, opts Options) (Report, error) {
	r, err := c.Sweep(ctx, opts)
	status, log := meta.GCSuccess, r.String()
	if err != nil {
		status = meta.GCError
		log += "error: " + err.Error() + "\n"
	}
	// Recorded even when ctx ended, so a run never stays Running.
	if ferr := runs.FinishRun(context.WithoutCancel(ctx), id, status, int64(r.BlobsDeleted), r.BytesFreed, log); ferr != nil {
		return r, errors.Join(err, ferr)
	}
	return r, err
}

// RunNow creates a run of kind and performs it.
func (c *Collector) RunNow(ctx context.Context, runs RunStore, kind string, opts Options) (meta.GCRun, Report, error) {
	run, err := runs.CreateRun(ctx, kind, opts.DryRun)
	if err != nil {
		return meta.GCRun{}, Report{}, err
	}
	r, err := c.Record(ctx, runs, run.ID, opts)
	return run, r, err
}

// Schedule types (Harbor's ScheduleObj.type; Interval is Berth's).
const (
	ScheduleNone     = "None"
	ScheduleHourly   = "Hourly"
	ScheduleDaily    = "Daily"
	ScheduleWeekly   = "Weekly"
	ScheduleCustom   = "Custom"
	ScheduleInterval = "Interval"
	ScheduleManual   = "Manual"
)

// ErrBadSchedule: a schedule type or cron expression Berth does not take.
var ErrBadSchedule = errors.New("invalid gc schedule")

var cronParser = cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// Normalize checks a schedule and returns its canonical cron: Harbor's
// six-field cron (seconds first) for Hourly, Daily, Weekly and Custom, a
// Go duration (at least a minute) for Interval, "" for None.
func Normalize(typ, expr string) (string, string, error) {
	switch typ {
	case "", ScheduleNone:
		return ScheduleNone, "", nil
	case ScheduleHourly:
		return typ, "0 0 * * * *", nil
	case ScheduleDaily:
		return typ, "0 0 0 * * *", nil
	case ScheduleWeekly:
		return typ, "0 0 0 * * 0", nil
	case ScheduleCustom:
		expr = strings.TrimSpace(expr)
		if len(expr) > 100 {
			return "", "", fmt.Errorf("%w: cron too long", ErrBadSchedule)
		}
		if _, err := cronParser.Parse(expr); err != nil {
			return "", "", fmt.Errorf("%w: cron %q: %w", ErrBadSchedule, expr, err)
		}
		return typ, expr, nil
	case ScheduleInterval:
		d, err := time.ParseDuration(strings.TrimSpace(expr))
		if err != nil || d < time.Minute {
			return "", "", fmt.Errorf("%w: interval %q: want a duration of at least 1m", ErrBadSchedule, expr)
		}
		return typ, d.String(), nil
	}
	return "", "", fmt.Errorf("%w: type %q: want None, Hourly, Daily, Weekly, Custom or Interval", ErrBadSchedule, typ)
}

// Next returns the schedule's first run after after (zero: never). typ and
// expr must have passed Normalize.
func Next(typ, expr string, after time.Time) time.Time {
	switch typ {
	case ScheduleInterval:
		d, err := time.ParseDuration(expr)
		if err != nil {
			return time.Time{}
		}
		return after.Add(d)
	case ScheduleHourly, ScheduleDaily, ScheduleWeekly, ScheduleCustom:
		s, err := cronParser.Parse(expr)
		if err != nil {
			return time.Time{}
		}
		return s.Next(after.UTC())
	}
	return time.Time{}
}
