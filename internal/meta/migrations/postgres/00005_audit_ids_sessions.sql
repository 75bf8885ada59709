-- Audit entries tied to project ids, per-user session generations
-- (PostgreSQL). Keep in step with ../sqlite/00005_audit_ids_sessions.sql.

-- +goose Up
-- The project an entry is about; 0 for entries about no project (logins,
-- users, settings, system robots). A project's log filters on it, so a
-- project re-created under an old name never shows its predecessor's.
ALTER TABLE audit_logs ADD COLUMN project_id BIGINT NOT NULL DEFAULT 0;
-- Earlier entries named their project in the resource ("p" or "p/...");
-- they go to the project of that name that existed at the time.
UPDATE audit_logs SET project_id = COALESCE((
    SELECT p.id FROM projects p
    WHERE (audit_logs.resource = p.name OR substr(audit_logs.resource, 1, length(p.name) + 1) = p.name || '/')
      AND p.created_at <= audit_logs.op_time
    ORDER BY p.created_at DESC LIMIT 1), 0)
WHERE resource_type IN ('project', 'repository', 'artifact', 'tag', 'member', 'robot', 'blob');
CREATE INDEX audit_logs_project_idx ON audit_logs (project_id, op_time);

-- Bumped when a user's portal sessions must end (password change or reset,
-- disabling, logout); a session cookie carries the generation it was
-- issued under and is refused once it differs.
ALTER TABLE users ADD COLUMN session_gen BIGINT NOT NULL DEFAULT 0;

-- +goose Down
DROP INDEX audit_logs_project_idx;
ALTER TABLE audit_logs DROP COLUMN project_id;
ALTER TABLE users DROP COLUMN session_gen;
