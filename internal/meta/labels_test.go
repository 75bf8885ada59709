package meta_test

import (
	"errors"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

func TestLabels(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		withClock(s)
		p1 := must[meta.Project](t)(s.Projects.CreateProject(ctx, meta.Project{Name: "one"}))
		p2 := must[meta.Project](t)(s.Projects.CreateProject(ctx, meta.Project{Name: "two"}))

		g := must[meta.Label](t)(s.Labels.CreateLabel(ctx, meta.Label{Name: "prod", Color: "#00ff00", Description: "ships", Scope: meta.LabelGlobal}))
		diff(t, "CreateLabel(g)", meta.Label{ID: g.ID, Name: "prod", Color: "#00ff00", Description: "ships", Scope: "g", CreatedAt: t0us, UpdatedAt: t0us}, g)
		// The same name is allowed once per scope: system-wide and in each project.
		l1 := must[meta.Label](t)(s.Labels.CreateLabel(ctx, meta.Label{Name: "prod", Scope: meta.LabelProject, ProjectID: p1.ID}))
		l2 := must[meta.Label](t)(s.Labels.CreateLabel(ctx, meta.Label{Name: "prod", Scope: meta.LabelProject, ProjectID: p2.ID}))
		for _, l := range []meta.Label{
			{Name: "prod", Scope: meta.LabelGlobal},
			{Name: "prod", Scope: meta.LabelProject, ProjectID: p1.ID},
		} {
			if _, err := s.Labels.CreateLabel(ctx, l); !errors.Is(err, meta.ErrLabelExists) {
				t.Errorf("CreateLabel(%+v) err = %v, want ErrLabelExists", l, err)
			}
		}
		if _, err := s.Labels.CreateLabel(ctx, meta.Label{Name: "x", Scope: meta.LabelProject, ProjectID: 9999}); !errors.Is(err, meta.ErrProjectNotFound) {
			t.Errorf("CreateLabel(missing project) err = %v, want ErrProjectNotFound", err)
		}
		other := must[meta.Label](t)(s.Labels.CreateLabel(ctx, meta.Label{Name: "qa", Scope: meta.LabelProject, ProjectID: p1.ID}))

		list := func(q meta.LabelQuery, pg meta.Page) ([]int64, int) {
			t.Helper()
			ls, total := mustLabels(t)(s.Labels.ListLabels(ctx, q, pg))
			ids := []int64{}
			for _, l := range ls {
				ids = append(ids, l.ID)
			}
			return ids, total
		}
		for _, tc := range []struct {
			name  string
			q     meta.LabelQuery
			pg    meta.Page
			want  []int64
			total int
		}{
			{"global", meta.LabelQuery{}, meta.Page{Limit: 10}, []int64{g.ID}, 1},
			{"project", meta.LabelQuery{Scope: "p", ProjectID: p1.ID}, meta.Page{Limit: 10}, []int64{l1.ID, other.ID}, 2},
			{"name", meta.LabelQuery{Scope: "p", ProjectID: p1.ID, Name: "Q"}, meta.Page{Limit: 10}, []int64{other.ID}, 1},
			{"page", meta.LabelQuery{Scope: "p", ProjectID: p1.ID}, meta.Page{Offset: 1, Limit: 1}, []int64{other.ID}, 2},
			{"other project", meta.LabelQuery{Scope: "p", ProjectID: p2.ID}, meta.Page{Limit: 10}, []int64{l2.ID}, 1},
		} {
			ids, total := list(tc.q, tc.pg)
			diff(t, tc.name, tc.want, ids)
			if total != tc.total {
				t.Errorf("%s: total %d, want %d", tc.name, total, tc.total)
			}
		}

		// Update keeps scope and project; a taken name is refused.
		if _, err := s.Labels.UpdateLabel(ctx, meta.Label{ID: other.ID, Name: "prod"}); !errors.Is(err, meta.ErrLabelExists) {
			t.Errorf("UpdateLabel(taken) err = %v, want ErrLabelExists", err)
		}
		up := must[meta.Label](t)(s.Labels.UpdateLabel(ctx, meta.Label{ID: other.ID, Name: "qa2", Color: "#fff", Scope: "g"}))
		if up.Name != "qa2" || up.Color != "#fff" || up.Scope != "p" || up.ProjectID != p1.ID {
			t.Errorf("UpdateLabel = %+v, want qa2 #fff still in project %d", up, p1.ID)
		}
		if _, err := s.Labels.UpdateLabel(ctx, meta.Label{ID: 9999, Name: "z"}); !errors.Is(err, meta.ErrLabelNotFound) {
			t.Errorf("UpdateLabel(missing) err = %v, want ErrLabelNotFound", err)
		}

		// Attach, list, detach; deleting a label or the artifact detaches it.
		a := putManifest(t, s, "one/app", "a")
		b := putManifest(t, s, "one/app", "b")
		ma := must[meta.Artifact](t)(s.Manifests.GetArtifact(ctx, "one/app", a))
		mb := must[meta.Artifact](t)(s.Manifests.GetArtifact(ctx, "one/app", b))
		check(t, s.Labels.AttachLabel(ctx, ma.ID, g.ID))
		check(t, s.Labels.AttachLabel(ctx, ma.ID, l1.ID))
		check(t, s.Labels.AttachLabel(ctx, mb.ID, l1.ID))
		if err := s.Labels.AttachLabel(ctx, ma.ID, g.ID); !errors.Is(err, meta.ErrLabelAttached) {
			t.Errorf("AttachLabel(twice) err = %v, want ErrLabelAttached", err)
		}
		if err := s.Labels.AttachLabel(ctx, ma.ID, 9999); !errors.Is(err, meta.ErrLabelNotFound) {
			t.Errorf("AttachLabel(missing label) err = %v, want ErrLabelNotFound", err)
		}
		if err := s.Labels.AttachLabel(ctx, 9999, g.ID); !errors.Is(err, meta.ErrManifestNotFound) {
			t.Errorf("AttachLabel(missing artifact) err = %v, want ErrManifestNotFound", err)
		}
		labelIDs := func() map[int64][]int64 {
			t.Helper()
			m := must[map[int64][]meta.Label](t)(s.Labels.ArtifactLabels(ctx, []int64{ma.ID, mb.ID}))
			out := map[int64][]int64{}
			for k, ls := range m {
				for _, l := range ls {
					out[k] = append(out[k], l.ID)
				}
			}
			return out
		}
		diff(t, "ArtifactLabels", map[int64][]int64{ma.ID: {g.ID, l1.ID}, mb.ID: {l1.ID}}, labelIDs())
		check(t, s.Labels.DetachLabel(ctx, mb.ID, l1.ID))
		if err := s.Labels.DetachLabel(ctx, mb.ID, l1.ID); !errors.Is(err, meta.ErrLabelNotAttached) {
			t.Errorf("DetachLabel(twice) err = %v, want ErrLabelNotAttached", err)
		}
		check(t, s.Labels.DeleteLabel(ctx, l1.ID))
		diff(t, "after DeleteLabel", map[int64][]int64{ma.ID: {g.ID}}, labelIDs())
		if err := s.Labels.DeleteLabel(ctx, l1.ID); !errors.Is(err, meta.ErrLabelNotFound) {
			t.Errorf("DeleteLabel(twice) err = %v, want ErrLabelNotFound", err)
		}
		check(t, s.Manifests.DeleteManifest(ctx, "one/app", a))
		diff(t, "after DeleteManifest", map[int64][]int64{}, labelIDs())
		// Deleting a project takes its labels.
		check(t, s.Projects.DeleteProject(ctx, p2.ID))
		if _, err := s.Labels.GetLabel(ctx, l2.ID); !errors.Is(err, meta.ErrLabelNotFound) {
			t.Errorf("GetLabel(label of a deleted project) err = %v, want ErrLabelNotFound", err)
		}
	})
}

