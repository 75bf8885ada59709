// Package metatest owns the test fixtures for the metadata store: a
// migrated SQLite store in a temporary directory, a migrated store on a
// fresh PostgreSQL database, and ForEachEngine to run one test body on
// both. PostgreSQL comes from BERTH_TEST_POSTGRES (see testenv.Require).
package metatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/testenv"
)

// PostgresEnv names the environment variable holding the DSN of a
// PostgreSQL server the tests may create databases on, e.g.
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable.
const PostgresEnv = "BERTH_TEST_POSTGRES"

const setupTimeout = 30 * time.Second

// ForEachEngine runs fn as the subtests "sqlite" and "postgres", each with
// a fresh, migrated store.
func ForEachEngine(t *testing.T, fn func(t *testing.T, s *meta.Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, OpenSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, OpenPostgres(t)) })
}

// OpenSQLite returns a migrated store on a new SQLite file in a temporary
// directory, closed when the test ends.
func OpenSQLite(t testing.TB) *meta.Store {
	t.Helper()
	return open(t, "sqlite://"+filepath.Join(t.TempDir(), "berth.db"))
}

// OpenPostgres returns a migrated store on a new database berth_<random>
// on the server named by BERTH_TEST_POSTGRES, dropped when the test ends.
// The database collates with ICU en-US where the server supports it, so
// that code relying on the default collation instead of byte order fails.
// Without BERTH_TEST_POSTGRES the test is skipped, or fails under CI.
func OpenPostgres(t testing.TB) *meta.Store {
	t.Helper()
	return open(t, PostgresDSN(t))
}

// PostgresDSN creates a new, empty database as OpenPostgres does (dropped
// when the test ends) and returns its DSN, for tests that run a whole server.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := testenv.Require(t, PostgresEnv)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s does not parse as a URL", PostgresEnv)
	}
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()

	name := "berth_" + randomSuffix(t)
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", PostgresEnv, err)
	}
	defer admin.Close(context.Background())
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+ident+
		" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"); err != nil {
		t.Logf("create ICU database (falling back to the server default collation): %v", err)
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
			t.Fatalf("create database %s: %v", name, err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})

	u.Path = "/" + name
	return u.String()
}

func open(t testing.TB, dsn string) *meta.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	s, err := meta.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("meta.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return s
}

func randomSuffix(t testing.TB) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
