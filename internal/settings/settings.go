// Package settings owns Berth's run-time system settings: the
// authentication mode, the LDAP settings, who may create projects,
// read-only mode and the token and robot lifetimes, under Harbor's
// configuration key names (auth_mode, ldap_url, ...,
// project_creation_restriction, read_only, token_expiration,
// robot_token_duration). They live in the metadata store's
// configurations rows, so every replica sees a change; each replica reads
// them through a short cache (Options.TTL, 5 s by default), so a change
// made on one replica is seen by all within that time.
//
// Initial values come from the configuration file at the first start
// (Seed writes each key the database does not hold yet); afterwards the
// database wins. The edges (GET/PUT /api/v2.0/configurations) read and
// change them through Get and Update.
//
// It imports the metadata store's types only through a small interface
// and must not import the edge packages (restapi, distapi, tokenauth,
// webui).
package settings

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/identity/ldap"
)

// Authentication modes (auth_mode).
const (
	AuthModeDB   = "db_auth"
	AuthModeLDAP = "ldap_auth"
)

// Who may create projects (project_creation_restriction).
const (
	ProjectCreationEveryone  = "everyone"
	ProjectCreationAdminOnly = "adminonly"
)

// ReadOnlyMessage is what the edges answer (403 DENIED) to a change
// refused because read_only is on: Harbor's words.
const ReadOnlyMessage = "The system is in read only mode. Any modification is prohibited."

// DefaultTTL is how long a replica trusts the settings it read.
const DefaultTTL = 5 * time.Second

// ErrInvalid: a change names an unknown or read-only key, gives a value of
// the wrong type, or leaves the settings unusable. See InvalidError.
var ErrInvalid = errors.New("invalid configuration")

// InvalidError names the key of a change that is wrong. It matches
// ErrInvalid.
type InvalidError struct {
	Key, Reason string
}

func (e *InvalidError) Error() string { return e.Key + ": " + e.Reason }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

// Settings are the system settings in force.
type Settings struct {
	// AuthMode is AuthModeDB or AuthModeLDAP.
	AuthMode string
	// LDAP holds the ldap_* settings.
	LDAP ldap.Config
	// ProjectCreationRestriction is ProjectCreationEveryone or
	// ProjectCreationAdminOnly.
	ProjectCreationRestriction string
	// ReadOnly (read_only) refuses every change on every replica: pushes,
	// deletes and uploads on /v2/, and REST writes other than the one that
	// changes the settings. Pulls and reads go on.
	ReadOnly bool
	// TokenExpiration (token_expiration) is the lifetime of registry
	// tokens, in minutes (1 to MaxTokenExpiration).
	TokenExpiration int
	// RobotTokenDuration (robot_token_duration) is the lifetime, in days,
	// of robot accounts created without a duration (1 to
	// MaxRobotTokenDuration).
	RobotTokenDuration int
}

// Bounds of the lifetimes.
const (
	// MaxTokenExpiration is the longest registry token lifetime, in
	// minutes (24 hours, as for auth.token_expiration).
	MaxTokenExpiration = 24 * 60
	// MaxRobotTokenDuration is the longest default robot lifetime, in days
	// (the longest duration a robot may be given).
	MaxRobotTokenDuration = 365 * 100
)

// Defaults are the settings of a database that holds none: local
// accounts, Harbor's LDAP defaults, everyone may create projects, not
// read-only, 5-minute registry tokens (auth.token_expiration's default)
// and robots that expire after 30 days (Harbor's default).
func Defaults() Settings {
	return Settings{AuthMode: AuthModeDB, LDAP: ldap.DefaultConfig(), ProjectCreationRestriction: ProjectCreationEveryone,
		TokenExpiration: 5, RobotTokenDuration: 30}
}

// Kind is the JSON type of a setting's value.
type Kind int

// Value kinds.
const (
	KindString Kind = iota
	KindInt
	KindBool
)

// Key describes one setting.
type Key struct {
	// Name is Harbor's key name.
	Name string
	Kind Kind
	// Secret keys are never shown (ldap_search_password).
	Secret bool
	// ReadOnly keys are shown but cannot be changed (self_registration:
	// Berth has no self-registration).
	ReadOnly bool

	get func(Settings) string
	set func(*Settings, string) error
}

func stringKey(name string, f func(*Settings) *string) Key {
	return Key{Name: name, Kind: KindString,
		get: func(s Settings) string { return *f(&s) },
		set: func(s *Settings, v string) error { *f(s) = v; return nil }}
}

