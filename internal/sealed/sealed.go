// Package sealed encrypts secrets at rest (registry credentials, webhook
// auth headers, scanner credentials) with AES-256-GCM under the
// operator's keys (replication.key_file, or a key derived from the session
// or token key). It imports only the standard library.
package sealed

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// ErrNoKey: a stored secret was encrypted under a key the keyring does not
// hold (a key was removed from the key file before re-encryption).
var ErrNoKey = errors.New("sealed: the secret was encrypted with a key that is no longer configured")

// Keyring encrypts secrets at rest with AES-256-GCM. Its first key
// encrypts; every key decrypts, so a key is rotated by adding a new one in
// front, re-encrypting (each owner re-seals its secrets at start:
// replication.Service.Reencrypt, webhook.Reseal, scan.Reseal), and only
// later removing the old one.
//
// A sealed secret reads "v1:<key id>:<base64 of nonce and ciphertext>";
// the key id (8 hex digits of a hash of the key) picks the key to open
// it with, and is bound into the GCM tag as additional data.
type Keyring struct {
	keys []ringKey
}

type ringKey struct {
	id   string
	aead cipher.AEAD
}

const sealPrefix = "v1:"

// NewKeyring derives one AES-256 key from each secret (newest first);
// each secret must hold at least 32 bytes.
func NewKeyring(secrets ...[]byte) (*Keyring, error) {
	if len(secrets) == 0 {
		return nil, errors.New("sealed: no key")
	}
	k := &Keyring{}
	for i, s := range secrets {
		if len(s) < 32 {
			return nil, fmt.Errorf("sealed: key %d holds fewer than 32 bytes", i+1)
		}
		// The label dates from when only registry credentials were
		// sealed; it stays, or secrets sealed before would not open.
		m := hmac.New(sha256.New, s)
		m.Write([]byte("berth registry credentials v1"))
		key := m.Sum(nil)
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("sealed: key: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("sealed: key: %w", err)
		}
		idSum := sha256.Sum256(key)
		k.keys = append(k.keys, ringKey{id: hex.EncodeToString(idSum[:4]), aead: aead})
	}
	return k, nil
}

// LoadKeyFile reads a key file: one key a line, the newest first (blank
// lines and lines starting with # are skipped).
func LoadKeyFile(path string) (*Keyring, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sealed: key file: %w", err)
	}
	var secrets [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		secrets = append(secrets, []byte(line))
	}
	if len(secrets) == 0 {
		return nil, fmt.Errorf("sealed: key file %s holds no key", path)
	}
	return NewKeyring(secrets...)
}

// Seal encrypts plain under the newest key. An empty secret stays empty.
func (k *Keyring) Seal(plain string) (string, error) {
	if plain == "" {
		return "", nil
	}
	key := k.keys[0]
	nonce := make([]byte, key.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("sealed: seal: %w", err)
	}
	out := key.aead.Seal(nonce, nonce, []byte(plain), []byte(key.id))
	return sealPrefix + key.id + ":" + base64.RawStdEncoding.EncodeToString(out), nil
}

// Open decrypts a sealed secret with whichever key sealed it.
func (k *Keyring) Open(sealed string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	rest, ok := strings.CutPrefix(sealed, sealPrefix)
	id, body, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 {
		return "", errors.New("sealed: malformed sealed secret")
	}
	for _, key := range k.keys {
		if key.id != id {
			continue
		}
		raw, err := base64.RawStdEncoding.DecodeString(body)
		if err != nil || len(raw) < key.aead.NonceSize() {
			return "", errors.New("sealed: malformed sealed secret")
		}
		n := key.aead.NonceSize()
		plain, err := key.aead.Open(nil, raw[:n], raw[n:], []byte(id))
		if err != nil {
			return "", errors.New("sealed: sealed secret does not authenticate")
		}
		return string(plain), nil
	}
	return "", ErrNoKey
}

// Current reports whether sealed is under the newest key (nothing to
// re-encrypt).
func (k *Keyring) Current(sealed string) bool {
	return sealed == "" || strings.HasPrefix(sealed, sealPrefix+k.keys[0].id+":")
}

// IsSealed reports whether s has the form Seal gives (a value stored before
// its owner sealed secrets does not, and is re-sealed at start).
func IsSealed(s string) bool {
	rest, ok := strings.CutPrefix(s, sealPrefix)
	id, _, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || len(id) != 8 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

// OpenStored opens a stored secret that may predate sealing: a value that
// is not sealed (IsSealed) is returned as it is.
func (k *Keyring) OpenStored(s string) (string, error) {
	if !IsSealed(s) {
		return s, nil
	}
	return k.Open(s)
}

// Reseal returns s sealed under the newest key, and whether it changed:
// a plain (legacy) value is sealed, one under an older key re-sealed.
func (k *Keyring) Reseal(s string) (string, bool, error) {
	if s == "" || (IsSealed(s) && k.Current(s)) {
		return s, false, nil
	}
	plain, err := k.OpenStored(s)
	if err != nil {
		return s, false, err
	}
	out, err := k.Seal(plain)
	return out, err == nil, err
}
