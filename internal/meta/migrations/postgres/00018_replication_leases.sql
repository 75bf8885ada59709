-- +goose Up
-- A running replication task is leased by the replica running it: runner
-- names the attempt, heartbeat_at is renewed while it runs. A task whose
-- heartbeat is stale (its replica died) is taken back and queued again.
-- job_args are the task's job arguments, for that new job; resume holds
-- the upload locations of blobs copied in chunks, for the next attempt.
ALTER TABLE replication_tasks ADD COLUMN runner TEXT NOT NULL DEFAULT '';
ALTER TABLE replication_tasks ADD COLUMN heartbeat_at TIMESTAMPTZ;
ALTER TABLE replication_tasks ADD COLUMN job_args TEXT NOT NULL DEFAULT '';
ALTER TABLE replication_tasks ADD COLUMN resume TEXT NOT NULL DEFAULT '';
CREATE INDEX replication_tasks_heartbeat_idx ON replication_tasks (status, heartbeat_at);

-- +goose Down
DROP INDEX replication_tasks_heartbeat_idx;
ALTER TABLE replication_tasks DROP COLUMN resume;
ALTER TABLE replication_tasks DROP COLUMN job_args;
ALTER TABLE replication_tasks DROP COLUMN heartbeat_at;
ALTER TABLE replication_tasks DROP COLUMN runner;
