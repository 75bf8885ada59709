package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestProbe(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ready   int
		v2      int
		realm   string
		wantErr string
	}{
		{name: "healthy", ready: 200, v2: 401, realm: `Bearer realm="http://x/service/token"`},
		{name: "not ready", ready: 503, v2: 401, realm: `Bearer realm="x"`, wantErr: "/readyz"},
		{name: "open registry", ready: 200, v2: 200, wantErr: "/v2/"},
		{name: "basic challenge", ready: 200, v2: 401, realm: `Basic realm="x"`, wantErr: "challenge"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/livez":
				case "/readyz":
					w.WriteHeader(tc.ready)
				case "/v2/":
					if tc.realm != "" {
						w.Header().Set("WWW-Authenticate", tc.realm)
					}
					w.WriteHeader(tc.v2)
				default:
					http.NotFound(w, r)
				}
			}))
			defer srv.Close()
			var out bytes.Buffer
			err := run(t.Context(), []string{"probe", srv.URL + "/"}, func(string) string { return "" }, &out, &out)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("probe: %v\n%s", err, out.String())
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("probe: err %v, want one naming %q", err, tc.wantErr)
			case tc.wantErr == "" && !strings.Contains(out.String(), "ok /v2/ 401"):
				t.Errorf("output %q lacks the /v2/ check", out.String())
			}
		})
	}
	if err := run(t.Context(), []string{"probe", "ftp://x"}, func(string) string { return "" }, &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
		t.Error("probe accepted an ftp:// URL")
	}
}
