// Package scan is the registry side of Harbor's Pluggable Scanner API:
// scanner registrations (meta.Scanner), the job that has the default
// scanner scan one artifact through the adapter protocol (POST
// /api/v1/scan, then GET /api/v1/scan/{id}/report until it is ready),
// reports stored per artifact (meta.ScanReport), scan on push (the outbox
// subscriber "scan", for projects with auto_scan), and the vulnerability
// pull policy (prevent_vul and severity, with the system and project CVE
// allowlists).
//
// The scanner pulls the image with credentials made for that one scan
// (Credentials, from internal/app): a robot account of the project,
// expiring after the scan timeout and deleted when the scan ends, and a
// Bearer token for it that grants pull on the one repository only.
package scan

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
)

// Harbor's MIME types.
const (
	MimeVulnReport = "application/vnd.security.vulnerability.report; version=1.1"
	MimeScanReq    = "application/vnd.scanner.adapter.scan.request+json; version=1.0"
	JobScan        = "scan_artifact"
	// Timeout bounds one scan, the scanner's credentials included.
	Timeout = 10 * time.Minute
)

// Errors.
var (
	ErrInvalid   = errors.New("invalid scanner registration")
	ErrNoScanner = errors.New("no default scanner is registered")
	ErrNotImage  = errors.New("only images can be scanned")
)

// Store is meta.Scans as the service uses it.
type Store interface {
	GetScanner(ctx context.Context, uuid string) (meta.Scanner, error)
	GetScannerByID(ctx context.Context, id int64) (meta.Scanner, error)
	StartScanReport(ctx context.Context, r meta.ScanReport) (meta.ScanReport, error)
	UpdateScanReport(ctx context.Context, r meta.ScanReport) error
	GetScanReport(ctx context.Context, uuid string) (meta.ScanReport, error)
	ArtifactScanReports(ctx context.Context, repo string, d digest.Digest) ([]meta.ScanReport, error)
}

// Policies reads project policies (*meta.Policies).
type Policies interface {
	GetProjectPolicy(ctx context.Context, pid int64) (meta.ProjectPolicy, error)
}

// Credentials make pull credentials for one scan of repo in project pid:
// the Authorization value to hand the scanner and a cleanup to call when
// the scan is over.
type Credentials func(ctx context.Context, pid int64, repo string, ttl time.Duration) (auth string, cleanup func(), err error)

// Enqueuer queues a job (*jobs.Queue).
type Enqueuer interface {
	Enqueue(ctx context.Context, kind string, args any) error
}

// EventWriter appends an outbox event (*meta.Events).
type EventWriter interface {
	Append(ctx context.Context, e meta.Event) (int64, error)
}

// Service schedules and runs scans.
type Service struct {
	store       Store
	policies    Policies
	events      EventWriter
	creds       Credentials
	registryURL string // how scanners reach the registry
	queue       Enqueuer
	attach      Attacher // nil: no SBOMs (SetAttacher)
	log         *slog.Logger
	poll        time.Duration
}

// New returns the service; registryURL is the registry's URL as scanners
// reach it.
func New(store Store, policies Policies, events EventWriter, creds Credentials, registryURL string, log *slog.Logger) *Service {
	return &Service{store: store, policies: policies, events: events, creds: creds,
		registryURL: strings.TrimRight(registryURL, "/"), log: log, poll: time.Second}
}

// SetQueue gives the service the job queue (created after it).
func (s *Service) SetQueue(q Enqueuer) { s.queue = q }

// SetRegistryURL sets the URL scanners reach the registry at (known once
// the server listens).
func (s *Service) SetRegistryURL(u string) { s.registryURL = strings.TrimRight(u, "/") }

// Args are the scan job's arguments.
type Args struct {
	ReportUUID string `json:"report_uuid"`
}

