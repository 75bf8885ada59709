package s3_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"

	"github.com/berth-registry/berth/internal/storage"
	"github.com/berth-registry/berth/internal/storage/s3"
	"github.com/berth-registry/berth/internal/storage/storagetest"
	"github.com/berth-registry/berth/internal/testenv"
)

// testConfig returns the configuration of the S3 server named by env
// BERTH_TEST_S3, "http://ACCESS:SECRET@HOST:PORT/BUCKET" (what
// scripts/services/seaweedfs.sh start prints), with a root directory no
// other test uses and small part sizes so that modest objects cross part
// boundaries.
func testConfig(t *testing.T) s3.Config {
	t.Helper()
	raw := testenv.Require(t, "BERTH_TEST_S3")
	u, err := url.Parse(raw)
	if err != nil || u.User == nil || strings.Trim(u.Path, "/") == "" {
		t.Fatalf("BERTH_TEST_S3=%q: want http://ACCESS:SECRET@HOST:PORT/BUCKET", raw)
	}
	secret, _ := u.User.Password()
	c := s3.DefaultConfig()
	c.Region = "us-east-1"
	c.Bucket = strings.Trim(u.Path, "/")
	c.AccessKey = u.User.Username()
	c.SecretKey = secret
	c.RegionEndpoint = u.Scheme + "://" + u.Host
	c.ForcePathStyle = true
	c.ChunkSize = 5 << 20
	c.MultipartCopyThreshold = 5 << 20
	c.RootDirectory = "/berth-test/" + randomName(t) + "/"
	return c
}

func randomName(t *testing.T) string {
	b := make([]byte, 8)
	rand.Read(b)
	name := strings.NewReplacer("/", "-", " ", "_").Replace(t.Name())
	return name + "-" + hex.EncodeToString(b)
}

