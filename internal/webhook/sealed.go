package webhook

import (
	"context"
	"fmt"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/sealed"
)

// SealedStore is the webhook store with the targets' auth headers sealed
// at rest: written sealed, read in the clear (for delivery, and for the
// API, which never shows them). Both the API and the delivery service use
// it.
type SealedStore struct {
	*meta.Webhooks
	keys *sealed.Keyring
}

// NewSealedStore wraps st; keys seals and opens the auth headers.
func NewSealedStore(st *meta.Webhooks, keys *sealed.Keyring) *SealedStore {
	return &SealedStore{Webhooks: st, keys: keys}
}

func (s *SealedStore) seal(p meta.WebhookPolicy) (meta.WebhookPolicy, error) {
	ts := make([]meta.WebhookTarget, len(p.Targets))
	for i, t := range p.Targets {
		v, err := s.keys.Seal(t.AuthHeader)
		if err != nil {
			return p, fmt.Errorf("webhook policy %q: seal auth header: %w", p.Name, err)
		}
		t.AuthHeader = v
		ts[i] = t
	}
	p.Targets = ts
	return p, nil
}

func (s *SealedStore) open(p meta.WebhookPolicy) (meta.WebhookPolicy, error) {
	for i := range p.Targets {
		v, err := s.keys.OpenStored(p.Targets[i].AuthHeader)
		if err != nil {
			return p, fmt.Errorf("webhook policy %d: auth header: %w", p.ID, err)
		}
		p.Targets[i].AuthHeader = v
	}
	return p, nil
}

func (s *SealedStore) openAll(ps []meta.WebhookPolicy, err error) ([]meta.WebhookPolicy, error) {
	if err != nil {
		return nil, err
	}
	for i := range ps {
		if ps[i], err = s.open(ps[i]); err != nil {
			return nil, err
		}
	}
	return ps, nil
}

// CreateWebhookPolicy stores p with its auth headers sealed.
func (s *SealedStore) CreateWebhookPolicy(ctx context.Context, p meta.WebhookPolicy) (meta.WebhookPolicy, error) {
	sealed, err := s.seal(p)
	if err != nil {
		return meta.WebhookPolicy{}, err
	}
	got, err := s.Webhooks.CreateWebhookPolicy(ctx, sealed)
	if err != nil {
		return meta.WebhookPolicy{}, err
	}
	got.Targets = p.Targets
	return got, nil
}

// UpdateWebhookPolicy replaces p with its auth headers sealed.
func (s *SealedStore) UpdateWebhookPolicy(ctx context.Context, p meta.WebhookPolicy) error {
	sealed, err := s.seal(p)
	if err != nil {
		return err
	}
	return s.Webhooks.UpdateWebhookPolicy(ctx, sealed)
}

// GetWebhookPolicy returns a policy with its auth headers opened.
func (s *SealedStore) GetWebhookPolicy(ctx context.Context, projectID, id int64) (meta.WebhookPolicy, error) {
	p, err := s.Webhooks.GetWebhookPolicy(ctx, projectID, id)
	if err != nil {
		return p, err
	}
	return s.open(p)
}

// ListWebhookPolicies returns a page of policies with their auth headers
// opened.
func (s *SealedStore) ListWebhookPolicies(ctx context.Context, projectID int64, pg meta.Page) ([]meta.WebhookPolicy, int, error) {
	ps, total, err := s.Webhooks.ListWebhookPolicies(ctx, projectID, pg)
	ps, err = s.openAll(ps, err)
	return ps, total, err
}

// EnabledWebhookPolicies returns the enabled policies with their auth
// headers opened.
func (s *SealedStore) EnabledWebhookPolicies(ctx context.Context, projectID int64) ([]meta.WebhookPolicy, error) {
	return s.openAll(s.Webhooks.EnabledWebhookPolicies(ctx, projectID))
}

// Reseal seals every auth header stored in the clear (before Berth sealed
// them) or under an older key, and returns how many policies it changed.
// Every replica runs it at start; a policy changed meanwhile is left to
// its writer (compare and set).
func (s *SealedStore) Reseal(ctx context.Context) (int, error) {
	n := 0
	var after int64
	for {
		ps, err := s.Webhooks.AllWebhookPolicies(ctx, after, 100)
		if err != nil || len(ps) == 0 {
			return n, err
		}
		for _, p := range ps {
			after = p.ID
			next := make([]meta.WebhookTarget, len(p.Targets))
			changed := false
			for i, t := range p.Targets {
				v, ch, err := s.keys.Reseal(t.AuthHeader)
				if err != nil {
					return n, fmt.Errorf("webhook policy %d: reseal auth header: %w", p.ID, err)
				}
				t.AuthHeader = v
				next[i], changed = t, changed || ch
			}
			if !changed {
				continue
			}
			ok, err := s.Webhooks.SwapWebhookTargets(ctx, p.ID, p.Targets, next)
			if err != nil {
				return n, err
			}
			if ok {
				n++
			}
		}
	}
}