func intKey(name string, f func(*Settings) *int) Key {
	return Key{Name: name, Kind: KindInt,
		get: func(s Settings) string { return strconv.Itoa(*f(&s)) },
		set: func(s *Settings, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return errors.New("want an integer")
			}
			*f(s) = n
			return nil
		}}
}

func scopeKey(name string, f func(*Settings) *ldap.Scope) Key {
	return intKey(name, func(s *Settings) *int { return (*int)(f(s)) })
}

func boolKey(name string, f func(*Settings) *bool) Key {
	return Key{Name: name, Kind: KindBool,
		get: func(s Settings) string { return strconv.FormatBool(*f(&s)) },
		set: func(s *Settings, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return errors.New("want true or false")
			}
			*f(s) = b
			return nil
		}}
}

// keys is every setting, in the order GET /configurations shows them.
var keys = []Key{
	stringKey("auth_mode", func(s *Settings) *string { return &s.AuthMode }),
	stringKey("ldap_url", func(s *Settings) *string { return &s.LDAP.URL }),
	stringKey("ldap_search_dn", func(s *Settings) *string { return &s.LDAP.SearchDN }),
	func() Key {
		k := stringKey("ldap_search_password", func(s *Settings) *string { return &s.LDAP.SearchPassword })
		k.Secret = true
		return k
	}(),
	stringKey("ldap_base_dn", func(s *Settings) *string { return &s.LDAP.BaseDN }),
	stringKey("ldap_filter", func(s *Settings) *string { return &s.LDAP.Filter }),
	stringKey("ldap_uid", func(s *Settings) *string { return &s.LDAP.UID }),
	scopeKey("ldap_scope", func(s *Settings) *ldap.Scope { return &s.LDAP.Scope }),
	intKey("ldap_timeout", func(s *Settings) *int { return &s.LDAP.Timeout }),
	boolKey("ldap_verify_cert", func(s *Settings) *bool { return &s.LDAP.VerifyCert }),
	boolKey("ldap_start_tls", func(s *Settings) *bool { return &s.LDAP.StartTLS }),
	stringKey("ldap_group_base_dn", func(s *Settings) *string { return &s.LDAP.GroupBaseDN }),
	stringKey("ldap_group_search_filter", func(s *Settings) *string { return &s.LDAP.GroupFilter }),
	stringKey("ldap_group_attribute_name", func(s *Settings) *string { return &s.LDAP.GroupNameAttribute }),
	stringKey("ldap_group_admin_dn", func(s *Settings) *string { return &s.LDAP.GroupAdminDN }),
	stringKey("ldap_group_membership_attribute", func(s *Settings) *string { return &s.LDAP.GroupMembershipAttribute }),
	scopeKey("ldap_group_search_scope", func(s *Settings) *ldap.Scope { return &s.LDAP.GroupScope }),
	stringKey("project_creation_restriction", func(s *Settings) *string { return &s.ProjectCreationRestriction }),
	boolKey("read_only", func(s *Settings) *bool { return &s.ReadOnly }),
	intKey("token_expiration", func(s *Settings) *int { return &s.TokenExpiration }),
	intKey("robot_token_duration", func(s *Settings) *int { return &s.RobotTokenDuration }),
	{Name: "self_registration", Kind: KindBool, ReadOnly: true,
		get: func(Settings) string { return "false" },
		set: func(_ *Settings, v string) error {
			if b, err := strconv.ParseBool(v); err != nil || b {
				return errors.New("only false is accepted: Berth has no self-registration")
			}
			return nil
		}},
}

// Keys returns every setting's description, in a fixed order.
func Keys() []Key { return append([]Key(nil), keys...) }

// LookupKey returns the key named name.
func LookupKey(name string) (Key, bool) {
	for _, k := range keys {
		if k.Name == name {
			return k, true
		}
	}
	return Key{}, false
}

// Value returns the setting k of s in its stored form: a string, a
// decimal integer, or true/false.
func (s Settings) Value(k Key) string { return k.get(s) }

// Encode returns every stored key of s (read-only ones are not stored).
func (s Settings) Encode() map[string]string {
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		if !k.ReadOnly {
			out[k.Name] = k.get(s)
		}
	}
	return out
}

