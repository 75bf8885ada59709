package immutable

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/pattern"
)

func sel(dec, p string) pattern.Selector { return pattern.Selector{Decoration: dec, Pattern: p} }

func TestRuleMatches(t *testing.T) {
	release := Rule{ID: 1, TagSelectors: []pattern.Selector{sel("matches", "release-*")}}
	scoped := Rule{ID: 2, TagSelectors: []pattern.Selector{sel("excludes", "{dev,test}-*")},
		ScopeSelectors: map[string][]pattern.Selector{"repository": {sel("repoMatches", "team/**")}}}
	for _, tc := range []struct {
		name      string
		r         Rule
		repo, tag string
		want      bool
	}{
		{"tag matches", release, "p/app", "release-1", true},
		{"tag does not", release, "p/app", "v1", false},
		{"disabled", Rule{Disabled: true, TagSelectors: release.TagSelectors}, "p/app", "release-1", false},
		{"in scope, not excluded", scoped, "p/team/app", "v1", true},
		{"in scope, excluded", scoped, "p/team/app", "dev-1", false},
		{"out of scope", scoped, "p/app", "v1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.r.Normalize(); err != nil {
				t.Fatal(err)
			}
			if got := tc.r.Matches(tc.repo, tc.tag); got != tc.want {
				t.Errorf("Matches(%s, %s) = %v, want %v", tc.repo, tc.tag, got, tc.want)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    Rule
		ok   bool
	}{
		{"minimal", Rule{TagSelectors: []pattern.Selector{sel("matches", "**")}}, true},
		{"no tag selector", Rule{}, false},
		{"repo decoration on a tag", Rule{TagSelectors: []pattern.Selector{sel("repoMatches", "**")}}, false},
		{"bad pattern", Rule{TagSelectors: []pattern.Selector{sel("matches", "{a")}}, false},
		{"other scope", Rule{TagSelectors: []pattern.Selector{sel("matches", "*")}, ScopeSelectors: map[string][]pattern.Selector{"namespace": nil}}, false},
		{"tag decoration on a repo", Rule{TagSelectors: []pattern.Selector{sel("matches", "*")},
			ScopeSelectors: map[string][]pattern.Selector{"repository": {sel("matches", "**")}}}, false},
		{"other action", Rule{Action: "retain", TagSelectors: []pattern.Selector{sel("matches", "*")}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.r.Normalize()
			if (err == nil) != tc.ok {
				t.Fatalf("Normalize = %v, want ok %v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Errorf("Normalize = %v, want ErrInvalid", err)
			}
			if err == nil && (tc.r.Action != ActionImmutable || tc.r.Template != TemplateImmutable || tc.r.TagSelectors[0].Kind != "doublestar") {
				t.Errorf("defaults not filled: %+v", tc.r)
			}
		})
	}
}

type fakeStore []meta.ImmutableRule

func (f fakeStore) EnabledImmutableRules(context.Context, string) ([]meta.ImmutableRule, error) {
	return f, nil
}

func TestCheckerNamesTheRule(t *testing.T) {
	r := Rule{TagSelectors: []pattern.Selector{sel("matches", "v*")}}
	if err := r.Normalize(); err != nil {
		t.Fatal(err)
	}
	st, err := ToStored(1, r)
	if err != nil {
		t.Fatal(err)
	}
	st.ID = 7
	m, err := NewChecker(fakeStore{st}).For(t.Context(), "p/app")
	if err != nil {
		t.Fatal(err)
	}
	err = m.Check("v1")
	if !errors.Is(err, ErrImmutable) || !strings.Contains(err.Error(), "rule 7") || !strings.Contains(err.Error(), "matches v*") {
		t.Errorf("Check(v1) = %v, want ErrImmutable naming rule 7 and its pattern", err)
	}
	if err := m.Check("latest"); err != nil {
		t.Errorf("Check(latest) = %v", err)
	}
	if m, _ := (*Checker)(nil).For(t.Context(), "p/app"); !m.Empty() {
		t.Error("a nil Checker has rules")
	}
}
