package restapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/berth-registry/berth/internal/sealed"
)

// TestSecretsSealedAtRest: a webhook target's auth header and a scanner's
// access credential are stored sealed (not in the clear), are never in an
// API answer, and still reach the receiver and the adapter in the clear.
func TestSecretsSealedAtRest(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		const hookSecret, scanSecret = "Bearer hook-s3cret-at-rest", "scanner-s3cret-at-rest"
		var mu sync.Mutex
		var adapterAuth []string
		adapter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			adapterAuth = append(adapterAuth, r.Header.Get("Authorization"))
			mu.Unlock()
			_, _ = w.Write([]byte(`{"scanner":{"name":"stub","vendor":"berth tests","version":"1"},"capabilities":[]}`))
		}))
		defer adapter.Close()

		e.srv.CreateProject(t, "sealed", false)
		e.must(e.do(admin, http.MethodPost, "projects/sealed/webhook/policies", map[string]any{
			"name": "p", "event_types": []string{"PUSH_ARTIFACT"},
			"targets": []map[string]any{{"address": "http://127.0.0.1:9/hook", "auth_header": hookSecret}},
		}), http.StatusCreated)
		e.must(e.do(admin, http.MethodPost, "scanners", map[string]any{"name": "sealed-stub", "url": adapter.URL,
			"auth": "Bearer", "access_credential": scanSecret}), http.StatusCreated)

		st := e.srv.Store(t)
		proj, err := st.Projects.GetProjectByName(t.Context(), "sealed")
		if err != nil {
			t.Fatal(err)
		}
		ps, err := st.Webhooks.EnabledWebhookPolicies(t.Context(), proj.ID)
		if err != nil || len(ps) != 1 || len(ps[0].Targets) != 1 {
			t.Fatalf("stored policies %+v, %v", ps, err)
		}
		if v := ps[0].Targets[0].AuthHeader; !sealed.IsSealed(v) || strings.Contains(v, "s3cret") {
			t.Errorf("stored auth header is not sealed: %q", v)
		}
		scs, err := st.Scans.ListScanners(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, sc := range scs {
			if sc.Name != "sealed-stub" {
				continue
			}
			found = true
			if !sealed.IsSealed(sc.AccessCredential) || strings.Contains(sc.AccessCredential, "s3cret") {
				t.Errorf("stored access credential is not sealed: %q", sc.AccessCredential)
			}
		}
		if !found {
			t.Fatal("the scanner registration is not stored")
		}

		// No answer shows either secret, sealed or not.
		for _, path := range []string{"projects/sealed/webhook/policies", "projects/sealed/webhook/policies/" + itoa(ps[0].ID), "scanners"} {
			b := string(e.must(e.do(admin, http.MethodGet, path, nil), http.StatusOK).body)
			if strings.Contains(b, "s3cret") || strings.Contains(b, ps[0].Targets[0].AuthHeader) || strings.Contains(b, "auth_header") ||
				strings.Contains(b, "access_credential") {
				t.Errorf("GET %s shows a secret: %s", path, b)
			}
		}

		// The adapter gets the credential in the clear (the registration's
		// metadata is fetched with it).
		list := decode[[]struct {
			UUID string `json:"uuid"`
			Name string `json:"name"`
		}](t, e.must(e.do(admin, http.MethodGet, "scanners", nil), http.StatusOK))
		for _, s := range list {
			if s.Name == "sealed-stub" {
				e.must(e.do(admin, http.MethodGet, "scanners/"+s.UUID+"/metadata", nil), http.StatusOK)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if len(adapterAuth) == 0 || adapterAuth[len(adapterAuth)-1] != "Bearer "+scanSecret {
			t.Errorf("adapter saw Authorization %q, want the credential in the clear", adapterAuth)
		}
	})
}
