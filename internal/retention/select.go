package retention

import (
	"cmp"
	"slices"
	"strconv"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/pattern"
)

// Candidate is one top-level artifact of a repository as retention sees
// it.
type Candidate struct {
	Digest   digest.Digest
	Tags     []string
	PushedAt time.Time
	PulledAt time.Time // zero: never pulled
	Labels   []string
	// Immutable: the artifact carries a tag an immutability rule
	// protects; retention never deletes it.
	Immutable bool
}

// Decision is what a policy does with one candidate.
type Decision struct {
	Candidate
	Retain bool
	// Why names the rules that retain it ("rule 1", "immutable"), or is
	// empty when it goes.
	Why []string
}

// Match reports whether name matches the doublestar pattern (`**`, `*`,
// `?`, `[a-z]`, `{a,b}`). A malformed pattern matches nothing (Normalize
// refuses them).
func Match(p, name string) bool { return pattern.Match(p, name) }

// InScope reports whether any enabled rule of rules selects repository
// repo (its name inside the project, without the "project/" prefix).
func InScope(rules []Rule, repo string) bool {
	return len(RulesFor(rules, repo)) > 0
}

// RulesFor returns the enabled rules whose repository selectors all select
// repo (its name inside the project).
func RulesFor(rules []Rule, repo string) []Rule {
	var out []Rule
	for _, r := range rules {
		if r.Disabled {
			continue
		}
		sels := r.ScopeSelectors[ScopeRepository]
		if len(sels) == 0 {
			continue
		}
		ok := true
		for _, s := range sels {
			m := Match(s.Pattern, repo)
			if s.Decoration == DecorationRepoExcludes {
				m = !m
			}
			if !m {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, r)
		}
	}
	return out
}

// Evaluate decides every candidate of one repository under rules (the
// rules that apply to it, see RulesFor): a candidate is retained when any
// rule retains it or it is immutable; every other candidate goes. The
// decisions come in the order of cands. now is the clock of the day-based
// templates.
func Evaluate(rules []Rule, cands []Candidate, now time.Time) []Decision {
	out := make([]Decision, len(cands))
	for i, c := range cands {
		out[i] = Decision{Candidate: c}
		if c.Immutable {
			out[i].Retain, out[i].Why = true, []string{"immutable"}
		}
	}
	for _, r := range rules {
		var idx []int
		for i, c := range cands {
			if selected(r.TagSelectors, c) {
				idx = append(idx, i)
			}
		}
		for _, i := range retained(r, cands, idx, now) {
			out[i].Retain = true
			out[i].Why = append(out[i].Why, "rule "+strconv.Itoa(r.ID))
		}
	}
	return out
}

// selected reports whether every tag selector selects c (they narrow one
// after another, as Harbor applies them).
func selected(sels []Selector, c Candidate) bool {
	for _, s := range sels {
		if !selects(s, c) {
			return false
		}
	}
	return true
}

func selects(s Selector, c Candidate) bool {
	switch s.Kind {
	case KindDoublestar:
		if len(c.Tags) == 0 {
			untagged, _ := parseExtras(s.Extras)
			return untagged
		}
		// Harbor: matches selects an artifact with any tag matching;
		// excludes selects one with any tag not matching.
		for _, t := range c.Tags {
			m := Match(s.Pattern, t)
			if s.Decoration == DecorationExcludes {
				m = !m
			}
			if m {
				return true
			}
		}
		return false
	case KindLabel:
		has := true
		for _, l := range labelNames(s.Pattern) {
			if !slices.Contains(c.Labels, l) {
				has = false
				break
			}
		}
		if s.Decoration == DecorationWithout {
			return !has
		}
		return has
	}
	return false
}

// retained returns the indexes (into cands) of the selected candidates idx
// that rule r retains.
func retained(r Rule, cands []Candidate, idx []int, now time.Time) []int {
	n, _ := intParam(r.Params[r.Template])
	switch r.Template {
	case TemplateAlways:
		return idx
	case TemplateLatestPushedK:
		return latest(cands, idx, n, func(c Candidate) time.Time { return c.PushedAt })
	case TemplateLatestPulledN:
		// An artifact never pulled is not among the most recently pulled.
		return latest(cands, nonZero(cands, idx, func(c Candidate) time.Time { return c.PulledAt }), n,
			func(c Candidate) time.Time { return c.PulledAt })
	case TemplateDaysSinceLastPush:
		return since(cands, idx, now.Add(-time.Duration(n)*24*time.Hour), func(c Candidate) time.Time { return c.PushedAt })
	case TemplateDaysSinceLastPull:
		return since(cands, idx, now.Add(-time.Duration(n)*24*time.Hour), func(c Candidate) time.Time { return c.PulledAt })
	}
	return nil
}

// latest keeps the n newest by at (ties broken by digest, so that the
// choice is the same on every run).
func latest(cands []Candidate, idx []int, n int, at func(Candidate) time.Time) []int {
	s := slices.Clone(idx)
	slices.SortFunc(s, func(a, b int) int {
		if c := at(cands[b]).Compare(at(cands[a])); c != 0 {
			return c
		}
		return cmp.Compare(cands[a].Digest, cands[b].Digest)
	})
	return s[:min(n, len(s))]
}

func nonZero(cands []Candidate, idx []int, at func(Candidate) time.Time) []int {
	var out []int
	for _, i := range idx {
		if !at(cands[i]).IsZero() {
			out = append(out, i)
		}
	}
	return out
}

func since(cands []Candidate, idx []int, cutoff time.Time, at func(Candidate) time.Time) []int {
	var out []int
	for _, i := range idx {
		if t := at(cands[i]); !t.IsZero() && !t.Before(cutoff) {
			out = append(out, i)
		}
	}
	return out
}
