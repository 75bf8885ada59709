package replication_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/internal/app/apptest"
)

// TestPeerEventBased: with an event_based push policy, a push to Berth
// is replicated to Distribution without anyone starting it, and the
// artifact's deletion is propagated (replicate_deletion).
func TestPeerEventBased(t *testing.T) {
	dist := startDistribution(t, t.TempDir(), 0)
	a := apptest.Start(t)
	dst := addRegistry(t, a, "dist", "docker-registry", "http://"+dist.Addr, "", "")
	pushPolicy(t, a, "on-push", dst, []map[string]any{{"type": "name", "value": "library/ev*"}},
		map[string]any{"trigger": map[string]any{"type": "event_based"}, "replicate_deletion": true})
	img := pushRandom(t, a.Addr+"/library/event:1", 4096, 1, adminAuth)
	pushRandom(t, a.Addr+"/library/other:1", 4096, 1, adminAuth)
	d, _ := img.Digest()
	if !apptest.Eventually(t, time.Minute, func() bool {
		got, err := remote.Head(ref(t, dist.Addr+"/library/event:1"))
		return err == nil && got.Digest == d
	}) {
		t.Fatalf("the push was not replicated\n%s", a.REST(t, http.MethodGet, "replication/executions", nil).Body)
	}
	if _, err := remote.Head(ref(t, dist.Addr+"/library/other:1")); err == nil {
		t.Error("library/other was replicated despite the name filter")
	}
	var execs []execution
	a.REST(t, http.MethodGet, "replication/executions", nil).Decode(t, &execs)
	if len(execs) != 1 || execs[0].Total != 1 {
		t.Errorf("executions: %+v", execs)
	}

	rest(t, a, http.MethodDelete, "projects/library/repositories/event/artifacts/"+d.String(), nil, http.StatusOK)
	if !apptest.Eventually(t, time.Minute, func() bool {
		_, err := remote.Head(ref(t, dist.Addr+"/library/event@"+d.String()))
		return err != nil
	}) {
		t.Fatalf("the deletion was not replicated\n%s", a.REST(t, http.MethodGet, "replication/executions", nil).Body)
	}
}

// TestPeerScheduled: a scheduled policy (cron) runs by itself.
func TestPeerScheduled(t *testing.T) {
	dist := startDistribution(t, t.TempDir(), 0)
	a := apptest.Start(t)
	img := pushRandom(t, a.Addr+"/library/cron:1", 2048, 1, adminAuth)
	dst := addRegistry(t, a, "dist", "docker-registry", "http://"+dist.Addr, "", "")
	pushPolicy(t, a, "every-2s", dst, nil, map[string]any{"trigger": map[string]any{"type": "scheduled",
		"trigger_settings": map[string]any{"cron": "*/2 * * * * *"}}})
	rest(t, a, http.MethodPost, "replication/policies", map[string]any{"name": "bad-cron",
		"dest_registry": map[string]any{"id": dst}, "trigger": map[string]any{"type": "scheduled",
			"trigger_settings": map[string]any{"cron": "not a cron"}}}, http.StatusBadRequest)
	d, _ := img.Digest()
	if !apptest.Eventually(t, 45*time.Second, func() bool {
		got, err := remote.Head(ref(t, dist.Addr+"/library/cron:1"))
		return err == nil && got.Digest == d
	}) {
		t.Fatalf("the scheduled policy did not run\n%s", a.REST(t, http.MethodGet, "replication/executions", nil).Body)
	}
	var execs []struct {
		Trigger string `json:"trigger"`
	}
	a.REST(t, http.MethodGet, "replication/executions", nil).Decode(t, &execs)
	if len(execs) == 0 || execs[len(execs)-1].Trigger != "scheduled" {
		t.Errorf("executions: %+v", execs)
	}
}
