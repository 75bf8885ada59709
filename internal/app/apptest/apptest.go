// Package apptest runs the real wiring root, app.Serve, for handler tests:
// one server per test on a free loopback port, on {SQLite + filesystem} or
// {PostgreSQL + SeaweedFS S3}, with an HTTP client and the few requests
// most tests need (log in, push an image, call the REST API).
//
// PostgreSQL comes from BERTH_TEST_POSTGRES (metatest.PostgresDSN), S3 from
// BERTH_TEST_S3 (http://KEY:SECRET@host:port/bucket); without them the
// PostgreSQL + S3 run is skipped, or fails under the testenv rule.
// It is imported by tests only, never by production code.
package apptest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/app"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/internal/testenv"
)

// S3Env names the environment variable holding the S3 server the
// PostgreSQL + S3 configuration stores blobs in.
const S3Env = "BERTH_TEST_S3"

// AdminPassword is the administrator's password on every test server.
const AdminPassword = "Admin-test-12345"

const (
	startTimeout = 60 * time.Second
	stopTimeout  = 30 * time.Second
	// logTail is how much of the server's log a failed test prints.
	logTail = 16 << 10
)

// Option adjusts the configuration of a test server before it starts
// (limits, timeouts, settings), after the harness has filled in the
// data directory, database and storage.
type Option func(*config.Config)

// Server is one running app.Serve.
type Server struct {
	// Name is the configuration: "sqlite-fs" or "postgres-s3".
	Name string
	// URL is the base URL, http://127.0.0.1:PORT, without a trailing slash.
	URL string
	// Addr is the listening host:port.
	Addr string
	// Client talks to the server; it follows redirects (a presigned S3
	// URL included) and gives up on a request after a minute.
	Client *http.Client
	// Config is what Serve was started with.
	Config config.Config

	log *lockedBuffer

	mu    sync.Mutex
	store *meta.Store
}

// ForEachConfig runs fn as the subtests "sqlite-fs" and "postgres-s3",
// each with a server of its own. The two run in parallel (each server
// waits on its database more than it computes), so fn must not share
// state with the calling test beyond what it only reads.
func ForEachConfig(t *testing.T, fn func(t *testing.T, srv *Server), opts ...Option) {
	t.Helper()
	t.Run("sqlite-fs", func(t *testing.T) {
		t.Parallel()
		fn(t, Start(t, opts...))
	})
	t.Run("postgres-s3", func(t *testing.T) {
		t.Parallel()
		fn(t, StartPostgresS3(t, opts...))
	})
}

// Start runs a server with the default configuration: SQLite and
// filesystem blobs in a temporary data directory. It stops when the test
// ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	return start(t, "sqlite-fs", baseConfig(t), opts)
}

// StartPostgresS3 runs a server on a fresh PostgreSQL database and a fresh
// key prefix (rootdirectory) in the S3 bucket, with a token key file as
// PostgreSQL requires. Blob GETs stream through Berth
// (disableredirect), so answers compare with the filesystem's; an Option
// may turn redirects back on.
func StartPostgresS3(t testing.TB, opts ...Option) *Server {
	t.Helper()
	return start(t, "postgres-s3", PostgresS3Config(t), opts)
}

