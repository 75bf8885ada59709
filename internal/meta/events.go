package meta

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// Events is the event outbox (internal/events explains the model): event
// rows written in the transaction of the change they report, and one
// cursor per named subscriber that the dispatcher moves along them.
type Events struct{ *handle }

// Event is one row of the outbox.
type Event struct {
	ID         int64  // grows in commit order; 0 before Append
	Type       string // Harbor's event type: PUSH_ARTIFACT, PULL_ARTIFACT...
	ProjectID  int64  // 0: none (or the project was unknown)
	Repository string // full name, e.g. "library/nginx"; "" for project-level events
	Digest     digest.Digest
	Tags       []string
	MediaType  string
	Size       int64
	Operator   string // who did it: a user name, "robot$..." or "" (anonymous)
	// Detail is type-specific JSON (a scan summary, a quota figure...);
	// empty for none.
	Detail    json.RawMessage
	CreatedAt time.Time
}

// Bounds of what one event row holds.
const (
	MaxEventTags   = 100
	MaxEventDetail = 64 << 10
)

// eventLockKey is the PostgreSQL advisory lock every Append takes for the
// rest of its transaction (see Append).
const eventLockKey = 0x6265727468657674 // "berthevt"

// Append writes e (ID and CreatedAt are set by the store) and returns its
// id. Inside InTx it joins that transaction, so the event exists exactly
// when the change it reports commits.
//
// Ids must grow in commit order, or a subscriber's cursor could pass an
// id whose transaction commits later. SQLite has one writer at a time;
// on PostgreSQL Append takes a transaction-scoped advisory lock before it
// draws the id, so event-writing transactions commit one after another
// from that point: call Append as the LAST statement of the transaction.
// The project id is looked up from the repository's first path segment
// when e.ProjectID is 0.
func (s *Events) Append(ctx context.Context, e Event) (int64, error) {
	var id int64
	err := s.inTx(ctx, func(tx *handle) error {
		if err := tx.lockEvents(ctx); err != nil {
			return err
		}
		var err error
		id, err = tx.insertEvent(ctx, e)
		return err
	})
	return id, err
}

