package meta_test

import (
	"errors"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
)

// TestGroupCommit: on SQLite, concurrent transactions share the fsyncs of
// the WAL (fewer fsyncs than commits), no InTx returns before an fsync
// that started after its commit, every row is there after reopening, and
// a failed fsync fails the InTx that waited for it.
func TestGroupCommit(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "berth.db")
	s, err := meta.Open(ctx, "sqlite://"+path)
	check(t, err)
	check(t, s.Migrate(ctx))
	var started atomic.Uint64 // commits counted when the latest fsync started
	var fail atomic.Bool
	var stats func() (uint64, uint64, uint64)
	stats, ok := meta.HookWALSync(s, func(p string) error {
		if filepath.Base(p) != "berth.db-wal" {
			t.Errorf("fsync of %s, want the WAL", p)
		}
		c, _, _ := stats()
		started.Store(c)
		time.Sleep(3 * time.Millisecond) // a slow disk: commits pile up behind it
		if fail.Load() {
			return errors.New("disk gone")
		}
		return meta.SyncFile(p)
	})
	if !ok {
		t.Fatal("no group commit on SQLite")
	}
	c0, s0, _ := stats()

	const n = 48
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			before, _, _ := stats()
			err := s.InTx(ctx, func(tx *meta.Store) error {
				_, err := tx.Repos.EnsureRepository(ctx, "lib/g"+strconv.Itoa(i))
				return err
			})
			// This commit's number is above before, so the fsync that
			// acknowledged it started after more than before commits.
			if _, _, synced := stats(); err == nil && (synced <= before || started.Load() <= before) {
				err = errors.New("InTx returned before an fsync that started after its commit")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		check(t, err)
	}
	commits, syncs, synced := stats()
	if commits-c0 != n {
		t.Fatalf("%d commits counted, want %d", commits-c0, n)
	}
	if synced != commits {
		t.Fatalf("%d of %d commits synced after every InTx returned", synced, commits)
	}
	if syncs-s0 >= n {
		t.Fatalf("%d fsyncs for %d concurrent commits: no commit shared one", syncs-s0, n)
	}
	t.Logf("%d concurrent commits, %d fsyncs", n, syncs-s0)

	fail.Store(true)
	err = s.InTx(ctx, func(tx *meta.Store) error {
		_, err := tx.Repos.EnsureRepository(ctx, "lib/after-failure")
		return err
	})
	if err == nil {
		t.Fatal("InTx returned nil although its fsync failed")
	}
	fail.Store(false)
	check(t, s.Close())

	s, err = meta.Open(ctx, "sqlite://"+path)
	check(t, err)
	defer s.Close()
	for i := range n {
		if _, err := s.Repos.GetRepository(ctx, "lib/g"+strconv.Itoa(i)); err != nil {
			t.Fatalf("repository %d after reopening: %v", i, err)
		}
	}
}
