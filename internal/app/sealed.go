package app

import (
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/sealed"
)

// loadKeyring is the keyring that seals secrets at rest (registry
// credentials, webhook auth headers, scanner credentials): the keys of
// replication.key_file, or one derived from the shared session key.
func loadKeyring(cfg config.Config) (*sealed.Keyring, error) {
	if cfg.Replication.KeyFile != "" {
		return sealed.LoadKeyFile(cfg.Replication.KeyFile)
	}
	secret, err := sessionKey(cfg)
	if err != nil {
		return nil, err
	}
	return sealed.NewKeyring(secret)
}
