package app

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"
)

// In-process caches of the hot path (docs/benchmarks.md, "Caches and
// staleness"): how long an entry may be used after a change made on
// another replica. Changes made through this replica's API take effect at
// once (changeCounter).
const (
	loginCacheTTL   = 10 * time.Second // Basic logins (identity)
	projectCacheTTL = 10 * time.Second // project id and visibility (access)
	// The tag and manifest cache (registry) is on only with SQLite, where
	// no other replica writes; entries are fresh for a minute (jobs that
	// delete rows directly are seen within it) and it holds at most
	// localCacheBytes.
	localCacheTTL   = time.Minute
	localCacheBytes = 16 << 20
)

// changeCounter moves after every request that may change something
// outside the registry's own data (accounts, members, projects, robots,
// settings: every method but GET, HEAD and OPTIONS outside /v2/), so that
// the login and project caches drop what they hold.
type changeCounter struct{ n atomic.Uint64 }

func (c *changeCounter) load() uint64 { return c.n.Load() }

func (c *changeCounter) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions,
			r.URL.Path == "/v2" || strings.HasPrefix(r.URL.Path, "/v2/"):
			next.ServeHTTP(w, r)
			return
		}
		// After the change is written: a login or project read meanwhile
		// was cached under the old count and is dropped.
		defer c.n.Add(1)
		next.ServeHTTP(w, r)
	})
}

// serveDebug starts the opt-in profiling listener on addr (a bare :port
// binds loopback) until ctx ends. It never shares the main listener.
func serveDebug(ctx context.Context, addr string, log *slog.Logger) error {
	if strings.HasPrefix(addr, ":") {
		addr = "127.0.0.1" + addr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if host, _, _ := net.SplitHostPort(ln.Addr().String()); !net.ParseIP(host).IsLoopback() {
		log.WarnContext(ctx, "profiling listener is reachable beyond loopback", "addr", ln.Addr().String())
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("profiling listener", "err", err)
		}
	}()
	log.InfoContext(ctx, "profiling listener on", "addr", ln.Addr().String())
	return nil
}

// releaseStartMemory hands the heap that start-up used and freed (the
// first password hash, migrations, settings) back to the system, so that
// an idle Berth is as small as it can be.
func releaseStartMemory() { debug.FreeOSMemory() }
