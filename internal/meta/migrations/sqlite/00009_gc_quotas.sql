-- Online garbage collection and storage quotas (SQLite). Keep in step
-- with ../postgres/00009_gc_quotas.sql. docs/design/gc.md explains the model.

-- +goose Up
-- A blob being deleted by garbage collection: its object is going away,
-- nothing may link or reference it any more (a new upload of the same
-- digest gives it a new storage key instead).
ALTER TABLE blobs ADD COLUMN deleting INTEGER NOT NULL DEFAULT 0;

-- Review queue: a blob that lost a reference (or was just uploaded) is
-- looked at again once review_after has passed. queued_at is when the
-- review was last (re)queued, so `berth gc --grace` can use another grace.
CREATE TABLE gc_blob_reviews (
    blob_digest  TEXT PRIMARY KEY,
    review_after TIMESTAMP NOT NULL,
    queued_at    TIMESTAMP NOT NULL,
    -- Set when a worker postpones the review (a fresh link, a lease, a
    -- busy row): not looked at again before then, whatever the grace.
    not_before   TIMESTAMP,
    reason       TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX gc_blob_reviews_due_idx ON gc_blob_reviews (review_after);

-- Backup leases (issue 11): while a lease is held, GC deletes no blob that
-- lost its last reference after snapshot_at.
CREATE TABLE gc_leases (
    id          TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    snapshot_at TIMESTAMP NOT NULL,
    expires_at  TIMESTAMP NOT NULL
);

-- GC runs (Harbor's /system/gc history) and the one schedule.
CREATE TABLE gc_runs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT NOT NULL,
    dry_run       INTEGER NOT NULL DEFAULT 0,
    status        TEXT NOT NULL,
    blobs_deleted BIGINT NOT NULL DEFAULT 0,
    bytes_freed   BIGINT NOT NULL DEFAULT 0,
    log           TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);
CREATE TABLE gc_schedule (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    type        TEXT NOT NULL,
    cron        TEXT NOT NULL DEFAULT '',
    next_run_at TIMESTAMP,
    updated_at  TIMESTAMP NOT NULL
);

-- Per-project content: every digest (blob or manifest) a project holds,
-- counted once per project, with its size; quotas.storage_used is their sum,
-- changed in the transaction that adds or removes a row.
CREATE TABLE project_blobs (
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    digest     TEXT NOT NULL,
    size       BIGINT NOT NULL CHECK (size >= 0),
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (project_id, digest)
);
CREATE INDEX project_blobs_digest_idx ON project_blobs (digest);

CREATE TABLE quotas (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id    INTEGER NOT NULL UNIQUE REFERENCES projects (id) ON DELETE CASCADE,
    storage_limit BIGINT NOT NULL DEFAULT -1,
    storage_used  BIGINT NOT NULL DEFAULT 0 CHECK (storage_used >= 0),
    warned        INTEGER NOT NULL DEFAULT 0,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);

-- When a link was made or refreshed: links younger than the grace period
-- keep a blob for the manifest its pusher is about to send.
ALTER TABLE repository_blobs ADD COLUMN linked_at TIMESTAMP;
UPDATE repository_blobs SET linked_at = created_at;

-- Backfill: what each project holds today, its quota, and a review for
-- every blob no manifest references.
INSERT INTO project_blobs (project_id, digest, size, created_at)
SELECT p.id, b.digest, MAX(b.size), strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')
FROM repository_blobs rb
JOIN repositories r ON r.id = rb.repository_id
JOIN projects p ON r.name = p.name OR substr(r.name, 1, length(p.name) + 1) = p.name || '/'
JOIN blobs b ON b.digest = rb.blob_digest
GROUP BY p.id, b.digest;
INSERT INTO project_blobs (project_id, digest, size, created_at)
SELECT p.id, m.digest, MAX(length(m.payload)), strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')
FROM manifests m
JOIN repositories r ON r.id = m.repository_id
JOIN projects p ON r.name = p.name OR substr(r.name, 1, length(p.name) + 1) = p.name || '/'
GROUP BY p.id, m.digest
ON CONFLICT (project_id, digest) DO NOTHING;
INSERT INTO quotas (project_id, storage_limit, storage_used, created_at, updated_at)
SELECT p.id, -1, COALESCE((SELECT SUM(pb.size) FROM project_blobs pb WHERE pb.project_id = p.id), 0), strftime('%Y-%m-%d %H:%M:%f+00:00', 'now'), strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')
FROM projects p;
INSERT INTO gc_blob_reviews (blob_digest, review_after, queued_at, reason)
SELECT b.digest, strftime('%Y-%m-%d %H:%M:%f+00:00', 'now', '+1 day'), strftime('%Y-%m-%d %H:%M:%f+00:00', 'now'), 'migration'
FROM blobs b
WHERE NOT EXISTS (SELECT 1 FROM manifest_blob_refs mb WHERE mb.blob_digest = b.digest);

-- +goose Down
ALTER TABLE repository_blobs DROP COLUMN linked_at;
DROP TABLE quotas;
DROP TABLE project_blobs;
DROP TABLE gc_schedule;
DROP TABLE gc_runs;
DROP TABLE gc_leases;
DROP TABLE gc_blob_reviews;
ALTER TABLE blobs DROP COLUMN deleting;
