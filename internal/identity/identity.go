// Package identity knows who is who: local users (argon2id password
// hashes), users onboarded from an external directory (LDAP) at first
// login, robot accounts with hashed secrets, the first administrator, and
// brute-force protection of logins. Authenticate turns Basic credentials
// into an access.Principal; what a principal may do is the access
// package's business.
package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/alexedwards/argon2id"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
)

// Errors returned by the Service. Callers compare with errors.Is.
var (
	// ErrInvalidCredentials: unknown user or robot, or a wrong password or
	// secret; the same error for all, so callers cannot tell which.
	ErrInvalidCredentials = errors.New("invalid username or password")
	// ErrDisabled: the credentials are right but the account is disabled.
	ErrDisabled = errors.New("account is disabled")
	// ErrExpired: the credentials are right but the robot account expired.
	ErrExpired = errors.New("robot account has expired")
	// ErrThrottled: too many failed logins; see ThrottledError.
	ErrThrottled = errors.New("too many failed logins")
	// ErrBackendUnavailable: the external directory could not answer.
	ErrBackendUnavailable = errors.New("authentication backend unavailable")
	// ErrInvalid: a request to change an account is malformed (see
	// InvalidError).
	ErrInvalid = errors.New("invalid account data")
	// ErrNotLocal: the operation needs a local account (e.g. changing the
	// password of an LDAP user).
	ErrNotLocal = errors.New("not a local account")
)

// ThrottledError says that logins for a user or from an address are
// refused for RetryAfter. It matches ErrThrottled.
type ThrottledError struct {
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed logins; retry in %s", e.RetryAfter.Round(time.Second))
}

// Is makes errors.Is(err, ErrThrottled) true.
func (e *ThrottledError) Is(target error) bool { return target == ErrThrottled }

// RetryIn is when a retry can succeed (httpx.WriteError's Retry-After).
func (e *ThrottledError) RetryIn() time.Duration { return e.RetryAfter }

// InvalidError names the field of an account request that is wrong. It
// matches ErrInvalid.
type InvalidError struct {
	Field, Reason string
}

func (e *InvalidError) Error() string { return e.Field + ": " + e.Reason }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

// ExternalUser is a user as an external directory (LDAP) describes it
// after checking their password.
type ExternalUser struct {
	Username    string
	Email       string
	DisplayName string
	DN          string
	GroupDNs    []string
	// Admin: member of the directory's administrator group.
	Admin bool
}

// externalAuth checks credentials against an external directory. It
// returns an error matching ErrInvalidCredentials for an unknown user or a
// wrong password; any other error means the directory could not answer.
type externalAuth interface {
	Authenticate(ctx context.Context, username, password string) (ExternalUser, error)
}

// Stores are the parts of the metadata store the Service uses; internal/app
// fills them from *meta.Store.
type Stores struct {
	Users    userStore    // *meta.Users: accounts and the login throttle
	Robots   robotStore   // *meta.Robots
	Projects projectStore // *meta.Projects: a robot's project, a user's roles
}

// userStore is meta.Users as the Service uses it.
type userStore interface {
	GetUser(ctx context.Context, id int64) (meta.User, error)
	GetUserByName(ctx context.Context, username string) (meta.User, error)
	CreateUser(ctx context.Context, u meta.User) (meta.User, error)
	UpdateUser(ctx context.Context, u meta.User) (meta.User, error)
	SetPasswordHash(ctx context.Context, id int64, hash string) error
	DeleteUser(ctx context.Context, id int64) error
	SessionGeneration(ctx context.Context, id int64) (int64, error)
	BumpSessionGeneration(ctx context.Context, id int64) (int64, error)
	throttleStore
}

type throttleStore interface {
	RecordLoginFailure(ctx context.Context, key string, window time.Duration) (meta.LoginFailures, error)
	GetLoginFailures(ctx context.Context, keys []string, window time.Duration) (map[string]meta.LoginFailures, error)
	ClearLoginFailures(ctx context.Context, key string) error
}

