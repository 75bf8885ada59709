-- Drop the schedules table: periodic jobs are River's (internal/jobs), whose
-- elected leader fires each once per cluster. Keep in step with
-- ../sqlite/00004_drop_schedules.sql.

-- +goose Up
DROP TABLE IF EXISTS schedules;

-- +goose Down
CREATE TABLE schedules (
    name        TEXT COLLATE "C" PRIMARY KEY,
    next_run_at TIMESTAMPTZ NOT NULL,
    owner       TEXT NOT NULL,
    claimed_at  TIMESTAMPTZ NOT NULL
);
