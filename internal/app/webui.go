package app

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/content"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/project"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/replication"
	"github.com/berth-registry/berth/internal/repository"
	"github.com/berth-registry/berth/internal/retention"
	"github.com/berth-registry/berth/internal/signature"
	"github.com/berth-registry/berth/internal/storage"
	"github.com/berth-registry/berth/internal/version"
	"github.com/berth-registry/berth/internal/websession"
	"github.com/berth-registry/berth/internal/webui"
)

// newWebUI builds the portal served at /, over the same services, session
// key and audit writer as the REST API.
func newWebUI(cfg config.Config, store *meta.Store, reg *registry.Service, blobs *content.Service, drv storage.Driver, auth *authStack, rec audit.Recorder, ret *retention.Service, log *slog.Logger, repl *replication.Service) (*webui.UI, error) {
	key, err := sessionKey(cfg)
	if err != nil {
		return nil, err
	}
	sessions := websession.New(auth.identity, websession.Options{Key: key, ExternalURL: cfg.ExternalURL,
		ClientIP: auth.clientIP, Audit: rec})
	return webui.New(webui.Deps{
		Sessions:       sessions,
		Projects:       store.Projects,
		Repos:          store.Repos,
		Manifests:      store.Manifests,
		Users:          store.Users,
		Robots:         store.Robots,
		AuditLog:       store.Audit,
		ProjectService: project.New(project.Stores{Projects: store.Projects, Repos: store.Repos}, auth.settings, rec, log),
		Repositories:   repository.New(repository.Stores{Repos: store.Repos, Manifests: store.Manifests}, reg, blobs, rec, log),
		Blobs:          blobs,
		Identity:       auth.identity,
		Settings:       auth.settings,
		Audit:          rec,
		Retention:      ret,
		ClientIP:       auth.clientIP,
		ExternalURL:    cfg.ExternalURL,
		Health: func(ctx context.Context) map[string]error {
			ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			out := map[string]error{"database": store.Ping(ctx), "storage": nil}
			if _, err := drv.Stat(ctx, "readyz-probe"); err != nil && !errors.Is(err, storage.ErrNotFound) {
				out["storage"] = err
			}
			return out
		},
		System: webui.SystemInfo{Version: version.String(), Database: databaseKind(cfg.Database.URL),
			Storage: storageProvider(cfg.Storage.Type)},
		Quotas:    store.Quotas,
		Immutable: store.Immutable,
		Labels:    store.Labels,
		Pulls:     store.Pulls,
		// Supply chain (webui/security.go): scan reports only (scanner
		// credentials are never read here), signature status, pull
		// policies, webhook addresses (auth headers are never shown).
		Scans:      store.Scans,
		Signatures: signature.New(store.Projects, store.Manifests, blobs, store.Policies),
		Policies:   store.Policies,
		Webhooks:   store.Webhooks,

		Replication: repl, // registries, replication, proxy-cache option
	}, log)
}

// databaseKind names the metadata database of a URL.
func databaseKind(dsn string) string {
	if strings.HasPrefix(dsn, "postgres") {
		return "postgres"
	}
	return "sqlite"
}
