package restapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/immutable"
	"github.com/berth-registry/berth/internal/meta"
)

// immutableStore is meta.Immutable as the immutable tag rule endpoints
// use it. The rules are enforced by the registry service, not here.
type immutableStore interface {
	ListImmutableRules(ctx context.Context, pid int64, pg meta.Page) ([]meta.ImmutableRule, int, error)
	GetImmutableRule(ctx context.Context, pid, id int64) (meta.ImmutableRule, error)
	CreateImmutableRule(ctx context.Context, r meta.ImmutableRule) (meta.ImmutableRule, error)
	UpdateImmutableRule(ctx context.Context, r meta.ImmutableRule) error
	DeleteImmutableRule(ctx context.Context, pid, id int64) error
	EnabledImmutableRules(ctx context.Context, project string) ([]meta.ImmutableRule, error)
}

func (a *API) immutableRoutes(mux *http.ServeMux) {
	const rules = Prefix + "/projects/{project_name_or_id}/immutabletagrules"
	a.handle(mux, "GET "+rules, a.listImmutableRules)
	a.handle(mux, "POST "+rules, a.createImmutableRule)
	a.handle(mux, "PUT "+rules+"/{immutable_rule_id}", a.updateImmutableRule)
	a.handle(mux, "DELETE "+rules+"/{immutable_rule_id}", a.deleteImmutableRule)
}

func (a *API) immutableRules() (immutableStore, error) {
	if a.d.Immutable == nil {
		return nil, newError(codeUnavailable, http.StatusServiceUnavailable, "immutable tag rules are not available")
	}
	return a.d.Immutable, nil
}

// immutableProject authorizes act on the project's rules.
func (a *API) immutableProject(r *http.Request, act access.Action) (immutableStore, meta.Project, error) {
	st, err := a.immutableRules()
	if err != nil {
		return nil, meta.Project{}, err
	}
	proj, err := a.authorizeProject(r, r.PathValue("project_name_or_id"), access.ResourceImmutableTag, act)
	return st, proj, err
}

func ruleID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("immutable_rule_id"), 10, 64)
	if err != nil || id < 1 {
		return 0, errBadRequest("immutable_rule_id must be a positive integer")
	}
	return id, nil
}

// listImmutableRules is GET /projects/{p}/immutabletagrules with page and
// page_size (project administrators and maintainers).
func (a *API) listImmutableRules(w http.ResponseWriter, r *http.Request) error {
	st, proj, err := a.immutableProject(r, access.ActionList)
	if err != nil {
		return err
	}
	pg, err := parsePaging(r)
	if err != nil {
		return err
	}
	stored, total, err := st.ListImmutableRules(r.Context(), proj.ID, pg.meta())
	if err != nil {
		return err
	}
	out := make([]immutable.Rule, 0, len(stored))
	for _, s := range stored {
		rule, err := immutable.FromStored(s)
		if err != nil {
			return err
		}
		out = append(out, rule)
	}
	setPagingHeaders(w, r, pg, total)
	return writeJSON(w, http.StatusOK, out)
}

// createImmutableRule is POST /projects/{p}/immutabletagrules with
// Harbor's ImmutableRule: 201 with Location.
func (a *API) createImmutableRule(w http.ResponseWriter, r *http.Request) error {
	st, proj, err := a.immutableProject(r, access.ActionCreate)
	if err != nil {
		return err
	}
	var rule immutable.Rule
	if err := decodeJSON(r, &rule); err != nil {
		return err
	}
	if err := rule.Normalize(); err != nil {
		return err
	}
	rule.ID = 0
	stored, err := immutable.ToStored(proj.ID, rule)
	if err != nil {
		return err
	}
	got, err := st.CreateImmutableRule(r.Context(), stored)
	if err != nil {
		return err
	}
	a.auditEvent(r, proj.ID, "create", auditImmutableRule, immutableResource(proj.Name, got.ID))
	w.Header().Set("Location", r.URL.EscapedPath()+"/"+strconv.FormatInt(got.ID, 10))
	w.WriteHeader(http.StatusCreated)
	return nil
}

// updateImmutableRule is PUT /projects/{p}/immutabletagrules/{id}: a whole
// rule replaces the old one; a body without tag_selectors only sets
// disabled (Harbor's enable/disable toggle).
func (a *API) updateImmutableRule(w http.ResponseWriter, r *http.Request) error {
	st, proj, err := a.immutableProject(r, access.ActionUpdate)
	if err != nil {
		return err
	}
	id, err := ruleID(r)
	if err != nil {
		return err
	}
	old, err := st.GetImmutableRule(r.Context(), proj.ID, id)
	if err != nil {
		return err
	}
	var body immutable.Rule
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	rule := body
	if len(body.TagSelectors) == 0 && len(body.ScopeSelectors) == 0 {
		if rule, err = immutable.FromStored(old); err != nil {
			return err
		}
		rule.Disabled = body.Disabled
	}
	if err := rule.Normalize(); err != nil {
		return err
	}
	rule.ID = id
	stored, err := immutable.ToStored(proj.ID, rule)
	if err != nil {
		return err
	}
	if err := st.UpdateImmutableRule(r.Context(), stored); err != nil {
		return err
	}
	a.auditEvent(r, proj.ID, "update", auditImmutableRule, immutableResource(proj.Name, id))
	w.WriteHeader(http.StatusOK)
	return nil
}

// deleteImmutableRule is DELETE /projects/{p}/immutabletagrules/{id}.
func (a *API) deleteImmutableRule(w http.ResponseWriter, r *http.Request) error {
	st, proj, err := a.immutableProject(r, access.ActionDelete)
	if err != nil {
		return err
	}
	id, err := ruleID(r)
	if err != nil {
		return err
	}
	if err := st.DeleteImmutableRule(r.Context(), proj.ID, id); err != nil {
		return err
	}
	a.auditEvent(r, proj.ID, "delete", auditImmutableRule, immutableResource(proj.Name, id))
	w.WriteHeader(http.StatusOK)
	return nil
}

// fillImmutable sets the immutable flag of every tag of arts (all of
// repository repo) that a rule protects, for with_immutable_status.
func (a *API) fillImmutable(ctx context.Context, repo string, arts []artifactJSON) error {
	if a.d.Immutable == nil {
		return nil
	}
	m, err := immutable.NewChecker(a.d.Immutable).For(ctx, repo)
	if err != nil {
		if errors.Is(err, meta.ErrProjectNotFound) {
			return nil
		}
		return err
	}
	for i := range arts {
		for j := range arts[i].Tags {
			_, arts[i].Tags[j].Immutable = m.Immutable(arts[i].Tags[j].Name)
		}
	}
	return nil
}

// auditImmutableRule is the audit resource type of tag immutability rules.
const auditImmutableRule = "immutable_tag_rule"

// immutableResource names rule id of project in the audit log.
func immutableResource(project string, id int64) string {
	return project + "/immutabletagrules/" + strconv.FormatInt(id, 10)
}
