package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Registry endpoint errors.
var (
	ErrRegistryNotFound = errors.New("registry not found")
	ErrRegistryExists   = errors.New("registry name already in use")
	// ErrRegistryInUse: a policy or a proxy-cache project refers to it.
	ErrRegistryInUse = errors.New("registry is used by a replication policy or a proxy-cache project")
)

// Registry is a remote registry endpoint (Harbor's /registries). Secret
// is the access secret as stored: encrypted by the caller
// (internal/replication), never plain text.
type Registry struct {
	ID             int64
	Name           string
	Description    string
	Type           string
	URL            string
	CredentialType string
	AccessKey      string
	Secret         string // ciphertext
	Insecure       bool
	CABundle       string
	Status         string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Registries is the registry-endpoint aggregate.
type Registries struct{ *handle }

const registryColumns = `id, name, description, type, url, credential_type, access_key, access_secret, insecure,
	ca_bundle, status, created_at, updated_at`

func scanRegistry(row rowScanner) (Registry, error) {
	var r Registry
	err := row.Scan(&r.ID, &r.Name, &r.Description, &r.Type, &r.URL, &r.CredentialType, &r.AccessKey, &r.Secret,
		&r.Insecure, &r.CABundle, &r.Status, &r.CreatedAt, &r.UpdatedAt)
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return r, err
}

// CreateRegistry inserts r and returns the stored row. Taken name:
// ErrRegistryExists.
func (s *Registries) CreateRegistry(ctx context.Context, r Registry) (Registry, error) {
	got, err := scanRegistry(s.q.QueryRowContext(ctx, `INSERT INTO registries (name, description, type, url,
		credential_type, access_key, access_secret, insecure, ca_bundle, status, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) ON CONFLICT DO NOTHING RETURNING `+registryColumns,
		r.Name, r.Description, r.Type, r.URL, r.CredentialType, r.AccessKey, r.Secret, r.Insecure, r.CABundle, r.Status,
		s.timestamp()))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Registry{}, fmt.Errorf("registry %s: %w", r.Name, ErrRegistryExists)
	case err != nil:
		return Registry{}, wrapErr(err, "meta: create registry %s", r.Name)
	}
	return got, nil
}

