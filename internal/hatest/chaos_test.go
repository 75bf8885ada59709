package hatest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestHAChaos pushes 30 images through haproxy from 4 concurrent clients,
// every blob as a chunked upload whose requests haproxy spreads over the
// replicas, while one Berth replica is SIGKILLed and restarted and one
// SeaweedFS volume server is SIGKILLed for good. A failed push is retried
// (whole image, 3 attempts); none may be lost. An upload whose PATCH was
// cut off with its replica is first probed: its session must still be
// continued, from the offset it reports, on another replica. Afterwards every image must
// pull with matching digests through every replica directly, and `berth
// fsck --orphans` must find nothing missing or mismatched.
func TestHAChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("HA chaos test starts a whole cluster; skipped with -short")
	}
	start := time.Now()
	c := StartCluster(t, Options{Redis: true})
	setup := time.Since(start)

	const (
		numImages   = 30
		numClients  = 4
		maxAttempts = 3
		killReplica = 1 // berth2
		killVolume  = 2 // weed-volume3
	)
	seed := uint64(time.Now().UnixNano())
	t.Logf("image seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	images := make([]image, numImages)
	for i := range images {
		sizes := make([]int, 2+rng.IntN(2))
		for j := range sizes {
			sizes[j] = 1<<20 + rng.IntN(5<<20) // 1–6 MiB
		}
		images[i] = image{repo: fmt.Sprintf("library/chaos-app%d", i%6), tag: fmt.Sprintf("v%02d", i), seed: rng.Uint64(), layerSizes: sizes}
	}

	// The whole push phase is bounded; a hang fails instead of eating the
	// go test timeout.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()

	// Faults fire at fixed points of the workload: after the 6th and the
	// 15th image has finished, while the other clients are mid-upload.
	var (
		finished     = make(chan int, numImages)
		replicaKills int
		volumeKills  int
		eventMu      sync.Mutex
		eventLog     []string
		eventsDone   = make(chan struct{})
	)
	logEvent := func(format string, a ...any) {
		s := fmt.Sprintf("%6.1fs ", time.Since(start).Seconds()) + fmt.Sprintf(format, a...)
		eventMu.Lock()
		eventLog = append(eventLog, s)
		eventMu.Unlock()
		t.Log("event: " + s)
	}
	go func() {
		defer close(eventsDone)
		var restarted sync.WaitGroup
		defer restarted.Wait()
		for n := range finished {
			switch n {
			case 6:
				// Mid-request, so that some client sees the cut.
				if err := c.WaitServing(ctx, killReplica, 10*time.Second); err != nil {
					t.Logf("killing anyway: %v", err)
				}
				if err := c.KillReplica(killReplica); err != nil {
					t.Errorf("kill replica: %v", err)
					continue
				}
				replicaKills++
				logEvent("SIGKILL berth%d", killReplica+1)
				restarted.Add(1)
				go func() {
					defer restarted.Done()
					time.Sleep(2 * time.Second)
					t0 := time.Now()
					if err := c.RestartReplica(ctx, killReplica); err != nil {
						t.Errorf("restart replica: %v", err)
						return
					}
					logEvent("berth%d restarted, ready in %v", killReplica+1, time.Since(t0).Round(time.Millisecond))
					if err := c.WaitBackendsUp(ctx, time.Minute); err != nil {
						t.Errorf("haproxy after restart: %v", err)
						return
					}
					logEvent("haproxy sees berth%d up again", killReplica+1)
				}()
			case 15:
				if err := c.KillVolume(killVolume); err != nil {
					t.Errorf("kill volume server: %v", err)
					continue
				}
				volumeKills++
				logEvent("SIGKILL weed-volume%d (stays down)", killVolume+1)
			}
		}
	}()

	type outcome struct {
		attempts int
		ok       bool
		errs     []*reqError
	}
	var (
		mu       sync.Mutex
		outcomes = make([]outcome, numImages)
		clients  []*regClient
		work     = make(chan int)
		wg       sync.WaitGroup
		done     int
	)
	pushStart := time.Now()
	for w := range numClients {
		rc := newRegClient()
		clients = append(clients, rc)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				im := images[i]
				b := im.build()
				var o outcome
				for a := 1; a <= maxAttempts && ctx.Err() == nil; a++ {
					o.attempts = a
					err := rc.pushImage(ctx, c.URL, im, b, fmt.Sprintf("c%d-%s-%s-a%d", w+1, strings.ReplaceAll(im.repo, "/", "."), im.tag, a))
					if err == nil {
						o.ok = true
						break
					}
					var re *reqError
					if !errors.As(err, &re) {
						re = &reqError{Step: "push", Err: err}
					}
					o.errs = append(o.errs, re)
					t.Logf("push %s:%s attempt %d/%d failed [%s]: %v", im.repo, im.tag, a, maxAttempts, re.Class(), err)
					select {
					case <-ctx.Done():
					case <-time.After(time.Duration(a) * time.Second):
					}
				}
				mu.Lock()
				outcomes[i] = o
				done++
				n := done
				mu.Unlock()
				finished <- n
			}
		}()
	}
	for i := range images {
		select {
		case work <- i:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	close(finished)
	<-eventsDone
	pushDur := time.Since(pushStart)

	// Figures.
	var firstTry, retried, lost, failedAttempts int
	classes := map[string]int{}
	var unclean []string
	for i, o := range outcomes {
		switch {
		case o.ok && o.attempts == 1:
			firstTry++
		case o.ok:
			retried++
		default:
			lost++
			t.Errorf("lost: %s:%s failed %d attempts", images[i].repo, images[i].tag, o.attempts)
		}
		failedAttempts += len(o.errs)
		for _, e := range o.errs {
			cl := e.Class()
			classes[cl]++
			if cl == "unclean" || cl == "timeout" {
				unclean = append(unclean, e.Error())
			}
		}
	}
	for _, u := range unclean {
		t.Errorf("push failed without a clean error: %s", u)
	}
	if replicaKills != 1 || volumeKills != 1 {
		t.Errorf("faults injected: replica_kills=%d volume_kills=%d, want 1 and 1", replicaKills, volumeKills)
	}
	served, resumes := map[string]int{}, map[string]int{}
	uploads, spread := 0, 0 // upload sessions, and those served by more than one replica
	for _, rc := range clients {
		rc.mu.Lock()
		for k, v := range rc.servedBy {
			served[k] += v
		}
		for k, v := range rc.resumes {
			resumes[k] += v
		}
		for _, by := range rc.uploads {
			uploads++
			if len(by) > 1 {
				spread++
			}
		}
		for _, e := range rc.resumeErrs {
			t.Errorf("an upload cut off with its replica could not be continued on another: %s", e)
		}
		rc.mu.Unlock()
	}

	// Every pushed image through every replica directly, bypassing haproxy.
	verifyStart := time.Now()
	vctx, vcancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer vcancel()
	verifyFailures := 0
	for r, base := range c.ReplicaURLs {
		rc := newRegClient()
		jobs := make(chan int)
		var vwg sync.WaitGroup
		var vmu sync.Mutex
		for range numClients {
			vwg.Add(1)
			go func() {
				defer vwg.Done()
				for i := range jobs {
					im := images[i]
					if err := rc.verifyImage(vctx, base, im, im.build(), fmt.Sprintf("verify-r%d-%s", r+1, im.tag)); err != nil {
						vmu.Lock()
						verifyFailures++
						vmu.Unlock()
						t.Errorf("pull %s:%s through berth%d (%s): %v", im.repo, im.tag, r+1, base, err)
					}
				}
			}()
		}
		for i, o := range outcomes {
			if o.ok {
				jobs <- i
			}
		}
		close(jobs)
		vwg.Wait()
	}
	verifyDur := time.Since(verifyStart)

	// fsck with a replica's environment: nothing missing or mismatched.
	fsckStart := time.Now()
	fctx, fcancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer fcancel()
	out, err := c.Berth(fctx, "fsck", "--orphans")
	fsckDur := time.Since(fsckStart)
	fsck := parseFsck(string(out))
	if err != nil || fsck["missing"] != 0 || fsck["size_mismatch"] != 0 || fsck["digest_mismatch"] != 0 || fsck["blobs checked"] == 0 {
		t.Errorf("berth fsck --orphans: %v\n%s", err, out)
	}

	t.Logf("ha chaos: attempted=%d first_try=%d retried=%d lost=%d replica_kills=%d volume_kills=%d "+
		"failed_attempts=%d errors=%s resumed_uploads=%s served_by=%s uploads_on_2+_replicas=%d/%d verify_failures=%d fsck_blobs=%d fsck_missing=%d fsck_mismatched=%d fsck_orphans=%d "+
		"setup=%v push=%v verify=%v fsck=%v duration=%v",
		numImages, firstTry, retried, lost, replicaKills, volumeKills,
		failedAttempts, fmtCounts(classes), fmtCounts(resumes), fmtCounts(served), spread, uploads, verifyFailures,
		fsck["blobs checked"], fsck["missing"], fsck["size_mismatch"]+fsck["digest_mismatch"], fsck["orphan"],
		setup.Round(time.Second), pushDur.Round(time.Second), verifyDur.Round(time.Second), fsckDur.Round(time.Second),
		time.Since(start).Round(time.Second))
	t.Logf("events:\n  %s", strings.Join(eventLog, "\n  "))
}

var fsckLine = regexp.MustCompile(`(?m)^([a-z_ ]+): (\d+)`)

// parseFsck reads the "name: count" lines of `berth fsck` output.
func parseFsck(out string) map[string]int {
	m := map[string]int{}
	for _, g := range fsckLine.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(g[2])
		m[g[1]] = n
	}
	return m
}

func fmtCounts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s:%d", k, m[k]))
	}
	return strings.Join(parts, ",")
}
