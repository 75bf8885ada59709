-- Named schedules of periodic system jobs (Harbor's Schedule objects),
-- starting with the scan-all schedule (/system/scanAll/schedule). Keep in
-- step with ../postgres/00019_job_schedules.sql.

-- +goose Up
-- One row per schedule name. type is Harbor's (None, Hourly, Daily,
-- Weekly, Custom; Interval is Berth's); next_run_at is the run the
-- leader takes next (NULL: none); last_run_at and last_trigger describe
-- the latest run (Manual or Schedule), for its metrics.
CREATE TABLE job_schedules (
    name         TEXT PRIMARY KEY,
    type         TEXT NOT NULL,
    cron         TEXT NOT NULL DEFAULT '',
    next_run_at  TIMESTAMP,
    last_run_at  TIMESTAMP,
    last_trigger TEXT NOT NULL DEFAULT '',
    updated_at   TIMESTAMP NOT NULL
);

-- +goose Down
DROP TABLE job_schedules;
