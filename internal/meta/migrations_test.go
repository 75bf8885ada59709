package meta_test

import (
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

// TestSchedulesTableDropped: migration 00004 removes the unused schedules
// table (River's leader schedules periodic jobs) on both engines.
func TestSchedulesTableDropped(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		q := "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schedules'"
		if s.Dialect() == "sqlite" {
			q = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schedules'"
		}
		var n int
		if err := s.DB().QueryRowContext(t.Context(), q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("schedules table still exists after migrating")
		}
	})
}

// TestOpenSQLiteConn: the job queue's SQLite handle holds one connection
// and uses the store's settings (WAL, busy timeout).
func TestOpenSQLiteConn(t *testing.T) {
	db, err := meta.OpenSQLiteConn(t.Context(), "sqlite://"+filepath.Join(t.TempDir(), "sub", "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if got := db.Stats().MaxOpenConnections; got != 1 {
		t.Errorf("MaxOpenConnections = %d, want 1", got)
	}
	var mode string
	var busy int
	if err := db.QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(t.Context(), "PRAGMA busy_timeout").Scan(&busy); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" || busy < 1000 {
		t.Errorf("journal_mode = %q, busy_timeout = %d ms; want wal and at least 1000", mode, busy)
	}
	if _, err := meta.OpenSQLiteConn(t.Context(), "postgres://x/y"); err == nil {
		t.Error("OpenSQLiteConn accepted a postgres URL")
	}
}
