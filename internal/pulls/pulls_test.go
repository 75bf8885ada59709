package pulls_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/internal/pulls"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestRecorderBatches: on a real store, Record writes nothing; one Flush
// writes every pull of the batch, exactly.
func TestRecorderBatches(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		d := digest.FromString("m")
		if err := s.Manifests.PutManifest(ctx, "p/app", meta.Manifest{Digest: d, MediaType: "application/vnd.oci.image.manifest.v1+json",
			Payload: []byte(`{"x":1}`)}, meta.ManifestRefs{}); err != nil {
			t.Fatal(err)
		}
		art, err := s.Manifests.GetArtifact(ctx, "p/app", d)
		if err != nil {
			t.Fatal(err)
		}
		rec := pulls.New(s.Pulls, quiet, pulls.Options{Every: time.Hour})
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				for range 25 {
					rec.Record("p/app", d)
				}
			})
		}
		wg.Wait()
		got, err := s.Pulls.ArtifactPulls(ctx, []int64{art.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 0 {
			t.Fatalf("before a flush the database holds %+v, want nothing written", got)
		}
		if err := rec.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := rec.Flush(ctx); err != nil { // nothing pending: writes nothing more
			t.Fatal(err)
		}
		got, err = s.Pulls.ArtifactPulls(ctx, []int64{art.ID})
		if err != nil {
			t.Fatal(err)
		}
		if got[art.ID].Count != 250 || got[art.ID].PulledAt.IsZero() {
			t.Errorf("after a flush: %+v, want 250 pulls with a time", got[art.ID])
		}
	})
}

// fakeStore records batches; it can fail.
type fakeStore struct {
	mu      sync.Mutex
	calls   int
	fail    bool
	written map[string]int64
}

func (f *fakeStore) AddPulls(_ context.Context, b []meta.PullCount) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail {
		return 0, errors.New("database down")
	}
	for _, p := range b {
		f.written[p.Repository+"@"+p.Digest.String()] += p.Count
	}
	return len(b), nil
}

// TestRecorderBoundsAndRetries: Record never calls the store; a full batch
// drops new artifacts (counted) but keeps counting known ones; a failed
// flush keeps its counts for the next one.
func TestRecorderBoundsAndRetries(t *testing.T) {
	f := &fakeStore{written: map[string]int64{}}
	rec := pulls.New(f, quiet, pulls.Options{Every: time.Hour, MaxPending: 4})
	ds := []digest.Digest{digest.FromString("a"), digest.FromString("b"), digest.FromString("c"), digest.FromString("d"), digest.FromString("e")}
	for _, d := range ds {
		rec.Record("r", d)
	}
	rec.Record("r", ds[0])
	if f.calls != 0 {
		t.Fatalf("Record called the store %d times, want 0", f.calls)
	}
	if rec.Pending() != 4 || rec.Dropped() != 1 {
		t.Fatalf("pending %d dropped %d, want 4 and 1", rec.Pending(), rec.Dropped())
	}
	f.fail = true
	if err := rec.Flush(t.Context()); err == nil {
		t.Fatal("Flush on a failing store succeeded")
	}
	rec.Record("r", ds[0])
	f.fail = false
	if err := rec.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"r@" + ds[0].String(): 3, "r@" + ds[1].String(): 1, "r@" + ds[2].String(): 1, "r@" + ds[3].String(): 1}
	for k, v := range want {
		if f.written[k] != v {
			t.Errorf("written[%s] = %d, want %d (all: %v)", k, f.written[k], v, f.written)
		}
	}
}

// TestRunFlushesOnStop: Run writes what is pending when its context ends.
func TestRunFlushesOnStop(t *testing.T) {
	f := &fakeStore{written: map[string]int64{}}
	rec := pulls.New(f, quiet, pulls.Options{Every: time.Hour})
	d := digest.FromString("a")
	rec.Record("r", d)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { rec.Run(ctx); close(done) }()
	cancel()
	<-done
	if got := f.written["r@"+d.String()]; got != 1 {
		t.Errorf("after Run stopped: %d pulls written, want 1", got)
	}
}
