package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
)

// Scans is the scanning aggregate: scanner registrations and the scan
// report of each artifact.
type Scans struct{ *handle }

// Errors of the scanning aggregate.
var (
	ErrScannerNotFound = errors.New("scanner registration not found")
	ErrScannerExists   = errors.New("a scanner registration with that name already exists")
	ErrReportNotFound  = errors.New("scan report not found")
)

// Scanner is a registered scanner adapter. AccessCredential is a secret
// sent to the adapter in the Authorization header; it is never shown.
type Scanner struct {
	ID               int64
	UUID             string
	Name             string
	Description      string
	URL              string
	Auth             string // "", Basic, Bearer or X-ScannerAdapter-API-Key
	AccessCredential string
	SkipCertVerify   bool
	IsDefault        bool
	Disabled         bool
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

const scannerSelect = `SELECT id, uuid, name, description, url, auth, access_credential, skip_cert_verify, is_default,
	disabled, created_at, updated_at FROM scanners`

func scanScanner(row rowScanner) (Scanner, error) {
	var s Scanner
	err := row.Scan(&s.ID, &s.UUID, &s.Name, &s.Description, &s.URL, &s.Auth, &s.AccessCredential, &s.SkipCertVerify,
		&s.IsDefault, &s.Disabled, &s.CreatedAt, &s.UpdatedAt)
	s.CreatedAt, s.UpdatedAt = s.CreatedAt.UTC(), s.UpdatedAt.UTC()
	return s, err
}

// CreateScanner stores s (ID, times set here); the first registration
// becomes the default. A name taken: ErrScannerExists.
func (s *Scans) CreateScanner(ctx context.Context, sc Scanner) (Scanner, error) {
	err := s.inTx(ctx, func(tx *handle) error {
		var n int
		if err := tx.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM scanners WHERE name = $1`, sc.Name).Scan(&n); err != nil {
			return wrapErr(err, "meta: create scanner")
		}
		if n > 0 {
			return fmt.Errorf("scanner %q: %w", sc.Name, ErrScannerExists)
		}
		if err := tx.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM scanners`).Scan(&n); err != nil {
			return wrapErr(err, "meta: create scanner")
		}
		sc.IsDefault = n == 0
		sc.CreatedAt = tx.timestamp()
		sc.UpdatedAt = sc.CreatedAt
		return wrapIf(tx.q.QueryRowContext(ctx, `
			INSERT INTO scanners (uuid, name, description, url, auth, access_credential, skip_cert_verify, is_default,
				disabled, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id`,
			sc.UUID, sc.Name, sc.Description, sc.URL, sc.Auth, sc.AccessCredential, sc.SkipCertVerify, sc.IsDefault,
			sc.Disabled, sc.CreatedAt).Scan(&sc.ID), "meta: create scanner %q", sc.Name)
	})
	if err != nil {
		return Scanner{}, err
	}
	return sc, nil
}

func wrapIf(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return wrapErr(err, format, args...)
}