func mustNew(t *testing.T, c s3.Config) *s3.Driver {
	t.Helper()
	d, err := s3.New(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestConformance(t *testing.T) {
	testConfig(t) // skip (or fail under CI) before any subtest
	storagetest.Run(t, func(t *testing.T) (a, b storage.Driver) {
		c := testConfig(t)
		return mustNew(t, c), mustNew(t, c)
	})
}

func TestCheck(t *testing.T) {
	c := testConfig(t)
	if err := mustNew(t, c).Check(t.Context()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	tests := []struct {
		name   string
		modify func(*s3.Config)
		want   string
	}{
		{"missing bucket", func(c *s3.Config) { c.Bucket = "no-such-bucket-" + randomName(t)[:6] }, "does not exist"},
		{"wrong keys", func(c *s3.Config) { c.SecretKey = "wrong" }, "denied"},
		{"https against http", func(c *s3.Config) { c.RegionEndpoint = strings.Replace(c.RegionEndpoint, "http://", "https://", 1) }, "plain HTTP"},
		{"unreachable", func(c *s3.Config) { c.RegionEndpoint = "http://127.0.0.1:1" }, "cannot reach"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := c
			tt.modify(&c)
			err := mustNew(t, c).Check(t.Context())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Check() = %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

func TestRedirectURL(t *testing.T) {
	c := testConfig(t)
	d := mustNew(t, c)
	w, err := d.Writer(t.Context(), "blob", 0)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("redirected content"))
	if err := w.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	u, err := d.RedirectURL(t.Context(), "blob", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "redirected content" {
		t.Fatalf("GET presigned URL: %s %q", resp.Status, body)
	}

	c.DisableRedirect = true
	if _, err := mustNew(t, c).RedirectURL(t.Context(), "blob", time.Minute); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("RedirectURL with disableredirect: err = %v, want errors.ErrUnsupported", err)
	}
}

// TestUnreadableCABundle: this machine kind sets AWS_CA_BUNDLE; a bundle
// that cannot be read must not stop the driver (the SDK alone fails).
func TestCABundle(t *testing.T) {
	c := s3.DefaultConfig()
	c.Bucket = "b"
	c.RegionEndpoint = "http://127.0.0.1:9"
	for _, bundle := range []string{
		filepath.Join(t.TempDir(), "missing.pem"),
		os.DevNull, // readable, no certificate
		"/etc/ssl/certs/ca-certificates.crt",
	} {
		t.Run(bundle, func(t *testing.T) {
			t.Setenv("AWS_CA_BUNDLE", bundle)
			if _, err := s3.New(t.Context(), c); err != nil {
				t.Fatalf("New with AWS_CA_BUNDLE=%s: %v", bundle, err)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*s3.Config)
		want   []string // substrings of the error; nil for valid
	}{
		{"valid", func(c *s3.Config) {}, nil},
		{"everything wrong", func(c *s3.Config) {
			c.Bucket = ""
			c.AccessKey = "only"
			c.ChunkSize = 1 << 20
			c.RegionEndpoint = "ftp://x"
			c.KeyID = "k"
		}, []string{"bucket is required", "accesskey and secretkey", "chunksize", "regionendpoint", "keyid"}},
		{"rootdirectory dots", func(c *s3.Config) { c.RootDirectory = "/a/../b" }, []string{"rootdirectory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := s3.DefaultConfig()
			c.Bucket = "b"
			tt.modify(&c)
			err := c.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate() = nil")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v; missing %q", err, w)
				}
			}
		})
	}
}

// TestNoLeftovers checks the bucket itself: after pending writes end in
// Commit, Cancel, Delete or a restart, no state object and no multipart
// upload remains, and the committed objects sit at RootDirectory/<key>.
func TestNoLeftovers(t *testing.T) {
	c := testConfig(t)
	a, b := mustNew(t, c), mustNew(t, c)
	ctx := t.Context()
	chunk := make([]byte, 3<<20)
	pend := func(d *s3.Driver, key string, off int64, n int) storage.Writer {
		t.Helper()
		w, err := d.Writer(ctx, key, off)
		if err != nil {
			t.Fatal(err)
		}
		for range n {
			if _, err := w.Write(chunk); err != nil {
				t.Fatal(err)
			}
		}
		return w
	}
	closeW := func(w storage.Writer) {
		t.Helper()
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// Committed after a resume and a rewind, with an orphaned upload from a
	// writer that never closed.
	closeW(pend(a, "committed", 0, 3))
	closeW(pend(b, "committed", 9<<20, 3))
	pend(a, "committed", 9<<20, 4) // dies
	if err := pend(b, "committed", 9<<20, 1).Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// An upload created by a writer that died is orphaned, then aborted.
	closeW(pend(a, "orphan", 0, 1))
	pend(b, "orphan", 3<<20, 3) // dies after creating an upload
	if err := pend(a, "orphan", 3<<20, 0).Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// Cancelled.
	closeW(pend(a, "cancelled", 0, 4))
	if err := pend(b, "cancelled", 12<<20, 1).Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	// Deleted while pending.
	closeW(pend(a, "deleted", 0, 2))
	if err := b.Delete(ctx, "deleted"); err != nil {
		t.Fatal(err)
	}
	// Restarted, then committed empty.
	closeW(pend(a, "restarted", 0, 2))
	if err := pend(b, "restarted", 0, 0).Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// Restarted, then committed in parts (a new write's Commit cleans up
	// nothing more: the Writer that started it did).
	closeW(pend(a, "rewritten", 0, 3))
	if err := pend(b, "rewritten", 0, 5).Commit(ctx); err != nil {
		t.Fatal(err)
	}

	client := rawClient(t, c)
	root := strings.Trim(c.RootDirectory, "/") + "/"
	var keys []string
	p := awss3.NewListObjectsV2Paginator(client, &awss3.ListObjectsV2Input{Bucket: &c.Bucket, Prefix: &root})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			if !strings.HasSuffix(*o.Key, "/") {
				keys = append(keys, strings.TrimPrefix(*o.Key, root))
			}
		}
	}
	if diff := cmp.Diff([]string{"committed", "orphan", "restarted", "rewritten"}, keys); diff != "" {
		t.Errorf("objects in the bucket (-want +got):\n%s", diff)
	}
	uploads, err := client.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: &c.Bucket, Prefix: &root})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range uploads.Uploads {
		t.Errorf("multipart upload left: %s %s", *u.Key, *u.UploadId)
	}
	info, err := a.Stat(ctx, "committed")
	if err != nil || info.Size != 12<<20 {
		t.Fatalf("Stat(committed) = %+v, %v; want 12 MiB", info, err)
	}
	if info, err := a.Stat(ctx, "rewritten"); err != nil || info.Size != 15<<20 {
		t.Fatalf("Stat(rewritten) = %+v, %v; want 15 MiB", info, err)
	}
}

func rawClient(t *testing.T, c s3.Config) *awss3.Client {
	t.Helper()
	return awss3.New(awss3.Options{
		Region:       c.Region,
		BaseEndpoint: &c.RegionEndpoint,
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(c.AccessKey, c.SecretKey, ""),
	})
}

// TestCancelledWriterUploadsNoMorePart: the parts of a pending write are
// uploaded under the context the Writer was made with, so once a request
// is cancelled no further part reaches the store.
func TestCancelledWriterUploadsNoMorePart(t *testing.T) {
	c := testConfig(t)
	d := mustNew(t, c)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	w, err := d.Writer(ctx, "cancelled-request", 0)
	if err != nil {
		t.Fatal(err)
	}
	part := make([]byte, c.ChunkSize)
	if _, err := w.Write(part); err != nil { // uploads part 1
		t.Fatal(err)
	}
	cancel()
	for range 3 {
		if _, err = w.Write(part); err != nil {
			break
		}
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Write after cancel: err = %v, want context.Canceled", err)
	}
	client := rawClient(t, c)
	root := strings.Trim(c.RootDirectory, "/") + "/"
	uploads, err := client.ListMultipartUploads(t.Context(), &awss3.ListMultipartUploadsInput{Bucket: &c.Bucket, Prefix: &root})
	if err != nil {
		t.Fatal(err)
	}
	if len(uploads.Uploads) != 1 {
		t.Fatalf("%d multipart uploads, want 1", len(uploads.Uploads))
	}
	u := uploads.Uploads[0]
	parts, err := client.ListParts(t.Context(), &awss3.ListPartsInput{Bucket: &c.Bucket, Key: u.Key, UploadId: u.UploadId})
	if err != nil {
		t.Fatal(err)
	}
	if len(parts.Parts) != 1 {
		t.Errorf("%d parts uploaded, want 1 (none after the cancel)", len(parts.Parts))
	}
	if err := d.Delete(t.Context(), "cancelled-request"); err != nil {
		t.Fatal(err)
	}
}

// TestUploadsSignHeadersOnly: object and part uploads are signed without
// a hash of their body (the SDK would otherwise read every part once more
// to hash it), and what the store keeps is still what was written.
func TestUploadsSignHeadersOnly(t *testing.T) {
	c := testConfig(t)
	target, err := url.Parse(c.RegionEndpoint)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		hashes = map[string]int{} // X-Amz-Content-Sha256 of PUTs with a body -> count
	)
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.ContentLength > 0 {
			mu.Lock()
			hashes[r.Header.Get("X-Amz-Content-Sha256")]++
			mu.Unlock()
		}
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c.RegionEndpoint = srv.URL
	d := mustNew(t, c)
	ctx := t.Context()
	data := make([]byte, 12<<20) // three parts of 5 MiB at most
	rand.Read(data)
	for key, n := range map[string]int{"big": len(data), "small": 1000} {
		w, err := d.Writer(ctx, key, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data[:n]); err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		rc, err := d.Reader(ctx, key, 0)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, data[:n]) {
			t.Fatalf("%s: read back %d bytes (%v), want the %d written", key, len(got), err, n)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(map[string]int{"UNSIGNED-PAYLOAD": 4}, hashes); diff != "" {
		t.Errorf("X-Amz-Content-Sha256 of uploads, three parts and one object (-want +got):\n%s", diff)
	}
}
