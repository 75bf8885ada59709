package app

import (
	"context"
	"crypto"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/httpx"
	"github.com/berth-registry/berth/internal/identity"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/settings"
	"github.com/berth-registry/berth/internal/tokenauth"
)

// authStack is identity and access wired to the token service and the
// /v2/ gate.
type authStack struct {
	identity *identity.Service
	settings *settings.Service
	checker  *access.Checker
	gate     *tokenauth.Gate
	token    *tokenauth.Handler
	// issuer signs registry tokens (replication mints its own; so do the
	// scanners' pull tokens, supply.go).
	issuer *tokenauth.Issuer
	// realm is the token service URL for challenges; "" derives it from
	// each request.
	realm string
	// clientIP finds a request's client address (trusted proxies applied).
	clientIP func(*http.Request) string
}

// newAuth builds the authentication stack and creates the administrator
// on the first start. A generated administrator password is logged here,
// once, and kept in <data_dir>/admin-password.
//
// changes is the change counter of perf.go: the login and project caches
// drop what they hold when it moves.
func newAuth(ctx context.Context, cfg config.Config, store *meta.Store, rec audit.Recorder, log *slog.Logger, changes func() uint64) (*authStack, error) {
	clientIP, err := httpx.ClientIP(cfg.HTTP.TrustedProxies)
	if err != nil {
		return nil, err
	}
	sets, err := newSettings(ctx, cfg, store, log)
	if err != nil {
		return nil, err
	}
	dir, err := identity.NewDirectory(sets, nil)
	if err != nil {
		return nil, err
	}
	ids, err := identity.New(identity.Stores{Users: store.Users, Robots: store.Robots, Projects: store.Projects}, log, identity.Options{External: dir, Throttle: identity.Throttle{
		PerUser: cfg.Auth.LoginThrottle.FailuresPerUser,
		PerIP:   cfg.Auth.LoginThrottle.FailuresPerIP,
		Window:  cfg.Auth.LoginThrottle.Window,
	}, LoginCacheTTL: loginCacheTTL, Generation: changes})
	if err != nil {
		return nil, err
	}
	boot, err := ids.BootstrapAdmin(ctx, cfg.Auth.AdminPassword, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	switch {
	case boot.Generated:
		// The one and only time this password is shown.
		log.WarnContext(ctx, "created the admin account with a generated password; log in and change it",
			"username", identity.AdminUsername, "password", boot.Password, "password_file", boot.PasswordFile)
	case boot.Created:
		log.InfoContext(ctx, "created the admin account with the configured password", "username", identity.AdminUsername)
	}
	key, err := signingKey(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	issuer, err := tokenauth.NewIssuer(key, tokenauth.Options{TTL: cfg.Auth.TokenExpiration})
	if err != nil {
		return nil, fmt.Errorf("token service: %w", err)
	}
	checker := access.NewChecker(store.Projects).WithCache(projectCacheTTL, changes)
	tc := tokenauth.Config{Issuer: issuer, Lifetime: sets, Identity: ids, Access: checker, Audit: tokenAudit{rec}, ClientIP: clientIP, Log: log}
	gate, err := tokenauth.NewGate(tc)
	if err != nil {
		return nil, err
	}
	a := &authStack{identity: ids, settings: sets, checker: checker, clientIP: clientIP, gate: gate, token: tokenauth.NewHandler(tc), issuer: issuer}
	if cfg.ExternalURL != "" {
		a.realm = strings.TrimRight(cfg.ExternalURL, "/") + "/service/token"
	}
	return a, nil
}

// newSettings returns the system settings service, writing the
// configuration file's values for the keys the database does not hold yet
// (the first start); afterwards the database wins.
func newSettings(ctx context.Context, cfg config.Config, store *meta.Store, log *slog.Logger) (*settings.Service, error) {
	sets := settings.New(store.Settings, log, settings.Options{})
	initial := settings.Defaults() // read_only, robot_token_duration: no file key
	initial.AuthMode = cfg.Auth.AuthMode
	initial.LDAP = cfg.LDAP
	initial.ProjectCreationRestriction = cfg.Auth.ProjectCreationRestriction
	// token_expiration is in whole minutes; the file's duration rounds up.
	initial.TokenExpiration = int((cfg.Auth.TokenExpiration + time.Minute - 1) / time.Minute)
	written, err := sets.Seed(ctx, initial)
	if err != nil {
		return nil, err
	}
	if len(written) > 0 {
		log.InfoContext(ctx, "stored initial system settings from the configuration", "keys", written)
	}
	cur, err := sets.Get(ctx)
	if err != nil {
		return nil, err
	}
	if cur.AuthMode != cfg.Auth.AuthMode {
		log.InfoContext(ctx, "auth_mode is set in the database, the configuration's is not used", "auth_mode", cur.AuthMode)
	}
	return sets, nil
}

// signingKey loads the configured token key, or the one generated in the
// data directory.
func signingKey(ctx context.Context, cfg config.Config, log *slog.Logger) (crypto.Signer, error) {
	if cfg.Auth.TokenKeyFile != "" {
		return tokenauth.LoadKey(cfg.Auth.TokenKeyFile)
	}
	key, created, err := tokenauth.LoadOrCreateKey(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if created {
		log.InfoContext(ctx, "generated the token signing key", "file", cfg.DataDir+"/"+tokenauth.KeyFile)
	}
	return key, nil
}

// tokenRoute serves /service/token under its metrics route name.
func tokenRoute(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpx.SetRoute(r.Context(), "token")
		h.ServeHTTP(w, r)
	})
}
