package ldap

import (
	"strings"

	goldap "github.com/go-ldap/ldap/v3"
)

// Filters are built here, and only here, from configured filters (trusted,
// written by an admin) and user input (escaped with goldap.EscapeFilter, so
// that `*`, `(`, `)`, `\` and NUL are matched literally).

// matchAll is the filter used where a configured filter is empty.
const matchAll = "(objectClass=*)"

// normalizeFilter returns a configured filter with its outer parentheses,
// as Harbor accepts "objectClass=person" for "(objectClass=person)".
func normalizeFilter(f string) string {
	f = strings.TrimSpace(f)
	switch {
	case f == "":
		return matchAll
	case strings.HasPrefix(f, "("):
		return f
	default:
		return "(" + f + ")"
	}
}

// userFilter matches the user whose login attribute equals username.
func userFilter(c Config, username string) string {
	return "(&" + normalizeFilter(c.Filter) + "(" + c.uid() + "=" + goldap.EscapeFilter(username) + "))"
}

// userSearchFilter matches users whose login attribute contains substr, or
// every user when substr is empty.
func userSearchFilter(c Config, substr string) string {
	return "(&" + normalizeFilter(c.Filter) + substringFilter(c.uid(), substr) + ")"
}

// groupSearchFilter matches groups whose name attribute contains substr, or
// every group when substr is empty.
func groupSearchFilter(c Config, substr string) string {
	return "(&" + normalizeFilter(c.GroupFilter) + substringFilter(c.groupNameAttribute(), substr) + ")"
}

// memberFilter matches the groups that list userDN as a member, in the
// attributes of groupOfNames (member) and groupOfUniqueNames
// (uniqueMember).
func memberFilter(c Config, userDN string) string {
	dn := goldap.EscapeFilter(userDN)
	return "(&" + normalizeFilter(c.GroupFilter) + "(|(member=" + dn + ")(uniqueMember=" + dn + ")))"
}

func substringFilter(attr, substr string) string {
	if substr == "" {
		return "(" + attr + "=*)"
	}
	return "(" + attr + "=*" + goldap.EscapeFilter(substr) + "*)"
}
