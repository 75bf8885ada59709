package restapi_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/app/apptest"
)

// receiver is a webhook receiver on loopback that the test can take down
// (connections refused) and bring back on the same address.
type receiver struct {
	t    *testing.T
	addr string

	mu   sync.Mutex
	srv  *http.Server
	got  []delivery
	down bool
}

type delivery struct {
	auth, contentType string
	body              map[string]any
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	r.serve(ln)
	t.Cleanup(func() { r.stop() })
	return r
}

func (r *receiver) serve(ln net.Listener) {
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		var body map[string]any
		if err := json.Unmarshal(b, &body); err != nil {
			r.t.Errorf("webhook body is not JSON: %v: %s", err, b)
		}
		r.mu.Lock()
		r.got = append(r.got, delivery{auth: req.Header.Get("Authorization"), contentType: req.Header.Get("Content-Type"), body: body})
		r.mu.Unlock()
	})}
	r.mu.Lock()
	r.srv, r.down = srv, false
	r.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

func (r *receiver) stop() {
	r.mu.Lock()
	srv := r.srv
	r.down = true
	r.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

func (r *receiver) start() {
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.t.Fatalf("receiver back on %s: %v", r.addr, err)
	}
	r.serve(ln)
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

// waitFor waits until n deliveries arrived.
func (r *receiver) waitFor(n int, timeout time.Duration) []delivery {
	r.t.Helper()
	apptest.Eventually(r.t, timeout, func() bool { return len(r.deliveries()) >= n })
	got := r.deliveries()
	if len(got) < n {
		r.t.Fatalf("%d webhook deliveries after %s, want %d", len(got), timeout, n)
	}
	return got
}

func tagOf(t *testing.T, d delivery, dataKey string) string {
	t.Helper()
	data, _ := d.body[dataKey].(map[string]any)
	res, _ := data["resources"].([]any)
	if len(res) == 0 {
		t.Fatalf("delivery without resources: %v", d.body)
	}
	r0, _ := res[0].(map[string]any)
	tag, _ := r0["tag"].(string)
	return tag
}

// TestWebhooks: a policy with a secret auth header and a CloudEvents
// policy get every push of the project, in order, with the secret; the
// API never shows the secret; a receiver that is down for a few seconds
// gets the delivery once it is back (the delivery log shows the retries);
// a developer cannot see the policies.
func TestWebhooks(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		e.srv.CreateProject(t, "hooks", false)
		rcv, ce := newReceiver(t), newReceiver(t)
		const secret = "Bearer s3cret-webhook-token"
		loc := e.must(e.do(admin, http.MethodPost, "projects/hooks/webhook/policies", map[string]any{
			"name": "ci", "event_types": []string{"PUSH_ARTIFACT", "DELETE_ARTIFACT"},
			"targets": []map[string]any{{"type": "http", "address": "http://" + rcv.addr + "/hook", "auth_header": secret}},
		}), http.StatusCreated).header.Get("Location")
		e.must(e.do(admin, http.MethodPost, "projects/hooks/webhook/policies", map[string]any{
			"name": "ce", "event_types": []string{"PUSH_ARTIFACT"},
			"targets": []map[string]any{{"address": "http://" + ce.addr + "/", "payload_format": "CloudEvents"}},
		}), http.StatusCreated)
		// Refused: a duplicate name, an unknown event type, a target that is
		// not http(s).
		e.must(e.do(admin, http.MethodPost, "projects/hooks/webhook/policies", map[string]any{
			"name": "ci", "event_types": []string{"PUSH_ARTIFACT"}, "targets": []map[string]any{{"address": "http://" + rcv.addr}},
		}), http.StatusConflict)
		e.must(e.do(admin, http.MethodPost, "projects/hooks/webhook/policies", map[string]any{
			"name": "x", "event_types": []string{"NOPE"}, "targets": []map[string]any{{"address": "http://" + rcv.addr}},
		}), http.StatusBadRequest)
		e.must(e.do(admin, http.MethodPost, "projects/hooks/webhook/policies", map[string]any{
			"name": "x", "event_types": []string{"PUSH_ARTIFACT"}, "targets": []map[string]any{{"address": "file:///etc/passwd"}},
		}), http.StatusBadRequest)

		// The secret never comes back.
		pol := e.must(e.do(admin, http.MethodGet, strings.TrimPrefix(loc, "/api/v2.0/"), nil), http.StatusOK)
		list := e.must(e.do(admin, http.MethodGet, "projects/hooks/webhook/policies", nil), http.StatusOK)
		for _, b := range [][]byte{pol.body, list.body} {
			if strings.Contains(string(b), "s3cret") || strings.Contains(string(b), "auth_header") {
				t.Errorf("policy JSON shows the secret: %s", b)
			}
		}
		var p struct {
			ID      int64    `json:"id"`
			Types   []string `json:"event_types"`
			Enabled bool     `json:"enabled"`
		}
		if err := json.Unmarshal(pol.body, &p); err != nil || p.ID == 0 || !p.Enabled || len(p.Types) != 2 {
			t.Fatalf("policy %s (%v)", pol.body, err)
		}
		// A developer may not read webhook policies.
		dev, id := e.addUser("hookdev", false)
		e.addMember("hooks", id, 2)
		e.must(e.do(dev, http.MethodGet, "projects/hooks/webhook/policies", nil), http.StatusForbidden)
		e.must(e.do(admin, http.MethodGet, "projects/hooks/webhook/events", nil), http.StatusOK)

		tags := []string{"v1", "v2", "v3"}
		for _, tag := range tags {
			e.srv.PushImage(t, admin, "hooks/app", tag)
		}
		got := rcv.waitFor(3, 30*time.Second)
		for i, d := range got[:3] {
			if d.auth != secret {
				t.Errorf("delivery %d: Authorization %q, want the policy's secret", i, d.auth)
			}
			if d.body["type"] != "PUSH_ARTIFACT" || d.body["operator"] != "admin" {
				t.Errorf("delivery %d: %v", i, d.body)
			}
			if tag := tagOf(t, d, "event_data"); tag != tags[i] {
				t.Errorf("delivery %d is about %q, want %q (in push order)", i, tag, tags[i])
			}
		}
		for i, d := range ce.waitFor(3, 30*time.Second)[:3] {
			if d.contentType != "application/cloudevents+json" || d.body["type"] != "harbor.artifact.pushed" ||
				d.body["specversion"] != "1.0" || d.auth != "" {
				t.Errorf("CloudEvents delivery %d: %s %v", i, d.contentType, d.body)
			}
			if tag := tagOf(t, d, "data"); tag != tags[i] {
				t.Errorf("CloudEvents delivery %d is about %q, want %q", i, tag, tags[i])
			}
		}

		// The receiver goes down for a few seconds: the delivery waits and
		// arrives once it is back.
		rcv.stop()
		e.srv.PushImage(t, admin, "hooks/app", "v4")
		e.srv.PushImage(t, admin, "hooks/app", "v5")
		time.Sleep(4 * time.Second)
		rcv.start()
		got = rcv.waitFor(5, 60*time.Second)
		if a, b := tagOf(t, got[3], "event_data"), tagOf(t, got[4], "event_data"); a != "v4" || b != "v5" {
			t.Errorf("after the outage: %q then %q, want v4 then v5", a, b)
		}
		var jobs []struct {
			Status   string `json:"status"`
			Attempts int    `json:"attempts"`
			Detail   string `json:"job_detail"`
		}
		jr := e.must(e.do(admin, http.MethodGet, "projects/hooks/webhook/jobs?page_size=100&policy_id="+strconv.FormatInt(p.ID, 10), nil), http.StatusOK)
		if err := json.Unmarshal(jr.body, &jobs); err != nil {
			t.Fatal(err)
		}
		retried := false
		for _, j := range jobs {
			if j.Status != "success" {
				t.Errorf("delivery log: %+v, want every job successful", j)
			}
			retried = retried || j.Attempts > 1
			if strings.Contains(j.Detail, "s3cret") {
				t.Error("the delivery log shows the secret")
			}
		}
		if len(jobs) != 5 || !retried {
			t.Errorf("delivery log has %d jobs (want 5), one retried: %v", len(jobs), retried)
		}
		checkWebhookExecutions(t, e, p.ID, dev)
	})
}

