package distapi

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/content"
	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/storage/filesystem"
)

// TestUploadSessionLimits: open upload sessions are capped per repository
// and per account with 429 TOOMANYREQUESTS; what is stored is untouched,
// a monolithic push (no session) still works, and a finished or cancelled
// session frees its place.
func TestUploadSessionLimits(t *testing.T) {
	store := metatest.OpenSQLite(t)
	drv, err := filesystem.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	blobs := content.New(content.Stores{Blobs: store.Blobs, Uploads: store.Uploads, Tx: store}, drv, log).WithLimits(content.Limits{UploadsPerRepository: 2, UploadsPerAccount: 3})
	srv := httptest.NewServer(New(blobs, registry.New(registry.Stores{Repos: store.Repos, Manifests: store.Manifests, Tx: store}, nil, log), log, Options{Auth: newTestGate(t, store)}))
	t.Cleanup(srv.Close)
	c := &client{t: t, base: srv.URL, user: "admin", pass: testAdminPassword}

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
