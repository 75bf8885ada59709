package restapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/replication"
)

// ReplicationService is what /registries and /replication use
// (*replication.Service).
type ReplicationService interface {
	CreateRegistry(ctx context.Context, r replication.Registry) (replication.Registry, error)
	GetRegistry(ctx context.Context, id int64) (replication.Registry, error)
	ListRegistries(ctx context.Context, nameLike string, pg meta.Page) ([]replication.Registry, int, error)
	UpdateRegistry(ctx context.Context, id int64, patch func(*replication.Registry)) (replication.Registry, error)
	DeleteRegistry(ctx context.Context, id int64) error
	Ping(ctx context.Context, id int64, r replication.Registry) error
	Info(ctx context.Context, id int64) (replication.Info, error)

	CreatePolicy(ctx context.Context, p replication.Policy) (replication.Policy, error)
	GetPolicy(ctx context.Context, id int64) (replication.Policy, error)
	ListPolicies(ctx context.Context, nameLike string, pg meta.Page) ([]replication.Policy, int, error)
	UpdatePolicy(ctx context.Context, id int64, p replication.Policy) (replication.Policy, error)
	DeletePolicy(ctx context.Context, id int64) error

	Execute(ctx context.Context, policyID int64, trigger string) (meta.ReplicationExecution, error)
	Stop(ctx context.Context, id int64) error
	GetExecution(ctx context.Context, id int64) (meta.ReplicationExecution, error)
	ListExecutions(ctx context.Context, policyID int64, status string, pg meta.Page) ([]meta.ReplicationExecution, int, error)
	ListTasks(ctx context.Context, executionID int64, status string, pg meta.Page) ([]meta.ReplicationTask, int, error)
	GetTask(ctx context.Context, executionID, id int64) (meta.ReplicationTask, error)

	SetProxyProject(ctx context.Context, projectID, registryID int64) error
}

// Harbor's RBAC resources for registries and replication: system level,
// system administrators only.
const (
	resourceRegistry    access.Resource = "registry"
	resourceReplication access.Resource = "replication"
)

func (a *API) replicationRoutes(mux *http.ServeMux) {
	a.handle(mux, "GET "+Prefix+"/registries", a.listRegistries)
	a.handle(mux, "POST "+Prefix+"/registries", a.createRegistry)
	a.handle(mux, "POST "+Prefix+"/registries/ping", a.pingRegistry)
	a.handle(mux, "GET "+Prefix+"/registries/{id}", a.getRegistry)
	a.handle(mux, "PUT "+Prefix+"/registries/{id}", a.updateRegistry)
	a.handle(mux, "DELETE "+Prefix+"/registries/{id}", a.deleteRegistry)
	a.handle(mux, "GET "+Prefix+"/registries/{id}/info", a.registryInfo)

	a.handle(mux, "GET "+Prefix+"/replication/policies", a.listPolicies)
	a.handle(mux, "POST "+Prefix+"/replication/policies", a.createPolicy)
	a.handle(mux, "GET "+Prefix+"/replication/policies/{id}", a.getPolicy)
	a.handle(mux, "PUT "+Prefix+"/replication/policies/{id}", a.updatePolicy)
	a.handle(mux, "DELETE "+Prefix+"/replication/policies/{id}", a.deletePolicy)

	a.handle(mux, "GET "+Prefix+"/replication/executions", a.listExecutions)
	a.handle(mux, "POST "+Prefix+"/replication/executions", a.startExecution)
	a.handle(mux, "GET "+Prefix+"/replication/executions/{id}", a.getExecution)
	a.handle(mux, "PUT "+Prefix+"/replication/executions/{id}", a.stopExecution)
	a.handle(mux, "GET "+Prefix+"/replication/executions/{id}/tasks", a.listTasks)
	a.handle(mux, "GET "+Prefix+"/replication/executions/{id}/tasks/{task_id}/log", a.taskLog)
}

func (a *API) replication(r *http.Request, res access.Resource, act access.Action) (ReplicationService, error) {
	if err := requireSystem(r, res, act); err != nil {
		return nil, err
	}
	if a.d.Replication == nil {
		return nil, newError(codeUnavailable, http.StatusServiceUnavailable, "replication is not available")
	}
	return a.d.Replication, nil
}

func pathID(r *http.Request, key string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(key), 10, 64)
	if err != nil || id < 1 {
		return 0, errBadRequest("%s must be a positive integer", key)
	}
	return id, nil
}

// registryCredential is Harbor's RegistryCredential. The secret is
// accepted, never returned.
type registryCredential struct {
	Type         string `json:"type"`
	AccessKey    string `json:"access_key"`
	AccessSecret string `json:"access_secret,omitempty"`
}

