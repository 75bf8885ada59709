// Package scantest builds what scanner tests need: an offline Trivy
// vulnerability database with planted advisories (written with Trivy's own
// trivy-db package, in the layout Trivy reads), and a small Alpine-style
// image whose package database lists the vulnerable package.
package scantest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aquasecurity/trivy-db/pkg/db"
	"github.com/aquasecurity/trivy-db/pkg/metadata"
	"github.com/aquasecurity/trivy-db/pkg/types"
	"github.com/aquasecurity/trivy-db/pkg/vulnsrc/vulnerability"
	bolt "go.etcd.io/bbolt"
)

// The planted vulnerability: package PkgName at PkgVersion in an Alpine
// AlpineRelease image, fixed in FixedVersion.
const (
	CVE           = "CVE-2099-4242"
	PkgName       = "berth-planted"
	PkgVersion    = "1.0.0-r0"
	FixedVersion  = "1.0.1-r0"
	AlpineRelease = "3.20.3"
)

// TrivyCache writes a Trivy cache directory holding a database with the
// planted CVE and returns its path (Trivy's --cache-dir).
func TrivyCache(t testing.TB) string {
	t.Helper()
	cache := t.TempDir()
	dir := filepath.Join(cache, "db")
	if err := db.Init(dir); err != nil {
		t.Fatalf("trivy db: %v", err)
	}
	dbc := db.Config{}
	bucket := "alpine 3.20"
	err := dbc.BatchUpdate(func(tx *bolt.Tx) error {
		if err := dbc.PutDataSource(tx, bucket, types.DataSource{ID: vulnerability.Alpine, Name: "Alpine Secdb (Berth test)", URL: "https://example.invalid/secdb"}); err != nil {
			return err
		}
		if err := dbc.PutAdvisory(tx, []string{bucket, PkgName}, CVE, types.Advisory{FixedVersion: FixedVersion}); err != nil {
			return err
		}
		return dbc.PutVulnerability(tx, CVE, types.Vulnerability{
			Title: "Planted by Berth's tests", Description: "A vulnerability that exists only in the test database.",
			VendorSeverity: types.VendorSeverity{vulnerability.Alpine: types.SeverityHigh, vulnerability.NVD: types.SeverityHigh},
			References:     []string{"https://example.invalid/" + CVE},
		})
	})
	if err != nil {
		t.Fatalf("trivy db: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if err := metadata.NewClient(dir).Update(metadata.Metadata{Version: db.SchemaVersion, NextUpdate: now.Add(24 * time.Hour),
		UpdatedAt: now, DownloadedAt: now}); err != nil {
		t.Fatal(err)
	}
	return cache
}

// Image is a one-layer OCI image: its config and layer (gzip tar) blobs
// and its manifest.
type Image struct {
	Config, Layer, Manifest []byte
}

// AlpineImage returns an image with /etc/alpine-release and an apk
// database listing the planted package (and a clean one).
func AlpineImage(t testing.TB) Image {
	t.Helper()
	installed := "P:musl\nV:1.2.5-r0\nA:x86_64\no:musl\n\n" +
		"P:" + PkgName + "\nV:" + PkgVersion + "\nA:x86_64\no:" + PkgName + "\nL:MIT\n\n"
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, f := range []struct{ name, body string }{
		{"etc/alpine-release", AlpineRelease + "\n"},
		{"etc/os-release", "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=" + AlpineRelease + "\n"},
		{"lib/apk/db/installed", installed},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg,
			ModTime: time.Unix(1700000000, 0)}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(f.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	layer := buf.Bytes()
	var raw bytes.Buffer // diff_id: the uncompressed tar's digest
	zr, err := gzip.NewReader(bytes.NewReader(layer))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.ReadFrom(zr); err != nil {
		t.Fatal(err)
	}
	cfg, err := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux", "created": "2026-12-01T00:00:00Z",
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{sha(raw.Bytes())}},
		"config": map[string]any{},
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(cfg), "size": len(cfg)},
		"layers": []map[string]any{{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(layer), "size": len(layer)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return Image{Config: cfg, Layer: layer, Manifest: m}
}

// WriteFile is os.WriteFile for tests.
func WriteFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func sha(b []byte) string {
	return digestOf(b)
}