// PostgresS3Config is the configuration StartPostgresS3 runs: a fresh
// PostgreSQL database and a fresh key prefix in the S3 bucket, for tests
// that prepare them (a restore) before starting a server with StartConfig.
func PostgresS3Config(t testing.TB) config.Config {
	t.Helper()
	u, err := url.Parse(testenv.Require(t, S3Env))
	if err != nil || u.User == nil || strings.Trim(u.Path, "/") == "" {
		t.Fatalf("%s: want http://KEY:SECRET@host:port/bucket", S3Env)
	}
	dsn := metatest.PostgresDSN(t)
	cfg := baseConfig(t)
	secret, _ := u.User.Password()
	cfg.Database.URL = dsn
	cfg.Auth.TokenKeyFile = writeTokenKey(t)
	cfg.Storage.Type = "s3"
	cfg.Storage.Filesystem.RootDirectory = ""
	cfg.Storage.S3.RegionEndpoint = u.Scheme + "://" + u.Host
	cfg.Storage.S3.Bucket = strings.Trim(u.Path, "/")
	cfg.Storage.S3.AccessKey = u.User.Username()
	cfg.Storage.S3.SecretKey = secret
	cfg.Storage.S3.Region = "us-east-1"
	cfg.Storage.S3.ForcePathStyle = true
	cfg.Storage.S3.RootDirectory = "apptest-" + randomHex(t, 6)
	cfg.Storage.S3.DisableRedirect = true
	return cfg
}

// SQLiteConfig is the configuration Start runs (SQLite and filesystem in
// a fresh data directory), for StartConfig.
func SQLiteConfig(t testing.TB) config.Config {
	t.Helper()
	return baseConfig(t)
}

// StartConfig runs a server on cfg (from SQLiteConfig or
// PostgresS3Config, possibly prepared by the test); name labels it.
func StartConfig(t testing.TB, name string, cfg config.Config, opts ...Option) *Server {
	t.Helper()
	return start(t, name, cfg, opts)
}

// baseConfig is config.Load's defaults with a temporary data directory, a
// free loopback port and the administrator's password.
func baseConfig(t testing.TB) config.Config {
	t.Helper()
	env := map[string]string{
		"BERTH_HTTP_ADDR":        "127.0.0.1:0",
		"BERTH_DATA_DIR":         t.TempDir(),
		"BERTH_ADMIN_PASSWORD":   AdminPassword,
		"BERTH_SHUTDOWN_TIMEOUT": "10s",
		// Test webhook receivers listen on loopback, refused by default.
		"BERTH_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
	}
	cfg, err := config.Load("", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func start(t testing.TB, name string, cfg config.Config, opts []Option) *Server {
	t.Helper()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test configuration: %v", err)
	}
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))

	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- app.Serve(ctx, cfg, log, func(a net.Addr) { addrc <- a.String() })
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		cancel()
		t.Fatalf("app.Serve (%s): %v\n%s", name, err, logs.tail(logTail))
	case <-time.After(startTimeout):
		cancel()
		t.Fatalf("app.Serve (%s) did not listen within %s\n%s", name, startTimeout, logs.tail(logTail))
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	s := &Server{
		Name: name, URL: "http://" + addr, Addr: addr, Config: cfg, log: logs,
		Client: &http.Client{Transport: tr, Timeout: time.Minute},
	}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("app.Serve (%s) returned %v", name, err)
			}
		case <-time.After(stopTimeout):
			t.Errorf("app.Serve (%s) did not return within %s of its context ending", name, stopTimeout)
		}
		if t.Failed() {
			t.Logf("server log (%s, last %d bytes):\n%s", name, logTail, logs.tail(logTail))
		}
	})
	return s
}

// Store is a second handle on the server's database, for tests that seed
// rows the API cannot make or check what a request stored. The server
// caches settings for a few seconds and writes audit entries
// asynchronously: change settings through the API, and poll for audit
// entries. The handle is closed when the test ends.
func (s *Server) Store(t testing.TB) *meta.Store {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.store != nil {
		return s.store
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	st, err := meta.Open(ctx, s.Config.Database.URL)
	if err != nil {
		t.Fatalf("open the server's database: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	s.store = st
	return st
}

// writeTokenKey writes a new ECDSA P-256 key in PEM to a temporary file
// and returns its path (the token key every PostgreSQL replica shares).
func writeTokenKey(t testing.TB) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "token-key.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// lockedBuffer collects the server's log.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.buf.Bytes()
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return string(out)
}

// Logs returns everything the server has logged so far (tests check
// that a secret never appears in it).
func (s *Server) Logs() string { return s.log.tail(1 << 30) }