// GetScanner returns registration uuid (or the default one for ""). Missing:
// ErrScannerNotFound.
func (s *Scans) GetScanner(ctx context.Context, uuid string) (Scanner, error) {
	q, arg := scannerSelect+` WHERE uuid = $1`, any(uuid)
	if uuid == "" {
		q, arg = scannerSelect+` WHERE is_default = $1 AND disabled = $2`, true
		sc, err := scanScanner(s.q.QueryRowContext(ctx, q, arg, false))
		if errors.Is(err, sql.ErrNoRows) {
			return Scanner{}, fmt.Errorf("default scanner: %w", ErrScannerNotFound)
		}
		return sc, wrapIf(err, "meta: default scanner")
	}
	sc, err := scanScanner(s.q.QueryRowContext(ctx, q, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return Scanner{}, fmt.Errorf("scanner %s: %w", uuid, ErrScannerNotFound)
	}
	return sc, wrapIf(err, "meta: get scanner %s", uuid)
}

// GetScannerByID returns registration id. Missing: ErrScannerNotFound.
func (s *Scans) GetScannerByID(ctx context.Context, id int64) (Scanner, error) {
	sc, err := scanScanner(s.q.QueryRowContext(ctx, scannerSelect+` WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Scanner{}, fmt.Errorf("scanner %d: %w", id, ErrScannerNotFound)
	}
	return sc, wrapIf(err, "meta: get scanner %d", id)
}

// ListScanners returns every registration by id (at most 100).
func (s *Scans) ListScanners(ctx context.Context) ([]Scanner, error) {
	ss, err := queryAll(ctx, s.q, scanScanner, scannerSelect+` ORDER BY id LIMIT 100`)
	return ss, wrapIf(err, "meta: list scanners")
}

// UpdateScanner replaces the fields of registration sc.UUID (not its
// default flag). Missing: ErrScannerNotFound.
func (s *Scans) UpdateScanner(ctx context.Context, sc Scanner) error {
	res, err := s.q.ExecContext(ctx, `UPDATE scanners SET name = $2, description = $3, url = $4, auth = $5,
		access_credential = $6, skip_cert_verify = $7, disabled = $8, updated_at = $9 WHERE uuid = $1`,
		sc.UUID, sc.Name, sc.Description, sc.URL, sc.Auth, sc.AccessCredential, sc.SkipCertVerify, sc.Disabled, s.timestamp())
	if err != nil {
		return wrapErr(err, "meta: update scanner %s", sc.UUID)
	}
	return expectOne(res, fmt.Errorf("scanner %s: %w", sc.UUID, ErrScannerNotFound), "meta: update scanner %s", sc.UUID)
}

// DeleteScanner deletes registration uuid. Missing: ErrScannerNotFound.
func (s *Scans) DeleteScanner(ctx context.Context, uuid string) error {
	res, err := s.q.ExecContext(ctx, `DELETE FROM scanners WHERE uuid = $1`, uuid)
	if err != nil {
		return wrapErr(err, "meta: delete scanner %s", uuid)
	}
	return expectOne(res, fmt.Errorf("scanner %s: %w", uuid, ErrScannerNotFound), "meta: delete scanner %s", uuid)
}

// SetDefaultScanner makes registration uuid the only default. Missing:
// ErrScannerNotFound.
func (s *Scans) SetDefaultScanner(ctx context.Context, uuid string) error {
	return s.inTx(ctx, func(tx *handle) error {
		res, err := tx.q.ExecContext(ctx, `UPDATE scanners SET is_default = $2 WHERE uuid = $1`, uuid, true)
		if err != nil {
			return wrapErr(err, "meta: default scanner %s", uuid)
		}
		if err := expectOne(res, fmt.Errorf("scanner %s: %w", uuid, ErrScannerNotFound), "meta: default scanner"); err != nil {
			return err
		}
		_, err = tx.q.ExecContext(ctx, `UPDATE scanners SET is_default = $2 WHERE uuid <> $1`, uuid, false)
		return wrapIf(err, "meta: default scanner %s", uuid)
	})
}

// Scan report states (Harbor's).
const (
	ScanPending = "Pending"
	ScanRunning = "Running"
	ScanSuccess = "Success"
	ScanError   = "Error"
)

// ScanReport is the latest scan of one artifact for one report type.
type ScanReport struct {
	ID         int64
	UUID       string
	ProjectID  int64
	Repository string
	Digest     digest.Digest
	ScannerID  int64
	MimeType   string
	Status     string
	Severity   string
	Total      int
	Fixable    int
	Report     string // the adapter's report JSON
	Log        string
	StartTime  time.Time
	EndTime    time.Time // zero while running
}

const reportSelect = `SELECT id, uuid, project_id, repository, digest, scanner_id, mime_type, status, severity, total,
	fixable, report, log, start_time, end_time FROM scan_reports`

func scanReport(row rowScanner) (ScanReport, error) {
	var (
		r   ScanReport
		d   string
		end flexTime
	)
	err := row.Scan(&r.ID, &r.UUID, &r.ProjectID, &r.Repository, &d, &r.ScannerID, &r.MimeType, &r.Status, &r.Severity,
		&r.Total, &r.Fixable, &r.Report, &r.Log, &r.StartTime, &end)
	r.Digest, r.StartTime, r.EndTime = digest.Digest(d), r.StartTime.UTC(), end.Time
	return r, err
}

// StartScanReport records a new scan of r.Repository@r.Digest (status
// Pending), replacing the artifact's previous report of r.MimeType, and
// returns it with its ids.
func (s *Scans) StartScanReport(ctx context.Context, r ScanReport) (ScanReport, error) {
	r.Status, r.StartTime = ScanPending, s.timestamp()
	err := s.inTx(ctx, func(tx *handle) error {
		if _, err := tx.q.ExecContext(ctx, `DELETE FROM scan_reports WHERE repository = $1 AND digest = $2 AND mime_type = $3`,
			r.Repository, r.Digest, r.MimeType); err != nil {
			return wrapErr(err, "meta: start scan report")
		}
		return wrapIf(tx.q.QueryRowContext(ctx, `
			INSERT INTO scan_reports (uuid, project_id, repository, digest, scanner_id, mime_type, status, start_time)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
			r.UUID, r.ProjectID, r.Repository, r.Digest, r.ScannerID, r.MimeType, r.Status, r.StartTime).Scan(&r.ID),
			"meta: start scan report")
	})
	if err != nil {
		return ScanReport{}, err
	}
	return r, nil
}

