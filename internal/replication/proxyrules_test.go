package replication_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/berth-registry/berth/internal/app/apptest"
	"github.com/berth-registry/berth/internal/config"
)

// TestPeerProxyProjectRules: a proxy-cache project shows its registry_id,
// refuses pushes and deletes through /v2/ with 403 DENIED (as Harbor
// does), and its cached content follows the project's rules: a retention
// run deletes cached tags like any others (a later pull fetches them
// again), and content beyond the project's quota is served but not
// cached.
func TestPeerProxyProjectRules(t *testing.T) {
	apptest.ForEachConfig(t, testProxyProjectRules, func(c *config.Config) { c.Replication.ProxyTagCheck = 0 })
}

func testProxyProjectRules(t *testing.T, a *apptest.Server) {
	dist := startDistribution(t, t.TempDir(), 0)
	for _, tag := range []string{"v1", "v2", "v3"} {
		pushRandom(t, dist.Addr+"/library/app:"+tag, 4096, 1)
	}
	big := pushRandom(t, dist.Addr+"/library/big:1", 256<<10, 2)
	reg := addRegistry(t, a, "upstream", "docker-registry", "http://"+dist.Addr, "", "")
	rest(t, a, http.MethodPost, "projects", map[string]any{"project_name": "px", "registry_id": reg,
		"metadata": map[string]string{"public": "false"}}, http.StatusCreated)
	rest(t, a, http.MethodPost, "projects", map[string]any{"project_name": "small", "registry_id": reg,
		"storage_limit": 100 << 10, "metadata": map[string]string{"public": "false"}}, http.StatusCreated)

	// registry_id in GET /projects/{p} and GET /projects; absent elsewhere.
	var one struct {
		RegistryID *int64 `json:"registry_id"`
	}
	rest(t, a, http.MethodGet, "projects/px", nil, http.StatusOK).Decode(t, &one)
	if one.RegistryID == nil || *one.RegistryID != reg {
		t.Errorf("GET /projects/px registry_id = %v, want %d", one.RegistryID, reg)
	}
	var list []struct {
		Name       string `json:"name"`
		RegistryID *int64 `json:"registry_id"`
	}
	rest(t, a, http.MethodGet, "projects?page_size=100", nil, http.StatusOK).Decode(t, &list)
	seen := 0
	for _, p := range list {
		switch p.Name {
		case "px", "small":
			seen++
			if p.RegistryID == nil || *p.RegistryID != reg {
				t.Errorf("GET /projects: %s registry_id = %v, want %d", p.Name, p.RegistryID, reg)
			}
		default:
			if p.RegistryID != nil {
				t.Errorf("GET /projects: ordinary project %s has registry_id %d", p.Name, *p.RegistryID)
			}
		}
	}
	if seen != 2 {
		t.Errorf("GET /projects lists %d of the 2 proxy projects: %+v", seen, list)
	}

	// Pull the three tags through the proxy; they are cached.
	for _, tag := range []string{"v1", "v2", "v3"} {
		if _, err := pullAll(t, a.Addr+"/px/library/app:"+tag); err != nil {
			t.Fatalf("pull %s: %v", tag, err)
		}
		waitCached(t, a, "px/library/app", tag)
	}

	// No push, no delete through /v2/.
	img, _ := random.Image(1024, 1)
	err := remote.Write(ref(t, a.Addr+"/px/library/mine:1"), img, adminAuth)
	wantDenied(t, "push into a proxy project", err, "can not push artifact to a proxy project: px")
	d, _ := a.Store(t).Manifests.GetTag(t.Context(), "px/library/app", "v1")
	err = remote.Delete(ref(t, a.Addr+"/px/library/app@"+d.String()), adminAuth)
	wantDenied(t, "delete from a proxy project", err, "can not delete from a proxy project: px")
	if _, err := remote.Head(ref(t, a.Addr+"/px/library/app@"+d.String()), adminAuth); err != nil {
		t.Errorf("the refused delete removed the manifest: %v", err)
	}

	// Retention: keep the most recently pushed tag of the cache.
	var proj struct {
		ID int64 `json:"project_id"`
	}
	rest(t, a, http.MethodGet, "projects/px", nil, http.StatusOK).Decode(t, &proj)
	rule := map[string]any{"action": "retain", "template": "latestPushedK", "params": map[string]any{"latestPushedK": 1},
		"tag_selectors": []map[string]any{{"kind": "doublestar", "decoration": "matches", "pattern": "**",
			"extras": `{"untagged":true}`}},
		"scope_selectors": map[string]any{"repository": []map[string]any{{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}}}}
	r := rest(t, a, http.MethodPost, "retentions", map[string]any{"algorithm": "or", "rules": []any{rule},
		"scope":   map[string]any{"level": "project", "ref": proj.ID},
		"trigger": map[string]any{"kind": "Schedule", "settings": map[string]any{"cron": ""}, "references": map[string]any{}}},
		http.StatusCreated)
	loc := strings.TrimPrefix(r.Header.Get("Location"), "/api/v2.0/")
	ex := strings.TrimPrefix(rest(t, a, http.MethodPost, loc+"/executions", map[string]any{"dry_run": false},
		http.StatusCreated).Header.Get("Location"), "/api/v2.0/")
	if !apptest.Eventually(t, time.Minute, func() bool {
		var e struct {
			Status string `json:"status"`
		}
		rest(t, a, http.MethodGet, ex, nil, http.StatusOK).Decode(t, &e)
		return e.Status != "Running" && e.Status != "InProgress"
	}) {
		t.Fatal("the retention run did not end")
	}
	kept := 0
	for _, tag := range []string{"v1", "v2", "v3"} {
		if _, err := a.Store(t).Manifests.GetTag(t.Context(), "px/library/app", tag); err == nil {
			kept++
		}
	}
	if kept != 1 {
		t.Fatalf("retention (latest 1) on the cache kept %d of 3 cached tags", kept)
	}
	// A tag retention removed is fetched again on the next pull.
	for _, tag := range []string{"v1", "v2", "v3"} {
		if _, err := pullAll(t, a.Addr+"/px/library/app:"+tag); err != nil {
			t.Errorf("pull %s after retention: %v", tag, err)
		}
	}

	// Quota: a 512 KiB image in a project limited to 100 KiB is served
	// from the upstream, and not cached.
	want, _ := big.Digest()
	got, err := pullAll(t, a.Addr+"/small/library/big:1")
	if err != nil || got != want.String() {
		t.Fatalf("pull beyond the quota: %s, %v; want %s", got, err, want)
	}
	if !apptest.Eventually(t, time.Minute, func() bool { return strings.Contains(a.Logs(), "proxy cache: could not cache") }) {
		t.Error("the cache failure beyond the quota is not logged")
	}
	if _, err := a.Store(t).Manifests.GetTag(t.Context(), "small/library/big", "1"); err == nil {
		t.Error("an image beyond the project's quota was cached")
	}
	var quotas []struct {
		Hard map[string]int64 `json:"hard"`
		Used map[string]int64 `json:"used"`
		Ref  struct {
			Name string `json:"name"`
		} `json:"ref"`
	}
	rest(t, a, http.MethodGet, "quotas?reference=project&page_size=100", nil, http.StatusOK).Decode(t, &quotas)
	for _, q := range quotas {
		if q.Ref.Name == "small" && q.Used["storage"] > q.Hard["storage"] {
			t.Errorf("project small uses %d bytes, over its limit %d", q.Used["storage"], q.Hard["storage"])
		}
	}
}

func waitCached(t *testing.T, a *apptest.Server, repo, tag string) {
	t.Helper()
	if !apptest.Eventually(t, time.Minute, func() bool {
		_, err := a.Store(t).Manifests.GetTag(t.Context(), repo, tag)
		return err == nil
	}) {
		t.Fatalf("%s:%s was not cached", repo, tag)
	}
}

func wantDenied(t *testing.T, what string, err error, msg string) {
	t.Helper()
	var terr *transport.Error
	if !errors.As(err, &terr) {
		t.Fatalf("%s: %v, want a registry error", what, err)
	}
	if terr.StatusCode != http.StatusForbidden || len(terr.Errors) == 0 || terr.Errors[0].Code != transport.DeniedErrorCode ||
		!strings.Contains(terr.Errors[0].Message, msg) {
		t.Errorf("%s: %s, want 403 DENIED %q", what, fmt.Sprint(terr), msg)
	}
}
