package oci

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"library/ubuntu", true},
		{"a", true},
		{"a/b/c", true},
		{"a.b_c__d-e---f", true},
		{"conformance/repo1", true},
		{"", false},
		{"Upper", false},
		{"a/../b", false},
		{"..", false},
		{"a//b", false},
		{"/a", false},
		{"a/", false},
		{"a_", false},
		{"a___b", false},
		{"a..b", false},
		{"-a", false},
		{strings.Repeat("a", 256), false},
		{strings.Repeat("a", 255), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateName(tt.name)
			if tt.ok && err != nil {
				t.Fatalf("ValidateName(%q) = %v, want nil", tt.name, err)
			}
			if !tt.ok && !errors.Is(err, ErrNameInvalid) {
				t.Fatalf("ValidateName(%q) = %v, want ErrNameInvalid", tt.name, err)
			}
		})
	}
}

func TestValidateTag(t *testing.T) {
	for _, tag := range []string{"latest", "v1.0", "_x", "A-b.c_d", strings.Repeat("a", 128)} {
		if err := ValidateTag(tag); err != nil {
			t.Errorf("ValidateTag(%q) = %v", tag, err)
		}
	}
	for _, tag := range []string{"", ".x", "-x", "a/b", "a:b", strings.Repeat("a", 129)} {
		if err := ValidateTag(tag); !errors.Is(err, ErrTagInvalid) {
			t.Errorf("ValidateTag(%q) = %v, want ErrTagInvalid", tag, err)
		}
	}
}

func TestParseDigest(t *testing.T) {
	good := []string{
		digest.SHA256.FromString("x").String(),
		digest.SHA512.FromString("x").String(),
	}
	for _, s := range good {
		if _, err := ParseDigest(s); err != nil {
			t.Errorf("ParseDigest(%q) = %v", s, err)
		}
	}
	bad := []string{"", "sha256:", "sha256:abc", "md5:" + strings.Repeat("a", 32), "sha256:" + strings.Repeat("A", 64), "sha384:" + strings.Repeat("a", 96), "latest"}
	for _, s := range bad {
		if _, err := ParseDigest(s); !errors.Is(err, ErrDigestInvalid) {
			t.Errorf("ParseDigest(%q) = %v, want ErrDigestInvalid", s, err)
		}
	}
}

const (
	d1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	d2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

func TestParseManifest(t *testing.T) {
	tests := []struct {
		name, ct, body string
		wantErr        bool
		want           ParsedManifest
	}{
		{
			name: "oci image",
			ct:   MediaTypeImageManifest,
			body: `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + d1 + `","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"` + d2 + `","size":3}]}`,
			want: ParsedManifest{MediaType: MediaTypeImageManifest, ArtifactType: "application/vnd.oci.image.config.v1+json", Blobs: []digest.Digest{d1, d2}, BlobSizes: []int64{2, 3}},
		},
		{
			name: "artifact with subject",
			ct:   MediaTypeImageManifest,
			body: `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/x-sbom","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"` + d1 + `","size":2},"layers":[],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + d2 + `","size":9},"annotations":{"a":"b"}}`,
			want: ParsedManifest{MediaType: MediaTypeImageManifest, ArtifactType: "application/x-sbom", Blobs: []digest.Digest{d1}, BlobSizes: []int64{2}, Annotations: map[string]string{"a": "b"}},
		},
		{
			name: "docker list",
			ct:   MediaTypeDockerManifestList,
			body: `{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"` + d1 + `","size":5}]}`,
			want: ParsedManifest{MediaType: MediaTypeDockerManifestList, Manifests: []digest.Digest{d1}, ManifestSizes: []int64{5}},
		},
		{
			name: "foreign layer skipped",
			ct:   MediaTypeDockerManifest,
			body: `{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"` + d1 + `","size":2},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","digest":"` + d2 + `","size":3,"urls":["https://example.invalid/x"]}]}`,
			want: ParsedManifest{MediaType: MediaTypeDockerManifest, ArtifactType: "application/vnd.docker.container.image.v1+json", Blobs: []digest.Digest{d1}, BlobSizes: []int64{2}},
		},
		{name: "schema1 content type", ct: "application/vnd.docker.distribution.manifest.v1+prettyjws", body: `{}`, wantErr: true},
		{name: "schema1 body", ct: "", body: `{"schemaVersion":1,"fsLayers":[]}`, wantErr: true},
		{name: "malformed json", ct: MediaTypeImageManifest, body: `{"schemaVersion":2,`, wantErr: true},
		{name: "trailing data", ct: MediaTypeImageManifest, body: `{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"` + d1 + `","size":1}} {}`, wantErr: true},
		{name: "trailing brace", ct: MediaTypeImageManifest, body: `{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"` + d1 + `","size":1}} }`, wantErr: true},
		{name: "trailing bracket", ct: MediaTypeImageManifest, body: `{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"` + d1 + `","size":1}}]`, wantErr: true},
		{name: "trailing white space", ct: MediaTypeImageManifest, body: `{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"` + d1 + `","size":1}}` + " \n\t\r", want: ParsedManifest{MediaType: MediaTypeImageManifest, ArtifactType: "a/b", Blobs: []digest.Digest{d1}, BlobSizes: []int64{1}}},
		{name: "unknown media type", ct: "application/x-unknown", body: `{"schemaVersion":2,"mediaType":"application/x-unknown"}`, wantErr: true},
		{name: "content type mismatch", ct: MediaTypeImageIndex, body: `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"a/b","digest":"` + d1 + `","size":1}}`, wantErr: true},
		{name: "missing config", ct: MediaTypeImageManifest, body: `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}`, wantErr: true},
		{name: "bad layer digest", ct: MediaTypeImageManifest, body: `{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"` + d1 + `","size":1},"layers":[{"mediaType":"a/b","digest":"sha256:zz","size":1}]}`, wantErr: true},
		{name: "negative size", ct: MediaTypeImageManifest, body: `{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"` + d1 + `","size":-1}}`, wantErr: true},
		{name: "no schema version", ct: MediaTypeImageManifest, body: `{"config":{"mediaType":"a/b","digest":"` + d1 + `","size":1}}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseManifest(tt.ct, []byte(tt.body))
			if tt.wantErr {
				if !errors.Is(err, ErrManifestInvalid) {
					t.Fatalf("err = %v, want ErrManifestInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.Config, got.Subject = nil, nil
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseManifest (-want +got):\n%s", diff)
			}
		})
	}
}
