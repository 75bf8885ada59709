package distapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/app/apptest"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/testenv"
)

func TestRoundTrip(t *testing.T) { forEachServer(t, roundTrip) }

// TestRoundTripRedis runs the round trip with a shared Redis cache.
func TestRoundTripRedis(t *testing.T) {
	url := testenv.Require(t, "BERTH_TEST_REDIS")
	forEachServer(t, roundTrip, func(c *config.Config) { c.Redis.URL = url })
}

// TestRoundTripRedisDown: a cache that cannot be reached changes nothing.
func TestRoundTripRedisDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	roundTrip(t, newClient(t, apptest.Start(t, func(c *config.Config) { c.Redis.URL = "redis://" + addr + "/0" })))
}

func roundTrip(t *testing.T, c *client) {
	t.Helper()
	layer := bytes.Repeat([]byte("layer"), 1000)
	md, m := c.pushImage("lib/app", "v1", layer)

	r := c.do("GET", "/v2/lib/app/manifests/v1", nil, "Accept", oci.MediaTypeImageManifest)
	c.want(r, http.StatusOK, "")
	if !bytes.Equal(r.body, m) || r.header.Get("Docker-Content-Digest") != md.String() || r.header.Get("Content-Type") != oci.MediaTypeImageManifest {
		t.Fatalf("manifest by tag: digest %s type %s", r.header.Get("Docker-Content-Digest"), r.header.Get("Content-Type"))
	}
	c.want(c.do("HEAD", "/v2/lib/app/manifests/"+md.String(), nil), http.StatusOK, "")

	ld := digest.FromBytes(layer)
	r = c.do("GET", "/v2/lib/app/blobs/"+ld.String(), nil)
	if r.status != http.StatusOK || !bytes.Equal(r.body, layer) {
		t.Fatalf("blob get: %d, %d bytes", r.status, len(r.body))
	}
	r = c.do("GET", "/v2/lib/app/blobs/"+ld.String(), nil, "Range", "bytes=5-9")
	if r.status != http.StatusPartialContent || string(r.body) != "layer" || r.header.Get("Content-Range") != "bytes 5-9/5000" {
		t.Fatalf("range get: %d %q %q", r.status, r.body, r.header.Get("Content-Range"))
	}
	c.want(c.do("GET", "/v2/lib/app/blobs/"+ld.String(), nil, "Range", "bytes=6000-7000"), http.StatusRequestedRangeNotSatisfiable, "")

	// Chunked upload across three PATCHes and a final PUT.
	data := bytes.Repeat([]byte("0123456789"), 100)
	r = c.do("POST", "/v2/lib/app/blobs/uploads/", nil)
	c.want(r, http.StatusAccepted, "")
	loc := r.header.Get("Location")
	for i, part := range [][]byte{data[:300], data[300:600], data[600:900]} {
		start := i * 300
		r = c.do("PATCH", loc, bytes.NewReader(part), "Content-Range", itoa(start)+"-"+itoa(start+len(part)-1), "Content-Type", "application/octet-stream")
		c.want(r, http.StatusAccepted, "")
		if got, want := r.header.Get("Range"), "0-"+itoa(start+len(part)-1); got != want {
			t.Fatalf("Range = %q, want %q", got, want)
		}
	}
	// Out of order.
	c.want(c.do("PATCH", loc, bytes.NewReader(data[:10]), "Content-Range", "0-9"), http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID")
	r = c.do("GET", loc, nil)
	c.want(r, http.StatusNoContent, "")
	if r.header.Get("Range") != "0-899" {
		t.Fatalf("status Range = %q", r.header.Get("Range"))
	}
	dd := digest.FromBytes(data)
	c.want(c.do("PUT", loc+"?digest="+dd.String(), bytes.NewReader(data[900:])), http.StatusCreated, "")
	r = c.do("GET", "/v2/lib/app/blobs/"+dd.String(), nil)
	if !bytes.Equal(r.body, data) {
		t.Fatalf("chunked blob differs")
	}
	// PATCH after finish.
	c.want(c.do("PATCH", loc, strings.NewReader("x")), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")

	// sha512 monolithic and chunked.
	d512 := digest.SHA512.FromBytes(data)
	c.want(c.do("POST", "/v2/lib/app/blobs/uploads/?digest="+d512.String(), bytes.NewReader(data)), http.StatusCreated, "")
	r = c.do("POST", "/v2/lib/app/blobs/uploads/", nil)
	loc = r.header.Get("Location")
	c.want(c.do("PATCH", loc, bytes.NewReader(data[:10])), http.StatusAccepted, "")
	c.want(c.do("PUT", loc+"?digest="+d512.String(), bytes.NewReader(data[10:])), http.StatusCreated, "")

	// Mount into another repository, then tags and catalog.
	r = c.do("POST", "/v2/other/repo/blobs/uploads/?mount="+ld.String()+"&from=lib/app", nil)
	c.want(r, http.StatusCreated, "")
	r = c.do("POST", "/v2/other/repo/blobs/uploads/?mount="+ld.String()+"&from=nope", nil)
	c.want(r, http.StatusAccepted, "")
	for _, tag := range []string{"b", "a", "c"} {
		c.want(c.do("PUT", "/v2/lib/app/manifests/"+tag, bytes.NewReader(m), "Content-Type", oci.MediaTypeImageManifest), http.StatusCreated, "")
	}
	r = c.do("GET", "/v2/lib/app/tags/list?n=2", nil)
	c.want(r, http.StatusOK, "")
	var tl struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}
	if err := json.Unmarshal(r.body, &tl); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "b"}, tl.Tags); diff != "" {
		t.Fatalf("tags (-want +got):\n%s", diff)
	}
	if got := r.header.Get("Link"); got != `</v2/lib/app/tags/list?last=b&n=2>; rel="next"` {
		t.Fatalf("Link = %q", got)
	}
	r = c.do("GET", "/v2/_catalog", nil)
	if !strings.Contains(string(r.body), `"lib/app"`) || !strings.Contains(string(r.body), `"other/repo"`) {
		t.Fatalf("catalog = %s", r.body)
	}

	// Delete by tag, then by digest.
	c.want(c.do("DELETE", "/v2/lib/app/manifests/a", nil), http.StatusAccepted, "")
	c.want(c.do("GET", "/v2/lib/app/manifests/a", nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
	c.want(c.do("DELETE", "/v2/lib/app/manifests/"+md.String(), nil), http.StatusAccepted, "")
	c.want(c.do("GET", "/v2/lib/app/manifests/v1", nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
	c.want(c.do("DELETE", "/v2/lib/app/blobs/"+ld.String(), nil), http.StatusAccepted, "")
	c.want(c.do("GET", "/v2/lib/app/blobs/"+ld.String(), nil), http.StatusNotFound, "BLOB_UNKNOWN")
	// Still in the repository it was mounted into.
	c.want(c.do("HEAD", "/v2/other/repo/blobs/"+ld.String(), nil), http.StatusOK, "")
}

func TestReferrers(t *testing.T) { forEachServer(t, testReferrers) }

func testReferrers(t *testing.T, c *client) {
	subject, _ := c.pushImage("r", "v1", []byte("layer"))
	empty := c.pushBlob("r", []byte("{}"))
	art := func(at string) []byte {
		return []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"` + at +
			`","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"` + empty.String() + `","size":2},"layers":[],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` +
			subject.String() + `","size":1},"annotations":{"k":"v"}}`)
	}
	for _, at := range []string{"application/x-sbom", "application/x-sig"} {
		b := art(at)
		r := c.do("PUT", "/v2/r/manifests/"+digest.FromBytes(b).String(), bytes.NewReader(b), "Content-Type", oci.MediaTypeImageManifest)
		c.want(r, http.StatusCreated, "")
		if r.header.Get("OCI-Subject") != subject.String() {
			t.Fatalf("OCI-Subject = %q", r.header.Get("OCI-Subject"))
		}
	}
	r := c.do("GET", "/v2/r/referrers/"+subject.String()+"?artifactType=application/x-sbom", nil)
	c.want(r, http.StatusOK, "")
	var idx struct {
		Manifests []struct {
			ArtifactType string            `json:"artifactType"`
			Size         int64             `json:"size"`
			Annotations  map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(r.body, &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 1 || idx.Manifests[0].ArtifactType != "application/x-sbom" || idx.Manifests[0].Size != int64(len(art("application/x-sbom"))) || idx.Manifests[0].Annotations["k"] != "v" {
		t.Fatalf("referrers = %s", r.body)
	}
	if r.header.Get("OCI-Filters-Applied") != "artifactType" {
		t.Fatalf("OCI-Filters-Applied = %q", r.header.Get("OCI-Filters-Applied"))
	}
	r = c.do("GET", "/v2/r/referrers/"+subject.String(), nil)
	if err := json.Unmarshal(r.body, &idx); err != nil || len(idx.Manifests) != 2 {
		t.Fatalf("unfiltered referrers = %s", r.body)
	}
}

// TestBadInput sends malformed requests; each gets its documented error and
// what was stored before still pulls intact.
func TestBadInput(t *testing.T) { forEachServer(t, testBadInput) }

func testBadInput(t *testing.T, c *client) {
	layer := []byte("precious layer")
	md, m := c.pushImage("good/repo", "v1", layer)
	ld := digest.FromBytes(layer)
	other := digest.FromString("not pushed")

	big := bytes.Repeat([]byte(" "), oci.MaxManifestSize+10)
	var finished string
	{
		r := c.do("POST", "/v2/good/repo/blobs/uploads/", nil)
		finished = r.header.Get("Location")
		c.want(c.do("PUT", finished+"?digest="+digest.FromString("x").String(), strings.NewReader("x")), http.StatusCreated, "")
	}
	session := c.do("POST", "/v2/good/repo/blobs/uploads/", nil).header.Get("Location")

	tests := []struct {
		name, method, path string
		body               []byte
		hdr                []string
		status             int
		code               string
	}{
		{"malformed manifest json", "PUT", "/v2/good/repo/manifests/bad", []byte(`{"schemaVersion":2,`), []string{"Content-Type", oci.MediaTypeImageManifest}, 400, "MANIFEST_INVALID"},
		{"manifest wrong digest", "PUT", "/v2/good/repo/manifests/" + other.String(), m, []string{"Content-Type", oci.MediaTypeImageManifest}, 400, "DIGEST_INVALID"},
		{"manifest oversized", "PUT", "/v2/good/repo/manifests/big", big, []string{"Content-Type", oci.MediaTypeImageManifest}, 413, "MANIFEST_INVALID"},
		{"manifest unknown media type", "PUT", "/v2/good/repo/manifests/x", []byte(`{"schemaVersion":2,"mediaType":"application/x-nope"}`), []string{"Content-Type", "application/x-nope"}, 400, "MANIFEST_INVALID"},
		{"manifest schema1", "PUT", "/v2/good/repo/manifests/x", []byte(`{"schemaVersion":1,"name":"good/repo","tag":"x","fsLayers":[]}`), []string{"Content-Type", "application/vnd.docker.distribution.manifest.v1+prettyjws"}, 400, "MANIFEST_INVALID"},
		{"manifest missing blob", "PUT", "/v2/good/repo/manifests/x", bytes.Replace(m, []byte(ld.String()), []byte(other.String()), 1), []string{"Content-Type", oci.MediaTypeImageManifest}, 400, "MANIFEST_BLOB_UNKNOWN"},
		{"index missing child", "PUT", "/v2/good/repo/manifests/x", []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + other.String() + `","size":1}]}`), []string{"Content-Type", oci.MediaTypeImageIndex}, 400, "MANIFEST_UNKNOWN"},
		{"manifest truncated body", "PUT", "/v2/good/repo/manifests/x", m[:len(m)-5], []string{"Content-Type", oci.MediaTypeImageManifest}, 400, "MANIFEST_INVALID"},
		{"blob wrong digest", "POST", "/v2/good/repo/blobs/uploads/?digest=" + other.String(), []byte("something else"), nil, 400, "DIGEST_INVALID"},
		{"blob malformed digest", "POST", "/v2/good/repo/blobs/uploads/?digest=sha256:xyz", []byte("x"), nil, 400, "DIGEST_INVALID"},
		{"blob unsupported algorithm", "GET", "/v2/good/repo/blobs/md5:d41d8cd98f00b204e9800998ecf8427e", nil, nil, 400, "DIGEST_INVALID"},
		{"name with dotdot", "GET", "/v2/good/../repo/manifests/v1", nil, nil, 400, "NAME_INVALID"},
		{"name uppercase", "GET", "/v2/Good/repo/manifests/v1", nil, nil, 400, "NAME_INVALID"},
		{"tag invalid", "PUT", "/v2/good/repo/manifests/-bad", m, []string{"Content-Type", oci.MediaTypeImageManifest}, 400, "TAG_INVALID"},
		{"absurd n", "GET", "/v2/good/repo/tags/list?n=99999999999999999999999", nil, nil, 400, "PAGINATION_NUMBER_INVALID"},
		{"negative n", "GET", "/v2/_catalog?n=-1", nil, nil, 400, "PAGINATION_NUMBER_INVALID"},
		{"range past end", "GET", "/v2/good/repo/blobs/" + ld.String(), nil, []string{"Range", "bytes=100-200"}, 416, ""},
		{"patch after finish", "PATCH", finished, []byte("more"), nil, 404, "BLOB_UPLOAD_UNKNOWN"},
		{"patch out of order", "PATCH", session, []byte("abc"), []string{"Content-Range", "5-7"}, 416, "BLOB_UPLOAD_INVALID"},
		{"patch malformed range", "PATCH", session, []byte("abc"), []string{"Content-Range", "7-5"}, 416, "BLOB_UPLOAD_INVALID"},
		{"put upload without digest", "PUT", session, nil, nil, 400, "DIGEST_INVALID"},
		{"unknown upload", "GET", "/v2/good/repo/blobs/uploads/nope", nil, nil, 404, "BLOB_UPLOAD_UNKNOWN"},
		{"upload of another repo", "GET", strings.Replace(session, "good/repo", "good/other", 1), nil, nil, 404, "BLOB_UPLOAD_UNKNOWN"},
		{"tags of unknown repo", "GET", "/v2/nope/tags/list", nil, nil, 404, "NAME_UNKNOWN"},
		{"method not allowed", "POST", "/v2/good/repo/manifests/v1", nil, nil, 405, "UNSUPPORTED"},
		{"unknown blob", "HEAD", "/v2/good/repo/blobs/" + other.String(), nil, nil, 404, ""},
		{"delete unknown manifest", "DELETE", "/v2/good/repo/manifests/" + other.String(), nil, nil, 404, "MANIFEST_UNKNOWN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			if tt.body != nil {
				body = bytes.NewReader(tt.body)
			}
			c := c.as(t, c.user, c.pass)
			c.want(c.do(tt.method, tt.path, body, tt.hdr...), tt.status, tt.code)
		})
	}

	// A wrong final digest discards the session and nothing becomes visible.
	r := c.do("POST", "/v2/good/repo/blobs/uploads/", nil)
	loc := r.header.Get("Location")
	c.want(c.do("PATCH", loc, strings.NewReader("abc")), http.StatusAccepted, "")
	c.want(c.do("PUT", loc+"?digest="+other.String(), nil), http.StatusBadRequest, "DIGEST_INVALID")
	c.want(c.do("HEAD", "/v2/good/repo/blobs/"+other.String(), nil), http.StatusNotFound, "")

	// Everything stored before still pulls intact.
	r = c.do("GET", "/v2/good/repo/manifests/v1", nil)
	if r.status != 200 || !bytes.Equal(r.body, m) || r.header.Get("Docker-Content-Digest") != md.String() {
		t.Fatalf("manifest after bad input: %d", r.status)
	}
	r = c.do("GET", "/v2/good/repo/blobs/"+ld.String(), nil)
	if r.status != 200 || !bytes.Equal(r.body, layer) {
		t.Fatalf("layer after bad input: %d %q", r.status, r.body)
	}
	r = c.do("GET", "/v2/good/repo/tags/list", nil)
	if !strings.Contains(string(r.body), `"tags":["v1"]`) {
		t.Fatalf("tags after bad input: %s", r.body)
	}
}
