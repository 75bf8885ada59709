package adapter_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/app/apptest"
	"github.com/berth-registry/berth/internal/scanner/adapter"
	"github.com/berth-registry/berth/internal/scanner/scantest"
	"github.com/berth-registry/berth/internal/testenv"
)

// PushAlpine pushes scantest's Alpine image to repo:tag of srv and returns
// its manifest digest.
func pushAlpine(t *testing.T, srv *apptest.Server, repo, tag string) digest.Digest {
	img := scantest.AlpineImage(t)
	srv.PushBlob(t, apptest.Admin(), repo, img.Config)
	srv.PushBlob(t, apptest.Admin(), repo, img.Layer)
	srv.Do(t, apptest.Admin(), http.MethodPut, "/v2/"+repo+"/manifests/"+tag, img.Manifest,
		"Content-Type", "application/vnd.oci.image.manifest.v1+json").Want(t, http.StatusCreated)
	return digest.FromBytes(img.Manifest)
}

// TestAdapterScansWithTrivy: the adapter, speaking the Pluggable Scanner
// API, has the real Trivy (offline, on a database the test wrote) pull an
// image from a real Berth and find the planted CVE; the report is Harbor's
// 1.1; an SBOM names the package.
func TestAdapterScansWithTrivy(t *testing.T) {
	trivy := testenv.RequireBinary(t, "trivy")
	srv := apptest.Start(t)
	srv.CreateProject(t, "scan", false)
	d := pushAlpine(t, srv, "scan/alpine", "3.20")

	a := adapter.New(adapter.Options{Trivy: trivy, CacheDir: scantest.TrivyCache(t), Log: slog.New(slog.DiscardHandler)})
	api := httptest.NewServer(a.Handler())
	defer api.Close()

	resp, err := http.Get(api.URL + "/api/v1/metadata")
	if err != nil {
		t.Fatal(err)
	}
	var md struct {
		Scanner      map[string]string `json:"scanner"`
		Capabilities []map[string]any  `json:"capabilities"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&md); err != nil || md.Scanner["name"] != "Trivy" || len(md.Capabilities) != 2 {
		t.Fatalf("metadata %+v (%v)", md, err)
	}
	resp.Body.Close()

	body, _ := json.Marshal(map[string]any{
		"registry": map[string]string{"url": srv.URL, "authorization": "Basic " +
			base64.StdEncoding.EncodeToString([]byte("admin:"+apptest.AdminPassword))},
		"artifact":             map[string]string{"repository": "scan/alpine", "digest": d.String(), "tag": "3.20", "mime_type": "application/vnd.oci.image.manifest.v1+json"},
		"enabled_capabilities": []map[string]any{{"type": "vulnerability"}, {"type": "sbom", "parameters": map[string]any{"sbom_media_types": []string{adapter.MediaCycloneDX}}}},
	})
	start := time.Now()
	resp, err = http.Post(api.URL+"/api/v1/scan", adapter.MimeScanRequest, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var sr struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&sr); err != nil || resp.StatusCode != http.StatusAccepted || sr.ID == "" {
		t.Fatalf("POST /scan: %d %+v %v", resp.StatusCode, sr, err)
	}
	resp.Body.Close()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(accept, query string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodGet, api.URL+"/api/v1/scan/"+sr.ID+"/report"+query, nil)
		req.Header.Set("Accept", accept)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	var status int
	var raw []byte
	apptest.Eventually(t, 5*time.Minute, func() bool {
		status, raw = get(adapter.MimeVulnReport, "")
		if status == http.StatusFound {
			time.Sleep(200 * time.Millisecond)
			return false
		}
		return true
	})
	t.Logf("scan of the test image took %s", time.Since(start).Round(time.Millisecond))
	if status != http.StatusOK {
		t.Fatalf("report: %d %s", status, raw)
	}
	var rep adapter.Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, v := range rep.Vulnerabilities {
		if v.ID == scantest.CVE && v.Package == scantest.PkgName && v.Version == scantest.PkgVersion &&
			v.FixVersion == scantest.FixedVersion && v.Severity == "High" {
			found = true
		}
	}
	if !found || rep.Severity != "High" {
		t.Fatalf("report does not hold the planted %s: %s", scantest.CVE, raw)
	}
	status, raw = get(adapter.MimeSBOMReport, "?sbom_media_type="+url.QueryEscape(adapter.MediaCycloneDX))
	if status != http.StatusOK || !strings.Contains(string(raw), scantest.PkgName) || !strings.Contains(string(raw), "CycloneDX") {
		t.Fatalf("SBOM: %d %.300s", status, raw)
	}
}
