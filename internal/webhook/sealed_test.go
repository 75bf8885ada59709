package webhook_test

import (
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/internal/sealed"
	"github.com/berth-registry/berth/internal/webhook"
)

// TestResealLegacyAuthHeaders: an auth header stored in the clear (before
// Berth sealed them) is sealed by Reseal at start, reads back in the
// clear through the sealed store, and a second Reseal changes nothing.
func TestResealLegacyAuthHeaders(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		keys, err := sealed.NewKeyring([]byte(strings.Repeat("k", 32)))
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.Projects.CreateProject(ctx, meta.Project{Name: "legacy"})
		if err != nil {
			t.Fatal(err)
		}
		pol, err := s.Webhooks.CreateWebhookPolicy(ctx, meta.WebhookPolicy{ProjectID: p.ID, Name: "old", Enabled: true,
			EventTypes: []string{events.PushArtifact}, Targets: []meta.WebhookTarget{
				{Type: "http", Address: "https://a.example", AuthHeader: "Bearer legacy-token", PayloadFormat: "Default"},
				{Type: "http", Address: "https://b.example", PayloadFormat: "Default"}}})
		if err != nil {
			t.Fatal(err)
		}
		st := webhook.NewSealedStore(s.Webhooks, keys)
		for i, want := range []int{1, 0} {
			if n, err := st.Reseal(ctx); err != nil || n != want {
				t.Fatalf("reseal %d: %d, %v; want %d", i, n, err, want)
			}
		}
		raw, err := s.Webhooks.GetWebhookPolicy(ctx, p.ID, pol.ID)
		if err != nil {
			t.Fatal(err)
		}
		if v := raw.Targets[0].AuthHeader; !sealed.IsSealed(v) || strings.Contains(v, "legacy") || raw.Targets[1].AuthHeader != "" {
			t.Fatalf("stored targets after reseal: %+v", raw.Targets)
		}
		got, err := st.GetWebhookPolicy(ctx, p.ID, pol.ID)
		if err != nil || got.Targets[0].AuthHeader != "Bearer legacy-token" {
			t.Fatalf("opened: %+v, %v", got.Targets, err)
		}
	})
}
