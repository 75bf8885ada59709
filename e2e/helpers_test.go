package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/testenv"
)

// testTimeout bounds each test, client start-up included.
const testTimeout = 5 * time.Minute

const (
	mediaTypeOCIManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeOCIIndex    = "application/vnd.oci.image.index.v1+json"
	mediaTypeOCIConfig   = "application/vnd.oci.image.config.v1+json"
	mediaTypeOCILayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
	annotationRefName    = "org.opencontainers.image.ref.name"
)

// manifestAccept is what the tests accept when they fetch a manifest themselves.
var manifestAccept = strings.Join([]string{
	mediaTypeOCIManifest,
	mediaTypeOCIIndex,
	"application/vnd.docker.distribution.manifest.v2+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
}, ", ")

// repoPrefix starts every repository the tests write: library is the project
// a fresh Berth has (pushing into a project that does not exist is refused).
const repoPrefix = "library/e2e/"

// setup returns the registry under test (host:port) and a context that ends
// when the test does or after testTimeout.
func setup(t *testing.T) (string, context.Context) {
	t.Helper()
	reg := testenv.Require(t, "BERTH_TEST_REGISTRY")
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return reg, ctx
}

// credentials returns the account the tests use on the registry, from
// BERTH_TEST_REGISTRY_USER and BERTH_TEST_REGISTRY_PASSWORD; an empty user
// means anonymous (a registry without authentication, such as the peer).
func credentials() (user, password string) {
	return os.Getenv("BERTH_TEST_REGISTRY_USER"), os.Getenv("BERTH_TEST_REGISTRY_PASSWORD")
}

// login logs the client in when the registry wants credentials: it runs the
// client's login command args, which must end with the registry and include
// the client's read-the-password-from-stdin flag, with "-u USER" inserted
// before the registry (some clients take no flag after an argument) and the
// password on stdin.
func login(t *testing.T, ctx context.Context, c client, args ...string) {
	t.Helper()
	user, password := credentials()
	if user == "" {
		return
	}
	c.stdin = password
	last := len(args) - 1
	c.run(t, ctx, append(append(args[:last:last], "-u", user), args[last])...)
}

// client is one registry client binary with the environment it runs in.
type client struct {
	path  string
	env   []string // added to os.Environ()
	dir   string   // working directory; "" is the test's
	stdin string
}

// lookClient finds name on PATH. A missing client skips the test on a laptop
// and fails it under CI, where scripts/test must have installed it.
func lookClient(t *testing.T, name string, env ...string) client {
	t.Helper()
	if ca := registryCA(); ca != "" {
		env = append([]string{"SSL_CERT_FILE=" + ca}, env...) // a test's own SSL_CERT_FILE, later, wins
	}
	return client{path: testenv.RequireBinary(t, name), env: env}
}

// in returns a copy of c that runs in dir.
func (c client) in(dir string) client {
	c.dir = dir
	return c
}

// exec runs the client and returns its stdout and stderr.
func (c client) exec(ctx context.Context, args ...string) (string, string, error) {
	cmd := exec.CommandContext(ctx, c.path, args...)
	cmd.Env = append(os.Environ(), c.env...)
	cmd.Dir = c.dir
	cmd.Stdin = strings.NewReader(c.stdin)
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w (%w)", err, ctx.Err())
	}
	return stdout.String(), stderr.String(), err
}

// run runs the client and fails the test, showing its output, unless it
// succeeds. It returns stdout.
func (c client) run(t *testing.T, ctx context.Context, args ...string) string {
	t.Helper()
	start := time.Now()
	stdout, stderr, err := c.exec(ctx, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(c.path), strings.Join(args, " "),
			err, stdout, stderr)
	}
	t.Logf("%s %s (%s)", filepath.Base(c.path), strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	return stdout
}

var nonRepoChars = regexp.MustCompile(`[^a-z0-9]+`)