// apply sets the keys of kv on s. Unknown keys and values of the wrong
// type: an *InvalidError.
func (s *Settings) apply(kv map[string]string) error {
	var errs []error
	for _, k := range keys {
		v, ok := kv[k.Name]
		if !ok {
			continue
		}
		if err := k.set(s, v); err != nil {
			errs = append(errs, &InvalidError{k.Name, err.Error()})
		}
	}
	for name := range kv {
		if _, ok := LookupKey(name); !ok {
			errs = append(errs, &InvalidError{name, "unknown configuration key"})
		}
	}
	return errors.Join(errs...)
}

// Validate reports every problem of s, each an *InvalidError. The LDAP
// settings are checked in full when they are the login path.
func (s Settings) Validate() error {
	var errs []error
	switch s.AuthMode {
	case AuthModeDB, AuthModeLDAP:
	default:
		errs = append(errs, &InvalidError{"auth_mode", fmt.Sprintf("%q: want db_auth or ldap_auth", s.AuthMode)})
	}
	switch s.ProjectCreationRestriction {
	case ProjectCreationEveryone, ProjectCreationAdminOnly:
	default:
		errs = append(errs, &InvalidError{"project_creation_restriction",
			fmt.Sprintf("%q: want everyone or adminonly", s.ProjectCreationRestriction)})
	}
	for _, sc := range []struct {
		key   string
		scope ldap.Scope
	}{{"ldap_scope", s.LDAP.Scope}, {"ldap_group_search_scope", s.LDAP.GroupScope}} {
		if sc.scope < ldap.ScopeBase || sc.scope > ldap.ScopeSubtree {
			errs = append(errs, &InvalidError{sc.key, fmt.Sprintf("%d: want 0 (base), 1 (one level) or 2 (subtree)", sc.scope)})
		}
	}
	if s.LDAP.Timeout < 0 {
		errs = append(errs, &InvalidError{"ldap_timeout", "want seconds >= 0"})
	}
	if s.TokenExpiration < 1 || s.TokenExpiration > MaxTokenExpiration {
		errs = append(errs, &InvalidError{"token_expiration", fmt.Sprintf("%d: want minutes from 1 to %d", s.TokenExpiration, MaxTokenExpiration)})
	}
	if s.RobotTokenDuration < 1 || s.RobotTokenDuration > MaxRobotTokenDuration {
		errs = append(errs, &InvalidError{"robot_token_duration", fmt.Sprintf("%d: want days from 1 to %d", s.RobotTokenDuration, MaxRobotTokenDuration)})
	}
	if s.AuthMode == AuthModeLDAP {
		if err := s.LDAP.Validate(); err != nil {
			errs = append(errs, &InvalidError{"ldap", err.Error()})
		}
	}
	return errors.Join(errs...)
}

// store is meta.Settings as the settings service uses it.
type store interface {
	// GetConfigurations returns every stored key.
	GetConfigurations(ctx context.Context) (map[string]string, error)
	// SetConfigurations stores every key of kv in one transaction.
	SetConfigurations(ctx context.Context, kv map[string]string) error
}