func TestPulls(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		a := putManifest(t, s, "p/app", "a")
		b := putManifest(t, s, "p/app", "b")
		c := putManifest(t, s, "p/other", "c")
		ma := must[meta.Artifact](t)(s.Manifests.GetArtifact(ctx, "p/app", a))
		mb := must[meta.Artifact](t)(s.Manifests.GetArtifact(ctx, "p/app", b))
		mc := must[meta.Artifact](t)(s.Manifests.GetArtifact(ctx, "p/other", c))
		t1 := t0.Add(time.Minute)
		n := must[int](t)(s.Pulls.AddPulls(ctx, []meta.PullCount{
			{Repository: "p/app", Digest: a, Count: 3, At: t1},
			{Repository: "p/app", Digest: b, Count: 1, At: t0},
			{Repository: "p/app", Digest: dg("gone"), Count: 5, At: t0}, // skipped
			{Repository: "p/other", Digest: c, Count: 2, At: t0},
		}))
		if n != 3 {
			t.Errorf("AddPulls updated %d artifacts, want 3", n)
		}
		// An older batch (another replica's) adds its count but keeps the later time.
		must[int](t)(s.Pulls.AddPulls(ctx, []meta.PullCount{{Repository: "p/app", Digest: a, Count: 2, At: t0}}))
		got := must[map[int64]meta.PullStat](t)(s.Pulls.ArtifactPulls(ctx, []int64{ma.ID, mb.ID, mc.ID, 9999}))
		diff(t, "ArtifactPulls", map[int64]meta.PullStat{
			ma.ID: {Count: 5, PulledAt: t1.UTC().Truncate(time.Microsecond)},
			mb.ID: {Count: 1, PulledAt: t0us},
			mc.ID: {Count: 2, PulledAt: t0us},
		}, got)
		repos := must[map[int64]int64](t)(s.Pulls.RepositoryPulls(ctx, []int64{ma.RepositoryID, mc.RepositoryID}))
		diff(t, "RepositoryPulls", map[int64]int64{ma.RepositoryID: 6, mc.RepositoryID: 2}, repos)
		check(t, s.Manifests.DeleteManifest(ctx, "p/app", a))
		repos = must[map[int64]int64](t)(s.Pulls.RepositoryPulls(ctx, []int64{ma.RepositoryID}))
		diff(t, "RepositoryPulls after a delete", map[int64]int64{ma.RepositoryID: 1}, repos)
	})
}

func mustLabels(t *testing.T) func(ls []meta.Label, n int, err error) ([]meta.Label, int) {
	return func(ls []meta.Label, n int, err error) ([]meta.Label, int) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return ls, n
	}
}
