package app

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// TestPullsThroughOutage: with the caches warm, a pull by a valid token
// of a manifest already served keeps working while PostgreSQL is
// unreachable; writes still get a fast 503.
func TestPullsThroughOutage(t *testing.T) {
	cfg, proxy := proxiedPostgres(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	addr, _ := startServe(t, ctx, cfg)
	base := "http://" + addr

	do := func(method, path, auth string, body []byte, ct string) int {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, bytes.NewReader(body))
		if auth == "" {
			req.SetBasicAuth("admin", testAdminPassword)
		} else {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	const repo = "/v2/library/outage-pull"
	cfgBlob := []byte(`{}`)
	cd := digest.FromBytes(cfgBlob)
	if st := do("POST", repo+"/blobs/uploads/?digest="+cd.String(), "", cfgBlob, ""); st != http.StatusCreated {
		t.Fatalf("push blob: %d", st)
	}
	const mt = "application/vnd.oci.image.manifest.v1+json"
	m := []byte(`{"schemaVersion":2,"mediaType":"` + mt + `","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` +
		cd.String() + `","size":2},"layers":[]}`)
	if st := do("PUT", repo+"/manifests/v1", "", m, mt); st != http.StatusCreated {
		t.Fatalf("push manifest: %d", st)
	}
	req, _ := http.NewRequest("GET", base+"/service/token?service=berth&scope=repository:library/outage-pull:pull", nil)
	req.SetBasicAuth("admin", testAdminPassword)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct{ Token string }
	_ = json.NewDecoder(res.Body).Decode(&tok)
	res.Body.Close()
	if tok.Token == "" {
		t.Fatalf("no token: HTTP %d", res.StatusCode)
	}
	if st := do("GET", repo+"/manifests/v1", tok.Token, nil, ""); st != http.StatusOK {
		t.Fatalf("warm-up pull: %d", st)
	}

	proxy.SetDown(true)
	defer proxy.SetDown(false)
	start := time.Now()
	if st := do("GET", repo+"/manifests/v1", tok.Token, nil, ""); st != http.StatusOK {
		t.Errorf("pull by token during the outage: %d, want 200", st)
	}
	if st := do("GET", repo+"/manifests/"+digest.FromBytes(m).String(), tok.Token, nil, ""); st != http.StatusOK {
		t.Errorf("pull by digest during the outage: %d, want 200", st)
	}
	if st := do("PUT", repo+"/manifests/v2", "", m, mt); st != http.StatusServiceUnavailable {
		t.Errorf("push during the outage: %d, want 503", st)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("requests during the outage took %v", d)
	}
}
