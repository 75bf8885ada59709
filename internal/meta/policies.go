package meta

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Policies is the supply-chain policy aggregate: each project's signature
// and vulnerability policy (Harbor's project metadata keys), the CVE
// allowlists (the system's under project id 0) and the cosign keys a
// project trusts.
type Policies struct{ *handle }

// Errors of the policy aggregate.
var (
	ErrSignatureKeyNotFound = errors.New("signature key not found")
	ErrSignatureKeyExists   = errors.New("a signature key with that name or fingerprint already exists in the project")
)

// SystemPolicy is the project id under which the system CVE allowlist is
// kept.
const SystemPolicy = 0

// ProjectPolicy is one project's policy; a project that never set one has
// the defaults (DefaultPolicy).
type ProjectPolicy struct {
	ProjectID            int64
	ContentTrustCosign   bool     // enable_content_trust_cosign
	PreventVul           bool     // prevent_vul
	AutoScan             bool     // auto_scan: scan on push
	Severity             string   // severity: none, low, medium, high, critical
	ReuseSysCVEAllowlist bool     // reuse_sys_cve_allowlist
	CVEAllowlist         []string // CVE ids
	AllowlistExpiresAt   int64    // Unix seconds; 0: never
	UpdatedAt            time.Time
}

// DefaultPolicy is the policy of project pid before anyone set one.
func DefaultPolicy(pid int64) ProjectPolicy {
	return ProjectPolicy{ProjectID: pid, Severity: "low", ReuseSysCVEAllowlist: true, CVEAllowlist: []string{}}
}

// GetProjectPolicy returns project pid's policy (the defaults if none was
// set).
func (s *Policies) GetProjectPolicy(ctx context.Context, pid int64) (ProjectPolicy, error) {
	var (
		p     ProjectPolicy
		items string
	)
	err := s.q.QueryRowContext(ctx, `SELECT project_id, content_trust_cosign, prevent_vul, auto_scan, severity, reuse_sys_cve_allowlist,
		cve_allowlist, allowlist_expires_at, updated_at FROM project_policies WHERE project_id = $1`, pid).Scan(
		&p.ProjectID, &p.ContentTrustCosign, &p.PreventVul, &p.AutoScan, &p.Severity, &p.ReuseSysCVEAllowlist, &items,
		&p.AllowlistExpiresAt, &p.UpdatedAt)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return DefaultPolicy(pid), nil
	case err != nil:
		return ProjectPolicy{}, wrapErr(err, "meta: policy of project %d", pid)
	}
	p.UpdatedAt = p.UpdatedAt.UTC()
	if err := json.Unmarshal([]byte(items), &p.CVEAllowlist); err != nil {
		return ProjectPolicy{}, fmt.Errorf("meta: policy of project %d: allowlist: %w", pid, err)
	}
	return p, nil
}

// SetProjectPolicy stores p.
func (s *Policies) SetProjectPolicy(ctx context.Context, p ProjectPolicy) error {
	if p.CVEAllowlist == nil {
		p.CVEAllowlist = []string{}
	}
	items, err := json.Marshal(p.CVEAllowlist)
	if err != nil {
		return fmt.Errorf("meta: set policy: %w", err)
	}
	if _, err := s.q.ExecContext(ctx, `
		INSERT INTO project_policies (project_id, content_trust_cosign, prevent_vul, severity, reuse_sys_cve_allowlist,
			cve_allowlist, allowlist_expires_at, updated_at, auto_scan)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (project_id) DO UPDATE SET content_trust_cosign = excluded.content_trust_cosign,
			prevent_vul = excluded.prevent_vul, severity = excluded.severity, auto_scan = excluded.auto_scan,
			reuse_sys_cve_allowlist = excluded.reuse_sys_cve_allowlist, cve_allowlist = excluded.cve_allowlist,
			allowlist_expires_at = excluded.allowlist_expires_at, updated_at = excluded.updated_at`,
		p.ProjectID, p.ContentTrustCosign, p.PreventVul, p.Severity, p.ReuseSysCVEAllowlist, string(items),
		p.AllowlistExpiresAt, s.timestamp(), p.AutoScan); err != nil {
		return wrapErr(err, "meta: set policy of project %d", p.ProjectID)
	}
	return nil
}

// SignatureKey is a public key a project trusts for cosign signatures.
type SignatureKey struct {
	ID          int64
	ProjectID   int64
	Name        string
	PublicKey   string // PEM
	Fingerprint string // sha256 of the DER public key, hex
	Algorithm   string // ecdsa-p256, ed25519, rsa...
	CreatedAt   time.Time
}

const signatureKeySelect = `SELECT id, project_id, name, public_key, fingerprint, algorithm, created_at FROM signature_keys`

func scanSignatureKey(row rowScanner) (SignatureKey, error) {
	var k SignatureKey
	err := row.Scan(&k.ID, &k.ProjectID, &k.Name, &k.PublicKey, &k.Fingerprint, &k.Algorithm, &k.CreatedAt)
	k.CreatedAt = k.CreatedAt.UTC()
	return k, err
}

// AddSignatureKey stores k. A name or key the project has already:
// ErrSignatureKeyExists.
func (s *Policies) AddSignatureKey(ctx context.Context, k SignatureKey) (SignatureKey, error) {
	k.CreatedAt = s.timestamp()
	var n int
	if err := s.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM signature_keys WHERE project_id = $1 AND (name = $2 OR fingerprint = $3)`,
		k.ProjectID, k.Name, k.Fingerprint).Scan(&n); err != nil {
		return SignatureKey{}, wrapErr(err, "meta: add signature key")
	}
	if n > 0 {
		return SignatureKey{}, fmt.Errorf("signature key %q: %w", k.Name, ErrSignatureKeyExists)
	}
	err := s.q.QueryRowContext(ctx, `
		INSERT INTO signature_keys (project_id, name, public_key, fingerprint, algorithm, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
		k.ProjectID, k.Name, k.PublicKey, k.Fingerprint, k.Algorithm, k.CreatedAt).Scan(&k.ID)
	if err != nil {
		return SignatureKey{}, wrapErr(err, "meta: add signature key %q", k.Name)
	}
	return k, nil
}

// ListSignatureKeys returns project pid's keys by id (at most 100).
func (s *Policies) ListSignatureKeys(ctx context.Context, pid int64) ([]SignatureKey, error) {
	ks, err := queryAll(ctx, s.q, scanSignatureKey, signatureKeySelect+` WHERE project_id = $1 ORDER BY id LIMIT 100`, pid)
	if err != nil {
		return nil, wrapErr(err, "meta: signature keys of project %d", pid)
	}
	return ks, nil
}

// DeleteSignatureKey deletes key id of project pid. Missing:
// ErrSignatureKeyNotFound.
func (s *Policies) DeleteSignatureKey(ctx context.Context, pid, id int64) error {
	res, err := s.q.ExecContext(ctx, `DELETE FROM signature_keys WHERE id = $1 AND project_id = $2`, id, pid)
	if err != nil {
		return wrapErr(err, "meta: delete signature key %d", id)
	}
	return expectOne(res, fmt.Errorf("signature key %d: %w", id, ErrSignatureKeyNotFound), "meta: delete signature key %d", id)
}
