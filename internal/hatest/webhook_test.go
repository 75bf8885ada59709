package hatest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestWebhookSurvivesKilledReplicas: webhook deliveries are durable
// across SIGKILL. Six pushes to a project with a webhook policy (the
// receiver refuses deliveries until they are done); then the receiver
// holds the next delivery open, and while it is in flight both replicas
// are killed, so whichever was delivering dies mid-delivery.
// Restarted, they deliver every event (the held one again: at least
// once), in push order.
func TestWebhookSurvivesKilledReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole cluster; skipped with -short")
	}
	c := StartCluster(t, Options{Replicas: 2, Volumes: 2, Env: []string{"BERTH_WEBHOOK_ALLOW_NETWORKS=127.0.0.0/8"}})
	ctx, cancel := context.WithTimeout(t.Context(), 6*time.Minute)
	defer cancel()

	// The receiver: answers 503 (retry later) until the pushes are done
	// and it is armed; then records the tag of every delivery as it
	// arrives, and holds the first one open until release is closed.
	var (
		mu      sync.Mutex
		armed   bool
		arrived []string
	)
	held, release := make(chan struct{}), make(chan struct{})
	var holdOnce sync.Once
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			EventData struct {
				Resources []struct {
					Tag string `json:"tag"`
				} `json:"resources"`
			} `json:"event_data"`
		}
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err := json.Unmarshal(b, &body); err != nil || len(body.EventData.Resources) == 0 {
			t.Errorf("delivery %s: %v", b, err)
			return
		}
		mu.Lock()
		if !armed {
			mu.Unlock()
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		arrived = append(arrived, body.EventData.Resources[0].Tag)
		mu.Unlock()
		holdOnce.Do(func() {
			close(held)
			<-release
		})
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	rest := func(method, path string, body any, want int) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequestWithContext(ctx, method, c.URL+"/api/v2.0/"+path, bytes.NewReader(b))
		req.SetBasicAuth(adminUser, adminPassword)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != want {
			rb, _ := io.ReadAll(res.Body)
			t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, rb)
		}
	}
	rest(http.MethodPost, "projects", map[string]any{"project_name": "hooks"}, http.StatusCreated)
	rest(http.MethodPost, "projects/hooks/webhook/policies", map[string]any{"name": "ci", "event_types": []string{"PUSH_ARTIFACT"},
		"targets": []map[string]any{{"address": "http://" + ln.Addr().String() + "/hook", "auth_header": "Bearer ha-secret"}}}, http.StatusCreated)

	var tags []string
	rc := newRegClient()
	for i := range 6 {
		im := image{repo: "hooks/app", tag: fmt.Sprintf("t%d", i), seed: uint64(900 + i), layerSizes: []int{2048}}
		if err := rc.pushImage(ctx, c.URL, im, im.build(), fmt.Sprintf("push-%d", i)); err != nil {
			t.Fatalf("push %s: %v", im.tag, err)
		}
		tags = append(tags, im.tag)
	}
	mu.Lock()
	armed = true
	mu.Unlock()
	select {
	case <-held:
	case <-ctx.Done():
		t.Fatal("no webhook delivery arrived")
	}
	for i := range 2 {
		if err := c.KillReplica(i); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	t.Log("both replicas killed while a delivery was in flight; restarting them")
	for i := range 2 {
		if err := c.RestartReplica(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	// Every tag arrives; the first arrival of each is in push order.
	deadline := time.Now().Add(4 * time.Minute)
	var firsts []string
	for time.Now().Before(deadline) {
		mu.Lock()
		firsts = firsts[:0]
		for _, tag := range arrived {
			if !slices.Contains(firsts, tag) {
				firsts = append(firsts, tag)
			}
		}
		mu.Unlock()
		if len(firsts) == len(tags) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(firsts, tags) {
		t.Fatalf("deliveries arrived as %v (first arrivals %v), want every push in order %v", arrived, firsts, tags)
	}
	t.Logf("deliveries arrived as %v: the one in flight when the replicas died was sent again", arrived)
}
