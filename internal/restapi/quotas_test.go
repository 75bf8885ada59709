package restapi_test

import (
	"fmt"
	"net/http"
	"testing"
)

type quotaUsageJSON struct {
	ID   int64            `json:"id"`
	Ref  map[string]any   `json:"ref"`
	Used map[string]int64 `json:"used"`
	Hard map[string]int64 `json:"hard"`
	// Berth additions.
	PendingGC *map[string]int64 `json:"pending_gc"`
	Physical  *map[string]int64 `json:"physical"`
}

// TestQuotaPhysicalBytes: /quotas shows beside each project's usage the
// bytes pending GC and the registry's physical (deduplicated) bytes: a
// blob two projects hold counts in both usages, once physically.
func TestQuotaPhysicalBytes(t *testing.T) { forEachEnv(t, testQuotaPhysicalBytes) }

func testQuotaPhysicalBytes(t *testing.T, e *env) {
	e.createProject("p", false)
	e.createProject("q", false)
	img := e.pushImage("p/app", "v1", "same")
	e.pushImage("q/app", "v1", "same")
	blobs := img.size - int64(len(e.must(e.do(admin, http.MethodGet, "/v2/p/app/manifests/v1", nil,
		"Accept", "application/vnd.oci.image.manifest.v1+json"), 200).body))

	list := decode[[]quotaUsageJSON](t, e.must(e.do(admin, http.MethodGet, "quotas?page_size=100", nil), 200))
	var mine []quotaUsageJSON
	for _, q := range list {
		if q.Ref["name"] == "p" || q.Ref["name"] == "q" {
			mine = append(mine, q)
		}
	}
	if len(mine) != 2 {
		t.Fatalf("quotas = %+v, want p and q", list)
	}
	for _, q := range mine {
		if q.Used["storage"] != img.size || q.PendingGC == nil || (*q.PendingGC)["storage"] != 0 ||
			q.Physical == nil || (*q.Physical)["storage"] != blobs {
			t.Errorf("quota %v: used %v pending %v physical %v, want used %d, pending 0, physical %d",
				q.Ref["name"], q.Used, q.PendingGC, q.Physical, img.size, blobs)
		}
	}
	one := decode[quotaUsageJSON](t, e.must(e.do(admin, http.MethodGet, fmt.Sprintf("quotas/%d", mine[0].ID), nil), 200))
	if one.Physical == nil || (*one.Physical)["storage"] != blobs || one.PendingGC == nil {
		t.Errorf("GET /quotas/%d = %+v", mine[0].ID, one)
	}
}
