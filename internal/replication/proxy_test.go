package replication_test

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/internal/app/apptest"
	"github.com/berth-registry/berth/internal/config"
)

// proxyProject creates project name on srv as a proxy cache of the
// Distribution at addr.
func proxyProject(t *testing.T, srv *apptest.Server, name, addr string) {
	t.Helper()
	reg := addRegistry(t, srv, "upstream-"+name, "docker-registry", "http://"+addr, "", "")
	rest(t, srv, http.MethodPost, "projects", map[string]any{"project_name": name, "registry_id": reg,
		"metadata": map[string]string{"public": "false"}}, http.StatusCreated)
}

// pullAll pulls refStr completely (every platform's manifest, config and
// layers, bytes read) and returns the top manifest's digest.
func pullAll(t *testing.T, refStr string) (string, error) {
	t.Helper()
	desc, err := remote.Get(ref(t, refStr), adminAuth)
	if err != nil {
		return "", err
	}
	var imgs []v1.Image
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return "", err
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return "", err
		}
		for _, m := range im.Manifests {
			img, err := idx.Image(m.Digest)
			if err != nil {
				return "", err
			}
			imgs = append(imgs, img)
		}
	} else {
		img, err := desc.Image()
		if err != nil {
			return "", err
		}
		imgs = append(imgs, img)
	}
	for _, img := range imgs {
		if _, err := img.RawConfigFile(); err != nil {
			return "", err
		}
		layers, err := img.Layers()
		if err != nil {
			return "", err
		}
		for _, l := range layers {
			rc, err := l.Compressed()
			if err != nil {
				return "", err
			}
			_, err = io.Copy(io.Discard, rc) // ggcr checks the digest at EOF
			rc.Close()
			if err != nil {
				return "", err
			}
		}
	}
	return desc.Digest.String(), nil
}

// TestPeerProxyCache: the first pull of proxy/library/nginx:1.27 comes
// from the upstream (Distribution) and is cached; with the upstream
// stopped the same pull is served from the cache (stale, logged); the
// cached content counts in the project's quota.
func TestPeerProxyCache(t *testing.T) {
	apptest.ForEachConfig(t, testPeerProxyCache, func(c *config.Config) { c.Replication.ProxyTagCheck = 0 })
}

func testPeerProxyCache(t *testing.T, a *apptest.Server) {
	dist := startDistribution(t, t.TempDir(), 0)
	idx := multiArch(t, 128<<10, 2)
	if err := remote.WriteIndex(ref(t, dist.Addr+"/library/nginx:1.27"), idx); err != nil {
		t.Fatal(err)
	}
	want, _ := idx.Digest()
	proxyProject(t, a, "proxy", dist.Addr)

	got, err := pullAll(t, a.Addr+"/proxy/library/nginx:1.27")
	if err != nil || got != want.String() {
		t.Fatalf("first pull: %s, %v; want %s", got, err, want)
	}
	// Cached in the background: wait until the tag is stored.
	if !apptest.Eventually(t, time.Minute, func() bool {
		d, err := a.Store(t).Manifests.GetTag(t.Context(), "proxy/library/nginx", "1.27")
		return err == nil && d.String() == want.String()
	}) {
		t.Fatal("the pulled image was not cached")
	}
	dist.kill()
	got, err = pullAll(t, a.Addr+"/proxy/library/nginx:1.27")
	if err != nil || got != want.String() {
		t.Fatalf("pull with the upstream stopped: %s, %v; want %s", got, err, want)
	}
	if !strings.Contains(a.Logs(), "serving a stale copy") {
		t.Error("serving from the cache while the upstream is down is not logged")
	}
	// What is not cached fails cleanly.
	if _, err := remote.Get(ref(t, a.Addr+"/proxy/library/nginx:missing"), adminAuth); err == nil {
		t.Error("a tag never cached was served with the upstream down")
	}
	var quotas []struct {
		Used map[string]int64 `json:"used"`
		Ref  struct {
			Name string `json:"name"`
		} `json:"ref"`
	}
	rest(t, a, http.MethodGet, "quotas?reference=project", nil, http.StatusOK).Decode(t, &quotas)
	found := false
	for _, q := range quotas {
		if q.Ref.Name == "proxy" {
			found = true
			if q.Used["storage"] < 4*(128<<10) {
				t.Errorf("proxy project quota used %d, want the cached layers counted", q.Used["storage"])
			}
		}
	}
	if !found {
		t.Errorf("no quota for project proxy in %+v", quotas)
	}
}

// TestPeerProxyConcurrentPulls: 20 concurrent pulls of an uncached image
// through the proxy fetch each blob from the upstream exactly once
// (counted in the upstream's access log).
func TestPeerProxyConcurrentPulls(t *testing.T) {
	dist := startDistribution(t, t.TempDir(), 0)
	a := apptest.Start(t)
	img := pushRandom(t, dist.Addr+"/library/busy:1", 512<<10, 3)
	want, _ := img.Digest()
	proxyProject(t, a, "hub", dist.Addr)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := pullAll(t, a.Addr+"/hub/library/busy:1")
			if err == nil && got != want.String() {
				err = io.ErrUnexpectedEOF
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a concurrent pull failed: %v", err)
		}
	}
	gets := dist.blobGETs(t)
	cfg, _ := img.ConfigName()
	layers, _ := img.Layers()
	blobs := []string{cfg.String()}
	for _, l := range layers {
		d, _ := l.Digest()
		blobs = append(blobs, d.String())
	}
	for _, b := range blobs {
		if gets[b] != 1 {
			t.Errorf("blob %s fetched %d times from the upstream, want exactly 1", b, gets[b])
		}
	}
	t.Logf("upstream blob GETs: %v", gets)
}
