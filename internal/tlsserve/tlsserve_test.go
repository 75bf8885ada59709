package tlsserve

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRedirect(t *testing.T) {
	tests := []struct {
		name, external, port, host, target, want string
	}{
		{"external url", "https://reg.test/", "5000", "other:80", "/v2/x?n=1", "https://reg.test/v2/x?n=1"},
		{"same host, tls port", "", "5443", "reg.test:8080", "/v2/", "https://reg.test:5443/v2/"},
		{"port 443 left out", "", "443", "reg.test", "/v2/", "https://reg.test/v2/"},
		{"ipv6", "", "443", "[::1]:80", "/", "https://[::1]/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPut, tt.target, nil)
			r.Host = tt.host
			w := httptest.NewRecorder()
			Redirect(tt.external, tt.port).ServeHTTP(w, r)
			if w.Code != http.StatusPermanentRedirect || w.Header().Get("Location") != tt.want {
				t.Errorf("got %d %q, want 308 %q", w.Code, w.Header().Get("Location"), tt.want)
			}
		})
	}
}

func TestDirCacheKeys(t *testing.T) {
	c := DirCache(t.TempDir())
	ctx := t.Context()
	for _, bad := range []string{"", "../x", "a/b", ".hidden", `a\b`} {
		if err := c.Put(ctx, bad, []byte("x")); err == nil {
			t.Errorf("Put(%q) accepted", bad)
		}
	}
	if _, err := c.Get(ctx, "reg.test"); !errors.Is(err, ErrCacheMiss) {
		t.Fatalf("Get(missing) = %v, want ErrCacheMiss", err)
	}
	if err := c.Put(ctx, "reg.test", []byte("pem")); err != nil {
		t.Fatal(err)
	}
	if b, err := c.Get(ctx, "reg.test"); err != nil || string(b) != "pem" {
		t.Fatalf("Get = %q, %v", b, err)
	}
}

func TestHTTPChallengeTokens(t *testing.T) {
	c := DirCache(t.TempDir())
	if err := c.Put(t.Context(), prefixHTTPTok+"tok_en-1", []byte("tok_en-1.thumb")); err != nil {
		t.Fatal(err)
	}
	m, err := NewACME(ACMEOptions{Directory: "https://acme.test/dir", Hosts: []string{"reg.test"}, Challenge: ChallengeHTTP, Cache: c})
	if err != nil {
		t.Fatal(err)
	}
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	for _, tt := range []struct {
		path string
		code int
	}{
		{"/.well-known/acme-challenge/tok_en-1", http.StatusOK},
		{"/.well-known/acme-challenge/unknown", http.StatusNotFound},
		{"/.well-known/acme-challenge/..%2Faccount-key", http.StatusNotFound},
		{"/v2/", http.StatusTeapot},
	} {
		w := httptest.NewRecorder()
		m.HTTPHandler(next).ServeHTTP(w, httptest.NewRequest(http.MethodGet, tt.path, nil))
		if w.Code != tt.code {
			t.Errorf("GET %s: %d, want %d", tt.path, w.Code, tt.code)
		}
	}
}
