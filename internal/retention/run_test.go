package retention_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/internal/project"
	berthregistry "github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/retention"
)

var registryErrReferenced = berthregistry.ErrManifestReferenced

// registry is an in-memory project: repositories with their artifacts.
// It lists them as meta does and deletes as the repository service does.
type registry struct {
	mu      sync.Mutex
	repos   map[string][]meta.Artifact
	deleted []digest.Digest
	total   int // reported total when > 0 (a repository too large)
	onDel   func(n int)
	failDel map[digest.Digest]error
}

func (r *registry) ListProjectRepositories(_ context.Context, proj, _ string, pg meta.Page) ([]meta.RepositoryInfo, int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var names []string
	for n := range r.repos {
		if strings.HasPrefix(n, proj+"/") {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	var out []meta.RepositoryInfo
	for _, n := range names[min(pg.Offset, len(names)):min(pg.Offset+pg.Limit, len(names))] {
		out = append(out, meta.RepositoryInfo{Name: n})
	}
	return out, len(names), nil
}

func (r *registry) ListArtifacts(_ context.Context, repo string, pg meta.Page) ([]meta.Artifact, int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	arts := r.repos[repo]
	total := len(arts)
	if r.total > 0 {
		total = r.total
	}
	return slices.Clone(arts[min(pg.Offset, len(arts)):min(pg.Offset+pg.Limit, len(arts))]), total, nil
}

func (r *registry) DeleteArtifact(_ context.Context, _ project.Actor, _ int64, repo string, d digest.Digest) error {
	if err := r.failDel[d]; err != nil {
		return err
	}
	r.mu.Lock()
	arts := r.repos[repo]
	i := slices.IndexFunc(arts, func(a meta.Artifact) bool { return a.Digest == d })
	if i < 0 {
		r.mu.Unlock()
		return meta.ErrManifestNotFound
	}
	r.repos[repo] = slices.Delete(arts, i, i+1)
	r.deleted = append(r.deleted, d)
	n := len(r.deleted)
	r.mu.Unlock()
	if r.onDel != nil {
		r.onDel(n)
	}
	return nil
}

type protect struct{ tag string }

func (p protect) Protector(context.Context, string) (func(string) bool, error) {
	return func(tag string) bool { return tag == p.tag }, nil
}

type queue struct{ args []retention.RunArgs }

func (q *queue) Enqueue(_ context.Context, kind string, a any) error {
	if kind != retention.RunJob {
		return fmt.Errorf("kind %s", kind)
	}
	q.args = append(q.args, a.(retention.RunArgs))
	return nil
}

var t0 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// artifacts makes n artifacts tagged prefix-i, pushed an hour apart
// (the last newest).
func artifacts(prefix string, n int) []meta.Artifact {
	out := make([]meta.Artifact, n)
	for i := range out {
		tag := fmt.Sprintf("%s-%d", prefix, i)
		out[n-1-i] = meta.Artifact{ID: int64(len(prefix)*1000 + i + 1), Digest: digest.FromString(prefix + tag), PushedAt: t0.Add(time.Duration(i) * time.Hour),
			Tags: []meta.TagInfo{{Name: tag, PushedAt: t0.Add(time.Duration(i) * time.Hour)}}}
	}
	return out
}

type fixture struct {
	store *meta.Store
	reg   *registry
	svc   *retention.Service
	q     *queue
	pol   retention.Policy
}

func newFixture(t *testing.T, imm retention.Immutability, rules ...retention.Rule) *fixture {
	t.Helper()
	s := metatest.OpenSQLite(t)
	p, err := s.Projects.CreateProject(t.Context(), meta.Project{Name: "p"})
	if err != nil {
		t.Fatal(err)
	}
	reg := &registry{repos: map[string][]meta.Artifact{"p/app": artifacts("v", 5), "p/web": artifacts("w", 3)}}
	f := &fixture{store: s, reg: reg, q: &queue{}}
	f.svc = retention.New(retention.Deps{Store: s.Retention, Projects: s.Projects, Repos: reg, Artifacts: reg, Deleter: reg,
		Immutable: imm, Now: func() time.Time { return t0.Add(-time.Hour) }}, slog.New(slog.DiscardHandler))
	f.svc.SetQueue(f.q)
	f.pol, err = f.svc.Create(t.Context(), project.Actor{}, retention.Policy{Rules: rules,
		Scope: &retention.Scope{Level: "project", Ref: p.ID}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func keepLatest(n int, repos string) retention.Rule {
	return retention.Rule{Template: retention.TemplateLatestPushedK, Params: map[string]any{retention.TemplateLatestPushedK: n},
		TagSelectors:   []retention.Selector{{Kind: "doublestar", Decoration: "matches", Pattern: "**"}},
		ScopeSelectors: map[string][]retention.Selector{"repository": {{Kind: "doublestar", Decoration: "repoMatches", Pattern: repos}}}}
}

// run triggers and works one execution; it returns the execution and
// the digests its tasks' logs mark DEL, per repository.
func (f *fixture) run(t *testing.T, dry bool) (meta.RetentionExecution, map[string][]string) {
	t.Helper()
	e, err := f.svc.Trigger(t.Context(), project.Actor{}, f.pol.ID, dry)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Run(t.Context(), f.q.args[len(f.q.args)-1]); err != nil {
		t.Fatal(err)
	}
	e, err = f.svc.Execution(t.Context(), f.pol.ID, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	tasks, _, err := f.svc.Tasks(t.Context(), f.pol.ID, e.ID, meta.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	gone := map[string][]string{}
	for _, task := range tasks {
		for _, line := range strings.Split(task.Log, "\n") {
			if fs := strings.Split(line, "|"); len(fs) == 5 && strings.HasPrefix(strings.TrimSpace(fs[4]), "DEL") {
				gone[task.Repository] = append(gone[task.Repository], strings.TrimSpace(fs[1]))
			}
		}
	}
	return e, gone
}

func TestRunDryEqualsReal(t *testing.T) {
	f := newFixture(t, nil, keepLatest(2, "app"))
	e, dry := f.run(t, true)
	if e.Status != meta.RetentionSuccess || len(f.reg.deleted) != 0 {
		t.Fatalf("dry run: %+v, deleted %v", e, f.reg.deleted)
	}
	want := map[string][]string{"p/app": {"v-2", "v-1", "v-0"}}
	if fmt.Sprint(dry) != fmt.Sprint(want) {
		t.Errorf("dry run would delete %v, want %v", dry, want)
	}
	e, real := f.run(t, false)
	if e.Status != meta.RetentionSuccess || fmt.Sprint(real) != fmt.Sprint(dry) || len(f.reg.deleted) != 3 {
		t.Errorf("real run: %+v deleted %v (%d), dry run said %v", e, real, len(f.reg.deleted), dry)
	}
	if len(f.reg.repos["p/app"]) != 2 || len(f.reg.repos["p/web"]) != 3 {
		t.Errorf("left %d in app, %d in web; want 2 and 3 (web out of scope)", len(f.reg.repos["p/app"]), len(f.reg.repos["p/web"]))
	}
}

func TestRunKeepsImmutable(t *testing.T) {
	f := newFixture(t, protect{"v-1"}, keepLatest(0, "**"))
	f.run(t, false)
	if got := f.reg.repos["p/app"]; len(got) != 1 || got[0].Tags[0].Name != "v-1" {
		t.Errorf("left %+v, want only the immutable v-1", got)
	}
	if len(f.reg.repos["p/web"]) != 0 {
		t.Errorf("web left %d", len(f.reg.repos["p/web"]))
	}
}

func TestRunStops(t *testing.T) {
	f := newFixture(t, nil, keepLatest(0, "app"))
	f.reg.repos["p/app"] = artifacts("v", 250)
	// Stop the execution as the first deletion happens: the run checks
	// every 100 deletions, so it deletes 100 and stops.
	f.reg.onDel = func(n int) {
		if n == 1 {
			if err := f.svc.Stop(context.Background(), f.pol.ID, f.q.args[len(f.q.args)-1].ExecutionID); err != nil {
				t.Error(err)
			}
		}
	}
	e, _ := f.run(t, false)
	if e.Status != meta.RetentionStopped || len(f.reg.deleted) != 100 {
		t.Errorf("status %s, deleted %d; want Stopped after 100", e.Status, len(f.reg.deleted))
	}
	// A stopped execution that has not started does nothing.
	f.reg.onDel = nil
	ex, err := f.svc.Trigger(t.Context(), project.Actor{}, f.pol.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Stop(t.Context(), f.pol.ID, ex.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Run(t.Context(), f.q.args[len(f.q.args)-1]); err != nil || len(f.reg.deleted) != 100 {
		t.Errorf("run of a stopped execution: %v, deleted %d", err, len(f.reg.deleted))
	}
}

func TestRunRefusesTooLargeRepository(t *testing.T) {
	f := newFixture(t, nil, keepLatest(0, "app"))
	f.reg.total = retention.MaxCandidates + 1
	e, _ := f.run(t, false)
	tasks, _, err := f.svc.Tasks(t.Context(), f.pol.ID, e.ID, meta.Page{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if e.Status != meta.RetentionError || len(tasks) != 1 || tasks[0].Status != meta.RetentionError ||
		!strings.Contains(tasks[0].Log, "at most 50000") || len(f.reg.deleted) != 0 {
		t.Errorf("execution %+v, tasks %+v, deleted %d", e, tasks, len(f.reg.deleted))
	}
}

func TestRunDue(t *testing.T) {
	f := newFixture(t, nil, keepLatest(1, "**"))
	// Every second; the service's clock is in the past, so the first run
	// is due at once.
	p := f.pol
	p.Trigger = &retention.Trigger{Kind: "Schedule", Settings: map[string]any{"cron": "* * * * * *"}}
	if _, err := f.svc.Update(t.Context(), project.Actor{}, p.ID, p); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.RunDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(f.q.args) != 1 {
		t.Fatalf("queued %d runs, want 1", len(f.q.args))
	}
	e, err := f.svc.Execution(t.Context(), p.ID, f.q.args[0].ExecutionID)
	if err != nil || e.Trigger != retention.TriggerSchedule || e.DryRun {
		t.Errorf("scheduled execution %+v, %v", e, err)
	}
	// Claimed: the next run is a second from now, not again at once.
	if err := f.svc.RunDue(t.Context()); err != nil || len(f.q.args) != 1 {
		t.Errorf("second RunDue: %v, queued %d", err, len(f.q.args))
	}
	if err := f.svc.Run(t.Context(), f.q.args[0]); err != nil || len(f.reg.deleted) != 6 {
		t.Errorf("scheduled run: %v, deleted %d, want 6", err, len(f.reg.deleted))
	}
}

func TestTriggerWithoutQueue(t *testing.T) {
	f := newFixture(t, nil, keepLatest(1, "**"))
	f.svc.SetQueue(nil)
	if _, err := f.svc.Trigger(t.Context(), project.Actor{}, f.pol.ID, true); !errors.Is(err, retention.ErrQueue) {
		t.Errorf("Trigger without a queue err = %v, want ErrQueue", err)
	}
}

func TestRunSkipsAccessories(t *testing.T) {
	f := newFixture(t, nil, keepLatest(1, "app"))
	sig := meta.Artifact{Digest: digest.FromString("sig"), PushedAt: t0.Add(100 * time.Hour),
		Tags: []meta.TagInfo{{Name: "sha256-" + strings.Repeat("ab", 32) + ".sig", PushedAt: t0.Add(100 * time.Hour)}}}
	f.reg.repos["p/app"] = append([]meta.Artifact{sig}, f.reg.repos["p/app"]...)
	f.run(t, false)
	// The signature is no candidate: the newest image is kept beside it.
	if got := f.reg.repos["p/app"]; len(got) != 2 || got[0].Digest != sig.Digest || got[1].Tags[0].Name != "v-4" {
		t.Errorf("left %+v, want the signature and v-4", got)
	}
}

type readOnly struct{ on bool }

func (r *readOnly) ReadOnly(context.Context) (bool, error) { return r.on, nil }

func TestReadOnlyDeletesNothing(t *testing.T) {
	ro := &readOnly{on: true}
	s := metatest.OpenSQLite(t)
	p, err := s.Projects.CreateProject(t.Context(), meta.Project{Name: "p"})
	if err != nil {
		t.Fatal(err)
	}
	reg := &registry{repos: map[string][]meta.Artifact{"p/app": artifacts("v", 3)}}
	q := &queue{}
	svc := retention.New(retention.Deps{Store: s.Retention, Projects: s.Projects, Repos: reg, Artifacts: reg, Deleter: reg,
		ReadOnly: ro, Now: func() time.Time { return t0 }}, slog.New(slog.DiscardHandler))
	svc.SetQueue(q)
	pol, err := svc.Create(t.Context(), project.Actor{}, retention.Policy{Rules: []retention.Rule{keepLatest(0, "**")},
		Trigger: &retention.Trigger{Settings: map[string]any{"cron": "* * * * * *"}}, Scope: &retention.Scope{Level: "project", Ref: p.ID}})
	if err != nil {
		t.Fatal(err)
	}
	// The schedule waits while read-only.
	if err := svc.RunDue(t.Context()); err != nil || len(q.args) != 0 {
		t.Fatalf("RunDue while read-only: %v, queued %d", err, len(q.args))
	}
	// A dry run works; a real run deletes nothing and ends in Error.
	for _, dry := range []bool{true, false} {
		e, err := svc.Trigger(t.Context(), project.Actor{}, pol.ID, dry)
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.Run(t.Context(), q.args[len(q.args)-1]); err != nil {
			t.Fatal(err)
		}
		e, _ = svc.Execution(t.Context(), pol.ID, e.ID)
		want := map[bool]string{true: meta.RetentionSuccess, false: meta.RetentionError}[dry]
		if e.Status != want || len(reg.deleted) != 0 {
			t.Errorf("dry=%v: status %s, deleted %d; want %s and none", dry, e.Status, len(reg.deleted), want)
		}
	}
	ro.on = false
	if err := svc.RunDue(t.Context()); err != nil || len(q.args) != 3 {
		t.Errorf("RunDue once writable: %v, queued %d, want the third run", err, len(q.args))
	}
}

// usage is the pulls and labels of the fixture's artifacts, by id.
type usage struct {
	pulls  map[int64]meta.PullStat
	labels map[int64][]meta.Label
}

func (u usage) ArtifactPulls(_ context.Context, ids []int64) (map[int64]meta.PullStat, error) {
	out := map[int64]meta.PullStat{}
	for _, id := range ids {
		if p, ok := u.pulls[id]; ok {
			out[id] = p
		}
	}
	return out, nil
}

func (u usage) ArtifactLabels(_ context.Context, ids []int64) (map[int64][]meta.Label, error) {
	out := map[int64][]meta.Label{}
	for _, id := range ids {
		out[id] = u.labels[id]
	}
	return out, nil
}

// TestRunUsesPullsAndLabels: latestPulledN counts pulls, a label selector
// keeps labelled artifacts.
func TestRunUsesPullsAndLabels(t *testing.T) {
	f := newFixture(t, nil,
		retention.Rule{Template: retention.TemplateLatestPulledN, Params: map[string]any{retention.TemplateLatestPulledN: 1},
			TagSelectors:   []retention.Selector{{Kind: "doublestar", Decoration: "matches", Pattern: "**"}},
			ScopeSelectors: map[string][]retention.Selector{"repository": {{Kind: "doublestar", Decoration: "repoMatches", Pattern: "app"}}}},
		retention.Rule{Template: retention.TemplateAlways,
			TagSelectors:   []retention.Selector{{Kind: "label", Decoration: "withLabels", Pattern: "prod"}},
			ScopeSelectors: map[string][]retention.Selector{"repository": {{Kind: "doublestar", Decoration: "repoMatches", Pattern: "app"}}}})
	// app holds v-0..v-4 with ids 1001..1005: v-0 and v-1 pulled (v-1
	// last), v-3 labelled prod.
	u := usage{pulls: map[int64]meta.PullStat{1001: {Count: 3, PulledAt: t0.Add(10 * time.Hour)}, 1002: {Count: 1, PulledAt: t0.Add(20 * time.Hour)}},
		labels: map[int64][]meta.Label{1004: {{Name: "prod"}}}}
	f.svc = retention.New(retention.Deps{Store: f.store.Retention, Projects: f.store.Projects, Repos: f.reg, Artifacts: f.reg, Deleter: f.reg,
		Pulls: u, Labels: u, Now: func() time.Time { return t0 }}, slog.New(slog.DiscardHandler))
	f.svc.SetQueue(f.q)
	f.run(t, false)
	var left []string
	for _, a := range f.reg.repos["p/app"] {
		left = append(left, a.Tags[0].Name)
	}
	if !slices.Equal(left, []string{"v-3", "v-1"}) {
		t.Errorf("left %v, want v-3 (label) and v-1 (latest pulled)", left)
	}
}

// TestRunDeleteFailures: a refused deletion is logged with its reason, an
// internal failure without its details; the others go and the task ends
// in Error.
func TestRunDeleteFailures(t *testing.T) {
	f := newFixture(t, nil, keepLatest(2, "app"))
	arts := f.reg.repos["p/app"] // newest first: v-4 ... v-0
	f.reg.failDel = map[digest.Digest]error{
		arts[2].Digest: fmt.Errorf("delete: %w", registryErrReferenced),
		arts[3].Digest: errors.New("pq: relation \"secret_table\" does not exist"),
	}
	e, _ := f.run(t, false)
	tasks, _, err := f.svc.Tasks(t.Context(), f.pol.ID, e.ID, meta.Page{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	log := tasks[0].Log
	if e.Status != meta.RetentionError || tasks[0].Status != meta.RetentionError || tasks[0].Retained != 4 || len(f.reg.deleted) != 1 {
		t.Errorf("execution %s, task %+v, deleted %d", e.Status, tasks[0], len(f.reg.deleted))
	}
	for _, want := range []string{"DEL FAILED: delete: manifest is referenced", "DEL FAILED: internal error (details in the server log)",
		"error: retention deletions failed: 2 of 3"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "secret_table") {
		t.Errorf("log shows an internal error's details:\n%s", log)
	}
}
