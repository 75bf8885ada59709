// Package app is Berth's composition root: it turns a config.Config into
// a metadata store, a storage driver, the domain services and the HTTP
// edges, and runs them until the context ends. It is the only package that
// imports the concrete drivers.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/berth-registry/berth/internal/cache"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/content"
	"github.com/berth-registry/berth/internal/distapi"
	"github.com/berth-registry/berth/internal/httpx"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/observe"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/storage"
	"github.com/berth-registry/berth/internal/storage/filesystem"
	"github.com/berth-registry/berth/internal/storage/s3"
)

// Migrate brings the metadata database to the current schema.
func Migrate(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	store, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := jobs.Migrate(ctx, store, log); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	log.InfoContext(ctx, "database migrated")
	return nil
}

func openStore(ctx context.Context, cfg config.Config) (*meta.Store, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	store, err := meta.Open(ctx, cfg.Database.URL)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	return store, nil
}

func openStorage(ctx context.Context, c config.Storage) (storage.Driver, error) {
	switch c.Type {
	case "", "filesystem":
		d, err := filesystem.New(c.Filesystem.RootDirectory)
		if err != nil {
			return nil, fmt.Errorf("filesystem storage: %w", err)
		}
		return d, nil
	case "s3":
		d, err := s3.New(ctx, s3.Config(c.S3))
		if err != nil {
			return nil, err
		}
		// Name the classic misconfigurations now, not at the first push.
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := d.Check(cctx); err != nil {
			return nil, err
		}
		return d, nil
	default:
		return nil, fmt.Errorf("storage.type %q: want filesystem or s3", c.Type)
	}
}

// Serve runs Berth until ctx ends, then shuts down gracefully: the listener
// closes and in-flight requests get cfg.HTTP.ShutdownTimeout to finish.
// ready, if not nil, receives the bound address once the server listens.
func Serve(ctx context.Context, cfg config.Config, log *slog.Logger, ready func(addr net.Addr)) error {
	store, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	drv, err := openStorage(ctx, cfg.Storage)
	if err != nil {
		return err
	}

	var regCache registry.Cache
	if cfg.Redis.URL != "" {
		rc, err := cache.OpenRedis(cfg.Redis.URL, log)
		if err != nil {
			return err
		}
		defer rc.Close()
		if err := rc.Ping(ctx); err != nil {
			log.WarnContext(ctx, "redis cache unavailable at start, serving uncached until it answers", "err", err)
		}
		regCache = rc
	}

	auth, err := newAuth(ctx, cfg, store, log)
	if err != nil {
		return err
	}
	metrics := observe.NewMetrics()
	blobs := content.New(content.Stores{Blobs: store.Blobs, Uploads: store.Uploads, Tx: store}, drv, log)
	audit := newAuditWriter(store.Audit, log)
	defer audit.Close() // after the server has stopped: writes what is queued
	reg := registry.New(registry.Stores{Repos: store.Repos, Manifests: store.Manifests, Tx: store}, regCache, log)
	api := distapi.New(blobs, reg, log, distapi.Options{
		OnUploadFinished: metrics.ObserveUpload, Auth: auth.gate, TokenRealm: auth.realm,
		OnEvent: audit.OnEvent, ClientIP: auth.clientIP, ReadOnly: auth.settings,
	})

	rest, err := newRESTAPI(cfg, store, reg, drv, auth, log)
	if err != nil {
		return err
	}

	queue, err := jobs.Open(ctx, store, log, jobs.Options{
		PurgeUploads: purgeUploads(blobs, cfg.Uploads, log),
		PurgeEvery:   cfg.Uploads.PurgeInterval,
		StopTimeout:  cfg.HTTP.ShutdownTimeout,
	})
	if err != nil {
		return err
	}

	srv := &http.Server{
		Handler:           routes(api, auth.token, rest, metrics, store, drv, log),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.InfoContext(ctx, "berth listening", "addr", ln.Addr().String(), "database", redactDSN(cfg.Database.URL), "storage", cfg.Storage.Type)
	if ready != nil {
		ready(ln.Addr())
	}

	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	jobsDone := make(chan error, 1)
	go func() { jobsDone <- queue.Run(bg) }()
	defer func() { // after the server has stopped: running jobs get their grace
		stopBG()
		if err := <-jobsDone; err != nil {
			log.Warn("background jobs", "err", err)
		}
	}()

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "grace", cfg.HTTP.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

func routes(api *distapi.API, token, rest http.Handler, m *observe.Metrics, store *meta.Store, drv storage.Driver, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/v2/", api)
	mux.Handle("/v2", api)
	mux.Handle("/service/token", tokenRoute(token))
	mux.Handle("/api/v2.0/", rest)
	mux.Handle("/c/", rest)
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) {
		httpx.SetRoute(r.Context(), "livez")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		httpx.SetRoute(r.Context(), "readyz")
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := store.Ping(ctx); err != nil {
			log.WarnContext(ctx, "not ready", "dependency", "database", "err", err)
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		if _, err := drv.Stat(ctx, "readyz-probe"); err != nil && !errors.Is(err, storage.ErrNotFound) {
			log.WarnContext(ctx, "not ready", "dependency", "storage", "err", err)
			http.Error(w, "storage unavailable", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})

	var h http.Handler = mux
	h = httpx.Recover(log)(h)
	h = httpx.Track(func(r *http.Request, rec *httpx.Record) {
		httpx.AccessLog(log, r, rec)
		m.ObserveRequest(r, rec)
	})(h)
	return h
}

// purgeUploads discards expired upload sessions in bounded batches; the
// jobs package runs it once per interval across the cluster.
func purgeUploads(blobs *content.Service, c config.Uploads, log *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		for range 10 { // at most 10 batches of 100 per run
			n, err := blobs.ExpireUploads(ctx, c.TTL, 100)
			if err != nil {
				return err
			}
			if n > 0 {
				log.InfoContext(ctx, "purged expired uploads", "count", n)
			}
			if n < 100 {
				return nil
			}
		}
		return nil
	}
}

// redactDSN hides a password in a database URL for logs.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparseable)"
	}
	return u.Redacted()
}
