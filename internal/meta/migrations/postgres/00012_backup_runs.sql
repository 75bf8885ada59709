-- Scheduled backups (issue 11): the history /api/v2.0/system/backups
-- shows and the one schedule row that makes a run fire once per cluster.
-- Keep in step with ../sqlite/00012_backup_runs.sql. A snapshot leaves both
-- tables out (docs/backup.md).

-- +goose Up
CREATE TABLE backup_runs (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          TEXT NOT NULL,
    status        TEXT NOT NULL,
    location      TEXT NOT NULL DEFAULT '',
    snapshot_id   TEXT NOT NULL DEFAULT '',
    manifests     BIGINT NOT NULL DEFAULT 0,
    tags          BIGINT NOT NULL DEFAULT 0,
    blobs         BIGINT NOT NULL DEFAULT 0,
    blobs_copied  BIGINT NOT NULL DEFAULT 0,
    bytes         BIGINT NOT NULL DEFAULT 0,
    bytes_copied  BIGINT NOT NULL DEFAULT 0,
    pruned        BIGINT NOT NULL DEFAULT 0,
    duration_ms   BIGINT NOT NULL DEFAULT 0,
    error         TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX backup_runs_status_idx ON backup_runs (status, updated_at);

CREATE TABLE backup_schedule (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    cron        TEXT NOT NULL,
    next_run_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE backup_schedule;
DROP TABLE backup_runs;
