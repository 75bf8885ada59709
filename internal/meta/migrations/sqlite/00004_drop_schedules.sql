-- Drop the schedules table: periodic jobs are River's (internal/jobs), whose
-- elected leader fires each once per cluster. Keep in step with
-- ../postgres/00004_drop_schedules.sql.

-- +goose Up
DROP TABLE IF EXISTS schedules;

-- +goose Down
CREATE TABLE schedules (
    name        TEXT PRIMARY KEY,
    next_run_at TIMESTAMP NOT NULL,
    owner       TEXT NOT NULL,
    claimed_at  TIMESTAMP NOT NULL
);
