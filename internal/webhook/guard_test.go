package webhook_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/internal/webhook"
)

func networks(t *testing.T, ss ...string) []netip.Prefix {
	t.Helper()
	ps, err := webhook.ParseNetworks(ss)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func loopbackAllowed(t *testing.T) webhook.TargetPolicy {
	return webhook.TargetPolicy{Allow: networks(t, "127.0.0.0/8")}
}

func TestTargetPolicy(t *testing.T) {
	def := webhook.TargetPolicy{}
	custom := webhook.TargetPolicy{Allow: networks(t, "127.0.0.1", "169.254.169.254/32"), Deny: networks(t, "10.0.0.0/8", "127.0.0.1/32")}
	for _, tc := range []struct {
		name   string
		policy webhook.TargetPolicy
		addr   string
		ok     bool
	}{
		{"public", def, "203.0.113.7", true},
		{"private network", def, "192.168.1.20", true},
		{"private v6", def, "fd12::1", true},
		{"loopback", def, "127.0.0.1", false},
		{"loopback elsewhere in 127/8", def, "127.1.2.3", false},
		{"loopback v6", def, "::1", false},
		{"v4-mapped loopback", def, "::ffff:127.0.0.1", false},
		{"cloud metadata", def, "169.254.169.254", false},
		{"link-local v6", def, "fe80::1", false},
		{"aws metadata v6", def, "fd00:ec2::254", false},
		{"unspecified", def, "0.0.0.0", false},
		{"multicast", def, "224.0.0.1", false},
		{"allowed metadata", custom, "169.254.169.254", true},
		{"other link-local still refused", custom, "169.254.1.1", false},
		{"deny beats allow", custom, "127.0.0.1", false},
		{"denied private network", custom, "10.1.2.3", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.policy.Check(netip.MustParseAddr(tc.addr))
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, webhook.ErrTargetRefused)) {
				t.Fatalf("Check(%s) = %v, want allowed %v", tc.addr, err, tc.ok)
			}
		})
	}
	if _, err := webhook.ParseNetworks([]string{"10.0.0.0/33"}); err == nil {
		t.Fatal("a bad range parsed")
	}
}

// TestRefusedTargetIsNotDelivered: a target whose name resolves to a
// refused address (localhost, under the default policy) gets nothing: the
// check runs on the dialled address, and the delivery is marked failed
// at once (no retries) with the reason in the log; the same target under
// a policy that allows loopback is delivered.
func TestRefusedTargetIsNotDelivered(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		var hits atomic.Int32
		rcv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
		defer rcv.Close()
		addr := strings.Replace(rcv.URL, "127.0.0.1", "localhost", 1)
		for _, tc := range []struct {
			project string
			policy  webhook.TargetPolicy
			status  string
			hits    int32
		}{
			{"refused", webhook.TargetPolicy{}, meta.WebhookError, 0},
			{"denied", webhook.TargetPolicy{Allow: networks(t, "127.0.0.0/8", "::1"), Deny: networks(t, "127.0.0.0/8", "::1")}, meta.WebhookError, 0},
			{"allowed", webhook.TargetPolicy{Allow: networks(t, "127.0.0.0/8", "::1")}, meta.WebhookSuccess, 1},
		} {
			hits.Store(0)
			p, err := s.Projects.CreateProject(ctx, meta.Project{Name: tc.project})
			if err != nil {
				t.Fatal(err)
			}
			pol := meta.WebhookPolicy{ProjectID: p.ID, Name: "p", Enabled: true, EventTypes: []string{events.PushArtifact},
				Targets: []meta.WebhookTarget{{Address: addr}}}
			if err := webhook.Validate(&pol); err != nil {
				t.Fatal(err)
			}
			created, err := s.Webhooks.CreateWebhookPolicy(ctx, pol)
			if err != nil {
				t.Fatal(err)
			}
			svc := webhook.New(s.Webhooks, s.Projects, "", tc.policy, slog.New(slog.DiscardHandler))
			q := &queue{}
			svc.SetQueue(q)
			deliver(ctx, t, s, svc, q, events.New(events.PushArtifact, tc.project+"/app", "sha256:aa", "alice"))
			js, _, err := s.Webhooks.ListWebhookJobs(ctx, p.ID, created.ID, nil, meta.Page{Limit: 10})
			if err != nil || len(js) != 1 {
				t.Fatalf("%s: delivery log %+v, %v", tc.project, js, err)
			}
			if js[0].Status != tc.status || hits.Load() != tc.hits || js[0].Attempts != 1 {
				t.Errorf("%s: status %s after %d attempts (%q), receiver hit %d times; want %s, %d",
					tc.project, js[0].Status, js[0].Attempts, js[0].LastError, hits.Load(), tc.status, tc.hits)
			}
			if tc.status == meta.WebhookError && !strings.Contains(js[0].LastError, "network policy") {
				t.Errorf("%s: last error %q does not say why", tc.project, js[0].LastError)
			}
		}
	})
}

// deliver appends e, hands it to the subscriber and runs the delivery
// jobs it queued.
func deliver(ctx context.Context, t *testing.T, s *meta.Store, svc *webhook.Service, q *queue, e events.Event) {
	t.Helper()
	id, err := s.Events.Append(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	if e, err = s.Events.GetEvent(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := svc.Subscriber(ctx, e); err != nil {
		t.Fatal(err)
	}
	for _, a := range q.take() {
		if err := svc.Deliver(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
}
