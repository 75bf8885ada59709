package webhook_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/internal/webhook"
)

// queue records what the service enqueues; the test runs the jobs.
type queue struct {
	mu   sync.Mutex
	jobs []webhook.DeliverArgs
}

func (q *queue) Enqueue(ctx context.Context, kind string, a any) error {
	return q.EnqueueAt(ctx, kind, a, time.Time{})
}

func (q *queue) EnqueueAt(_ context.Context, _ string, a any, _ time.Time) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.jobs = append(q.jobs, a.(webhook.DeliverArgs))
	return nil
}

func (q *queue) take() []webhook.DeliverArgs {
	q.mu.Lock()
	defer q.mu.Unlock()
	js := q.jobs
	q.jobs = nil
	return js
}

// TestDeliveryOutlivesAWorker: a delivery whose worker died mid-send (its
// row left running, its lease held) is not lost: once the lease has
// expired the sweep enqueues the project again and the row is delivered;
// handing the same event to the subscriber twice queues one delivery.
func TestDeliveryOutlivesAWorker(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		var (
			mu   sync.Mutex
			seen []string
		)
		rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			seen = append(seen, r.Header.Get("Authorization")+" "+string(b[:min(len(b), 30)]))
			mu.Unlock()
		}))
		defer rcv.Close()
		p, err := s.Projects.CreateProject(ctx, meta.Project{Name: "wh"})
		if err != nil {
			t.Fatal(err)
		}
		pol := meta.WebhookPolicy{ProjectID: p.ID, Name: "p", Enabled: true, EventTypes: []string{events.PushArtifact},
			Targets: []meta.WebhookTarget{{Address: rcv.URL, AuthHeader: "Basic c2VjcmV0"}}}
		if err := webhook.Validate(&pol); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Webhooks.CreateWebhookPolicy(ctx, pol); err != nil {
			t.Fatal(err)
		}
		svc := webhook.New(s.Webhooks, s.Projects, "https://reg.example", loopbackAllowed(t), slog.New(slog.DiscardHandler))
		q := &queue{}
		svc.SetQueue(q)
		id, err := s.Events.Append(ctx, events.New(events.PushArtifact, "wh/app", "sha256:aa", "alice"))
		if err != nil {
			t.Fatal(err)
		}
		e, err := s.Events.GetEvent(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // at least once: the same event twice
			if err := svc.Subscriber(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		// A worker takes the project and dies mid-delivery.
		j, ok, err := s.Webhooks.NextWebhookJob(ctx, p.ID)
		if err != nil || !ok {
			t.Fatalf("NextWebhookJob = %v, %v", ok, err)
		}
		if ok, err := s.Webhooks.LeaseWebhookProject(ctx, p.ID, "dead-replica", 300*time.Millisecond); err != nil || !ok {
			t.Fatalf("lease = %v, %v", ok, err)
		}
		if err := s.Webhooks.UpdateWebhookJob(ctx, j.ID, meta.WebhookRunning, 1, "", time.Now().Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		q.take()
		// While its lease lives, nobody else delivers.
		if err := svc.Deliver(ctx, webhook.DeliverArgs{ProjectID: p.ID}); err != nil {
			t.Fatal(err)
		}
		if len(seen) != 0 {
			t.Fatalf("delivered under another worker's lease: %v", seen)
		}
		time.Sleep(400 * time.Millisecond)
		if err := svc.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		jobs := q.take()
		if len(jobs) != 1 || jobs[0].ProjectID != p.ID {
			t.Fatalf("sweep enqueued %v, want project %d", jobs, p.ID)
		}
		if err := svc.Deliver(ctx, jobs[0]); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(seen) != 1 || seen[0][:len("Basic c2VjcmV0")] != "Basic c2VjcmV0" {
			t.Fatalf("deliveries %q, want one with the secret", seen)
		}
		js, total, err := s.Webhooks.ListWebhookJobs(ctx, p.ID, 1, nil, meta.Page{Limit: 10})
		if err != nil || total != 1 || js[0].Status != meta.WebhookSuccess || js[0].Attempts != 2 {
			t.Fatalf("delivery log %+v (total %d, %v)", js, total, err)
		}
	})
}
