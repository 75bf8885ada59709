-- Replication and proxy cache (SQLite). Keep in step with
-- ../postgres/00015_replication.sql. internal/replication explains the model.

-- +goose Up
-- Registry endpoints (Harbor's /registries). access_secret holds the
-- secret encrypted with AES-GCM (internal/replication Keyring), never
-- the plain text.
CREATE TABLE registries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT NOT NULL UNIQUE,
    description     TEXT NOT NULL DEFAULT '',
    type            TEXT NOT NULL,
    url             TEXT NOT NULL,
    credential_type TEXT NOT NULL DEFAULT '',
    access_key      TEXT NOT NULL DEFAULT '',
    access_secret   TEXT NOT NULL DEFAULT '',
    insecure        INTEGER NOT NULL DEFAULT 0,
    ca_bundle       TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);

-- Replication policies. A NULL registry is the local Berth.
CREATE TABLE replication_policies (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
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
    override           INTEGER NOT NULL DEFAULT 0,
    replicate_deletion INTEGER NOT NULL DEFAULT 0,
    enabled            INTEGER NOT NULL DEFAULT 1,
    speed_kb           INTEGER NOT NULL DEFAULT 0,
    copy_by_chunk      INTEGER NOT NULL DEFAULT 0,
    next_run_at        TIMESTAMP,
    created_at         TIMESTAMP NOT NULL,
    updated_at         TIMESTAMP NOT NULL
);

CREATE TABLE replication_executions (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    policy_id      BIGINT NOT NULL REFERENCES replication_policies (id) ON DELETE CASCADE,
    trigger_kind   TEXT NOT NULL,
    status         TEXT NOT NULL,
    status_text    TEXT NOT NULL DEFAULT '',
    stop_requested INTEGER NOT NULL DEFAULT 0,
    start_time     TIMESTAMP NOT NULL,
    end_time       TIMESTAMP
);
CREATE INDEX replication_executions_policy_idx ON replication_executions (policy_id, id);

-- One task per artifact (or per deletion).
CREATE TABLE replication_tasks (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
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
    start_time    TIMESTAMP NOT NULL,
    end_time      TIMESTAMP
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
