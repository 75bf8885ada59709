package replication_test

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/internal/app/apptest"
)

// TestBenchReplication prints replication throughput (Berth to Berth and
// Berth to Distribution) and proxy-cache pull latency. It runs only with
// BERTH_BENCH_REPLICATION=N (N images of 5 layers; 200 is the issue's
// size) and BERTH_BENCH_LAYER_KIB (default 200), on SQLite and the
// filesystem.
func TestBenchReplication(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("BERTH_BENCH_REPLICATION"))
	if n <= 0 {
		t.Skip("set BERTH_BENCH_REPLICATION=N to measure with N images")
	}
	layerSize := int64(200 << 10)
	if kib, _ := strconv.Atoi(os.Getenv("BERTH_BENCH_LAYER_KIB")); kib > 0 {
		layerSize = int64(kib) << 10
	}
	a := apptest.Start(t)
	b := apptest.Start(t)
	dist := startDistribution(t, t.TempDir(), 0)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			img, err := random.Image(layerSize, 5)
			if err == nil {
				err = remote.Write(ref(t, fmt.Sprintf("%s/library/bench%03d:1", a.Addr, i)), img, adminAuth)
			}
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for _, dest := range []struct{ name, typ, url, user string }{
		{"berth->berth", "berth", b.URL, "admin"},
		{"berth->distribution", "docker-registry", "http://" + dist.Addr, ""},
	} {
		secret := ""
		if dest.user != "" {
			secret = apptest.AdminPassword
		}
		reg := addRegistry(t, a, dest.name, dest.typ, dest.url, dest.user, secret)
		pid := pushPolicy(t, a, "bench-"+strconv.FormatInt(reg, 10), reg, nil, nil)
		start := time.Now()
		e := waitExecution(t, a, startExecution(t, a, pid), 30*time.Minute)
		took := time.Since(start)
		if e.Status != "Succeed" || e.Total != n {
			t.Fatalf("%s: %+v", dest.name, e)
		}
		fmt.Printf("BENCH replication %s: %d images x 5 layers of %d KiB: %.1f s, %.1f MB/s, %.1f images/s\n",
			dest.name, n, layerSize>>10, took.Seconds(), float64(e.Bytes)/1e6/took.Seconds(), float64(n)/took.Seconds())
	}

	// Proxy cache: first pull (from the upstream) and cached pull, against
	// a direct pull from the upstream.
	for i := range 3 {
		img, _ := random.Image(1<<20, 5)
		if err := remote.Write(ref(t, fmt.Sprintf("%s/library/px%d:1", dist.Addr, i)), img); err != nil {
			t.Fatal(err)
		}
	}
	proxyProject(t, a, "px", dist.Addr)
	timed := func(refStr string) time.Duration {
		start := time.Now()
		if _, err := pullAll(t, refStr); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	var direct, first, cached time.Duration
	for i := range 3 {
		direct += timed(fmt.Sprintf("%s/library/px%d:1", dist.Addr, i))
		first += timed(fmt.Sprintf("%s/px/library/px%d:1", a.Addr, i))
		repo := fmt.Sprintf("px/library/px%d", i)
		apptest.Eventually(t, time.Minute, func() bool {
			_, err := a.Store(t).Manifests.GetTag(t.Context(), repo, "1")
			return err == nil
		})
		cached += timed(fmt.Sprintf("%s/px/library/px%d:1", a.Addr, i))
	}
	fmt.Printf("BENCH proxy pull of a 5 MiB image (5 layers), mean of 3: direct from upstream %s, first through proxy %s, cached %s\n",
		(direct / 3).Round(time.Millisecond), (first / 3).Round(time.Millisecond), (cached / 3).Round(time.Millisecond))
}
