package retention

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func day(n int) time.Time { return now.Add(-time.Duration(n) * 24 * time.Hour) }

func dg(s string) digest.Digest { return digest.FromString(s) }

func tags(pattern, decoration string, untagged bool) Selector {
	extras := `{"untagged":false}`
	if untagged {
		extras = `{"untagged":true}`
	}
	return Selector{Kind: KindDoublestar, Decoration: decoration, Pattern: pattern, Extras: extras}
}

func repos(pattern, decoration string) map[string][]Selector {
	return map[string][]Selector{ScopeRepository: {{Kind: KindDoublestar, Decoration: decoration, Pattern: pattern}}}
}

func rule(id int, template string, n int, sels ...Selector) Rule {
	r := Rule{ID: id, Action: ActionRetain, Template: template, Params: map[string]any{}, TagSelectors: sels,
		ScopeSelectors: repos("**", DecorationRepoMatches)}
	if template != TemplateAlways {
		r.Params[template] = n
	}
	return r
}

// fixture: five artifacts of one repository, newest push first.
var fixture = []Candidate{
	{Digest: dg("a"), Tags: []string{"v3", "latest"}, PushedAt: day(1), PulledAt: day(20)},
	{Digest: dg("b"), Tags: []string{"v2"}, PushedAt: day(5), PulledAt: day(1), Labels: []string{"prod"}},
	{Digest: dg("c"), Tags: []string{"dev-1"}, PushedAt: day(10), Labels: []string{"prod", "keep"}},
	{Digest: dg("d"), Tags: nil, PushedAt: day(2)}, // untagged
	{Digest: dg("e"), Tags: []string{"v1"}, PushedAt: day(40), PulledAt: day(3)},
}

// kept runs Evaluate and returns the retained candidates' first tag (or
// "untagged").
func kept(rules []Rule, cands []Candidate) []string {
	out := []string{}
	for _, d := range Evaluate(rules, cands, now) {
		if !d.Retain {
			continue
		}
		name := "untagged"
		if len(d.Tags) > 0 {
			name = d.Tags[0]
		}
		out = append(out, name)
	}
	return out
}

func TestEvaluate(t *testing.T) {
	all := tags("**", DecorationMatches, true)
	tagged := tags("**", DecorationMatches, false)
	tests := []struct {
		name  string
		rules []Rule
		cands []Candidate
		want  []string
	}{
		{"no rules keep nothing", nil, fixture, []string{}},
		{"always everything", []Rule{rule(1, TemplateAlways, 0, all)}, fixture, []string{"v3", "v2", "dev-1", "untagged", "v1"}},
		{"always tagged only: untagged goes", []Rule{rule(1, TemplateAlways, 0, tagged)}, fixture, []string{"v3", "v2", "dev-1", "v1"}},
		{"latestPushedK 2 with untagged", []Rule{rule(1, TemplateLatestPushedK, 2, all)}, fixture, []string{"v3", "untagged"}},
		{"latestPushedK 2 tagged", []Rule{rule(1, TemplateLatestPushedK, 2, tagged)}, fixture, []string{"v3", "v2"}},
		{"latestPushedK 0 keeps nothing", []Rule{rule(1, TemplateLatestPushedK, 0, all)}, fixture, []string{}},
		{"latestPushedK more than there are", []Rule{rule(1, TemplateLatestPushedK, 99, tagged)}, fixture, []string{"v3", "v2", "dev-1", "v1"}},
		{"latestPulledN 2: never pulled never counts", []Rule{rule(1, TemplateLatestPulledN, 2, all)}, fixture, []string{"v2", "v1"}},
		{"latestPulledN 10", []Rule{rule(1, TemplateLatestPulledN, 10, all)}, fixture, []string{"v3", "v2", "v1"}},
		{"nDaysSinceLastPush 5 (boundary kept)", []Rule{rule(1, TemplateDaysSinceLastPush, 5, all)}, fixture, []string{"v3", "v2", "untagged"}},
		{"nDaysSinceLastPull 3", []Rule{rule(1, TemplateDaysSinceLastPull, 3, all)}, fixture, []string{"v2", "v1"}},
		{"tag matches v*", []Rule{rule(1, TemplateAlways, 0, tags("v*", DecorationMatches, false))}, fixture, []string{"v3", "v2", "v1"}},
		{"tag matches one of several tags", []Rule{rule(1, TemplateAlways, 0, tags("latest", DecorationMatches, false))}, fixture, []string{"v3"}},
		{"tag excludes v*: any tag not matching selects", []Rule{rule(1, TemplateAlways, 0, tags("v*", DecorationExcludes, false))}, fixture, []string{"v3", "dev-1"}},
		{"tag excludes with untagged", []Rule{rule(1, TemplateAlways, 0, tags("v*", DecorationExcludes, true))}, fixture, []string{"v3", "dev-1", "untagged"}},
		{"tag ? matches one character", []Rule{rule(1, TemplateAlways, 0, tags("v?", DecorationMatches, false))}, fixture, []string{"v3", "v2", "v1"}},
		{"tag braces", []Rule{rule(1, TemplateAlways, 0, tags("{v1,dev-*}", DecorationMatches, false))}, fixture, []string{"dev-1", "v1"}},
		{"tag character class", []Rule{rule(1, TemplateAlways, 0, tags("v[12]", DecorationMatches, false))}, fixture, []string{"v2", "v1"}},
		{"selector then latestPushedK within the selection", []Rule{rule(1, TemplateLatestPushedK, 1, tags("v[12]", DecorationMatches, false))}, fixture, []string{"v2"}},
		{"label withLabels", []Rule{rule(1, TemplateAlways, 0, Selector{Kind: KindLabel, Decoration: DecorationWithLabels, Pattern: "prod"})}, fixture, []string{"v2", "dev-1"}},
		{"label withLabels needs all", []Rule{rule(1, TemplateAlways, 0, Selector{Kind: KindLabel, Decoration: DecorationWithLabels, Pattern: "prod, keep"})}, fixture, []string{"dev-1"}},
		{"label withoutLabels", []Rule{rule(1, TemplateAlways, 0, Selector{Kind: KindLabel, Decoration: DecorationWithout, Pattern: "prod"})}, fixture, []string{"v3", "untagged", "v1"}},
		{"tag and label selectors narrow together", []Rule{rule(1, TemplateAlways, 0, tags("v*", DecorationMatches, false),
			Selector{Kind: KindLabel, Decoration: DecorationWithLabels, Pattern: "prod"})}, fixture, []string{"v2"}},
		{"union of rules", []Rule{
			rule(1, TemplateLatestPushedK, 1, tagged),
			rule(2, TemplateAlways, 0, tags("dev-*", DecorationMatches, false)),
			rule(3, TemplateDaysSinceLastPull, 3, all),
		}, fixture, []string{"v3", "v2", "dev-1", "v1"}},
		{"immutable is always kept", []Rule{rule(1, TemplateLatestPushedK, 0, all)},
			[]Candidate{{Digest: dg("x"), Tags: []string{"prod"}, PushedAt: day(100), Immutable: true}, {Digest: dg("y"), Tags: []string{"old"}, PushedAt: day(200)}},
			[]string{"prod"}},
		{"ties broken by digest", []Rule{rule(1, TemplateLatestPushedK, 1, tagged)},
			[]Candidate{{Digest: dg("p"), Tags: []string{"p"}, PushedAt: day(1)}, {Digest: dg("q"), Tags: []string{"q"}, PushedAt: day(1)}},
			[]string{tieWinner()}},
		{"no candidates", []Rule{rule(1, TemplateAlways, 0, all)}, nil, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, kept(tt.rules, tt.cands)); diff != "" {
				t.Errorf("retained (-want +got):\n%s", diff)
			}
		})
	}
}

