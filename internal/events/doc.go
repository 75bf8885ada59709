// Package events owns Berth's event outbox: what happened (an artifact
// pushed, pulled or deleted, a scan finished, a quota crossed...) recorded
// as rows of the metadata database, and the dispatcher that hands those
// rows to named subscribers (webhooks, on-push replication, scan on push).
//
// # Writing events
//
// A change that something else reacts to writes its event in the SAME
// transaction as the change, with meta's Events aggregate:
//
//	err := store.InTx(ctx, func(tx *meta.Store) error {
//		... the change ...
//		_, err := tx.Events.Append(ctx, events.New(events.PushArtifact, repo, d, operator))
//		return err // last statement of the transaction (see meta.Events.Append)
//	})
//
// so an event exists exactly when its change committed: a rollback leaves
// none, a replica dying after the commit loses none. registry.Service
// writes PUSH_ARTIFACT and DELETE_ARTIFACT this way (the operator comes from
// the request's context: WithOperator). Pulls are the exception: a read
// request never writes to the database, so PULL_ARTIFACT events go to a
// Batcher that writes them in batches off the request path (a crash may
// lose the last second of pull events; nothing else).
//
// Event types are Harbor's names (the Type constants). An Event carries the
// project id (looked up from the repository's first path segment when the
// writer does not know it), the repository, the digest, tags, media type,
// size, the operator and a type-specific JSON Detail.
//
// # Subscribing
//
// A subscriber is a name and a handler, registered on the one Dispatcher
// of a replica (sup.dispatcher, built by newSupply in
// internal/app/supply.go) before the job queue starts, e.g. in app.Serve
// right after newSupply:
//
//	err := sup.dispatcher.Subscribe("replication", func(ctx context.Context, e events.Event) error {
//		if e.Type != events.PushArtifact {
//			return nil
//		}
//		return enqueueReplication(ctx, e) // quick: hand long work to a job
//	})
//
// Subscribe(name string, fn func(ctx context.Context, e events.Event) error)
// error refuses a name registered twice or outside [a-z0-9_.-]{1,64}. The
// handler gets the context of the dispatcher job (no principal: the
// operator is Event.Operator).
//
// Guarantees, per subscriber:
//   - at least once: the subscriber's cursor (a row of event_cursors) moves
//     past an event only after its handler returned nil; a handler that
//     fails, or a replica that dies mid-handler, sees the event again. The
//     cursor is written once per batch of up to BatchSize events (and at
//     least every few seconds), so a replica dying mid-batch hands that
//     batch's handled events over again too. Make handlers idempotent
//     (event ids are unique: key on Event.ID).
//   - in order: events are handed over one at a time in id order, which is
//     commit order (meta.Events.Append), so in order per project and per
//     repository too. A failing handler holds back the events after the one
//     it failed on (retried with backoff: 1 s doubling up to a minute); it
//     should therefore hand slow or failure-prone work (HTTP deliveries) to
//     its own job, as the webhook subscriber does, and return.
//   - one dispatcher at a time: a run leases the cursor (30 s, renewed as it
//     goes), so replicas never hand the same subscriber events concurrently.
//   - a new subscriber starts at the newest event: it sees what happens from
//     its first run on, not history.
//
// The dispatcher runs as the periodic job "events_dispatch"
// (internal/app/jobs.go): each run polls the outbox for DrainWindow, every
// PollInterval, handing each subscriber all its pending events per pass,
// so events reach subscribers within about a second. The job "events_prune" deletes events older than a week that
// every subscriber has handled.
//
// It must not import net/http or an edge package.
package events
