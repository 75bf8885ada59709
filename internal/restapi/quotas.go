package restapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
)

// quotaStore is meta.Quotas as /quotas uses it.
type quotaStore interface {
	ListQuotas(ctx context.Context, pg meta.Page) ([]meta.Quota, int, error)
	GetQuota(ctx context.Context, id int64) (meta.Quota, error)
	ProjectQuota(ctx context.Context, pid int64) (meta.Quota, error)
	ProjectUsage(ctx context.Context, pid int64) (meta.Usage, error)
	SetLimit(ctx context.Context, pid, limit int64) error
	PhysicalBytes(ctx context.Context) (bytes int64, blobs int, err error)
}

func (a *API) quotaRoutes(mux *http.ServeMux) {
	a.handle(mux, "GET "+Prefix+"/quotas", a.listQuotas)
	a.handle(mux, "GET "+Prefix+"/quotas/{id}", a.getQuota)
	a.handle(mux, "PUT "+Prefix+"/quotas/{id}", a.putQuota)
}

type resourceList struct {
	Storage int64 `json:"storage"`
}

type quotaJSON struct {
	ID           int64          `json:"id"`
	Ref          map[string]any `json:"ref"`
	Hard         resourceList   `json:"hard"`
	Used         resourceList   `json:"used"`
	CreationTime time.Time      `json:"creation_time"`
	UpdateTime   time.Time      `json:"update_time"`
	// PendingGC (a Berth addition) is what the project holds that nothing
	// references any more: garbage collection frees it after its grace.
	PendingGC *resourceList `json:"pending_gc,omitempty"`
	// Physical (a Berth addition) is what the whole registry stores, each
	// blob once however many projects hold it: the deduplicated bytes
	// beside which the projects' "used" add up.
	Physical *resourceList `json:"physical,omitempty"`
}

// withUsage adds pending_gc and physical to out.
func withUsage(ctx context.Context, qs quotaStore, pid int64, out *quotaJSON) error {
	u, err := qs.ProjectUsage(ctx, pid)
	if err != nil {
		return err
	}
	phys, _, err := qs.PhysicalBytes(ctx)
	if err != nil {
		return err
	}
	out.PendingGC, out.Physical = &resourceList{u.PendingGC}, &resourceList{phys}
	return nil
}

func quotaOut(q meta.Quota) quotaJSON {
	return quotaJSON{ID: q.ID,
		Ref:  map[string]any{"id": q.ProjectID, "name": q.ProjectName, "owner_name": q.OwnerName},
		Hard: resourceList{q.Limit}, Used: resourceList{q.Used}, CreationTime: q.CreatedAt, UpdateTime: q.UpdatedAt}
}

func (a *API) quotas() (quotaStore, error) {
	if a.d.Quotas == nil {
		return nil, newError(codeUnavailable, http.StatusServiceUnavailable, "quotas are not available")
	}
	return a.d.Quotas, nil
}

// listQuotas is GET /quotas (system administrators), optionally
// reference=project&reference_id=<id>.
func (a *API) listQuotas(w http.ResponseWriter, r *http.Request) error {
	if err := requireSystem(r, access.ResourceQuota, access.ActionList); err != nil {
		return err
	}
	qs, err := a.quotas()
	if err != nil {
		return err
	}
	p, err := parsePaging(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if ref := q.Get("reference"); ref != "" && ref != "project" {
		return errBadRequest("reference must be project")
	}
	if v := q.Get("reference_id"); v != "" {
		pid, err := strconv.ParseInt(v, 10, 64)
		if err != nil || pid < 1 {
			return errBadRequest("reference_id must be a positive integer")
		}
		one, err := qs.ProjectUsage(r.Context(), pid)
		if errors.Is(err, meta.ErrProjectNotFound) {
			setPagingHeaders(w, r, p, 0)
			return writeJSON(w, http.StatusOK, []quotaJSON{})
		}
		if err != nil {
			return err
		}
		out := quotaOut(one.Quota)
		if err := withUsage(r.Context(), qs, pid, &out); err != nil {
			return err
		}
		setPagingHeaders(w, r, p, 1)
		return writeJSON(w, http.StatusOK, []quotaJSON{out})
	}
	list, total, err := qs.ListQuotas(r.Context(), p.meta())
	if err != nil {
		return err
	}
	out := make([]quotaJSON, len(list))
	for i, q := range list {
		out[i] = quotaOut(q)
		if err := withUsage(r.Context(), qs, q.ProjectID, &out[i]); err != nil {
			return err
		}
	}
	setPagingHeaders(w, r, p, total)
	return writeJSON(w, http.StatusOK, out)
}

func (a *API) quotaByID(r *http.Request, act access.Action) (quotaStore, meta.Quota, error) {
	if err := requireSystem(r, access.ResourceQuota, act); err != nil {
		return nil, meta.Quota{}, err
	}
	qs, err := a.quotas()
	if err != nil {
		return nil, meta.Quota{}, err
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return nil, meta.Quota{}, errBadRequest("id must be a positive integer")
	}
	q, err := qs.GetQuota(r.Context(), id)
	if errors.Is(err, meta.ErrQuotaNotFound) {
		return nil, meta.Quota{}, newError(codeNotFound, http.StatusNotFound, "quota %d not found", id)
	}
	return qs, q, err
}

// getQuota is GET /quotas/{id}, with the bytes pending GC.
func (a *API) getQuota(w http.ResponseWriter, r *http.Request) error {
	qs, q, err := a.quotaByID(r, access.ActionRead)
	if err != nil {
		return err
	}
	out := quotaOut(q)
	if err := withUsage(r.Context(), qs, q.ProjectID, &out); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

// putQuota is PUT /quotas/{id} {"hard":{"storage":N}}: N bytes, -1 for
// no limit.
func (a *API) putQuota(w http.ResponseWriter, r *http.Request) error {
	qs, q, err := a.quotaByID(r, access.ActionUpdate)
	if err != nil {
		return err
	}
	var req struct {
		Hard *struct {
			Storage *int64 `json:"storage"`
		} `json:"hard"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Hard == nil || req.Hard.Storage == nil {
		return errBadRequest("hard.storage is required")
	}
	if err := validLimit(*req.Hard.Storage); err != nil {
		return err
	}
	if err := qs.SetLimit(r.Context(), q.ProjectID, *req.Hard.Storage); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func validLimit(n int64) error {
	if n < -1 || n == 0 {
		return errBadRequest("storage limit must be -1 (unlimited) or a positive number of bytes, got %d", n)
	}
	return nil
}
