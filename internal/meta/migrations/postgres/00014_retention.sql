-- Tag retention (PostgreSQL): one policy per project, its executions and their
-- per-repository tasks. Keep in step with ../sqlite/00014_retention.sql.

-- +goose Up
CREATE TABLE retention_policies (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id  BIGINT NOT NULL UNIQUE REFERENCES projects (id) ON DELETE CASCADE,
    -- Harbor's RetentionPolicy as JSON, normalized by internal/retention.
    policy      TEXT NOT NULL,
    cron        TEXT NOT NULL DEFAULT '',
    next_run_at TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX retention_policies_next_run_idx ON retention_policies (next_run_at);

CREATE TABLE retention_executions (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    policy_id  BIGINT NOT NULL REFERENCES retention_policies (id) ON DELETE CASCADE,
    status     TEXT NOT NULL,
    trigger_kind TEXT NOT NULL,
    dry_run    BOOLEAN NOT NULL DEFAULT FALSE,
    started_at TIMESTAMPTZ NOT NULL,
    ended_at   TIMESTAMPTZ
);
CREATE INDEX retention_executions_policy_idx ON retention_executions (policy_id, id);

CREATE TABLE retention_tasks (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    execution_id BIGINT NOT NULL REFERENCES retention_executions (id) ON DELETE CASCADE,
    repository   TEXT NOT NULL,
    status       TEXT NOT NULL,
    total        INTEGER NOT NULL DEFAULT 0,
    retained     INTEGER NOT NULL DEFAULT 0,
    log          TEXT NOT NULL DEFAULT '',
    started_at   TIMESTAMPTZ NOT NULL,
    ended_at     TIMESTAMPTZ
);
CREATE INDEX retention_tasks_execution_idx ON retention_tasks (execution_id, id);

-- +goose Down
DROP TABLE retention_tasks;
DROP TABLE retention_executions;
DROP TABLE retention_policies;