// Request queues a scan of repo@d (project pid) by the default scanner and
// returns its report (status Pending).
func (s *Service) Request(ctx context.Context, pid int64, repo string, d digest.Digest) (meta.ScanReport, error) {
	sc, err := s.store.GetScanner(ctx, "")
	if errors.Is(err, meta.ErrScannerNotFound) {
		return meta.ScanReport{}, ErrNoScanner
	}
	if err != nil {
		return meta.ScanReport{}, err
	}
	r, err := s.store.StartScanReport(ctx, meta.ScanReport{UUID: newUUID(), ProjectID: pid, Repository: repo, Digest: d,
		ScannerID: sc.ID, MimeType: MimeVulnReport})
	if err != nil {
		return meta.ScanReport{}, err
	}
	if s.queue == nil {
		return meta.ScanReport{}, errors.New("scan: no job queue")
	}
	return r, s.queue.Enqueue(ctx, JobScan, Args{ReportUUID: r.UUID})
}

// Subscriber is the outbox handler "scan": a push into a project with
// auto_scan queues a scan (when a default scanner exists).
func (s *Service) Subscriber(ctx context.Context, e meta.Event) error {
	if e.Type != "PUSH_ARTIFACT" || e.ProjectID == 0 || !isImage(e.MediaType) || len(e.Detail) > 0 {
		return nil // not an image, or a referrer (signature, SBOM...)
	}
	p, err := s.policies.GetProjectPolicy(ctx, e.ProjectID)
	if err != nil || !p.AutoScan {
		return err
	}
	if _, err := s.Request(ctx, e.ProjectID, e.Repository, e.Digest); err != nil && !errors.Is(err, ErrNoScanner) {
		return err
	}
	return nil
}

func isImage(mt string) bool {
	return mt == "application/vnd.oci.image.manifest.v1+json" || mt == "application/vnd.docker.distribution.manifest.v2+json"
}

