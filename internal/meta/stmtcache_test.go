package meta_test

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/meta"
)

// TestStatementCache: on SQLite, statements run in transactions are
// prepared once and reused by later transactions (the cache does not grow
// when the same work runs again), their results are right, and a
// statement that does not parse fails as it did unprepared.
func TestStatementCache(t *testing.T) {
	ctx := t.Context()
	s, err := meta.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "berth.db"))
	check(t, err)
	defer s.Close()
	check(t, s.Migrate(ctx))
	work := func(i int) {
		t.Helper()
		check(t, s.InTx(ctx, func(tx *meta.Store) error {
			_, err := tx.Repos.EnsureRepository(ctx, "lib/s"+strconv.Itoa(i))
			return err
		}))
	}
	work(0)
	after := meta.CachedStatements(s)
	if after <= 0 {
		t.Fatalf("%d statements cached after a transaction, want some", after)
	}
	for i := 1; i < 20; i++ {
		work(i)
	}
	if got := meta.CachedStatements(s); got != after {
		t.Fatalf("cache grew from %d to %d statements running the same work again", after, got)
	}
	for i := range 20 {
		if _, err := s.Repos.GetRepository(ctx, "lib/s"+strconv.Itoa(i)); err != nil {
			t.Fatalf("repository %d: %v", i, err)
		}
	}
	err = s.InTx(ctx, func(tx *meta.Store) error {
		_, err := meta.ExecInTx(ctx, tx, "INSERT INTO no_such_table VALUES (1)")
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "no_such_table") {
		t.Fatalf("bad statement: %v, want its error", err)
	}
	if got := meta.CachedStatements(s); got != after {
		t.Fatalf("a statement that does not parse was cached (%d, was %d)", got, after)
	}
}
