package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/testenv"
)

// s3Config points cfg at the S3 server in BERTH_TEST_S3
// (http://KEY:SECRET@host:port/bucket) under a fresh root directory.
func s3Config(t *testing.T, cfg config.Config, disableRedirect bool) config.Config {
	t.Helper()
	u, err := url.Parse(testenv.Require(t, "BERTH_TEST_S3"))
	if err != nil {
		t.Fatalf("BERTH_TEST_S3: %v", err)
	}
	secret, _ := u.User.Password()
	var b [6]byte
	_, _ = rand.Read(b[:])
	cfg.Storage.Type = "s3"
	cfg.Storage.S3.RegionEndpoint = u.Scheme + "://" + u.Host
	cfg.Storage.S3.Bucket = strings.Trim(u.Path, "/")
	cfg.Storage.S3.AccessKey = u.User.Username()
	cfg.Storage.S3.SecretKey = secret
	cfg.Storage.S3.Region = "us-east-1"
	cfg.Storage.S3.ForcePathStyle = true
	cfg.Storage.S3.RootDirectory = "app-test-" + hex.EncodeToString(b[:])
	cfg.Storage.S3.DisableRedirect = disableRedirect
	return cfg
}

// TestS3BlobDelivery: with disableredirect false a blob GET answers 307 to
// a presigned URL that serves the blob; with true Berth streams it itself.
func TestS3BlobDelivery(t *testing.T) {
	for _, tt := range []struct {
		name            string
		disableRedirect bool
		wantStatus      int
	}{
		{"redirect", false, http.StatusTemporaryRedirect},
		{"stream", true, http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := s3Config(t, testConfig(t), tt.disableRedirect)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			addr, _ := startServe(t, ctx, cfg)
			base := "http://" + addr + "/v2/library/s3-" + tt.name

			blob := bytes.Repeat([]byte("berth on s3 "), 1000)
			d := digest.FromBytes(blob)
			req, _ := http.NewRequest(http.MethodPost, base+"/blobs/uploads/?digest="+d.String(), bytes.NewReader(blob))
			req.SetBasicAuth("admin", testAdminPassword)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusCreated {
				t.Fatalf("push: %d", res.StatusCode)
			}

			noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			req, _ = http.NewRequest(http.MethodGet, base+"/blobs/"+d.String(), nil)
			req.SetBasicAuth("admin", testAdminPassword)
			res, err = noFollow.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("GET blob = %d, want %d", res.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus == http.StatusTemporaryRedirect {
				loc := res.Header.Get("Location")
				if !strings.Contains(loc, "X-Amz-Signature") {
					t.Fatalf("Location %q is not a presigned URL", loc)
				}
				// The client follows the redirect without Berth's credentials.
				res, err = http.Get(loc)
				if err != nil {
					t.Fatal(err)
				}
				body, _ = io.ReadAll(res.Body)
				res.Body.Close()
			}
			if !bytes.Equal(body, blob) {
				t.Fatalf("blob differs: %d bytes, want %d", len(body), len(blob))
			}
		})
	}
}
