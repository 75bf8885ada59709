package identity

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/mail"
	"strings"
	"unicode"

	"github.com/berth-registry/berth/internal/meta"
)

// NewUser is a local account to create.
type NewUser struct {
	Username string
	Email    string
	Realname string
	Password string
	Sysadmin bool
}

// Password policy, as Harbor's: 8 to 128 characters with at least one
// upper-case letter, one lower-case letter and one digit.
const (
	minPasswordLen = 8
	maxPasswordLen = 128
)

// ValidatePassword checks the password policy. Errors match ErrInvalid.
func ValidatePassword(pw string) error {
	if len(pw) < minPasswordLen || len(pw) > maxPasswordLen {
		return &InvalidError{"password", fmt.Sprintf("must be %d to %d characters long", minPasswordLen, maxPasswordLen)}
	}
	var upper, lower, digit bool
	for _, r := range pw {
		switch {
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsLower(r):
			lower = true
		case unicode.IsDigit(r):
			digit = true
		}
	}
	if !upper || !lower || !digit {
		return &InvalidError{"password", "must contain an upper-case letter, a lower-case letter and a digit"}
	}
	return nil
}

// validateUsername: 1 to 255 characters, no control characters, none of
// Harbor's forbidden ,"~#$% and no robot$ prefix (robots own it).
func validateUsername(name string) error {
	switch {
	case name == "" || len(name) > 255:
		return &InvalidError{"username", "must be 1 to 255 characters long"}
	case strings.ContainsAny(name, `,"~#$%:`) || strings.IndexFunc(name, unicode.IsControl) >= 0 || strings.TrimSpace(name) != name:
		return &InvalidError{"username", `must not contain , " ~ # $ % : control characters or surrounding spaces`}
	}
	return nil
}

func validateEmail(email string) error {
	if email == "" {
		return nil
	}
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email {
		return &InvalidError{"email", "is not an e-mail address"}
	}
	return nil
}

// HashPassword returns the argon2id hash of pw at the service's cost.
func (s *Service) HashPassword(pw string) (string, error) {
	h, err := createHash(pw, s.hash)
	if err != nil {
		return "", fmt.Errorf("identity: hash password: %w", err)
	}
	return h, nil
}

// CreateUser creates a local account. Errors: ErrInvalid (with an
// InvalidError naming the field), meta.ErrUserExists, or the store's.
func (s *Service) CreateUser(ctx context.Context, nu NewUser) (meta.User, error) {
	if err := validateUsername(nu.Username); err != nil {
		return meta.User{}, err
	}
	if err := validateEmail(nu.Email); err != nil {
		return meta.User{}, err
	}
	if err := ValidatePassword(nu.Password); err != nil {
		return meta.User{}, err
	}
	h, err := s.HashPassword(nu.Password)
	if err != nil {
		return meta.User{}, err
	}
	return s.store.Users.CreateUser(ctx, meta.User{
		Username: nu.Username, Email: nu.Email, Realname: nu.Realname, PasswordHash: h,
		Sysadmin: nu.Sysadmin, Source: meta.SourceLocal,
	})
}

// ChangePassword sets a local user's password after checking the old one
// (ErrInvalidCredentials when it is wrong), and ends the user's portal
// sessions. A wrong old password counts as a failed login of the account
// (from clientIP): past the limit, changes and logins get a
// *ThrottledError. LDAP users: ErrNotLocal.
func (s *Service) ChangePassword(ctx context.Context, id int64, oldPassword, newPassword, clientIP string) error {
	u, err := s.store.Users.GetUser(ctx, id)
	if err != nil {
		return err
	}
	if u.Source != meta.SourceLocal {
		return fmt.Errorf("user %s: %w", u.Username, ErrNotLocal)
	}
	keys := append(throttleKeys(u.Username, clientIP), accountKey(id), passwordKey(id))
	failed, err := s.checkThrottle(ctx, keys)
	if err != nil {
		return err
	}
	if !s.passwords.check(oldPassword, u.PasswordHash, s.dummyHash()) {
		s.recordFailure(ctx, keys)
		return ErrInvalidCredentials
	}
	if err := s.ResetPassword(ctx, id, newPassword); err != nil {
		return err
	}
	s.clearFailures(ctx, failed, passwordKey(id))
	return nil
}

