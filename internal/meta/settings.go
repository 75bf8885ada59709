package meta

import (
	"context"
	"maps"
	"slices"
)

// Settings holds the run-time system settings (Harbor's configurations).
type Settings struct{ *handle }

// GetConfigurations returns every stored system setting (Harbor's
// configuration key names, e.g. "project_creation_restriction"). Keys never
// stored are absent: defaults are the caller's business.
func (s *Settings) GetConfigurations(ctx context.Context) (map[string]string, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT key, value FROM configurations`)
	if err != nil {
		return nil, wrapErr(err, "meta: get configurations")
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, wrapErr(err, "meta: get configurations")
		}
		out[k] = v
	}
	if err := rows.Err(); err != nil {
		return nil, wrapErr(err, "meta: get configurations")
	}
	return out, nil
}

// SetConfigurations stores every key of kv (inserting or replacing), in one
// transaction, so every replica sees the whole change or none of it.
func (s *Settings) SetConfigurations(ctx context.Context, kv map[string]string) error {
	return s.inTx(ctx, func(tx *handle) error {
		now := tx.timestamp()
		for _, k := range slices.Sorted(maps.Keys(kv)) { // a fixed order avoids deadlocks between writers
			if _, err := tx.q.ExecContext(ctx, `
				INSERT INTO configurations (key, value, updated_at) VALUES ($1, $2, $3)
				ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
				k, kv[k], now); err != nil {
				return wrapErr(err, "meta: set configuration %s", k)
			}
		}
		return nil
	})
}
