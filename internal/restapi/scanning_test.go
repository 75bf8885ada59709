package restapi_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/app/apptest"
	"github.com/berth-registry/berth/internal/scanner/adapter"
	"github.com/berth-registry/berth/internal/scanner/scantest"
	"github.com/berth-registry/berth/internal/testenv"
)

func pushAlpine(t *testing.T, e *env, repo, tag string) digest.Digest {
	img := scantest.AlpineImage(t)
	e.srv.PushBlob(t, admin, repo, img.Config)
	e.srv.PushBlob(t, admin, repo, img.Layer)
	e.srv.Do(t, admin, http.MethodPut, "/v2/"+repo+"/manifests/"+tag, img.Manifest,
		"Content-Type", "application/vnd.oci.image.manifest.v1+json").Want(t, http.StatusCreated)
	return digest.FromBytes(img.Manifest)
}

// TestScanning: Berth's built-in adapter (the real Trivy, offline, on a
// database the test wrote) registered through /scanners scans a pushed
// image through the Pluggable Scanner API and finds the planted CVE; the
// report shows in with_scan_overview and additions/vulnerabilities, the
// log is readable; prevent_vul refuses the pull at severity high and the
// system CVE allowlist lets it through; with auto_scan a push is scanned
// without being asked.
func TestScanning(t *testing.T) {
	trivy := testenv.RequireBinary(t, "trivy")
	cache := scantest.TrivyCache(t)
	forEachEnv(t, func(t *testing.T, e *env) {
		a := adapter.New(adapter.Options{Trivy: trivy, CacheDir: cache, Log: slog.New(slog.DiscardHandler)})
		scanner := httptest.NewServer(a.Handler())
		defer scanner.Close()
		e.must(e.do(admin, http.MethodPost, "scanners/ping", map[string]any{"name": "x", "url": scanner.URL}), http.StatusOK)
		e.must(e.do(admin, http.MethodPost, "scanners", map[string]any{"name": "berth-trivy", "url": scanner.URL,
			"auth": "X-ScannerAdapter-API-Key", "access_credential": "adapter-s3cret"}), http.StatusCreated)
		list := e.must(e.do(admin, http.MethodGet, "scanners", nil), http.StatusOK)
		if strings.Contains(string(list.body), "adapter-s3cret") || !strings.Contains(string(list.body), `"is_default":true`) {
			t.Errorf("scanners: %s", list.body)
		}

		e.srv.CreateProject(t, "scanned", false)
		d := pushAlpine(t, e, "scanned/alpine", "3.20")
		start := time.Now()
		e.must(e.do(admin, http.MethodPost, "projects/scanned/repositories/alpine/artifacts/3.20/scan", nil), http.StatusAccepted)
		var arts []struct {
			Digest       string                    `json:"digest"`
			ScanOverview map[string]map[string]any `json:"scan_overview"`
		}
		status := ""
		apptest.Eventually(t, 5*time.Minute, func() bool {
			e.must(e.do(admin, http.MethodGet, "projects/scanned/repositories/alpine/artifacts?with_scan_overview=true", nil), http.StatusOK).decodeInto(t, &arts)
			for _, o := range arts[0].ScanOverview {
				status, _ = o["scan_status"].(string)
			}
			if status == "Running" || status == "Pending" {
				time.Sleep(250 * time.Millisecond)
				return false
			}
			return status != ""
		})
		t.Logf("scanned the test image through the adapter in %s", time.Since(start).Round(time.Millisecond))
		if status != "Success" {
			t.Fatalf("scan status %q: %+v", status, arts)
		}
		var overview map[string]any
		for _, o := range arts[0].ScanOverview {
			overview = o
		}
		if overview["severity"] != "High" {
			t.Errorf("scan overview %v, want severity High", overview)
		}
		var reports map[string]adapter.Report
		e.must(e.do(admin, http.MethodGet, "projects/scanned/repositories/alpine/artifacts/"+d.String()+"/additions/vulnerabilities", nil), http.StatusOK).decodeInto(t, &reports)
		found := false
		for _, r := range reports {
			for _, v := range r.Vulnerabilities {
				found = found || (v.ID == scantest.CVE && v.Package == scantest.PkgName)
			}
		}
		if !found {
			t.Fatalf("reports do not hold %s: %+v", scantest.CVE, reports)
		}
		// The scan attached a CycloneDX SBOM as a referrer of the image.
		var idx struct {
			Manifests []struct {
				ArtifactType string `json:"artifactType"`
			} `json:"manifests"`
		}
		e.must(e.do(admin, http.MethodGet, "/v2/scanned/alpine/referrers/"+d.String(), nil), http.StatusOK).decodeInto(t, &idx)
		if len(idx.Manifests) != 1 || idx.Manifests[0].ArtifactType != "application/vnd.cyclonedx+json" {
			t.Errorf("referrers of the scanned image: %+v, want one CycloneDX SBOM", idx)
		}
		if out := orasRun(t, "discover", "--plain-http", "-u", "admin", "-p", apptest.AdminPassword, e.srv.Addr+"/scanned/alpine@"+d.String()); !strings.Contains(out, "application/vnd.cyclonedx+json") {
			t.Errorf("oras discover does not show the SBOM:\n%s", out)
		}
		logBody := e.must(e.do(admin, http.MethodGet, "projects/scanned/repositories/alpine/artifacts/3.20/scan/"+overview["report_id"].(string)+"/log", nil), http.StatusOK)
		if !strings.Contains(string(logBody.body), "scan finished") {
			t.Errorf("scan log: %s", logBody.body)
		}

		// prevent_vul at high: refused; the CVE on the system allowlist:
		// let through.
		pull := func() result {
			return e.do(admin, http.MethodGet, "/v2/scanned/alpine/manifests/3.20", nil, "Accept", "application/vnd.oci.image.manifest.v1+json")
		}
		e.must(pull(), http.StatusOK)
		for k, v := range map[string]string{"prevent_vul": "true", "severity": "high"} {
			e.must(e.do(admin, http.MethodPut, "projects/scanned/metadatas/"+k, map[string]string{k: v}), http.StatusOK)
		}
		r := pull()
		if r.status != http.StatusForbidden || r.code != "DENIED" || !strings.Contains(r.msg, "vulnerabilit") {
			t.Fatalf("pull of a vulnerable image under prevent_vul: %d %s %q", r.status, r.code, r.msg)
		}
		e.must(e.do(admin, http.MethodPut, "system/CVEAllowlist", map[string]any{"items": []map[string]string{{"cve_id": scantest.CVE}}}), http.StatusOK)
		e.must(pull(), http.StatusOK)

		// auto_scan: the push is scanned without being asked.
		e.must(e.do(admin, http.MethodPut, "projects/scanned/metadatas/auto_scan", map[string]string{"auto_scan": "true"}), http.StatusOK)
		pushStart := time.Now()
		pushAlpine(t, e, "scanned/auto", "1")
		t.Logf("push with auto_scan took %s", time.Since(pushStart).Round(time.Millisecond))
		var one struct {
			ScanOverview map[string]map[string]any `json:"scan_overview"`
		}
		ok := apptest.Eventually(t, 5*time.Minute, func() bool {
			e.must(e.do(admin, http.MethodGet, "projects/scanned/repositories/auto/artifacts/1?with_scan_overview=true", nil), http.StatusOK).decodeInto(t, &one)
			for _, o := range one.ScanOverview {
				if o["scan_status"] == "Success" {
					return true
				}
			}
			time.Sleep(250 * time.Millisecond)
			return false
		})
		if !ok {
			raw, _ := json.Marshal(one)
			t.Fatalf("auto_scan: no successful scan of the pushed image: %s", raw)
		}
	})
}

