package identity

import (
	"testing"
	"time"

	"github.com/alexedwards/argon2id"
)

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

	steps := []struct {
		name, password, hash string
		advance              time.Duration
		want                 bool
		cached               int
	}{
		{"right password", "right", hash, 0, true, 1},
		{"cached", "right", hash, 0, true, 1},
		{"wrong password is never cached", "wrong", hash, 0, false, 1},
		{"after the ttl it verifies again", "right", hash, 2 * time.Minute, true, 1},
		{"old password against the changed hash", "right", other, 0, false, 1},
		{"empty hash", "right", "", 0, false, 1},
		{"broken hash", "right", "$argon2id$broken", 0, false, 1},
	}
	for _, st := range steps {
		clock = clock.Add(st.advance)
		if got := c.check(st.password, st.hash, dummy); got != st.want {
			t.Fatalf("%s: check = %v, want %v", st.name, got, st.want)
		}
		if len(c.ok) < st.cached {
			t.Fatalf("%s: %d cached entries, want at least %d", st.name, len(c.ok), st.cached)
		}
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
