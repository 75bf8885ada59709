package identity

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/alexedwards/argon2id"

	"github.com/berth-registry/berth/internal/identity/ldap"
)

// ldapSettings gives the LDAP settings in force (settings.Service): the
// configuration and whether auth_mode is ldap_auth.
type ldapSettings interface {
	LDAP(ctx context.Context) (cfg ldap.Config, enabled bool, err error)
}

// Directory is the external-auth hook (Options.External) for auth_mode
// ldap_auth. It reads the current settings on every login, so a change
// made through the API on any replica applies to the next login (after the
// settings cache, a few seconds). While auth_mode is db_auth it knows
// nobody.
type Directory struct {
	settings ldapSettings
	// dummy is checked against while the directory is off, so that an
	// unknown user costs what a wrong local password costs.
	hash      *argon2id.Params
	dummyOnce sync.Once
	dummy     string
}

func (d *Directory) dummyHash() string {
	d.dummyOnce.Do(func() { d.dummy = fixedDummy(d.hash) })
	return d.dummy
}

var _ externalAuth = (*Directory)(nil)

// Enabled reports whether auth_mode is ldap_auth now. While it is, local
// accounts other than the administrator do not log in (as in Harbor).
func (d *Directory) Enabled(ctx context.Context) (bool, error) {
	_, enabled, err := d.settings.LDAP(ctx)
	return enabled, err
}

// NewDirectory returns the LDAP hook over the settings. hash is the
// argon2id cost of local passwords (nil: the default), to keep the cost of
// a refused login the same whatever the mode.
func NewDirectory(settings ldapSettings, hash *argon2id.Params) (*Directory, error) {
	if hash == nil {
		hash = defaultHashParams()
	}
	return &Directory{settings: settings, hash: hash}, nil
}

// Authenticate checks username and password against the directory and
// returns the user with its groups (lower-cased by the store when kept)
// and whether it is in ldap_group_admin_dn.
//
// Errors: ErrInvalidCredentials when auth_mode is not ldap_auth, or the
// directory does not know the user or rejects the password; otherwise the
// directory or settings failure (ldap.ErrUnavailable, ldap.ErrMisconfigured,
// the store's), which the Service reports as ErrBackendUnavailable (503).
func (d *Directory) Authenticate(ctx context.Context, username, password string) (ExternalUser, error) {
	cfg, enabled, err := d.settings.LDAP(ctx)
	if err != nil {
		return ExternalUser{}, fmt.Errorf("ldap settings: %w", err)
	}
	if !enabled {
		_, _ = compareHash(password, d.dummyHash())
		return ExternalUser{}, ErrInvalidCredentials
	}
	u, err := ldap.Authenticate(ctx, cfg, username, password)
	switch {
	case errors.Is(err, ldap.ErrInvalidCredentials):
		return ExternalUser{}, ErrInvalidCredentials
	case err != nil:
		return ExternalUser{}, err
	}
	return ExternalUser{
		Username: u.Username, Email: u.Email, DisplayName: u.DisplayName, DN: u.DN,
		GroupDNs: u.GroupDNs, Admin: u.Admin,
	}, nil
}
