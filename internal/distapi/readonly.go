package distapi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/berth-registry/berth/internal/settings"
)

// readOnlyMode is settings.Service as the API uses it: whether the
// read_only setting is on.
type readOnlyMode interface {
	ReadOnly(ctx context.Context) (bool, error)
}

// checkWritable refuses a request that would change something (any method
// but GET, HEAD and OPTIONS: pushes, uploads, deletes) while read_only is
// on, with Harbor's answer, 403 DENIED "The system is in read only mode.
// Any modification is prohibited.". It runs before authentication, as
// Harbor's read-only check does, so every caller gets the same answer.
// Pulls go on.
func (a *API) checkWritable(r *http.Request) error {
	if a.opts.ReadOnly == nil {
		return nil
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	on, err := a.opts.ReadOnly.ReadOnly(r.Context())
	if err != nil {
		return fmt.Errorf("read-only setting: %w", err)
	}
	if on {
		return newError("DENIED", http.StatusForbidden, "%s", settings.ReadOnlyMessage)
	}
	return nil
}
