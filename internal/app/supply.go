package app

import (
	"context"
	"log/slog"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/content"
	"github.com/berth-registry/berth/internal/distapi"
	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/signature"
	"github.com/berth-registry/berth/internal/webhook"
)

// supply holds the supply-chain parts of one replica: the event outbox's
// dispatcher and pull-event batcher (and what subscribes to them).
type supply struct {
	store      *meta.Store
	dispatcher *events.Dispatcher
	pulls      *events.Batcher
	webhooks   *webhook.Service
	log        *slog.Logger
}

func newSupply(ctx context.Context, cfg config.Config, store *meta.Store, log *slog.Logger) (*supply, error) {
	s := &supply{
		store:      store,
		dispatcher: events.NewDispatcher(store.Events, log),
		webhooks:   webhook.New(store.Webhooks, store.Projects, cfg.ExternalURL, log),
		log:        log,
	}
	// Subscribers register here, before Start.
	if err := s.dispatcher.Subscribe("webhook", s.webhooks.Subscriber); err != nil {
		return nil, err
	}
	if err := s.dispatcher.Start(ctx); err != nil {
		return nil, err
	}
	s.pulls = events.NewBatcher(store.Events, log)
	return s, nil
}

// Close writes the queued pull events.
func (s *supply) Close() { s.pulls.Close() }

// onRegistryEvent passes e to next (the audit log) and queues a pull of an
// artifact as a PULL_ARTIFACT event; pushes and deletes are written by the
// registry in their own transactions.
func (s *supply) onRegistryEvent(next func(context.Context, distapi.Event)) func(context.Context, distapi.Event) {
	return func(ctx context.Context, e distapi.Event) {
		next(ctx, e)
		if e.Operation == distapi.EventPull && e.Kind == distapi.EventArtifact {
			ev := events.New(events.PullArtifact, e.Repository, digest.Digest(e.Digest), access.FromContext(ctx).Name)
			if e.Reference != e.Digest {
				ev.Tags = []string{e.Reference}
			}
			s.pulls.Add(ev)
		}
	}
}

// setQueue hands the job queue to the parts that enqueue work.
func (s *supply) setQueue(q *jobs.Queue) { s.webhooks.SetQueue(q) }

// pullPolicy is the check distapi runs before answering a manifest GET:
// the project's signature policy (internal/signature).
func (s *supply) pullPolicy(blobs *content.Service) func(ctx context.Context, repo, ref string, m meta.Manifest) error {
	v := signature.New(s.store.Projects, s.store.Manifests, blobs, s.store.Policies)
	return func(ctx context.Context, repo, ref string, m meta.Manifest) error {
		return v.Check(ctx, repo, ref, m)
	}
}
