package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// bigPushPull pushes one layer of size bytes made from seed and pulls it
// back pulls times; returns the push throughput and each pull's, in MB/s.
// m (may be nil) adds up CPU time over the push.
func bigPushPull(ctx context.Context, c *client, repo string, size int64, seed uint64, pulls int, m *cpuMeter) (push float64, pull []float64, err error) {
	b := newBlob(seed, size)
	// Write out every dirty page first: a server that leaves its push in
	// the page cache (Distribution never fsyncs) would otherwise have the
	// next server's push pay for its writeback.
	syscall.Sync()
	before := m.sample()
	t0 := time.Now()
	if err := c.pushBlob(ctx, repo, b.dgst, b.size, b.reader, true); err != nil {
		return 0, nil, err
	}
	push = float64(size) / 1e6 / time.Since(t0).Seconds()
	m.add(before)
	for range pulls {
		t0 = time.Now()
		resp, err := c.do(ctx, http.MethodGet, "/v2/"+repo+"/blobs/"+b.dgst, nil, 0, nil)
		if err != nil {
			return 0, nil, err
		}
		// Large reads: io.Discard's own ReadFrom reads 8 KiB at a time,
		// which made the client, not the server, the bound.
		got, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, resp.Body, make([]byte, 1<<20))
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || got != size {
			return 0, nil, fmt.Errorf("pull %s: HTTP %d, %d bytes (%v)", b.dgst, resp.StatusCode, got, err)
		}
		pull = append(pull, float64(size)/1e6/time.Since(t0).Seconds())
	}
	return push, pull, nil
}

// diskCeiling writes size bytes to a new file in dir and fsyncs it, runs
// times; returns the median MB/s (from the first write to the end of the
// fsync), what the disk allows a server that makes a push durable.
func diskCeiling(dir string, size int64, runs int) (float64, error) {
	buf := make([]byte, 1<<20)
	_, _ = io.ReadFull(newBlob(1, int64(len(buf))).reader(), buf)
	var rates []float64
	for i := range runs {
		path := filepath.Join(dir, fmt.Sprintf("disk-ceiling-%d", i))
		f, err := os.Create(path)
		if err != nil {
			return 0, err
		}
		t0 := time.Now()
		for n := int64(0); n < size && err == nil; n += int64(len(buf)) {
			_, err = f.Write(buf[:min(int64(len(buf)), size-n)])
		}
		if err == nil {
			err = f.Sync()
		}
		d := time.Since(t0)
		f.Close()
		os.Remove(path)
		if err != nil {
			return 0, fmt.Errorf("disk ceiling: %w", err)
		}
		rates = append(rates, float64(size)/1e6/d.Seconds())
	}
	return median(rates), nil
}

// smallImages pushes n images of three layers each (plus a config) with
// clients concurrent clients; returns images per second.
func smallImages(ctx context.Context, c *client, n, clients int, seed uint64) (float64, error) {
	sizes := []int64{4 << 10, 256 << 10, 1 << 20}
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	t0 := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := pushImage(ctx, c, fmt.Sprintf("library/small-%03d", i), "latest", seed+uint64(i)*8, sizes); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(t0).Seconds(), firstErr
}

func pushImage(ctx context.Context, c *client, repo, tag string, seed uint64, sizes []int64) error {
	cfg := newBlob(seed, 1024)
	var layers []blob
	for j, sz := range sizes {
		layers = append(layers, newBlob(seed+uint64(j)+1, sz))
	}
	for _, b := range append([]blob{cfg}, layers...) {
		if err := c.pushBlob(ctx, repo, b.dgst, b.size, b.reader, false); err != nil {
			return err
		}
	}
	return c.putManifest(ctx, repo, tag, imageManifest(cfg, layers...))
}

// wrkResult is what wrk measured.
type wrkResult struct {
	RPS      float64
	P50, P99 float64 // milliseconds
}

