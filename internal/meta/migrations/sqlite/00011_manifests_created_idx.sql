-- The newest artifacts of a repository first (sqlite). Keep in step with
-- ../postgres/00011_manifests_created_idx.sql.
--
-- Artifact lists (the portal's repository page, GET .../artifacts) are
-- ordered by (created_at DESC, digest) within a repository: with this
-- index the first pages are read in order instead of sorting every
-- manifest of the repository.

-- +goose Up
CREATE INDEX manifests_created_idx ON manifests (repository_id, created_at, digest);

-- +goose Down
DROP INDEX manifests_created_idx;
