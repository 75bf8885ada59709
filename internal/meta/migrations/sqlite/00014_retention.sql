-- Tag retention (SQLite): one policy per project, its executions and their
-- per-repository tasks. Keep in step with ../postgres/00014_retention.sql.

-- +goose Up
CREATE TABLE retention_policies (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id  INTEGER NOT NULL UNIQUE REFERENCES projects (id) ON DELETE CASCADE,
    -- Harbor's RetentionPolicy as JSON, normalized by internal/retention.
    policy      TEXT NOT NULL,
    cron        TEXT NOT NULL DEFAULT '',
    next_run_at TIMESTAMP,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);
CREATE INDEX retention_policies_next_run_idx ON retention_policies (next_run_at);

CREATE TABLE retention_executions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    policy_id  INTEGER NOT NULL REFERENCES retention_policies (id) ON DELETE CASCADE,
    status     TEXT NOT NULL,
    trigger_kind TEXT NOT NULL,
    dry_run    INTEGER NOT NULL DEFAULT 0,
    started_at TIMESTAMP NOT NULL,
    ended_at   TIMESTAMP
);
CREATE INDEX retention_executions_policy_idx ON retention_executions (policy_id, id);

CREATE TABLE retention_tasks (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    execution_id INTEGER NOT NULL REFERENCES retention_executions (id) ON DELETE CASCADE,
    repository   TEXT NOT NULL,
    status       TEXT NOT NULL,
    total        INTEGER NOT NULL DEFAULT 0,
    retained     INTEGER NOT NULL DEFAULT 0,
    log          TEXT NOT NULL DEFAULT '',
    started_at   TIMESTAMP NOT NULL,
    ended_at     TIMESTAMP
);
CREATE INDEX retention_tasks_execution_idx ON retention_tasks (execution_id, id);

-- +goose Down
DROP TABLE retention_tasks;
DROP TABLE retention_executions;
DROP TABLE retention_policies;
