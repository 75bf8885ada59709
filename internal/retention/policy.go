package retention

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/robfig/cron/v3"

	"github.com/berth-registry/berth/internal/pattern"
)

// ErrInvalid: a policy breaks a rule; the message says which field and why.
var ErrInvalid = errors.New("invalid retention policy")

// Bounds on one policy.
const (
	// MaxRules is how many rules a policy may hold (Harbor's limit).
	MaxRules = 15
	// MaxSelectors bounds the tag selectors and the repository selectors
	// of one rule.
	MaxSelectors = 5
	// MaxPatternLength bounds a selector's pattern (bytes).
	MaxPatternLength = 255
	// MaxCount bounds latestPushedK and latestPulledN.
	MaxCount = 10_000
	// MaxDays bounds nDaysSinceLastPush and nDaysSinceLastPull.
	MaxDays = 36_500
)

// Rule templates (Harbor's names).
const (
	TemplateLatestPushedK     = "latestPushedK"
	TemplateLatestPulledN     = "latestPulledN"
	TemplateDaysSinceLastPush = "nDaysSinceLastPush"
	TemplateDaysSinceLastPull = "nDaysSinceLastPull"
	TemplateAlways            = "always"
)

// Selector kinds and decorations (Harbor's names).
const (
	KindDoublestar = "doublestar"
	KindLabel      = "label"

	DecorationMatches      = "matches"
	DecorationExcludes     = "excludes"
	DecorationRepoMatches  = "repoMatches"
	DecorationRepoExcludes = "repoExcludes"
	DecorationWithLabels   = "withLabels"
	DecorationWithout      = "withoutLabels"

	// ScopeRepository is the one key of a rule's scope_selectors.
	ScopeRepository = "repository"
	// ActionRetain is the one rule action.
	ActionRetain = "retain"
	// AlgorithmOr is the one algorithm: the union of what each rule retains.
	AlgorithmOr = "or"
	// LevelProject is the one scope level: a policy belongs to a project.
	LevelProject = "project"
	// TriggerKindSchedule is the one trigger kind; an empty cron means manual
	// runs only.
	TriggerKindSchedule = "Schedule"
)

// Policy is Harbor's RetentionPolicy.
type Policy struct {
	ID        int64    `json:"id"`
	Algorithm string   `json:"algorithm"`
	Rules     []Rule   `json:"rules"`
	Trigger   *Trigger `json:"trigger"`
	Scope     *Scope   `json:"scope"`
}

// Rule is Harbor's RetentionRule.
type Rule struct {
	ID             int                   `json:"id"`
	Priority       int                   `json:"priority"`
	Disabled       bool                  `json:"disabled"`
	Action         string                `json:"action"`
	Template       string                `json:"template"`
	Params         map[string]any        `json:"params"`
	TagSelectors   []Selector            `json:"tag_selectors"`
	ScopeSelectors map[string][]Selector `json:"scope_selectors"`
}

// Selector is Harbor's RetentionSelector. For doublestar tag selectors,
// Extras is `{"untagged":true}` when untagged artifacts are selected too;
// for label selectors, Pattern lists label names separated by commas.
type Selector struct {
	Kind       string `json:"kind"`
	Decoration string `json:"decoration"`
	Pattern    string `json:"pattern"`
	Extras     string `json:"extras,omitempty"`
}

// Trigger is Harbor's RetentionRuleTrigger: kind Schedule, settings.cron
// a six-field cron (seconds first) or "" for manual runs only.
type Trigger struct {
	Kind       string         `json:"kind"`
	Settings   map[string]any `json:"settings"`
	References map[string]any `json:"references"`
}

// Scope is Harbor's RetentionPolicyScope: level project, ref its id.
type Scope struct {
	Level string `json:"level"`
	Ref   int64  `json:"ref"`
}

// Cron returns the policy's schedule ("" for none).
func (p Policy) Cron() string {
	if p.Trigger == nil {
		return ""
	}
	s, _ := p.Trigger.Settings["cron"].(string)
	return s
}

// ProjectID is the project the policy belongs to (0 when it has no scope).
func (p Policy) ProjectID() int64 {
	if p.Scope == nil {
		return 0
	}
	return p.Scope.Ref
}

