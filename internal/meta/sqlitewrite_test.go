package meta_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

// TestTransactionsQueue: many transactions at once all commit (on
// SQLite they queue for the one writer in the process); one waiting
// behind a long transaction gives up when its context ends, and the queue
// moves on once the long one commits.
func TestTransactionsQueue(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for i := range 16 {
			wg.Go(func() {
				errs <- s.InTx(ctx, func(tx *meta.Store) error {
					repo := "lib/r" + strconv.Itoa(i)
					if _, err := tx.Repos.EnsureRepository(ctx, repo); err != nil {
						return err
					}
					return tx.Uploads.CreateUpload(ctx, meta.Upload{ID: "u" + strconv.Itoa(i), Repository: repo, Algorithm: "sha256"})
				})
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			check(t, err)
		}
		if n := must[int](t)(meta.CountRows(ctx, s, "uploads")); n != 16 {
			t.Fatalf("%d uploads, want 16", n)
		}

		// A long transaction holds the writer.
		holding, finish := make(chan struct{}), make(chan struct{})
		long := make(chan error, 1)
		go func() {
			long <- s.InTx(ctx, func(tx *meta.Store) error {
				if _, err := tx.Repos.EnsureRepository(ctx, "lib/long"); err != nil {
					return err
				}
				close(holding)
				<-finish
				return nil
			})
		}()
		select {
		case <-holding:
		case err := <-long:
			t.Fatalf("long transaction: %v", err)
		}
		if s.Dialect() == "sqlite" {
			// The next writer waits; its context ends first.
			wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			start := time.Now()
			err := s.InTx(wctx, func(tx *meta.Store) error {
				_, err := tx.Repos.EnsureRepository(wctx, "lib/waiter")
				return err
			})
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
				t.Fatalf("waiting writer: %v after %s, want DeadlineExceeded soon after 300ms", err, time.Since(start))
			}
		}
		after := make(chan error, 1)
		go func() {
			after <- s.InTx(ctx, func(tx *meta.Store) error {
				_, err := tx.Repos.EnsureRepository(ctx, "lib/after")
				return err
			})
		}()
		close(finish)
		check(t, <-long)
		select {
		case err := <-after:
			check(t, err)
		case <-time.After(30 * time.Second):
			t.Fatal("the writer queued behind the long transaction never ran")
		}
		for _, r := range []string{"lib/long", "lib/after"} {
			must[meta.Repository](t)(s.Repos.GetRepository(ctx, r))
		}
	})
}
