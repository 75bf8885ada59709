package restapi_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/app/apptest"
	"github.com/berth-registry/berth/internal/meta"
)

// stubAdapter speaks the adapter protocol and, instead of scanning, uses
// the credentials the registry hands it: it pulls the artifact it was
// asked to scan, tries another repository of the same project, and
// answers a canned report. It sits beside TestScanning (the real Trivy)
// to pin down the credentials' scope and lifetime.
type stubAdapter struct {
	t *testing.T

	mu          sync.Mutex
	auth        string
	own, others int // status codes of the two pulls
}

func (s *stubAdapter) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/metadata", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"scanner":{"name":"stub","vendor":"berth tests","version":"1"},"capabilities":[]}`))
	})
	mux.HandleFunc("POST /api/v1/scan", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Registry struct{ URL, Authorization string } `json:"registry"`
			Artifact struct{ Repository, Digest string } `json:"artifact"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			s.t.Errorf("scan request: %v", err)
		}
		pull := func(repo string) int {
			hr, _ := http.NewRequest(http.MethodGet, req.Registry.URL+"/v2/"+repo+"/manifests/"+req.Artifact.Digest, nil)
			hr.Header.Set("Authorization", req.Registry.Authorization)
			hr.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
			resp, err := http.DefaultClient.Do(hr)
			if err != nil {
				s.t.Errorf("pull: %v", err)
				return 0
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		s.mu.Lock()
		s.auth, s.own, s.others = req.Registry.Authorization, pull(req.Artifact.Repository), pull("creds/other")
		s.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"id":"stub-1"}`))
	})
	mux.HandleFunc("GET /api/v1/scan/{id}/report", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/vnd.security.vulnerability.report; version=1.1")
		_, _ = w.Write([]byte(`{"severity":"Critical","vulnerabilities":[{"id":"CVE-2099-1","package":"p","version":"1","fix_version":"2","severity":"Critical"}]}`))
	})
	return mux
}

