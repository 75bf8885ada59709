package ldap

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
)

// Scope is how deep a search reaches below its base DN, numbered as Harbor's
// ldap_scope and ldap_group_search_scope settings are.
type Scope int

// The search scopes.
const (
	ScopeBase     Scope = 0 // the base entry only
	ScopeOneLevel Scope = 1 // the base's direct children
	ScopeSubtree  Scope = 2 // the base and everything below it
)

// Defaults applied where a Config field is empty or zero and the zero value
// has no meaning of its own.
const (
	DefaultTimeout                  = 5 * time.Second
	DefaultGroupMembershipAttribute = "memberof"
	DefaultUID                      = "uid"
	DefaultGroupNameAttribute       = "cn"
)

// Config holds the LDAP settings, named as Harbor names them in
// /api/v2.0/configurations and in its configuration file.
//
// Zero values: an empty Filter or GroupFilter matches every entry
// ((objectClass=*)); empty UID, GroupNameAttribute and
// GroupMembershipAttribute take the defaults above; Timeout 0 means
// DefaultTimeout. Scope 0 is Harbor's "base" scope and is honoured as such:
// start from DefaultConfig to get subtree searches. VerifyCert false skips
// certificate verification, so DefaultConfig sets it to true.
type Config struct {
	// URL of the server: ldap://host[:389] or ldaps://host[:636]. A URL
	// without a scheme is taken as ldap://, as Harbor does.
	URL string `yaml:"ldap_url" json:"ldap_url"`
	// SearchDN is the DN Berth binds as to search; empty searches
	// anonymously.
	SearchDN string `yaml:"ldap_search_dn" json:"ldap_search_dn"`
	// SearchPassword is SearchDN's password. Edges must never echo it.
	SearchPassword string `yaml:"ldap_search_password" json:"ldap_search_password,omitempty"`
	// BaseDN is where user searches start.
	BaseDN string `yaml:"ldap_base_dn" json:"ldap_base_dn"`
	// Filter narrows user searches, e.g. (objectClass=inetOrgPerson).
	// Outer parentheses are optional.
	Filter string `yaml:"ldap_filter" json:"ldap_filter"`
	// UID is the attribute that holds the login name, e.g. uid or
	// sAMAccountName.
	UID string `yaml:"ldap_uid" json:"ldap_uid"`
	// Scope of user searches: 0 base, 1 one level, 2 subtree.
	Scope Scope `yaml:"ldap_scope" json:"ldap_scope"`
	// Timeout bounds each call (connect, binds and searches together), in
	// seconds.
	Timeout int `yaml:"ldap_timeout" json:"ldap_timeout"`
	// VerifyCert makes ldaps:// and StartTLS verify the server's
	// certificate against the system roots.
	VerifyCert bool `yaml:"ldap_verify_cert" json:"ldap_verify_cert"`
	// StartTLS upgrades an ldap:// connection with the StartTLS operation
	// before any bind. Not a Harbor setting.
	StartTLS bool `yaml:"ldap_start_tls" json:"ldap_start_tls"`

	// GroupBaseDN is where group searches start. When empty, SearchGroups
	// and the member-based group lookup are unavailable.
	GroupBaseDN string `yaml:"ldap_group_base_dn" json:"ldap_group_base_dn"`
	// GroupFilter narrows group searches, e.g. (objectClass=groupOfNames).
	GroupFilter string `yaml:"ldap_group_search_filter" json:"ldap_group_search_filter"`
	// GroupNameAttribute holds a group's name, e.g. cn.
	GroupNameAttribute string `yaml:"ldap_group_attribute_name" json:"ldap_group_attribute_name"`
	// GroupAdminDN is the group whose members are Berth system admins.
	GroupAdminDN string `yaml:"ldap_group_admin_dn" json:"ldap_group_admin_dn"`
	// GroupMembershipAttribute is the user attribute listing the user's
	// group DNs, e.g. memberof (OpenLDAP's memberof overlay, Active
	// Directory) or ismemberof.
	GroupMembershipAttribute string `yaml:"ldap_group_membership_attribute" json:"ldap_group_membership_attribute"`
	// GroupScope of group searches: 0 base, 1 one level, 2 subtree.
	GroupScope Scope `yaml:"ldap_group_search_scope" json:"ldap_group_search_scope"`
}

// DefaultConfig returns Harbor's defaults: subtree scopes, uid as the login
// attribute, memberof for groups, a 5 s timeout and verified certificates.
func DefaultConfig() Config {
	return Config{
		UID:                      DefaultUID,
		Scope:                    ScopeSubtree,
		Timeout:                  int(DefaultTimeout / time.Second),
		VerifyCert:               true,
		GroupNameAttribute:       DefaultGroupNameAttribute,
		GroupMembershipAttribute: DefaultGroupMembershipAttribute,
		GroupScope:               ScopeSubtree,
	}
}

// LogValue keeps the search password out of logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("ldap_url", c.URL),
		slog.String("ldap_search_dn", c.SearchDN),
		slog.Bool("ldap_search_password_set", c.SearchPassword != ""),
		slog.String("ldap_base_dn", c.BaseDN),
		slog.String("ldap_filter", c.Filter),
		slog.String("ldap_uid", c.UID),
		slog.Int("ldap_scope", int(c.Scope)),
		slog.Int("ldap_timeout", c.Timeout),
		slog.Bool("ldap_verify_cert", c.VerifyCert),
		slog.Bool("ldap_start_tls", c.StartTLS),
		slog.String("ldap_group_base_dn", c.GroupBaseDN),
		slog.String("ldap_group_search_filter", c.GroupFilter),
		slog.String("ldap_group_attribute_name", c.GroupNameAttribute),
		slog.String("ldap_group_admin_dn", c.GroupAdminDN),
		slog.String("ldap_group_membership_attribute", c.GroupMembershipAttribute),
		slog.Int("ldap_group_search_scope", int(c.GroupScope)),
	)
}