// robotStore is meta.Robots as the Service uses it.
type robotStore interface {
	GetRobot(ctx context.Context, id int64) (meta.Robot, error)
	GetRobotByName(ctx context.Context, name string) (meta.Robot, error)
	CreateRobot(ctx context.Context, r meta.Robot) (meta.Robot, error)
	UpdateRobot(ctx context.Context, r meta.Robot) (meta.Robot, error)
	SetRobotSecretHash(ctx context.Context, id int64, hash string) error
	DeleteRobot(ctx context.Context, id int64) error
}

// projectStore is meta.Projects as the Service uses it.
type projectStore interface {
	GetProject(ctx context.Context, id int64) (meta.Project, error)
	GetProjectByName(ctx context.Context, name string) (meta.Project, error)
	RolesOf(ctx context.Context, v meta.Viewer) ([]meta.ProjectRole, error)
}

// Throttle limits failed logins. Failures are counted per username and
// per client address in a fixed window shared by every replica (in the
// database); once a count reaches its limit, logins for that user or from
// that address are refused until the window ends. Nobody is locked out for
// longer than Window.
type Throttle struct {
	PerUser int           // failures per username per window (default 10)
	PerIP   int           // failures per client address per window (default 50)
	Window  time.Duration // default 5m
}

// Options configure the Service. Zero values take the defaults.
type Options struct {
	// External, when set, authenticates users who are not local accounts
	// and onboards them (source ldap) at their first login.
	External externalAuth
	Throttle Throttle
	// Hash sets the argon2id cost (default: 19 MiB, 2 passes, 1 lane,
	// OWASP's recommendation). Tests lower it.
	Hash *argon2id.Params
	// Now is the clock (default time.Now).
	Now func() time.Time
	// LoginCacheTTL, when positive, caches successful Basic logins for
	// that long (logins.go): repeated requests with the same credentials
	// cost no query. Zero: every login is checked in full.
	LoginCacheTTL time.Duration
	// Generation, when set, is a counter the caller moves on every change
	// to accounts, roles or settings; cached logins made before a move are
	// not used.
	Generation func() uint64
}

// Service manages and authenticates users and robot accounts.
type Service struct {
	store    Stores
	log      *slog.Logger
	external externalAuth
	throttle Throttle
	hash     *argon2id.Params
	now      func() time.Time
	// dummy is verified against when the user does not exist, so that an
	// unknown user takes as long as a wrong password (dummyHash).
	dummyOnce sync.Once
	dummy     string
	passwords *passwordChecker
	logins    *loginCache
}

// defaultHashParams is the argon2id cost of new password hashes: 19 MiB,
// 2 passes, 1 lane (OWASP's recommendation).
func defaultHashParams() *argon2id.Params {
	return &argon2id.Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}
}

// New returns a Service over the stores.
func New(store Stores, log *slog.Logger, opts Options) (*Service, error) {
	s := &Service{store: store, log: log, external: opts.External, throttle: opts.Throttle, hash: opts.Hash, now: opts.Now}
	if s.hash == nil {
		s.hash = defaultHashParams()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.throttle.PerUser <= 0 {
		s.throttle.PerUser = 10
	}
	if s.throttle.PerIP <= 0 {
		s.throttle.PerIP = 50
	}
	if s.throttle.Window <= 0 {
		s.throttle.Window = 5 * time.Minute
	}
	s.passwords = newPasswordChecker(s.now)
	s.logins = newLoginCache(opts.LoginCacheTTL, s.now, opts.Generation)
	return s, nil
}

// dummyHash returns the hash unknown users are checked against.
func (s *Service) dummyHash() string {
	s.dummyOnce.Do(func() { s.dummy = fixedDummy(s.hash) })
	return s.dummy
}

// fixedDummy is a well-formed hash of cost p with a fixed salt and a
// made-up key: checking a password against it costs what checking against
// a real hash of that cost does, and no password is known to match it (the
// result is ignored anyway). Making one with argon2id instead would cost a
// hash's time and memory at the first login for nothing.
func fixedDummy(p *argon2id.Params) string {
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
		p.Memory, p.Iterations, p.Parallelism)
}

