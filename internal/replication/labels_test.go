package replication_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/internal/app/apptest"
)

// label creates a system-wide label on srv and returns its id.
func label(t *testing.T, srv *apptest.Server, name string) int64 {
	t.Helper()
	return idFrom(t, rest(t, srv, http.MethodPost, "labels", map[string]any{"name": name, "scope": "g"}, http.StatusCreated))
}

// attach puts label id on project/repo@digest of srv.
func attach(t *testing.T, srv *apptest.Server, project, repo, d string, id int64) {
	t.Helper()
	rest(t, srv, http.MethodPost, "projects/"+project+"/repositories/"+repo+"/artifacts/"+d+"/labels",
		map[string]any{"id": id}, http.StatusOK)
}

// TestPeerLabelFilters: Harbor's label filters. A push policy to
// Distribution with a "matches release" and an "excludes release+beta"
// filter copies only the artifact labelled release alone; a pull policy
// from a second Berth (whose API shows labels) with "matches release"
// copies both labelled artifacts; a pull policy from Distribution (no
// labels) with a label filter is refused with a clear error.
func TestPeerLabelFilters(t *testing.T) {
	a := apptest.Start(t)
	b := apptest.Start(t)
	dist := startDistribution(t, t.TempDir(), 0)
	release, beta := label(t, a, "release"), label(t, a, "beta")
	digests := map[string]string{}
	for _, name := range []string{"plain", "rel", "relbeta"} {
		img := pushRandom(t, a.Addr+"/library/"+name+":1", 2048, 1, adminAuth)
		d, _ := img.Digest()
		digests[name] = d.String()
	}
	attach(t, a, "library", "rel", digests["rel"], release)
	attach(t, a, "library", "relbeta", digests["relbeta"], release)
	attach(t, a, "library", "relbeta", digests["relbeta"], beta)

	toDist := addRegistry(t, a, "dist", "docker-registry", "http://"+dist.Addr, "", "")
	pid := pushPolicy(t, a, "labelled", toDist, []map[string]any{
		{"type": "label", "value": []string{"release"}},
		{"type": "label", "value": []string{"release", "beta"}, "decoration": "excludes"},
	}, nil)
	e := waitExecution(t, a, startExecution(t, a, pid), 2*time.Minute)
	if e.Status != "Succeed" || e.Total != 1 {
		t.Fatalf("push execution: %+v\n%s", e, taskLogs(t, a, e.ID))
	}
	if got := digestOf(t, dist.Addr+"/library/rel:1"); got != digests["rel"] {
		t.Errorf("library/rel on the destination: %s", got)
	}
	for _, absent := range []string{"plain", "relbeta"} {
		if _, err := remote.Head(ref(t, dist.Addr+"/library/"+absent+":1")); err == nil {
			t.Errorf("library/%s was replicated despite the label filters", absent)
		}
	}

	// Pull from Berth a into Berth b: the source's labels come from its API.
	src := addRegistry(t, b, "berth-a", "berth", a.URL, "admin", apptest.AdminPassword)
	pull := idFrom(t, rest(t, b, http.MethodPost, "replication/policies", map[string]any{
		"name": "pull-labelled", "src_registry": map[string]any{"id": src}, "dest_namespace": "mirror",
		"trigger": map[string]any{"type": "manual"}, "enabled": true,
		"filters": []map[string]any{{"type": "name", "value": "library/**"}, {"type": "label", "value": []string{"release"}}},
	}, http.StatusCreated))
	e = waitExecution(t, b, startExecution(t, b, pull), 2*time.Minute)
	if e.Status != "Succeed" || e.Total != 2 {
		t.Fatalf("pull execution: %+v\n%s", e, taskLogs(t, b, e.ID))
	}
	for name, want := range map[string]bool{"plain": false, "rel": true, "relbeta": true} {
		_, err := remote.Head(ref(t, b.Addr+"/mirror/"+name+":1"), adminAuth)
		if (err == nil) != want {
			t.Errorf("mirror/%s on b: present %v, want %v", name, err == nil, want)
		}
	}

	// Distribution keeps no labels: a pull policy filtering on them is refused.
	fromDist := addRegistry(t, b, "dist", "docker-registry", "http://"+dist.Addr, "", "")
	r := rest(t, b, http.MethodPost, "replication/policies", map[string]any{
		"name": "bad", "src_registry": map[string]any{"id": fromDist}, "trigger": map[string]any{"type": "manual"},
		"filters": []map[string]any{{"type": "label", "value": []string{"release"}}},
	}, http.StatusBadRequest)
	if !strings.Contains(string(r.Body), "keeps no labels") {
		t.Errorf("refusal: %s", r.Body)
	}
}
