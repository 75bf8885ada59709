package identity

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"
)

// TestPasswordChecker counts argon2id verifications: a password that
// verified is accepted from the cache without one until the TTL ends; a
// wrong password, a changed hash, an empty or broken hash each cost one
// (or a dummy one), so failures are never cheaper than a real check.
func TestPasswordChecker(t *testing.T) {
	params := &argon2id.Params{Memory: 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
	hash, err := argon2id.CreateHash("right", params)
	if err != nil {
		t.Fatal(err)
	}
	other, err := argon2id.CreateHash("changed", params)
	if err != nil {
		t.Fatal(err)
	}
	dummy, _ := argon2id.CreateHash("dummy", params)
	clock := time.Unix(0, 0)
	c := newPasswordChecker(func() time.Time { return clock })
	verifications := 0
	c.compare = func(password, hash string) (bool, error) {
		verifications++
		return argon2id.ComparePasswordAndHash(password, hash)
	}

	steps := []struct {
		name, password, hash string
		advance              time.Duration
		want                 bool
		verifications        int // argon2id runs this step costs
	}{
		{"right password verifies", "right", hash, 0, true, 1},
		{"then comes from the cache", "right", hash, 0, true, 0},
		{"and again", "right", hash, 30 * time.Second, true, 0},
		{"wrong password verifies", "wrong", hash, 0, false, 1},
		{"wrong password is never cached", "wrong", hash, 0, false, 1},
		{"after the ttl it verifies again", "right", hash, 2 * time.Minute, true, 1},
		{"then is cached again", "right", hash, 0, true, 0},
		{"old password against the changed hash", "right", other, 0, false, 1},
		{"empty hash costs a dummy check", "right", "", 0, false, 1},
		{"broken hash costs a dummy check", "right", "$argon2id$broken", 0, false, 2},
	}
	for _, st := range steps {
		clock = clock.Add(st.advance)
		before := verifications
		if got := c.check(st.password, st.hash, dummy); got != st.want {
			t.Fatalf("%s: check = %v, want %v", st.name, got, st.want)
		}
		if got := verifications - before; got != st.verifications {
			t.Errorf("%s: %d argon2id verifications, want %d", st.name, got, st.verifications)
		}
	}
	before := verifications
	c.burn("x", dummy)
	if verifications-before != 1 {
		t.Errorf("burn: %d verifications, want 1", verifications-before)
	}

	// The cache is bounded.
	c.limit = 3
	for i := range 10 {
		c.remember(cacheKey(string(rune('a'+i)), hash))
	}
	if len(c.ok) > 3 {
		t.Fatalf("cache grew to %d entries, limit 3", len(c.ok))
	}
}

// A burst of checks of the same credentials (a client opening many
// connections at once) costs one argon2id run, not one each: each run
// holds the hash's memory (19 MiB by default).
func TestPasswordCheckerBurst(t *testing.T) {
	params := &argon2id.Params{Memory: 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
	hash, err := argon2id.CreateHash("right", params)
	if err != nil {
		t.Fatal(err)
	}
	c := newPasswordChecker(time.Now)
	var runs atomic.Int64
	release := make(chan struct{})
	c.compare = func(password, hash string) (bool, error) {
		runs.Add(1)
		<-release
		return argon2id.ComparePasswordAndHash(password, hash)
	}
	const n = 16
	results := make(chan bool, n)
	for range n {
		go func() { results <- c.check("right", hash, hash) }()
	}
	time.Sleep(100 * time.Millisecond) // let them all arrive
	close(release)
	for range n {
		if !<-results {
			t.Error("a check of the right password failed")
		}
	}
	if got := runs.Load(); got != 1 {
		t.Errorf("%d concurrent checks ran argon2id %d times, want 1", n, got)
	}
}