// Run is the scan job: it hands the artifact to the scanner, waits for
// the report and stores it, and writes SCANNING_COMPLETED or
// SCANNING_FAILED to the outbox.
func (s *Service) Run(ctx context.Context, a Args) error {
	r, err := s.store.GetScanReport(ctx, a.ReportUUID)
	if errors.Is(err, meta.ErrReportNotFound) {
		return nil // replaced by a newer scan
	}
	if err != nil {
		return err
	}
	var logb strings.Builder
	logf := func(format string, args ...any) {
		fmt.Fprintf(&logb, time.Now().UTC().Format(time.RFC3339)+" "+format+"\n", args...)
	}
	fail := func(err error) error {
		logf("scan failed: %v", err)
		r.Status, r.Log = meta.ScanError, logb.String()
		uerr := s.store.UpdateScanReport(ctx, r)
		_, eerr := s.events.Append(ctx, meta.Event{Type: "SCANNING_FAILED", ProjectID: r.ProjectID, Repository: r.Repository,
			Digest: r.Digest, Operator: "berth-scanner"})
		return errors.Join(uerr, eerr)
	}
	sc, err := s.store.GetScannerByID(ctx, r.ScannerID)
	if err != nil {
		return fail(err)
	}
	r.Status = meta.ScanRunning
	logf("scanning %s@%s with %s (%s)", r.Repository, r.Digest, sc.Name, sc.URL)
	if err := s.store.UpdateScanReport(ctx, r); err != nil {
		return err
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	auth, cleanup, err := s.creds(ctx, r.ProjectID, r.Repository, Timeout)
	if err != nil {
		return fail(fmt.Errorf("scanner credentials: %w", err))
	}
	var once sync.Once
	revoke := func() { once.Do(cleanup) }
	defer revoke()
	report, scanID, err := s.scan(ctx, sc, r, auth)
	if err != nil {
		return fail(err)
	}
	if s.attach != nil {
		// The SBOM is a bonus: a scanner without the capability, or a
		// failure here, leaves the vulnerability report standing.
		if d, err := s.sbom(ctx, sc, r, scanID); err != nil {
			logf("no SBOM: %v", err)
		} else {
			logf("SBOM (CycloneDX) attached as referrer %s", d)
		}
	}
	revoke() // the scanner has pulled what it needed: its credentials go now
	sum, err := Summarize(report)
	if err != nil {
		return fail(err)
	}
	r.Status, r.Report, r.Severity, r.Total, r.Fixable = meta.ScanSuccess, string(report), sum.Severity, sum.Total, sum.Fixable
	logf("scan finished in %s: %d vulnerabilities, severity %s", time.Since(start).Round(time.Millisecond), sum.Total, sum.Severity)
	r.Log = logb.String()
	if err := s.store.UpdateScanReport(ctx, r); err != nil {
		return err
	}
	detail, _ := json.Marshal(map[string]any{"scan_status": meta.ScanSuccess, "severity": sum.Severity, "total_count": sum.Total,
		"fixable_count": sum.Fixable, "report_id": r.UUID, "scanner": sc.Name, "duration": int(time.Since(start).Seconds())})
	_, err = s.events.Append(ctx, meta.Event{Type: "SCANNING_COMPLETED", ProjectID: r.ProjectID, Repository: r.Repository,
		Digest: r.Digest, Operator: "berth-scanner", Detail: detail})
	return err
}

// scan talks the adapter protocol with scanner sc.
func (s *Service) scan(ctx context.Context, sc meta.Scanner, r meta.ScanReport, auth string) ([]byte, string, error) {
	caps := []map[string]any{{"type": "vulnerability", "produces_mime_types": []string{MimeVulnReport}}}
	if s.attach != nil {
		caps = append(caps, map[string]any{"type": "sbom", "produces_mime_types": []string{MimeSBOMReport},
			"parameters": map[string]any{"sbom_media_types": []string{MediaCycloneDX}}})
	}
	body, _ := json.Marshal(map[string]any{
		"registry": map[string]string{"url": s.registryURL, "authorization": auth},
		"artifact": map[string]string{"repository": r.Repository, "digest": r.Digest.String(),
			"mime_type": "application/vnd.oci.image.manifest.v1+json"},
		"enabled_capabilities": caps,
	})
	c := client(sc)
	req, err := newRequest(ctx, sc, http.MethodPost, "/api/v1/scan", bytes.NewReader(body))
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Content-Type", MimeScanReq)
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("scanner: %w", err)
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return nil, "", fmt.Errorf("scanner refused the scan: %s: %.300s", resp.Status, b)
	}
	var id struct{ ID string }
	if err := json.Unmarshal(b, &id); err != nil || id.ID == "" {
		return nil, "", fmt.Errorf("scanner answered no scan id: %.300s", b)
	}
	for {
		req, err := newRequest(ctx, sc, http.MethodGet, "/api/v1/scan/"+url.PathEscape(id.ID)+"/report", nil)
		if err != nil {
			return nil, "", err
		}
		req.Header.Set("Accept", MimeVulnReport)
		resp, err := c.Do(req)
		if err != nil {
			return nil, "", fmt.Errorf("scanner: %w", err)
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		resp.Body.Close()
		if err != nil {
			return nil, "", fmt.Errorf("scanner report: %w", err)
		}
		switch resp.StatusCode {
		case http.StatusOK:
			return b, id.ID, nil
		case http.StatusFound:
			t := time.NewTimer(s.poll)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, "", ctx.Err()
			case <-t.C:
			}
		default:
			return nil, "", fmt.Errorf("scanner report: %s: %.500s", resp.Status, b)
		}
	}
}

func client(sc meta.Scanner) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: sc.SkipCertVerify} //nolint:gosec // the registration's skip_cert_verify, Harbor's option
	return &http.Client{Transport: t, Timeout: time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func newRequest(ctx context.Context, sc meta.Scanner, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(sc.URL, "/")+path, body)
	if err != nil {
		return nil, fmt.Errorf("scanner request: %w", err)
	}
	switch sc.Auth {
	case "Basic", "Bearer":
		req.Header.Set("Authorization", sc.Auth+" "+sc.AccessCredential)
	case "X-ScannerAdapter-API-Key":
		req.Header.Set("X-ScannerAdapter-API-Key", sc.AccessCredential)
	}
	return req, nil
}