// Validate reports every problem in c, joined, each matching
// ErrMisconfigured. It needs no server.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrMisconfigured}, args...)...))
	}
	if _, _, err := c.endpoint(); err != nil {
		errs = append(errs, err)
	}
	if c.BaseDN == "" {
		bad("ldap_base_dn is empty")
	} else if _, err := goldap.ParseDN(c.BaseDN); err != nil {
		bad("ldap_base_dn %q: %v", c.BaseDN, err)
	}
	for _, d := range []struct{ key, dn string }{
		{"ldap_search_dn", c.SearchDN},
		{"ldap_group_base_dn", c.GroupBaseDN},
		{"ldap_group_admin_dn", c.GroupAdminDN},
	} {
		if d.dn == "" {
			continue
		}
		if _, err := goldap.ParseDN(d.dn); err != nil {
			bad("%s %q: %v", d.key, d.dn, err)
		}
	}
	if c.SearchDN == "" && c.SearchPassword != "" {
		bad("ldap_search_password is set but ldap_search_dn is empty")
	}
	for _, a := range []struct{ key, name string }{
		{"ldap_uid", c.uid()},
		{"ldap_group_attribute_name", c.groupNameAttribute()},
		{"ldap_group_membership_attribute", c.groupMembershipAttribute()},
	} {
		if !validAttribute(a.name) {
			bad("%s %q is not an attribute name", a.key, a.name)
		}
	}
	for _, s := range []struct {
		key   string
		scope Scope
	}{{"ldap_scope", c.Scope}, {"ldap_group_search_scope", c.GroupScope}} {
		if s.scope < ScopeBase || s.scope > ScopeSubtree {
			bad("%s %d: want 0 (base), 1 (one level) or 2 (subtree)", s.key, s.scope)
		}
	}
	if c.Timeout < 0 {
		bad("ldap_timeout %d: want seconds >= 0", c.Timeout)
	}
	for _, f := range []struct{ key, filter string }{
		{"ldap_filter", c.Filter},
		{"ldap_group_search_filter", c.GroupFilter},
	} {
		if _, err := goldap.CompileFilter(normalizeFilter(f.filter)); err != nil {
			bad("%s %q: %v", f.key, f.filter, err)
		}
	}
	return errors.Join(errs...)
}

// endpoint returns the address to dial and whether the connection starts
// with TLS (ldaps://).
func (c Config) endpoint() (addr string, ldaps bool, err error) {
	raw := strings.TrimSpace(c.URL)
	if raw == "" {
		return "", false, fmt.Errorf("%w: ldap_url is empty", ErrMisconfigured)
	}
	if !strings.Contains(raw, "://") {
		raw = "ldap://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", false, fmt.Errorf("%w: ldap_url %q: %v", ErrMisconfigured, c.URL, err)
	}
	port := "389"
	switch strings.ToLower(u.Scheme) {
	case "ldap":
	case "ldaps":
		ldaps, port = true, "636"
		if c.StartTLS {
			return "", false, fmt.Errorf("%w: ldap_start_tls with an ldaps:// URL", ErrMisconfigured)
		}
	default:
		return "", false, fmt.Errorf("%w: ldap_url %q: scheme must be ldap or ldaps", ErrMisconfigured, c.URL)
	}
	if u.Hostname() == "" {
		return "", false, fmt.Errorf("%w: ldap_url %q has no host", ErrMisconfigured, c.URL)
	}
	if p := u.Port(); p != "" {
		port = p
	}
	return net.JoinHostPort(u.Hostname(), port), ldaps, nil
}

func (c Config) timeout() time.Duration {
	if c.Timeout <= 0 {
		return DefaultTimeout
	}
	return time.Duration(c.Timeout) * time.Second
}

func (c Config) uid() string {
	return orDefault(c.UID, DefaultUID)
}

func (c Config) groupNameAttribute() string {
	return orDefault(c.GroupNameAttribute, DefaultGroupNameAttribute)
}

func (c Config) groupMembershipAttribute() string {
	return orDefault(c.GroupMembershipAttribute, DefaultGroupMembershipAttribute)
}

func orDefault(v, def string) string {
	if v = strings.TrimSpace(v); v == "" {
		return def
	}
	return v
}

// validAttribute reports whether name is an attribute description a filter
// may hold: a descriptor (letter, then letters, digits and hyphens) or a
// numeric OID. Options (;lang-en) are not accepted.
func validAttribute(name string) bool {
	if name == "" {
		return false
	}
	if name[0] >= '0' && name[0] <= '9' {
		prevDot := true
		for i := 0; i < len(name); i++ {
			switch ch := name[i]; {
			case ch == '.' && !prevDot:
				prevDot = true
			case ch >= '0' && ch <= '9':
				prevDot = false
			default:
				return false
			}
		}
		return !prevDot
	}
	for i := 0; i < len(name); i++ {
		ch := name[i]
		letter := ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z'
		if !letter && (i == 0 || !(ch >= '0' && ch <= '9' || ch == '-')) {
			return false
		}
	}
	return true
}
