package webui_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/scan"
	"github.com/berth-registry/berth/internal/signature"
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

// TestArtifactSignature: in a project with a signature key, a cosign
// signature made with it shows as verified with that key's name; an
// unsigned artifact shows why it would be refused.
func TestArtifactSignature(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	p := e.addProject("signed", true)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	_, fp, alg, err := signature.ParsePublicKey(pemKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Policies.AddSignatureKey(ctx, meta.SignatureKey{ProjectID: p.ID, Name: "release-key", PublicKey: pemKey,
		Fingerprint: fp, Algorithm: alg}); err != nil {
		t.Fatal(err)
	}
	d := e.pushImage("signed/app", "s1", nil, "v1")
	unsigned := e.pushImage("signed/app", "s2", nil, "v2")

	payload := []byte(`{"critical":{"identity":{"docker-reference":"x/signed/app"},"image":{"docker-manifest-digest":"` + d.String() +
		`"},"type":"cosign container image signature"},"optional":null}`)
	cfg := []byte(`{}`)
	for _, b := range [][]byte{payload, cfg} {
		if _, err := e.blobs.PutBlob(ctx, "signed/app", digest.FromBytes(b), bytes.NewReader(b), int64(len(b))); err != nil {
			t.Fatal(err)
		}
	}
	m, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest.FromBytes(cfg), "size": len(cfg)},
		"layers": []map[string]any{{"mediaType": signature.SimpleSigningMediaType, "digest": digest.FromBytes(payload), "size": len(payload),
			"annotations": map[string]string{signature.SignatureAnnotation: base64.StdEncoding.EncodeToString(ed25519.Sign(priv, payload))}}},
	})
	if _, err := e.reg.PutManifest(ctx, "signed/app", "sha256-"+d.Encoded()+".sig", "application/vnd.oci.image.manifest.v1+json", m); err != nil {
		t.Fatal(err)
	}
	c := e.login("admin", adminPassword)
	res := c.get("/repositories/signed/app/-/artifacts/" + d.String())
	if res.status != http.StatusOK || !strings.Contains(res.body, "verified with the project") || !strings.Contains(res.body, "release-key") {
		t.Errorf("signed artifact page (%d) does not say which key verified it:\n%s", res.status, res.body)
	}
	res = c.get("/repositories/signed/app/-/artifacts/" + unsigned.String())
	if res.status != http.StatusOK || !strings.Contains(res.body, "is not signed") {
		t.Errorf("unsigned artifact page (%d) does not say it is unsigned:\n%s", res.status, res.body)
	}
}

// TestProjectSupplySettings: the settings tab shows the project's pull
// policies, signature keys and webhook policies, never a webhook's auth
// header.
func TestProjectSupplySettings(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	p := e.addProject("supply", false)
	pol := meta.DefaultPolicy(p.ID)
	pol.PreventVul, pol.Severity, pol.ReuseSysCVEAllowlist, pol.CVEAllowlist = true, "high", false, []string{"CVE-2099-4242"}
	if err := e.store.Policies.SetProjectPolicy(ctx, pol); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Webhooks.CreateWebhookPolicy(ctx, meta.WebhookPolicy{ProjectID: p.ID, Name: "ci-hook", Enabled: true,
		EventTypes: []string{"PUSH_ARTIFACT"}, Targets: []meta.WebhookTarget{{Type: "http", Address: "https://ci.example/hook",
			AuthHeader: "Bearer portal-s3cret", PayloadFormat: "Default"}}}); err != nil {
		t.Fatal(err)
	}
	res := e.login("admin", adminPassword).get("/projects/supply/settings")
	for _, want := range []string{"at severity high or higher", "CVE-2099-4242", "ci-hook", "https://ci.example/hook", "PUSH_ARTIFACT", "never shown"} {
		if !strings.Contains(res.body, want) {
			t.Errorf("settings tab (%d) lacks %q", res.status, want)
		}
	}
	if strings.Contains(res.body, "s3cret") {
		t.Error("the settings tab shows a webhook's auth header")
	}

	// A project administrator changes the pull policies with the form; a
	// maintainer may see the tab but not change them.
	admin := e.login("admin", adminPassword)
	if r := admin.post("/projects/supply/settings/supply", url.Values{"cosign": {"on"}, "severity": {"critical"}, "auto_scan": {"on"}}, true); r.status != http.StatusSeeOther {
		t.Fatalf("saving the supply-chain form: %d %s", r.status, r.body)
	}
	got, err := e.store.Policies.GetProjectPolicy(ctx, p.ID)
	if err != nil || !got.ContentTrustCosign || got.PreventVul || !got.AutoScan || got.Severity != "critical" || len(got.CVEAllowlist) != 1 {
		t.Fatalf("policy after the form: %+v, %v", got, err)
	}
	if r := admin.post("/projects/supply/settings/supply", url.Values{"severity": {"extreme"}}, true); r.status != http.StatusBadRequest {
		t.Errorf("an unknown severity: %d", r.status)
	}
	m := e.addUser("maint")
	e.addMember(p, m, access.RoleMaintainer)
	if r := e.login("maint", userPassword).post("/projects/supply/settings/supply", url.Values{"severity": {"low"}}, true); r.status != http.StatusForbidden {
		t.Errorf("a maintainer changed the pull policies: %d", r.status)
	}
}
