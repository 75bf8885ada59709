package meta_test

import (
	"errors"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

// TestListRepositoryHits lists repositories across projects: only those
// of visible projects, filtered by name, sorted, paged; with descriptions.
func TestListRepositoryHits(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		c := withClock(s)
		pub := must[meta.Project](t)(s.Projects.CreateProject(ctx, meta.Project{Name: "pub", Public: true}))
		must[meta.Project](t)(s.Projects.CreateProject(ctx, meta.Project{Name: "priv"}))
		for _, r := range []string{"pub/b", "priv/secret", "pub/a/nested"} {
			seedImage(t, s, r, r, 1)
			c.Advance(time.Minute)
		}
		check(t, s.Repos.UpdateRepositoryDescription(ctx, "pub/b", "the b repository"))
		if err := s.Repos.UpdateRepositoryDescription(ctx, "pub/none", "x"); !errors.Is(err, meta.ErrRepositoryNotFound) {
			t.Errorf("describe a missing repository: %v, want ErrRepositoryNotFound", err)
		}
		names := func(hs []meta.RepositoryHit) []string {
			out := []string{}
			for _, h := range hs {
				out = append(out, h.Name)
			}
			return out
		}
		for _, tc := range []struct {
			name  string
			q     meta.RepositoryQuery
			pg    meta.Page
			want  []string
			total int
		}{
			{"public only", meta.RepositoryQuery{}, meta.Page{Limit: 10}, []string{"pub/a/nested", "pub/b"}, 2},
			{"all", meta.RepositoryQuery{Visible: meta.Visibility{All: true}}, meta.Page{Limit: 10},
				[]string{"priv/secret", "pub/a/nested", "pub/b"}, 3},
			{"robot scope", meta.RepositoryQuery{Visible: meta.Visibility{Projects: []string{"priv"}}}, meta.Page{Limit: 10},
				[]string{"priv/secret", "pub/a/nested", "pub/b"}, 3},
			{"name", meta.RepositoryQuery{Name: "SEC", Visible: meta.Visibility{All: true}}, meta.Page{Limit: 10}, []string{"priv/secret"}, 1},
			{"newest first", meta.RepositoryQuery{Visible: meta.Visibility{All: true},
				Sort: []meta.RepositoryOrder{{By: meta.SortRepositoryCreated, Desc: true}}}, meta.Page{Limit: 10},
				[]string{"pub/a/nested", "priv/secret", "pub/b"}, 3},
			{"second page", meta.RepositoryQuery{Visible: meta.Visibility{All: true}}, meta.Page{Offset: 1, Limit: 1}, []string{"pub/a/nested"}, 3},
			{"count only", meta.RepositoryQuery{Visible: meta.Visibility{All: true}}, meta.Page{}, []string{}, 3},
		} {
			t.Run(tc.name, func(t *testing.T) {
				hs, total, err := s.Repos.ListRepositoryHits(ctx, tc.q, tc.pg)
				check(t, err)
				diff(t, "names", tc.want, names(hs))
				if total != tc.total {
					t.Errorf("total %d, want %d", total, tc.total)
				}
			})
		}
		hs := must[[]meta.RepositoryHit](t)(s.Repos.SearchRepositories(ctx, "pub/b", meta.Visibility{All: true}, 10))
		if len(hs) != 1 || hs[0].Description != "the b repository" || hs[0].ProjectID != pub.ID || hs[0].ArtifactCount != 1 {
			t.Errorf("search pub/b = %+v", hs)
		}
		ri := must[meta.RepositoryInfo](t)(s.Repos.GetRepositoryInfo(ctx, "pub/b"))
		if ri.Description != "the b repository" {
			t.Errorf("description %q", ri.Description)
		}
		if _, _, err := s.Repos.ListRepositoryHits(ctx, meta.RepositoryQuery{Sort: []meta.RepositoryOrder{{By: "payload"}}}, meta.Page{Limit: 1}); err == nil {
			t.Error("sorting by an unknown column: no error")
		}
	})
}

// TestTagIDs: every tag has an id, kept when the tag moves.
func TestTagIDs(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		a := seedImage(t, s, "p/app", "a", 1)
		b := seedImage(t, s, "p/app", "b", 1)
		check(t, s.Manifests.PutTag(ctx, "p/app", "one", a))
		check(t, s.Manifests.PutTag(ctx, "p/app", "two", a))
		art := must[meta.Artifact](t)(s.Manifests.GetArtifact(ctx, "p/app", a))
		if len(art.Tags) != 2 || art.Tags[0].ID == 0 || art.Tags[0].ID == art.Tags[1].ID {
			t.Fatalf("tags %+v: want two distinct ids", art.Tags)
		}
		id := art.Tags[0].ID
		check(t, s.Manifests.PutTag(ctx, "p/app", "one", b))
		moved := must[meta.Artifact](t)(s.Manifests.GetArtifact(ctx, "p/app", b))
		if len(moved.Tags) != 1 || moved.Tags[0].ID != id {
			t.Errorf("moved tag %+v, want id %d", moved.Tags, id)
		}
	})
}
