package identity

import (
	"context"
	"time"
)

// throttleKeys returns the failure counters a login attempt touches: the
// username's first, then the client address's (when known).
func throttleKeys(username, clientIP string) []string {
	keys := []string{"user:" + username}
	if clientIP != "" {
		keys = append(keys, "ip:"+clientIP)
	}
	return keys
}

// checkThrottle refuses the attempt with a *ThrottledError while any of
// keys has reached its limit in its current window. A store failure lets
// the attempt through (and is logged): refusing every login because the
// counters cannot be read would be worse.
func (s *Service) checkThrottle(ctx context.Context, keys []string) error {
	got, err := s.store.Users.GetLoginFailures(ctx, keys, s.throttle.Window)
	if err != nil {
		s.log.WarnContext(ctx, "login throttle unavailable", "err", err)
		return nil
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
		return nil
	}
	return &ThrottledError{RetryAfter: max(wait, time.Second)}
}

func (s *Service) limit(key string) int {
	if key[0] == 'i' { // "ip:..."
		return s.throttle.PerIP
	}
	return s.throttle.PerUser
}

func (s *Service) recordFailure(ctx context.Context, keys []string) {
	for _, k := range keys {
		if _, err := s.store.Users.RecordLoginFailure(ctx, k, s.throttle.Window); err != nil {
			s.log.WarnContext(ctx, "record failed login", "err", err)
		}
	}
}

func (s *Service) clearFailures(ctx context.Context, key string) {
	if err := s.store.Users.ClearLoginFailures(ctx, key); err != nil {
		s.log.WarnContext(ctx, "clear failed logins", "err", err)
	}
}
