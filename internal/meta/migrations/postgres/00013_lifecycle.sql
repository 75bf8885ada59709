-- Labels, pull counts and tag immutability rules (PostgreSQL). Keep in step
-- with ../sqlite/00013_lifecycle.sql: the queries in labels.go, pulls.go
-- and immutable.go run unchanged on both.

-- +goose Up
-- Harbor's labels: scope 'g' (system-wide, project_id NULL) or 'p' (one
-- project's). Names are unique per scope: once system-wide, once per project.
CREATE TABLE labels (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT COLLATE "C" NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    color       TEXT NOT NULL DEFAULT '',
    scope       TEXT NOT NULL CHECK (scope IN ('g', 'p')),
    project_id  BIGINT REFERENCES projects (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    CHECK ((scope = 'p') = (project_id IS NOT NULL))
);
CREATE UNIQUE INDEX labels_global_name_idx ON labels (name) WHERE scope = 'g';
CREATE UNIQUE INDEX labels_project_name_idx ON labels (project_id, name) WHERE scope = 'p';

-- Labels attached to artifacts (manifests); both sides cascade.
CREATE TABLE artifact_labels (
    manifest_id BIGINT NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
    label_id    BIGINT NOT NULL REFERENCES labels (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (manifest_id, label_id)
);
CREATE INDEX artifact_labels_label_idx ON artifact_labels (label_id);

-- Pulls of each artifact (manifest GETs), added in batches by each
-- replica's pull recorder; a row exists once the artifact was pulled.
CREATE TABLE artifact_pulls (
    manifest_id BIGINT PRIMARY KEY REFERENCES manifests (id) ON DELETE CASCADE,
    pull_count  BIGINT NOT NULL DEFAULT 0 CHECK (pull_count >= 0),
    pulled_at   TIMESTAMPTZ NOT NULL
);

-- Harbor's immutable tag rules, per project. rule is the rule's selectors
-- as JSON (tag_selectors, scope_selectors, template, action, params).
CREATE TABLE immutable_rules (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    disabled   BOOLEAN NOT NULL DEFAULT FALSE,
    priority   INTEGER NOT NULL DEFAULT 0,
    rule       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX immutable_rules_project_idx ON immutable_rules (project_id);

-- Projects that ask for their untagged manifests to be deleted (Berth's
-- project metadata auto_delete_untagged): a row means yes.
CREATE TABLE project_untagged_gc (
    project_id BIGINT PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE project_untagged_gc;
DROP TABLE immutable_rules;
DROP TABLE artifact_pulls;
DROP TABLE artifact_labels;
DROP TABLE labels;