// repoName returns a repository of its own for the test:
// library/e2e/<test>[-<suffix>]-<random>.
func repoName(t *testing.T, suffix ...string) string {
	t.Helper()
	name := strings.Trim(nonRepoChars.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	name = strings.TrimPrefix(name, "test")
	if s := strings.Join(suffix, "-"); s != "" {
		name += "-" + s
	}
	return repoPrefix + strings.Trim(name, "-") + "-" + randomHex(t, 4)
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func sha256Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func fileDigest(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256Digest(b)
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// descriptor is an OCI content descriptor.
type descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

// manifest is the part of an OCI image manifest or index the tests read.
type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType,omitempty"`
	ArtifactType  string       `json:"artifactType,omitempty"`
	Config        *descriptor  `json:"config,omitempty"`
	Layers        []descriptor `json:"layers,omitempty"`
	Manifests     []descriptor `json:"manifests,omitempty"`
	Subject       *descriptor  `json:"subject,omitempty"`
}

// image is a small OCI image made by writeLayout.
type image struct {
	Digest string // manifest digest
	Files  map[string][]byte
}

// writeLayout writes an OCI image layout in dir holding one image, tagged
// tag, whose single gzip layer contains files plus a random file that makes
// the image unique. It returns the image's manifest digest.
func writeLayout(t *testing.T, dir, tag string, files map[string][]byte) image {
	t.Helper()
	all := map[string][]byte{"e2e/random": []byte(randomHex(t, 32))}
	for name, b := range files {
		all[name] = b
	}
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	for _, name := range sortedKeys(all) {
		hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(all[name])), Typeflag: tar.TypeReg,
			ModTime: time.Unix(0, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(all[name]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	var gzBuf bytes.Buffer
	zw := gzip.NewWriter(&gzBuf)
	if _, err := zw.Write(tarBuf.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	layer := gzBuf.Bytes()

	config := mustJSON(t, map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"config":       map[string]any{"Cmd": []string{"/bin/true"}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{sha256Digest(tarBuf.Bytes())}},
		"history":      []map[string]any{{"created_by": "berth e2e"}},
	})
	man := mustJSON(t, manifest{
		SchemaVersion: 2,
		MediaType:     mediaTypeOCIManifest,
		Config:        &descriptor{MediaType: mediaTypeOCIConfig, Digest: sha256Digest(config), Size: int64(len(config))},
		Layers:        []descriptor{{MediaType: mediaTypeOCILayer, Digest: sha256Digest(layer), Size: int64(len(layer))}},
	})
	for _, b := range [][]byte{layer, config, man} {
		writeFile(t, filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(sha256Digest(b), "sha256:")), b)
	}
	writeFile(t, filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`))
	writeFile(t, filepath.Join(dir, "index.json"), mustJSON(t, manifest{
		SchemaVersion: 2,
		MediaType:     mediaTypeOCIIndex,
		Manifests: []descriptor{{MediaType: mediaTypeOCIManifest, Digest: sha256Digest(man),
			Size: int64(len(man)), Annotations: map[string]string{annotationRefName: tag}}},
	}))
	return image{Digest: sha256Digest(man), Files: all}
}

// layoutManifest returns the descriptor tagged tag in the layout in dir (the
// only one when tag is "").
func layoutManifest(t *testing.T, dir, tag string) descriptor {
	t.Helper()
	var idx manifest
	readJSON(t, filepath.Join(dir, "index.json"), &idx)
	var found []descriptor
	for _, d := range idx.Manifests {
		if tag == "" || d.Annotations[annotationRefName] == tag {
			found = append(found, d)
		}
	}
	if len(found) != 1 {
		t.Fatalf("layout %s: %d manifests tagged %q in index.json, want 1: %+v", dir, len(found), tag, idx.Manifests)
	}
	return found[0]
}

// layoutFiles returns the regular files in the layers of the image with
// manifest digest dgst in the layout in dir.
func layoutFiles(t *testing.T, dir, dgst string) map[string][]byte {
	t.Helper()
	var m manifest
	readJSON(t, blobPath(dir, dgst), &m)
	files := map[string][]byte{}
	for _, l := range m.Layers {
		f, err := os.Open(blobPath(dir, l.Digest))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var r io.Reader = f
		if strings.HasSuffix(l.MediaType, "gzip") {
			zr, err := gzip.NewReader(f)
			if err != nil {
				t.Fatalf("layer %s: %v", l.Digest, err)
			}
			r = zr
		}
		tr := tar.NewReader(r)
		for {
			hdr, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("layer %s: %v", l.Digest, err)
			}
			if hdr.Typeflag != tar.TypeReg {
				continue
			}
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatalf("layer %s: %v", l.Digest, err)
			}
			files[strings.TrimPrefix(hdr.Name, "./")] = b
		}
	}
	return files
}

func blobPath(dir, dgst string) string {
	algo, hexPart, _ := strings.Cut(dgst, ":")
	return filepath.Join(dir, "blobs", algo, hexPart)
}

// checkFiles fails the test unless got holds every file of want, byte for byte.
func checkFiles(t *testing.T, got, want map[string][]byte) {
	t.Helper()
	for _, name := range sortedKeys(want) {
		g, ok := got[name]
		if !ok {
			t.Errorf("file %s missing from the pulled image (it has %v)", name, sortedKeys(got))
			continue
		}
		if !bytes.Equal(g, want[name]) {
			t.Errorf("file %s: got %d bytes %q, want %d bytes %q", name, len(g), abbrev(g), len(want[name]),
				abbrev(want[name]))
		}
	}
}

func abbrev(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

// registryManifest fetches repo:ref (a tag or digest) from reg over plain
// HTTP and checks that Docker-Content-Digest, when sent, is the body's
// digest. It returns the body's sha256 digest and the parsed body.
func registryManifest(t *testing.T, ctx context.Context, reg, repo, ref string) (string, manifest) {
	t.Helper()
	status, body, hdr := httpGet(t, ctx, regURL(reg)+"/v2/"+repo+"/manifests/"+ref, manifestAccept)
	if status != http.StatusOK {
		t.Fatalf("GET manifest %s:%s: status %d, body %s", repo, ref, status, abbrev(body))
	}
	dgst := sha256Digest(body)
	if h := hdr.Get("Docker-Content-Digest"); h != "" && strings.HasPrefix(h, "sha256:") && h != dgst {
		t.Errorf("GET manifest %s:%s: Docker-Content-Digest %s, body digest %s", repo, ref, h, dgst)
	}
	var m manifest
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("GET manifest %s:%s: %v", repo, ref, err)
	}
	return dgst, m
}

// httpGet issues a GET and returns the status, the body (up to 8 MiB) and
// the headers.
func httpGet(t *testing.T, ctx context.Context, url, accept string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	setAuth(req)
	resp, err := httpClient().Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, body, resp.Header
}

// pushLayout pushes the image tagged tag in the layout in dir to reg/repo:tag
// with plain HTTP requests (POST then PUT per blob, then the manifest), so
// that a test can seed a repository without depending on another client.
func pushLayout(t *testing.T, ctx context.Context, reg, repo, tag, dir string) string {
	t.Helper()
	desc := layoutManifest(t, dir, tag)
	var m manifest
	readJSON(t, blobPath(dir, desc.Digest), &m)
	blobs := append([]descriptor{*m.Config}, m.Layers...)
	base := regURL(reg) + "/v2/" + repo
	for _, b := range blobs {
		resp := httpDo(t, ctx, http.MethodPost, base+"/blobs/uploads/", "", nil)
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusAccepted || loc == "" {
			t.Fatalf("POST %s/blobs/uploads/: status %d, Location %q", base, resp.StatusCode, loc)
		}
		if !strings.Contains(loc, "://") {
			loc = regURL(reg) + loc
		}
		sep := "?"
		if strings.Contains(loc, "?") {
			sep = "&"
		}
		data, err := os.ReadFile(blobPath(dir, b.Digest))
		if err != nil {
			t.Fatal(err)
		}
		resp = httpDo(t, ctx, http.MethodPut, loc+sep+"digest="+b.Digest, "application/octet-stream", data)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("PUT blob %s: status %d", b.Digest, resp.StatusCode)
		}
	}
	body, err := os.ReadFile(blobPath(dir, desc.Digest))
	if err != nil {
		t.Fatal(err)
	}
	resp := httpDo(t, ctx, http.MethodPut, base+"/manifests/"+tag, desc.MediaType, body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT manifest %s:%s: status %d", repo, tag, resp.StatusCode)
	}
	return desc.Digest
}

// httpDo sends a request with body and returns the response, its body
// already read and closed.
func httpDo(t *testing.T, ctx context.Context, method, url, contentType string, body []byte) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	setAuth(req)
	resp, err := httpClient().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Logf("%s %s: %d %s", method, url, resp.StatusCode, msg)
	}
	return resp
}

// setAuth adds Basic credentials to a request to the registry, if any.
func setAuth(req *http.Request) {
	if user, password := credentials(); user != "" {
		req.SetBasicAuth(user, password)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// The tests speak plain HTTP to the registry, or verified HTTPS when
// BERTH_TEST_REGISTRY_CA names the PEM file of the CA that signed the
// registry's certificate (scripts/test's tls step). Clients then trust it
// through SSL_CERT_FILE (see lookClient) with verification on; the helpers
// below give each client's flags for the mode.

// registryCA is the CA file of the registry's certificate, "" for plain HTTP.
func registryCA() string { return os.Getenv("BERTH_TEST_REGISTRY_CA") }

// regURL is the registry's base URL.
func regURL(reg string) string {
	if registryCA() != "" {
		return "https://" + reg
	}
	return "http://" + reg
}

// tlsVerify is skopeo's, podman's and buildah's --[prefix]tls-verify flag.
func tlsVerify(prefix string) string {
	return fmt.Sprintf("--%stls-verify=%t", prefix, registryCA() != "")
}

// craneInsecure is crane's --insecure in plain mode (a no-op flag with TLS:
// --insecure would also skip verification).
func craneInsecure() string {
	if registryCA() != "" {
		return "--verbose=false"
	}
	return "--insecure"
}

// plainHTTP is oras's and helm's --plain-http flag.
func plainHTTP() string { return fmt.Sprintf("--plain-http=%t", registryCA() == "") }

// regctlTLS is regctl's registry set --tls value.
func regctlTLS() string {
	if registryCA() != "" {
		return "enabled"
	}
	return "disabled"
}

// cosignInsecure are cosign's flags allowing a plain-HTTP registry.
func cosignInsecure() []string {
	on := registryCA() == ""
	return []string{fmt.Sprintf("--allow-http-registry=%t", on), fmt.Sprintf("--allow-insecure-registry=%t", on)}
}

// httpClient is the tests' own client: it trusts the registry's CA only.
func httpClient() *http.Client {
	ca := registryCA()
	if ca == "" {
		return http.DefaultClient
	}
	pool := x509.NewCertPool()
	if b, err := os.ReadFile(ca); err == nil {
		pool.AppendCertsFromPEM(b)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
}
