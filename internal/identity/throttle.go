package identity

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/meta"
)

// Failure counters are keyed on the account, not on the string typed:
//
//	user:<name>  the login name case-folded and trimmed (directories match
//	             CAROL and "carol " to carol, so these are one counter)
//	uid:<id>     the local account the name resolves to, when it does
//	pw:<id>      wrong old passwords given to change the account's password;
//	             a successful login does not clear it, so a stolen session
//	             cannot guess the password through the change endpoint
//	ip:<addr>    the client address
//
// A login checks all of them; a failed login counts on user, uid and ip.

// normalizeName is the login name as the throttle counts it.
func normalizeName(username string) string { return strings.ToLower(strings.TrimSpace(username)) }

func accountKey(id int64) string  { return "uid:" + strconv.FormatInt(id, 10) }
func passwordKey(id int64) string { return "pw:" + strconv.FormatInt(id, 10) }

// throttleKeys returns the failure counters a login attempt touches: the
// normalised username's first, then the client address's (when known).
func throttleKeys(username, clientIP string) []string {
	keys := []string{"user:" + normalizeName(username)}
	if clientIP != "" {
		keys = append(keys, "ip:"+clientIP)
	}
	return keys
}

// resolveAccount finds the local user a login name stands for: the name
// trimmed, else case-folded as well. Robots and unknown names: false.
// Store failures count as unknown (the name's own counter still applies).
func (s *Service) resolveAccount(ctx context.Context, username string) (int64, bool) {
	name := strings.TrimSpace(username)
	if name == "" || strings.HasPrefix(name, RobotPrefix) {
		return 0, false
	}
	for _, n := range []string{name, strings.ToLower(name)} {
		u, err := s.store.Users.GetUserByName(ctx, n)
		if err == nil {
			return u.ID, true
		}
		if !errors.Is(err, meta.ErrUserNotFound) {
			return 0, false
		}
	}
	return 0, false
}

// checkThrottle refuses the attempt with a *ThrottledError while any of
// keys has reached its limit in its current window; it returns the keys
// that hold failures (a successful login clears only those, so that a
// login without failures writes nothing). A store failure lets the
// attempt through (and is logged): refusing every login because the
// counters cannot be read would be worse.
func (s *Service) checkThrottle(ctx context.Context, keys []string) (map[string]meta.LoginFailures, error) {
	got, err := s.store.Users.GetLoginFailures(ctx, keys, s.throttle.Window)
	if err != nil {
		s.log.WarnContext(ctx, "login throttle unavailable", "err", err)
		return nil, nil
	}
	var wait time.Duration
	for _, k := range keys {
		lf, ok := got[k]
		if !ok || lf.Failures < s.limit(k) {
			continue
		}
		wait = max(wait, lf.WindowStart.Add(s.throttle.Window).Sub(s.now()))
	}
	if wait <= 0 {
		return got, nil
	}
	return got, &ThrottledError{RetryAfter: max(wait, time.Second)}
}

func (s *Service) limit(key string) int {
	if strings.HasPrefix(key, "ip:") {
		return s.throttle.PerIP
	}
	return s.throttle.PerUser
}

func (s *Service) recordFailure(ctx context.Context, keys []string) {
	s.logins.invalidate() // a throttle may start: cached logins must ask again
	for _, k := range keys {
		if _, err := s.store.Users.RecordLoginFailure(ctx, k, s.throttle.Window); err != nil {
			s.log.WarnContext(ctx, "record failed login", "err", err)
		}
	}
}

// clearFailures resets the counters of keys that hold failures (failed:
// what checkThrottle found; a key it did not list is at zero already).
// When the counters could not be read (failed is nil), it clears them all.
func (s *Service) clearFailures(ctx context.Context, failed map[string]meta.LoginFailures, keys ...string) {
	for _, k := range keys {
		if _, ok := failed[k]; failed != nil && !ok {
			continue
		}
		if err := s.store.Users.ClearLoginFailures(ctx, k); err != nil {
			s.log.WarnContext(ctx, "clear failed logins", "err", err)
		}
	}
}
