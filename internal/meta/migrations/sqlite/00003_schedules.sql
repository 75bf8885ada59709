-- Once-per-cluster schedules (SQLite). Keep in step with ../postgres/00003_schedules.sql.

-- +goose Up
CREATE TABLE schedules (
    name        TEXT PRIMARY KEY,
    next_run_at TIMESTAMP NOT NULL,
    owner       TEXT NOT NULL,
    claimed_at  TIMESTAMP NOT NULL
);

-- +goose Down
DROP TABLE schedules;
