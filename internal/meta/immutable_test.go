package meta_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

func TestImmutableRules(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		withClock(s)
		p := must[meta.Project](t)(s.Projects.CreateProject(ctx, meta.Project{Name: "p"}))
		q := must[meta.Project](t)(s.Projects.CreateProject(ctx, meta.Project{Name: "q"}))
		r1 := must[meta.ImmutableRule](t)(s.Immutable.CreateImmutableRule(ctx, meta.ImmutableRule{ProjectID: p.ID, Rule: []byte(`{"a":1}`)}))
		r2 := must[meta.ImmutableRule](t)(s.Immutable.CreateImmutableRule(ctx, meta.ImmutableRule{ProjectID: p.ID, Disabled: true, Priority: 3, Rule: []byte(`{"b":2}`)}))
		diff(t, "CreateImmutableRule", meta.ImmutableRule{ID: r2.ID, ProjectID: p.ID, Disabled: true, Priority: 3, Rule: []byte(`{"b":2}`),
			CreatedAt: t0us, UpdatedAt: t0us}, r2)
		if _, err := s.Immutable.CreateImmutableRule(ctx, meta.ImmutableRule{ProjectID: 9999, Rule: []byte(`{}`)}); !errors.Is(err, meta.ErrProjectNotFound) {
			t.Errorf("create in a missing project: %v, want ErrProjectNotFound", err)
		}
		list, total := must2Rules(t)(s.Immutable.ListImmutableRules(ctx, p.ID, meta.Page{Limit: 10}))
		if total != 2 || len(list) != 2 || list[0].ID != r1.ID || string(list[0].Rule) != `{"a":1}` {
			t.Errorf("ListImmutableRules = %d %+v", total, list)
		}
		enabled := must[[]meta.ImmutableRule](t)(s.Immutable.EnabledImmutableRules(ctx, "p"))
		if len(enabled) != 1 || enabled[0].ID != r1.ID {
			t.Errorf("EnabledImmutableRules(p) = %+v, want only %d", enabled, r1.ID)
		}
		if none := must[[]meta.ImmutableRule](t)(s.Immutable.EnabledImmutableRules(ctx, "missing")); len(none) != 0 {
			t.Errorf("EnabledImmutableRules(missing) = %+v", none)
		}
		// Another project's id is not found through this one.
		if _, err := s.Immutable.GetImmutableRule(ctx, q.ID, r1.ID); !errors.Is(err, meta.ErrImmutableRuleNotFound) {
			t.Errorf("GetImmutableRule(other project) = %v", err)
		}
		if err := s.Immutable.UpdateImmutableRule(ctx, meta.ImmutableRule{ID: r1.ID, ProjectID: q.ID, Rule: []byte(`{}`)}); !errors.Is(err, meta.ErrImmutableRuleNotFound) {
			t.Errorf("UpdateImmutableRule(other project) = %v", err)
		}
		if err := s.Immutable.DeleteImmutableRule(ctx, q.ID, r1.ID); !errors.Is(err, meta.ErrImmutableRuleNotFound) {
			t.Errorf("DeleteImmutableRule(other project) = %v", err)
		}
		check(t, s.Immutable.UpdateImmutableRule(ctx, meta.ImmutableRule{ID: r1.ID, ProjectID: p.ID, Disabled: true, Rule: []byte(`{"c":3}`)}))
		got := must[meta.ImmutableRule](t)(s.Immutable.GetImmutableRule(ctx, p.ID, r1.ID))
		if !got.Disabled || string(got.Rule) != `{"c":3}` {
			t.Errorf("after update: %+v", got)
		}
		check(t, s.Immutable.DeleteImmutableRule(ctx, p.ID, r2.ID))
		if _, err := s.Immutable.GetImmutableRule(ctx, p.ID, r2.ID); !errors.Is(err, meta.ErrImmutableRuleNotFound) {
			t.Errorf("after delete: %v", err)
		}
		// At most MaxImmutableRules per project.
		for i := 1; i < meta.MaxImmutableRules; i++ {
			must[meta.ImmutableRule](t)(s.Immutable.CreateImmutableRule(ctx, meta.ImmutableRule{ProjectID: p.ID, Rule: []byte(fmt.Sprintf(`{"n":%d}`, i))}))
		}
		if _, err := s.Immutable.CreateImmutableRule(ctx, meta.ImmutableRule{ProjectID: p.ID, Rule: []byte(`{}`)}); !errors.Is(err, meta.ErrTooManyImmutableRules) {
			t.Errorf("rule %d: %v, want ErrTooManyImmutableRules", meta.MaxImmutableRules+1, err)
		}
		// A project's rules go with it.
		check(t, s.Projects.DeleteProject(ctx, p.ID))
		if _, total := must2Rules(t)(s.Immutable.ListImmutableRules(ctx, p.ID, meta.Page{Limit: 10})); total != 0 {
			t.Errorf("rules of a deleted project: %d", total)
		}
	})
}

func must2Rules(t *testing.T) func(v []meta.ImmutableRule, n int, err error) ([]meta.ImmutableRule, int) {
	return func(v []meta.ImmutableRule, n int, err error) ([]meta.ImmutableRule, int) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v, n
	}
}
