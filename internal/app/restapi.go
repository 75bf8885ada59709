package app

import (
	"bytes"
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/content"
	"github.com/berth-registry/berth/internal/httpx"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/project"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/repository"
	"github.com/berth-registry/berth/internal/restapi"
	"github.com/berth-registry/berth/internal/storage"
	"github.com/berth-registry/berth/internal/tokenauth"
	"github.com/berth-registry/berth/internal/version"
)

// newRESTAPI builds the /api/v2.0/ and /c/ edge over the project and
// repository services; rec is the server's one audit writer.
func newRESTAPI(cfg config.Config, store *meta.Store, reg *registry.Service, blobs *content.Service, drv storage.Driver, auth *authStack, rec audit.Recorder, gcs restapi.GCService, ret restapi.RetentionService, log *slog.Logger, repl restapi.ReplicationService, sup *supply) (*restapi.API, error) {
	clientIP, err := httpx.ClientIP(cfg.HTTP.TrustedProxies)
	if err != nil {
		return nil, err
	}
	key, err := sessionKey(cfg)
	if err != nil {
		return nil, err
	}
	projects := project.New(project.Stores{Projects: store.Projects, Repos: store.Repos}, auth.settings, rec, log)
	repos := repository.New(repository.Stores{Repos: store.Repos, Manifests: store.Manifests}, reg, blobs, rec, log)
	return restapi.New(restapi.Deps{
		DB:             store,
		Projects:       store.Projects,
		Repos:          store.Repos,
		Manifests:      store.Manifests,
		Users:          store.Users,
		Robots:         store.Robots,
		AuditLog:       store.Audit,
		Audit:          rec,
		Configs:        store.Settings,
		Identity:       auth.identity,
		Settings:       auth.settings,
		ProjectService: projects,
		Repositories:   repos,
		Storage:        storageProbe{drv},
		SessionKey:     key,
		GC:             gcs,
		Quotas:         store.Quotas,
		Labels:         store.Labels,
		Pulls:          store.Pulls,
		Immutable:      store.Immutable,
		Untagged:       store.Untagged,
		Retention:      ret,
		Replication:    repl,
		Backups:        backupService{store: store.Backups, location: cfg.Backup.Location},
		Webhooks:       sup.webhookStore, // auth headers sealed at rest
		Policies:       store.Policies,
		Scans:          sup.scanStore, // credentials sealed at rest
		ScanService:    sup.scans,
		ScanAll:        sup.scanAll,
		ClientIP:       clientIP,
		System: restapi.SystemInfo{Version: version.String(), ExternalURL: cfg.ExternalURL,
			StorageProvider: storageProvider(cfg.Storage.Type)},
	}, log), nil
}

// storageProbe checks that the storage driver answers (as /readyz does).
type storageProbe struct{ drv storage.Driver }

// Probe stats a key that never exists: not found means the driver answered.
func (p storageProbe) Probe(ctx context.Context) error {
	if _, err := p.drv.Stat(ctx, "readyz-probe"); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	return nil
}

func storageProvider(typ string) string {
	if typ == "" {
		return "filesystem"
	}
	return typ
}

// sessionKey derives the key signing portal sessions from the configured
// secret key file or else from the token signing key, which every replica
// already shares (newAuth has loaded or generated it by now).
func sessionKey(cfg config.Config) ([]byte, error) {
	if cfg.Auth.SecretKeyFile != "" {
		secret, err := os.ReadFile(cfg.Auth.SecretKeyFile)
		if err != nil {
			return nil, fmt.Errorf("session key: %w", err)
		}
		if len(bytes.TrimSpace(secret)) < 32 {
			return nil, fmt.Errorf("session key: %s holds fewer than 32 bytes", cfg.Auth.SecretKeyFile)
		}
		m := hmac.New(sha256.New, bytes.TrimSpace(secret))
		m.Write([]byte("berth portal session key v1"))
		return m.Sum(nil), nil
	}
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
