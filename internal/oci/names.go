package oci

import (
	"errors"
	"fmt"
	"regexp"
)

// Errors for invalid identifiers. Callers compare with errors.Is.
var (
	ErrNameInvalid   = errors.New("invalid repository name")
	ErrTagInvalid    = errors.New("invalid tag")
	ErrDigestInvalid = errors.New("invalid digest")
)

// MaxNameLength bounds a repository name; Distribution uses the same limit.
const MaxNameLength = 255

var (
	// nameRE is the distribution-spec repository name grammar:
	// path components separated by "/", each
	// [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*.
	nameRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagRE  = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
)

// ValidateName checks a repository name against the spec's grammar.
func ValidateName(name string) error {
	if len(name) > MaxNameLength {
		return fmt.Errorf("%w: longer than %d characters", ErrNameInvalid, MaxNameLength)
	}
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%w: %q must be lower-case path components of [a-z0-9] separated by '.', '_', '__' or '-'", ErrNameInvalid, truncate(name, 150))
	}
	return nil
}

// ValidateTag checks a tag against the spec's grammar.
func ValidateTag(tag string) error {
	if !tagRE.MatchString(tag) {
		return fmt.Errorf("%w: %q must match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}", ErrTagInvalid, truncate(tag, 140))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
