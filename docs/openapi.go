// Package docs embeds the documents the server itself serves: Berth's
// OpenAPI description of /api/v2.0/ (openapi.yaml).
package docs

import (
	"bytes"
	_ "embed"
)

//go:embed openapi.yaml
var openAPI []byte

// OpenAPI returns a copy of docs/openapi.yaml.
func OpenAPI() []byte { return bytes.Clone(openAPI) }
