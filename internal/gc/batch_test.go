package gc_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/gc"
	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/internal/storage"
)

// batchDriver is a real driver that also deletes in batches (as the S3
// driver does with DeleteObjects), counting the calls; fail makes
// DeleteMany fail after deleting nothing.
type batchDriver struct {
	storage.Driver
	mu    sync.Mutex
	calls int
	keys  int
	fail  bool
}

func (d *batchDriver) DeleteMany(ctx context.Context, keys []string) error {
	d.mu.Lock()
	d.calls++
	d.keys += len(keys)
	fail := d.fail
	d.mu.Unlock()
	if fail {
		return errors.New("batch delete refused")
	}
	for _, k := range keys {
		if err := d.Delete(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

var _ storage.BatchDeleter = (*batchDriver)(nil)

// TestBatchDelete: on a driver that deletes in batches, a sweep deletes
// each transaction's blobs with one DeleteMany; when it fails, blob by
// blob, and the result is the same.
func TestBatchDelete(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run(map[bool]string{false: "batched", true: "fallback"}[fail], func(t *testing.T) {
			s := metatest.OpenSQLite(t)
			e := newEnv(t, s)
			bd := &batchDriver{Driver: e.drv, fail: fail}
			e.gc = gc.New(s.GC, bd, nil, nil, slog.New(slog.DiscardHandler))
			var lone []digest.Digest
			for range 120 { // three transactions of at most 50
				data, _ := randomBlob(t, 100)
				lone = append(lone, e.push(t, "lib/app", data))
			}
			md, used := e.image(t, "lib/app", "v1")
			opts := now
			opts.BatchSize = 50
			r := sweep(t, e, opts)
			if r.BlobsDeleted != len(lone) || r.Failed != 0 {
				t.Fatalf("sweep: %+v, want %d deleted", r, len(lone))
			}
			for _, d := range lone {
				if stored(t, e, d) {
					t.Fatalf("%s still stored", d)
				}
			}
			if !stored(t, e, used[0]) || !stored(t, e, used[1]) {
				t.Fatal("a referenced blob went")
			}
			if bd.calls < 3 || bd.keys < len(lone) || bd.calls > 10 {
				t.Errorf("DeleteMany: %d calls for %d keys, want a few calls covering %d blobs", bd.calls, bd.keys, len(lone))
			}
			if err := e.pullsCompletely(t, "lib/app", md.String()); err != nil {
				t.Fatal(err)
			}
			if st, err := s.GC.Stats(t.Context()); err != nil || st.Reviews != 0 {
				t.Errorf("queue: %+v %v, want empty", st, err)
			}
		})
	}
}