var (
	wrkRPS    = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkPct    = regexp.MustCompile(`(?m)^\s+(50|99)\.000%\s+([0-9.]+)(us|ms|s)`)
	wrkPctOld = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)`)
	wrkNon2xx = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
)

// runWrk runs wrk against url (method GET or HEAD, optional header).
func runWrk(ctx context.Context, dir, url, method, header string, o Options) (wrkResult, error) {
	script := filepath.Join(dir, "wrk-"+strings.ToLower(method)+".lua")
	if err := os.WriteFile(script, []byte(`wrk.method = "`+method+"\"\n"), 0o644); err != nil {
		return wrkResult{}, err
	}
	args := []string{"-t", strconv.Itoa(o.WrkThreads), "-c", strconv.Itoa(o.WrkConnections),
		"-d", o.WrkDuration.String(), "--latency", "-s", script}
	if header != "" {
		args = append(args, "-H", header)
	}
	// Distribution serves an OCI manifest only to clients that accept it.
	args = append(args, "-H", "Accept: "+manifestType)
	out, err := exec.CommandContext(ctx, "wrk", append(args, url)...).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %w: %s", err, out)
	}
	s := string(out)
	if m := wrkNon2xx.FindStringSubmatch(s); m != nil {
		return wrkResult{}, fmt.Errorf("wrk %s %s: %s non-2xx responses", method, url, m[1])
	}
	var r wrkResult
	if m := wrkRPS.FindStringSubmatch(s); m != nil {
		r.RPS, _ = strconv.ParseFloat(m[1], 64)
	}
	pcts := wrkPct.FindAllStringSubmatch(s, -1)
	if len(pcts) == 0 {
		pcts = wrkPctOld.FindAllStringSubmatch(s, -1)
	}
	for _, m := range pcts {
		v, _ := strconv.ParseFloat(m[2], 64)
		switch m[3] {
		case "us":
			v /= 1000
		case "s":
			v *= 1000
		}
		if m[1] == "50" {
			r.P50 = v
		} else {
			r.P99 = v
		}
	}
	return r, nil
}

// putTags points tags 0..upto-1 (from `from`) of repo at one manifest with
// clients concurrent clients; returns the rate of the first and the last
// thousand tags (tags/s). progress, when not nil, gets each thousand's
// rate.
func putTags(ctx context.Context, c *client, repo string, manifest []byte, from, upto, clients int, progress func(end int, rate float64)) (first, last float64, err error) {
	const seg = 1000
	for start := from; start < upto; start += seg {
		end := min(start+seg, upto)
		var next atomic.Int64
		next.Store(int64(start))
		var wg sync.WaitGroup
		var mu sync.Mutex
		t0 := time.Now()
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= end {
						return
					}
					if e := c.putManifest(ctx, repo, fmt.Sprintf("t%06d", i), manifest); e != nil {
						mu.Lock()
						err = e
						mu.Unlock()
						return
					}
				}
			}()
		}
		wg.Wait()
		if err != nil {
			return 0, 0, err
		}
		rate := float64(end-start) / time.Since(t0).Seconds()
		if progress != nil {
			progress(end, rate)
		}
		if start == from {
			first = rate
		}
		last = rate
	}
	return first, last, nil
}

// listP50 lists path (following Link, up to maxPages pages; 0: all) k
// times; returns the median in ms and the number of entries.
func listP50(ctx context.Context, c *client, path, field string, maxPages, k int) (float64, int, error) {
	var ts []float64
	n := 0
	for range k {
		t0 := time.Now()
		got, err := c.listAll(ctx, path, field, maxPages)
		if err != nil {
			return 0, 0, err
		}
		ts = append(ts, float64(time.Since(t0).Microseconds())/1000)
		n = got
	}
	return median(ts), n, nil
}

// makeRepos creates repos repositories, each holding the image of src
// (blobs mounted from it, then the manifest), with clients concurrent
// clients.
func makeRepos(ctx context.Context, c *client, src string, cfg, layer blob, manifest []byte, repos, clients int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var err error
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= repos {
					return
				}
				repo := fmt.Sprintf("library/cat-%05d", i)
				e := c.mountBlob(ctx, repo, src, cfg.dgst)
				if e == nil {
					e = c.mountBlob(ctx, repo, src, layer.dgst)
				}
				if e == nil {
					e = c.putManifest(ctx, repo, "v1", manifest)
				}
				if e != nil {
					mu.Lock()
					err = e
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return err
}

// runHEAD measures HEAD requests on url with conns concurrent keep-alive
// connections for d (wrk cannot: it waits for a HEAD response's body).
func runHEAD(ctx context.Context, c *client, url string, conns int, d time.Duration) (wrkResult, error) {
	deadline := time.Now().Add(d)
	lat := make([][]float64, conns)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var err error
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				t0 := time.Now()
				resp, e := c.do(ctx, http.MethodHead, url, nil, 0, nil)
				if e == nil {
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						e = fmt.Errorf("HEAD %s: HTTP %d", url, resp.StatusCode)
					}
				}
				if e != nil {
					mu.Lock()
					err = e
					mu.Unlock()
					return
				}
				lat[i] = append(lat[i], float64(time.Since(t0).Microseconds())/1000)
			}
		}()
	}
	wg.Wait()
	if err != nil {
		return wrkResult{}, err
	}
	var all []float64
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	if len(all) == 0 {
		return wrkResult{}, fmt.Errorf("HEAD %s: no request finished", url)
	}
	return wrkResult{RPS: float64(len(all)) / d.Seconds(), P50: all[len(all)/2], P99: all[len(all)*99/100]}, nil
}