type registryJSON struct {
	ID            int64              `json:"id"`
	URL           string             `json:"url"`
	Name          string             `json:"name"`
	Credential    registryCredential `json:"credential"`
	Type          string             `json:"type"`
	Insecure      bool               `json:"insecure"`
	CACertificate string             `json:"ca_certificate,omitempty"`
	Description   string             `json:"description"`
	Status        string             `json:"status"`
	CreationTime  time.Time          `json:"creation_time"`
	UpdateTime    time.Time          `json:"update_time"`
}

func toRegistryJSON(r replication.Registry) registryJSON {
	return registryJSON{ID: r.ID, URL: r.URL, Name: r.Name, Type: r.Type, Insecure: r.Insecure, CACertificate: r.CABundle,
		Description: r.Description, Status: r.Status, CreationTime: r.CreatedAt, UpdateTime: r.UpdatedAt,
		Credential: registryCredential{Type: r.Credential.Type, AccessKey: r.Credential.AccessKey}}
}

func (a *API) listRegistries(w http.ResponseWriter, r *http.Request) error {
	svc, err := a.replication(r, resourceRegistry, access.ActionList)
	if err != nil {
		return err
	}
	p, err := parsePaging(r)
	if err != nil {
		return err
	}
	name := r.URL.Query().Get("name")
	if q, ok := parseQueryName(r.URL.Query().Get("q")); ok && name == "" {
		name = q
	}
	rs, total, err := svc.ListRegistries(r.Context(), truncate(name, 255), p.meta())
	if err != nil {
		return err
	}
	out := make([]registryJSON, len(rs))
	for i, reg := range rs {
		out[i] = toRegistryJSON(reg)
	}
	setPagingHeaders(w, r, p, total)
	return writeJSON(w, http.StatusOK, out)
}

// parseQueryName reads Harbor's q=name=~value (or name=value).
func parseQueryName(q string) (string, bool) {
	for _, prefix := range []string{"name=~", "name="} {
		if len(q) > len(prefix) && q[:len(prefix)] == prefix {
			return q[len(prefix):], true
		}
	}
	return "", false
}

func (a *API) createRegistry(w http.ResponseWriter, r *http.Request) error {
	svc, err := a.replication(r, resourceRegistry, access.ActionCreate)
	if err != nil {
		return err
	}
	var in registryJSON
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	reg, err := svc.CreateRegistry(r.Context(), replication.Registry{Name: in.Name, Description: in.Description,
		Type: in.Type, URL: in.URL, Insecure: in.Insecure, CABundle: in.CACertificate,
		Credential: replication.Credential{Type: in.Credential.Type, AccessKey: in.Credential.AccessKey,
			AccessSecret: in.Credential.AccessSecret}})
	if err != nil {
		return err
	}
	w.Header().Set("Location", Prefix+"/registries/"+strconv.FormatInt(reg.ID, 10))
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (a *API) getRegistry(w http.ResponseWriter, r *http.Request) error {
	svc, err := a.replication(r, resourceRegistry, access.ActionRead)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	reg, err := svc.GetRegistry(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toRegistryJSON(reg))
}

// registryUpdate is Harbor's RegistryUpdate (and RegistryPing): every
// field optional.
type registryUpdate struct {
	ID             *int64  `json:"id"`
	Type           *string `json:"type"`
	Name           *string `json:"name"`
	Description    *string `json:"description"`
	URL            *string `json:"url"`
	CredentialType *string `json:"credential_type"`
	AccessKey      *string `json:"access_key"`
	AccessSecret   *string `json:"access_secret"`
	Insecure       *bool   `json:"insecure"`
	CACertificate  *string `json:"ca_certificate"`
}

func (u registryUpdate) apply(r *replication.Registry) {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&r.Type, u.Type)
	set(&r.Name, u.Name)
	set(&r.Description, u.Description)
	set(&r.URL, u.URL)
	set(&r.Credential.Type, u.CredentialType)
	set(&r.Credential.AccessKey, u.AccessKey)
	set(&r.Credential.AccessSecret, u.AccessSecret)
	set(&r.CABundle, u.CACertificate)
	if u.Insecure != nil {
		r.Insecure = *u.Insecure
	}
}

