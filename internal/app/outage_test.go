package app

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/internal/testenv"
	"github.com/berth-registry/berth/internal/tokenauth"
)

// TestPostgresOutage cuts Berth off from PostgreSQL for a few seconds:
// requests fail fast with 503 UNAVAILABLE, nothing half-written becomes
// visible, and service recovers by itself when the database returns.
func TestPostgresOutage(t *testing.T) {
	cfg, proxy := proxiedPostgres(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	addr, _ := startServe(t, ctx, cfg)
	base := "http://" + addr + "/v2/library/outage-app"

	do := func(method, path string, body []byte, ct string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, bytes.NewReader(body))
		req.SetBasicAuth("admin", testAdminPassword)
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer res.Body.Close()
		var e struct {
			Errors []struct{ Code string } `json:"errors"`
		}
		_ = json.NewDecoder(res.Body).Decode(&e)
		code := ""
		if len(e.Errors) > 0 {
			code = e.Errors[0].Code
		}
		return res.StatusCode, code
	}

	cfgBlob := []byte(`{}`)
	cd := digest.FromBytes(cfgBlob)
	if st, code := do("POST", "/blobs/uploads/?digest="+cd.String(), cfgBlob, ""); st != http.StatusCreated {
		t.Fatalf("push blob: %d %s", st, code)
	}
	manifest := func(tag string) []byte {
		return []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` +
			cd.String() + `","size":2},"layers":[],"annotations":{"tag":"` + tag + `"}}`)
	}
	const mt = "application/vnd.oci.image.manifest.v1+json"
	if st, code := do("PUT", "/manifests/before", manifest("before"), mt); st != http.StatusCreated {
		t.Fatalf("push manifest: %d %s", st, code)
	}

	proxy.SetDown(true)
	start := time.Now()
	for _, tc := range []struct{ method, path string }{
		{"GET", "/manifests/before"},
		{"PUT", "/manifests/during"},
		{"HEAD", "/blobs/" + cd.String()},
		{"POST", "/blobs/uploads/"},
	} {
		var body []byte
		if tc.method == "PUT" {
			body = manifest("during")
		}
		st, code := do(tc.method, tc.path, body, mt)
		if st != http.StatusServiceUnavailable || (tc.method != "HEAD" && code != "UNAVAILABLE") {
			t.Errorf("%s %s during outage = %d %s, want 503 UNAVAILABLE", tc.method, tc.path, st, code)
		}
	}
	if res, err := http.Get("http://" + addr + "/readyz"); err != nil || res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz during outage: %v %v", res, err)
	} else {
		res.Body.Close()
	}
	// Fail fast: four requests, each bounded by the connect timeout, not a hang.
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("requests during the outage took %v", d)
	}

	proxy.SetDown(false)
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, _ := do("GET", "/manifests/before", nil, "")
		if st == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery after the database returned: last status %d", st)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st, _ := do("GET", "/manifests/during", nil, ""); st != http.StatusNotFound {
		t.Errorf("manifest pushed during the outage: %d, want 404", st)
	}
	if st, code := do("PUT", "/manifests/after", manifest("after"), mt); st != http.StatusCreated {
		t.Errorf("push after recovery: %d %s", st, code)
	}
}

// proxiedPostgres is a test configuration on a fresh PostgreSQL database
// reached through a fault-injecting proxy (cut it with SetDown), with the
// shared token key PostgreSQL requires.
func proxiedPostgres(t *testing.T) (config.Config, *testenv.Proxy) {
	t.Helper()
	dsn, err := url.Parse(metatest.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.NewProxy(t, dsn.Host)
	dsn.Host = proxy.Addr()
	cfg := testConfig(t)
	cfg.Database.URL = dsn.String()
	if _, _, err := tokenauth.LoadOrCreateKey(cfg.DataDir); err != nil {
		t.Fatal(err)
	}
	cfg.Auth.TokenKeyFile = filepath.Join(cfg.DataDir, tokenauth.KeyFile)
	return cfg, proxy
}
