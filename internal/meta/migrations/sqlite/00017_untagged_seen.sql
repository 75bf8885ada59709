-- Untagged manifest ages (sqlite): when the untagged_gc job first saw each
-- manifest untagged in a project that asks for their deletion, so that
-- one untagged today goes a grace period after today, not at once
-- because it was pushed long ago (meta.Untagged.UntaggedManifests).
-- Keep in step with ../postgres/00017_untagged_seen.sql.

-- +goose Up
CREATE TABLE untagged_seen (
    manifest_id INTEGER PRIMARY KEY REFERENCES manifests (id) ON DELETE CASCADE,
    seen_at     TIMESTAMP NOT NULL
);

-- +goose Down
DROP TABLE untagged_seen;