// UpdateScanReport records the status, summary, report and log of report
// r.UUID; a final status (Success, Error) sets its end time.
func (s *Scans) UpdateScanReport(ctx context.Context, r ScanReport) error {
	var end any
	if r.Status == ScanSuccess || r.Status == ScanError {
		end = s.timestamp()
	}
	if len(r.Log) > 64<<10 {
		r.Log = r.Log[len(r.Log)-64<<10:]
	}
	_, err := s.q.ExecContext(ctx, `UPDATE scan_reports SET status = $2, severity = $3, total = $4, fixable = $5,
		report = $6, log = $7, end_time = $8 WHERE uuid = $1`, r.UUID, r.Status, r.Severity, r.Total, r.Fixable,
		r.Report, r.Log, end)
	return wrapIf(err, "meta: update scan report %s", r.UUID)
}

// GetScanReport returns report uuid. Missing: ErrReportNotFound.
func (s *Scans) GetScanReport(ctx context.Context, uuid string) (ScanReport, error) {
	r, err := scanReport(s.q.QueryRowContext(ctx, reportSelect+` WHERE uuid = $1`, uuid))
	if errors.Is(err, sql.ErrNoRows) {
		return ScanReport{}, fmt.Errorf("scan report %s: %w", uuid, ErrReportNotFound)
	}
	return r, wrapIf(err, "meta: get scan report %s", uuid)
}

// ArtifactScanReports returns the reports of repo@d (any type).
func (s *Scans) ArtifactScanReports(ctx context.Context, repo string, d digest.Digest) ([]ScanReport, error) {
	rs, err := queryAll(ctx, s.q, scanReport, reportSelect+` WHERE repository = $1 AND digest = $2 ORDER BY id`, repo, d)
	return rs, wrapIf(err, "meta: scan reports of %s@%s", repo, d)
}

// SwapScannerCredential replaces registration uuid's access credential
// with next if it still is old (compare and set), and reports whether it
// did.
func (s *Scans) SwapScannerCredential(ctx context.Context, uuid, old, next string) (bool, error) {
	res, err := s.q.ExecContext(ctx, `UPDATE scanners SET access_credential = $3 WHERE uuid = $1 AND access_credential = $2`,
		uuid, old, next)
	if err != nil {
		return false, wrapErr(err, "meta: swap scanner credential %s", uuid)
	}
	n, err := res.RowsAffected()
	return n == 1, wrapIf(err, "meta: swap scanner credential %s", uuid)
}

// ScanStatusCounts counts the scan reports started at or after since, by
// status (what the latest scan-all run has done so far).
func (s *Scans) ScanStatusCounts(ctx context.Context, since time.Time) (map[string]int, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT status, COUNT(*) FROM scan_reports WHERE start_time >= $1 GROUP BY status`, micro(since))
	if err != nil {
		return nil, wrapErr(err, "meta: scan status counts")
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, wrapErr(err, "meta: scan status counts")
		}
		out[st] = n
	}
	return out, wrapIf(rows.Err(), "meta: scan status counts")
}
