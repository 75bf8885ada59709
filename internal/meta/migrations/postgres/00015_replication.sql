-- Replication and proxy cache (PostgreSQL). Keep in step with
-- ../sqlite/00015_replication.sql. internal/replication explains the model.

-- +goose Up
-- Registry endpoints (Harbor's /registries). access_secret holds the
-- secret encrypted with AES-GCM (internal/replication Keyring), never
-- the plain text.
CREATE TABLE registries (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            TEXT COLLATE "C" NOT NULL UNIQUE,
    description     TEXT NOT NULL DEFAULT '',
    type            TEXT NOT NULL,
    url             TEXT NOT NULL,
    credential_type TEXT NOT NULL DEFAULT '',
    access_key      TEXT NOT NULL DEFAULT '',
    access_secret   TEXT NOT NULL DEFAULT '',
    insecure        BOOLEAN NOT NULL DEFAULT FALSE,
    ca_bundle       TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);

-- Replication policies. A NULL registry is the local Berth.
CREATE TABLE replication_policies (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name               TEXT NOT NULL UNIQUE,
    description        TEXT NOT NULL DEFAULT '',
    creator            TEXT NOT NULL DEFAULT '',
    src_registry_id    BIGINT REFERENCES registries (id),
    dest_registry_id   BIGINT REFERENCES registries (id),
    dest_namespace     TEXT NOT NULL DEFAULT '',
    dest_replace_count INTEGER NOT NULL DEFAULT -1,
    filters            TEXT NOT NULL DEFAULT '[]',
    trigger_type       TEXT NOT NULL DEFAULT 'manual',
    trigger_cron       TEXT NOT NULL DEFAULT '',
    override           BOOLEAN NOT NULL DEFAULT FALSE,
    replicate_deletion BOOLEAN NOT NULL DEFAULT FALSE,
    enabled            BOOLEAN NOT NULL DEFAULT TRUE,
    speed_kb           INTEGER NOT NULL DEFAULT 0,
    copy_by_chunk      BOOLEAN NOT NULL DEFAULT FALSE,
    next_run_at        TIMESTAMPTZ,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL
);

CREATE TABLE replication_executions (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    policy_id      BIGINT NOT NULL REFERENCES replication_policies (id) ON DELETE CASCADE,
    trigger_kind   TEXT NOT NULL,
    status         TEXT NOT NULL,
    status_text    TEXT NOT NULL DEFAULT '',
    stop_requested BOOLEAN NOT NULL DEFAULT FALSE,
    start_time     TIMESTAMPTZ NOT NULL,
    end_time       TIMESTAMPTZ
);
CREATE INDEX replication_executions_policy_idx ON replication_executions (policy_id, id);

-- One task per artifact (or per deletion).
CREATE TABLE replication_tasks (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    execution_id  BIGINT NOT NULL REFERENCES replication_executions (id) ON DELETE CASCADE,
    resource_type TEXT NOT NULL DEFAULT 'artifact',
    operation     TEXT NOT NULL,
    src_resource  TEXT NOT NULL,
    dst_resource  TEXT NOT NULL,
    reference     TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL,
    bytes         BIGINT NOT NULL DEFAULT 0,
    attempts      INTEGER NOT NULL DEFAULT 0,
    log           TEXT NOT NULL DEFAULT '',
    start_time    TIMESTAMPTZ NOT NULL,
    end_time      TIMESTAMPTZ
);
CREATE INDEX replication_tasks_execution_idx ON replication_tasks (execution_id, id);

-- Proxy-cache projects point at their upstream registry.
ALTER TABLE projects ADD COLUMN registry_id BIGINT REFERENCES registries (id);

-- +goose Down
ALTER TABLE projects DROP COLUMN registry_id;
DROP TABLE replication_tasks;
DROP TABLE replication_executions;
DROP TABLE replication_policies;
DROP TABLE registries;
