-- The ACME certificate cache (http.tls.acme.cache: database): account
-- keys, certificates and pending TLS-ALPN-01 challenge certificates, shared
-- by every replica. Keep in step with ../postgres/00010_acme_cache.sql.

-- +goose Up
CREATE TABLE acme_cache (
    key        TEXT PRIMARY KEY,
    data       BLOB NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- +goose Down
DROP TABLE acme_cache;
