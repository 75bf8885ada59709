package restapi_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/app/apptest"
)

// TestScanAllSchedule: Harbor's /system/scanAll/schedule (Daily until
// set, then what PUT stored; a bad cron refused; administrators only), a
// Manual POST scans every image now, and /scans/all/metrics counts what
// that run did.
func TestScanAllSchedule(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		type schedule struct {
			Schedule struct {
				Type string `json:"type"`
				Cron string `json:"cron"`
				Next string `json:"next_scheduled_time"`
			} `json:"schedule"`
		}
		got := decode[schedule](t, e.must(e.do(admin, http.MethodGet, "system/scanAll/schedule", nil), http.StatusOK))
		if got.Schedule.Type != "Daily" || got.Schedule.Next == "" {
			t.Errorf("default schedule %+v, want Daily with a next run", got)
		}
		e.must(e.do(admin, http.MethodPut, "system/scanAll/schedule", map[string]any{"schedule": map[string]string{"type": "Custom", "cron": "0 30 2 * * *"}}), http.StatusOK)
		got = decode[schedule](t, e.must(e.do(admin, http.MethodGet, "system/scanAll/schedule", nil), http.StatusOK))
		if got.Schedule.Type != "Custom" || got.Schedule.Cron != "0 30 2 * * *" {
			t.Errorf("schedule after PUT %+v", got)
		}
		e.must(e.do(admin, http.MethodPut, "system/scanAll/schedule", map[string]any{"schedule": map[string]string{"type": "Custom", "cron": "not a cron"}}), http.StatusBadRequest)
		user, _ := e.addUser("scanalluser", false)
		e.must(e.do(user, http.MethodGet, "system/scanAll/schedule", nil), http.StatusForbidden)
		e.must(e.do(user, http.MethodPost, "system/scanAll/schedule", map[string]any{"schedule": map[string]string{"type": "Manual"}}), http.StatusForbidden)
		e.must(e.do(user, http.MethodGet, "scans/all/metrics", nil), http.StatusForbidden)

		stub := &stubAdapter{t: t}
		srv := httptest.NewServer(stub.handler())
		defer srv.Close()
		e.must(e.do(admin, http.MethodPost, "scanners", map[string]any{"name": "stub", "url": srv.URL}), http.StatusCreated)
		e.srv.CreateProject(t, "scanall", false)
		rcv := newReceiver(t) // webhooks_test.go
		e.must(e.do(admin, http.MethodPost, "projects/scanall/webhook/policies", map[string]any{
			"name": "scans", "event_types": []string{"SCANNING_COMPLETED", "SCANNING_FAILED"},
			"targets": []map[string]any{{"address": "http://" + rcv.addr + "/hook"}},
		}), http.StatusCreated)
		e.srv.PushImage(t, admin, "scanall/a", "v1")
		e.srv.PushImage(t, admin, "scanall/b", "v1")
		e.must(e.do(admin, http.MethodPost, "system/scanAll/schedule", map[string]any{"schedule": map[string]string{"type": "Manual"}}), http.StatusCreated)
		type stats struct {
			Total     int            `json:"total"`
			Completed int            `json:"completed"`
			Metrics   map[string]int `json:"metrics"`
			Ongoing   bool           `json:"ongoing"`
			Trigger   string         `json:"trigger"`
		}
		var st stats
		apptest.Eventually(t, 2*time.Minute, func() bool {
			st = decode[stats](t, e.must(e.do(admin, http.MethodGet, "scans/all/metrics", nil), http.StatusOK))
			return st.Completed >= 2 && !st.Ongoing
		})
		if st.Total != 2 || st.Completed != 2 || st.Metrics["Success"] != 2 || st.Trigger != "Manual" || st.Ongoing {
			t.Errorf("metrics after a manual scan all of two images: %+v", st)
		}
		// Each finished scan reached the project's webhook with its overview.
		for i, d := range rcv.waitFor(2, time.Minute)[:2] {
			data, _ := d.body["event_data"].(map[string]any)
			res, _ := data["resources"].([]any)
			r0, _ := func() (map[string]any, bool) {
				if len(res) == 0 {
					return nil, false
				}
				m, ok := res[0].(map[string]any)
				return m, ok
			}()
			if d.body["type"] != "SCANNING_COMPLETED" || r0 == nil || r0["scan_overview"] == nil {
				t.Errorf("scan webhook %d: %v", i, d.body)
			}
		}
		if old := decode[stats](t, e.must(e.do(admin, http.MethodGet, "scans/schedule/metrics", nil), http.StatusOK)); old.Total != st.Total {
			t.Errorf("deprecated metrics path: %+v", old)
		}
	})
}
