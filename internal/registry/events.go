package registry

import (
	"context"
	"encoding/json"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
)

// Event types the registry writes to the outbox (internal/events names
// them all; these are Harbor's names).
const (
	eventPush   = "PUSH_ARTIFACT"
	eventDelete = "DELETE_ARTIFACT"
)

// appendEvent writes an outbox event about manifest m of repo in tx, as
// the transaction's last statement (meta.Events.Append). The operator is
// the request's principal.
func appendEvent(ctx context.Context, tx *meta.Store, typ, repo string, d digest.Digest, mediaType string, size int64, tags []string, extra ...meta.Manifest) error {
	e := meta.Event{
		Type: typ, Repository: repo, Digest: d, MediaType: mediaType, Size: size, Tags: tags,
		Operator: access.FromContext(ctx).Name,
	}
	// A referrer (signature, SBOM...) says so: subscribers such as scan on
	// push skip it.
	if len(extra) > 0 && (extra[0].Subject != "" || extra[0].ArtifactType != "") {
		e.Detail, _ = json.Marshal(map[string]string{"artifact_type": extra[0].ArtifactType, "subject": extra[0].Subject.String()})
	}
	_, err := tx.Events.Append(ctx, e)
	return err
}
