-- Initial schema (PostgreSQL). Keep in step with ../sqlite/00001_init.sql:
-- the queries in store.go run unchanged on both.
-- Names and digests use COLLATE "C" so comparisons and ORDER BY are
-- byte-wise whatever the database's default collation, as in SQLite.

-- +goose Up
CREATE TABLE repositories (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       TEXT COLLATE "C" NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE blobs (
    digest      TEXT COLLATE "C" PRIMARY KEY,
    size        BIGINT NOT NULL CHECK (size >= 0),
    media_type  TEXT NOT NULL DEFAULT '',
    storage_key TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE repository_blobs (
    repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    blob_digest   TEXT COLLATE "C" NOT NULL REFERENCES blobs (digest),
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (repository_id, blob_digest)
);
CREATE INDEX repository_blobs_blob_digest_idx ON repository_blobs (blob_digest);

CREATE TABLE manifests (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id  BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    digest         TEXT COLLATE "C" NOT NULL,
    media_type     TEXT NOT NULL,
    artifact_type  TEXT NOT NULL DEFAULT '',
    payload        BYTEA NOT NULL,
    subject_digest TEXT COLLATE "C",
    annotations    TEXT,
    created_at     TIMESTAMPTZ NOT NULL,
    UNIQUE (repository_id, digest)
);
CREATE INDEX manifests_subject_idx ON manifests (repository_id, subject_digest, digest);

-- References are kept by digest, without a foreign key to blobs or
-- manifests: the registry checks them before PutManifest, and garbage
-- collection looks them up by digest (hence the indexes).
CREATE TABLE manifest_blob_refs (
    manifest_id BIGINT NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
    blob_digest TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (manifest_id, blob_digest)
);
CREATE INDEX manifest_blob_refs_blob_digest_idx ON manifest_blob_refs (blob_digest);

CREATE TABLE manifest_manifest_refs (
    manifest_id  BIGINT NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
    child_digest TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (manifest_id, child_digest)
);
CREATE INDEX manifest_manifest_refs_child_digest_idx ON manifest_manifest_refs (child_digest);

CREATE TABLE tags (
    repository_id   BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    name            TEXT COLLATE "C" NOT NULL,
    manifest_digest TEXT COLLATE "C" NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (repository_id, name),
    FOREIGN KEY (repository_id, manifest_digest)
        REFERENCES manifests (repository_id, digest) ON DELETE CASCADE
);
CREATE INDEX tags_manifest_idx ON tags (repository_id, manifest_digest);

CREATE TABLE uploads (
    id            TEXT COLLATE "C" PRIMARY KEY,
    repository    TEXT COLLATE "C" NOT NULL,
    storage_key   TEXT NOT NULL,
    upload_offset BIGINT NOT NULL DEFAULT 0 CHECK (upload_offset >= 0),
    algorithm     TEXT NOT NULL,
    hash_state    BYTEA NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX uploads_updated_at_idx ON uploads (updated_at);

-- +goose Down
DROP TABLE uploads;
DROP TABLE tags;
DROP TABLE manifest_manifest_refs;
DROP TABLE manifest_blob_refs;
DROP TABLE manifests;
DROP TABLE repository_blobs;
DROP TABLE blobs;
DROP TABLE repositories;