// ResetPassword sets a local user's password without the old one (for a
// system administrator) and ends the user's portal sessions. Errors:
// ErrInvalid, ErrNotLocal, meta.ErrUserNotFound.
func (s *Service) ResetPassword(ctx context.Context, id int64, newPassword string) error {
	if err := ValidatePassword(newPassword); err != nil {
		return err
	}
	u, err := s.store.Users.GetUser(ctx, id)
	if err != nil {
		return err
	}
	if u.Source != meta.SourceLocal {
		return fmt.Errorf("user %s: %w", u.Username, ErrNotLocal)
	}
	h, err := s.HashPassword(newPassword)
	if err != nil {
		return err
	}
	defer s.logins.invalidate() // after the change: cached logins ask again
	if err := s.store.Users.SetPasswordHash(ctx, id, h); err != nil {
		return err
	}
	return s.EndSessions(ctx, id)
}

// SessionGeneration returns user id's session generation; a portal
// session issued under another one is over. Missing: meta.ErrUserNotFound.
func (s *Service) SessionGeneration(ctx context.Context, id int64) (int64, error) {
	return s.store.Users.SessionGeneration(ctx, id)
}

// EndSessions ends every portal session of user id (logout; done by
// password changes and resets and by disabling). Missing:
// meta.ErrUserNotFound.
func (s *Service) EndSessions(ctx context.Context, id int64) error {
	defer s.logins.invalidate() // after the change: cached logins ask again
	if _, err := s.store.Users.BumpSessionGeneration(ctx, id); err != nil {
		return fmt.Errorf("end sessions of user %d: %w", id, err)
	}
	return nil
}

// UpdateProfile changes a user's e-mail and real name.
func (s *Service) UpdateProfile(ctx context.Context, id int64, email, realname string) (meta.User, error) {
	if err := validateEmail(email); err != nil {
		return meta.User{}, err
	}
	return s.update(ctx, id, func(u *meta.User) { u.Email, u.Realname = email, realname })
}

// SetDisabled disables or re-enables a user; a disabled user cannot log
// in, tokens issued to it grant nothing more, and disabling ends its
// portal sessions for good (re-enabling does not revive them).
func (s *Service) SetDisabled(ctx context.Context, id int64, disabled bool) (meta.User, error) {
	u, err := s.update(ctx, id, func(u *meta.User) { u.Disabled = disabled })
	if err != nil || !disabled {
		return u, err
	}
	return u, s.EndSessions(ctx, id)
}

// SetSysadmin grants or revokes system administration.
func (s *Service) SetSysadmin(ctx context.Context, id int64, sysadmin bool) (meta.User, error) {
	return s.update(ctx, id, func(u *meta.User) { u.Sysadmin = sysadmin })
}

func (s *Service) update(ctx context.Context, id int64, fn func(*meta.User)) (meta.User, error) {
	u, err := s.store.Users.GetUser(ctx, id)
	if err != nil {
		return meta.User{}, err
	}
	fn(&u)
	defer s.logins.invalidate() // after the change: cached logins ask again
	return s.store.Users.UpdateUser(ctx, u)
}

// DeleteUser deletes a user and its memberships. Missing:
// meta.ErrUserNotFound.
func (s *Service) DeleteUser(ctx context.Context, id int64) error {
	defer s.logins.invalidate() // after the change: cached logins ask again
	return s.store.Users.DeleteUser(ctx, id)
}

// randomSecret returns n characters from [A-Za-z0-9] with at least one of
// each class, from crypto/rand.
func randomSecret(n int) string {
	const (
		upper  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		lower  = "abcdefghijklmnopqrstuvwxyz"
		digits = "0123456789"
		all    = upper + lower + digits
	)
	for {
		b := make([]byte, n)
		buf := make([]byte, 1)
		for i := range b {
			for {
				_, _ = rand.Read(buf)               // never fails (crypto/rand)
				if int(buf[0]) < 256-256%len(all) { // no modulo bias
					b[i] = all[int(buf[0])%len(all)]
					break
				}
			}
		}
		s := string(b)
		if strings.ContainsAny(s, upper) && strings.ContainsAny(s, lower) && strings.ContainsAny(s, digits) {
			return s
		}
	}
}
