package pattern

import (
	"errors"
	"testing"
)

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"**", "a/b/c", true},
		{"**", "latest", true},
		{"*", "latest", true},
		{"*", "team/app", false},
		{"team/*", "team/app", true},
		{"team/*", "team/app/x", false},
		{"team/**", "team/app/x", true},
		{"v?.0", "v1.0", true},
		{"v?.0", "v10.0", false},
		{"{prod,release}-*", "release-1", true},
		{"{prod,release}-*", "dev-1", false},
		{"v1.*", "v1.2.3", true},
		{"v1.*", "v2.0", false},
		{"[0-9]*", "1.0", true},
		{"[0-9]*", "latest", false},
		{"latest", "latest", true},
		{"latest", "latest2", false},
		{`a\*`, "a*", true},
		{`a\*`, "ab", false},
		{"{a,b", "a", false}, // malformed: matches nothing
	} {
		if got := Match(tc.pattern, tc.name); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}

func TestSelectors(t *testing.T) {
	rel := Selector{Kind: KindDoublestar, Decoration: Matches, Pattern: "release-*"}
	notRC := Selector{Kind: KindDoublestar, Decoration: Excludes, Pattern: "*-rc*"}
	for _, tc := range []struct {
		name string
		sels []Selector
		in   string
		want bool
	}{
		{"matches", []Selector{rel}, "release-1", true},
		{"matches refuses", []Selector{rel}, "dev", false},
		{"excludes", []Selector{notRC}, "release-1", true},
		{"excludes refuses", []Selector{notRC}, "release-1-rc2", false},
		{"both", []Selector{rel, notRC}, "release-2", true},
		{"both refuse", []Selector{rel, notRC}, "release-2-rc1", false},
		{"repoExcludes", []Selector{{Decoration: RepoExcludes, Pattern: "tmp/**"}}, "tmp/a", false},
		{"none selects nothing", nil, "x", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := SelectsAll(tc.sels, tc.in); got != tc.want {
				t.Errorf("SelectsAll(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		s  Selector
		ok bool
	}{
		{Selector{Kind: "doublestar", Decoration: "matches", Pattern: "**"}, true},
		{Selector{Decoration: "repoMatches", Pattern: "{a,b}/*"}, true},
		{Selector{Decoration: "matches", Pattern: ""}, false},
		{Selector{Decoration: "matches", Pattern: "{a,b"}, false},
		{Selector{Decoration: "matches", Pattern: "[a-"}, false},
		{Selector{Decoration: "sometimes", Pattern: "**"}, false},
		{Selector{Kind: "regex", Decoration: "matches", Pattern: "**"}, false},
		{Selector{Decoration: "matches", Pattern: string(make([]byte, MaxLen+1))}, false},
	} {
		err := tc.s.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("Validate(%+v) = %v, want ok %v", tc.s, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("Validate(%+v) = %v, want ErrInvalid", tc.s, err)
		}
	}
}
