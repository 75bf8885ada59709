-- Scheduled backups (issue 11): the history /api/v2.0/system/backups
-- shows and the one schedule row that makes a run fire once per cluster.
-- Keep in step with ../postgres/00012_backup_runs.sql. A snapshot leaves both
-- tables out (docs/backup.md).

-- +goose Up
CREATE TABLE backup_runs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT NOT NULL,
    status        TEXT NOT NULL,
    location      TEXT NOT NULL DEFAULT '',
    snapshot_id   TEXT NOT NULL DEFAULT '',
    manifests     INTEGER NOT NULL DEFAULT 0,
    tags          INTEGER NOT NULL DEFAULT 0,
    blobs         INTEGER NOT NULL DEFAULT 0,
    blobs_copied  INTEGER NOT NULL DEFAULT 0,
    bytes         INTEGER NOT NULL DEFAULT 0,
    bytes_copied  INTEGER NOT NULL DEFAULT 0,
    pruned        INTEGER NOT NULL DEFAULT 0,
    duration_ms   INTEGER NOT NULL DEFAULT 0,
    error         TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);
CREATE INDEX backup_runs_status_idx ON backup_runs (status, updated_at);

CREATE TABLE backup_schedule (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    cron        TEXT NOT NULL,
    next_run_at TIMESTAMP NOT NULL
);

-- +goose Down
DROP TABLE backup_schedule;
DROP TABLE backup_runs;
