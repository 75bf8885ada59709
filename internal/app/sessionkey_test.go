package app

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSessionKey: replicas given the same secret file (or the same token
// key) derive the same session key; a short secret is refused.
func TestSessionKey(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte(strings.Repeat("s", 40)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("too short"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, b := testConfig(t), testConfig(t)
	a.Auth.SecretKeyFile, b.Auth.SecretKeyFile = secret, secret
	ka, err := sessionKey(a)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := sessionKey(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ka, kb) {
		t.Fatal("two replicas with one secret file derived different keys")
	}
	derived, err := sessionKey(testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(derived, ka) {
		t.Fatal("the secret file did not change the key")
	}
	c := testConfig(t)
	c.Auth.SecretKeyFile = short
	if _, err := sessionKey(c); err == nil {
		t.Fatal("a secret of 9 bytes was accepted")
	}
}