var cronParser = cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// ParseCron parses a six-field cron (Harbor's, seconds first).
func ParseCron(expr string) (cron.Schedule, error) {
	return cronParser.Parse(expr)
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Normalize checks p and returns it in canonical form: defaults filled
// (algorithm "or", action "retain", trigger kind Schedule, rule ids
// 1..n where missing), integer parameters as int. Errors match
// ErrInvalid and name the field.
func Normalize(p Policy) (Policy, error) {
	out := p
	switch out.Algorithm {
	case "":
		out.Algorithm = AlgorithmOr
	case AlgorithmOr:
	default:
		return Policy{}, invalid("algorithm %q: want %q", clip(p.Algorithm), AlgorithmOr)
	}
	if out.Scope == nil || out.Scope.Level != LevelProject || out.Scope.Ref < 1 {
		return Policy{}, invalid(`scope: want {"level":"project","ref":<project id>}`)
	}
	out.Scope = &Scope{Level: LevelProject, Ref: p.Scope.Ref}
	t, err := normalizeTrigger(p.Trigger)
	if err != nil {
		return Policy{}, err
	}
	out.Trigger = t
	if len(p.Rules) > MaxRules {
		return Policy{}, invalid("%d rules: at most %d", len(p.Rules), MaxRules)
	}
	out.Rules = make([]Rule, len(p.Rules))
	ids := map[int]bool{}
	for i, r := range p.Rules {
		nr, err := normalizeRule(r)
		if err != nil {
			return Policy{}, fmt.Errorf("rules[%d]: %w", i, err)
		}
		if nr.ID == 0 || ids[nr.ID] {
			nr.ID = 0
		}
		ids[nr.ID] = true
		out.Rules[i] = nr
	}
	next := 1
	for i := range out.Rules {
		if out.Rules[i].ID != 0 {
			continue
		}
		for ids[next] {
			next++
		}
		out.Rules[i].ID = next
		ids[next] = true
	}
	return out, nil
}

func normalizeTrigger(t *Trigger) (*Trigger, error) {
	out := &Trigger{Kind: TriggerKindSchedule, Settings: map[string]any{"cron": ""}, References: map[string]any{}}
	if t == nil {
		return out, nil
	}
	if t.Kind != "" && t.Kind != TriggerKindSchedule {
		return nil, invalid("trigger.kind %q: want %q", clip(t.Kind), TriggerKindSchedule)
	}
	for k, v := range t.Settings {
		if k != "cron" {
			return nil, invalid("trigger.settings.%s: Berth knows only cron", clip(k))
		}
		s, ok := v.(string)
		if !ok {
			return nil, invalid("trigger.settings.cron must be a string")
		}
		s = strings.TrimSpace(s)
		if len(s) > 100 {
			return nil, invalid("trigger.settings.cron is longer than 100 bytes")
		}
		if s != "" {
			if _, err := ParseCron(s); err != nil {
				return nil, invalid("trigger.settings.cron %q: want six fields (seconds first): %v", s, err)
			}
		}
		out.Settings["cron"] = s
	}
	return out, nil
}

// templates lists each template's parameter (its key in params, which is
// the template's name) and bound; always takes none.
var templates = map[string]int{
	TemplateLatestPushedK:     MaxCount,
	TemplateLatestPulledN:     MaxCount,
	TemplateDaysSinceLastPush: MaxDays,
	TemplateDaysSinceLastPull: MaxDays,
	TemplateAlways:            0,
}

func normalizeRule(r Rule) (Rule, error) {
	out := r
	if out.Action == "" {
		out.Action = ActionRetain
	}
	if out.Action != ActionRetain {
		return Rule{}, invalid("action %q: want %q", clip(r.Action), ActionRetain)
	}
	limit, ok := templates[r.Template]
	if !ok {
		return Rule{}, invalid("template %q: want one of latestPushedK, latestPulledN, nDaysSinceLastPush, nDaysSinceLastPull, always", clip(r.Template))
	}
	out.Params = map[string]any{}
	if limit > 0 {
		n, err := intParam(r.Params[r.Template])
		if err != nil {
			return Rule{}, invalid("params.%s: %v", r.Template, err)
		}
		if n < 0 || n > limit {
			return Rule{}, invalid("params.%s is %d: want 0 to %d", r.Template, n, limit)
		}
		out.Params[r.Template] = n
	}
	for k := range r.Params {
		if k != r.Template || limit == 0 {
			return Rule{}, invalid("params.%s: template %s takes no such parameter", clip(k), r.Template)
		}
	}
	if len(r.TagSelectors) == 0 || len(r.TagSelectors) > MaxSelectors {
		return Rule{}, invalid("tag_selectors: want 1 to %d selectors, got %d", MaxSelectors, len(r.TagSelectors))
	}
	out.TagSelectors = make([]Selector, len(r.TagSelectors))
	for i, s := range r.TagSelectors {
		ns, err := normalizeTagSelector(s)
		if err != nil {
			return Rule{}, fmt.Errorf("tag_selectors[%d]: %w", i, err)
		}
		out.TagSelectors[i] = ns
	}
	for k := range r.ScopeSelectors {
		if k != ScopeRepository {
			return Rule{}, invalid("scope_selectors.%s: want only %q", clip(k), ScopeRepository)
		}
	}
	repos := r.ScopeSelectors[ScopeRepository]
	if len(repos) == 0 || len(repos) > MaxSelectors {
		return Rule{}, invalid("scope_selectors.repository: want 1 to %d selectors, got %d", MaxSelectors, len(repos))
	}
	out.ScopeSelectors = map[string][]Selector{ScopeRepository: make([]Selector, len(repos))}
	for i, s := range repos {
		if s.Kind != KindDoublestar {
			return Rule{}, invalid("scope_selectors.repository[%d].kind %q: want %q", i, clip(s.Kind), KindDoublestar)
		}
		if s.Decoration != DecorationRepoMatches && s.Decoration != DecorationRepoExcludes {
			return Rule{}, invalid("scope_selectors.repository[%d].decoration %q: want repoMatches or repoExcludes", i, clip(s.Decoration))
		}
		if err := checkPattern(s.Pattern); err != nil {
			return Rule{}, fmt.Errorf("scope_selectors.repository[%d]: %w", i, err)
		}
		out.ScopeSelectors[ScopeRepository][i] = Selector{Kind: s.Kind, Decoration: s.Decoration, Pattern: s.Pattern}
	}
	return out, nil
}

func normalizeTagSelector(s Selector) (Selector, error) {
	switch s.Kind {
	case KindDoublestar:
		if s.Decoration != DecorationMatches && s.Decoration != DecorationExcludes {
			return Selector{}, invalid("decoration %q: want matches or excludes", clip(s.Decoration))
		}
		if err := checkPattern(s.Pattern); err != nil {
			return Selector{}, err
		}
		untagged, err := parseExtras(s.Extras)
		if err != nil {
			return Selector{}, err
		}
		out := Selector{Kind: s.Kind, Decoration: s.Decoration, Pattern: s.Pattern}
		b, _ := json.Marshal(map[string]bool{"untagged": untagged})
		out.Extras = string(b)
		return out, nil
	case KindLabel:
		if s.Decoration != DecorationWithLabels && s.Decoration != DecorationWithout {
			return Selector{}, invalid("decoration %q: want withLabels or withoutLabels", clip(s.Decoration))
		}
		if len(s.Pattern) > MaxPatternLength {
			return Selector{}, invalid("pattern is longer than %d bytes", MaxPatternLength)
		}
		if len(labelNames(s.Pattern)) == 0 {
			return Selector{}, invalid("pattern: want one or more label names separated by commas")
		}
		return Selector{Kind: s.Kind, Decoration: s.Decoration, Pattern: s.Pattern}, nil
	}
	return Selector{}, invalid("kind %q: want doublestar or label", clip(s.Kind))
}

func checkPattern(p string) error {
	switch {
	case p == "":
		return invalid("pattern is empty")
	case len(p) > MaxPatternLength:
		return invalid("pattern is longer than %d bytes", MaxPatternLength)
	}
	if err := pattern.Validate(p); err != nil {
		return invalid("pattern %q is not a valid pattern", p)
	}
	return nil
}

// parseExtras reads a doublestar tag selector's extras: "" or
// {"untagged":bool}.
func parseExtras(s string) (untagged bool, err error) {
	if strings.TrimSpace(s) == "" {
		return false, nil
	}
	var e map[string]any
	if err := json.Unmarshal([]byte(s), &e); err != nil {
		return false, invalid(`extras: want {"untagged":true} or {"untagged":false}`)
	}
	for k, v := range e {
		b, ok := v.(bool)
		if k != "untagged" || !ok {
			return false, invalid(`extras: want {"untagged":true} or {"untagged":false}`)
		}
		untagged = b
	}
	return untagged, nil
}

func labelNames(pattern string) []string {
	var out []string
	for _, n := range strings.Split(pattern, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// intParam reads an integer parameter as JSON gives it: a number (a
// float64 once decoded, or an int once normalized) or a string of digits.
func intParam(v any) (int, error) {
	switch x := v.(type) {
	case nil:
		return 0, errors.New("missing: want an integer")
	case int:
		return x, nil
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1e9 {
			return 0, errors.New("want an integer")
		}
		return int(x), nil
	case json.Number:
		n, err := x.Int64()
		if err != nil || n > 1e9 || n < -1e9 {
			return 0, errors.New("want an integer")
		}
		return int(n), nil
	case string:
		var n int
		if _, err := fmt.Sscanf(x, "%d", &n); err != nil || fmt.Sprint(n) != x {
			return 0, errors.New("want an integer")
		}
		return n, nil
	}
	return 0, errors.New("want an integer")
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
