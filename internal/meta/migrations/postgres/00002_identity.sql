-- Identity and access (PostgreSQL). Keep in step with ../sqlite/00002_identity.sql:
-- the queries in identity.go, projects.go, settings.go and audit.go run
-- unchanged on both. Booleans are BOOLEAN here and INTEGER 0/1 there; JSON
-- lists are TEXT on both.

-- +goose Up
CREATE TABLE users (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username       TEXT COLLATE "C" NOT NULL UNIQUE,
    email          TEXT NOT NULL DEFAULT '',
    realname       TEXT NOT NULL DEFAULT '',
    -- argon2id PHC string; '' for users who authenticate elsewhere (LDAP).
    password_hash  TEXT NOT NULL DEFAULT '',
    sysadmin       BOOLEAN NOT NULL DEFAULT FALSE,
    disabled       BOOLEAN NOT NULL DEFAULT FALSE,
    source         TEXT NOT NULL DEFAULT 'local' CHECK (source IN ('local', 'ldap')),
    ldap_dn        TEXT NOT NULL DEFAULT '',
    -- JSON list of lower-cased LDAP group DNs, refreshed at each LDAP login.
    ldap_group_dns TEXT NOT NULL DEFAULT '[]',
    -- Member of the LDAP admin group at the last LDAP login.
    ldap_admin     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX users_email_idx ON users (email);

CREATE TABLE projects (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       TEXT COLLATE "C" NOT NULL UNIQUE,
    public     BOOLEAN NOT NULL DEFAULT FALSE,
    owner_id   BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- A member is a user or an LDAP group (by lower-cased DN).
CREATE TABLE project_members (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id  BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    member_kind TEXT NOT NULL CHECK (member_kind IN ('user', 'group')),
    user_id     BIGINT REFERENCES users (id) ON DELETE CASCADE,
    group_dn    TEXT COLLATE "C",
    -- Harbor's role ids: 1 ProjectAdmin, 2 Developer, 3 Guest, 4 Maintainer, 5 LimitedGuest.
    role        INTEGER NOT NULL CHECK (role BETWEEN 1 AND 5),
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    CHECK ((member_kind = 'user' AND user_id IS NOT NULL AND group_dn IS NULL)
        OR (member_kind = 'group' AND group_dn IS NOT NULL AND user_id IS NULL)),
    UNIQUE (project_id, user_id),
    UNIQUE (project_id, group_dn)
);
CREATE INDEX project_members_user_idx ON project_members (user_id);
CREATE INDEX project_members_group_idx ON project_members (group_dn);

CREATE TABLE robots (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT COLLATE "C" NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    secret_hash TEXT NOT NULL,
    level       TEXT NOT NULL CHECK (level IN ('system', 'project')),
    project_id  BIGINT REFERENCES projects (id) ON DELETE CASCADE,
    -- JSON: [{"kind":"project","namespace":"p","access":[{"resource":"repository","action":"pull"}]}]
    permissions TEXT NOT NULL DEFAULT '[]',
    expires_at  TIMESTAMPTZ,
    disabled    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    CHECK ((level = 'project') = (project_id IS NOT NULL))
);
CREATE INDEX robots_project_idx ON robots (project_id);

-- System settings, one row per key (Harbor's configuration key names).
CREATE TABLE configurations (
    key        TEXT COLLATE "C" PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE audit_logs (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    op_time       TIMESTAMPTZ NOT NULL,
    username      TEXT COLLATE "C" NOT NULL,
    operation     TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource      TEXT COLLATE "C" NOT NULL,
    client_ip     TEXT NOT NULL DEFAULT '',
    result        TEXT NOT NULL CHECK (result IN ('success', 'failure'))
);
CREATE INDEX audit_logs_op_time_idx ON audit_logs (op_time);
CREATE INDEX audit_logs_username_idx ON audit_logs (username, op_time);

-- Failed logins per key ("user:<name>", "ip:<addr>") in the current window,
-- shared by every replica.
CREATE TABLE login_failures (
    key          TEXT COLLATE "C" PRIMARY KEY,
    failures     INTEGER NOT NULL CHECK (failures >= 0),
    window_start TIMESTAMPTZ NOT NULL
);
CREATE INDEX login_failures_window_idx ON login_failures (window_start);

-- The default public project.
INSERT INTO projects (name, public, created_at, updated_at) VALUES ('library', TRUE, now(), now());

-- +goose Down
DROP TABLE login_failures;
DROP TABLE audit_logs;
DROP TABLE configurations;
DROP TABLE robots;
DROP TABLE project_members;
DROP TABLE projects;
DROP TABLE users;