// checkWebhookExecutions: Harbor's executions of policy id (project
// hooks) are its five push events, newest first, each with one successful
// task (the policy has one target) whose log tells the attempts and never
// the secret; a developer may not read them; unknown ids are 404.
func checkWebhookExecutions(t *testing.T, e *env, id int64, dev cred) {
	t.Helper()
	base := "projects/hooks/webhook/policies/" + strconv.FormatInt(id, 10) + "/executions"
	type execution struct {
		ID         int64             `json:"id"`
		VendorType string            `json:"vendor_type"`
		VendorID   int64             `json:"vendor_id"`
		Status     string            `json:"status"`
		Trigger    string            `json:"trigger"`
		Metrics    map[string]int    `json:"metrics"`
		Extra      map[string]string `json:"extra_attrs"`
	}
	r := e.must(e.do(admin, http.MethodGet, base+"?page_size=2", nil), http.StatusOK)
	page := decode[[]execution](t, r)
	if r.header.Get("X-Total-Count") != "5" || len(page) != 2 || page[0].ID <= page[1].ID {
		t.Fatalf("executions page: total %q, %+v", r.header.Get("X-Total-Count"), page)
	}
	retried := false
	for _, x := range decode[[]execution](t, e.must(e.do(admin, http.MethodGet, base+"?page_size=10", nil), http.StatusOK)) {
		if x.VendorType != "WEBHOOK" || x.VendorID != id || x.Status != "Success" || x.Trigger != "EVENT" ||
			x.Metrics["task_count"] != 1 || x.Metrics["success_task_count"] != 1 || x.Extra["event_type"] != "PUSH_ARTIFACT" {
			t.Errorf("execution %+v", x)
		}
		type task struct {
			ID          int64  `json:"id"`
			ExecutionID int64  `json:"execution_id"`
			Status      string `json:"status"`
			RunCount    int    `json:"run_count"`
		}
		tasks := decode[[]task](t, e.must(e.do(admin, http.MethodGet, base+"/"+itoa(x.ID)+"/tasks", nil), http.StatusOK))
		if len(tasks) != 1 || tasks[0].ExecutionID != x.ID || tasks[0].Status != "Success" || tasks[0].RunCount < 1 {
			t.Fatalf("tasks of execution %d: %+v", x.ID, tasks)
		}
		retried = retried || tasks[0].RunCount > 1
		log := string(e.must(e.do(admin, http.MethodGet, base+"/"+itoa(x.ID)+"/tasks/"+itoa(tasks[0].ID)+"/log", nil), http.StatusOK).body)
		if !strings.Contains(log, "status Success after") || strings.Contains(log, "s3cret") {
			t.Errorf("task log %q", log)
		}
		e.must(e.do(admin, http.MethodGet, base+"/"+itoa(x.ID)+"/tasks/"+itoa(tasks[0].ID+1000)+"/log", nil), http.StatusNotFound)
	}
	if !retried {
		t.Error("no task shows the retries of the outage")
	}
	e.must(e.do(admin, http.MethodGet, base+"/999999/tasks", nil), http.StatusNotFound)
	e.must(e.do(admin, http.MethodGet, "projects/hooks/webhook/policies/999999/executions", nil), http.StatusNotFound)
	e.must(e.do(dev, http.MethodGet, base, nil), http.StatusForbidden)
}
