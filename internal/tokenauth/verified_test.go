package tokenauth

import (
	"errors"
	"testing"
	"time"
)

// A verified token is served from the cache, but never past its expiry
// (plus leeway): the same Issuer with a moving clock refuses it then.
func TestVerifyCacheHonoursExpiry(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	iss, err := NewIssuer(newKey(t), Options{TTL: time.Minute, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.Issue("alice", []ResourceActions{{Type: "repository", Name: "a/b", Actions: []string{"pull"}}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // the second from the cache
		c, err := iss.Verify(tok.Raw)
		if err != nil || c.Subject != "alice" {
			t.Fatalf("verify %d: %v, subject %q", i, err, c.Subject)
		}
	}
	if _, ok := iss.seen.get(tok.Raw, now); !ok {
		t.Error("verified token not cached")
	}
	now = now.Add(time.Minute + verifyLeeway)
	if _, err := iss.Verify(tok.Raw); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("expired token from the cache: err = %v, want ErrInvalidToken", err)
	}
	// A tampered token is never a cache hit.
	if _, err := iss.Verify(tok.Raw[:len(tok.Raw)-4] + "AAAA"); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("tampered: err = %v", err)
	}
}
