package gc_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/content"
	"github.com/berth-registry/berth/internal/gc"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/storage"
	"github.com/berth-registry/berth/internal/storage/filesystem"
	"github.com/berth-registry/berth/internal/storage/s3"
)

// BenchmarkGCDeletes deletes 10,000 unreferenced blobs (b.N times) while a
// client pushes and pulls images in the same registry, and reports GC
// deletes per second beside the client's p99 latency (one push of a
// config, a layer and a manifest, or one pull of them). Run with
// -benchtime=1x: go test ./internal/gc -run '^$' -bench GCDeletes -benchtime 1x
// filesystem+sqlite always; seaweedfs+postgres with BERTH_TEST_S3 and
// BERTH_TEST_POSTGRES.
func BenchmarkGCDeletes(b *testing.B) {
	const blobs = 10_000
	b.Run("filesystem+sqlite", func(b *testing.B) {
		drv, err := filesystem.New(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		benchDeletes(b, metatest.OpenSQLite(b), drv, blobs, 1)
	})
	b.Run("seaweedfs+postgres", func(b *testing.B) {
		if os.Getenv("BERTH_TEST_S3") == "" || os.Getenv("BERTH_TEST_POSTGRES") == "" {
			b.Skip("BERTH_TEST_S3 and BERTH_TEST_POSTGRES not set")
		}
		benchDeletes(b, metatest.OpenPostgres(b), s3Driver(b), blobs, 8)
	})
}

func s3Driver(b testing.TB) storage.Driver {
	u, err := url.Parse(os.Getenv("BERTH_TEST_S3"))
	if err != nil || u.User == nil {
		b.Fatalf("BERTH_TEST_S3: want http://ACCESS:SECRET@HOST:PORT/BUCKET")
	}
	secret, _ := u.User.Password()
	c := s3.DefaultConfig()
	c.Region, c.Bucket, c.AccessKey, c.SecretKey = "us-east-1", strings.Trim(u.Path, "/"), u.User.Username(), secret
	c.RegionEndpoint, c.ForcePathStyle, c.DisableRedirect = u.Scheme+"://"+u.Host, true, true
	var r [6]byte
	_, _ = rand.Read(r[:])
	c.RootDirectory = "/berth-bench/" + hex.EncodeToString(r[:]) + "/"
	d, err := s3.New(context.Background(), c)
	if err != nil {
		b.Fatal(err)
	}
	return d
}

func benchDeletes(b *testing.B, s *meta.Store, drv storage.Driver, n, workers int) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	e := &env{store: s, drv: drv,
		blobs: content.New(content.Stores{Blobs: s.Blobs, Uploads: s.Uploads, Tx: s}, drv, log),
		reg:   registry.New(registry.Stores{Repos: s.Repos, Manifests: s.Manifests, Tx: s}, nil, log),
		gc:    gc.New(s.GC, drv, nil, nil, log)}
	if _, err := s.Projects.CreateProject(ctx, meta.Project{Name: "lib"}); err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	var deleted int
	var lat []time.Duration
	for i := range b.N {
		b.StopTimer()
		seed(b, e, n, workers)
		stop := make(chan struct{})
		var cw sync.WaitGroup
		var clientLat []time.Duration
		cw.Go(func() { clientLat = client(b, e, fmt.Sprintf("lib/client%d", i), stop) })
		// The garbage is 5.5 s old when the sweep starts with a 5 s grace:
		// all of it is due, the client's pushes in flight are not (a
		// loaded push can take over a second between blob and manifest).
		time.Sleep(5500 * time.Millisecond)
		b.StartTimer()
		t0 := time.Now()
		r, err := e.gc.Sweep(ctx, gc.Options{Grace: 5 * time.Second, Workers: workers})
		elapsed := time.Since(t0)
		b.StopTimer()
		close(stop)
		cw.Wait()
		if err != nil {
			b.Fatal(err)
		}
		if r.BlobsDeleted < n {
			b.Fatalf("deleted %d of %d", r.BlobsDeleted, n)
		}
		total += elapsed
		deleted += r.BlobsDeleted
		lat = append(lat, clientLat...)
	}
	slices.Sort(lat)
	p99 := 0.0
	if len(lat) > 0 {
		p99 = float64(lat[len(lat)*99/100].Microseconds()) / 1000
	}
	b.ReportMetric(float64(deleted)/total.Seconds(), "deletes/s")
	b.ReportMetric(p99, "client_p99_ms")
	b.ReportMetric(float64(len(lat)), "client_ops")
	b.Logf("%d blobs deleted in %v (%.0f/s) with %d workers; client p99 %.1f ms over %d pushes and pulls",
		deleted, total.Round(time.Millisecond), float64(deleted)/total.Seconds(), workers, p99, len(lat))
}

