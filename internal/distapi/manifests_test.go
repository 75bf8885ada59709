package distapi_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/oci"
)

// TestManifestDescriptorSizes: a descriptor whose size differs from what
// the repository stores under its digest (config, layer, index child) is
// refused with 400 MANIFEST_INVALID, and nothing is stored.
func TestManifestDescriptorSizes(t *testing.T) { forEachServer(t, testManifestDescriptorSizes) }

func testManifestDescriptorSizes(t *testing.T, c *client) {
	layer := []byte("some layer bytes")
	child, childBody := c.pushImage("lib/sizes", "child", layer)
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	cd, ld := digest.FromBytes(cfg), digest.FromBytes(layer)
	manifest := func(cfgSize, layerSize int) []byte {
		return []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` +
			cd.String() + `","size":` + itoa(cfgSize) + `},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"` + ld.String() + `","size":` + itoa(layerSize) + `}]}`)
	}
	index := func(size int) []byte {
		return []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` +
			child.String() + `","size":` + itoa(size) + `}]}`)
	}
	tests := []struct {
		name, mediaType string
		body            []byte
		status          int
		code            string
	}{
		{"config too small", oci.MediaTypeImageManifest, manifest(len(cfg)-1, len(layer)), 400, "MANIFEST_INVALID"},
		{"layer too large", oci.MediaTypeImageManifest, manifest(len(cfg), len(layer)+1000), 400, "MANIFEST_INVALID"},
		{"layer zero", oci.MediaTypeImageManifest, manifest(len(cfg), 0), 400, "MANIFEST_INVALID"},
		{"index child size", oci.MediaTypeImageIndex, index(len(childBody) + 1), 400, "MANIFEST_INVALID"},
		{"exact sizes", oci.MediaTypeImageManifest, manifest(len(cfg), len(layer)), 201, ""},
		{"exact child size", oci.MediaTypeImageIndex, index(len(childBody)), 201, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := c.as(t, c.user, c.pass)
			tag := strings.ReplaceAll(tt.name, " ", "-")
			c.want(c.do("PUT", "/v2/lib/sizes/manifests/"+tag, bytes.NewReader(tt.body), "Content-Type", tt.mediaType), tt.status, tt.code)
			want := http.StatusOK
			if tt.status != http.StatusCreated {
				want = http.StatusNotFound
			}
			c.want(c.do("HEAD", "/v2/lib/sizes/manifests/"+digest.FromBytes(tt.body).String(), nil), want, "")
		})
	}
}

// TestDeleteReferencedManifest: a manifest that an index in the repository
// lists, or that a referrer names as its subject, cannot be deleted by
// digest (409 DENIED) until what references it is gone.
func TestDeleteReferencedManifest(t *testing.T) { forEachServer(t, testDeleteReferencedManifest) }

func testDeleteReferencedManifest(t *testing.T, c *client) {
	child, _ := c.pushImage("lib/refs", "child", []byte("layer"))
	subject, _ := c.pushImage("lib/refs", "subject", []byte("other layer"))
	empty := c.pushBlob("lib/refs", []byte("{}"))
	idx := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` +
		child.String() + `","size":` + itoa(len(c.do("GET", "/v2/lib/refs/manifests/child", nil).body)) + `}]}`)
	c.want(c.do("PUT", "/v2/lib/refs/manifests/index", bytes.NewReader(idx), "Content-Type", oci.MediaTypeImageIndex), http.StatusCreated, "")
	ref := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/x-sig","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"` +
		empty.String() + `","size":2},"layers":[],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + subject.String() + `","size":1}}`)
	refd := digest.FromBytes(ref)
	c.want(c.do("PUT", "/v2/lib/refs/manifests/"+refd.String(), bytes.NewReader(ref), "Content-Type", oci.MediaTypeImageManifest), http.StatusCreated, "")

	r := c.do("DELETE", "/v2/lib/refs/manifests/"+child.String(), nil)
	c.want(r, http.StatusConflict, "DENIED")
	if !strings.Contains(string(r.body), digest.FromBytes(idx).String()) {
		t.Errorf("refusal does not name the index: %s", r.body)
	}
	r = c.do("DELETE", "/v2/lib/refs/manifests/"+subject.String(), nil)
	c.want(r, http.StatusConflict, "DENIED")
	if !strings.Contains(string(r.body), refd.String()) {
		t.Errorf("refusal does not name the referrer: %s", r.body)
	}
	// Both still pull; a tag still goes (the manifest stays).
	c.want(c.do("GET", "/v2/lib/refs/manifests/"+child.String(), nil), http.StatusOK, "")
	c.want(c.do("GET", "/v2/lib/refs/manifests/"+subject.String(), nil), http.StatusOK, "")
	c.want(c.do("DELETE", "/v2/lib/refs/manifests/child", nil), http.StatusAccepted, "")

	// Once what references them is gone, they delete.
	c.want(c.do("DELETE", "/v2/lib/refs/manifests/"+digest.FromBytes(idx).String(), nil), http.StatusAccepted, "")
	c.want(c.do("DELETE", "/v2/lib/refs/manifests/"+child.String(), nil), http.StatusAccepted, "")
	c.want(c.do("DELETE", "/v2/lib/refs/manifests/"+refd.String(), nil), http.StatusAccepted, "")
	c.want(c.do("DELETE", "/v2/lib/refs/manifests/"+subject.String(), nil), http.StatusAccepted, "")
}
