package webui

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/replication"
)

// replicationService is *replication.Service as the registries and
// replication pages use it. The pages never read a secret: a Registry
// from the service carries none.
type replicationService interface {
	ListRegistries(ctx context.Context, nameLike string, pg meta.Page) ([]replication.Registry, int, error)
	GetRegistry(ctx context.Context, id int64) (replication.Registry, error)
	CreateRegistry(ctx context.Context, r replication.Registry) (replication.Registry, error)
	DeleteRegistry(ctx context.Context, id int64) error
	Ping(ctx context.Context, id int64, r replication.Registry) error
	ListPolicies(ctx context.Context, nameLike string, pg meta.Page) ([]replication.Policy, int, error)
	CreatePolicy(ctx context.Context, p replication.Policy) (replication.Policy, error)
	Execute(ctx context.Context, policyID int64, trigger string) (meta.ReplicationExecution, error)
	Stop(ctx context.Context, id int64) error
	GetExecution(ctx context.Context, id int64) (meta.ReplicationExecution, error)
	ListExecutions(ctx context.Context, policyID int64, status string, pg meta.Page) ([]meta.ReplicationExecution, int, error)
	ListTasks(ctx context.Context, executionID int64, status string, pg meta.Page) ([]meta.ReplicationTask, int, error)
	GetTask(ctx context.Context, executionID, id int64) (meta.ReplicationTask, error)
	SetProxyProject(ctx context.Context, projectID, registryID int64) error
}

func (u *UI) replicationRoutes() {
	u.handle("GET /admin/registries", u.registriesPage)
	u.handle("POST /admin/registries", u.createRegistry)
	u.handle("POST /admin/registries/{rid}/ping", u.pingRegistry)
	u.handle("POST /admin/registries/{rid}/delete", u.deleteRegistry)
	u.handle("GET /admin/replication", u.replicationPage)
	u.handle("POST /admin/replication", u.createPolicy)
	u.handle("POST /admin/replication/{pid}/run", u.runPolicy)
	u.handle("GET /admin/replication/executions/{eid}", u.executionPage)
	u.handle("POST /admin/replication/executions/{eid}/stop", u.stopExecution)
	u.handle("GET /admin/replication/executions/{eid}/tasks/{tid}/log", u.taskLog)
}

// registryTypes are the types the form offers.
var registryTypes = []string{replication.TypeBerth, replication.TypeHarbor, replication.TypeDockerRegistry,
	replication.TypeDockerHub, replication.TypeOCI}

func (u *UI) replicationAllowed(c *call) error {
	if u.d.Replication == nil {
		return errNotFound
	}
	return requireAdmin(c)
}

// replicationID checks the caller (replicationAllowed) and reads the id
// in path segment name.
func (u *UI) replicationID(c *call, name string) (int64, error) {
	if err := u.replicationAllowed(c); err != nil {
		return 0, err
	}
	return pathID(c, name)
}

func pathID(c *call, name string) (int64, error) {
	id, err := strconv.ParseInt(c.r.PathValue(name), 10, 64)
	if err != nil || id < 1 {
		return 0, errNotFound
	}
	return id, nil
}

// registriesView is the registries page.
type registriesView struct {
	Registries []replication.Registry
	Types      []string
	Paging     paging
	ErrorKey   string
	Detail     string
	// Pinged is the registry a connection test was run for, PingOK its
	// outcome.
	Pinged string
	PingOK bool
}

// registriesPage is GET /admin/registries: the endpoints, without their
// secrets (system administrators).
func (u *UI) registriesPage(c *call) error {
	if err := u.replicationAllowed(c); err != nil {
		return err
	}
	return u.renderRegistries(c, http.StatusOK, registriesView{})
}

func (u *UI) renderRegistries(c *call, status int, v registriesView) error {
	pg := pagingOf(c.r)
	rs, total, err := u.d.Replication.ListRegistries(c.r.Context(), "", pg.meta())
	if err != nil {
		return err
	}
	pg.Total = total
	v.Registries, v.Paging, v.Types = rs, pg, registryTypes
	u.render(c, status, "admin_registries", "registries.title", v)
	return nil
}

// createRegistry is POST /admin/registries: name, type, url, access_key,
// access_secret (sealed by the service, never shown again), insecure.
func (u *UI) createRegistry(c *call) error {
	if err := u.replicationAllowed(c); err != nil {
		return err
	}
	f := c.r.PostForm
	r := replication.Registry{Name: strings.TrimSpace(f.Get("name")), Type: f.Get("type"), URL: strings.TrimSpace(f.Get("url")),
		Description: strings.TrimSpace(f.Get("description")), Insecure: f.Get("insecure") == "on",
		Credential: replication.Credential{AccessKey: strings.TrimSpace(f.Get("access_key")), AccessSecret: f.Get("access_secret")}}
	_, err := u.d.Replication.CreateRegistry(c.r.Context(), r)
	switch {
	case errors.Is(err, replication.ErrInvalid):
		return u.renderRegistries(c, http.StatusBadRequest, registriesView{ErrorKey: "registries.err.form", Detail: err.Error()})
	case errors.Is(err, meta.ErrRegistryExists):
		return u.renderRegistries(c, http.StatusConflict, registriesView{ErrorKey: "registries.err.exists", Detail: r.Name})
	case err != nil:
		return err
	}
	return redirect(c, "/admin/registries")
}