// Options configure the Service. Zero values take the defaults.
type Options struct {
	// TTL is how long settings read from the store are used before they
	// are read again (default DefaultTTL).
	TTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Service reads and changes the settings.
type Service struct {
	store store
	log   *slog.Logger
	ttl   time.Duration
	now   func() time.Time

	mu       sync.Mutex
	cached   Settings
	loadedAt time.Time
	loaded   bool
}

// New returns a Service over store.
func New(store store, log *slog.Logger, opts Options) *Service {
	s := &Service{store: store, log: log, ttl: opts.TTL, now: opts.Now}
	if s.ttl <= 0 {
		s.ttl = DefaultTTL
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Seed writes each key of initial that the store does not hold yet and
// returns the names written, sorted as Keys. It is meant for the first
// start: initial comes from the configuration file, which does not
// override settings changed at run time. Replicas starting together may
// both write a missing key; they write the same file's values.
func (s *Service) Seed(ctx context.Context, initial Settings) ([]string, error) {
	if err := initial.Validate(); err != nil {
		return nil, fmt.Errorf("settings: initial values: %w", err)
	}
	stored, err := s.store.GetConfigurations(ctx)
	if err != nil {
		return nil, fmt.Errorf("settings: %w", err)
	}
	missing := map[string]string{}
	var names []string
	for name, v := range initial.Encode() {
		if _, ok := stored[name]; !ok {
			missing[name] = v
		}
	}
	for _, k := range keys {
		if _, ok := missing[k.Name]; ok {
			names = append(names, k.Name)
		}
	}
	if len(missing) == 0 {
		return nil, nil
	}
	if err := s.store.SetConfigurations(ctx, missing); err != nil {
		return nil, fmt.Errorf("settings: %w", err)
	}
	s.invalidate()
	return names, nil
}

// Get returns the settings in force: the cached ones when younger than
// the TTL, else the store's (keys it does not hold take Defaults). When
// the store cannot be read, the last settings read are returned (and the
// failure logged): logins should not stop because the database hiccups.
// Without any, the error is returned.
func (s *Service) Get(ctx context.Context) (Settings, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.loaded && now.Sub(s.loadedAt) < s.ttl {
		return s.cached, nil
	}
	got, err := s.load(ctx)
	if err != nil {
		if s.loaded {
			s.log.WarnContext(ctx, "settings: cannot refresh, using the last ones read", "err", err)
			return s.cached, nil
		}
		return Settings{}, err
	}
	s.cached, s.loadedAt, s.loaded = got, now, true
	return got, nil
}

func (s *Service) load(ctx context.Context) (Settings, error) {
	kv, err := s.store.GetConfigurations(ctx)
	if err != nil {
		return Settings{}, fmt.Errorf("settings: %w", err)
	}
	out := Defaults()
	known := map[string]string{}
	for _, k := range keys {
		if v, ok := kv[k.Name]; ok && !k.ReadOnly {
			known[k.Name] = v
		}
	}
	if err := out.apply(known); err != nil {
		return Settings{}, fmt.Errorf("settings: stored value: %w", err)
	}
	return out, nil
}

// LDAP returns the LDAP settings in force and whether auth_mode is
// ldap_auth (the identity service's directory asks this on every login).
func (s *Service) LDAP(ctx context.Context) (ldap.Config, bool, error) {
	cur, err := s.Get(ctx)
	if err != nil {
		return ldap.Config{}, false, err
	}
	return cur.LDAP, cur.AuthMode == AuthModeLDAP, nil
}

// ReadOnly reports whether read_only is on (the edges refuse changes).
func (s *Service) ReadOnly(ctx context.Context) (bool, error) {
	cur, err := s.Get(ctx)
	if err != nil {
		return false, err
	}
	return cur.ReadOnly, nil
}

// TokenExpiration returns the lifetime of registry tokens in force.
func (s *Service) TokenExpiration(ctx context.Context) (time.Duration, error) {
	cur, err := s.Get(ctx)
	if err != nil {
		return 0, err
	}
	return time.Duration(cur.TokenExpiration) * time.Minute, nil
}

// Update applies changes (key name to value in stored form; see Key.Kind)
// to the settings in the store, which are read afresh, checks the result
// and stores the changed keys in one transaction. It returns the new
// settings and the names of the keys whose value changed (sorted as Keys;
// a secret's value is never returned). This replica sees the change at
// once, the others within the TTL.
//
// Errors: ErrInvalid (unknown or read-only key, wrong type, unusable
// result; every problem joined), or the store's.
func (s *Service) Update(ctx context.Context, changes map[string]string) (Settings, []string, error) {
	changes = maps.Clone(changes)
	for name, v := range changes {
		if k, ok := LookupKey(name); ok && k.ReadOnly {
			if err := k.set(&Settings{}, v); err != nil {
				return Settings{}, nil, &InvalidError{name, err.Error()}
			}
			delete(changes, name) // it already has that value
		}
	}
	cur, err := s.load(ctx)
	if err != nil {
		return Settings{}, nil, err
	}
	next := cur
	if err := errors.Join(next.apply(changes), next.Validate()); err != nil {
		return Settings{}, nil, err
	}
	was, now := cur.Encode(), next.Encode()
	write := map[string]string{}
	var changed []string
	for _, k := range keys {
		if _, asked := changes[k.Name]; !asked || k.ReadOnly {
			continue
		}
		write[k.Name] = now[k.Name] // stored even when equal: the database then holds it
		if was[k.Name] != now[k.Name] {
			changed = append(changed, k.Name)
		}
	}
	if len(write) > 0 {
		if err := s.store.SetConfigurations(ctx, write); err != nil {
			return Settings{}, nil, fmt.Errorf("settings: %w", err)
		}
	}
	s.mu.Lock()
	s.cached, s.loadedAt, s.loaded = next, s.now(), true
	s.mu.Unlock()
	return next, changed, nil
}

func (s *Service) invalidate() {
	s.mu.Lock()
	s.loaded = false
	s.mu.Unlock()
}
