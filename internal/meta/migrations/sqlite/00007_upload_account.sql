-- Upload sessions record the account that opened them, so open sessions
-- can be capped per repository and per account. Keep in step with
-- ../postgres/00007_upload_account.sql.

-- +goose Up
ALTER TABLE uploads ADD COLUMN account TEXT NOT NULL DEFAULT '';
CREATE INDEX uploads_repository_idx ON uploads (repository);
CREATE INDEX uploads_account_idx ON uploads (account);

-- +goose Down
DROP INDEX uploads_account_idx;
DROP INDEX uploads_repository_idx;
ALTER TABLE uploads DROP COLUMN account;
