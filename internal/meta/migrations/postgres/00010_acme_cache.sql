-- The ACME certificate cache (http.tls.acme.cache: database): account
-- keys, certificates and pending TLS-ALPN-01 challenge certificates, shared
-- by every replica. Keep in step with ../sqlite/00010_acme_cache.sql.

-- +goose Up
CREATE TABLE acme_cache (
    key        TEXT COLLATE "C" PRIMARY KEY,
    data       BYTEA NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE acme_cache;
