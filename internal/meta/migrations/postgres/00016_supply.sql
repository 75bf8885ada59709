-- Supply chain (PostgreSQL): the event outbox and its subscriber cursors.
-- Keep in step with ../sqlite/00016_supply.sql. internal/events/doc.go
-- explains the model.

-- +goose Up
-- One row per event (Harbor's event types), written in the transaction of
-- the change it reports; ids grow in commit order (meta.Events.Append).
-- project_id has no foreign key: an event outlives its project.
CREATE TABLE events (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    type       TEXT NOT NULL,
    project_id BIGINT NOT NULL DEFAULT 0,
    repository TEXT NOT NULL DEFAULT '',
    digest     TEXT NOT NULL DEFAULT '',
    tags       TEXT NOT NULL DEFAULT '',
    media_type TEXT NOT NULL DEFAULT '',
    size       BIGINT NOT NULL DEFAULT 0,
    operator   TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX events_created_idx ON events (created_at);

-- Where each named subscriber has got to, and who is working it.
CREATE TABLE event_cursors (
    subscriber  TEXT COLLATE "C" PRIMARY KEY,
    last_id     BIGINT NOT NULL DEFAULT 0,
    lease_owner TEXT NOT NULL DEFAULT '',
    lease_until TIMESTAMPTZ NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    retry_after TIMESTAMPTZ NOT NULL,
    last_error  TEXT NOT NULL DEFAULT '',
    updated_at  TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE event_cursors;
DROP TABLE events;
