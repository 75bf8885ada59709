package restapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/webhook"
)

// webhookStore is meta.Webhooks as the webhook endpoints use it.
type webhookStore interface {
	CreateWebhookPolicy(ctx context.Context, p meta.WebhookPolicy) (meta.WebhookPolicy, error)
	GetWebhookPolicy(ctx context.Context, projectID, id int64) (meta.WebhookPolicy, error)
	ListWebhookPolicies(ctx context.Context, projectID int64, pg meta.Page) ([]meta.WebhookPolicy, int, error)
	UpdateWebhookPolicy(ctx context.Context, p meta.WebhookPolicy) error
	DeleteWebhookPolicy(ctx context.Context, projectID, id int64) error
	ListWebhookJobs(ctx context.Context, projectID, policyID int64, statuses []string, pg meta.Page) ([]meta.WebhookJob, int, error)
	webhookExecStore // webhookexec.go
}

// webhookRoutes registers Harbor's project webhook endpoints.
func (a *API) webhookRoutes(mux *http.ServeMux) {
	const wh = Prefix + "/projects/{project_name_or_id}/webhook"
	a.handle(mux, "GET "+wh+"/policies", a.listWebhookPolicies)
	a.handle(mux, "POST "+wh+"/policies", a.createWebhookPolicy)
	a.handle(mux, "GET "+wh+"/policies/{webhook_policy_id}", a.getWebhookPolicy)
	a.handle(mux, "PUT "+wh+"/policies/{webhook_policy_id}", a.updateWebhookPolicy)
	a.handle(mux, "DELETE "+wh+"/policies/{webhook_policy_id}", a.deleteWebhookPolicy)
	a.handle(mux, "GET "+wh+"/events", a.webhookEventTypes)
	a.handle(mux, "GET "+wh+"/jobs", a.listWebhookJobs)
	a.webhookExecRoutes(mux) // webhookexec.go
}

// webhookTargetJSON is Harbor's WebhookTargetObject. auth_header is
// accepted, never returned.
type webhookTargetJSON struct {
	Type           string `json:"type"`
	Address        string `json:"address"`
	AuthHeader     string `json:"auth_header,omitempty"`
	SkipCertVerify bool   `json:"skip_cert_verify"`
	PayloadFormat  string `json:"payload_format,omitempty"`
}

// webhookPolicyJSON is Harbor's WebhookPolicy.
type webhookPolicyJSON struct {
	ID           int64               `json:"id"`
	Name         string              `json:"name"`
	Description  string              `json:"description"`
	ProjectID    int64               `json:"project_id"`
	Targets      []webhookTargetJSON `json:"targets"`
	EventTypes   []string            `json:"event_types"`
	Creator      string              `json:"creator"`
	CreationTime time.Time           `json:"creation_time"`
	UpdateTime   time.Time           `json:"update_time"`
	Enabled      bool                `json:"enabled"`
}

func toWebhookPolicyJSON(p meta.WebhookPolicy) webhookPolicyJSON {
	out := webhookPolicyJSON{ID: p.ID, Name: p.Name, Description: p.Description, ProjectID: p.ProjectID,
		Targets: []webhookTargetJSON{}, EventTypes: p.EventTypes, Creator: p.Creator, CreationTime: p.CreatedAt,
		UpdateTime: p.UpdatedAt, Enabled: p.Enabled}
	if out.EventTypes == nil {
		out.EventTypes = []string{}
	}
	for _, t := range p.Targets {
		out.Targets = append(out.Targets, webhookTargetJSON{Type: t.Type, Address: t.Address,
			SkipCertVerify: t.SkipCertVerify, PayloadFormat: t.PayloadFormat}) // no AuthHeader: secrets go in only
	}
	return out
}

// webhookPolicyReq is the body of POST and PUT; enabled defaults to true
// on POST.
type webhookPolicyReq struct {
	Name        string              `json:"name"`
	Description string              `json:"description"`
	Targets     []webhookTargetJSON `json:"targets"`
	EventTypes  []string            `json:"event_types"`
	Enabled     *bool               `json:"enabled"`
}