// AppendBatch writes es in one transaction (pull events, batched off the
// request path).
func (s *Events) AppendBatch(ctx context.Context, es []Event) error {
	if len(es) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx *handle) error {
		if err := tx.lockEvents(ctx); err != nil {
			return err
		}
		for _, e := range es {
			if _, err := tx.insertEvent(ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
}

// deferEvent asks for e to be appended when the current transaction
// commits (as its last statements, so the outbox lock is held only for
// the commit): a store method deep inside a transaction (a quota crossing
// its threshold) records an event without taking the outbox lock before
// the row locks the rest of the transaction takes. Outside a transaction
// e is appended at once.
func (h *handle) deferEvent(ctx context.Context, e Event) error {
	if h.db != nil {
		_, err := (&Events{h}).Append(ctx, e)
		return err
	}
	h.deferred = append(h.deferred, e)
	return nil
}

// flushDeferred appends the transaction's deferred events.
func (h *handle) flushDeferred(ctx context.Context) error {
	if len(h.deferred) == 0 {
		return nil
	}
	if err := h.lockEvents(ctx); err != nil {
		return err
	}
	for _, e := range h.deferred {
		if _, err := h.insertEvent(ctx, e); err != nil {
			return err
		}
	}
	h.deferred = nil
	return nil
}

func (h *handle) lockEvents(ctx context.Context) error {
	if h.dialect != dialectPostgres {
		return nil
	}
	if _, err := h.q.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(eventLockKey)); err != nil {
		return wrapErr(err, "meta: lock the event outbox")
	}
	return nil
}

func (h *handle) insertEvent(ctx context.Context, e Event) (int64, error) {
	if strings.TrimSpace(e.Type) == "" {
		return 0, errors.New("meta: append event: empty type")
	}
	if len(e.Tags) > MaxEventTags {
		e.Tags = e.Tags[:MaxEventTags]
	}
	if len(e.Detail) > MaxEventDetail {
		return 0, fmt.Errorf("meta: append event %s: detail of %d bytes, limit %d", e.Type, len(e.Detail), MaxEventDetail)
	}
	tags := ""
	if len(e.Tags) > 0 {
		b, err := json.Marshal(e.Tags)
		if err != nil {
			return 0, fmt.Errorf("meta: append event %s: %w", e.Type, err)
		}
		tags = string(b)
	}
	project, _, _ := strings.Cut(e.Repository, "/")
	var id int64
	err := h.q.QueryRowContext(ctx, `
		INSERT INTO events (type, project_id, repository, digest, tags, media_type, size, operator, detail, created_at)
		VALUES ($1, CASE WHEN $2 <> 0 THEN $2 ELSE COALESCE((SELECT id FROM projects WHERE name = $3), 0) END,
			$4, $5, $6, $7, $8, $9, $10, $11)
		RETURNING id`,
		e.Type, e.ProjectID, project, e.Repository, string(e.Digest), tags, e.MediaType, e.Size, e.Operator,
		string(e.Detail), h.timestamp()).Scan(&id)
	if err != nil {
		return 0, wrapErr(err, "meta: append event %s", e.Type)
	}
	return id, nil
}

const eventSelect = `SELECT id, type, project_id, repository, digest, tags, media_type, size, operator, detail, created_at FROM events`

func scanEvent(row rowScanner) (Event, error) {
	var (
		e            Event
		tags, detail string
		d            string
	)
	if err := row.Scan(&e.ID, &e.Type, &e.ProjectID, &e.Repository, &d, &tags, &e.MediaType, &e.Size,
		&e.Operator, &detail, &e.CreatedAt); err != nil {
		return Event{}, err
	}
	e.Digest = digest.Digest(d)
	e.CreatedAt = e.CreatedAt.UTC()
	if tags != "" {
		if err := json.Unmarshal([]byte(tags), &e.Tags); err != nil {
			return Event{}, fmt.Errorf("event %d: tags: %w", e.ID, err)
		}
	}
	if detail != "" {
		e.Detail = json.RawMessage(detail)
	}
	return e, nil
}

// EventsAfter returns up to limit events with ids above after, in id order.
func (s *Events) EventsAfter(ctx context.Context, after int64, limit int) ([]Event, error) {
	if limit <= 0 {
		return []Event{}, nil
	}
	es, err := queryAll(ctx, s.q, scanEvent, eventSelect+` WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, wrapErr(err, "meta: events after %d", after)
	}
	return es, nil
}

// LastEventID returns the highest event id (0: none yet).
func (s *Events) LastEventID(ctx context.Context) (int64, error) {
	var id int64
	if err := s.q.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM events`).Scan(&id); err != nil {
		return 0, wrapErr(err, "meta: last event id")
	}
	return id, nil
}

// EventCursor is where one subscriber has got to.
type EventCursor struct {
	Subscriber string
	LastID     int64     // every event up to this id has been handled
	LeaseOwner string    // "" when no dispatcher holds it
	LeaseUntil time.Time // the lease is void after this
	Attempts   int       // failed attempts at the event after LastID
	RetryAfter time.Time // no attempt before this (backoff)
	LastError  string
	UpdatedAt  time.Time
}

// ErrLeaseLost: another dispatcher holds (or took over) the subscriber's
// cursor.
var ErrLeaseLost = errors.New("event cursor lease lost")

// ListEventCursors returns every subscriber's cursor by name.
func (s *Events) ListEventCursors(ctx context.Context) ([]EventCursor, error) {
	cs, err := queryAll(ctx, s.q, func(row rowScanner) (EventCursor, error) {
		var c EventCursor
		err := row.Scan(&c.Subscriber, &c.LastID, &c.LeaseOwner, &c.LeaseUntil, &c.Attempts, &c.RetryAfter,
			&c.LastError, &c.UpdatedAt)
		c.LeaseUntil, c.RetryAfter, c.UpdatedAt = c.LeaseUntil.UTC(), c.RetryAfter.UTC(), c.UpdatedAt.UTC()
		return c, err
	}, `SELECT subscriber, last_id, lease_owner, lease_until, attempts, retry_after, last_error, updated_at
		FROM event_cursors ORDER BY subscriber`)
	if err != nil {
		return nil, wrapErr(err, "meta: list event cursors")
	}
	return cs, nil
}

// EnsureEventCursor creates subscriber's cursor at the current last
// event unless it exists.
func (s *Events) EnsureEventCursor(ctx context.Context, subscriber string) error {
	now := s.timestamp()
	if _, err := s.q.ExecContext(ctx, `
		INSERT INTO event_cursors (subscriber, last_id, lease_owner, lease_until, retry_after, updated_at)
		VALUES ($1, (SELECT COALESCE(MAX(id), 0) FROM events), '', $2, $2, $2)
		ON CONFLICT (subscriber) DO NOTHING`, subscriber, now); err != nil {
		return wrapErr(err, "meta: create event cursor %s", subscriber)
	}
	return nil
}

// LeaseEventCursor gives owner the cursor of subscriber for ttl, unless
// another owner holds an unexpired lease or the cursor is backing off
// (then ok is false). A subscriber without a cursor gets one at the
// current last event: it sees events appended from now on.
func (s *Events) LeaseEventCursor(ctx context.Context, subscriber, owner string, ttl time.Duration) (c EventCursor, ok bool, err error) {
	now := s.timestamp()
	err = s.inTx(ctx, func(tx *handle) error {
		if err := (&Events{tx}).EnsureEventCursor(ctx, subscriber); err != nil {
			return err
		}
		res, err := tx.q.ExecContext(ctx, `
			UPDATE event_cursors SET lease_owner = $2, lease_until = $3
			WHERE subscriber = $1 AND (lease_owner = '' OR lease_owner = $2 OR lease_until < $4) AND retry_after <= $4`,
			subscriber, owner, now.Add(ttl), now)
		if err != nil {
			return wrapErr(err, "meta: lease event cursor %s", subscriber)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		ok = true
		err = tx.q.QueryRowContext(ctx, `SELECT subscriber, last_id, lease_owner, lease_until, attempts, retry_after, last_error, updated_at
			FROM event_cursors WHERE subscriber = $1`, subscriber).Scan(&c.Subscriber, &c.LastID, &c.LeaseOwner,
			&c.LeaseUntil, &c.Attempts, &c.RetryAfter, &c.LastError, &c.UpdatedAt)
		if err != nil {
			return wrapErr(err, "meta: read event cursor %s", subscriber)
		}
		c.LeaseUntil, c.RetryAfter, c.UpdatedAt = c.LeaseUntil.UTC(), c.RetryAfter.UTC(), c.UpdatedAt.UTC()
		return nil
	})
	if err != nil {
		return EventCursor{}, false, err
	}
	return c, ok, nil
}

// AdvanceEventCursor moves owner's leased cursor of subscriber to lastID,
// clears its failures and extends the lease by ttl. Not the owner:
// ErrLeaseLost.
func (s *Events) AdvanceEventCursor(ctx context.Context, subscriber, owner string, lastID int64, ttl time.Duration) error {
	now := s.timestamp()
	res, err := s.q.ExecContext(ctx, `
		UPDATE event_cursors SET last_id = $3, attempts = 0, last_error = '', lease_until = $4, updated_at = $5
		WHERE subscriber = $1 AND lease_owner = $2 AND last_id <= $3`, subscriber, owner, lastID, now.Add(ttl), now)
	if err != nil {
		return wrapErr(err, "meta: advance event cursor %s", subscriber)
	}
	return expectOne(res, fmt.Errorf("cursor %s: %w", subscriber, ErrLeaseLost), "meta: advance event cursor %s", subscriber)
}

// ReleaseEventCursor gives up owner's lease of subscriber. A non-empty
// failure records a failed attempt at the next event: no dispatcher tries
// again before retryAfter.
func (s *Events) ReleaseEventCursor(ctx context.Context, subscriber, owner, failure string, retryAfter time.Time) error {
	now := s.timestamp()
	q := `UPDATE event_cursors SET lease_owner = '', lease_until = $3 WHERE subscriber = $1 AND lease_owner = $2`
	args := []any{subscriber, owner, now}
	if failure != "" {
		if len(failure) > 1024 {
			failure = failure[:1024]
		}
		q = `UPDATE event_cursors SET lease_owner = '', lease_until = $3, attempts = attempts + 1,
			last_error = $4, retry_after = $5, updated_at = $3 WHERE subscriber = $1 AND lease_owner = $2`
		args = append(args, failure, micro(retryAfter))
	}
	if _, err := s.q.ExecContext(ctx, q, args...); err != nil {
		return wrapErr(err, "meta: release event cursor %s", subscriber)
	}
	return nil
}

// PruneEvents deletes up to limit events created before before that every
// subscriber has handled, and returns how many went.
func (s *Events) PruneEvents(ctx context.Context, before time.Time, limit int) (int, error) {
	res, err := s.q.ExecContext(ctx, `
		DELETE FROM events WHERE id IN (SELECT id FROM events
			WHERE created_at < $1 AND id <= (SELECT COALESCE(MIN(last_id), (SELECT COALESCE(MAX(id), 0) FROM events)) FROM event_cursors)
			ORDER BY id LIMIT $2)`, micro(before), limit)
	if err != nil {
		return 0, wrapErr(err, "meta: prune events")
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, wrapErr(err, "meta: prune events")
	}
	return int(n), nil
}

// GetEvent returns event id. Missing: ErrEventNotFound.
func (s *Events) GetEvent(ctx context.Context, id int64) (Event, error) {
	e, err := scanEvent(s.q.QueryRowContext(ctx, eventSelect+` WHERE id = $1`, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Event{}, fmt.Errorf("event %d: %w", id, ErrEventNotFound)
	case err != nil:
		return Event{}, wrapErr(err, "meta: get event %d", id)
	}
	return e, nil
}

// ErrEventNotFound: no event with that id.
var ErrEventNotFound = errors.New("event not found")
