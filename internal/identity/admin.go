package identity

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/secretfile"
)

// AdminUsername is the first system administrator's name.
const AdminUsername = "admin"

// AdminPasswordFile is where a generated administrator password is kept,
// in the data directory, readable by its owner only.
const AdminPasswordFile = "admin-password"

// AdminBootstrap says what BootstrapAdmin did.
type AdminBootstrap struct {
	// Created: the administrator did not exist and was created now.
	Created bool
	// Generated: the password was generated; it is in Password (to show
	// once) and in PasswordFile.
	Generated    bool
	Password     string
	PasswordFile string
}

// BootstrapAdmin creates the administrator account on first start. With a
// password (from BERTH_ADMIN_PASSWORD or its file) it uses that one (at
// least 8 characters; the operator's choice is not held to the policy for
// users); without, it generates one and writes
// it to <dataDir>/admin-password (mode 0600) before creating the account,
// so the password is never lost. When the administrator already exists it
// does nothing (the password is not reset). Among replicas starting
// together, exactly one creates the account.
func (s *Service) BootstrapAdmin(ctx context.Context, password, dataDir string) (AdminBootstrap, error) {
	_, err := s.store.Users.GetUserByName(ctx, AdminUsername)
	switch {
	case err == nil:
		return AdminBootstrap{}, nil
	case !errors.Is(err, meta.ErrUserNotFound):
		return AdminBootstrap{}, fmt.Errorf("bootstrap admin: %w", err)
	}
	var out AdminBootstrap
	if password == "" {
		out.Generated, out.Password = true, randomSecret(20)
		out.PasswordFile = filepath.Join(dataDir, AdminPasswordFile)
		if err := secretfile.Write(out.PasswordFile, []byte(out.Password+"\n"), false); err != nil {
			return AdminBootstrap{}, fmt.Errorf("bootstrap admin: %w", err)
		}
		password = out.Password
	} else if len(password) < minPasswordLen {
		// An operator's choice is taken as it is, as long as it is not trivially short.
		return AdminBootstrap{}, fmt.Errorf("bootstrap admin: BERTH_ADMIN_PASSWORD: %w",
			&InvalidError{"password", fmt.Sprintf("must be at least %d characters long", minPasswordLen)})
	}
	h, err := s.HashPassword(password)
	if err != nil {
		return AdminBootstrap{}, fmt.Errorf("bootstrap admin: %w", err)
	}
	_, err = s.store.Users.CreateUser(ctx, meta.User{
		Username: AdminUsername, PasswordHash: h, Sysadmin: true, Realname: "System administrator", Source: meta.SourceLocal,
	})
	switch {
	case errors.Is(err, meta.ErrUserExists): // another replica was first
		if out.Generated {
			_ = os.Remove(out.PasswordFile) // it does not hold the winner's password
		}
		return AdminBootstrap{}, nil
	case err != nil:
		if out.Generated {
			_ = os.Remove(out.PasswordFile)
		}
		return AdminBootstrap{}, fmt.Errorf("bootstrap admin: %w", err)
	}
	out.Created = true
	return out, nil
}
