package websession

import (
	"net/http/httptest"
	"testing"
)

// TestSameSite: a login is same-site without Origin, with the request's
// own host or the external URL's, and never with another origin, an
// opaque one or Sec-Fetch-Site: cross-site.
func TestSameSite(t *testing.T) {
	m := New(nil, Options{ExternalURL: "https://registry.example.test"})
	tests := []struct {
		name, origin, fetchSite string
		want                    bool
	}{
		{"no Origin", "", "", true},
		{"the request's host", "http://10.0.0.5:5000", "same-origin", true},
		{"the external URL's host", "https://registry.example.test", "", true},
		{"the external URL's host, other case", "https://REGISTRY.example.test", "", true},
		{"another host", "https://evil.example.test", "", false},
		{"the external host on another port", "https://registry.example.test:8443", "", false},
		{"opaque", "null", "", false},
		{"cross-site fetch without Origin", "", "cross-site", false},
		{"same-site subdomain fetch with the right Origin", "http://10.0.0.5:5000", "same-site", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "http://10.0.0.5:5000/c/login", nil)
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			if tt.fetchSite != "" {
				r.Header.Set("Sec-Fetch-Site", tt.fetchSite)
			}
			if got := m.sameSite(r); got != tt.want {
				t.Errorf("sameSite = %t, want %t", got, tt.want)
			}
		})
	}
}
