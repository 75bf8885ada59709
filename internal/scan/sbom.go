package scan

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
)

// SBOM media types and the adapter spec's SBOM report MIME type.
const (
	MimeSBOMReport = "application/vnd.security.sbom.report+json; version=1.0"
	MediaCycloneDX = "application/vnd.cyclonedx+json"
	// SBOMAnnotation marks the SBOM referrers Berth made.
	SBOMAnnotation = "org.berth.sbom.generator"
)

// Attacher stores an SBOM as an OCI referrer of an image: a blob and a
// manifest whose subject is the image (internal/app adapts content and
// registry).
type Attacher interface {
	PutBlob(ctx context.Context, repo string, d digest.Digest, body io.Reader, length int64) (meta.Blob, error)
	PutManifest(ctx context.Context, repo, mediaType string, payload []byte) (digest.Digest, error)
	// Subject returns the media type and size of manifest d of repo.
	Subject(ctx context.Context, repo string, d digest.Digest) (string, int64, error)
}

// SetAttacher turns SBOM generation on: each successful scan also asks
// the scanner for a CycloneDX SBOM and stores it as a referrer.
func (s *Service) SetAttacher(a Attacher) { s.attach = a }

// sbom asks the scanner for the SBOM of scan id and attaches it to
// r.Repository@r.Digest; it returns the referrer's digest.
func (s *Service) sbom(ctx context.Context, sc meta.Scanner, r meta.ScanReport, id string) (digest.Digest, error) {
	req, err := newRequest(ctx, sc, http.MethodGet, "/api/v1/scan/"+url.PathEscape(id)+"/report?sbom_media_type="+url.QueryEscape(MediaCycloneDX), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", MimeSBOMReport)
	resp, err := client(sc).Do(req)
	if err != nil {
		return "", fmt.Errorf("scanner SBOM: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("scanner SBOM: %s: %.300s", resp.Status, b)
	}
	var rep struct {
		MediaType string          `json:"media_type"`
		SBOM      json.RawMessage `json:"sbom"`
	}
	if err := json.Unmarshal(b, &rep); err != nil || len(rep.SBOM) == 0 {
		return "", fmt.Errorf("scanner SBOM report: %v", err)
	}
	subjectType, subjectSize, err := s.attach.Subject(ctx, r.Repository, r.Digest)
	if err != nil {
		return "", err
	}
	doc := []byte(rep.SBOM)
	bd := digest.FromBytes(doc)
	if _, err := s.attach.PutBlob(ctx, r.Repository, bd, bytes.NewReader(doc), int64(len(doc))); err != nil {
		return "", err
	}
	empty := []byte("{}")
	ed := digest.FromBytes(empty)
	if _, err := s.attach.PutBlob(ctx, r.Repository, ed, bytes.NewReader(empty), int64(len(empty))); err != nil {
		return "", err
	}
	m, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"artifactType":  MediaCycloneDX,
		"config":        map[string]any{"mediaType": "application/vnd.oci.empty.v1+json", "digest": ed, "size": len(empty)},
		"layers": []map[string]any{{"mediaType": MediaCycloneDX, "digest": bd, "size": len(doc),
			"annotations": map[string]string{"org.opencontainers.image.title": "sbom.cdx.json"}}},
		"subject":     map[string]any{"mediaType": subjectType, "digest": r.Digest, "size": subjectSize},
		"annotations": map[string]string{SBOMAnnotation: sc.Name, "org.opencontainers.image.created": r.StartTime.UTC().Format("2006-01-02T15:04:05Z")},
	})
	if err != nil {
		return "", err
	}
	return s.attach.PutManifest(ctx, r.Repository, "application/vnd.oci.image.manifest.v1+json", m)
}
