package restapi

import (
	"context"
	"net/http"
	"strconv"

	"github.com/berth-registry/berth/internal/meta"
)

// untaggedStore is meta.Untagged as the project metadata endpoints use
// it: Berth's project metadata key auto_delete_untagged ("true": untagged
// manifests older than the GC grace period are deleted).
type untaggedStore interface {
	SetCollectUntagged(ctx context.Context, pid int64, on bool) error
	CollectsUntagged(ctx context.Context, pid int64) (bool, error)
}

// metaAutoDeleteUntagged is the project metadata key (a Berth addition).
const metaAutoDeleteUntagged = "auto_delete_untagged"

// untaggedMetadata adds auto_delete_untagged to md when the store is
// there.
func (a *API) untaggedMetadata(ctx context.Context, proj meta.Project, md map[string]string) error {
	if a.d.Untagged == nil {
		return nil
	}
	on, err := a.d.Untagged.CollectsUntagged(ctx, proj.ID)
	if err != nil {
		return err
	}
	md[metaAutoDeleteUntagged] = strconv.FormatBool(on)
	return nil
}

// getUntaggedMetadata answers GET .../metadatas/auto_delete_untagged.
func (a *API) getUntaggedMetadata(w http.ResponseWriter, r *http.Request, proj meta.Project) error {
	md := map[string]string{}
	if err := a.untaggedMetadata(r.Context(), proj, md); err != nil {
		return err
	}
	if len(md) == 0 {
		return errNotFound("project metadata %q is not available", metaAutoDeleteUntagged)
	}
	return writeJSON(w, http.StatusOK, md)
}

// putUntaggedMetadata answers PUT .../metadatas/auto_delete_untagged with
// {"auto_delete_untagged":"true"} or "false".
func (a *API) putUntaggedMetadata(w http.ResponseWriter, r *http.Request, proj meta.Project) error {
	if a.d.Untagged == nil {
		return errNotFound("project metadata %q is not available", metaAutoDeleteUntagged)
	}
	var body map[string]string
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	v, ok := body[metaAutoDeleteUntagged]
	if !ok || len(body) != 1 {
		return errBadRequest(`want {"auto_delete_untagged":"true"} or {"auto_delete_untagged":"false"}`)
	}
	on, err := strconv.ParseBool(v)
	if err != nil {
		return errBadRequest(`auto_delete_untagged must be "true" or "false", got %q`, truncate(v, 20))
	}
	if err := a.d.Untagged.SetCollectUntagged(r.Context(), proj.ID, on); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