func (q webhookPolicyReq) policy() meta.WebhookPolicy {
	p := meta.WebhookPolicy{Name: q.Name, Description: q.Description, EventTypes: q.EventTypes, Enabled: true}
	if q.Enabled != nil {
		p.Enabled = *q.Enabled
	}
	for _, t := range q.Targets {
		p.Targets = append(p.Targets, meta.WebhookTarget{Type: t.Type, Address: t.Address, AuthHeader: t.AuthHeader,
			SkipCertVerify: t.SkipCertVerify, PayloadFormat: t.PayloadFormat})
	}
	return p
}

// webhookErr maps the webhook errors to Harbor's codes.
func webhookErr(err error) error {
	switch {
	case errors.Is(err, webhook.ErrInvalid):
		return errBadRequest("%s", err.Error())
	case errors.Is(err, meta.ErrWebhookPolicyNotFound):
		return errNotFound("%s", err.Error())
	case errors.Is(err, meta.ErrWebhookPolicyExists):
		return newError(codeConflict, http.StatusConflict, "%s", err.Error())
	}
	return err
}

func (a *API) webhooks() (webhookStore, error) {
	if a.d.Webhooks == nil {
		return nil, newError(codeUnavailable, http.StatusServiceUnavailable, "webhooks are not configured")
	}
	return a.d.Webhooks, nil
}

func policyID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("webhook_policy_id"), 10, 64)
	if err != nil || id < 1 {
		return 0, errBadRequest("webhook_policy_id must be a positive integer")
	}
	return id, nil
}

func (a *API) listWebhookPolicies(w http.ResponseWriter, r *http.Request) error {
	st, err := a.webhooks()
	if err != nil {
		return err
	}
	proj, err := a.authorizeProject(r, r.PathValue("project_name_or_id"), access.ResourceWebhook, access.ActionList)
	if err != nil {
		return err
	}
	pg, err := parsePaging(r)
	if err != nil {
		return err
	}
	ps, total, err := st.ListWebhookPolicies(r.Context(), proj.ID, pg.meta())
	if err != nil {
		return err
	}
	out := make([]webhookPolicyJSON, 0, len(ps))
	for _, p := range ps {
		out = append(out, toWebhookPolicyJSON(p))
	}
	setPagingHeaders(w, r, pg, total)
	return writeJSON(w, http.StatusOK, out)
}

