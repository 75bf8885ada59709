// Package adapter is Berth's built-in scanner adapter: an HTTP server
// speaking Harbor's Pluggable Scanner API (adapter spec v1.0 to v1.2:
// GET /api/v1/metadata, POST /api/v1/scan, GET /api/v1/scan/{id}/report)
// that scans with the Trivy binary. The registry registers it like any
// third-party adapter (/api/v2.0/scanners) and talks to it over HTTP only,
// so Harbor's own Trivy adapter or Clair's plug in the same way.
//
// Trivy runs offline (--skip-db-update --offline-scan) on the database in
// Options.CacheDir (db/trivy.db and db/metadata.json, as Trivy lays them
// out); it pulls the image from the registry with the credentials the scan
// request carries (passed in Trivy's environment, never on its command
// line, never logged). Reports: Harbor's vulnerability report 1.1, and
// SBOMs (SPDX or CycloneDX JSON) for the sbom capability of spec 1.2.
//
// `berth scanner` (cmd/berth) runs it.
package adapter

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// MIME types of the adapter spec.
const (
	MimeVulnReport  = "application/vnd.security.vulnerability.report; version=1.1"
	MimeSBOMReport  = "application/vnd.security.sbom.report+json; version=1.0"
	MimeScanRequest = "application/vnd.scanner.adapter.scan.request+json; version=1.0"
	MimeError       = "application/vnd.scanner.adapter.error+json; version=1.0"
	MimeMetadata    = "application/vnd.scanner.adapter.metadata+json; version=1.0"
	MediaSPDX       = "application/spdx+json"
	MediaCycloneDX  = "application/vnd.cyclonedx+json"
)

var consumed = []string{
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.v2+json",
}

// Options configure the adapter.
type Options struct {
	Trivy    string        // path of the trivy binary
	CacheDir string        // Trivy's cache (its db/ holds the vulnerability DB)
	Timeout  time.Duration // one scan; 0: 10 minutes
	// Parallel bounds concurrent Trivy runs; 0: 2.
	Parallel int
	Log      *slog.Logger
}

// Server serves the adapter API.
type Server struct {
	opts  Options
	slots chan struct{}

	mu    sync.Mutex
	scans map[string]*scan
}

type scan struct {
	done     chan struct{}
	vuln     []byte
	sbom     map[string][]byte
	err      error
	finished time.Time
}

// keep is how long finished scans' reports are kept.
const keep = time.Hour

// maxScans bounds the scans kept at once.
const maxScans = 1000

// New returns an adapter server.
func New(o Options) *Server {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.Parallel <= 0 {
		o.Parallel = 2
	}
	return &Server{opts: o, slots: make(chan struct{}, o.Parallel), scans: map[string]*scan{}}
}

// Handler routes the adapter API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/metadata", s.metadata)
	mux.HandleFunc("POST /api/v1/scan", s.startScan)
	mux.HandleFunc("GET /api/v1/scan/{id}/report", s.report)
	return mux
}

func writeJSON(w http.ResponseWriter, status int, ctype string, v any) {
	w.Header().Set("Content-Type", ctype)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, MimeError, map[string]any{"error": map[string]string{"message": msg}})
}

// dbUpdatedAt reads the DB's metadata.json UpdatedAt ("" if unreadable).
func (s *Server) dbUpdatedAt() string {
	b, err := os.ReadFile(s.opts.CacheDir + "/db/metadata.json")
	if err != nil {
		return ""
	}
	var m struct{ UpdatedAt time.Time }
	if json.Unmarshal(b, &m) != nil {
		return ""
	}
	return m.UpdatedAt.UTC().Format(time.RFC3339)
}

func (s *Server) metadata(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, MimeMetadata, map[string]any{
		"scanner": map[string]string{"name": "Trivy", "vendor": "Aqua Security", "version": trivyVersion},
		"capabilities": []map[string]any{
			{"type": "vulnerability", "consumes_mime_types": consumed, "produces_mime_types": []string{MimeVulnReport}},
			{"type": "sbom", "consumes_mime_types": consumed, "produces_mime_types": []string{MimeSBOMReport},
				"additional_attributes": map[string]any{"sbom_media_types": []string{MediaSPDX, MediaCycloneDX}}},
		},
		"properties": map[string]string{
			"harbor.scanner-adapter/scanner-type":                      "os-package-vulnerability",
			"harbor.scanner-adapter/vulnerability-database-updated-at": s.dbUpdatedAt(),
			"org.berth.scanner/offline":                                "true",
		},
	})
}

