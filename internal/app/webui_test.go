package app

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestPortalMounted: every replica serves the portal at /, next to the
// registry, the REST API, the token service and the probes, which keep
// their paths.
func TestPortalMounted(t *testing.T) {
	addr, _ := startServe(t, t.Context(), testConfig(t))
	base := "http://" + addr
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	tests := []struct {
		path   string
		status int
		want   string // in the Location header or the body
	}{
		{"/", http.StatusSeeOther, "/projects"},
		{"/projects", http.StatusSeeOther, "/login?next=%2Fprojects"},
		{"/login", http.StatusOK, `action="/login"`},
		{"/static/app.css", http.StatusOK, "--accent"},
		{"/v2/", http.StatusUnauthorized, ""},
		{"/api/v2.0/systeminfo", http.StatusOK, "auth_mode"},
		{"/livez", http.StatusOK, "ok"},
		{"/readyz", http.StatusOK, "ok"},
		{"/metrics", http.StatusOK, "go_goroutines"},
		{"/service/token", http.StatusOK, "token"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := client.Get(base + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.want != "" && !strings.Contains(resp.Header.Get("Location"), tt.want) && !strings.Contains(string(body), tt.want) {
				t.Errorf("no %q in the answer", tt.want)
			}
		})
	}
}