// TestScanCredentials: the scanner gets a Bearer token that pulls the one
// repository being scanned and nothing else in the project, expiring
// within the scan timeout, for a robot deleted when the scan is over; a
// critical finding blocks pulls under prevent_vul and the system CVE
// allowlist lets them through.
func TestScanCredentials(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		stub := &stubAdapter{t: t}
		srv := httptest.NewServer(stub.handler())
		defer srv.Close()
		e.must(e.do(admin, http.MethodPost, "scanners", map[string]any{"name": "stub", "url": srv.URL}), http.StatusCreated)
		e.srv.CreateProject(t, "creds", false)
		img := e.srv.PushImage(t, admin, "creds/app", "v1")
		e.srv.PushImage(t, admin, "creds/other", "v1")
		// The stub also asks creds/other for app's digest: a token for app
		// must not even reach it.
		e.must(e.do(admin, http.MethodPost, "projects/creds/repositories/app/artifacts/v1/scan", nil), http.StatusAccepted)
		var status string
		apptest.Eventually(t, time.Minute, func() bool {
			var a struct {
				ScanOverview map[string]map[string]any `json:"scan_overview"`
			}
			e.must(e.do(admin, http.MethodGet, "projects/creds/repositories/app/artifacts/v1?with_scan_overview=true", nil), http.StatusOK).decodeInto(t, &a)
			for _, o := range a.ScanOverview {
				status, _ = o["scan_status"].(string)
			}
			return status == "Success" || status == "Error"
		})
		if status != "Success" {
			t.Fatalf("scan status %q", status)
		}
		stub.mu.Lock()
		auth, own, others := stub.auth, stub.own, stub.others
		stub.mu.Unlock()
		if !strings.HasPrefix(auth, "Bearer ") || own != http.StatusOK {
			t.Fatalf("the scanner's pull of the artifact: %d with %.20q", own, auth)
		}
		if others != http.StatusUnauthorized && others != http.StatusForbidden {
			t.Errorf("the scanner's token pulled another repository: %d", others)
		}
		// The token is self-contained (as every registry token): it lasts
		// the scan timeout at most; its robot is gone once the scan is over,
		// so no other token can be had for it.
		parts := strings.Split(strings.TrimPrefix(auth, "Bearer "), ".")
		if len(parts) != 3 {
			t.Fatalf("token %.20q is not a JWT", auth)
		}
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			t.Fatal(err)
		}
		var claims struct {
			Sub    string `json:"sub"`
			Exp    int64  `json:"exp"`
			Access []struct {
				Type, Name string
				Actions    []string
			} `json:"access"`
		}
		if err := json.Unmarshal(payload, &claims); err != nil {
			t.Fatal(err)
		}
		if time.Until(time.Unix(claims.Exp, 0)) > 11*time.Minute || len(claims.Access) != 1 || claims.Access[0].Name != "creds/app" ||
			strings.Join(claims.Access[0].Actions, ",") != "pull" {
			t.Errorf("scanner token claims %+v, want pull on creds/app only, expiring within the scan timeout", claims)
		}
		if _, err := e.store().Robots.GetRobotByName(t.Context(), claims.Sub); !errors.Is(err, meta.ErrRobotNotFound) {
			t.Errorf("the scan's robot %s after the scan: %v, want it deleted", claims.Sub, err)
		}
		_ = img
		var r result

		for k, v := range map[string]string{"prevent_vul": "true", "severity": "critical"} {
			e.must(e.do(admin, http.MethodPut, "projects/creds/metadatas/"+k, map[string]string{k: v}), http.StatusOK)
		}
		r = e.do(admin, http.MethodGet, "/v2/creds/app/manifests/v1", nil, "Accept", "application/vnd.oci.image.manifest.v1+json")
		if r.status != http.StatusForbidden || !strings.Contains(r.msg, `"Critical" or higher`) {
			t.Errorf("pull under prevent_vul: %d %q", r.status, r.msg)
		}
		// The finished scan's token stopped working with its robot, though
		// it has not expired.
		r = e.do(cred{}, http.MethodGet, "/v2/creds/app/manifests/"+img.Manifest.String(), nil,
			"Authorization", auth, "Accept", "application/vnd.oci.image.manifest.v1+json")
		if r.status != http.StatusUnauthorized {
			t.Errorf("the finished scan's token pulled: %d", r.status)
		}
		// A robot someone names like a scanner's is not exempt: the
		// exemption is the scan token's, not a name's.
		rb := decode[struct {
			Name   string `json:"name"`
			Secret string `json:"secret"`
		}](t, e.must(e.do(admin, http.MethodPost, "robots", projectRobotReq("scanner-lookalike", "creds", "pull")), http.StatusCreated))
		r = e.do(basic(rb.Name, rb.Secret), http.MethodGet, "/v2/creds/app/manifests/v1", nil, "Accept", "application/vnd.oci.image.manifest.v1+json")
		if r.status != http.StatusForbidden {
			t.Errorf("robot %s pulled under prevent_vul: %d", rb.Name, r.status)
		}
		// A scan's own robot is exempt: the image can be scanned again.
		e.must(e.do(admin, http.MethodPost, "projects/creds/repositories/app/artifacts/v1/scan", nil), http.StatusAccepted)
		apptest.Eventually(t, time.Minute, func() bool {
			stub.mu.Lock()
			defer stub.mu.Unlock()
			return stub.auth != auth
		})
		stub.mu.Lock()
		if stub.own != http.StatusOK {
			t.Errorf("the scanner's pull under prevent_vul: %d", stub.own)
		}
		stub.mu.Unlock()
		e.must(e.do(admin, http.MethodPut, "system/CVEAllowlist", map[string]any{"items": []map[string]string{{"cve_id": "CVE-2099-1"}}}), http.StatusOK)
		e.must(e.do(admin, http.MethodGet, "/v2/creds/app/manifests/v1", nil, "Accept", "application/vnd.oci.image.manifest.v1+json"), http.StatusOK)

		// The project's own allowlist (Harbor's PUT /projects/{p} with
		// cve_allowlist and reuse_sys_cve_allowlist=false) replaces the
		// system's.
		pullStatus := func(want int) {
			t.Helper()
			apptest.Eventually(t, 15*time.Second, func() bool {
				return e.do(admin, http.MethodGet, "/v2/creds/app/manifests/v1", nil, "Accept", "application/vnd.oci.image.manifest.v1+json").status == want
			})
			e.must(e.do(admin, http.MethodGet, "/v2/creds/app/manifests/v1", nil, "Accept", "application/vnd.oci.image.manifest.v1+json"), want)
		}
		e.must(e.do(admin, http.MethodPut, "projects/creds", map[string]any{"metadata": map[string]string{"reuse_sys_cve_allowlist": "false"},
			"cve_allowlist": map[string]any{"items": []map[string]string{{"cve_id": "CVE-2099-7"}}}}), http.StatusOK)
		pullStatus(http.StatusForbidden)
		e.must(e.do(admin, http.MethodPut, "projects/creds", map[string]any{
			"cve_allowlist": map[string]any{"items": []map[string]string{{"cve_id": "CVE-2099-7"}, {"cve_id": "CVE-2099-1"}}}}), http.StatusOK)
		pullStatus(http.StatusOK)
		var proj struct {
			Metadata     map[string]string `json:"metadata"`
			CVEAllowlist struct {
				ProjectID int64 `json:"project_id"`
				Items     []struct {
					CVEID string `json:"cve_id"`
				} `json:"items"`
			} `json:"cve_allowlist"`
		}
		e.must(e.do(admin, http.MethodGet, "projects/creds", nil), http.StatusOK).decodeInto(t, &proj)
		if proj.Metadata["prevent_vul"] != "true" || proj.Metadata["severity"] != "critical" || proj.Metadata["reuse_sys_cve_allowlist"] != "false" ||
			len(proj.CVEAllowlist.Items) != 2 || proj.CVEAllowlist.Items[1].CVEID != "CVE-2099-1" || proj.CVEAllowlist.ProjectID == 0 {
			t.Errorf("project JSON: metadata %v, allowlist %+v", proj.Metadata, proj.CVEAllowlist)
		}
		// Back to the system's allowlist, which lists the CVE too.
		e.must(e.do(admin, http.MethodPut, "projects/creds", map[string]any{"metadata": map[string]string{"reuse_sys_cve_allowlist": "true"},
			"cve_allowlist": map[string]any{"items": []map[string]string{}}}), http.StatusOK)
		pullStatus(http.StatusOK)
		// A developer may not change the policy.
		dev, id := e.addUser("credsdev", false)
		e.addMember("creds", id, 2)
		e.must(e.do(dev, http.MethodPut, "projects/creds", map[string]any{"cve_allowlist": map[string]any{"items": []map[string]string{}}}), http.StatusForbidden)
	})
}