// Ping asks scanner sc for its metadata (Harbor's ping) and returns it.
func Ping(ctx context.Context, sc meta.Scanner) (json.RawMessage, error) {
	req, err := newRequest(ctx, sc, http.MethodGet, "/api/v1/metadata", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/vnd.scanner.adapter.metadata+json; version=1.0")
	resp, err := client(sc).Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: scanner unreachable: %w", ErrInvalid, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK || !json.Valid(b) {
		return nil, fmt.Errorf("%w: scanner metadata: %s", ErrInvalid, resp.Status)
	}
	return b, nil
}

// Summary is a report's overview (Harbor's scan_overview figures).
type Summary struct {
	Severity string
	Total    int
	Fixable  int
	IDs      []string // vulnerability ids at each severity are in Vulns
	Vulns    []Vuln
}

// Vuln is one finding of a report.
type Vuln struct {
	ID, Package, Version, FixVersion, Severity string
}

// Severities, lowest first (Harbor's spelling).
var Severities = []string{"None", "Unknown", "Low", "Medium", "High", "Critical"}

// Rank orders a severity case-insensitively ("none" 0 ... "critical" 5).
func Rank(s string) int {
	for i, v := range Severities {
		if strings.EqualFold(v, s) {
			return i
		}
	}
	return 1
}

// Summarize reads a vulnerability report 1.1.
func Summarize(report []byte) (Summary, error) {
	var r struct {
		Severity        string `json:"severity"`
		Vulnerabilities []struct {
			ID         string `json:"id"`
			Package    string `json:"package"`
			Version    string `json:"version"`
			FixVersion string `json:"fix_version"`
			Severity   string `json:"severity"`
		} `json:"vulnerabilities"`
	}
	if err := json.Unmarshal(report, &r); err != nil {
		return Summary{}, fmt.Errorf("scan report: %w", err)
	}
	s := Summary{Severity: "None"}
	for _, v := range r.Vulnerabilities {
		s.Total++
		if v.FixVersion != "" {
			s.Fixable++
		}
		if Rank(v.Severity) > Rank(s.Severity) {
			s.Severity = v.Severity
		}
		s.Vulns = append(s.Vulns, Vuln{ID: v.ID, Package: v.Package, Version: v.Version, FixVersion: v.FixVersion, Severity: v.Severity})
	}
	return s, nil
}

// PullCheck applies project pid's prevent_vul policy to the reports of
// repo@d: refused (access.ErrDenied) when a vulnerability at or above the
// policy's severity is not on the allowlists.
func (s *Service) PullCheck(ctx context.Context, pid int64, repo string, d digest.Digest, pol, sys meta.ProjectPolicy) error {
	if !pol.PreventVul {
		return nil
	}
	rs, err := s.store.ArtifactScanReports(ctx, repo, d)
	if err != nil {
		return err
	}
	allowed := map[string]bool{}
	now := time.Now().Unix()
	add := func(p meta.ProjectPolicy) {
		if p.AllowlistExpiresAt != 0 && p.AllowlistExpiresAt < now {
			return
		}
		for _, id := range p.CVEAllowlist {
			allowed[id] = true
		}
	}
	if pol.ReuseSysCVEAllowlist {
		add(sys)
	} else {
		add(pol)
	}
	threshold := Rank(pol.Severity)
	for _, r := range rs {
		if r.Status != meta.ScanSuccess || r.MimeType != MimeVulnReport {
			continue
		}
		sum, err := Summarize([]byte(r.Report))
		if err != nil {
			return err
		}
		n := 0
		for _, v := range sum.Vulns {
			if Rank(v.Severity) >= threshold && !allowed[v.ID] {
				n++
			}
		}
		if n > 0 {
			return fmt.Errorf("%w: current image with %d vulnerabilities cannot be pulled due to configured policy in 'Prevent images with vulnerability severity of \"%s\" or higher from running.' To continue with pull, please contact your project administrator for exemption",
				access.ErrDenied, n, capitalize(pol.Severity))
		}
	}
	return nil
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + strings.ToLower(s[1:])
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// NewUUID returns a random UUID (scanner registrations).
func NewUUID() string { return newUUID() }
