package ldap

import (
	"context"
	"fmt"
	"slices"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"
)

// DefaultSearchLimit is the number of entries SearchUsers and SearchGroups
// return when called with a limit of 0 or less. Larger limits are capped
// at 1000.
const DefaultSearchLimit = 100

// User is a directory entry that Berth can log in as.
type User struct {
	DN          string
	Username    string   // the entry's login attribute (Config.UID), as stored
	Email       string   // mail
	DisplayName string   // displayName, else cn
	GroupDNs    []string // the groups the entry belongs to, sorted
	Admin       bool     // GroupAdminDN is among GroupDNs
}

// Group is a directory group, as a project member can name it.
type Group struct {
	DN   string
	Name string // the group's Config.GroupNameAttribute
}

// Authenticate checks username and password by search-bind-search: bind as
// the search account, find the one entry under BaseDN (with Scope) that
// matches Filter and has username as its UID attribute, read its mail,
// name and groups, then bind as that entry with password.
//
// Groups come from the entry's GroupMembershipAttribute (memberof); when
// the entry has none and GroupBaseDN is set, from the groups under
// GroupBaseDN whose member or uniqueMember is the entry.
//
// Errors: ErrInvalidCredentials for an empty username or password, no
// matching entry, or a password the server rejects (the same error for
// each); ErrUnavailable; ErrMisconfigured, also when the login name matches
// more than one entry.
func Authenticate(ctx context.Context, cfg Config, username, password string) (User, error) {
	if username == "" || password == "" {
		// An empty password makes a simple bind unauthenticated, which
		// servers accept as anonymous: it must never count as a login.
		return User{}, ErrInvalidCredentials
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout())
	defer cancel()
	s, err := open(ctx, cfg)
	if err != nil {
		return User{}, err
	}
	defer s.close()

	entries, err := s.search(ctx, "user search", &goldap.SearchRequest{
		BaseDN:     cfg.BaseDN,
		Scope:      int(cfg.Scope),
		Filter:     userFilter(cfg, username),
		Attributes: userAttributes(cfg),
		SizeLimit:  2, // one is the answer, two is ambiguous
	})
	if err != nil {
		return User{}, err
	}
	switch len(entries) {
	case 0:
		return User{}, ErrInvalidCredentials
	case 1:
	default:
		return User{}, fmt.Errorf("%w: login name matches more than one entry under %q; check ldap_uid and ldap_filter",
			ErrMisconfigured, cfg.BaseDN)
	}
	u := s.toUser(entries[0])
	if len(u.GroupDNs) == 0 && cfg.GroupBaseDN != "" {
		if u.GroupDNs, err = s.groupsWithMember(ctx, u.DN); err != nil {
			return User{}, err
		}
		u.Admin = isAdmin(cfg, u.GroupDNs)
	}
	if err := s.userBind(ctx, u.DN, password); err != nil {
		return User{}, err
	}
	return u, nil
}

// Ping connects, binds with the search DN and checks that BaseDN (and
// GroupBaseDN, when set) exist: what POST /api/v2.0/ldap/ping reports.
//
// Errors: ErrMisconfigured, also when the search DN's bind is rejected
// (a wrong ldap_search_password is a settings problem, never
// ErrInvalidCredentials); ErrUnavailable.
func Ping(ctx context.Context, cfg Config) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout())
	defer cancel()
	s, err := open(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.close()
	for _, base := range []struct{ key, dn string }{
		{"ldap_base_dn", cfg.BaseDN},
		{"ldap_group_base_dn", cfg.GroupBaseDN},
	} {
		if base.dn == "" {
			continue
		}
		entries, err := s.search(ctx, "read "+base.key, &goldap.SearchRequest{
			BaseDN:     base.dn,
			Scope:      goldap.ScopeBaseObject,
			Filter:     matchAll,
			Attributes: []string{"1.1"}, // no attributes
			SizeLimit:  1,
		})
		if err != nil {
			return err
		}
		if len(entries) == 0 {
			// Present but hidden from the search account.
			return fmt.Errorf("%w: %s %q is not readable by the search DN", ErrMisconfigured, base.key, base.dn)
		}
	}
	return nil
}

// SearchUsers returns up to limit users (DefaultSearchLimit when limit <= 0)
// under BaseDN that match Filter and whose UID attribute contains username,
// or all of them when username is empty, sorted by Username. Their GroupDNs
// come from the membership attribute only.
//
// Errors: ErrUnavailable, ErrMisconfigured.
func SearchUsers(ctx context.Context, cfg Config, username string, limit int) ([]User, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout())
	defer cancel()
	s, err := open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer s.close()
	entries, err := s.search(ctx, "user search", &goldap.SearchRequest{
		BaseDN:     cfg.BaseDN,
		Scope:      int(cfg.Scope),
		Filter:     userSearchFilter(cfg, username),
		Attributes: userAttributes(cfg),
		SizeLimit:  searchLimit(limit),
	})
	if err != nil {
		return nil, err
	}
	users := make([]User, 0, len(entries))
	for _, e := range entries {
		users = append(users, s.toUser(e))
	}
	slices.SortFunc(users, func(a, b User) int { return strings.Compare(a.Username, b.Username) })
	return users, nil
}

