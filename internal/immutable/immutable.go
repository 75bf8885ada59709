// Package immutable is tag immutability: Harbor's immutable tag rules of a
// project (repository and tag selectors, internal/pattern), and the check
// the registry and repository services make before any change that would
// move or remove a tag: pushing another manifest under it, deleting it or
// the manifest it names, retagging or copying onto it, retention. The
// check holds for everyone, system administrators included.
//
// It must not import net/http.
package immutable

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/pattern"
)

// ErrImmutable is matched by *Error.
var ErrImmutable = errors.New("tag is immutable")

// ErrInvalid: a rule is malformed.
var ErrInvalid = errors.New("invalid immutable tag rule")

// Error says which rule protects which tag.
type Error struct {
	Repository string
	Tag        string
	Rule       Rule
}

func (e *Error) Error() string {
	return fmt.Sprintf("tag %s:%s is immutable: it matches immutable tag rule %d (%s); it cannot be overwritten, retagged or deleted",
		e.Repository, e.Tag, e.Rule.ID, e.Rule.describe())
}

func (e *Error) Unwrap() error { return ErrImmutable }

// Harbor's fixed values of an immutable rule.
const (
	ActionImmutable   = "immutable"
	TemplateImmutable = "immutable_template"
	scopeRepository   = "repository"
)

// Rule is Harbor's ImmutableRule.
type Rule struct {
	ID             int64                         `json:"id"`
	Priority       int                           `json:"priority"`
	Disabled       bool                          `json:"disabled"`
	Action         string                        `json:"action"`
	Template       string                        `json:"template"`
	Params         map[string]any                `json:"params"`
	TagSelectors   []pattern.Selector            `json:"tag_selectors"`
	ScopeSelectors map[string][]pattern.Selector `json:"scope_selectors"`
}

// Normalize fills Harbor's defaults (action, template, kinds) and
// validates r: one to a few tag selectors with matches/excludes, the
// repository scope selectors with repoMatches/repoExcludes (none: every
// repository), well-formed patterns.
func (r *Rule) Normalize() error {
	if r.Action == "" {
		r.Action = ActionImmutable
	}
	if r.Template == "" {
		r.Template = TemplateImmutable
	}
	if r.Action != ActionImmutable {
		return fmt.Errorf("%w: action %q: want %s", ErrInvalid, r.Action, ActionImmutable)
	}
	if len(r.TagSelectors) == 0 || len(r.TagSelectors) > 8 {
		return fmt.Errorf("%w: want 1 to 8 tag_selectors", ErrInvalid)
	}
	for i := range r.TagSelectors {
		s := &r.TagSelectors[i]
		if s.Kind == "" {
			s.Kind = pattern.KindDoublestar
		}
		if s.Decoration != pattern.Matches && s.Decoration != pattern.Excludes {
			return fmt.Errorf("%w: tag selector decoration %q: want matches or excludes", ErrInvalid, s.Decoration)
		}
		if err := s.Validate(); err != nil {
			return fmt.Errorf("%w: tag selector: %w", ErrInvalid, err)
		}
	}
	for scope, sels := range r.ScopeSelectors {
		if scope != scopeRepository {
			return fmt.Errorf("%w: scope selector %q: want repository", ErrInvalid, truncate(scope, 40))
		}
		if len(sels) > 8 {
			return fmt.Errorf("%w: at most 8 repository selectors", ErrInvalid)
		}
		for i := range sels {
			s := &sels[i]
			if s.Kind == "" {
				s.Kind = pattern.KindDoublestar
			}
			if s.Decoration != pattern.RepoMatches && s.Decoration != pattern.RepoExcludes {
				return fmt.Errorf("%w: repository selector decoration %q: want repoMatches or repoExcludes", ErrInvalid, s.Decoration)
			}
			if err := s.Validate(); err != nil {
				return fmt.Errorf("%w: repository selector: %w", ErrInvalid, err)
			}
		}
	}
	if len(r.Params) > 16 {
		return fmt.Errorf("%w: too many params", ErrInvalid)
	}
	return nil
}

// Matches reports whether r protects tag in repository repo (the full
// name, project included). Repository selectors see the name inside the
// project ("app" of "library/app"), as Harbor's do.
func (r Rule) Matches(repo, tag string) bool {
	if r.Disabled {
		return false
	}
	if sels := r.ScopeSelectors[scopeRepository]; len(sels) > 0 {
		_, inProject, _ := strings.Cut(repo, "/")
		if !pattern.SelectsAll(sels, inProject) {
			return false
		}
	}
	return pattern.SelectsAll(r.TagSelectors, tag)
}

func (r Rule) describe() string {
	var parts []string
	for _, s := range r.ScopeSelectors[scopeRepository] {
		parts = append(parts, "repository "+s.Decoration+" "+s.Pattern)
	}
	for _, s := range r.TagSelectors {
		parts = append(parts, "tag "+s.Decoration+" "+s.Pattern)
	}
	return strings.Join(parts, ", ")
}

// FromStored decodes a stored rule.
func FromStored(m meta.ImmutableRule) (Rule, error) {
	var r Rule
	if err := json.Unmarshal(m.Rule, &r); err != nil {
		return Rule{}, fmt.Errorf("immutable rule %d: %w", m.ID, err)
	}
	r.ID, r.Disabled, r.Priority = m.ID, m.Disabled, m.Priority
	return r, nil
}

// ToStored encodes r for project pid.
func ToStored(pid int64, r Rule) (meta.ImmutableRule, error) {
	sel := r
	sel.ID, sel.Disabled, sel.Priority = 0, false, 0
	b, err := json.Marshal(sel)
	if err != nil {
		return meta.ImmutableRule{}, err
	}
	return meta.ImmutableRule{ID: r.ID, ProjectID: pid, Disabled: r.Disabled, Priority: r.Priority, Rule: b}, nil
}

// Store is meta.Immutable as the checker reads it.
type Store interface {
	EnabledImmutableRules(ctx context.Context, project string) ([]meta.ImmutableRule, error)
}

// Checker loads a project's enabled rules. A nil *Checker protects
// nothing.
type Checker struct{ store Store }

// NewChecker returns a Checker over store.
func NewChecker(store Store) *Checker { return &Checker{store: store} }

// Matcher is the enabled rules of one repository's project.
type Matcher struct {
	repo  string
	rules []Rule
}

// For returns the matcher of repository repo's project.
func (c *Checker) For(ctx context.Context, repo string) (Matcher, error) {
	m := Matcher{repo: repo}
	if c == nil || c.store == nil {
		return m, nil
	}
	stored, err := c.store.EnabledImmutableRules(ctx, access.ProjectName(repo))
	if err != nil {
		return Matcher{}, err
	}
	for _, s := range stored {
		r, err := FromStored(s)
		if err != nil {
			return Matcher{}, err
		}
		m.rules = append(m.rules, r)
	}
	return m, nil
}

// Empty reports whether no rule applies (the project has none enabled).
func (m Matcher) Empty() bool { return len(m.rules) == 0 }

// Immutable reports whether tag is protected and by which rule.
func (m Matcher) Immutable(tag string) (Rule, bool) {
	for _, r := range m.rules {
		if r.Matches(m.repo, tag) {
			return r, true
		}
	}
	return Rule{}, false
}

// Check returns *Error when tag is protected.
func (m Matcher) Check(tag string) error {
	if r, ok := m.Immutable(tag); ok {
		return &Error{Repository: m.repo, Tag: tag, Rule: r}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
