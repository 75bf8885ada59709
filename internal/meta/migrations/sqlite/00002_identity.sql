-- Identity and access (SQLite). Keep in step with ../postgres/00002_identity.sql:
-- the queries in identity.go, projects.go, settings.go and audit.go run
-- unchanged on both. Booleans are INTEGER 0/1 here and BOOLEAN there; JSON
-- lists are TEXT on both.

-- +goose Up
CREATE TABLE users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    username       TEXT NOT NULL UNIQUE,
    email          TEXT NOT NULL DEFAULT '',
    realname       TEXT NOT NULL DEFAULT '',
    -- argon2id PHC string; '' for users who authenticate elsewhere (LDAP).
    password_hash  TEXT NOT NULL DEFAULT '',
    sysadmin       INTEGER NOT NULL DEFAULT 0 CHECK (sysadmin IN (0, 1)),
    disabled       INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    source         TEXT NOT NULL DEFAULT 'local' CHECK (source IN ('local', 'ldap')),
    ldap_dn        TEXT NOT NULL DEFAULT '',
    -- JSON list of lower-cased LDAP group DNs, refreshed at each LDAP login.
    ldap_group_dns TEXT NOT NULL DEFAULT '[]',
    -- Member of the LDAP admin group at the last LDAP login.
    ldap_admin     INTEGER NOT NULL DEFAULT 0 CHECK (ldap_admin IN (0, 1)),
    created_at     TIMESTAMP NOT NULL,
    updated_at     TIMESTAMP NOT NULL
);
CREATE INDEX users_email_idx ON users (email);

CREATE TABLE projects (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL UNIQUE,
    public     INTEGER NOT NULL DEFAULT 0 CHECK (public IN (0, 1)),
    owner_id   INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- A member is a user or an LDAP group (by lower-cased DN).
CREATE TABLE project_members (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id  INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    member_kind TEXT NOT NULL CHECK (member_kind IN ('user', 'group')),
    user_id     INTEGER REFERENCES users (id) ON DELETE CASCADE,
    group_dn    TEXT,
    -- Harbor's role ids: 1 ProjectAdmin, 2 Developer, 3 Guest, 4 Maintainer, 5 LimitedGuest.
    role        INTEGER NOT NULL CHECK (role BETWEEN 1 AND 5),
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    CHECK ((member_kind = 'user' AND user_id IS NOT NULL AND group_dn IS NULL)
        OR (member_kind = 'group' AND group_dn IS NOT NULL AND user_id IS NULL)),
    UNIQUE (project_id, user_id),
    UNIQUE (project_id, group_dn)
);
CREATE INDEX project_members_user_idx ON project_members (user_id);
CREATE INDEX project_members_group_idx ON project_members (group_dn);

CREATE TABLE robots (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    secret_hash TEXT NOT NULL,
    level       TEXT NOT NULL CHECK (level IN ('system', 'project')),
    project_id  INTEGER REFERENCES projects (id) ON DELETE CASCADE,
    -- JSON: [{"kind":"project","namespace":"p","access":[{"resource":"repository","action":"pull"}]}]
    permissions TEXT NOT NULL DEFAULT '[]',
    expires_at  TIMESTAMP,
    disabled    INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    CHECK ((level = 'project') = (project_id IS NOT NULL))
);
CREATE INDEX robots_project_idx ON robots (project_id);

-- System settings, one row per key (Harbor's configuration key names).
CREATE TABLE configurations (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE audit_logs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    op_time       TIMESTAMP NOT NULL,
    username      TEXT NOT NULL,
    operation     TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource      TEXT NOT NULL,
    client_ip     TEXT NOT NULL DEFAULT '',
    result        TEXT NOT NULL CHECK (result IN ('success', 'failure'))
);
CREATE INDEX audit_logs_op_time_idx ON audit_logs (op_time);
CREATE INDEX audit_logs_username_idx ON audit_logs (username, op_time);

-- Failed logins per key ("user:<name>", "ip:<addr>") in the current window,
-- shared by every replica.
CREATE TABLE login_failures (
    key          TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL CHECK (failures >= 0),
    window_start TIMESTAMP NOT NULL
);
CREATE INDEX login_failures_window_idx ON login_failures (window_start);

-- The default public project.
INSERT INTO projects (name, public, created_at, updated_at)
VALUES ('library', 1, strftime('%Y-%m-%d %H:%M:%f+00:00', 'now'), strftime('%Y-%m-%d %H:%M:%f+00:00', 'now'));

-- +goose Down
DROP TABLE login_failures;
DROP TABLE audit_logs;
DROP TABLE configurations;
DROP TABLE robots;
DROP TABLE project_members;
DROP TABLE projects;
DROP TABLE users;
