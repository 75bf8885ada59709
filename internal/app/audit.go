package app

import (
	"context"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/distapi"
	"github.com/berth-registry/berth/internal/meta"
)

// registryEvents turns distapi's events (push, pull, delete on /v2/) into
// audit entries naming the caller and the repository's project, written
// by the shared audit writer.
func registryEvents(rec audit.Recorder) func(ctx context.Context, e distapi.Event) {
	return func(ctx context.Context, e distapi.Event) {
		p := access.FromContext(ctx)
		user := p.Name
		if !p.Authenticated() {
			user = "anonymous"
		}
		resource := e.Repository + ":" + e.Reference
		if e.Kind == distapi.EventBlob || (e.Reference != "" && e.Reference == e.Digest) {
			resource = e.Repository + "@" + e.Reference
		}
		rec.RecordInProject(meta.AuditLog{Username: user, Operation: e.Operation, ResourceType: e.Kind, Resource: resource,
			ClientIP: e.ClientIP, Result: meta.AuditSuccess}, access.ProjectName(e.Repository))
	}
}

// tokenAudit lets the token service (which writes through an
// AddAuditLog-shaped interface) record through the shared writer.
type tokenAudit struct{ rec audit.Recorder }

// AddAuditLog queues a; it never fails.
func (t tokenAudit) AddAuditLog(_ context.Context, a meta.AuditLog) error {
	t.rec.Record(a)
	return nil
}
