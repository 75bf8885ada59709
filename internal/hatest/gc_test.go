package hatest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestGCOnThreeReplicas runs pushes, manifest deletes and garbage
// collection at once on three replicas over PostgreSQL and SeaweedFS for a
// bounded time: every replica's gc_sweep job (every second, 3 s grace)
// and a `berth gc` process beside them. Images share layers across
// repositories. Afterwards every manifest that exists pulls completely
// through every replica, no blob past its grace is left that nothing
// references (`berth gc --dry-run` finds nothing), and fsck is clean:
// nothing missing, no orphan object, quota counters equal a recount.
func TestGCOnThreeReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("GC HA test starts a whole cluster; skipped with -short")
	}
	const grace = 3 * time.Second
	c := StartCluster(t, Options{Env: []string{"BERTH_GC_GRACE=" + grace.String(), "BERTH_GC_INTERVAL=1s"}})
	const (
		clients  = 3
		workload = 40 * time.Second
	)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	wctx, wcancel := context.WithTimeout(ctx, workload)
	defer wcancel()

	type key struct{ repo, tag string }
	var (
		mu                           sync.Mutex
		live                         = map[key]image{}
		pushes, deletes, cleanErrors int
		gcRuns                       int
		gcFreed                      int
	)
	freedRe := regexp.MustCompile(`; deleted (\d+) blobs`)
	// A GC worker outside the servers, as an operator's `berth gc` would be.
	gcDone := make(chan struct{})
	go func() {
		defer close(gcDone)
		for wctx.Err() == nil {
			out, err := c.Berth(ctx, "gc")
			if err != nil {
				t.Errorf("berth gc: %v\n%s", err, out)
				return
			}
			mu.Lock()
			gcRuns++
			if m := freedRe.FindStringSubmatch(string(out)); m != nil {
				n, _ := strconv.Atoi(m[1])
				gcFreed += n
			}
			mu.Unlock()
			time.Sleep(500 * time.Millisecond)
		}
	}()

	var wg sync.WaitGroup
	for cl := range clients {
		wg.Go(func() {
			rc := newRegClient()
			rng := rand.New(rand.NewPCG(uint64(cl), uint64(time.Now().UnixNano())))
			var mine []key
			for n := 0; wctx.Err() == nil; n++ {
				if len(mine) > 0 && rng.IntN(10) < 3 {
					i := rng.IntN(len(mine))
					k := mine[i]
					mu.Lock()
					im := live[k]
					mu.Unlock()
					b := im.build()
					call := call{step: "DELETE manifest", method: http.MethodDelete, url: c.URL + "/v2/" + k.repo + "/manifests/" + b.mdigest.String(),
						reqID: fmt.Sprintf("gc-c%d-del%d", cl, n), want: http.StatusAccepted}
					res, err := rc.do(ctx, call)
					if err != nil {
						t.Errorf("delete %s:%s: %v", k.repo, k.tag, err)
						return
					}
					res.Body.Close()
					mine = append(mine[:i], mine[i+1:]...)
					mu.Lock()
					delete(live, k)
					deletes++
					mu.Unlock()
					continue
				}
				// Six layer sets shared by every client and repository.
				seed := uint64(rng.IntN(6))
				im := image{repo: fmt.Sprintf("library/gc%d", rng.IntN(3)), tag: fmt.Sprintf("c%d-%d", cl, n),
					seed: seed, layerSizes: []int{64<<10 + int(seed)*1000, 32<<10 + int(seed)}}
				err := rc.pushImage(ctx, c.URL, im, im.build(), fmt.Sprintf("gc-c%d-push%d", cl, n))
				var re *reqError
				if errors.As(err, &re) && re.Code == "MANIFEST_BLOB_UNKNOWN" {
					// The documented clean outcome when a push outlasts the
					// grace period (docs/design/gc.md): counted, not an error.
					mu.Lock()
					cleanErrors++
					mu.Unlock()
					continue
				}
				if err != nil {
					if wctx.Err() != nil {
						return
					}
					t.Errorf("push %s:%s: %v", im.repo, im.tag, err)
					return
				}
				k := key{im.repo, im.tag}
				mine = append(mine, k)
				mu.Lock()
				live[k] = im
				pushes++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	<-gcDone
	if t.Failed() {
		return
	}

	// Past the grace period, one last collection by the servers and one
	// by hand.
	time.Sleep(grace + 2*time.Second)
	out, err := c.Berth(ctx, "gc")
	if err != nil {
		t.Fatalf("final berth gc: %v\n%s", err, out)
	}
	final := string(out)

	// Every manifest that exists pulls completely through every replica.
	rc := newRegClient()
	for r, base := range c.ReplicaURLs {
		for k, im := range live {
			if err := rc.verifyImage(ctx, base, im, im.build(), fmt.Sprintf("gc-verify-r%d-%s", r+1, k.tag)); err != nil {
				t.Errorf("pull %s:%s through berth%d: %v", k.repo, k.tag, r+1, err)
			}
		}
	}
	// No unreferenced blob past its grace is left.
	out, err = c.Berth(ctx, "gc", "--dry-run")
	if err != nil || !strings.Contains(string(out), "would delete 0 blobs") {
		t.Errorf("berth gc --dry-run after the final run: %v\n%s", err, out)
	}
	// fsck: nothing missing, no orphan object, counters equal a recount.
	out, err = c.Berth(ctx, "fsck", "--orphans")
	f := parseFsck(string(out))
	if err != nil || f["missing"] != 0 || f["orphan"] != 0 || f["quota_drift"] != 0 || f["unreviewed_garbage"] != 0 || f["blobs checked"] == 0 {
		t.Errorf("berth fsck --orphans: %v\n%s", err, out)
	}
	t.Logf("gc on 3 replicas: pushes=%d deletes=%d live_images=%d clean_blob_unknown=%d cli_gc_runs=%d cli_blobs_deleted=%d final=%q fsck_blobs=%d",
		pushes, deletes, len(live), cleanErrors, gcRuns, gcFreed, strings.TrimSpace(strings.SplitN(final, "\n", 2)[0]), f["blobs checked"])
}
