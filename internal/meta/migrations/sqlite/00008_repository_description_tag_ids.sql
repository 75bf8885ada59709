-- Repository descriptions and tag ids (SQLite). Keep in step with
-- ../postgres/00008_repository_description_tag_ids.sql.
--
-- Harbor's Repository has a description (PUT .../repositories/{r}) and its
-- Tag an id. SQLite cannot add an identity column to a table, so tags is
-- rebuilt with one; (repository_id, name) stays unique, which is what the
-- tag upserts' ON CONFLICT names, and an upsert keeps a tag's id.

-- +goose Up
ALTER TABLE repositories ADD COLUMN description TEXT NOT NULL DEFAULT '';

CREATE TABLE tags_v8 (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    repository_id   INTEGER NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    manifest_digest TEXT NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    UNIQUE (repository_id, name),
    FOREIGN KEY (repository_id, manifest_digest)
        REFERENCES manifests (repository_id, digest) ON DELETE CASCADE
);
INSERT INTO tags_v8 (repository_id, name, manifest_digest, updated_at)
    SELECT repository_id, name, manifest_digest, updated_at FROM tags ORDER BY repository_id, name;
DROP TABLE tags;
ALTER TABLE tags_v8 RENAME TO tags;
CREATE INDEX tags_manifest_idx ON tags (repository_id, manifest_digest);

-- +goose Down
CREATE TABLE tags_v7 (
    repository_id   INTEGER NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    manifest_digest TEXT NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    PRIMARY KEY (repository_id, name),
    FOREIGN KEY (repository_id, manifest_digest)
        REFERENCES manifests (repository_id, digest) ON DELETE CASCADE
);
INSERT INTO tags_v7 (repository_id, name, manifest_digest, updated_at)
    SELECT repository_id, name, manifest_digest, updated_at FROM tags;
DROP TABLE tags;
ALTER TABLE tags_v7 RENAME TO tags;
CREATE INDEX tags_manifest_idx ON tags (repository_id, manifest_digest);

ALTER TABLE repositories DROP COLUMN description;
