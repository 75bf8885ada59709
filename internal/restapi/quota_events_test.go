package restapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/app/apptest"
	"github.com/berth-registry/berth/internal/meta"
)

// TestQuotaEventsOncePerCrossing: crossing 85% of a project's limit writes
// one QUOTA_WARNING, a push refused for the quota one QUOTA_EXCEED (a
// second refusal none), and each is written again only after usage has
// moved to another level (here: the limit raised, then lowered again).
// The metric berth_project_quota_threshold_percent says where the
// project's usage is.
func TestQuotaEventsOncePerCrossing(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		e.must(e.do(admin, http.MethodPost, "projects", map[string]any{"project_name": "edge", "storage_limit": 1000}), http.StatusCreated)
		pid := e.projectID("edge")
		cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
		layer := bytes.Repeat([]byte("y"), 800)
		c, l := e.srv.PushBlob(t, admin, "edge/app", cfg), e.srv.PushBlob(t, admin, "edge/app", layer) // about 88%
		m := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` +
			c.String() + `","size":` + itoa(int64(len(cfg))) + `},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"` +
			l.String() + `","size":800}]}`)
		push := func() {
			t.Helper()
			r := e.do(admin, http.MethodPut, "/v2/edge/app/manifests/v1", m, "Content-Type", "application/vnd.oci.image.manifest.v1+json")
			if r.status != http.StatusForbidden {
				t.Fatalf("push over quota: %d %s %q", r.status, r.code, r.msg)
			}
		}
		push()
		push() // the same crossing: no second event
		quota := func() int64 {
			t.Helper()
			qs := decode[[]quotaUsageJSON](t, e.must(e.do(admin, http.MethodGet, "quotas?reference=project&reference_id="+itoa(pid), nil), 200))
			if len(qs) != 1 {
				t.Fatalf("quotas of edge: %+v", qs)
			}
			return qs[0].ID
		}
		q := quota()
		threshold := func(want int) {
			t.Helper()
			qu, err := e.store().Quotas.ProjectQuota(t.Context(), pid)
			if err != nil || qu.Threshold != want {
				t.Errorf("threshold = %d (%v), want %d", qu.Threshold, err, want)
			}
		}
		threshold(meta.QuotaWarnPercent) // usage is 88%; the refusal does not move it
		e.must(e.do(admin, http.MethodPut, fmt.Sprintf("quotas/%d", q), map[string]any{"hard": map[string]int64{"storage": 100_000}}), 200)
		threshold(0)
		e.must(e.do(admin, http.MethodPut, fmt.Sprintf("quotas/%d", q), map[string]any{"hard": map[string]int64{"storage": 1000}}), 200)
		threshold(meta.QuotaWarnPercent)
		push()
		push()

		want := []string{"QUOTA_WARNING", "QUOTA_EXCEED", "QUOTA_WARNING", "QUOTA_EXCEED"}
		var got []string
		var es []meta.Event
		apptest.Eventually(t, 10*time.Second, func() bool {
			all, err := e.store().Events.EventsAfter(t.Context(), 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			got, es = got[:0], es[:0]
			for _, ev := range all {
				if ev.ProjectID == pid {
					got, es = append(got, ev.Type), append(es, ev)
				}
			}
			return len(got) >= len(want)
		})
		if !slices.Equal(got, want) {
			t.Fatalf("events of edge: %v, want %v", got, want)
		}
		for _, ev := range es {
			var d struct {
				Details string `json:"details"`
				Used    int64  `json:"used"`
				Limit   int64  `json:"limit"`
			}
			if err := json.Unmarshal(ev.Detail, &d); err != nil || d.Details == "" || d.Limit != 1000 || d.Used < 850 {
				t.Errorf("%s detail %s (%v): want details, used and a limit of 1000", ev.Type, ev.Detail, err)
			}
		}
		if es[1].Repository != "edge/app" || es[1].Operator != "admin" {
			t.Errorf("refusal event %+v, want the repository and the pusher", es[1])
		}
	})
}
