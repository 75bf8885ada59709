package webui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/immutable"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/pattern"
)

// immutableStore is meta.Immutable as the project's immutability tab uses
// it (the registry service enforces the rules).
type immutableStore interface {
	ListImmutableRules(ctx context.Context, pid int64, pg meta.Page) ([]meta.ImmutableRule, int, error)
	GetImmutableRule(ctx context.Context, pid, id int64) (meta.ImmutableRule, error)
	CreateImmutableRule(ctx context.Context, r meta.ImmutableRule) (meta.ImmutableRule, error)
	UpdateImmutableRule(ctx context.Context, r meta.ImmutableRule) error
	DeleteImmutableRule(ctx context.Context, pid, id int64) error
}

func (u *UI) immutableRoutes() {
	u.handle("GET /projects/{project}/immutability", u.immutabilityPage)
	u.handle("POST /projects/{project}/immutability", u.addImmutableRule)
	u.handle("POST /projects/{project}/immutability/{rid}/{op}", u.changeImmutableRule)
}

// immutabilityView is a project's immutability tab.
type immutabilityView struct {
	projectHead
	Rules   []immutable.Rule
	Max     int
	CanEdit bool
}

func (u *UI) immutableProject(c *call, act access.Action) (meta.Project, error) {
	if u.d.Immutable == nil {
		return meta.Project{}, errNotFound
	}
	return u.loadProject(c, access.ResourceImmutableTag, act)
}

// immutabilityPage is GET /projects/{project}/immutability.
func (u *UI) immutabilityPage(c *call) error {
	proj, err := u.immutableProject(c, access.ActionList)
	if err != nil {
		return err
	}
	return u.renderImmutability(c, proj, http.StatusOK, "", "")
}

func (u *UI) renderImmutability(c *call, proj meta.Project, status int, errKey, detail string) error {
	stored, _, err := u.d.Immutable.ListImmutableRules(c.r.Context(), proj.ID, meta.Page{Limit: meta.MaxImmutableRules})
	if err != nil {
		return err
	}
	v := immutabilityView{projectHead: u.head(c, proj, "immutability"), Max: meta.MaxImmutableRules,
		CanEdit: access.Can(c.p, access.ProjectOf(proj), access.ResourceImmutableTag, access.ActionCreate)}
	for _, s := range stored {
		r, err := immutable.FromStored(s)
		if err != nil {
			return err
		}
		v.Rules = append(v.Rules, r)
	}
	v.ErrorKey, v.Detail = errKey, detail
	u.render(c, status, "project_immutable", "project.title", v)
	return nil
}

// addImmutableRule is POST /projects/{project}/immutability with
// tag_pattern, tag_decoration (matches, excludes), repo_pattern and
// repo_decoration (repoMatches, repoExcludes).
func (u *UI) addImmutableRule(c *call) error {
	proj, err := u.immutableProject(c, access.ActionCreate)
	if err != nil {
		return err
	}
	f := c.r.PostForm
	repo := strings.TrimSpace(f.Get("repo_pattern"))
	if repo == "" {
		repo = "**"
	}
	rule := immutable.Rule{
		TagSelectors:   []pattern.Selector{{Decoration: f.Get("tag_decoration"), Pattern: strings.TrimSpace(f.Get("tag_pattern"))}},
		ScopeSelectors: map[string][]pattern.Selector{"repository": {{Decoration: f.Get("repo_decoration"), Pattern: repo}}},
	}
	if err := rule.Normalize(); err != nil {
		return u.renderImmutability(c, proj, http.StatusBadRequest, "immutable.err.rule", err.Error())
	}
	st, err := immutable.ToStored(proj.ID, rule)
	if err != nil {
		return err
	}
	got, err := u.d.Immutable.CreateImmutableRule(c.r.Context(), st)
	if errors.Is(err, meta.ErrTooManyImmutableRules) {
		return u.renderImmutability(c, proj, http.StatusConflict, "immutable.err.many", "")
	} else if err != nil {
		return err
	}
	u.auditProject(c, proj.ID, "create", "immutable_tag_rule", proj.Name+"/immutabletagrules/"+strconv.FormatInt(got.ID, 10))
	return redirect(c, "/projects/"+proj.Name+"/immutability")
}

// changeImmutableRule is POST /projects/{project}/immutability/{rid}/
// enable, disable or delete.
func (u *UI) changeImmutableRule(c *call) error {
	op := c.r.PathValue("op")
	act := access.ActionUpdate
	if op == "delete" {
		act = access.ActionDelete
	}
	proj, err := u.immutableProject(c, act)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(c.r.PathValue("rid"), 10, 64)
	if err != nil || id < 1 {
		return errBadForm
	}
	ctx := c.r.Context()
	switch op {
	case "delete":
		err = u.d.Immutable.DeleteImmutableRule(ctx, proj.ID, id)
	case "enable", "disable":
		var st meta.ImmutableRule
		if st, err = u.d.Immutable.GetImmutableRule(ctx, proj.ID, id); err == nil {
			st.Disabled = op == "disable"
			err = u.d.Immutable.UpdateImmutableRule(ctx, st)
		}
	default:
		return fmt.Errorf("%w: operation %q", errNotFound, truncate(op, 20))
	}
	if errors.Is(err, meta.ErrImmutableRuleNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	auditOp := "update"
	if op == "delete" {
		auditOp = "delete"
	}
	u.auditProject(c, proj.ID, auditOp, "immutable_tag_rule", proj.Name+"/immutabletagrules/"+strconv.FormatInt(id, 10))
	return redirect(c, "/projects/"+proj.Name+"/immutability")
}

// auditProject records a change inside project pid (the REST API's
// resource types and names).
func (u *UI) auditProject(c *call, pid int64, op, typ, resource string) {
	if u.d.Audit == nil {
		return
	}
	u.d.Audit.Record(meta.AuditLog{ProjectID: pid, Username: c.actor(u).Username(), Operation: op, ResourceType: typ,
		Resource: truncate(resource, 1024), ClientIP: u.d.ClientIP(c.r), Result: meta.AuditSuccess})
}