// GetRegistry returns registry id. Missing: ErrRegistryNotFound.
func (s *Registries) GetRegistry(ctx context.Context, id int64) (Registry, error) {
	r, err := scanRegistry(s.q.QueryRowContext(ctx, `SELECT `+registryColumns+` FROM registries WHERE id = $1`, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Registry{}, fmt.Errorf("registry %d: %w", id, ErrRegistryNotFound)
	case err != nil:
		return Registry{}, wrapErr(err, "meta: get registry %d", id)
	}
	return r, nil
}

// ListRegistries returns one page of registries by id, those whose name
// contains nameLike (any when empty), and their total.
func (s *Registries) ListRegistries(ctx context.Context, nameLike string, pg Page) ([]Registry, int, error) {
	var c conds
	if nameLike != "" {
		c.add(`LOWER(name) LIKE ` + c.arg(likePattern(nameLike)) + ` ESCAPE '\'`)
	}
	var total int
	if err := s.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM registries`+c.sql(), c.args...).Scan(&total); err != nil {
		return nil, 0, wrapErr(err, "meta: count registries")
	}
	if pg.Limit <= 0 {
		return []Registry{}, total, nil
	}
	q := `SELECT ` + registryColumns + ` FROM registries` + c.sql() + ` ORDER BY id LIMIT ` + c.arg(pg.Limit) +
		` OFFSET ` + c.arg(max(pg.Offset, 0))
	out, err := queryAll(ctx, s.q, scanRegistry, q, c.args...)
	if err != nil {
		return nil, 0, wrapErr(err, "meta: list registries")
	}
	return out, total, nil
}

// UpdateRegistry replaces every field of registry r.ID but the times.
// Missing: ErrRegistryNotFound; name taken: ErrRegistryExists.
func (s *Registries) UpdateRegistry(ctx context.Context, r Registry) error {
	var other int64
	err := s.q.QueryRowContext(ctx, `SELECT id FROM registries WHERE name = $1 AND id <> $2`, r.Name, r.ID).Scan(&other)
	switch {
	case err == nil:
		return fmt.Errorf("registry %s: %w", r.Name, ErrRegistryExists)
	case !errors.Is(err, sql.ErrNoRows):
		return wrapErr(err, "meta: update registry %d", r.ID)
	}
	res, err := s.q.ExecContext(ctx, `UPDATE registries SET name = $2, description = $3, type = $4, url = $5,
		credential_type = $6, access_key = $7, access_secret = $8, insecure = $9, ca_bundle = $10, status = $11,
		updated_at = $12 WHERE id = $1`, r.ID, r.Name, r.Description, r.Type, r.URL, r.CredentialType, r.AccessKey,
		r.Secret, r.Insecure, r.CABundle, r.Status, s.timestamp())
	if err != nil {
		return wrapErr(err, "meta: update registry %d", r.ID)
	}
	return expectOne(res, fmt.Errorf("registry %d: %w", r.ID, ErrRegistryNotFound), "meta: update registry %d", r.ID)
}

// SetRegistrySecret replaces only the stored secret of registry id (key
// rotation re-encrypts with it) if it still equals old.
func (s *Registries) SetRegistrySecret(ctx context.Context, id int64, old, secret string) error {
	_, err := s.q.ExecContext(ctx, `UPDATE registries SET access_secret = $3 WHERE id = $1 AND access_secret = $2`,
		id, old, secret)
	return wrapErr2(err, "meta: set registry %d secret", id)
}

// SetRegistryStatus records the outcome of the last health check.
func (s *Registries) SetRegistryStatus(ctx context.Context, id int64, status string) error {
	_, err := s.q.ExecContext(ctx, `UPDATE registries SET status = $2 WHERE id = $1`, id, status)
	return wrapErr2(err, "meta: set registry %d status", id)
}

// DeleteRegistry removes registry id. Missing: ErrRegistryNotFound; used
// by a policy or a project: ErrRegistryInUse.
func (s *Registries) DeleteRegistry(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(tx *handle) error {
		var n int
		err := tx.q.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM replication_policies
			WHERE src_registry_id = $1 OR dest_registry_id = $1) + (SELECT COUNT(*) FROM projects WHERE registry_id = $1)`,
			id).Scan(&n)
		if err != nil {
			return wrapErr(err, "meta: delete registry %d", id)
		}
		if n > 0 {
			return fmt.Errorf("registry %d: %w", id, ErrRegistryInUse)
		}
		res, err := tx.q.ExecContext(ctx, `DELETE FROM registries WHERE id = $1`, id)
		if err != nil {
			return wrapErr(err, "meta: delete registry %d", id)
		}
		return expectOne(res, fmt.Errorf("registry %d: %w", id, ErrRegistryNotFound), "meta: delete registry %d", id)
	})
}

// ProjectRegistry returns the upstream registry id of a proxy-cache
// project (0: an ordinary project).
func (s *Registries) ProjectRegistry(ctx context.Context, projectID int64) (int64, error) {
	var id sql.NullInt64
	err := s.q.QueryRowContext(ctx, `SELECT registry_id FROM projects WHERE id = $1`, projectID).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, fmt.Errorf("project %d: %w", projectID, ErrProjectNotFound)
	case err != nil:
		return 0, wrapErr(err, "meta: project %d registry", projectID)
	}
	return id.Int64, nil
}

// ProxyProjectRegistry returns the upstream registry id of the project
// named name (0: an ordinary project or none).
func (s *Registries) ProxyProjectRegistry(ctx context.Context, name string) (int64, error) {
	var id sql.NullInt64
	err := s.q.QueryRowContext(ctx, `SELECT registry_id FROM projects WHERE name = $1`, name).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, nil
	case err != nil:
		return 0, wrapErr(err, "meta: project %s registry", name)
	}
	return id.Int64, nil
}

// SetProjectRegistry makes project projectID a proxy cache of registry
// registryID (which must exist).
func (s *Registries) SetProjectRegistry(ctx context.Context, projectID, registryID int64) error {
	res, err := s.q.ExecContext(ctx, `UPDATE projects SET registry_id = $2 WHERE id = $1`, projectID, nullID(registryID))
	if err != nil {
		return wrapErr(err, "meta: set project %d registry", projectID)
	}
	return expectOne(res, fmt.Errorf("project %d: %w", projectID, ErrProjectNotFound), "meta: set project %d registry", projectID)
}

// wrapErr2 wraps a non-nil err (wrapErr always wraps).
func wrapErr2(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return wrapErr(err, format, args...)
}
