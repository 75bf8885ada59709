-- Who created each robot account, as Harbor's robot creator_type and
-- creator_ref (PostgreSQL). Keep in step with ../sqlite/00006_robot_creator.sql.
-- Robots created before this migration have creator_type '' and creator_ref 0.

-- +goose Up
ALTER TABLE robots ADD COLUMN creator_type TEXT NOT NULL DEFAULT '';
ALTER TABLE robots ADD COLUMN creator_ref BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE robots DROP COLUMN creator_ref;
ALTER TABLE robots DROP COLUMN creator_type;