// RobotPrefix starts every robot account name.
const RobotPrefix = "robot$"

// Authenticate checks Basic credentials, a user's password or a robot's
// secret, and returns the principal. clientIP is the caller's address, for
// brute-force limits. Errors: ErrInvalidCredentials, ErrDisabled,
// ErrExpired, a *ThrottledError, ErrBackendUnavailable, or the store's.
func (s *Service) Authenticate(ctx context.Context, username, password, clientIP string) (access.Principal, error) {
	if username == "" || password == "" {
		return access.Principal{}, ErrInvalidCredentials
	}
	if p, ok := s.logins.get(username, password); ok {
		return p, nil
	}
	gen, ext := s.logins.generations()
	keys := throttleKeys(username, clientIP)
	check := keys
	if id, ok := s.resolveAccount(ctx, username); ok {
		keys = append(keys, accountKey(id))
		check = append(keys, passwordKey(id))
	}
	failed, err := s.checkThrottle(ctx, check)
	if err != nil {
		return access.Principal{}, err
	}
	var p access.Principal
	if strings.HasPrefix(username, RobotPrefix) {
		p, err = s.authenticateRobot(ctx, username, password)
	} else {
		p, err = s.authenticateUser(ctx, username, password)
	}
	if errors.Is(err, ErrInvalidCredentials) {
		s.recordFailure(ctx, keys)
		return access.Principal{}, err
	}
	if err != nil {
		return access.Principal{}, err
	}
	if p.Kind == access.KindUser {
		s.clearFailures(ctx, failed, keys[0], accountKey(p.ID))
	} else {
		s.clearFailures(ctx, failed, keys[0])
	}
	s.logins.put(username, password, p, gen, ext)
	return p, nil
}

func (s *Service) authenticateUser(ctx context.Context, username, password string) (access.Principal, error) {
	u, err := s.store.Users.GetUserByName(ctx, username)
	switch {
	case errors.Is(err, meta.ErrUserNotFound):
		if s.external == nil {
			s.passwords.burn(password, s.dummyHash())
			return access.Principal{}, ErrInvalidCredentials
		}
		return s.authenticateExternal(ctx, username, password)
	case err != nil:
		return access.Principal{}, err
	}
	if u.Source == meta.SourceLDAP {
		if s.external == nil {
			s.passwords.burn(password, s.dummyHash())
			return access.Principal{}, ErrInvalidCredentials
		}
		return s.authenticateExternal(ctx, username, password)
	}
	// Local accounts never ask the directory; while the directory is the
	// login path, only the administrator's local account logs in (Harbor's
	// rule), so accounts made under db_auth cannot bypass the directory.
	if u.Username != AdminUsername && s.directoryOnly(ctx) {
		s.passwords.burn(password, s.dummyHash())
		return access.Principal{}, ErrInvalidCredentials
	}
	if !s.passwords.check(password, u.PasswordHash, s.dummyHash()) {
		return access.Principal{}, ErrInvalidCredentials
	}
	if u.Disabled {
		return access.Principal{}, fmt.Errorf("user %s: %w", u.Username, ErrDisabled)
	}
	return s.userPrincipal(ctx, u)
}

// modeSwitch is implemented by external-auth hooks that can be switched
// off (the LDAP Directory while auth_mode is db_auth).
type modeSwitch interface {
	Enabled(ctx context.Context) (bool, error)
}

// directoryOnly reports whether the external hook is the login path now.
// When the setting cannot be read, local accounts keep working.
func (s *Service) directoryOnly(ctx context.Context) bool {
	m, ok := s.external.(modeSwitch)
	if !ok {
		return false
	}
	on, err := m.Enabled(ctx)
	return err == nil && on
}

