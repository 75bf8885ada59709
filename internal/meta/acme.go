package meta

import (
	"context"
	"database/sql"
	"errors"
)

// ErrCacheMiss is returned by ACMECache.Get for a key never stored.
var ErrCacheMiss = errors.New("acme cache: key not found")

// ACMECache is the ACME certificate cache shared by replicas
// (http.tls.acme.cache: database): opaque values under short keys.
type ACMECache struct{ *handle }

// Get returns the value stored under key, or ErrCacheMiss.
func (c *ACMECache) Get(ctx context.Context, key string) ([]byte, error) {
	var data []byte
	err := c.q.QueryRowContext(ctx, `SELECT data FROM acme_cache WHERE key = $1`, key).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrCacheMiss
	}
	if err != nil {
		return nil, wrapErr(err, "meta: get acme cache %s", key)
	}
	return data, nil
}

// Put stores data under key, replacing what was there.
func (c *ACMECache) Put(ctx context.Context, key string, data []byte) error {
	if _, err := c.q.ExecContext(ctx, `
		INSERT INTO acme_cache (key, data, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at`,
		key, data, c.timestamp()); err != nil {
		return wrapErr(err, "meta: put acme cache %s", key)
	}
	return nil
}

// Delete removes key; a missing key is not an error.
func (c *ACMECache) Delete(ctx context.Context, key string) error {
	if _, err := c.q.ExecContext(ctx, `DELETE FROM acme_cache WHERE key = $1`, key); err != nil {
		return wrapErr(err, "meta: delete acme cache %s", key)
	}
	return nil
}
