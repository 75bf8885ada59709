package distapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/oci"
)

// client talks to a /v2/ API started alone over fakes (newFakeServer);
// the tests that run the whole server are in package distapi_test
// (serve_test.go).
type client struct {
	t          *testing.T
	base       string
	user, pass string // Basic credentials; none when user is ""
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
	req, err := http.NewRequest(method, path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
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
		c.t.Fatalf("got %d %s (%s), want %d %s", r.status, r.code(), truncate(string(r.body), 300), status, code)
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

func TestParsePath(t *testing.T) {
	tests := []struct {
		path string
		want target
		ok   bool
	}{
		{"/v2/", target{route: "base"}, true},
		{"/v2", target{route: "base"}, true},
		{"/v2/_catalog", target{route: "catalog"}, true},
		{"/v2/a/b/tags/list", target{route: "tags", repo: "a/b"}, true},
		{"/v2/a/manifests/latest", target{route: "manifest", repo: "a", ref: "latest"}, true},
		{"/v2/a/manifests/b/manifests/x", target{route: "manifest", repo: "a/manifests/b", ref: "x"}, true},
		{"/v2/a/blobs/sha256:ab", target{route: "blob", repo: "a", ref: "sha256:ab"}, true},
		{"/v2/a/blobs/uploads/", target{route: "upload", repo: "a"}, true},
		{"/v2/a/blobs/uploads", target{route: "upload", repo: "a"}, true},
		{"/v2/a/blobs/uploads/123", target{route: "upload", repo: "a", ref: "123"}, true},
		{"/v2/blobs/blobs/x", target{route: "blob", repo: "blobs", ref: "x"}, true},
		{"/v2/a/referrers/sha256:ab", target{route: "referrers", repo: "a", ref: "sha256:ab"}, true},
		{"/v2/a", target{}, false},
		{"/v2/a/manifests/", target{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, ok := parsePath(tt.path)
			if ok != tt.ok || (ok && got != tt.want) {
				t.Fatalf("parsePath(%q) = %+v, %v; want %+v, %v", tt.path, got, ok, tt.want, tt.ok)
			}
		})
	}
}