// trivyVersion is the Trivy release Berth builds (scripts/lib/tools.sh).
const trivyVersion = "v0.74.0"

// ScanRequest is the adapter spec's ScanRequest.
type ScanRequest struct {
	Registry struct {
		URL           string `json:"url"`
		Authorization string `json:"authorization"`
	} `json:"registry"`
	Artifact struct {
		Repository string `json:"repository"`
		Digest     string `json:"digest"`
		Tag        string `json:"tag,omitempty"`
		MimeType   string `json:"mime_type,omitempty"`
	} `json:"artifact"`
	EnabledCapabilities []struct {
		Type              string   `json:"type"`
		ProducesMimeTypes []string `json:"produces_mime_types"`
		Parameters        struct {
			SBOMMediaTypes []string `json:"sbom_media_types"`
		} `json:"parameters"`
	} `json:"enabled_capabilities,omitempty"`
}

func (s *Server) startScan(w http.ResponseWriter, r *http.Request) {
	var req ScanRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
		writeErr(w, http.StatusBadRequest, "scan request is not valid JSON")
		return
	}
	u, err := url.Parse(req.Registry.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		writeErr(w, http.StatusUnprocessableEntity, "registry.url must be an http(s) URL")
		return
	}
	if req.Artifact.Repository == "" || !strings.HasPrefix(req.Artifact.Digest, "sha256:") || len(req.Artifact.Digest) != 71 ||
		strings.ContainsAny(req.Artifact.Repository, " @:\n") {
		writeErr(w, http.StatusUnprocessableEntity, "artifact.repository and artifact.digest (sha256) are required")
		return
	}
	want := map[string]bool{}
	var sboms []string
	for _, c := range req.EnabledCapabilities {
		want[c.Type] = true
		if c.Type == "sbom" {
			sboms = c.Parameters.SBOMMediaTypes
		}
	}
	if len(want) == 0 {
		want["vulnerability"] = true
	}
	id := newID()
	sc := &scan{done: make(chan struct{}), sbom: map[string][]byte{}}
	s.mu.Lock()
	s.expire()
	if len(s.scans) >= maxScans {
		s.mu.Unlock()
		writeErr(w, http.StatusServiceUnavailable, "too many scans in progress")
		return
	}
	s.scans[id] = sc
	s.mu.Unlock()
	go s.run(id, sc, req, u, want, sboms)
	writeJSON(w, http.StatusAccepted, "application/vnd.scanner.adapter.scan.response+json; version=1.0", map[string]string{"id": id})
}

// expire drops finished scans older than keep; s.mu held.
func (s *Server) expire() {
	for id, sc := range s.scans {
		if !sc.finished.IsZero() && time.Since(sc.finished) > keep {
			delete(s.scans, id)
		}
	}
}

func (s *Server) run(id string, sc *scan, req ScanRequest, u *url.URL, want map[string]bool, sboms []string) {
	defer func() {
		s.mu.Lock()
		sc.finished = time.Now()
		s.mu.Unlock()
		close(sc.done)
	}()
	s.slots <- struct{}{}
	defer func() { <-s.slots }()
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.Timeout)
	defer cancel()
	ref := u.Host + "/" + req.Artifact.Repository + "@" + req.Artifact.Digest
	env, err := credentials(req.Registry.Authorization)
	if err != nil {
		sc.err = err
		return
	}
	if u.Scheme == "http" {
		env = append(env, "TRIVY_INSECURE=true", "TRIVY_NON_SSL=true")
	}
	start := time.Now()
	if want["vulnerability"] {
		out, err := s.trivy(ctx, env, "json", ref)
		if err != nil {
			sc.err = err
			return
		}
		sc.vuln, sc.err = vulnReport(out, req)
		if sc.err != nil {
			return
		}
	}
	if want["sbom"] {
		if len(sboms) == 0 {
			sboms = []string{MediaSPDX}
		}
		for _, mt := range sboms[:min(len(sboms), 2)] {
			format := "spdx-json"
			if mt == MediaCycloneDX {
				format = "cyclonedx"
			}
			out, err := s.trivy(ctx, env, format, ref)
			if err != nil {
				sc.err = err
				return
			}
			sc.sbom[mt] = out
		}
	}
	if s.opts.Log != nil {
		s.opts.Log.Info("scan finished", "scan_id", id, "repository", req.Artifact.Repository,
			"digest", req.Artifact.Digest, "duration_ms", time.Since(start).Milliseconds())
	}
}

