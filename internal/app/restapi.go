package app

import (
	"crypto"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/httpx"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/restapi"
	"github.com/berth-registry/berth/internal/tokenauth"
)

// newRESTAPI builds the /api/v2.0/ and /c/ edge.
func newRESTAPI(cfg config.Config, store *meta.Store, auth *authStack, log *slog.Logger) (*restapi.API, error) {
	clientIP, err := httpx.ClientIP(cfg.HTTP.TrustedProxies)
	if err != nil {
		return nil, err
	}
	key, err := sessionKey(cfg)
	if err != nil {
		return nil, err
	}
	return restapi.New(restapi.Deps{
		Store:      store,
		Identity:   auth.identity,
		Settings:   auth.settings,
		SessionKey: key,
		ClientIP:   clientIP,
		System:     restapi.SystemInfo{Version: version(), ExternalURL: cfg.ExternalURL},
	}, log), nil
}

// sessionKey derives the key signing portal sessions from the token
// signing key, which every replica already shares (newAuth has loaded or
// generated it by now).
func sessionKey(cfg config.Config) ([]byte, error) {
	var (
		key crypto.Signer
		err error
	)
	if cfg.Auth.TokenKeyFile != "" {
		key, err = tokenauth.LoadKey(cfg.Auth.TokenKeyFile)
	} else {
		key, _, err = tokenauth.LoadOrCreateKey(cfg.DataDir)
	}
	if err != nil {
		return nil, fmt.Errorf("session key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("session key: %w", err)
	}
	m := hmac.New(sha256.New, der)
	m.Write([]byte("berth portal session key v1"))
	return m.Sum(nil), nil
}

// version is Berth's module version, or "dev".
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
