package restapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/app/apptest"
	"github.com/berth-registry/berth/internal/config"
)

// TestAutoDeleteUntagged: a project with auto_delete_untagged loses its
// untagged manifests once they are older than the GC grace period; tagged
// ones, and another project's untagged ones, stay.
func TestAutoDeleteUntagged(t *testing.T) {
	forEachEnv(t, testAutoDeleteUntagged, func(c *config.Config) {
		c.GC.Grace = time.Second
		c.GC.Interval = time.Second
	})
}

func testAutoDeleteUntagged(t *testing.T, e *env) {
	e.createProject("p", false)
	e.createProject("q", false)
	md := decode[map[string]string](t, e.must(e.do(admin, http.MethodGet, "projects/p/metadatas/", nil), 200))
	if md["auto_delete_untagged"] != "false" || md["public"] != "false" {
		t.Errorf("metadata = %v, want auto_delete_untagged false", md)
	}
	e.must(e.do(admin, http.MethodPut, "projects/p/metadatas/auto_delete_untagged", map[string]string{"auto_delete_untagged": "yes please"}), 400)
	kept := e.pushImage("p/app", "v1", "kept")
	gone := e.pushImage("p/app", "v2", "gone")
	other := e.pushImage("q/app", "v2", "other")
	art := "projects/p/repositories/app/artifacts/"
	e.must(e.do(admin, http.MethodDelete, art+"v2/tags/v2", nil), 200)
	e.must(e.do(admin, http.MethodDelete, "projects/q/repositories/app/artifacts/v2/tags/v2", nil), 200)
	e.must(e.do(admin, http.MethodPut, "projects/p/metadatas/auto_delete_untagged", map[string]string{"auto_delete_untagged": "true"}), 200)
	got := decode[map[string]string](t, e.must(e.do(admin, http.MethodGet, "projects/p/metadatas/auto_delete_untagged", nil), 200))
	if got["auto_delete_untagged"] != "true" {
		t.Errorf("after PUT: %v", got)
	}

	head := func(repo, d string) int {
		return e.do(admin, http.MethodHead, "/v2/"+repo+"/manifests/"+d, nil, "Accept", "application/vnd.oci.image.manifest.v1+json").status
	}
	if !apptest.Eventually(t, 30*time.Second, func() bool { return head("p/app", gone.manifest.String()) == 404 }) {
		t.Fatalf("untagged manifest %s still there", gone.manifest)
	}
	if s := head("p/app", kept.manifest.String()); s != 200 {
		t.Errorf("tagged manifest: HEAD %d, want 200", s)
	}
	if s := head("q/app", other.manifest.String()); s != 200 {
		t.Errorf("untagged manifest of a project that did not ask: HEAD %d, want 200", s)
	}
}