// authenticateExternal asks the directory, then onboards the user at the
// first login or refreshes its profile and groups.
func (s *Service) authenticateExternal(ctx context.Context, username, password string) (access.Principal, error) {
	ext, err := s.external.Authenticate(ctx, username, password)
	switch {
	case errors.Is(err, ErrInvalidCredentials):
		return access.Principal{}, ErrInvalidCredentials
	case err != nil:
		return access.Principal{}, fmt.Errorf("%w: %w", ErrBackendUnavailable, err)
	}
	if ext.Username == "" {
		ext.Username = username
	}
	u, err := s.store.Users.GetUserByName(ctx, ext.Username)
	switch {
	case errors.Is(err, meta.ErrUserNotFound):
		u, err = s.store.Users.CreateUser(ctx, meta.User{
			Username: ext.Username, Email: ext.Email, Realname: ext.DisplayName, Source: meta.SourceLDAP,
			LDAPDN: ext.DN, LDAPGroupDNs: ext.GroupDNs, LDAPAdmin: ext.Admin,
		})
		if errors.Is(err, meta.ErrUserExists) { // a concurrent first login
			u, err = s.store.Users.GetUserByName(ctx, ext.Username)
		}
		if err != nil {
			return access.Principal{}, err
		}
		s.log.InfoContext(ctx, "onboarded user from directory", "user", u.Username)
	case err != nil:
		return access.Principal{}, err
	case u.Source != meta.SourceLDAP:
		// A local account by that name exists; the directory cannot log in as it.
		s.log.WarnContext(ctx, "directory login refused: a local account has that name", "user", u.Username)
		return access.Principal{}, ErrInvalidCredentials
	default:
		u.Email, u.Realname, u.LDAPDN, u.LDAPGroupDNs, u.LDAPAdmin = ext.Email, ext.DisplayName, ext.DN, ext.GroupDNs, ext.Admin
		if u, err = s.store.Users.UpdateUser(ctx, u); err != nil {
			return access.Principal{}, err
		}
	}
	if u.Disabled {
		return access.Principal{}, fmt.Errorf("user %s: %w", u.Username, ErrDisabled)
	}
	return s.userPrincipal(ctx, u)
}

// userPrincipal builds a user's principal with its highest role in each
// project, direct or through its LDAP groups.
func (s *Service) userPrincipal(ctx context.Context, u meta.User) (access.Principal, error) {
	roles, err := s.store.Projects.RolesOf(ctx, meta.Viewer{UserID: u.ID, GroupDNs: u.LDAPGroupDNs})
	if err != nil {
		return access.Principal{}, err
	}
	p := access.Principal{
		Kind: access.KindUser, Name: u.Username, ID: u.ID, Sysadmin: u.Sysadmin || u.LDAPAdmin,
		Disabled: u.Disabled, Roles: map[int64]access.Role{}, GroupDNs: u.LDAPGroupDNs,
	}
	for _, r := range roles {
		role := access.Role(r.Role)
		if role.Rank() > p.Roles[r.ProjectID].Rank() {
			p.Roles[r.ProjectID] = role
		}
	}
	return p, nil
}

// Principal returns the current principal of a user or robot by name,
// without checking credentials (for the subject of a token that was
// issued earlier). A disabled or expired account comes back as such
// (access.Can grants it nothing). Unknown name: ErrInvalidCredentials.
func (s *Service) Principal(ctx context.Context, name string) (access.Principal, error) {
	if name == "" {
		return access.Anonymous(), nil
	}
	if strings.HasPrefix(name, RobotPrefix) {
		r, err := s.store.Robots.GetRobotByName(ctx, name)
		if errors.Is(err, meta.ErrRobotNotFound) {
			return access.Principal{}, ErrInvalidCredentials
		}
		if err != nil {
			return access.Principal{}, err
		}
		return s.robotPrincipal(ctx, r)
	}
	u, err := s.store.Users.GetUserByName(ctx, name)
	if errors.Is(err, meta.ErrUserNotFound) {
		return access.Principal{}, ErrInvalidCredentials
	}
	if err != nil {
		return access.Principal{}, err
	}
	return s.userPrincipal(ctx, u)
}
