package restapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/scan"
)

// scanStore is meta.Scans as the scanner endpoints use it.
type scanStore interface {
	CreateScanner(ctx context.Context, s meta.Scanner) (meta.Scanner, error)
	GetScanner(ctx context.Context, uuid string) (meta.Scanner, error)
	ListScanners(ctx context.Context) ([]meta.Scanner, error)
	UpdateScanner(ctx context.Context, s meta.Scanner) error
	DeleteScanner(ctx context.Context, uuid string) error
	SetDefaultScanner(ctx context.Context, uuid string) error
	GetScanReport(ctx context.Context, uuid string) (meta.ScanReport, error)
	ArtifactScanReports(ctx context.Context, repo string, d digest.Digest) ([]meta.ScanReport, error)
}

// ScanService queues scans (*scan.Service).
type ScanService interface {
	Request(ctx context.Context, pid int64, repo string, d digest.Digest) (meta.ScanReport, error)
}

// resScanner is Harbor's system resource "scanner" (system administrators
// and system robots given it).
const resScanner access.Resource = "scanner"

func (a *API) scannerRoutes(mux *http.ServeMux) {
	const sc = Prefix + "/scanners"
	a.handle(mux, "GET "+sc, a.listScanners)
	a.handle(mux, "POST "+sc, a.createScanner)
	a.handle(mux, "POST "+sc+"/ping", a.pingScanner)
	a.handle(mux, "GET "+sc+"/{registration_id}", a.getScanner)
	a.handle(mux, "PUT "+sc+"/{registration_id}", a.updateScanner)
	a.handle(mux, "PATCH "+sc+"/{registration_id}", a.setDefaultScanner)
	a.handle(mux, "DELETE "+sc+"/{registration_id}", a.deleteScanner)
	a.handle(mux, "GET "+sc+"/{registration_id}/metadata", a.scannerMetadata)
	const art = Prefix + "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}"
	a.handle(mux, "POST "+art+"/scan", a.scanArtifact)
	a.handle(mux, "GET "+art+"/scan/{report_id}/log", a.scanLog)
	a.handle(mux, "GET "+art+"/additions/vulnerabilities", a.vulnerabilities)
	a.handle(mux, "GET "+Prefix+"/system/CVEAllowlist", a.getSystemAllowlist)
	a.handle(mux, "PUT "+Prefix+"/system/CVEAllowlist", a.putSystemAllowlist)
}

func (a *API) scans() (scanStore, error) {
	if a.d.Scans == nil || a.d.ScanService == nil {
		return nil, newError(codeUnavailable, http.StatusServiceUnavailable, "scanning is not configured")
	}
	return a.d.Scans, nil
}

// scannerJSON is Harbor's ScannerRegistration; access_credential is
// accepted, never returned.
type scannerJSON struct {
	UUID             string    `json:"uuid"`
	Name             string    `json:"name"`
	Description      string    `json:"description"`
	URL              string    `json:"url"`
	Disabled         bool      `json:"disabled"`
	IsDefault        bool      `json:"is_default"`
	Auth             string    `json:"auth"`
	AccessCredential string    `json:"access_credential,omitempty"`
	SkipCertVerify   bool      `json:"skip_certVerify"`
	UseInternalAddr  bool      `json:"use_internal_addr"`
	CreateTime       time.Time `json:"create_time"`
	UpdateTime       time.Time `json:"update_time"`
	Health           string    `json:"health,omitempty"`
	Adapter          string    `json:"adapter,omitempty"`
	Vendor           string    `json:"vendor,omitempty"`
	Version          string    `json:"version,omitempty"`
}

func toScannerJSON(s meta.Scanner) scannerJSON {
	return scannerJSON{UUID: s.UUID, Name: s.Name, Description: s.Description, URL: s.URL, Disabled: s.Disabled,
		IsDefault: s.IsDefault, Auth: s.Auth, SkipCertVerify: s.SkipCertVerify, CreateTime: s.CreatedAt, UpdateTime: s.UpdatedAt}
}

func scannerFrom(in scannerJSON) (meta.Scanner, error) {
	s := meta.Scanner{Name: strings.TrimSpace(in.Name), Description: in.Description, URL: strings.TrimRight(in.URL, "/"),
		Auth: in.Auth, AccessCredential: in.AccessCredential, SkipCertVerify: in.SkipCertVerify, Disabled: in.Disabled}
	u, err := url.Parse(s.URL)
	switch {
	case s.Name == "" || len(s.Name) > 128:
		return s, errBadRequest("name must have 1 to 128 characters")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil:
		return s, errBadRequest("url must be an http(s) URL without credentials")
	case s.Auth != "" && s.Auth != "Basic" && s.Auth != "Bearer" && s.Auth != "X-ScannerAdapter-API-Key":
		return s, errBadRequest("auth must be empty, Basic, Bearer or X-ScannerAdapter-API-Key")
	case len(s.AccessCredential) > 4096 || strings.ContainsAny(s.AccessCredential, "\r\n"):
		return s, errBadRequest("access_credential must be one line of at most 4096 bytes")
	}
	return s, nil
}