// seed pushes n small unreferenced blobs.
func seed(b *testing.B, e *env, n, workers int) {
	var wg sync.WaitGroup
	per := n / workers
	for w := range workers {
		wg.Go(func() {
			for range per + boolInt(w < n%workers) {
				data, _ := randomBlob(b, 64)
				e.push(b, "lib/garbage", data)
			}
		})
	}
	wg.Wait()
}

func boolInt(v bool) int {
	if v {
		return 1
	}
	return 0
}

// client pushes an image and pulls it back until stop, returning each
// operation's latency.
func client(b *testing.B, e *env, repo string, stop <-chan struct{}) []time.Duration {
	var lat []time.Duration
	for i := 0; ; i++ {
		select {
		case <-stop:
			return lat
		default:
		}
		t0 := time.Now()
		md, _ := e.image(b, repo, fmt.Sprintf("t%d", i))
		lat = append(lat, time.Since(t0))
		t0 = time.Now()
		if err := e.pullsCompletely(b, repo, md.String()); err != nil {
			b.Errorf("client pull: %v", err)
			return lat
		}
		lat = append(lat, time.Since(t0))
	}
}

// BenchmarkDeleteManifest10kTags deletes a manifest that 10,000 tags point
// at (Distribution takes about 30 s on its filesystem layout).
func BenchmarkDeleteManifest10kTags(b *testing.B) {
	for _, eng := range []struct {
		name string
		open func(testing.TB) *meta.Store
	}{{"sqlite", metatest.OpenSQLite}, {"postgres", metatest.OpenPostgres}} {
		b.Run(eng.name, func(b *testing.B) {
			if eng.name == "postgres" && os.Getenv("BERTH_TEST_POSTGRES") == "" {
				b.Skip("BERTH_TEST_POSTGRES not set")
			}
			s := eng.open(b)
			drv, err := filesystem.New(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			log := slog.New(slog.DiscardHandler)
			e := &env{store: s, drv: drv,
				blobs: content.New(content.Stores{Blobs: s.Blobs, Uploads: s.Uploads, Tx: s}, drv, log),
				reg:   registry.New(registry.Stores{Repos: s.Repos, Manifests: s.Manifests, Tx: s}, nil, log)}
			ctx := context.Background()
			var worst time.Duration
			for i := range b.N {
				b.StopTimer()
				md, _ := e.image(b, "lib/tags", fmt.Sprintf("seed%d", i))
				if err := s.InTx(ctx, func(tx *meta.Store) error {
					for t := range 10_000 {
						if err := tx.Manifests.PutTag(ctx, "lib/tags", fmt.Sprintf("t%05d", t), md); err != nil {
							return err
						}
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				t0 := time.Now()
				if err := e.reg.DeleteManifest(ctx, "lib/tags", md.String()); err != nil {
					b.Fatal(err)
				}
				worst = max(worst, time.Since(t0))
			}
			b.ReportMetric(float64(worst.Microseconds())/1000, "worst_ms")
		})
	}
}
