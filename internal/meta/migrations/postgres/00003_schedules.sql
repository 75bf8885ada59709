-- Once-per-cluster schedules (PostgreSQL). Keep in step with ../sqlite/00003_schedules.sql.

-- +goose Up
CREATE TABLE schedules (
    name        TEXT COLLATE "C" PRIMARY KEY,
    next_run_at TIMESTAMPTZ NOT NULL,
    owner       TEXT NOT NULL,
    claimed_at  TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE schedules;
