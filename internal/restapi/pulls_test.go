package restapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/app/apptest"
)

// TestPullCounts: after N manifest GETs (by tag and by digest; HEADs do
// not count) the repository's pull_count is exactly N and the artifact
// and its tag show the last pull time, on both configurations; a pull
// does not wait for the database (it returns while pull counts cannot be
// written).
func TestPullCounts(t *testing.T) { forEachEnv(t, testPullCounts) }

func testPullCounts(t *testing.T, e *env) {
	e.createProject("p", false)
	img := e.pushImage("p/app", "v1", "a")
	e.pushImage("p/other", "v1", "b")
	before := time.Now().UTC().Add(-time.Second)

	// Hold a write lock on the pull counts while pulling: a pull that wrote
	// synchronously would wait for it.
	release := lockPullCounts(t, e)
	accept := []string{"Accept", "application/vnd.oci.image.manifest.v1+json"}
	const byTag, byDigest, heads = 4, 3, 5
	start := time.Now()
	for range byTag {
		e.must(e.do(admin, http.MethodGet, "/v2/p/app/manifests/v1", nil, accept...), 200)
	}
	for range byDigest {
		e.must(e.do(admin, http.MethodGet, "/v2/p/app/manifests/"+img.manifest.String(), nil, accept...), 200)
	}
	for range heads {
		e.must(e.do(admin, http.MethodHead, "/v2/p/app/manifests/v1", nil, accept...), 200)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("%d pulls took %s while pull counts were locked: a pull waits for the database", byTag+byDigest+heads, d)
	}
	release()

	type repo struct {
		Name      string `json:"name"`
		PullCount int    `json:"pull_count"`
	}
	var got repo
	apptest.Eventually(t, 20*time.Second, func() bool {
		got = decode[repo](t, e.must(e.do(admin, http.MethodGet, "projects/p/repositories/app", nil), 200))
		return got.PullCount >= byTag+byDigest
	})
	if got.PullCount != byTag+byDigest {
		t.Fatalf("pull_count = %d, want %d", got.PullCount, byTag+byDigest)
	}
	type art struct {
		PullTime time.Time `json:"pull_time"`
		Tags     []struct {
			Name     string    `json:"name"`
			PullTime time.Time `json:"pull_time"`
		} `json:"tags"`
	}
	a := decode[art](t, e.must(e.do(admin, http.MethodGet, "projects/p/repositories/app/artifacts/v1", nil), 200))
	if a.PullTime.Before(before) || len(a.Tags) != 1 || !a.Tags[0].PullTime.Equal(a.PullTime) {
		t.Errorf("artifact pull_time %s, tags %+v: want a time after %s on both", a.PullTime, a.Tags, before)
	}
	other := decode[art](t, e.must(e.do(admin, http.MethodGet, "projects/p/repositories/other/artifacts/v1", nil), 200))
	if !other.PullTime.IsZero() {
		t.Errorf("never-pulled artifact pull_time = %s, want zero", other.PullTime)
	}
	list := decode[[]repo](t, e.must(e.do(admin, http.MethodGet, "projects/p/repositories", nil), 200))
	want := map[string]int{"p/app": byTag + byDigest, "p/other": 0}
	for _, r := range list {
		if r.PullCount != want[r.Name] {
			t.Errorf("listing: %s pull_count %d, want %d", r.Name, r.PullCount, want[r.Name])
		}
	}
	// Harbor's /search shows the same pull_count.
	found := decode[struct {
		Repository []struct {
			Name      string `json:"repository_name"`
			PullCount int    `json:"pull_count"`
		} `json:"repository"`
	}](t, e.must(e.do(admin, http.MethodGet, "search?q=p/", nil), 200))
	n := 0
	for _, r := range found.Repository {
		if w, ok := want[r.Name]; ok {
			n++
			if r.PullCount != w {
				t.Errorf("search: %s pull_count %d, want %d", r.Name, r.PullCount, w)
			}
		}
	}
	if n != 2 {
		t.Errorf("search found %+v, want p/app and p/other", found.Repository)
	}
	// Counts stay exact: a later flush adds nothing more.
	time.Sleep(4 * time.Second)
	got = decode[repo](t, e.must(e.do(admin, http.MethodGet, "projects/p/repositories/app", nil), 200))
	if got.PullCount != byTag+byDigest {
		t.Errorf("pull_count later = %d, want %d", got.PullCount, byTag+byDigest)
	}
}

// lockPullCounts holds a write lock on artifact_pulls through a second
// connection (the whole database on SQLite) until release is called.
func lockPullCounts(t *testing.T, e *env) (release func()) {
	t.Helper()
	db := e.store().DB()
	tx, err := db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	stmt := `DELETE FROM artifact_pulls WHERE manifest_id = -1`
	if e.store().Dialect() == "postgres" {
		stmt = `LOCK TABLE artifact_pulls IN EXCLUSIVE MODE`
	}
	if _, err := tx.ExecContext(t.Context(), stmt); err != nil {
		_ = tx.Rollback()
		t.Fatal(err)
	}
	done := false
	release = func() {
		if !done {
			done = true
			_ = tx.Rollback()
		}
	}
	t.Cleanup(release)
	return release
}
