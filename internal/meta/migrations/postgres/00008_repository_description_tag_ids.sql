-- Repository descriptions and tag ids (PostgreSQL). Keep in step with
-- ../sqlite/00008_repository_description_tag_ids.sql.
--
-- Harbor's Repository has a description (PUT .../repositories/{r}) and its
-- Tag an id; existing tags get theirs when the column is added.

-- +goose Up
ALTER TABLE repositories ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE tags ADD COLUMN id BIGINT GENERATED ALWAYS AS IDENTITY;
ALTER TABLE tags ADD CONSTRAINT tags_id_key UNIQUE (id);

-- +goose Down
ALTER TABLE tags DROP COLUMN id;
ALTER TABLE repositories DROP COLUMN description;