// credentials turns the request's Authorization value (Basic or Bearer)
// into Trivy's environment.
func credentials(auth string) ([]string, error) {
	switch {
	case auth == "":
		return nil, nil
	case strings.HasPrefix(auth, "Basic "):
		raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(auth, "Basic "))
		if err != nil {
			return nil, errors.New("registry.authorization: bad Basic credentials")
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		if !ok {
			return nil, errors.New("registry.authorization: bad Basic credentials")
		}
		return []string{"TRIVY_USERNAME=" + user, "TRIVY_PASSWORD=" + pass}, nil
	case strings.HasPrefix(auth, "Bearer "):
		return []string{"TRIVY_REGISTRY_TOKEN=" + strings.TrimPrefix(auth, "Bearer ")}, nil
	}
	return nil, errors.New("registry.authorization: want Basic or Bearer")
}

// trivy runs one offline Trivy scan of ref in format and returns its
// output.
func (s *Server) trivy(ctx context.Context, env []string, format, ref string) ([]byte, error) {
	args := []string{"image", "--quiet", "--format", format, "--skip-db-update", "--skip-java-db-update",
		"--offline-scan", "--skip-check-update", "--disable-telemetry", "--cache-dir", s.opts.CacheDir,
		"--image-src", "remote", "--timeout", s.opts.Timeout.String()}
	if format == "json" {
		args = append(args, "--scanners", "vuln")
	}
	args = append(args, ref)
	cmd := exec.CommandContext(ctx, s.opts.Trivy, args...)
	// A minimal environment: no proxy or credential of the host leaks in.
	cmd.Env = append([]string{"HOME=" + s.opts.CacheDir, "PATH=/usr/bin:/bin", "TMPDIR=" + os.TempDir()}, env...)
	if v := os.Getenv("SSL_CERT_FILE"); v != "" {
		cmd.Env = append(cmd.Env, "SSL_CERT_FILE="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &limited{w: &stderr, n: 16 << 10}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("trivy: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

type limited struct {
	w *bytes.Buffer
	n int
}

func (l *limited) Write(p []byte) (int, error) {
	if room := l.n - l.w.Len(); room > 0 {
		l.w.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (s *Server) report(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	sc, ok := s.scans[r.PathValue("id")]
	s.mu.Unlock()
	if !ok {
		writeErr(w, http.StatusNotFound, "no such scan")
		return
	}
	select {
	case <-sc.done:
	default:
		w.Header().Set("Refresh-After", "1")
		w.Header().Set("Location", r.URL.Path)
		w.WriteHeader(http.StatusFound)
		return
	}
	if sc.err != nil {
		writeErr(w, http.StatusInternalServerError, sc.err.Error())
		return
	}
	accept := r.Header.Get("Accept")
	mt, params, _ := mime.ParseMediaType(accept)
	if mt == "application/vnd.security.sbom.report+json" {
		want := r.URL.Query().Get("sbom_media_type")
		if want == "" {
			want = MediaSPDX
		}
		doc, ok := sc.sbom[want]
		if !ok {
			writeErr(w, http.StatusNotFound, "the scan made no SBOM of type "+want)
			return
		}
		writeJSON(w, http.StatusOK, MimeSBOMReport, map[string]any{
			"generated_at": sc.finished.UTC().Format(time.RFC3339), "media_type": want, "sbom": json.RawMessage(doc),
		})
		return
	}
	_ = params
	if sc.vuln == nil {
		writeErr(w, http.StatusNotFound, "the scan made no vulnerability report")
		return
	}
	w.Header().Set("Content-Type", MimeVulnReport)
	_, _ = w.Write(sc.vuln)
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