func scannerErr(err error) error {
	switch {
	case errors.Is(err, meta.ErrScannerNotFound):
		return errNotFound("%s", err.Error())
	case errors.Is(err, meta.ErrScannerExists):
		return newError(codeConflict, http.StatusConflict, "%s", err.Error())
	case errors.Is(err, scan.ErrInvalid):
		return errBadRequest("%s", err.Error())
	case errors.Is(err, scan.ErrNoScanner):
		return errPrecondition("%s", err.Error())
	case errors.Is(err, meta.ErrReportNotFound):
		return errNotFound("%s", err.Error())
	}
	return err
}

func (a *API) listScanners(w http.ResponseWriter, r *http.Request) error {
	st, err := a.scans()
	if err != nil {
		return err
	}
	if err := requireSystem(r, resScanner, access.ActionRead); err != nil {
		return err
	}
	ss, err := st.ListScanners(r.Context())
	if err != nil {
		return err
	}
	out := make([]scannerJSON, 0, len(ss))
	for _, s := range ss {
		out = append(out, toScannerJSON(s))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (a *API) createScanner(w http.ResponseWriter, r *http.Request) error {
	st, err := a.scans()
	if err != nil {
		return err
	}
	if err := requireSystem(r, resScanner, access.ActionCreate); err != nil {
		return err
	}
	var in scannerJSON
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	s, err := scannerFrom(in)
	if err != nil {
		return err
	}
	s.UUID = scan.NewUUID()
	got, err := st.CreateScanner(r.Context(), s)
	if err != nil {
		return scannerErr(err)
	}
	w.Header().Set("Location", location("scanners", got.UUID))
	w.WriteHeader(http.StatusCreated)
	return nil
}

// pingScanner is POST /scanners/ping: the adapter's metadata must answer.
func (a *API) pingScanner(w http.ResponseWriter, r *http.Request) error {
	if err := requireSystem(r, resScanner, access.ActionCreate); err != nil {
		return err
	}
	var in scannerJSON
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.Name == "" {
		in.Name = "ping"
	}
	s, err := scannerFrom(in)
	if err != nil {
		return err
	}
	if _, err := scan.Ping(r.Context(), s); err != nil {
		return scannerErr(err)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (a *API) getScanner(w http.ResponseWriter, r *http.Request) error {
	st, err := a.scans()
	if err != nil {
		return err
	}
	if err := requireSystem(r, resScanner, access.ActionRead); err != nil {
		return err
	}
	s, err := st.GetScanner(r.Context(), r.PathValue("registration_id"))
	if err != nil || r.PathValue("registration_id") == "" {
		return scannerErr(err)
	}
	return writeJSON(w, http.StatusOK, toScannerJSON(s))
}

// updateScanner replaces a registration; an empty access_credential keeps
// the stored one.
func (a *API) updateScanner(w http.ResponseWriter, r *http.Request) error {
	st, err := a.scans()
	if err != nil {
		return err
	}
	if err := requireSystem(r, resScanner, access.ActionUpdate); err != nil {
		return err
	}
	old, err := st.GetScanner(r.Context(), r.PathValue("registration_id"))
	if err != nil {
		return scannerErr(err)
	}
	var in scannerJSON
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	s, err := scannerFrom(in)
	if err != nil {
		return err
	}
	s.UUID = old.UUID
	if s.AccessCredential == "" {
		s.AccessCredential = old.AccessCredential
	}
	if err := st.UpdateScanner(r.Context(), s); err != nil {
		return scannerErr(err)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// setDefaultScanner is PATCH /scanners/{id} {"is_default": true}.
func (a *API) setDefaultScanner(w http.ResponseWriter, r *http.Request) error {
	st, err := a.scans()
	if err != nil {
		return err
	}
	if err := requireSystem(r, resScanner, access.ActionUpdate); err != nil {
		return err
	}
	var in struct {
		IsDefault bool `json:"is_default"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if !in.IsDefault {
		return errBadRequest(`want {"is_default": true}: another registration becomes the default instead`)
	}
	if err := st.SetDefaultScanner(r.Context(), r.PathValue("registration_id")); err != nil {
		return scannerErr(err)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (a *API) deleteScanner(w http.ResponseWriter, r *http.Request) error {
	st, err := a.scans()
	if err != nil {
		return err
	}
	if err := requireSystem(r, resScanner, access.ActionDelete); err != nil {
		return err
	}
	s, err := st.GetScanner(r.Context(), r.PathValue("registration_id"))
	if err != nil {
		return scannerErr(err)
	}
	if err := st.DeleteScanner(r.Context(), s.UUID); err != nil {
		return scannerErr(err)
	}
	return writeJSON(w, http.StatusOK, toScannerJSON(s))
}

// scannerMetadata is GET /scanners/{id}/metadata: the adapter's own answer.
func (a *API) scannerMetadata(w http.ResponseWriter, r *http.Request) error {
	st, err := a.scans()
	if err != nil {
		return err
	}
	if err := requireSystem(r, resScanner, access.ActionRead); err != nil {
		return err
	}
	s, err := st.GetScanner(r.Context(), r.PathValue("registration_id"))
	if err != nil {
		return scannerErr(err)
	}
	md, err := scan.Ping(r.Context(), s)
	if err != nil {
		return scannerErr(err)
	}
	return writeJSON(w, http.StatusOK, md)
}

// scanArtifact is POST .../artifacts/{reference}/scan: 202, the scan runs
// as a job.
func (a *API) scanArtifact(w http.ResponseWriter, r *http.Request) error {
	if _, err := a.scans(); err != nil {
		return err
	}
	proj, repo, m, err := a.artifact(r, access.ResourceScan, access.ActionCreate)
	if err != nil {
		return err
	}
	if _, err := a.d.ScanService.Request(r.Context(), proj.ID, repo, m.Digest); err != nil {
		return scannerErr(err)
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// scanLog is GET .../scan/{report_id}/log (text).
func (a *API) scanLog(w http.ResponseWriter, r *http.Request) error {
	st, err := a.scans()
	if err != nil {
		return err
	}
	_, repo, m, err := a.artifact(r, access.ResourceScan, access.ActionRead)
	if err != nil {
		return err
	}
	rep, err := st.GetScanReport(r.Context(), r.PathValue("report_id"))
	if err != nil || rep.Repository != repo || rep.Digest != m.Digest {
		return errNotFound("scan report %q of this artifact does not exist", truncate(r.PathValue("report_id"), 64))
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, err = w.Write([]byte(rep.Log))
	return err
}

// vulnerabilities is GET .../additions/vulnerabilities: the reports by
// MIME type, as Harbor answers.
func (a *API) vulnerabilities(w http.ResponseWriter, r *http.Request) error {
	st, err := a.scans()
	if err != nil {
		return err
	}
	_, repo, m, err := a.artifact(r, access.ResourceArtifactAddition, access.ActionRead)
	if err != nil {
		return err
	}
	rs, err := st.ArtifactScanReports(r.Context(), repo, m.Digest)
	if err != nil {
		return err
	}
	out := map[string]json.RawMessage{}
	for _, rep := range rs {
		if rep.Status == meta.ScanSuccess && json.Valid([]byte(rep.Report)) {
			out[rep.MimeType] = json.RawMessage(rep.Report)
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

// ScanOverview returns Harbor's scan_overview of repo@d (nil: never
// scanned), for artifact listings with with_scan_overview=true.
func (a *API) scanOverview(ctx context.Context, repo string, d digest.Digest) (map[string]any, error) {
	if a.d.Scans == nil {
		return nil, nil
	}
	rs, err := a.d.Scans.ArtifactScanReports(ctx, repo, d)
	if err != nil || len(rs) == 0 {
		return nil, err
	}
	out := map[string]any{}
	for _, rep := range rs {
		o := map[string]any{"report_id": rep.UUID, "scan_status": rep.Status, "start_time": rep.StartTime,
			"complete_percent": 0, "scanner": nil}
		if !rep.EndTime.IsZero() {
			o["end_time"] = rep.EndTime
			o["duration"] = int64(rep.EndTime.Sub(rep.StartTime).Seconds())
			o["complete_percent"] = 100
		}
		if rep.Status == meta.ScanSuccess {
			o["severity"] = rep.Severity
			sum, err := scan.Summarize([]byte(rep.Report))
			if err == nil {
				counts := map[string]int{}
				for _, v := range sum.Vulns {
					counts[v.Severity]++
				}
				o["summary"] = map[string]any{"total": sum.Total, "fixable": sum.Fixable, "summary": counts}
			}
		}
		out[rep.MimeType] = o
	}
	return out, nil
}

type allowlistJSON struct {
	ID        int64             `json:"id"`
	ProjectID int64             `json:"project_id"`
	ExpiresAt *int64            `json:"expires_at"`
	Items     []cveItem         `json:"items"`
	Creation  time.Time         `json:"creation_time"`
	Update    time.Time         `json:"update_time"`
	Extra     map[string]string `json:"-"`
}

func (a *API) getSystemAllowlist(w http.ResponseWriter, r *http.Request) error {
	st, err := a.policies()
	if err != nil {
		return err
	}
	if !caller(r).Authenticated() {
		return access.ErrUnauthorized
	}
	p, err := st.GetProjectPolicy(r.Context(), meta.SystemPolicy)
	if err != nil {
		return err
	}
	out := allowlistOf(p) // policies.go
	return writeJSON(w, http.StatusOK, out)
}

func (a *API) putSystemAllowlist(w http.ResponseWriter, r *http.Request) error {
	st, err := a.policies()
	if err != nil {
		return err
	}
	if err := requireSystem(r, access.ResourceConfiguration, access.ActionUpdate); err != nil {
		return err
	}
	var in allowlistJSON
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	p, err := st.GetProjectPolicy(r.Context(), meta.SystemPolicy)
	if err != nil {
		return err
	}
	if err := in.apply(&p); err != nil { // policies.go
		return err
	}
	if err := st.SetProjectPolicy(r.Context(), p); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
