package gc_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

func projectID(t testing.TB, s *meta.Store, name string) int64 {
	t.Helper()
	p, err := s.Projects.GetProjectByName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return p.ID
}

// TestConcurrentPushesNearQuota: pushes racing for the last bytes of a
// quota never take usage past the limit, and the counter equals a recount.
func TestConcurrentPushesNearQuota(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		e := newEnv(t, s)
		ctx := context.Background()
		pid := projectID(t, s, "lib")
		if err := s.Quotas.SetLimit(ctx, pid, 10_000); err != nil {
			t.Fatal(err)
		}
		var (
			wg                sync.WaitGroup
			mu                sync.Mutex
			accepted, refused int
		)
		for i := range 24 {
			wg.Go(func() {
				data, d := randomBlob(t, 1000)
				repo := "lib/app" + string(rune('a'+i%3))
				_, err := e.blobs.PutBlob(ctx, repo, d, bytesReader(data), 1000)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					accepted++
				case errors.Is(err, meta.ErrQuotaExceeded):
					refused++
				default:
					t.Errorf("push: %v", err)
				}
			})
		}
		wg.Wait()
		q, err := s.Quotas.ProjectQuota(ctx, pid)
		if err != nil {
			t.Fatal(err)
		}
		if q.Used > q.Limit || accepted != 10 || int64(accepted)*1000 != q.Used {
			t.Fatalf("accepted %d refused %d, used %d of %d; want exactly 10 accepted and used <= limit", accepted, refused, q.Used, q.Limit)
		}
		assertRecount(t, s)
	})
}

func assertRecount(t testing.TB, s *meta.Store) {
	t.Helper()
	drift, err := s.Quotas.Recount(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]meta.QuotaDrift{}, drift); diff != "" {
		t.Fatalf("quota counters differ from a recount (-want +got):\n%s", diff)
	}
	n, err := s.GC.Unreviewed(context.Background())
	if err != nil || n != 0 {
		t.Fatalf("unreviewed garbage: %d, %v", n, err)
	}
}

// TestCountersEqualRecount: after a random mix of pushes, mounts (across
// projects too), blob and manifest deletes, repository deletes and GC
// sweeps, every project's counter equals a full recount and no garbage
// lacks a review.
func TestCountersEqualRecount(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		e := newEnv(t, s)
		ctx := context.Background()
		if _, err := s.Projects.CreateProject(ctx, meta.Project{Name: "other"}); err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		repos := []string{"lib/a", "lib/b", "other/c"}
		type pushed struct {
			repo string
			d    digest.Digest
		}
		var blobs, manifests []pushed
		for i := range 150 {
			repo := repos[rng.IntN(len(repos))]
			switch op := rng.IntN(8); {
			case op <= 1:
				md, ds := e.image(t, repo, "t"+string(rune('a'+i%26)))
				manifests = append(manifests, pushed{repo, md})
				for _, d := range ds {
					blobs = append(blobs, pushed{repo, d})
				}
			case op == 2:
				data, _ := randomBlob(t, 10+rng.IntN(100))
				blobs = append(blobs, pushed{repo, e.push(t, repo, data)})
			case op == 3 && len(blobs) > 0:
				b := blobs[rng.IntN(len(blobs))]
				if _, err := e.blobs.Mount(ctx, repo, b.repo, b.d); err == nil {
					blobs = append(blobs, pushed{repo, b.d})
				} else if !errors.Is(err, meta.ErrBlobNotFound) {
					t.Fatal(err)
				}
			case op == 4 && len(manifests) > 0:
				m := manifests[rng.IntN(len(manifests))]
				if err := e.reg.DeleteManifest(ctx, m.repo, m.d.String()); err != nil && !errors.Is(err, meta.ErrManifestNotFound) {
					t.Fatal(err)
				}
			case op == 5 && len(blobs) > 0:
				b := blobs[rng.IntN(len(blobs))]
				if err := e.blobs.Delete(ctx, b.repo, b.d); err != nil && !errors.Is(err, meta.ErrBlobNotFound) {
					t.Fatal(err)
				}
			case op == 6 && rng.IntN(10) == 0:
				if err := s.Repos.DeleteRepository(ctx, repo); err != nil && !errors.Is(err, meta.ErrRepositoryNotFound) {
					t.Fatal(err)
				}
			default:
				sweep(t, e, now)
			}
			if i%25 == 0 {
				assertRecount(t, s)
			}
		}
		assertRecount(t, s)
		sweep(t, e, now)
		assertRecount(t, s)
		// Every manifest that exists has all its blobs in storage (a blob
		// DELETE may have unlinked one from the repository, as in
		// Distribution, but never from storage while referenced).
		for _, m := range manifests {
			if _, err := e.reg.Resolve(ctx, m.repo, m.d.String()); err == nil {
				if err := e.storedCompletely(t, m.repo, m.d.String()); err != nil {
					t.Fatalf("manifest %s@%s: %v", m.repo, m.d, err)
				}
			}
		}
	})
}
