package distapi_test

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/config"
)

// TestUploadSessionLimits: open upload sessions are capped per repository
// and per account with 429 TOOMANYREQUESTS; what is stored is untouched,
// a monolithic push (no session) still works, and a finished or cancelled
// session frees its place.
func TestUploadSessionLimits(t *testing.T) {
	forEachServer(t, testUploadSessionLimits, func(c *config.Config) {
		c.Uploads.MaxPerRepository, c.Uploads.MaxPerAccount = 2, 3
	})
}

func testUploadSessionLimits(t *testing.T, c *client) {
	layer := []byte("stored before")
	md, m := c.pushImage("lib/app", "v1", layer)
	start := func(repo string) response { return c.do("POST", "/v2/"+repo+"/blobs/uploads/", nil) }

	first := start("lib/app")
	c.want(first, http.StatusAccepted, "")
	c.want(start("lib/app"), http.StatusAccepted, "")
	r := start("lib/app")
	c.want(r, http.StatusTooManyRequests, "TOOMANYREQUESTS")
	if r.header.Get("Retry-After") == "" {
		t.Errorf("429 without Retry-After")
	}
	c.want(start("lib/other"), http.StatusAccepted, "")
	c.want(start("other/x"), http.StatusTooManyRequests, "TOOMANYREQUESTS") // the account's fourth

	// A monolithic push opens no session.
	b := []byte("monolithic")
	c.want(c.do("POST", "/v2/lib/app/blobs/uploads/?digest="+digest.FromBytes(b).String(), bytes.NewReader(b)), http.StatusCreated, "")
	// Stored content still pulls.
	r = c.do("GET", "/v2/lib/app/manifests/v1", nil)
	if r.status != http.StatusOK || !bytes.Equal(r.body, m) || r.header.Get("Docker-Content-Digest") != md.String() {
		t.Fatalf("manifest after refusals: %d", r.status)
	}
	// Finishing a session frees its place.
	c.want(c.do("PUT", first.header.Get("Location")+"?digest="+digest.FromString("x").String(), bytes.NewReader([]byte("x"))), http.StatusCreated, "")
	c.want(start("lib/app"), http.StatusAccepted, "")
}
