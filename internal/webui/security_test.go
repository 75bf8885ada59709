package webui_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/scan"
)

// TestArtifactScan: an artifact's page shows its latest vulnerability
// scan, most severe finding first; an artifact never scanned shows no
// scan section.
func TestArtifactScan(t *testing.T) {
	e := newEnv(t)
	p := e.addProject("sec", true)
	d := e.pushImage("sec/app", "s1", nil, "v1")
	plain := e.pushImage("sec/app", "s2", nil, "v2")
	ctx := t.Context()
	r, err := e.store.Scans.StartScanReport(ctx, meta.ScanReport{UUID: "r-1", ProjectID: p.ID, Repository: "sec/app", Digest: d,
		MimeType: scan.MimeVulnReport})
	if err != nil {
		t.Fatal(err)
	}
	r.Status = meta.ScanSuccess
	r.Report = `{"severity":"Critical","vulnerabilities":[` +
		`{"id":"CVE-2099-0001","package":"zlib","version":"1.0","fix_version":"1.1","severity":"Low"},` +
		`{"id":"CVE-2099-4242","package":"berthtest","version":"0.1","fix_version":"","severity":"Critical"}]}`
	if err := e.store.Scans.UpdateScanReport(ctx, r); err != nil {
		t.Fatal(err)
	}
	c := e.login("admin", adminPassword)
	res := c.get("/repositories/sec/app/-/artifacts/" + d.String())
	if res.status != http.StatusOK {
		t.Fatalf("artifact page: %d", res.status)
	}
	i, j := strings.Index(res.body, "CVE-2099-4242"), strings.Index(res.body, "CVE-2099-0001")
	if !strings.Contains(res.body, "Vulnerabilities") || !strings.Contains(res.body, "2 (1 fixable)") || i < 0 || j < 0 || i > j {
		t.Errorf("artifact page does not show the scan, most severe first:\n%s", res.body)
	}
	res = c.get("/repositories/sec/app/-/artifacts/" + plain.String())
	if res.status != http.StatusOK || strings.Contains(res.body, "Scan status") {
		t.Errorf("an artifact never scanned: %d, shows a scan", res.status)
	}
}
