package distapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/app/apptest"
	"github.com/berth-registry/berth/internal/oci"
)

// The tests in package distapi_test run the /v2/ API inside the whole
// server, app.Serve, through the apptest harness, on {SQLite +
// filesystem} and {PostgreSQL + S3}. Tests of the package alone (fakes,
// fuzz targets) stay in package distapi.

// forEachServer runs fn on a fresh server of each configuration, holding
// the private projects the tests push to, with a client logged in as the
// administrator (Basic).
func forEachServer(t *testing.T, fn func(t *testing.T, c *client), opts ...apptest.Option) {
	t.Helper()
	apptest.ForEachConfig(t, func(t *testing.T, srv *apptest.Server) { fn(t, newClient(t, srv)) }, opts...)
}

// newClient creates the projects the tests push to on srv and returns an
// administrator's client.
func newClient(t *testing.T, srv *apptest.Server) *client {
	t.Helper()
	for _, p := range []string{"lib", "other", "good", "r"} {
		srv.CreateProject(t, p, false)
	}
	return &client{t: t, srv: srv, base: srv.URL, user: "admin", pass: apptest.AdminPassword}
}

type client struct {
	t          *testing.T
	srv        *apptest.Server
	base       string
	user, pass string // Basic credentials; none when user is ""
}

// as is c for another test or user.
func (c *client) as(t *testing.T, user, pass string) *client {
	return &client{t: t, srv: c.srv, base: c.base, user: user, pass: pass}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) code() string {
	var b struct{ Errors []struct{ Code string } }
	if err := json.Unmarshal(r.body, &b); err != nil || len(b.Errors) == 0 {
		return ""
	}
	return b.Errors[0].Code
}

func (c *client) do(method, path string, body io.Reader, hdr ...string) response {
	c.t.Helper()
	if !strings.HasPrefix(path, "http") {
		path = c.base + path
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.srv.Client.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

func (c *client) want(r response, status int, code string) {
	c.t.Helper()
	if r.status != status || (code != "" && r.code() != code) {
		c.t.Fatalf("got %d %s (%.300s), want %d %s", r.status, r.code(), r.body, status, code)
	}
}

// pushBlob uploads b monolithically into repo.
func (c *client) pushBlob(repo string, b []byte) digest.Digest {
	c.t.Helper()
	d := digest.FromBytes(b)
	c.want(c.do("POST", "/v2/"+repo+"/blobs/uploads/?digest="+d.String(), bytes.NewReader(b)), http.StatusCreated, "")
	return d
}

// pushImage pushes a config and a layer and a manifest tagged tag.
func (c *client) pushImage(repo, tag string, layer []byte) (digest.Digest, []byte) {
	c.t.Helper()
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	cd := c.pushBlob(repo, cfg)
	ld := c.pushBlob(repo, layer)
	m := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` +
		cd.String() + `","size":` + itoa(len(cfg)) + `},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"` + ld.String() + `","size":` + itoa(len(layer)) + `}]}`)
	r := c.do("PUT", "/v2/"+repo+"/manifests/"+tag, bytes.NewReader(m), "Content-Type", oci.MediaTypeImageManifest)
	c.want(r, http.StatusCreated, "")
	return digest.FromBytes(m), m
}

func itoa(n int) string { return strconv.Itoa(n) }
