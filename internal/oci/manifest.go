package oci

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Manifest media types Berth stores.
const (
	MediaTypeImageManifest      = v1.MediaTypeImageManifest
	MediaTypeImageIndex         = v1.MediaTypeImageIndex
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeEmptyJSON          = v1.MediaTypeEmptyJSON

	mediaTypeDockerSchema1       = "application/vnd.docker.distribution.manifest.v1+json"
	mediaTypeDockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"
	mediaTypeDockerForeignLayer  = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
)

// MaxManifestSize bounds a manifest payload (4 MiB, as the spec suggests).
const MaxManifestSize = 4 << 20

// ErrManifestInvalid is wrapped by every manifest parsing error.
var ErrManifestInvalid = errors.New("manifest invalid")

// IsIndex reports whether mediaType is an OCI index or a Docker manifest list.
func IsIndex(mediaType string) bool {
	return mediaType == MediaTypeImageIndex || mediaType == MediaTypeDockerManifestList
}

// ParsedManifest is what Berth needs to know about a manifest to store it.
type ParsedManifest struct {
	MediaType    string
	ArtifactType string
	Config       *v1.Descriptor
	// Blobs are the config and layer digests that must exist in the
	// repository (foreign layers excluded).
	Blobs []digest.Digest
	// BlobSizes[i] is the size the descriptor of Blobs[i] declares.
	BlobSizes []int64
	// Manifests are child manifests of an index that must exist in the repository.
	Manifests []digest.Digest
	// ManifestSizes[i] is the size the descriptor of Manifests[i] declares.
	ManifestSizes []int64
	Subject       *v1.Descriptor
	Annotations   map[string]string
}

// manifestFields is the union of the fields of every accepted manifest type.
type manifestFields struct {
	SchemaVersion *int              `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        *v1.Descriptor    `json:"config"`
	Layers        []v1.Descriptor   `json:"layers"`
	Manifests     []v1.Descriptor   `json:"manifests"`
	Subject       *v1.Descriptor    `json:"subject"`
	Annotations   map[string]string `json:"annotations"`
	// FSLayers and Signatures only appear in Docker schema1.
	FSLayers   json.RawMessage `json:"fsLayers"`
	Signatures json.RawMessage `json:"signatures"`
}

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrManifestInvalid}, a...)...)
}

// ParseManifest parses payload pushed with Content-Type contentType (which
// may be empty) and checks it is a manifest type Berth stores: OCI image
// manifest or index, Docker schema2 manifest or manifest list. Docker
// schema1 is refused with a message that says so.
func ParseManifest(contentType string, payload []byte) (ParsedManifest, error) {
	ct := contentType
	if ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err == nil {
			ct = mt
		}
	}
	if ct == mediaTypeDockerSchema1 || ct == mediaTypeDockerSchema1Signed {
		return ParsedManifest{}, invalid("Docker schema1 manifests are not supported; push with a current client (schema2 or OCI)")
	}
	var f manifestFields
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&f); err != nil {
		// encoding/json quotes a number it cannot store in full: bound it.
		return ParsedManifest{}, invalid("not valid JSON: %s", truncate(err.Error(), 200))
	}
	// Only white space may follow the document. (dec.More is not enough:
	// it reports false before a stray '}' or ']'.)
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return ParsedManifest{}, invalid("trailing data after the JSON document")
	}
	if err := checkKeys(payload); err != nil {
		return ParsedManifest{}, err
	}
	if f.SchemaVersion == nil {
		return ParsedManifest{}, invalid("schemaVersion is missing")
	}
	if *f.SchemaVersion == 1 || f.FSLayers != nil || f.Signatures != nil {
		return ParsedManifest{}, invalid("Docker schema1 manifests are not supported; push with a current client (schema2 or OCI)")
	}
	if *f.SchemaVersion != 2 {
		return ParsedManifest{}, invalid("schemaVersion %d is not supported (want 2)", *f.SchemaVersion)
	}

	mt := f.MediaType
	switch {
	case mt == "" && ct != "" && ct != "application/octet-stream" && ct != "application/json":
		mt = ct
	case mt == "" && f.Manifests != nil:
		mt = MediaTypeImageIndex
	case mt == "" && f.Config != nil:
		mt = MediaTypeImageManifest
	}
	if ct != "" && ct != "application/octet-stream" && ct != "application/json" && f.MediaType != "" && ct != f.MediaType {
		return ParsedManifest{}, invalid("Content-Type %q does not match the manifest's mediaType %q", truncate(ct, 100), truncate(f.MediaType, 100))
	}

	p := ParsedManifest{MediaType: mt, ArtifactType: f.ArtifactType, Subject: f.Subject, Annotations: f.Annotations}
	if f.Subject != nil {
		if err := checkDescriptor("subject", *f.Subject); err != nil {
			return ParsedManifest{}, err
		}
	}
	switch mt {
	case MediaTypeImageManifest, MediaTypeDockerManifest:
		if f.Manifests != nil {
			return ParsedManifest{}, invalid("an image manifest cannot have manifests")
		}
		if f.Config == nil {
			return ParsedManifest{}, invalid("config is missing")
		}
		if err := checkDescriptor("config", *f.Config); err != nil {
			return ParsedManifest{}, err
		}
		if mt == MediaTypeDockerManifest && f.ArtifactType != "" {
			return ParsedManifest{}, invalid("artifactType is not allowed in a Docker manifest")
		}
		p.Config = f.Config
		p.Blobs = append(p.Blobs, f.Config.Digest)
		p.BlobSizes = append(p.BlobSizes, f.Config.Size)
		for i, l := range f.Layers {
			if err := checkDescriptor(fmt.Sprintf("layers[%d]", i), l); err != nil {
				return ParsedManifest{}, err
			}
			if l.MediaType == mediaTypeDockerForeignLayer || len(l.URLs) > 0 {
				continue // foreign layers live elsewhere
			}
			p.Blobs = append(p.Blobs, l.Digest)
			p.BlobSizes = append(p.BlobSizes, l.Size)
		}
		if p.ArtifactType == "" {
			// The referrers API reports the config media type when a
			// manifest has no artifactType (image-spec 1.1).
			p.ArtifactType = f.Config.MediaType
		}
	case MediaTypeImageIndex, MediaTypeDockerManifestList:
		if f.Config != nil || f.Layers != nil {
			return ParsedManifest{}, invalid("an index cannot have config or layers")
		}
		if mt == MediaTypeDockerManifestList && f.ArtifactType != "" {
			return ParsedManifest{}, invalid("artifactType is not allowed in a Docker manifest list")
		}
		for i, m := range f.Manifests {
			if err := checkDescriptor(fmt.Sprintf("manifests[%d]", i), m); err != nil {
				return ParsedManifest{}, err
			}
			p.Manifests = append(p.Manifests, m.Digest)
			p.ManifestSizes = append(p.ManifestSizes, m.Size)
		}
	case "":
		return ParsedManifest{}, invalid("mediaType is missing and cannot be inferred")
	default:
		return ParsedManifest{}, invalid("media type %q is not a supported manifest type (OCI image manifest or index, Docker schema2 manifest or manifest list)", truncate(mt, 100))
	}
	return p, nil
}

func checkDescriptor(field string, d v1.Descriptor) error {
	if _, err := ParseDigest(d.Digest.String()); err != nil {
		return invalid("%s: %v", field, err)
	}
	if d.Size < 0 {
		return invalid("%s: negative size", field)
	}
	if d.MediaType == "" {
		return invalid("%s: mediaType is missing", field)
	}
	return nil
}
