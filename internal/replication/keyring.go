package replication

import "github.com/berth-registry/berth/internal/sealed"

// Keyring encrypts registry credentials at rest (internal/sealed, shared
// with webhook auth headers and scanner credentials).
type Keyring = sealed.Keyring

// ErrNoKey: a stored secret was encrypted under a key the keyring does not
// hold (a key was removed from the key file before re-encryption).
var ErrNoKey = sealed.ErrNoKey

// NewKeyring is sealed.NewKeyring.
func NewKeyring(secrets ...[]byte) (*Keyring, error) { return sealed.NewKeyring(secrets...) }

// LoadKeyFile is sealed.LoadKeyFile.
func LoadKeyFile(path string) (*Keyring, error) { return sealed.LoadKeyFile(path) }
