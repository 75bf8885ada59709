-- Supply chain (SQLite): the event outbox and its subscriber cursors;
-- webhook policies, deliveries and their per-project leases; project
-- policies (signatures, vulnerabilities) and signature keys.
-- Keep in step with ../postgres/00016_supply.sql. internal/events/doc.go
-- explains the model.

-- +goose Up
-- One row per event (Harbor's event types), written in the transaction of
-- the change it reports; ids grow in commit order (meta.Events.Append).
-- project_id has no foreign key: an event outlives its project.
CREATE TABLE events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    type       TEXT NOT NULL,
    project_id BIGINT NOT NULL DEFAULT 0,
    repository TEXT NOT NULL DEFAULT '',
    digest     TEXT NOT NULL DEFAULT '',
    tags       TEXT NOT NULL DEFAULT '',
    media_type TEXT NOT NULL DEFAULT '',
    size       BIGINT NOT NULL DEFAULT 0,
    operator   TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX events_created_idx ON events (created_at);

-- Where each named subscriber has got to, and who is working it.
CREATE TABLE event_cursors (
    subscriber  TEXT PRIMARY KEY,
    last_id     BIGINT NOT NULL DEFAULT 0,
    lease_owner TEXT NOT NULL DEFAULT '',
    lease_until TIMESTAMP NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    retry_after TIMESTAMP NOT NULL,
    last_error  TEXT NOT NULL DEFAULT '',
    updated_at  TIMESTAMP NOT NULL
);

-- Webhook policies (Harbor's /projects/{p}/webhook/policies). targets is
-- JSON and holds the targets' auth header secrets: the API never shows them.
CREATE TABLE webhook_policies (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id  INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    enabled     INTEGER NOT NULL DEFAULT 1,
    event_types TEXT NOT NULL DEFAULT '[]',
    targets     TEXT NOT NULL DEFAULT '[]',
    creator     TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    UNIQUE (project_id, name)
);

-- One delivery of one event to one target of a policy (Harbor's webhook
-- jobs): the delivery log, and the queue the per-project worker works in
-- id order. job_detail is the payload as sent.
CREATE TABLE webhook_jobs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    policy_id    INTEGER NOT NULL REFERENCES webhook_policies (id) ON DELETE CASCADE,
    project_id   BIGINT NOT NULL,
    event_id     BIGINT NOT NULL,
    target_index INTEGER NOT NULL,
    event_type   TEXT NOT NULL,
    notify_type  TEXT NOT NULL,
    status       TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT NOT NULL DEFAULT '',
    -- no attempt before this (backoff after a failed one)
    next_attempt_at TIMESTAMP NOT NULL,
    job_detail   TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    UNIQUE (policy_id, event_id, target_index)
);
CREATE INDEX webhook_jobs_project_idx ON webhook_jobs (project_id, status, id);

-- Which worker delivers a project's webhooks (one at a time: in order).
CREATE TABLE webhook_leases (
    project_id  BIGINT PRIMARY KEY,
    owner       TEXT NOT NULL,
    lease_until TIMESTAMP NOT NULL
);

-- Per-project supply-chain policy (Harbor's project metadata keys
-- enable_content_trust_cosign, prevent_vul, severity,
-- reuse_sys_cve_allowlist, auto_scan and the project CVE allowlist). project_id 0
-- holds the system CVE allowlist.
CREATE TABLE project_policies (
    project_id              BIGINT PRIMARY KEY,
    content_trust_cosign    INTEGER NOT NULL DEFAULT 0,
    prevent_vul             INTEGER NOT NULL DEFAULT 0,
    auto_scan               INTEGER NOT NULL DEFAULT 0,
    severity                TEXT NOT NULL DEFAULT 'low',
    reuse_sys_cve_allowlist INTEGER NOT NULL DEFAULT 1,
    cve_allowlist           TEXT NOT NULL DEFAULT '[]',
    allowlist_expires_at    BIGINT NOT NULL DEFAULT 0,
    updated_at              TIMESTAMP NOT NULL
);

-- Cosign public keys a project trusts (Berth's signature policy): pulls
-- need a signature that verifies against one of them.
CREATE TABLE signature_keys (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id  INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    algorithm   TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    UNIQUE (project_id, name),
    UNIQUE (project_id, fingerprint)
);

-- Scanner registrations (Harbor's /scanners): adapters speaking the
-- Pluggable Scanner API. access_credential is a secret: never returned.
CREATE TABLE scanners (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid              TEXT NOT NULL UNIQUE,
    name              TEXT NOT NULL UNIQUE,
    description       TEXT NOT NULL DEFAULT '',
    url               TEXT NOT NULL,
    auth              TEXT NOT NULL DEFAULT '',
    access_credential TEXT NOT NULL DEFAULT '',
    skip_cert_verify  INTEGER NOT NULL DEFAULT 0,
    is_default        INTEGER NOT NULL DEFAULT 0,
    disabled          INTEGER NOT NULL DEFAULT 0,
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL
);

-- One scan report per artifact and report type (Harbor's reports): the
-- latest scan's status, summary, report and log.
CREATE TABLE scan_reports (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid        TEXT NOT NULL UNIQUE,
    project_id  BIGINT NOT NULL,
    repository  TEXT NOT NULL,
    digest      TEXT NOT NULL,
    scanner_id  BIGINT NOT NULL,
    mime_type   TEXT NOT NULL,
    status      TEXT NOT NULL,
    severity    TEXT NOT NULL DEFAULT '',
    total       INTEGER NOT NULL DEFAULT 0,
    fixable     INTEGER NOT NULL DEFAULT 0,
    report      TEXT NOT NULL DEFAULT '',
    log         TEXT NOT NULL DEFAULT '',
    start_time  TIMESTAMP NOT NULL,
    end_time    TIMESTAMP,
    UNIQUE (repository, digest, mime_type)
);

-- +goose Down
DROP TABLE scan_reports;
DROP TABLE scanners;
DROP TABLE signature_keys;
DROP TABLE project_policies;
DROP TABLE webhook_leases;
DROP TABLE webhook_jobs;
DROP TABLE webhook_policies;
DROP TABLE event_cursors;
DROP TABLE events;
