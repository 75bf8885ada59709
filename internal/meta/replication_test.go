package meta_test

import (
	"errors"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

func TestRegistriesAndReplication(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		r, err := s.Registries.CreateRegistry(ctx, meta.Registry{Name: "peer", Type: "berth", URL: "http://127.0.0.1:1",
			CredentialType: "basic", AccessKey: "u", Secret: "v1:abc:sealed", Insecure: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Registries.CreateRegistry(ctx, meta.Registry{Name: "peer", Type: "berth", URL: "x"}); !errors.Is(err, meta.ErrRegistryExists) {
			t.Fatalf("duplicate name: %v", err)
		}
		if err := s.Registries.SetRegistrySecret(ctx, r.ID, "v1:other", "v1:new"); err != nil {
			t.Fatal(err)
		}
		got, _ := s.Registries.GetRegistry(ctx, r.ID)
		if got.Secret != "v1:abc:sealed" || !got.Insecure || got.AccessKey != "u" {
			t.Fatalf("a secret replaced although the old one differed, or fields lost: %+v", got)
		}
		if err := s.Registries.SetRegistrySecret(ctx, r.ID, "v1:abc:sealed", "v1:new"); err != nil {
			t.Fatal(err)
		}
		if got, _ = s.Registries.GetRegistry(ctx, r.ID); got.Secret != "v1:new" {
			t.Fatalf("secret after rotation: %q", got.Secret)
		}
		list, total, err := s.Registries.ListRegistries(ctx, "EE", meta.Page{Limit: 10})
		if err != nil || total != 1 || len(list) != 1 {
			t.Fatalf("list by name: %v %d %v", list, total, err)
		}

		due := time.Now().Add(-time.Minute)
		p, err := s.Replication.CreatePolicy(ctx, meta.ReplicationPolicy{Name: "p", DestRegistryID: r.ID, Filters: "[]",
			TriggerType: "scheduled", TriggerCron: "@every 1h", Enabled: true, NextRun: due, DestReplaceCount: -1})
		if err != nil {
			t.Fatal(err)
		}
		if p.SrcRegistryID != 0 || p.DestRegistryID != r.ID || p.NextRun.IsZero() {
			t.Fatalf("policy: %+v", p)
		}
		if err := s.Registries.DeleteRegistry(ctx, r.ID); !errors.Is(err, meta.ErrRegistryInUse) {
			t.Fatalf("delete a registry in use: %v", err)
		}
		next := time.Now().Add(time.Hour)
		taken, ok, err := s.Replication.TakeDuePolicy(ctx, func(meta.ReplicationPolicy, time.Time) time.Time { return next })
		if err != nil || !ok || taken.ID != p.ID {
			t.Fatalf("take due: %+v %v %v", taken, ok, err)
		}
		if _, ok, err := s.Replication.TakeDuePolicy(ctx, func(meta.ReplicationPolicy, time.Time) time.Time { return next }); ok || err != nil {
			t.Fatalf("a policy was taken twice: %v %v", ok, err)
		}

		e, err := s.Replication.CreateExecution(ctx, p.ID, "manual")
		if err != nil || e.Status != meta.ExecRunning {
			t.Fatalf("execution: %+v %v", e, err)
		}
		var tasks []meta.ReplicationTask
		for _, ref := range []string{"a", "b", "c"} {
			tk, err := s.Replication.CreateTask(ctx, meta.ReplicationTask{ExecutionID: e.ID, Operation: "copy",
				SrcResource: "lib/x", DstResource: "lib/x", Reference: ref, Args: `{"x":1}`})
			if err != nil {
				t.Fatal(err)
			}
			tasks = append(tasks, tk)
		}
		past := time.Now().Add(-time.Hour)
		if ok, err := s.Replication.StartTask(ctx, tasks[0].ID, "r1", past); !ok || err != nil {
			t.Fatalf("start: %v %v", ok, err)
		}
		if ok, _ := s.Replication.StartTask(ctx, tasks[0].ID, "r2", past); ok {
			t.Fatal("a task running with a fresh heartbeat was started by a second runner")
		}
		if err := s.Replication.FinishTask(ctx, tasks[0].ID, "r2", meta.TaskSucceed, 1, ""); !errors.Is(err, meta.ErrTaskLost) {
			t.Fatalf("finish by a runner not holding the task: %v", err)
		}
		if err := s.Replication.FinishTask(ctx, tasks[0].ID, "r1", meta.TaskSucceed, 100, "done\n"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.Replication.StartTask(ctx, tasks[0].ID, "r3", time.Now().Add(time.Hour)); ok {
			t.Fatal("a finished task started again")
		}
		if ok, _ := s.Replication.StartTask(ctx, tasks[1].ID, "r1", past); !ok {
			t.Fatal("task 2 did not start")
		}
		// Its replica dies: no heartbeat. Taken back, queued again, the
		// old runner has lost it.
		stale, err := s.Replication.ReclaimStaleTasks(ctx, past, 10)
		if err != nil || len(stale) != 0 {
			t.Fatalf("reclaim of a fresh task: %+v %v", stale, err)
		}
		if err := s.Replication.HeartbeatTask(ctx, tasks[1].ID, "r1", `{"sha256:x":"/loc"}`); err != nil {
			t.Fatal(err)
		}
		stale, err = s.Replication.ReclaimStaleTasks(ctx, time.Now().Add(time.Second), 10)
		if err != nil || len(stale) != 1 || stale[0].ID != tasks[1].ID || stale[0].Args != `{"x":1}` || stale[0].Resume != `{"sha256:x":"/loc"}` {
			t.Fatalf("reclaim: %+v %v", stale, err)
		}
		if err := s.Replication.HeartbeatTask(ctx, tasks[1].ID, "r1", ""); !errors.Is(err, meta.ErrTaskLost) {
			t.Fatalf("heartbeat of a reclaimed task: %v", err)
		}
		if ok, _ := s.Replication.StartTask(ctx, tasks[1].ID, "r2", past); !ok {
			t.Fatal("the reclaimed task did not start again")
		}
		if err := s.Replication.FinishTask(ctx, tasks[1].ID, "r1", meta.TaskSucceed, 1, ""); !errors.Is(err, meta.ErrTaskLost) {
			t.Fatalf("the dead runner finished a task taken back: %v", err)
		}
		if err := s.Replication.RequestStop(ctx, e.ID); err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.Replication.StartTask(ctx, tasks[2].ID, "r1", past); ok {
			t.Fatal("a task of a stopped execution started")
		}
		e, _ = s.Replication.GetExecution(ctx, e.ID)
		if e.Total != 3 || e.Succeed != 1 || e.InProgress != 1 || e.Stopped != 1 || e.Bytes != 100 || !e.StopRequested {
			t.Fatalf("counts: %+v", e)
		}
		if err := s.Replication.FinishExecution(ctx, e.ID, meta.ExecStopped, "stopped"); err != nil {
			t.Fatal(err)
		}
		if err := s.Replication.FinishExecution(ctx, e.ID, meta.ExecSucceed, "again"); err != nil {
			t.Fatal(err)
		}
		if e, _ = s.Replication.GetExecution(ctx, e.ID); e.Status != meta.ExecStopped || e.EndTime.IsZero() {
			t.Fatalf("finished twice: %+v", e)
		}
		tk, err := s.Replication.GetTask(ctx, tasks[0].ID)
		if err != nil || tk.Log != "done\n" || tk.Attempts != 1 || tk.EndTime.IsZero() {
			t.Fatalf("task: %+v %v", tk, err)
		}
		if err := s.Replication.DeletePolicy(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Replication.GetExecution(ctx, e.ID); !errors.Is(err, meta.ErrExecutionNotFound) {
			t.Fatalf("execution of a deleted policy: %v", err)
		}
		if err := s.Registries.DeleteRegistry(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
	})
}