func (a *API) createWebhookPolicy(w http.ResponseWriter, r *http.Request) error {
	st, err := a.webhooks()
	if err != nil {
		return err
	}
	proj, err := a.authorizeProject(r, r.PathValue("project_name_or_id"), access.ResourceWebhook, access.ActionCreate)
	if err != nil {
		return err
	}
	var req webhookPolicyReq
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	p := req.policy()
	p.ProjectID, p.Creator = proj.ID, caller(r).Name
	if err := webhook.Validate(&p); err != nil {
		return webhookErr(err)
	}
	got, err := st.CreateWebhookPolicy(r.Context(), p)
	if err != nil {
		return webhookErr(err)
	}
	w.Header().Set("Location", location("projects", strconv.FormatInt(proj.ID, 10), "webhook", "policies", strconv.FormatInt(got.ID, 10)))
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (a *API) getWebhookPolicy(w http.ResponseWriter, r *http.Request) error {
	st, err := a.webhooks()
	if err != nil {
		return err
	}
	proj, err := a.authorizeProject(r, r.PathValue("project_name_or_id"), access.ResourceWebhook, access.ActionRead)
	if err != nil {
		return err
	}
	id, err := policyID(r)
	if err != nil {
		return err
	}
	p, err := st.GetWebhookPolicy(r.Context(), proj.ID, id)
	if err != nil {
		return webhookErr(err)
	}
	return writeJSON(w, http.StatusOK, toWebhookPolicyJSON(p))
}

// updateWebhookPolicy replaces a policy. A target sent without an
// auth_header keeps the secret of the stored target with the same address
// (clients read policies without their secrets and send them back).
func (a *API) updateWebhookPolicy(w http.ResponseWriter, r *http.Request) error {
	st, err := a.webhooks()
	if err != nil {
		return err
	}
	proj, err := a.authorizeProject(r, r.PathValue("project_name_or_id"), access.ResourceWebhook, access.ActionUpdate)
	if err != nil {
		return err
	}
	id, err := policyID(r)
	if err != nil {
		return err
	}
	var req webhookPolicyReq
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	old, err := st.GetWebhookPolicy(r.Context(), proj.ID, id)
	if err != nil {
		return webhookErr(err)
	}
	p := req.policy()
	if req.Enabled == nil {
		p.Enabled = old.Enabled
	}
	p.ID, p.ProjectID = id, proj.ID
	for i := range p.Targets {
		if p.Targets[i].AuthHeader != "" {
			continue
		}
		for _, o := range old.Targets {
			if o.Address == p.Targets[i].Address {
				p.Targets[i].AuthHeader = o.AuthHeader
				break
			}
		}
	}
	if err := webhook.Validate(&p); err != nil {
		return webhookErr(err)
	}
	if err := st.UpdateWebhookPolicy(r.Context(), p); err != nil {
		return webhookErr(err)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (a *API) deleteWebhookPolicy(w http.ResponseWriter, r *http.Request) error {
	st, err := a.webhooks()
	if err != nil {
		return err
	}
	proj, err := a.authorizeProject(r, r.PathValue("project_name_or_id"), access.ResourceWebhook, access.ActionDelete)
	if err != nil {
		return err
	}
	id, err := policyID(r)
	if err != nil {
		return err
	}
	if err := st.DeleteWebhookPolicy(r.Context(), proj.ID, id); err != nil {
		return webhookErr(err)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// webhookEventTypes is Harbor's SupportedWebhookEventTypes.
func (a *API) webhookEventTypes(w http.ResponseWriter, r *http.Request) error {
	if _, err := a.authorizeProject(r, r.PathValue("project_name_or_id"), access.ResourceWebhook, access.ActionList); err != nil {
		return err
	}
	type payloadFormat struct {
		NotifyType string   `json:"notify_type"`
		Formats    []string `json:"formats"`
	}
	return writeJSON(w, http.StatusOK, struct {
		EventType      []string        `json:"event_type"`
		NotifyType     []string        `json:"notify_type"`
		PayloadFormats []payloadFormat `json:"payload_formats"`
	}{
		EventType:      events.Types,
		NotifyType:     []string{webhook.NotifyHTTP},
		PayloadFormats: []payloadFormat{{NotifyType: webhook.NotifyHTTP, Formats: []string{webhook.FormatDefault, webhook.FormatCloudEvents}}},
	})
}

// webhookJobJSON is Harbor's WebhookJob (the delivery log), with Berth's
// attempts and last error.
type webhookJobJSON struct {
	ID           int64     `json:"id"`
	PolicyID     int64     `json:"policy_id"`
	EventType    string    `json:"event_type"`
	NotifyType   string    `json:"notify_type"`
	Status       string    `json:"status"`
	JobDetail    string    `json:"job_detail"`
	CreationTime time.Time `json:"creation_time"`
	UpdateTime   time.Time `json:"update_time"`
	Attempts     int       `json:"attempts"`
	LastError    string    `json:"last_error,omitempty"`
}

// listWebhookJobs is GET .../webhook/jobs?policy_id=N[&status=S...].
func (a *API) listWebhookJobs(w http.ResponseWriter, r *http.Request) error {
	st, err := a.webhooks()
	if err != nil {
		return err
	}
	proj, err := a.authorizeProject(r, r.PathValue("project_name_or_id"), access.ResourceWebhook, access.ActionList)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	pid, err := strconv.ParseInt(q.Get("policy_id"), 10, 64)
	if err != nil || pid < 1 {
		return errBadRequest("policy_id is required: a positive integer")
	}
	statuses := q["status"]
	if len(statuses) > 4 {
		return errBadRequest("at most 4 status values")
	}
	pg, err := parsePaging(r)
	if err != nil {
		return err
	}
	js, total, err := st.ListWebhookJobs(r.Context(), proj.ID, pid, statuses, pg.meta())
	if err != nil {
		return err
	}
	out := make([]webhookJobJSON, 0, len(js))
	for _, j := range js {
		out = append(out, webhookJobJSON{ID: j.ID, PolicyID: j.PolicyID, EventType: j.EventType, NotifyType: j.NotifyType,
			Status: j.Status, JobDetail: j.JobDetail, CreationTime: j.CreatedAt, UpdateTime: j.UpdatedAt,
			Attempts: j.Attempts, LastError: j.LastError})
	}
	setPagingHeaders(w, r, pg, total)
	return writeJSON(w, http.StatusOK, out)
}