// SearchGroups returns up to limit groups (DefaultSearchLimit when
// limit <= 0) under GroupBaseDN that match GroupFilter and whose name
// attribute contains name, or all of them when name is empty, sorted by
// Name.
//
// Errors: ErrMisconfigured, also when GroupBaseDN is empty; ErrUnavailable.
func SearchGroups(ctx context.Context, cfg Config, name string, limit int) ([]Group, error) {
	if cfg.GroupBaseDN == "" {
		return nil, fmt.Errorf("%w: ldap_group_base_dn is empty", ErrMisconfigured)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout())
	defer cancel()
	s, err := open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer s.close()
	entries, err := s.search(ctx, "group search", &goldap.SearchRequest{
		BaseDN:     cfg.GroupBaseDN,
		Scope:      int(cfg.GroupScope),
		Filter:     groupSearchFilter(cfg, name),
		Attributes: []string{cfg.groupNameAttribute()},
		SizeLimit:  searchLimit(limit),
	})
	if err != nil {
		return nil, err
	}
	groups := make([]Group, 0, len(entries))
	for _, e := range entries {
		groups = append(groups, Group{DN: e.DN, Name: e.GetEqualFoldAttributeValue(cfg.groupNameAttribute())})
	}
	slices.SortFunc(groups, func(a, b Group) int { return strings.Compare(a.Name, b.Name) })
	return groups, nil
}

// GroupByDN returns the group at dn if it matches GroupFilter: how a
// project member given as an LDAP group DN is checked before it is added.
//
// Errors: ErrGroupNotFound, also for a dn that is not a DN;
// ErrUnavailable; ErrMisconfigured.
func GroupByDN(ctx context.Context, cfg Config, dn string) (Group, error) {
	if _, err := goldap.ParseDN(dn); err != nil || dn == "" {
		return Group{}, fmt.Errorf("group %q: %w", dn, ErrGroupNotFound)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout())
	defer cancel()
	s, err := open(ctx, cfg)
	if err != nil {
		return Group{}, err
	}
	defer s.close()
	entries, err := s.search(ctx, "group lookup", &goldap.SearchRequest{
		BaseDN:     dn,
		Scope:      goldap.ScopeBaseObject,
		Filter:     normalizeFilter(cfg.GroupFilter),
		Attributes: []string{cfg.groupNameAttribute()},
		SizeLimit:  1,
	})
	if goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject) {
		return Group{}, fmt.Errorf("group %q: %w", dn, ErrGroupNotFound)
	}
	if err != nil {
		return Group{}, err
	}
	if len(entries) == 0 {
		return Group{}, fmt.Errorf("group %q: %w", dn, ErrGroupNotFound)
	}
	return Group{DN: entries[0].DN, Name: entries[0].GetEqualFoldAttributeValue(cfg.groupNameAttribute())}, nil
}

// groupsWithMember returns the DNs of the groups under GroupBaseDN that list
// userDN as a member, sorted.
func (s *session) groupsWithMember(ctx context.Context, userDN string) ([]string, error) {
	entries, err := s.search(ctx, "group membership search", &goldap.SearchRequest{
		BaseDN:     s.cfg.GroupBaseDN,
		Scope:      int(s.cfg.GroupScope),
		Filter:     memberFilter(s.cfg, userDN),
		Attributes: []string{"1.1"},
		SizeLimit:  maxResults,
	})
	if err != nil {
		return nil, err
	}
	dns := make([]string, 0, len(entries))
	for _, e := range entries {
		dns = append(dns, e.DN)
	}
	slices.Sort(dns)
	return dns, nil
}

func userAttributes(cfg Config) []string {
	return []string{cfg.uid(), "mail", "email", "displayName", "cn", cfg.groupMembershipAttribute()}
}

func (s *session) toUser(e *goldap.Entry) User {
	u := User{
		DN:          e.DN,
		Username:    e.GetEqualFoldAttributeValue(s.cfg.uid()),
		Email:       firstOf(e, "mail", "email"),
		DisplayName: firstOf(e, "displayName", "cn"),
		GroupDNs:    slices.Sorted(slices.Values(e.GetEqualFoldAttributeValues(s.cfg.groupMembershipAttribute()))),
	}
	u.Admin = isAdmin(s.cfg, u.GroupDNs)
	return u
}

func firstOf(e *goldap.Entry, attrs ...string) string {
	for _, a := range attrs {
		if v := e.GetEqualFoldAttributeValue(a); v != "" {
			return v
		}
	}
	return ""
}

// isAdmin reports whether GroupAdminDN is among groupDNs, comparing DNs as
// the directory does (case and spacing do not matter).
func isAdmin(cfg Config, groupDNs []string) bool {
	if cfg.GroupAdminDN == "" {
		return false
	}
	admin, err := goldap.ParseDN(cfg.GroupAdminDN)
	if err != nil {
		return false
	}
	for _, g := range groupDNs {
		if dn, err := goldap.ParseDN(g); err == nil && dn.EqualFold(admin) {
			return true
		}
	}
	return false
}

func searchLimit(limit int) int {
	if limit <= 0 {
		return DefaultSearchLimit
	}
	return min(limit, maxResults)
}
