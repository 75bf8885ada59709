-- Untagged manifest ages (postgres): when the untagged_gc job first saw each
-- manifest untagged in a project that asks for their deletion, so that
-- one untagged today goes a grace period after today, not at once
-- because it was pushed long ago (meta.Untagged.UntaggedManifests).
-- Keep in step with ../sqlite/00017_untagged_seen.sql.

-- +goose Up
CREATE TABLE untagged_seen (
    manifest_id BIGINT PRIMARY KEY REFERENCES manifests (id) ON DELETE CASCADE,
    seen_at     TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE untagged_seen;