func (a *API) updateRegistry(w http.ResponseWriter, r *http.Request) error {
	svc, err := a.replication(r, resourceRegistry, access.ActionUpdate)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in registryUpdate
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if _, err := svc.UpdateRegistry(r.Context(), id, in.apply); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (a *API) deleteRegistry(w http.ResponseWriter, r *http.Request) error {
	svc, err := a.replication(r, resourceRegistry, access.ActionDelete)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := svc.DeleteRegistry(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// pingRegistry is POST /registries/ping: 200 when the registry answers
// with these credentials, 400 otherwise (Harbor's).
func (a *API) pingRegistry(w http.ResponseWriter, r *http.Request) error {
	svc, err := a.replication(r, resourceRegistry, access.ActionRead)
	if err != nil {
		return err
	}
	var in registryUpdate
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	var reg replication.Registry
	in.apply(&reg)
	var id int64
	if in.ID != nil {
		id = *in.ID
	}
	if err := svc.Ping(r.Context(), id, reg); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

type filterStyle struct {
	Type   string   `json:"type"`
	Style  string   `json:"style"`
	Values []string `json:"values,omitempty"`
}

func (a *API) registryInfo(w http.ResponseWriter, r *http.Request) error {
	svc, err := a.replication(r, resourceRegistry, access.ActionRead)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	info, err := svc.Info(r.Context(), id)
	if err != nil {
		return err
	}
	fs := make([]filterStyle, len(info.ResourceFilters))
	for i, f := range info.ResourceFilters {
		fs[i] = filterStyle{Type: f.Type, Style: f.Style, Values: f.Values}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"type": info.Type, "description": info.Description,
		"supported_resource_filters": fs, "supported_triggers": info.SupportedTriggers})
}

// policyJSON is Harbor's ReplicationPolicy.
type policyJSON struct {
	ID                        int64                `json:"id"`
	Name                      string               `json:"name"`
	Description               string               `json:"description"`
	Creator                   string               `json:"creator,omitempty"`
	SrcRegistry               *registryJSON        `json:"src_registry"`
	DestRegistry              *registryJSON        `json:"dest_registry"`
	DestNamespace             string               `json:"dest_namespace"`
	DestNamespaceReplaceCount *int                 `json:"dest_namespace_replace_count"`
	Trigger                   *triggerJSON         `json:"trigger"`
	Filters                   []replication.Filter `json:"filters"`
	ReplicateDeletion         bool                 `json:"replicate_deletion"`
	Deletion                  bool                 `json:"deletion"`
	Override                  bool                 `json:"override"`
	Enabled                   *bool                `json:"enabled"`
	Speed                     *int                 `json:"speed"`
	CopyByChunk               bool                 `json:"copy_by_chunk"`
	CreationTime              time.Time            `json:"creation_time"`
	UpdateTime                time.Time            `json:"update_time"`
}

type triggerJSON struct {
	Type            string `json:"type"`
	TriggerSettings struct {
		Cron string `json:"cron"`
	} `json:"trigger_settings"`
}

func (a *API) policyJSON(ctx context.Context, svc ReplicationService, p replication.Policy) policyJSON {
	reg := func(id int64) *registryJSON {
		if id == 0 { // the local Berth, as Harbor shows its own registry
			return &registryJSON{ID: 0, Name: "Local", Type: replication.TypeBerth, Status: replication.StatusHealthy}
		}
		r, err := svc.GetRegistry(ctx, id)
		if err != nil {
			return &registryJSON{ID: id}
		}
		j := toRegistryJSON(r)
		return &j
	}
	enabled, count, speed := p.Enabled, p.DestReplaceCount, p.Speed
	t := &triggerJSON{Type: p.TriggerType}
	t.TriggerSettings.Cron = p.TriggerCron
	filters := p.Filters
	if filters == nil {
		filters = []replication.Filter{}
	}
	return policyJSON{ID: p.ID, Name: p.Name, Description: p.Description, Creator: p.Creator,
		SrcRegistry: reg(p.SrcRegistryID), DestRegistry: reg(p.DestRegistryID), DestNamespace: p.DestNamespace,
		DestNamespaceReplaceCount: &count, Trigger: t, Filters: filters, ReplicateDeletion: p.ReplicateDelete,
		Deletion: p.ReplicateDelete, Override: p.Override, Enabled: &enabled, Speed: &speed, CopyByChunk: p.CopyByChunk,
		CreationTime: p.CreatedAt, UpdateTime: p.UpdatedAt}
}

func (in policyJSON) policy(creator string) replication.Policy {
	p := replication.Policy{Name: in.Name, Description: in.Description, Creator: creator, DestNamespace: in.DestNamespace,
		DestReplaceCount: -1, Filters: in.Filters, Override: in.Override, ReplicateDelete: in.ReplicateDeletion || in.Deletion,
		Enabled: true, CopyByChunk: in.CopyByChunk}
	if in.SrcRegistry != nil {
		p.SrcRegistryID = in.SrcRegistry.ID
	}
	if in.DestRegistry != nil {
		p.DestRegistryID = in.DestRegistry.ID
	}
	if in.DestNamespaceReplaceCount != nil {
		p.DestReplaceCount = *in.DestNamespaceReplaceCount
	}
	if in.Trigger != nil {
		p.TriggerType, p.TriggerCron = in.Trigger.Type, in.Trigger.TriggerSettings.Cron
	}
	if in.Enabled != nil {
		p.Enabled = *in.Enabled
	}
	if in.Speed != nil {
		p.Speed = *in.Speed
	}
	return p
}

func (a *API) listPolicies(w http.ResponseWriter, r *http.Request) error {
	svc, err := a.replication(r, resourceReplication, access.ActionList)
	if err != nil {
		return err
	}
	p, err := parsePaging(r)
	if err != nil {
		return err
	}
	name := r.URL.Query().Get("name")
	if q, ok := parseQueryName(r.URL.Query().Get("q")); ok && name == "" {
		name = q
	}
	ps, total, err := svc.ListPolicies(r.Context(), truncate(name, 255), p.meta())
	if err != nil {
		return err
	}
	out := make([]policyJSON, len(ps))
	for i, pol := range ps {
		out[i] = a.policyJSON(r.Context(), svc, pol)
	}
	setPagingHeaders(w, r, p, total)
	return writeJSON(w, http.StatusOK, out)
}

func (a *API) createPolicy(w http.ResponseWriter, r *http.Request) error {
	svc, err := a.replication(r, resourceReplication, access.ActionCreate)
	if err != nil {
		return err
	}
	var in policyJSON
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	p, err := svc.CreatePolicy(r.Context(), in.policy(caller(r).Name))
	if err != nil {
		return err
	}
	w.Header().Set("Location", Prefix+"/replication/policies/"+strconv.FormatInt(p.ID, 10))
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (a *API) getPolicy(w http.ResponseWriter, r *http.Request) error {
	svc, err := a.replication(r, resourceReplication, access.ActionRead)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	p, err := svc.GetPolicy(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, a.policyJSON(r.Context(), svc, p))
}

func (a *API) updatePolicy(w http.ResponseWriter, r *http.Request) error {
	svc, err := a.replication(r, resourceReplication, access.ActionUpdate)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in policyJSON
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if _, err := svc.UpdatePolicy(r.Context(), id, in.policy("")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (a *API) deletePolicy(w http.ResponseWriter, r *http.Request) error {
	svc, err := a.replication(r, resourceReplication, access.ActionDelete)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := svc.DeletePolicy(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// executionJSON is Harbor's ReplicationExecution.
type executionJSON struct {
	ID         int64      `json:"id"`
	PolicyID   int64      `json:"policy_id"`
	Status     string     `json:"status"`
	Trigger    string     `json:"trigger"`
	StartTime  time.Time  `json:"start_time"`
	EndTime    *time.Time `json:"end_time,omitempty"`
	StatusText string     `json:"status_text"`
	Total      int        `json:"total"`
	Failed     int        `json:"failed"`
	Succeed    int        `json:"succeed"`
	InProgress int        `json:"in_progress"`
	Stopped    int        `json:"stopped"`
	// Berth addition: bytes sent by the execution's tasks.
	Bytes int64 `json:"bytes"`
}

func toExecutionJSON(e meta.ReplicationExecution) executionJSON {
	out := executionJSON{ID: e.ID, PolicyID: e.PolicyID, Status: e.Status, Trigger: e.Trigger, StartTime: e.StartTime,
		StatusText: e.StatusText, Total: e.Total, Failed: e.Failed, Succeed: e.Succeed, InProgress: e.InProgress,
		Stopped: e.Stopped, Bytes: e.Bytes}
	if !e.EndTime.IsZero() {
		end := e.EndTime
		out.EndTime = &end
	}
	return out
}

func (a *API) listExecutions(w http.ResponseWriter, r *http.Request) error {
	svc, err := a.replication(r, resourceReplication, access.ActionList)
	if err != nil {
		return err
	}
	p, err := parsePaging(r)
	if err != nil {
		return err
	}
	var policyID int64
	if v := r.URL.Query().Get("policy_id"); v != "" {
		if policyID, err = strconv.ParseInt(v, 10, 64); err != nil || policyID < 1 {
			return errBadRequest("policy_id must be a positive integer")
		}
	}
	es, total, err := svc.ListExecutions(r.Context(), policyID, truncate(r.URL.Query().Get("status"), 32), p.meta())
	if err != nil {
		return err
	}
	out := make([]executionJSON, len(es))
	for i, e := range es {
		out[i] = toExecutionJSON(e)
	}
	setPagingHeaders(w, r, p, total)
	return writeJSON(w, http.StatusOK, out)
}

func (a *API) startExecution(w http.ResponseWriter, r *http.Request) error {
	svc, err := a.replication(r, resourceReplication, access.ActionCreate)
	if err != nil {
		return err
	}
	var in struct {
		PolicyID int64 `json:"policy_id"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.PolicyID < 1 {
		return errBadRequest("policy_id must be a positive integer")
	}
	e, err := svc.Execute(r.Context(), in.PolicyID, replication.TriggerManual)
	if err != nil {
		return err
	}
	w.Header().Set("Location", Prefix+"/replication/executions/"+strconv.FormatInt(e.ID, 10))
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (a *API) getExecution(w http.ResponseWriter, r *http.Request) error {
	svc, err := a.replication(r, resourceReplication, access.ActionRead)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	e, err := svc.GetExecution(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toExecutionJSON(e))
}

// stopExecution is PUT /replication/executions/{id}: stop it.
func (a *API) stopExecution(w http.ResponseWriter, r *http.Request) error {
	svc, err := a.replication(r, resourceReplication, access.ActionUpdate)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := svc.Stop(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// taskJSON is Harbor's ReplicationTask.
type taskJSON struct {
	ID           int64      `json:"id"`
	ExecutionID  int64      `json:"execution_id"`
	ResourceType string     `json:"resource_type"`
	SrcResource  string     `json:"src_resource"`
	DstResource  string     `json:"dst_resource"`
	JobID        string     `json:"job_id"`
	Status       string     `json:"status"`
	Operation    string     `json:"operation"`
	StartTime    time.Time  `json:"start_time"`
	EndTime      *time.Time `json:"end_time,omitempty"`
	// Berth additions.
	Reference string `json:"reference"`
	Bytes     int64  `json:"bytes"`
	Attempts  int    `json:"attempts"`
}

func (a *API) listTasks(w http.ResponseWriter, r *http.Request) error {
	svc, err := a.replication(r, resourceReplication, access.ActionList)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if _, err := svc.GetExecution(r.Context(), id); err != nil {
		return err
	}
	p, err := parsePaging(r)
	if err != nil {
		return err
	}
	ts, total, err := svc.ListTasks(r.Context(), id, truncate(r.URL.Query().Get("status"), 32), p.meta())
	if err != nil {
		return err
	}
	out := make([]taskJSON, len(ts))
	for i, t := range ts {
		out[i] = taskJSON{ID: t.ID, ExecutionID: t.ExecutionID, ResourceType: t.ResourceType, SrcResource: t.SrcResource,
			DstResource: t.DstResource, JobID: strconv.FormatInt(t.ID, 10), Status: t.Status, Operation: t.Operation,
			StartTime: t.StartTime, Reference: t.Reference, Bytes: t.Bytes, Attempts: t.Attempts}
		if !t.EndTime.IsZero() {
			end := t.EndTime
			out[i].EndTime = &end
		}
	}
	setPagingHeaders(w, r, p, total)
	return writeJSON(w, http.StatusOK, out)
}

func (a *API) taskLog(w http.ResponseWriter, r *http.Request) error {
	svc, err := a.replication(r, resourceReplication, access.ActionRead)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	tid, err := pathID(r, "task_id")
	if err != nil {
		return err
	}
	t, err := svc.GetTask(r.Context(), id, tid)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(t.Log))
	return nil
}

// checkProxyProject checks a project creation's registry_id: only system
// administrators make proxy-cache projects.
func (a *API) checkProxyProject(r *http.Request, registryID *int64) error {
	if registryID == nil || *registryID == 0 {
		return nil
	}
	svc, err := a.replication(r, resourceRegistry, access.ActionRead)
	if err != nil {
		return err
	}
	_, err = svc.GetRegistry(r.Context(), *registryID)
	if errors.Is(err, meta.ErrRegistryNotFound) {
		return errBadRequest("registry %d does not exist", *registryID)
	}
	return err
}

// bindProxyProject makes project id a proxy cache of registryID.
func (a *API) bindProxyProject(r *http.Request, id int64, registryID *int64) error {
	if registryID == nil || *registryID == 0 {
		return nil
	}
	return a.d.Replication.SetProxyProject(r.Context(), id, *registryID)
}
