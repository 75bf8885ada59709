package meta_test

import (
	"errors"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

func TestRetentionPolicies(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		c := withClock(s)
		p := must[meta.Project](t)(s.Projects.CreateProject(ctx, meta.Project{Name: "ret"}))
		next := t0us.Add(time.Hour)
		pol := must[meta.RetentionPolicy](t)(s.Retention.CreatePolicy(ctx, p.ID, []byte(`{"a":1}`), "0 0 * * * *", next))
		want := meta.RetentionPolicy{ID: pol.ID, ProjectID: p.ID, Policy: []byte(`{"a":1}`), Cron: "0 0 * * * *", NextRun: next,
			CreatedAt: t0us, UpdatedAt: t0us}
		diff(t, "CreatePolicy", want, pol)
		diff(t, "GetPolicy", want, must[meta.RetentionPolicy](t)(s.Retention.GetPolicy(ctx, pol.ID)))
		diff(t, "GetProjectPolicy", want, must[meta.RetentionPolicy](t)(s.Retention.GetProjectPolicy(ctx, p.ID)))
		if _, err := s.Retention.CreatePolicy(ctx, p.ID, []byte(`{}`), "", time.Time{}); !errors.Is(err, meta.ErrRetentionExists) {
			t.Errorf("second CreatePolicy err = %v, want ErrRetentionExists", err)
		}

		// Not due yet; then due: exactly one take.
		nextOf := func(string, time.Time) time.Time { return t0us.Add(2 * time.Hour) }
		if got := must[[]meta.RetentionPolicy](t)(s.Retention.TakeDuePolicies(ctx, 10, nextOf)); len(got) != 0 {
			t.Errorf("TakeDuePolicies before due = %d policies", len(got))
		}
		c.Advance(time.Hour)
		if got := must[[]meta.RetentionPolicy](t)(s.Retention.TakeDuePolicies(ctx, 10, nextOf)); len(got) != 1 || got[0].ID != pol.ID {
			t.Errorf("TakeDuePolicies when due = %+v", got)
		}
		if got := must[[]meta.RetentionPolicy](t)(s.Retention.TakeDuePolicies(ctx, 10, nextOf)); len(got) != 0 {
			t.Errorf("TakeDuePolicies again = %d policies, want 0", len(got))
		}

		if err := s.Retention.UpdatePolicy(ctx, pol.ID, []byte(`{"b":2}`), "", time.Time{}); err != nil {
			t.Fatal(err)
		}
		got := must[meta.RetentionPolicy](t)(s.Retention.GetPolicy(ctx, pol.ID))
		if string(got.Policy) != `{"b":2}` || got.Cron != "" || !got.NextRun.IsZero() {
			t.Errorf("after UpdatePolicy = %+v", got)
		}

		// Executions and tasks.
		e := must[meta.RetentionExecution](t)(s.Retention.CreateExecution(ctx, pol.ID, "MANUAL", true))
		if e.Status != meta.RetentionRunning || !e.DryRun || e.Trigger != "MANUAL" || !e.EndedAt.IsZero() {
			t.Errorf("CreateExecution = %+v", e)
		}
		task := must[meta.RetentionTask](t)(s.Retention.CreateTask(ctx, e.ID, "ret/app"))
		if err := s.Retention.FinishTask(ctx, task.ID, meta.RetentionSuccess, 5, 2, "log"); err != nil {
			t.Fatal(err)
		}
		gt := must[meta.RetentionTask](t)(s.Retention.GetTask(ctx, task.ID))
		if gt.Total != 5 || gt.Retained != 2 || gt.Log != "log" || gt.Status != meta.RetentionSuccess || gt.EndedAt.IsZero() {
			t.Errorf("GetTask = %+v", gt)
		}
		tasks, n, err := s.Retention.ListTasks(ctx, e.ID, meta.Page{Limit: 10})
		if err != nil || n != 1 || len(tasks) != 1 {
			t.Errorf("ListTasks = %v, %d, %v", tasks, n, err)
		}
		// Stop, then finishing does not overwrite Stopped.
		if ok, err := s.Retention.FinishExecution(ctx, e.ID, meta.RetentionStopped); !ok || err != nil {
			t.Errorf("stop = %v, %v", ok, err)
		}
		if ok, err := s.Retention.FinishExecution(ctx, e.ID, meta.RetentionSuccess); ok || err != nil {
			t.Errorf("finish after stop = %v, %v; want false", ok, err)
		}
		e2 := must[meta.RetentionExecution](t)(s.Retention.CreateExecution(ctx, pol.ID, "SCHEDULE", false))
		execs, n, err := s.Retention.ListExecutions(ctx, pol.ID, meta.Page{Limit: 1})
		if err != nil || n != 2 || len(execs) != 1 || execs[0].ID != e2.ID {
			t.Errorf("ListExecutions = %+v, %d, %v; want the newest of 2", execs, n, err)
		}
		if ge := must[meta.RetentionExecution](t)(s.Retention.GetExecution(ctx, e.ID)); ge.Status != meta.RetentionStopped || ge.EndedAt.IsZero() {
			t.Errorf("GetExecution = %+v", ge)
		}

		// An execution still running long after it started is failed.
		if n, err := s.Retention.FailStaleExecutions(ctx, t0us.Add(2*time.Hour)); err != nil || n != 1 {
			t.Errorf("FailStaleExecutions = %d, %v; want 1 (e2)", n, err)
		}
		if ge := must[meta.RetentionExecution](t)(s.Retention.GetExecution(ctx, e2.ID)); ge.Status != meta.RetentionError {
			t.Errorf("stale execution = %+v", ge)
		}
		// Pruning keeps the newest executions.
		for range 3 {
			must[meta.RetentionExecution](t)(s.Retention.CreateExecution(ctx, pol.ID, "MANUAL", true))
		}
		if n, err := s.Retention.PruneExecutions(ctx, pol.ID, 2); err != nil || n != 3 {
			t.Errorf("PruneExecutions = %d, %v; want 3 of 5 gone", n, err)
		}
		if _, n, _ := s.Retention.ListExecutions(ctx, pol.ID, meta.Page{}); n != 2 {
			t.Errorf("after pruning %d executions, want 2", n)
		}
		if n, err := s.Retention.PruneExecutions(ctx, pol.ID, 2); err != nil || n != 0 {
			t.Errorf("PruneExecutions again = %d, %v", n, err)
		}
		// Deleting the project deletes its policy, executions and tasks.
		if err := s.Projects.DeleteProject(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Retention.GetPolicy(ctx, pol.ID); !errors.Is(err, meta.ErrRetentionNotFound) {
			t.Errorf("GetPolicy after project delete err = %v", err)
		}
		if _, err := s.Retention.GetTask(ctx, task.ID); !errors.Is(err, meta.ErrRetentionTaskNotFound) {
			t.Errorf("GetTask after project delete err = %v", err)
		}
		if err := s.Retention.DeletePolicy(ctx, pol.ID); !errors.Is(err, meta.ErrRetentionNotFound) {
			t.Errorf("DeletePolicy(missing) err = %v", err)
		}
	})
}
