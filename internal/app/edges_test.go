package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// TestV2DotSegments: a /v2/ path with "." or ".." segments, also
// percent-encoded, is refused with 400 NAME_INVALID by the /v2/ API, never
// redirected to a cleaned path by the router.
func TestV2DotSegments(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	addr, _ := startServe(t, ctx, testConfig(t))
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, p := range []string{
		"/v2/library/../other/manifests/v1",
		"/v2/library/./app/manifests/v1",
		"/v2/../v2/library/app/tags/list",
		"/v2/./_catalog",
		"/v2/library/%2e%2e/other/manifests/v1",
		"/v2/library/%2E/app/blobs/uploads/",
		"/v2/library/app/manifests/..",
		"/v2/library//app/manifests/v1",
	} {
		t.Run(p, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, "http://"+addr+p, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.SetBasicAuth("admin", testAdminPassword)
			res, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			var body struct{ Errors []struct{ Code string } }
			_ = json.Unmarshal(b, &body)
			if res.StatusCode != http.StatusBadRequest || len(body.Errors) == 0 || body.Errors[0].Code != "NAME_INVALID" {
				t.Errorf("GET %s = %d %s (Location %q), want 400 NAME_INVALID", p, res.StatusCode, b, res.Header.Get("Location"))
			}
		})
	}
}
