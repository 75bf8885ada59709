// Package pattern matches repository and tag names against the selector
// patterns of Harbor's tag immutability, tag retention and replication
// rules: doublestar globs ("**" crosses "/", "*" and "?" do not, "{a,b}"
// alternatives, "[...]" classes, "\" escapes), decorated with matches or
// excludes. It is pure: immutability, retention and replication share it.
//
// It imports only the standard library and doublestar.
package pattern

import (
	"errors"
	"fmt"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

// ErrInvalid is matched by every error about a malformed pattern or
// selector.
var ErrInvalid = errors.New("invalid pattern")

// MaxLen bounds a pattern's length.
const MaxLen = 256

// Decorations of a selector, as Harbor names them: tag selectors use
// matches/excludes, repository (scope) selectors repoMatches/repoExcludes.
const (
	Matches      = "matches"
	Excludes     = "excludes"
	RepoMatches  = "repoMatches"
	RepoExcludes = "repoExcludes"
)

// KindDoublestar is the one selector kind (Harbor's "doublestar").
const KindDoublestar = "doublestar"

// Validate reports whether p is a well-formed pattern: not empty, at
// most MaxLen bytes, balanced braces and brackets.
func Validate(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("%w: empty pattern", ErrInvalid)
	case len(p) > MaxLen:
		return fmt.Errorf("%w: pattern longer than %d bytes", ErrInvalid, MaxLen)
	case !doublestar.ValidatePattern(p):
		return fmt.Errorf("%w: %q is not a valid pattern", ErrInvalid, p)
	}
	return nil
}

// Match reports whether name matches pattern p as a whole. A malformed
// pattern matches nothing.
func Match(p, name string) bool {
	ok, err := doublestar.Match(p, name)
	return err == nil && ok
}

// Selector is one of Harbor's rule selectors: a pattern with a decoration
// saying whether matching names are selected or excluded. Pattern may
// list alternatives as "{a,b}".
type Selector struct {
	Kind       string `json:"kind"`
	Decoration string `json:"decoration"`
	Pattern    string `json:"pattern"`
	Extras     string `json:"extras,omitempty"`
}

// Validate checks s's kind (empty or doublestar), decoration and pattern.
func (s Selector) Validate() error {
	if s.Kind != "" && s.Kind != KindDoublestar {
		return fmt.Errorf("%w: selector kind %q: want %s", ErrInvalid, s.Kind, KindDoublestar)
	}
	switch s.Decoration {
	case Matches, Excludes, RepoMatches, RepoExcludes:
	default:
		return fmt.Errorf("%w: decoration %q: want matches, excludes, repoMatches or repoExcludes", ErrInvalid, s.Decoration)
	}
	return Validate(s.Pattern)
}

// excludes reports whether s's decoration inverts the match.
func (s Selector) excludes() bool {
	return strings.HasSuffix(strings.ToLower(s.Decoration), "excludes")
}

// Selects reports whether s selects name: a match under matches, a
// mismatch under excludes.
func (s Selector) Selects(name string) bool {
	return Match(s.Pattern, name) != s.excludes()
}

// SelectsAll reports whether every selector of sels selects name (each
// filters what the previous ones kept, as Harbor applies them). No
// selectors select nothing.
func SelectsAll(sels []Selector, name string) bool {
	if len(sels) == 0 {
		return false
	}
	for _, s := range sels {
		if !s.Selects(name) {
			return false
		}
	}
	return true
}
