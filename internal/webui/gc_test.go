package webui_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/gc"
	"github.com/berth-registry/berth/internal/meta"
)

// gcRuns is internal/app's gcTrigger over the test's store and driver, a
// run performed at once instead of queued.
type gcRuns struct {
	store *meta.GC
	c     *gc.Collector
}

func (g *gcRuns) ListRuns(ctx context.Context, pg meta.Page) ([]meta.GCRun, int, error) {
	return g.store.ListRuns(ctx, pg)
}

func (g *gcRuns) GetRun(ctx context.Context, id int64) (meta.GCRun, error) {
	return g.store.GetRun(ctx, id)
}

func (g *gcRuns) GetSchedule(ctx context.Context) (meta.GCSchedule, error) {
	return g.store.GetSchedule(ctx)
}

func (g *gcRuns) SetSchedule(ctx context.Context, typ, cron string) error {
	typ, cron, err := gc.Normalize(typ, cron)
	if err != nil {
		return err
	}
	return g.store.PutSchedule(ctx, typ, cron, gc.Next(typ, cron, time.Now()))
}

func (g *gcRuns) Trigger(ctx context.Context, dryRun bool) (meta.GCRun, error) {
	run, _, err := g.c.RunNow(ctx, g.store, gc.KindManual, gc.Options{DryRun: dryRun, Grace: time.Hour, Workers: 1})
	return run, err
}

// TestGCPage: system administrators see the garbage collection runs
// (what each freed, its log), run one now and set the schedule; a bad
// schedule is refused; no one else reaches the page.
func TestGCPage(t *testing.T) {
	e := newEnv(t)
	admin := e.login("admin", adminPassword)
	if r := admin.get("/admin/gc"); r.status != 200 || !strings.Contains(r.body, "No garbage collection run yet.") || !strings.Contains(r.body, `id="nav-gc"`) {
		t.Fatalf("empty page: %d", r.status)
	}
	if r := admin.post("/admin/gc/run", url.Values{"dry_run": {"on"}}, true); r.status != http.StatusSeeOther {
		t.Fatalf("run: %d %s", r.status, r.body)
	}
	page := admin.get("/admin/gc").body
	runs, _, err := e.store.GC.ListRuns(t.Context(), meta.Page{Limit: 10})
	if err != nil || len(runs) != 1 || !runs[0].DryRun || runs[0].Status != meta.GCSuccess {
		t.Fatalf("runs %+v %v", runs, err)
	}
	if !strings.Contains(page, `id="gc-runs"`) || !strings.Contains(page, "/admin/gc/1/log") || !strings.Contains(page, "dry run") {
		t.Error("the run is not listed with its log")
	}
	if r := admin.get("/admin/gc/1/log"); r.status != 200 || r.body != runs[0].Log || r.body == "" {
		t.Errorf("log: %d %q, want %q", r.status, r.body, runs[0].Log)
	}
	if r := admin.get("/admin/gc/99/log"); r.status != http.StatusNotFound {
		t.Errorf("missing log: %d", r.status)
	}
	if r := admin.post("/admin/gc/schedule", url.Values{"type": {"Custom"}, "cron": {"not a cron"}}, true); r.status != http.StatusBadRequest ||
		!strings.Contains(r.body, "not valid") {
		t.Errorf("bad schedule: %d", r.status)
	}
	if r := admin.post("/admin/gc/schedule", url.Values{"type": {"Daily"}}, true); r.status != http.StatusSeeOther {
		t.Fatalf("schedule: %d %s", r.status, r.body)
	}
	if s, err := e.store.GC.GetSchedule(t.Context()); err != nil || s.Type != "Daily" || s.NextRun.IsZero() {
		t.Errorf("schedule %+v %v", s, err)
	}
	if !strings.Contains(admin.get("/admin/gc").body, `<option value="Daily" selected>`) {
		t.Error("the page does not show the schedule")
	}
	e.addUser("bob")
	bob := e.login("bob", userPassword)
	for _, r := range []result{bob.get("/admin/gc"), bob.get("/admin/gc/1/log"), bob.post("/admin/gc/run", nil, true),
		bob.post("/admin/gc/schedule", url.Values{"type": {"None"}}, true)} {
		if r.status != http.StatusForbidden {
			t.Errorf("a user: %d", r.status)
		}
	}
	if strings.Contains(bob.get("/projects").body, `id="nav-gc"`) {
		t.Error("a user sees the GC link")
	}
}

// TestArtifactLabelsAndPulls: the repository page and the artifact page
// show an artifact's labels and its pull count with the last pull; a
// never-pulled, unlabelled artifact shows neither.
func TestArtifactLabelsAndPulls(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.addProject("lp", false)
	d := e.pushImage("lp/app", "pulled", nil, "v1")
	quiet := e.pushImage("lp/app", "quiet", nil, "v2")
	a, err := e.store.Manifests.GetArtifact(ctx, "lp/app", d)
	if err != nil {
		t.Fatal(err)
	}
	l, err := e.store.Labels.CreateLabel(ctx, meta.Label{Name: "shipped", Scope: meta.LabelGlobal, Description: "in production"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.Labels.AttachLabel(ctx, a.ID, l.ID); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	if _, err := e.store.Pulls.AddPulls(ctx, []meta.PullCount{{Repository: "lp/app", Digest: d, Count: 7, At: at}}); err != nil {
		t.Fatal(err)
	}
	admin := e.login("admin", adminPassword)
	page := admin.get("/repositories/lp/app").body
	row := func(page string, d digest.Digest) string {
		i := strings.Index(page, `data-digest="`+d.String()+`"`)
		if i < 0 {
			t.Fatalf("no row for %s", d)
		}
		rest := page[i:]
		if j := strings.Index(rest, "</tr>"); j > 0 {
			rest = rest[:j]
		}
		return rest
	}
	if r := row(page, d); !strings.Contains(r, `<span class="badge label" title="in production">shipped</span>`) ||
		!strings.Contains(r, `7 · <time datetime="2026-11-30T08:00:00Z"`) {
		t.Errorf("labelled, pulled row:\n%s", r)
	}
	if r := row(page, quiet); strings.Contains(r, "badge label") || !strings.Contains(r, `<td class="pulls">—</td>`) {
		t.Errorf("quiet row:\n%s", r)
	}
	art := admin.get("/repositories/lp/app/-/artifacts/" + d.String()).body
	if !strings.Contains(art, `<dd class="labels"><span class="badge label" title="in production">shipped</span>`) ||
		!strings.Contains(art, `<dd class="pulls">7 · <time datetime="2026-11-30T08:00:00Z">2026-11-30 08:00 UTC</time>`) {
		t.Error("the artifact page shows no labels or pulls")
	}
}