// pingRegistry is POST /admin/registries/{rid}/ping ("Test connection"):
// the page again, with the outcome.
func (u *UI) pingRegistry(c *call) error {
	id, err := u.replicationID(c, "rid")
	if err != nil {
		return err
	}
	r, err := u.d.Replication.GetRegistry(c.r.Context(), id)
	if errors.Is(err, meta.ErrRegistryNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	err = u.d.Replication.Ping(c.r.Context(), id, replication.Registry{})
	if err != nil && !errors.Is(err, replication.ErrUnreachable) && !errors.Is(err, replication.ErrInvalid) {
		return err
	}
	return u.renderRegistries(c, http.StatusOK, registriesView{Pinged: r.Name, PingOK: err == nil})
}

// deleteRegistry is POST /admin/registries/{rid}/delete; one a policy or a
// proxy-cache project uses stays.
func (u *UI) deleteRegistry(c *call) error {
	id, err := u.replicationID(c, "rid")
	if err != nil {
		return err
	}
	err = u.d.Replication.DeleteRegistry(c.r.Context(), id)
	switch {
	case errors.Is(err, meta.ErrRegistryNotFound):
		return errNotFound
	case errors.Is(err, meta.ErrRegistryInUse):
		return u.renderRegistries(c, http.StatusConflict, registriesView{ErrorKey: "registries.err.inuse"})
	case err != nil:
		return err
	}
	return redirect(c, "/admin/registries")
}

// policyRow is one policy as the replication page lists it.
type policyRow struct {
	replication.Policy
	Registry     string // the remote end's name
	DirectionKey string // its message key: push or pull
}

type replicationView struct {
	Policies   []policyRow
	Registries []replication.Registry
	Execs      []meta.ReplicationExecution
	Paging     paging
	ErrorKey   string
	Detail     string
}

// replicationPage is GET /admin/replication: the policies with a Run
// button, a form for a new one, and the latest executions.
func (u *UI) replicationPage(c *call) error {
	if err := u.replicationAllowed(c); err != nil {
		return err
	}
	return u.renderReplication(c, http.StatusOK, replicationView{})
}

func (u *UI) renderReplication(c *call, status int, v replicationView) error {
	ctx := c.r.Context()
	pg := pagingOf(c.r)
	ps, total, err := u.d.Replication.ListPolicies(ctx, "", pg.meta())
	if err != nil {
		return err
	}
	pg.Total = total
	if v.Registries, _, err = u.d.Replication.ListRegistries(ctx, "", meta.Page{Limit: 100}); err != nil {
		return err
	}
	names := map[int64]string{}
	for _, r := range v.Registries {
		names[r.ID] = r.Name
	}
	for _, p := range ps {
		row := policyRow{Policy: p, DirectionKey: "replication.push", Registry: names[p.DestRegistryID]}
		if !p.Push() {
			row.DirectionKey, row.Registry = "replication.pull", names[p.SrcRegistryID]
		}
		v.Policies = append(v.Policies, row)
	}
	if v.Execs, _, err = u.d.Replication.ListExecutions(ctx, 0, "", meta.Page{Limit: 20}); err != nil {
		return err
	}
	v.Paging = pg
	u.render(c, status, "admin_replication", "replication.title", v)
	return nil
}

// createPolicy is POST /admin/replication: name, direction (push or
// pull), registry, name and tag filters, destination namespace, an
// optional cron (scheduled; else manual), override.
func (u *UI) createPolicy(c *call) error {
	if err := u.replicationAllowed(c); err != nil {
		return err
	}
	f := c.r.PostForm
	reg, _ := strconv.ParseInt(f.Get("registry"), 10, 64)
	p := replication.Policy{Name: strings.TrimSpace(f.Get("name")), DestNamespace: strings.TrimSpace(f.Get("dest_namespace")),
		DestReplaceCount: -1, Override: f.Get("override") == "on", Enabled: true, TriggerType: replication.TriggerManual,
		Creator: c.p.Name}
	if f.Get("direction") == "pull" {
		p.SrcRegistryID = reg
	} else {
		p.DestRegistryID = reg
	}
	if cron := strings.TrimSpace(f.Get("cron")); cron != "" {
		p.TriggerType, p.TriggerCron = replication.TriggerScheduled, cron
	}
	for _, fl := range []struct{ typ, field string }{{replication.FilterName, "name_filter"}, {replication.FilterTag, "tag_filter"}} {
		if v := strings.TrimSpace(f.Get(fl.field)); v != "" {
			raw, _ := json.Marshal(v)
			p.Filters = append(p.Filters, replication.Filter{Type: fl.typ, Value: raw})
		}
	}
	_, err := u.d.Replication.CreatePolicy(c.r.Context(), p)
	switch {
	case errors.Is(err, replication.ErrInvalid):
		return u.renderReplication(c, http.StatusBadRequest, replicationView{ErrorKey: "replication.err.form", Detail: err.Error()})
	case errors.Is(err, meta.ErrPolicyExists):
		return u.renderReplication(c, http.StatusConflict, replicationView{ErrorKey: "replication.err.exists", Detail: p.Name})
	case err != nil:
		return err
	}
	return redirect(c, "/admin/replication")
}

// runPolicy is POST /admin/replication/{pid}/run: a manual execution,
// then its page.
func (u *UI) runPolicy(c *call) error {
	id, err := u.replicationID(c, "pid")
	if err != nil {
		return err
	}
	e, err := u.d.Replication.Execute(c.r.Context(), id, replication.TriggerManual)
	if errors.Is(err, meta.ErrPolicyNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	return redirect(c, "/admin/replication/executions/"+strconv.FormatInt(e.ID, 10))
}

type executionView struct {
	Exec   meta.ReplicationExecution
	Tasks  []meta.ReplicationTask
	Paging paging
}

// executionPage is GET /admin/replication/executions/{eid}: the
// execution's counts and its tasks, each with a link to its log.
func (u *UI) executionPage(c *call) error {
	id, err := u.replicationID(c, "eid")
	if err != nil {
		return err
	}
	e, err := u.d.Replication.GetExecution(c.r.Context(), id)
	if errors.Is(err, meta.ErrExecutionNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	pg := pagingOf(c.r)
	tasks, total, err := u.d.Replication.ListTasks(c.r.Context(), id, "", pg.meta())
	if err != nil {
		return err
	}
	pg.Total = total
	u.render(c, http.StatusOK, "admin_execution", "replication.execution", executionView{Exec: e, Tasks: tasks, Paging: pg})
	return nil
}

// stopExecution is POST /admin/replication/executions/{eid}/stop.
func (u *UI) stopExecution(c *call) error {
	id, err := u.replicationID(c, "eid")
	if err != nil {
		return err
	}
	err = u.d.Replication.Stop(c.r.Context(), id)
	switch {
	case errors.Is(err, meta.ErrExecutionNotFound):
		return errNotFound
	case err != nil && !errors.Is(err, replication.ErrNotRunning):
		return err
	}
	return redirect(c, "/admin/replication/executions/"+strconv.FormatInt(id, 10))
}

// taskLog is GET .../executions/{eid}/tasks/{tid}/log: the task's log as
// plain text.
func (u *UI) taskLog(c *call) error {
	eid, err := u.replicationID(c, "eid")
	if err != nil {
		return err
	}
	tid, err := pathID(c, "tid")
	if err != nil {
		return err
	}
	t, err := u.d.Replication.GetTask(c.r.Context(), eid, tid)
	if errors.Is(err, meta.ErrTaskNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	c.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	c.w.Header().Set("Cache-Control", "no-store")
	_, _ = c.w.Write([]byte(t.Log))
	return nil
}

// proxyRegistries are the endpoints a new project may be a proxy cache
// of (system administrators only; none without replication).
func (u *UI) proxyRegistries(c *call) []replication.Registry {
	if u.d.Replication == nil || requireAdmin(c) != nil {
		return nil
	}
	rs, _, err := u.d.Replication.ListRegistries(c.r.Context(), "", meta.Page{Limit: 100})
	if err != nil {
		u.log.WarnContext(c.r.Context(), "portal: registries for the proxy-cache option", "err", err)
		return nil
	}
	return rs
}

// proxyRegistryField reads the new-project form's registry: 0 for none;
// only system administrators may set one.
func (u *UI) proxyRegistryField(c *call) (int64, error) {
	raw := c.r.PostForm.Get("registry_id")
	if raw == "" || raw == "0" {
		return 0, nil
	}
	if u.d.Replication == nil {
		return 0, errBadForm
	}
	if err := requireAdmin(c); err != nil {
		return 0, err
	}
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id < 1 {
		return 0, errBadForm
	}
	if _, err := u.d.Replication.GetRegistry(c.r.Context(), id); err != nil {
		if errors.Is(err, meta.ErrRegistryNotFound) {
			return 0, errBadForm
		}
		return 0, err
	}
	return id, nil
}
