package registry

import (
	"context"
	"encoding/json"
	"errors"

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
	if len(extra) > 0 && (extra[0].Subject != "" || isArtifactType(extra[0].ArtifactType)) {
		e.Detail, _ = json.Marshal(map[string]string{"artifact_type": extra[0].ArtifactType, "subject": extra[0].Subject.String()})
	}
	_, err := tx.Events.Append(ctx, e)
	return err
}

// quotaEvent writes QUOTA_EXCEED when err says a push went over its
// project's quota (meta.Quotas.RecordQuotaRefusal: once per crossing, in
// a transaction of its own since the push rolled back); a failure to
// write it is only logged.
func (s *Service) quotaEvent(ctx context.Context, repo string, d digest.Digest, err error) {
	if !errors.Is(err, meta.ErrQuotaExceeded) {
		return
	}
	if err := s.store.Tx.InTx(ctx, func(tx *meta.Store) error {
		return tx.Quotas.RecordQuotaRefusal(ctx, err, repo, d, access.FromContext(ctx).Name)
	}); err != nil {
		s.log.WarnContext(ctx, "could not record a quota event", "repository", repo, "err", err)
	}
}

// isArtifactType reports whether t names an artifact other than a
// container image: an image's artifact type is its config's media type
// (the OCI fallback), which says nothing more.
func isArtifactType(t string) bool {
	switch t {
	case "", "application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json":
		return false
	}
	return true
}