func tieWinner() string {
	if dg("p") < dg("q") {
		return "p"
	}
	return "q"
}

func TestEvaluateWhy(t *testing.T) {
	rules := []Rule{rule(1, TemplateLatestPushedK, 1, tags("**", DecorationMatches, false)), rule(2, TemplateAlways, 0, tags("v3", DecorationMatches, false))}
	ds := Evaluate(rules, fixture, now)
	if diff := cmp.Diff([]string{"rule 1", "rule 2"}, ds[0].Why); diff != "" {
		t.Errorf("why of v3 (-want +got):\n%s", diff)
	}
	if ds[1].Retain || len(ds[1].Why) != 0 {
		t.Errorf("v2 = %+v, want deleted with no reason", ds[1])
	}
}

func TestRulesFor(t *testing.T) {
	r := func(id int, pattern, decoration string, disabled bool) Rule {
		x := rule(id, TemplateAlways, 0, tags("**", DecorationMatches, true))
		x.ScopeSelectors, x.Disabled = repos(pattern, decoration), disabled
		return x
	}
	rules := []Rule{
		r(1, "**", DecorationRepoMatches, false),
		r(2, "*", DecorationRepoMatches, false),
		r(3, "team/**", DecorationRepoExcludes, false),
		r(4, "{app,web}", DecorationRepoMatches, false),
		r(5, "ap?", DecorationRepoMatches, false),
		r(6, "**", DecorationRepoMatches, true), // disabled
	}
	tests := []struct {
		repo string
		want []int
	}{
		{"app", []int{1, 2, 3, 4, 5}},
		{"web", []int{1, 2, 3, 4}},
		{"team/app", []int{1}},
		{"other/app", []int{1, 3}},
		{"apps", []int{1, 2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.repo, func(t *testing.T) {
			var got []int
			for _, x := range RulesFor(rules, tt.repo) {
				got = append(got, x.ID)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("RulesFor(%q) (-want +got):\n%s", tt.repo, diff)
			}
		})
	}
	if InScope([]Rule{r(1, "x", DecorationRepoMatches, false)}, "y") {
		t.Error("InScope(x, y) = true")
	}
}
