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
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/cache"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/content"
	"github.com/berth-registry/berth/internal/distapi"
	"github.com/berth-registry/berth/internal/gc"
	"github.com/berth-registry/berth/internal/httpx"
	"github.com/berth-registry/berth/internal/immutable"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/observe"
	"github.com/berth-registry/berth/internal/pulls"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/storage"
	"github.com/berth-registry/berth/internal/storage/filesystem"
	"github.com/berth-registry/berth/internal/storage/s3"
	"github.com/berth-registry/berth/internal/version"
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
	if err := jobs.Migrate(ctx, cfg.Database.URL, log); err != nil {
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
	store.GC.SetGrace(cfg.GC.Grace)
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
	// Every line logged while serving a request names it (request_id).
	log = slog.New(httpx.LogHandler(log.Handler()))
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

	// One audit writer for every edge.
	auditLog := audit.NewWriter(audit.Stores{Log: store.Audit, Projects: store.Projects}, log)
	defer auditLog.Close() // after the server has stopped: writes what is queued
	changes := &changeCounter{}
	auth, err := newAuth(ctx, cfg, store, auditLog, log, changes.load)
	if err != nil {
		return err
	}
	sup, err := newSupply(ctx, cfg, store, log) // after newAuth: its keyring derives from the session key
	if err != nil {
		return err
	}
	defer sup.Close() // after the server has stopped: writes the queued pull events
	sup.changes = changes.load
	sup.pullWatch.start(ctx, changes.load)
	sup.setAuth(auth)
	metrics := observe.NewMetrics()
	blobs := content.New(content.Stores{Blobs: store.Blobs, Uploads: store.Uploads, Tx: store, Quotas: store.Quotas}, drv, log).WithLimits(content.Limits{
		UploadsPerRepository: cfg.Uploads.MaxPerRepository, UploadsPerAccount: cfg.Uploads.MaxPerAccount,
	})
	reg := registry.New(registry.Stores{Repos: store.Repos, Manifests: store.Manifests, Tx: store,
		Immutable: immutable.NewChecker(store.Immutable)}, regCache, log)
	if store.Dialect() == "sqlite" { // no other replica writes (perf.go)
		reg.WithLocalCache(localCacheBytes, localCacheTTL)
	} else { // only for pulls through a database outage
		reg.WithLocalCache(localCacheBytes, 0)
	}
	sup.withContent(blobs, reg)
	pullCounts := pulls.New(store.Pulls, log, pulls.Options{}) // run below (pulls.go)
	replQueue := &lateQueue{}
	repl, err := newReplication(ctx, cfg, store, auth, auditLog, replQueue, log)
	if err != nil {
		return err
	}
	metrics.Register(repl.Metrics().Collectors()...)
	if err := subscribeReplication(ctx, sup.dispatcher, repl); err != nil {
		return err
	}

	api := distapi.New(blobs, reg, log, distapi.Options{
		OnUploadFinished: metrics.ObserveUpload, Auth: auth.gate, TokenRealm: auth.realm,
		ExternalURL: strings.TrimRight(cfg.ExternalURL, "/"),
		OnEvent:     countPulls(sup.onRegistryEvent(registryEvents(auditLog)), pullCounts), ClientIP: auth.clientIP, ReadOnly: auth.settings,
		UploadTimeout: cfg.HTTP.ReadTimeout, DownloadTimeout: cfg.HTTP.WriteTimeout,
		Proxy:      newProxy(cfg, repl, blobs, reg, log),
		PullPolicy: sup.pullPolicy(blobs),
	})

	gcMetrics := gc.NewMetrics(store.GC)
	metrics.Register(gcMetrics.Collectors()...)
	metrics.Register(newQuotaCollector(store.Quotas))
	metrics.Register(newBackupCollector(store.Backups))
	collector := gc.New(store.GC, drv, auth.settings, gcMetrics, log)
	trigger := &gcTrigger{store: store.GC}

	ret := newRetention(store, reg, blobs, auth.settings, auditLog, log)
	rest, err := newRESTAPI(cfg, store, reg, blobs, drv, auth, auditLog, trigger, ret, log, repl, sup)
	if err != nil {
		return err
	}
	portal, err := newWebUI(cfg, store, reg, blobs, drv, auth, auditLog, ret, log, repl)
	if err != nil {
		return err
	}
	portal.SetGC(trigger) // the GC page (webui/gc.go)

	backupJob, err := backupJobs(cfg, store, drv, log)
	if err != nil {
		return err
	}
	jobKinds := jobList(cfg, blobs, collector, store.GC, gcWorkers(store.Dialect()), log)
	jobKinds = append(jobKinds, lifecycleJobs(cfg, store, reg, log)...)                              // untagged.go
	jobKinds = append(jobKinds, retentionJobs(ret)...)                                               // retention.go
	jobKinds = append(jobKinds, eventJobs(sup.dispatcher, store.Events, sup.webhooks, sup.scans)...) // supply.go
	jobKinds = append(jobKinds, sup.scanAll.jobs()...)                                               // scanall.go
	jobKinds = append(jobKinds, replicationJobs(repl)...)                                            // replication.go
	jobKinds = append(jobKinds, backupJob...)                                                        // backup.go
	queue, err := jobs.Open(ctx, cfg.Database.URL, log, jobs.Options{
		Jobs:        jobKinds,
		StopTimeout: cfg.HTTP.ShutdownTimeout,
	})
	if err != nil {
		return err
	}
	defer queue.Close()   // after the queue has stopped (deferred below)
	trigger.queue = queue // before the server starts: no request sees it unset
	ret.SetQueue(queue)
	replQueue.q = queue
	sup.setQueue(queue)

	// A slow client holds a connection at most these long; blob streams
	// move their deadlines forward as they progress (distapi).
	srv := &http.Server{
		Handler:           changes.middleware(routes(api, auth.token, rest, portal, metrics, store, drv, log)),
		ReadHeaderTimeout: min(cfg.HTTP.ReadTimeout, 30*time.Second),
		ReadTimeout:       cfg.HTTP.ReadTimeout,
		WriteTimeout:      cfg.HTTP.WriteTimeout,
		IdleTimeout:       cfg.HTTP.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if cfg.Debug.Addr != "" {
		if err := serveDebug(ctx, cfg.Debug.Addr, log); err != nil {
			return fmt.Errorf("debug listener: %w", err)
		}
	}
	tlsSrv, err := newTLS(cfg, store, cfg.HTTP.Addr, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.InfoContext(ctx, "berth listening", "version", version.String(), "addr", ln.Addr().String(), "tls", tlsSrv != nil, "database", redactDSN(cfg.Database.URL), "storage", cfg.Storage.Type)
	repl.SetLocal(loopbackURL(ln.Addr(), tlsSrv != nil), store.Manifests)
	sup.listening(cfg, ln.Addr(), tlsSrv != nil)
	if ready != nil {
		ready(ln.Addr())
	}

	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	jobsDone := make(chan error, 1)
	sup.dispatcher.Bind(bg) // stops polling the outbox at shutdown
	go func() { jobsDone <- queue.Run(bg) }()
	defer func() { // after the server has stopped: running jobs get their grace
		stopBG()
		if err := <-jobsDone; err != nil {
			log.Warn("background jobs", "err", err)
		}
	}()

	// Pull counts: flushed every few seconds, and once more after the
	// server has stopped (this defer runs before the store closes).
	pullsDone := make(chan struct{})
	go func() { pullCounts.Run(bg); close(pullsDone) }()
	defer func() { stopBG(); <-pullsDone }()

	served := make(chan error, 1)
	go func() { served <- tlsSrv.serve(ctx, srv, ln, log) }()
	releaseStartMemory()
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

func routes(api *distapi.API, token, rest, portal http.Handler, m *observe.Metrics, store *meta.Store, drv storage.Driver, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/v2/", api)
	mux.Handle("/v2", api)
	mux.Handle("/service/token", tokenRoute(token))
	mux.Handle("/api/v2.0/", rest)
	mux.Handle("/c/", rest)
	mux.Handle("/", portal) // the web portal: every other path
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

	// /v2/ is dispatched before the mux, which would answer a path with
	// "." or ".." segments (or "//") with a redirect to its cleaned form:
	// the API refuses such names with NAME_INVALID instead.
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2" || strings.HasPrefix(r.URL.Path, "/v2/") {
			api.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
	h = httpx.Recover(log)(h)
	h = httpx.Track(func(r *http.Request, rec *httpx.Record) {
		httpx.AccessLog(log, r, rec)
		m.ObserveRequest(r, rec)
	})(h)
	return h
}

// redactDSN hides a password in a database URL for logs.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparseable)"
	}
	return u.Redacted()
}
