package identity

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

// countingUsers counts the queries and writes a login makes.
type countingUsers struct {
	*meta.Users
	reads, writes atomic.Int64
}

func (c *countingUsers) GetUserByName(ctx context.Context, name string) (meta.User, error) {
	c.reads.Add(1)
	return c.Users.GetUserByName(ctx, name)
}

func (c *countingUsers) GetLoginFailures(ctx context.Context, keys []string, w time.Duration) (map[string]meta.LoginFailures, error) {
	c.reads.Add(1)
	return c.Users.GetLoginFailures(ctx, keys, w)
}

func (c *countingUsers) ClearLoginFailures(ctx context.Context, key string) error {
	c.writes.Add(1)
	return c.Users.ClearLoginFailures(ctx, key)
}

func (c *countingUsers) RecordLoginFailure(ctx context.Context, key string, w time.Duration) (meta.LoginFailures, error) {
	c.writes.Add(1)
	return c.Users.RecordLoginFailure(ctx, key, w)
}

func newCountingService(t *testing.T, opts Options) (*Service, *countingUsers) {
	t.Helper()
	st := metatest.OpenSQLite(t)
	users := &countingUsers{Users: st.Users}
	opts.Hash = cheap
	s, err := New(Stores{Users: users, Robots: st.Robots, Projects: st.Projects}, slog.New(slog.DiscardHandler), opts)
	if err != nil {
		t.Fatal(err)
	}
	return s, users
}

// A successful login writes nothing to the database (the throttle's
// counters are cleared only when they hold failures).
func TestLoginWritesNothingOnSuccess(t *testing.T) {
	ctx := t.Context()
	s, users := newCountingService(t, Options{})
	if _, err := s.CreateUser(ctx, NewUser{Username: "alice", Password: "AlicePass1"}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := s.Authenticate(ctx, "alice", "AlicePass1", "10.0.0.1"); err != nil {
			t.Fatal(err)
		}
	}
	if n := users.writes.Load(); n != 0 {
		t.Errorf("3 successful logins made %d writes, want 0", n)
	}
	// After a failure, the next success clears the counters it touched.
	if _, err := s.Authenticate(ctx, "alice", "wrong", "10.0.0.1"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	before := users.writes.Load()
	if _, err := s.Authenticate(ctx, "alice", "AlicePass1", "10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if users.writes.Load() == before {
		t.Error("a success after a failure cleared no counter")
	}
}

// With the login cache on, repeated logins cost no query, and every rule
// that must take effect at once still does: a disabled account, a new
// password, a failed login (a throttle may start), a moved generation and
// the TTL.
func TestLoginCache(t *testing.T) {
	ctx := t.Context()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var gen atomic.Uint64
	s, users := newCountingService(t, Options{
		LoginCacheTTL: 10 * time.Second, Now: func() time.Time { return now }, Generation: gen.Load,
		Throttle: Throttle{PerUser: 2, Window: time.Minute},
	})
	u, err := s.CreateUser(ctx, NewUser{Username: "alice", Password: "AlicePass1"})
	if err != nil {
		t.Fatal(err)
	}
	login := func() error {
		_, err := s.Authenticate(ctx, "alice", "AlicePass1", "10.0.0.1")
		return err
	}
	cached := func(what string) {
		t.Helper()
		before := users.reads.Load()
		if err := login(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if n := users.reads.Load() - before; n != 0 {
			t.Errorf("%s: %d queries, want 0 (cached)", what, n)
		}
	}
	checked := func(what string, want error) {
		t.Helper()
		before := users.reads.Load()
		if err := login(); !errors.Is(err, want) {
			t.Fatalf("%s: err = %v, want %v", what, err, want)
		}
		if users.reads.Load() == before {
			t.Errorf("%s: answered from the cache", what)
		}
	}
	checked("first login", nil)
	cached("second login")

	now = now.Add(11 * time.Second)
	checked("after the TTL", nil)
	cached("cached again")

	gen.Add(1)
	checked("after the generation moved", nil)

	if _, err := s.SetDisabled(ctx, u.ID, true); err != nil {
		t.Fatal(err)
	}
	checked("disabled", ErrDisabled)
	if _, err := s.SetDisabled(ctx, u.ID, false); err != nil {
		t.Fatal(err)
	}
	checked("enabled again", nil)

	cached("cached while enabled")
	if err := s.ResetPassword(ctx, u.ID, "AliceNew22"); err != nil {
		t.Fatal(err)
	}
	checked("old password after a reset", ErrInvalidCredentials)
	if err := s.ResetPassword(ctx, u.ID, "AlicePass1"); err != nil {
		t.Fatal(err)
	}
	checked("password set back", nil)
	cached("cached before failures")

	// Failed logins reach the per-user limit: the cached login must not
	// bypass the throttle.
	if _, err := s.Authenticate(ctx, "alice", "wrong", "10.0.0.2"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := s.Authenticate(ctx, "alice", "wrong", "10.0.0.2"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	checked("throttled", ErrThrottled)
}