func orasRun(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testenv.RequireBinary(t, "oras"), args...)
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HOME="+home, "DOCKER_CONFIG="+filepath.Join(home, "docker"))
	cmd.Dir = home
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("oras %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestClientSBOM: an SBOM a client attaches with oras is accepted as a
// referrer of the image and oras discover lists it.
func TestClientSBOM(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		e.srv.CreateProject(t, "sboms", false)
		img := e.srv.PushImage(t, admin, "sboms/app", "v1")
		dir := t.TempDir()
		doc := filepath.Join(dir, "sbom.spdx.json")
		if err := os.WriteFile(doc, []byte(`{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","name":"app","packages":[]}`), 0o600); err != nil {
			t.Fatal(err)
		}
		ref := e.srv.Addr + "/sboms/app@" + img.Manifest.String()
		auth := []string{"--plain-http", "-u", "admin", "-p", apptest.AdminPassword}
		orasRun(t, append(append([]string{"attach"}, auth...), "--artifact-type", "application/spdx+json", "--disable-path-validation", ref, doc+":application/spdx+json")...)
		out := orasRun(t, append(append([]string{"discover"}, auth...), "--format", "json", ref)...)
		if !strings.Contains(out, "application/spdx+json") {
			t.Fatalf("oras discover does not list the attached SBOM:\n%s", out)
		}
	})
}
